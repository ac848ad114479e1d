// One stream's page: metadata (HEAD, `_details`), profile, schema, index
// status, a live tail over SSE (pause, resume from an offset), reads from
// an offset or a time, keyed reads, and, where the stream's schema
// configures them, search (`_search`) and aggregate charts (`_aggregate`).

import { useEffect, useRef, useState } from "preact/hooks";
import { api, apiJson, errorOf, readSse, streamPath } from "./api.js";
import { Chart, ErrorLine, html, JsonRecord, KeyValues } from "./ui.js";
import { hexDump, isJson, isText, messagesOf } from "./format.js";
import { Link } from "./nav.js";
import { AggregatePanel, SearchPanel } from "./search_panels.js";

const TAIL_RECORDS_MAX = 200;
const RATE_WINDOW_S = 120;

/** The messages of a plain read's response. */
async function messagesOfResponse(type, response) {
  if (isJson(type)) {
    const value = await response.json();
    return (Array.isArray(value) ? value : [value])
      .map((v) => ({ kind: "json", value: v }));
  }
  if (isText(type)) return [{ kind: "text", value: await response.text() }];
  const bytes = new Uint8Array(await response.arrayBuffer());
  return [{ kind: "bytes", value: bytes }];
}

/** One message: JSON collapsible, text as is, bytes as hex. */
export function Message({ message, title, open, marks }) {
  if (message.kind === "json") {
    return html`
      <${JsonRecord} value=${message.value} title=${title}
        open=${open} marks=${marks} />
    `;
  }
  const body = message.kind === "bytes"
    ? hexDump(message.value)
    : message.value;
  return html`
    <details class="record" open=${open}>
      <summary><span class="muted">${title}</span> <code>${message.kind ===
          "bytes"
        ? `${message.value.length} bytes`
        : ""}</code></summary>
      <pre class=${message.kind === "bytes" ? "hex" : "text"}>${body}</pre>
    </details>
  `;
}

function Metadata({ name, onLoaded }) {
  const [head, setHead] = useState(null);
  const [details, setDetails] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api("HEAD", streamPath(name)).then(async (response) => {
      if (!response.ok) throw await errorOf(response);
      const headers = {};
      for (const [k, v] of response.headers) {
        if (k.startsWith("stream-") || k === "content-type") headers[k] = v;
      }
      setHead(headers);
      onLoaded(headers["content-type"] ?? "");
    }).catch(setError);
    apiJson("GET", streamPath(name, "_details")).then(setDetails)
      .catch(() => setDetails(null));
  }, [name]);
  return html`<section class="card" aria-labelledby="meta-title">
    <h2 id="meta-title">Metadata</h2>
    <${ErrorLine} error=${error} />
    ${head && html`<${KeyValues} value=${head} label="Stream headers" />`}
    ${
    details && html`
      <h3>Where its bytes live</h3>
      <${KeyValues} value=${details} label="Stream details" />
    `
  }
  </section>`;
}

/** A JSON subresource shown when it answers 200, hidden otherwise. */
function Optional({ name, sub, title, render }) {
  const [value, setValue] = useState(undefined);
  useEffect(() => {
    apiJson("GET", streamPath(name, sub)).then(setValue)
      .catch(() => setValue(null));
  }, [name, sub]);
  if (value === undefined || value === null) return null;
  return html`
    <section class="card" aria-label=${title}>
      <details open>
          <summary><h2 class="inline">${title}</h2></summary>
          ${render(value)}
        </details>
    </section>
  `;
}

