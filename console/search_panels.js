// Search (`_search`, hits with the query's words highlighted) and
// aggregates (`_aggregate` over a rollup, one series per group), shown
// only where the server serves them and the stream configures search.

import { useState } from "preact/hooks";
import { apiJsonPartial, streamPath } from "./api.js";
import { Chart, ErrorLine, html, JsonRecord } from "./ui.js";
import { aggregateSeries, wordsOf } from "./format.js";

/** The search box and its hits. */
export function SearchPanel({ name }) {
  const [query, setQuery] = useState("");
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      const q = new URLSearchParams({ q: query, size: "20" });
      setResult(
        await apiJsonPartial("GET", `${streamPath(name, "_search")}?${q}`),
      );
    } catch (e) {
      setResult(null);
      setError(e);
    }
  };
  const marks = wordsOf(query);
  return html`<section class="card" aria-labelledby="search-title">
    <h2 id="search-title">Search</h2>
    <form class="row" role="search" onSubmit=${submit}>
      <div class="field grow">
        <label for="search-q">Query</label>
        <input id="search-q" type="search" required value=${query}
          placeholder="status:500 timeout"
          onInput=${(e) => setQuery(e.currentTarget.value)} />
      </div>
      <button type="submit">Search</button>
    </form>
    <${ErrorLine} error=${error} />
    ${
    result && html`
      <p
        class="muted">${result.hits
          .length} hit(s)${result.coverage?.complete === false
          ? " (coverage incomplete)"
          : ""}${result.timed_out ? ", timed out" : ""}; took ${result
          .took_ms} ms</p>
      <div id="search-hits">${result.hits.map((hit, i) =>
        html`
          <${JsonRecord} key=${hit.offset} value=${hit.source}
            title=${`offset ${hit.offset}`} open=${i < 3} marks=${marks} />
        `
      )}</div>
    `
  }
  </section>`;
}

const WINDOWS = [
  ["15m", 15 * 60_000],
  ["1h", 3600_000],
  ["6h", 6 * 3600_000],
  ["24h", 24 * 3600_000],
];

/** The aggregate form and its chart. */
export function AggregatePanel({ name, rollups }) {
  const names = Object.keys(rollups);
  const [rollup, setRollup] = useState(names[0]);
  const spec = rollups[rollup] ?? { intervals: [], measures: {} };
  const [interval, setBucketInterval] = useState(spec.intervals[0] ?? "1m");
  const [windowName, setWindowName] = useState("1h");
  const [groupBy, setGroupBy] = useState("");
  const [measure, setMeasure] = useState(Object.keys(spec.measures)[0] ?? "");
  const [chart, setChart] = useState(null);
  const [error, setError] = useState(null);
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    const to = Date.now();
    const span = WINDOWS.find(([w]) => w === windowName)[1];
    try {
      const body = await apiJsonPartial(
        "POST",
        streamPath(name, "_aggregate"),
        {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            rollup,
            from: to - span,
            to,
            interval,
            group_by: groupBy === "" ? [] : [groupBy],
            measures: [measure],
          }),
        },
      );
      setChart({ ...aggregateSeries(body, measure), partial: body.timed_out });
    } catch (e) {
      setChart(null);
      setError(e);
    }
  };
  const select = (id, label, value, set, options) =>
    html`
      <div class="field">
        <label for=${id}>${label}</label>
        <select id=${id} value=${value} onChange=${(e) =>
          set(e.currentTarget.value)}>
              ${options.map(([v, text]) =>
                html`<option value=${v}>${text}</option>`
              )}
            </select>
      </div>
    `;
  return html`<section class="card" aria-labelledby="agg-title">
    <h2 id="agg-title">Aggregate</h2>
    <form class="row" onSubmit=${submit}>
      ${
    select("agg-rollup", "Rollup", rollup, setRollup, names.map((n) => [n, n]))
  }
      ${
    select(
      "agg-interval",
      "Interval",
      interval,
      setBucketInterval,
      spec.intervals.map((i) => [i, i]),
    )
  }
      ${
    select(
      "agg-window",
      "Last",
      windowName,
      setWindowName,
      WINDOWS.map(([w]) => [w, w]),
    )
  }
      ${
    select("agg-group", "Group by", groupBy, setGroupBy, [
      ["", "(none)"],
      ...(spec.dimensions ?? []).map((d) => [d, d]),
    ])
  }
      ${
    select(
      "agg-measure",
      "Measure",
      measure,
      setMeasure,
      Object.keys(spec.measures).map((m) => [m, m]),
    )
  }
      <button type="submit">Chart</button>
    </form>
    <${ErrorLine} error=${error} />
    ${
    chart?.partial &&
    html`<p class="muted">Timed out: the buckets folded so far.</p>`
  }
    ${
    chart && (chart.data[0].length === 0
      ? html`<p class="muted">No records in this window.</p>`
      : html`
        <${Chart} data=${chart.data} series=${chart.names}
          label=${`${measure} per ${interval}`} />
      `)
  }
  </section>`;
}
