/**
 * @module
 * Per-key coalescing of fine and template touches (touch-live.md §2,
 * `touchCoalesceWindowMs`): a key touched again within the window after it
 * was last let through is held, and let through once when the window ends,
 * however often it was touched meanwhile. A hot row then wakes its waiters
 * at most once per window instead of once per journal bucket. Held, never
 * dropped: a wait on the key still wakes, at most a window later. Memory is
 * capped: past the cap a touch is let through at once (no coalescing), which
 * costs wakes, never misses one. Pure: time is passed in.
 */

import type { Touch } from "./processor.ts";

/** Holds repeat touches of a key within its window. */
export class TouchCoalescer {
  readonly #windowMs: number;
  readonly #keysMax: number;
  /** Keys let through lately: the end of each one's window. */
  #windows = new Map<string, number>();
  /** Touches held until their key's window ends. */
  #held = new Map<string, Touch>();
  /** When a full map was last pruned: at most once per millisecond. */
  #prunedAtMs = -Infinity;
  /** Touches held so far (a key touched thrice in a window counts 2). */
  coalescedTotal = 0;

  /** A window of `windowMs`; at most `keysMax` keys remembered. */
  constructor(windowMs: number, keysMax: number) {
    this.#windowMs = windowMs;
    this.#keysMax = keysMax;
  }

  /** Touches held now. */
  get held(): number {
    return this.#held.size;
  }

  /** Keys whose window is remembered now (held ones included). */
  get tracked(): number {
    return this.#windows.size;
  }

  /**
   * The touches of `touches` to queue now; the others are held. Table
   * touches pass untouched (they have `coarseIntervalMs`).
   */
  admit(touches: Touch[], nowMs: number): Touch[] {
    const out: Touch[] = [];
    for (const touch of touches) {
      if (touch.kind === "table") {
        out.push(touch);
        continue;
      }
      const end = this.#windows.get(touch.key);
      if (end !== undefined && nowMs < end) {
        this.#held.set(touch.key, touch);
        this.coalescedTotal++;
        continue;
      }
      if (end === undefined && this.#windows.size >= this.#keysMax) {
        if (nowMs > this.#prunedAtMs) this.#prune(nowMs);
        if (this.#windows.size >= this.#keysMax) {
          out.push(touch); // full: let it through, remember nothing
          continue;
        }
      }
      this.#windows.set(touch.key, nowMs + this.#windowMs);
      out.push(touch);
    }
    return out;
  }

  /** Held touches whose window has ended; each opens a new window. */
  release(nowMs: number): Touch[] {
    const out: Touch[] = [];
    for (const [key, touch] of this.#held) {
      const end = this.#windows.get(key) ?? -Infinity;
      if (nowMs < end) continue;
      this.#held.delete(key);
      this.#windows.set(key, nowMs + this.#windowMs);
      out.push(touch);
    }
    return out;
  }

  /** When the next held touch is due, or null when none is held. */
  nextDueMs(): number | null {
    let next: number | null = null;
    for (const key of this.#held.keys()) {
      const end = this.#windows.get(key)!;
      if (next === null || end < next) next = end;
    }
    return next;
  }

  /** Forgets windows that ended, unless a touch is held on them. */
  #prune(nowMs: number): void {
    this.#prunedAtMs = nowMs;
    for (const [key, end] of this.#windows) {
      if (end <= nowMs && !this.#held.has(key)) this.#windows.delete(key);
    }
  }
}
