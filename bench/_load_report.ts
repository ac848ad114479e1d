/**
 * @module
 * Result rows for the load benchmark and their plain-text table. Every
 * scenario reduces to one or more rows of rate + p50/p99 so that compare.ts
 * can line two servers up row by row.
 */

/** One row of benchmark output. Missing figures are `null` (JSON-safe). */
export interface ScenarioResult {
  /** Stable id used by `--only` and by compare.ts to match rows. */
  id: string;
  /** Human-readable description. */
  label: string;
  /** Throughput figure, or null when the scenario measures latency only. */
  rate: number | null;
  /** Unit of {@linkcode ScenarioResult.rate}, e.g. `appends/s` or `MB/s`. */
  rateUnit: string;
  /** Median latency in milliseconds. */
  p50Ms: number | null;
  /** 99th percentile latency in milliseconds. */
  p99Ms: number | null;
  /** Number of measured operations or deliveries. */
  samples: number;
  /** Failed operations (non-2xx or network errors, or missed deliveries). */
  errors: number;
  /** Free-form extra figures, e.g. long-poll 204 count. */
  notes: string;
  /** Server CPU µs per operation over the measured phase (needs `--server-pid`). */
  serverCpuUsPerOp?: number | null;
}

/** Replaces NaN/Infinity with null so rows serialise to valid JSON. */
export function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

/** Formats a number for the table: `-` for null, adaptive precision otherwise. */
export function formatNumber(value: number | null): string {
  if (value === null) return "-";
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return Math.round(value).toLocaleString("en-US");
  if (magnitude >= 100) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

/** Renders rows of cells as a left-aligned, pipe-separated table (Markdown-compatible). */
export function renderTable(
  header: readonly string[],
  rows: readonly string[][],
): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => (row[column] ?? "").length))
  );
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, i) => cell.padEnd(widths[i])).join(" | ")} |`;
  const rule = `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** Renders the load benchmark's results table. */
export function renderResults(results: readonly ScenarioResult[]): string {
  const header = [
    "scenario",
    "rate",
    "unit",
    "p50 ms",
    "p99 ms",
    "samples",
    "errors",
    "server CPU us/op",
    "notes",
  ];
  const rows = results.map((r) => [
    r.label,
    formatNumber(r.rate),
    r.rateUnit,
    formatNumber(r.p50Ms),
    formatNumber(r.p99Ms),
    String(r.samples),
    String(r.errors),
    formatNumber(r.serverCpuUsPerOp ?? null),
    r.notes,
  ]);
  return renderTable(header, rows);
}