function LiveTail({ name, type }) {
  const [running, setRunning] = useState(true);
  const [start, setStart] = useState(0);
  const [records, setRecords] = useState([]);
  const [offset, setOffset] = useState("now");
  const [from, setFrom] = useState("");
  const [state, setState] = useState("connecting");
  const [error, setError] = useState(null);
  const [rate, setRate] = useState([[], []]);
  const offsetRef = useRef("now");
  const counts = useRef(new Map());
  const seq = useRef(0);

  useEffect(() => {
    if (!running || type === null) return;
    const abort = new AbortController();
    const signal = abort.signal;
    const onData = (text, base64) => {
      const messages = messagesOf(type, text, base64);
      const second = Math.floor(Date.now() / 1000);
      counts.current.set(
        second,
        (counts.current.get(second) ?? 0) + messages.length,
      );
      const time = new Date().toLocaleTimeString();
      const added = messages.map((m) => ({
        id: ++seq.current,
        title: `#${seq.current} · ${time}`,
        message: m,
      }));
      setRecords((old) =>
        [...added.reverse(), ...old].slice(0, TAIL_RECORDS_MAX)
      );
    };
    (async () => {
      while (!signal.aborted) {
        let closed = false;
        try {
          setState("live");
          const path = `${streamPath(name)}?offset=${
            encodeURIComponent(offsetRef.current)
          }&live=sse`;
          await readSse(path, {
            signal,
            onData,
            onControl: (control) => {
              offsetRef.current = control.streamNextOffset;
              setOffset(control.streamNextOffset);
              if (control.streamClosed) closed = true;
            },
          });
          setError(null);
        } catch (e) {
          if (signal.aborted) return;
          setError(e);
          setState("retrying");
          await new Promise((r) => setTimeout(r, 2000));
        }
        if (closed) {
          setState("closed");
          return;
        }
      }
    })();
    return () => abort.abort();
  }, [running, start, type, name]);

  useEffect(() => {
    const timer = setInterval(() => {
      const now = Math.floor(Date.now() / 1000);
      const xs = [];
      const ys = [];
      for (let s = now - RATE_WINDOW_S; s < now; s++) {
        xs.push(s);
        ys.push(counts.current.get(s) ?? 0);
      }
      for (const s of counts.current.keys()) {
        if (s < now - RATE_WINDOW_S) counts.current.delete(s);
      }
      setRate([xs, ys]);
    }, 1000);
    return () => clearInterval(timer);
  }, []);

  const pause = () => {
    setRunning(false);
    setState("paused");
  };
  const resume = () => {
    setRunning(true);
    setStart((n) => n + 1);
  };
  const tailFrom = (event) => {
    event.preventDefault();
    offsetRef.current = from.trim() === "" ? "now" : from.trim();
    setRunning(true);
    setStart((n) => n + 1);
  };
  return html`
    <section class="card" aria-labelledby="tail-title">
      <h2 id="tail-title">Live tail</h2>
      <div class="row">
          <span id="tail-state" role="status">${state}</span>
          <span class="muted">next offset <code id="tail-offset">${offset}</code></span>
          ${running
            ? html`<button type="button" id="tail-pause" onClick=${pause}>Pause</button>`
            : html`<button type="button" id="tail-resume" onClick=${resume}>Resume</button>`}
          <button type="button" onClick=${() => setRecords([])}>Clear</button>
        </div>
      <form class="row" onSubmit=${tailFrom}>
        <div class="field">
          <label for="tail-from">Tail from offset (-1: start, now: the end)</label>
          <input id="tail-from" value=${from} placeholder="now"
            onInput=${(e) => setFrom(e.currentTarget.value)} />
        </div>
        <button type="submit">Tail from here</button>
      </form>
      <${ErrorLine} error=${error} />
      <h3>Messages per second seen by the tail (last ${RATE_WINDOW_S} s)</h3>
      <${Chart} data=${rate} series=${[
        "messages/s",
      ]} label="Messages per second"
        height=${120} />
      <div id="tail" aria-live="polite" aria-label="Tailed messages">
          ${records.length === 0
            ? html`<p class="muted">Waiting for appends…</p>`
            : records.map((r, i) =>
              html`
                <${Message} key=${r.id} message=${r.message}
                  title=${r.title} open=${i < 3} />
              `
            )}
        </div>
    </section>
  `;
}

