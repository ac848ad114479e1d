// The server page: `/health`, `/v1/server/_details` (memory, queues,
// backlog, subscriptions), a few `/metrics` series as sparklines, polled
// every few seconds, and the subscriptions with their state
// (`GET /v1/stream/__ds/subscriptions`, paged), where the server has them.

import { useEffect, useRef, useState } from "preact/hooks";
import { api, apiJson, errorOf } from "./api.js";
import { parseMetrics } from "./format.js";
import { Chart, ErrorLine, html, KeyValues } from "./ui.js";

const POLL_MS = 2000;
const POINTS_MAX = 90;

/** The series drawn: a metric, and whether it is a counter (drawn as a rate). */
const SERIES = [
  ["streambed_append_records_total", "Appended records/s", true],
  ["streambed_append_bytes_total", "Appended bytes/s", true],
  ["streambed_http_requests_total", "HTTP requests/s", true],
  ["streambed_sse_connections", "SSE connections", false],
  ["streambed_tier_backlog_bytes", "Tier backlog bytes", false],
  ["process_resident_memory_bytes", "Resident memory bytes", false],
];

function Metrics() {
  const [points, setPoints] = useState([]);
  const [error, setError] = useState(null);
  const last = useRef(null);
  useEffect(() => {
    let live = true;
    const poll = async () => {
      try {
        const response = await api("GET", "/metrics");
        if (!response.ok) throw await errorOf(response);
        const sums = parseMetrics(await response.text());
        const t = Date.now() / 1000;
        const previous = last.current;
        last.current = { t, sums };
        if (previous !== null && live) {
          const dt = Math.max(t - previous.t, 0.001);
          const point = { t };
          for (const [name, , counter] of SERIES) {
            const now = sums.get(name);
            const before = previous.sums.get(name);
            point[name] = now === undefined
              ? null
              : counter
              ? Math.max(0, (now - (before ?? now)) / dt)
              : now;
          }
          setPoints((old) => [...old, point].slice(-POINTS_MAX));
        }
        setError(null);
      } catch (e) {
        if (live) setError(e);
      }
    };
    poll();
    const timer = setInterval(poll, POLL_MS);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, []);
  const xs = points.map((p) => p.t);
  return html`
    <section class="card" aria-labelledby="metrics-title">
      <h2 id="metrics-title">Metrics</h2>
      <${ErrorLine} error=${error} />
      <div class="sparks">
          ${SERIES.map(([name, label]) => {
            const ys = points.map((p) => p[name]);
            const latest = ys.length === 0 ? null : ys[ys.length - 1];
            return html`
              <figure class="spark" key=${name}>
                <figcaption>${label}: <strong>${latest === null
                  ? "—"
                  : Math.round(latest * 100) / 100}</strong></figcaption>
                <${Chart} data=${[xs, ys]} series=${[label]} label=${label}
                  height=${60} small=${true} />
              </figure>
            `;
          })}
        </div>
    </section>
  `;
}

function Json({ path, title, id }) {
  const [value, setValue] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    const load = () =>
      apiJson("GET", path).then((v) => live && (setValue(v), setError(null)))
        .catch((e) => live && setError(e));
    load();
    const timer = setInterval(load, POLL_MS * 5);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [path]);
  return html`<section class="card" aria-labelledby=${id}>
    <h2 id=${id}>${title}</h2>
    <${ErrorLine} error=${error} />
    ${value && html`<${KeyValues} value=${value} label=${title} />`}
  </section>`;
}

const SUBSCRIPTIONS_PAGE = 50;

/** One subscription's row: where it delivers and how far behind it is. */
function SubscriptionRow({ sub }) {
  const target = sub.type === "webhook" ? sub.webhook?.url : sub.wake_stream;
  return html`
    <tr data-subscription=${sub.id}>
      <td><code>${sub.id}</code>${sub.description &&
        html`<div class="muted">${sub.description}</div>`}</td>
      <td>${sub.type}</td>
      <td>${target ?? "—"}</td>
      <td class=${sub.status === "failed" ? "failed" : null}>${sub.status}</td>
      <td>${sub.pattern ?? "—"}</td>
      <td>${sub.stream_count}</td>
      <td title=${sub.pending_sample.map((s) => s.path).join(", ")}>${sub
        .pending_streams}</td>
    </tr>
  `;
}

/**
 * The subscriptions and their state; hidden where the server serves no
 * subscription API (404), shown with the refusal where the key may not.
 */
function Subscriptions() {
  const [pages, setPages] = useState([""]);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [absent, setAbsent] = useState(false);
  const after = pages[pages.length - 1];
  useEffect(() => {
    let live = true;
    const query = new URLSearchParams({
      after,
      limit: String(SUBSCRIPTIONS_PAGE),
    });
    const load = () =>
      apiJson("GET", `/v1/stream/__ds/subscriptions?${query}`)
        .then((body) => live && (setPage(body), setError(null)))
        .catch((e) => {
          if (!live) return;
          if (e.status === 404) setAbsent(true);
          else setError(e);
        });
    load();
    const timer = setInterval(load, POLL_MS * 5);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [after]);
  if (absent) return null;
  return html`<section class="card" aria-labelledby="subscriptions-title">
    <h2 id="subscriptions-title">Subscriptions</h2>
    <${ErrorLine} error=${error} />
    ${
    page !== null && html`
      <div class="scroll">
        <table class="list" id="subscriptions">
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">Type</th>
              <th scope="col">Delivers to</th>
              <th scope="col">Status</th>
              <th scope="col">Pattern</th>
              <th scope="col">Streams</th>
              <th scope="col">Streams with pending records</th>
            </tr>
          </thead>
          <tbody>
                ${page.subscriptions.length === 0
                  ? html`
                    <tr>
                      <td colspan="7">No subscriptions.</td>
                    </tr>
                  `
                  : page.subscriptions.map((sub) =>
                    html`<${SubscriptionRow} key=${sub.id} sub=${sub} />`
                  )}
              </tbody>
        </table>
      </div>
    `
  }
    <nav class="row" aria-label="Pages of subscriptions">
      <button type="button" disabled=${pages.length === 1}
        onClick=${() => setPages(pages.slice(0, -1))}>Previous page</button>
      <button type="button" disabled=${!page?.next}
        onClick=${() => setPages([...pages, page.next])}>Next page</button>
    </nav>
  </section>`;
}

/** The server page. */
export function ServerPage() {
  return html`
    <h1>Server</h1>
    <${Json} path="/health" title="Health" id="health-title" />
    <${Metrics} />
    <${Json} path="/v1/server/_details" title="Server details"
      id="details-title" />
    <${Subscriptions} />
  `;
}
