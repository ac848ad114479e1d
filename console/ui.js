// Small shared pieces of the console: the `html` tag, JSON and hex views,
// key/value tables, error lines and a uPlot chart that fits its box.

import { h } from "preact";
import { useEffect, useRef } from "preact/hooks";
import htm from "htm";
import uPlot from "uplot";

/** Preact's `h` through htm's tagged templates (no build-time JSX). */
export const html = htm.bind(h);

/** An error line, announced to screen readers. */
export function ErrorLine({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${
    String(error.message ?? error)
  }</p>`;
}

/** A value as text for a table cell. */
function cell(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** Rows of `name: value`; nested objects become nested tables. */
export function KeyValues({ value, label }) {
  if (value === null || value === undefined) return html`<p>—</p>`;
  if (typeof value !== "object" || Array.isArray(value)) {
    return html`<pre class="json">${JSON.stringify(value, null, 2)}</pre>`;
  }
  return html`
    <table class="kv" aria-label=${label}>
      <tbody>
          ${Object.entries(value).map(([k, v]) =>
            html`
              <tr key=${k}>
                <th scope="row">${k}</th>
                <td>${v !== null && typeof v === "object" && !Array.isArray(v)
                  ? html`<${KeyValues} value=${v} label=${k} />`
                  : cell(v)}</td>
              </tr>
            `
          )}
        </tbody>
    </table>
  `;
}

/** One JSON value, pretty-printed, collapsible; terms in `marks` highlighted. */
export function JsonRecord({ value, title, open, marks }) {
  const text = JSON.stringify(value, null, 2);
  const preview = JSON.stringify(value);
  return html`
    <details class="record" open=${open}>
      <summary><span class="muted">${title}</span> <code>${preview.length > 80
        ? preview.slice(0, 80) + "…"
        : preview}</code></summary>
      <pre class="json">${highlight(text, marks)}</pre>
    </details>
  `;
}

/** `text` with each case-insensitive occurrence of `marks` in <mark>. */
export function highlight(text, marks) {
  const terms = (marks ?? []).filter((t) => t.length > 0);
  if (terms.length === 0) return text;
  const escaped = terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const parts = text.split(new RegExp(`(${escaped.join("|")})`, "gi"));
  return parts.map((part, i) =>
    i % 2 === 1 ? html`<mark>${part}</mark>` : part
  );
}

/**
 * A uPlot chart of `data` ([xs, ...ys], xs in seconds) with one series per
 * name in `series`; redrawn when `data` changes, resized to its box.
 */
export function Chart({ data, series, label, height = 160, small = false }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const width = Math.max(160, box.current.clientWidth);
    const colors = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c"];
    plot.current = new uPlot(
      {
        width,
        height,
        legend: { show: !small },
        cursor: { show: !small },
        axes: small ? [{ show: false }, { show: false }] : undefined,
        series: [
          {},
          ...series.map((name, i) => ({
            label: name,
            stroke: colors[i % colors.length],
            width: 2,
          })),
        ],
      },
      data,
      box.current,
    );
    const resize = () => {
      plot.current?.setSize({
        width: Math.max(160, box.current.clientWidth),
        height,
      });
    };
    addEventListener("resize", resize);
    return () => {
      removeEventListener("resize", resize);
      plot.current?.destroy();
      plot.current = null;
    };
  }, [series.join("\u0000"), height, small]);
  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);
  return html`
    <div class="chart" ref=${box} role="img" aria-label=${label}
      data-points=${data[0]?.length ?? 0}></div>
  `;
}
