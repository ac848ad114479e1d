/**
 * @module
 * A fixed-bucket histogram that costs a few comparisons and two additions
 * per observation: no allocation and no label lookup, so the request path
 * and the writer can record every event. `/metrics` reads it at scrape
 * time; the Prometheus side lives in `metrics/`.
 */

/** Upper bounds for request and commit durations, in seconds. */
export const DURATION_BUCKETS_S: readonly number[] = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** What a histogram holds at one moment. */
export interface HistogramSnapshot {
  /** Upper bounds, ascending (the `+Inf` bucket is implied). */
  readonly bounds: readonly number[];
  /** Observations per bucket, not cumulative; one more than `bounds`. */
  readonly counts: Float64Array;
  /** Sum of the observed values. */
  readonly sum: number;
  /** Number of observations. */
  readonly count: number;
}

/** Counts observations into buckets with upper bounds `bounds`. */
export class Histogram implements HistogramSnapshot {
  /** Upper bounds, ascending. */
  readonly bounds: readonly number[];
  /** Observations per bucket (the last one is `+Inf`). */
  readonly counts: Float64Array;
  /** Sum of the observed values. */
  sum = 0;
  /** Number of observations. */
  count = 0;

  /** `bounds` must ascend strictly. */
  constructor(bounds: readonly number[] = DURATION_BUCKETS_S) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i] > bounds[i - 1])) {
        throw new RangeError("histogram bounds must ascend strictly");
      }
    }
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one value (in the unit of the bounds). */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}