function ReadPanel({ name, type }) {
  const [mode, setMode] = useState("offset");
  const [value, setValue] = useState("-1");
  const [key, setKey] = useState("");
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const read = async (path) => {
    setError(null);
    try {
      const response = await api("GET", path);
      if (!response.ok) throw await errorOf(response);
      const next = response.headers.get("stream-next-offset");
      const messages = await messagesOfResponse(type, response);
      setResult({ next, messages });
    } catch (e) {
      setResult(null);
      setError(e);
    }
  };
  const readRange = (event) => {
    event.preventDefault();
    const query = new URLSearchParams({ [mode]: value.trim() });
    read(`${streamPath(name)}?${query}`);
  };
  const readKey = (event) => {
    event.preventDefault();
    const encoded = encodeURIComponent(key);
    read(`${streamPath(name, `pk/${encoded}`)}?offset=-1`);
  };
  return html`<section class="card" aria-labelledby="read-title">
    <h2 id="read-title">Read</h2>
    <form class="row" onSubmit=${readRange}>
      <div class="field">
        <label for="read-mode">From</label>
        <select id="read-mode" value=${mode}
          onChange=${(e) => {
    setMode(e.currentTarget.value);
    setValue(
      e.currentTarget.value === "since"
        ? new Date(Date.now() - 3600_000).toISOString()
        : "-1",
    );
  }}>
          <option value="offset">an offset</option>
          <option value="since">a time (since=, RFC 3339)</option>
        </select>
      </div>
      <div class="field">
        <label for="read-value">${mode === "since" ? "Time" : "Offset"}</label>
        <input id="read-value" value=${value}
          onInput=${(e) => setValue(e.currentTarget.value)} />
      </div>
      <button type="submit">Read</button>
    </form>
    <form class="row" onSubmit=${readKey}>
      <div class="field">
        <label for="read-key">Routing key</label>
        <input id="read-key" required value=${key}
          onInput=${(e) => setKey(e.currentTarget.value)} />
      </div>
      <button type="submit">Read key</button>
    </form>
    <${ErrorLine} error=${error} />
    ${
    result && html`
      <p class="muted">${result.messages.length} message(s);
            next offset <code>${result.next}</code></p>
      <div id="read-result">${result.messages.map((m, i) =>
        html`
          <${Message} key=${i} message=${m} title=${`#${i + 1}`}
            open=${i < 3} />
        `
      )}</div>
    `
  }
  </section>`;
}

/** The stream page. */
export function StreamPage({ name }) {
  const [type, setType] = useState(null);
  const [schema, setSchema] = useState(undefined);
  useEffect(() => {
    apiJson("GET", streamPath(name, "_schema")).then(setSchema)
      .catch(() => setSchema(null));
  }, [name]);
  const searchConfig = schema?.search ?? null;
  return html`
    <p>
      <${Link} href="/console">← Streams<//></p>
        <h1 class="name">${name}</h1>
        <${Metadata} name=${name} onLoaded=${setType} />
        <${Optional} name=${name} sub="_profile" title="Profile"
          render=${(v) => html`<${KeyValues} value=${v} label="Profile" />`} />
        ${schema && html`
          <section class="card" aria-label="Schema">
            <details>
              <summary>
                <h2 class="inline">Schema and lenses</h2>
              </summary>
              <pre class="json">${JSON.stringify(schema, null, 2)}</pre>
            </details>
          </section>
        `}
        <${Optional} name=${name} sub="_index_status" title="Index status"
          render=${(v) =>
            html`<${KeyValues} value=${v} label="Index status" />`} />
        ${searchConfig &&
          html`<${SearchPanel} name=${name} type=${type} />`}
        ${searchConfig?.rollups &&
          html`<${AggregatePanel} name=${name} rollups=${searchConfig.rollups} />`}
        <${LiveTail} name=${name} type=${type} />
        ${type !== null && html`<${ReadPanel} name=${name} type=${type} />`}
  `;
}
