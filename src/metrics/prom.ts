/**
 * @module
 * The glue between our counters and `prom-client`, which owns the text
 * exposition (names, label escaping, number format, content type). Every
 * family is read at scrape time from counters the server keeps anyway:
 * counters and gauges through prom-client's `collect` hook, histograms
 * through a metric object whose `get()` returns prom-client's documented
 * value shape (its `Histogram` can only `observe`, one labelled value at a
 * time, which would put a label lookup back on the request path).
 */

import { Counter, Gauge, type Metric, type Registry } from "prom-client";
import type { HistogramSnapshot } from "../histogram.ts";

/** Label values of one series. */
export type Labels = Record<string, string>;
/** One series: its labels and value. */
export type Sample = readonly [labels: Labels, value: number];
/** One histogram series: its labels and buckets. */
export type HistogramSample = readonly [
  labels: Labels,
  histogram: HistogramSnapshot,
];

/** What every family has. */
export interface FamilySpec {
  /** Full name, `streambed_...`. */
  name: string;
  /** The `# HELP` line. */
  help: string;
  /** Label names (every sample sets each). */
  labelNames?: readonly string[];
}

/** A counter whose samples `read` returns at each scrape. */
export function counterFamily(
  registry: Registry,
  spec: FamilySpec,
  read: () => Iterable<Sample>,
): void {
  new Counter({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames ?? [],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

/** A gauge whose samples `read` returns at each scrape. */
export function gaugeFamily(
  registry: Registry,
  spec: FamilySpec,
  read: () => Iterable<Sample>,
): void {
  new Gauge({
    name: spec.name,
    help: spec.help,
    labelNames: spec.labelNames ?? [],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/** A histogram whose series `read` returns at each scrape. */
export function histogramFamily(
  registry: Registry,
  spec: FamilySpec,
  read: () => Iterable<HistogramSample>,
): void {
  const family = {
    name: spec.name,
    help: spec.help,
    type: "histogram",
    aggregator: "sum",
    get: () =>
      Promise.resolve({
        name: spec.name,
        help: spec.help,
        type: "histogram",
        aggregator: "sum",
        values: [...read()].flatMap(([labels, h]) =>
          histogramValues(spec.name, labels, h)
        ),
      }),
    reset: () => {},
  };
  registry.registerMetric(family as unknown as Metric);
}

interface HistogramValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** Cumulative `_bucket` series, then `_sum` and `_count`. */
function histogramValues(
  name: string,
  labels: Labels,
  h: HistogramSnapshot,
): HistogramValue[] {
  const values: HistogramValue[] = [];
  let cumulative = 0;
  for (let i = 0; i <= h.bounds.length; i++) {
    cumulative += h.counts[i];
    const le = i < h.bounds.length ? h.bounds[i] : "+Inf";
    values.push({
      metricName: `${name}_bucket`,
      labels: { ...labels, le },
      value: cumulative,
    });
  }
  values.push({ metricName: `${name}_sum`, labels, value: h.sum });
  values.push({ metricName: `${name}_count`, labels, value: h.count });
  return values;
}
