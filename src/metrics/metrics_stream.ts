/**
 * @module
 * The server's own figures as interval summary records for a `metrics`
 * profile stream (`--metrics-stream`, profiles.md §5): every interval, one
 * record per route that answered requests (time to the response head) and
 * one for WAL commits, each the difference from the previous interval, with
 * the histogram's buckets so the profile derives percentiles. Pure over the
 * meters it reads; `server.ts` appends the records.
 */

import type { HistogramSnapshot } from "../histogram.ts";
import type { HttpMeters } from "./http_meters.ts";

/** One interval summary record, as the metrics profile takes it. */
export interface IntervalRecord {
  /** Metric name. */
  metric: string;
  /** Unit of `sum`, `min`, `max` and the bucket bounds. */
  unit: string;
  /** Window start, ms since the epoch. */
  windowStart: number;
  /** Window end, ms since the epoch. */
  windowEnd: number;
  /** Observations in the window. */
  count: number;
  /** Their sum. */
  sum: number;
  /** Observations per bucket upper bound (observations above the last bound count in `count` only). */
  buckets: Record<string, number>;
  /** Dimensions. */
  attributes: Record<string, string>;
  /** The server instance (its listening URL). */
  instance: string;
}

/** What the feed reads each interval. */
export interface MetricsSources {
  /** Per-route request meters. */
  http: HttpMeters;
  /** The WAL writer's commit-time histogram. */
  commitSeconds: () => HistogramSnapshot;
}

/** Last-seen totals of one histogram. */
interface Seen {
  count: number;
  sum: number;
  counts: Float64Array;
}

/** Turns the meters into interval records, one window after another. */
export class MetricsStreamFeed {
  readonly #sources: MetricsSources;
  readonly #instance: string;
  readonly #seen = new Map<string, Seen>();
  #windowStart: number;

  /** Starts the first window at `nowMs`; readings before it are not reported. */
  constructor(sources: MetricsSources, instance: string, nowMs: number) {
    this.#sources = sources;
    this.#instance = instance;
    this.#windowStart = nowMs;
    this.#take(nowMs);
  }

  /** The records of the window ending at `nowMs` (none for idle meters). */
  next(nowMs: number): IntervalRecord[] {
    const records = this.#take(nowMs);
    this.#windowStart = nowMs;
    return records;
  }

  #take(nowMs: number): IntervalRecord[] {
    const out: IntervalRecord[] = [];
    for (const meter of this.#sources.http.all()) {
      const record = this.#delta(
        `http/${meter.route}/${meter.method}`,
        meter.seconds,
        "http.server.duration",
        { route: meter.route, method: meter.method },
        nowMs,
      );
      if (record !== undefined) out.push(record);
    }
    const commits = this.#delta(
      "wal/commit",
      this.#sources.commitSeconds(),
      "wal.commit.duration",
      {},
      nowMs,
    );
    if (commits !== undefined) out.push(commits);
    return out;
  }

  #delta(
    id: string,
    histogram: HistogramSnapshot,
    metric: string,
    attributes: Record<string, string>,
    nowMs: number,
  ): IntervalRecord | undefined {
    const before = this.#seen.get(id);
    this.#seen.set(id, {
      count: histogram.count,
      sum: histogram.sum,
      counts: Float64Array.from(histogram.counts),
    });
    const count = histogram.count - (before?.count ?? 0);
    if (before === undefined || count <= 0) return undefined;
    const buckets: Record<string, number> = {};
    histogram.bounds.forEach((bound, i) => {
      const n = histogram.counts[i] - before.counts[i];
      if (n > 0) buckets[String(bound)] = n;
    });
    return {
      metric,
      unit: "s",
      windowStart: this.#windowStart,
      windowEnd: Math.max(nowMs, this.#windowStart),
      count,
      sum: histogram.sum - before.sum,
      buckets,
      attributes,
      instance: this.#instance,
    };
  }
}
