/**
 * @module
 * Latency sample collection and percentile summaries for the load benchmark.
 * Samples live in a growable Float64Array with a hard cap, so a very fast
 * server cannot make the benchmark allocate without bound.
 */

/** Hard cap on stored samples per recorder (16M doubles = 128 MiB). */
export const SAMPLES_MAX = 16_000_000;

/** Percentile summary of a set of latency samples, in milliseconds. */
export interface LatencySummary {
  /** Number of samples summarised. */
  count: number;
  /** Median latency. */
  p50Ms: number;
  /** 99th percentile latency. */
  p99Ms: number;
  /** Largest latency. */
  maxMs: number;
}

/** Collects latency samples (milliseconds) up to {@linkcode SAMPLES_MAX}. */
export class SampleRecorder {
  #samples: Float64Array = new Float64Array(1024);
  #length = 0;
  #dropped = 0;

  /** Records one sample; drops it (and counts the drop) once the cap is hit. */
  add(valueMs: number): void {
    if (this.#length === this.#samples.length) {
      if (this.#length >= SAMPLES_MAX) {
        this.#dropped += 1;
        return;
      }
      const grown = new Float64Array(
        Math.min(SAMPLES_MAX, this.#samples.length * 2),
      );
      grown.set(this.#samples);
      this.#samples = grown;
    }
    this.#samples[this.#length] = valueMs;
    this.#length += 1;
  }

  /** Number of stored samples. */
  get count(): number {
    return this.#length;
  }

  /** Number of samples dropped because the cap was reached. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Sorted copy of the stored samples and their percentile summary. */
  summary(): LatencySummary {
    return summarize(this.#samples.subarray(0, this.#length));
  }
}

/** Summarises samples (not necessarily sorted) by nearest-rank percentiles. */
export function summarize(samples: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samples).sort();
  return {
    count: sorted.length,
    p50Ms: percentileSorted(sorted, 0.5),
    p99Ms: percentileSorted(sorted, 0.99),
    maxMs: sorted.length > 0 ? sorted[sorted.length - 1] : NaN,
  };
}

/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  const index = Math.min(sorted.length - 1, Math.max(0, rank - 1));
  return sorted[index];
}

/** Median of a small list of numbers; NaN when empty. */
export function median(values: readonly number[]): number {
  return percentileSorted([...values].sort((a, b) => a - b), 0.5);
}
