/**
 * @module
 * The largest streams, kept as commits happen so `GET /v1/server/_details`
 * need not walk every stream: a short list of the longest streams seen,
 * and a bound on every stream left out. Tails only grow, so a commit moves
 * at most one stream into the list. The list is rebuilt from every stream
 * only when deletions leave it unable to answer (all of its first entries
 * must be at least the bound), and once at the first request.
 */

import type { SizedStream } from "./server_details.ts";

/** The longest streams, followed through commits and deletions. */
export class LargestStreams {
  readonly #scan: () => Iterable<SizedStream>;
  readonly #keep: number;
  /** Tracked streams, longest first (ties: first seen first). */
  #top: SizedStream[] = [];
  readonly #byName = new Map<string, SizedStream>();
  /** No untracked stream is longer than this. */
  #floor = 0;
  /** Whether some stream is not tracked (rejected or evicted). */
  #leftOut = false;
  #complete = false;
  #scans = 0;

  /**
   * Follows the `keep` longest streams (a few times what a request asks
   * for, so deletions rarely force a rebuild); `scan` lists every stream.
   */
  constructor(scan: () => Iterable<SizedStream>, keep: number) {
    this.#scan = scan;
    this.#keep = Math.max(1, keep);
  }

  /** Walks over every stream so far (for tests and figures). */
  get scans(): number {
    return this.#scans;
  }

  /** Stream `name` now ends at `tailPos` (created or appended to). */
  noted(name: string, tailPos: number): void {
    if (!this.#complete) return; // the first request scans
    const known = this.#byName.get(name);
    if (known !== undefined) {
      known.tailPos = tailPos;
      this.#rise(this.#top.indexOf(known));
      return;
    }
    const top = this.#top;
    if (top.length >= this.#keep) {
      const last = top[top.length - 1];
      this.#leftOut = true;
      if (tailPos <= last.tailPos) {
        this.#floor = Math.max(this.#floor, tailPos);
        return;
      }
      top.pop();
      this.#byName.delete(last.name);
      this.#floor = Math.max(this.#floor, last.tailPos);
    }
    const entry = { name, tailPos };
    top.push(entry);
    this.#byName.set(name, entry);
    this.#rise(top.length - 1);
  }

  /** Stream `name` is gone. */
  deleted(name: string): void {
    const known = this.#byName.get(name);
    if (known === undefined) return;
    this.#byName.delete(name);
    this.#top.splice(this.#top.indexOf(known), 1);
  }

  /** The `max` longest streams, longest first. */
  top(max: number): SizedStream[] {
    if (max > this.#keep) return largest(this.#scan(), max);
    if (!this.#complete || !this.#answers(max)) this.#rebuild();
    return this.#top.slice(0, max).map((s) => ({ ...s }));
  }

  /** Whether the tracked list holds the `max` longest streams. */
  #answers(max: number): boolean {
    const top = this.#top;
    if (top.length < max) return !this.#leftOut;
    return top[max - 1].tailPos >= this.#floor;
  }

  #rebuild(): void {
    this.#scans++;
    const all = largest(this.#scan(), this.#keep + 1);
    const kept = all.slice(0, this.#keep);
    this.#top = kept;
    this.#byName.clear();
    for (const s of kept) this.#byName.set(s.name, s);
    this.#leftOut = all.length > this.#keep;
    this.#floor = this.#leftOut ? all[this.#keep].tailPos : 0;
    this.#complete = true;
  }

  /** Moves entry `i` up past shorter ones (its tail grew). */
  #rise(i: number): void {
    const top = this.#top;
    const entry = top[i];
    while (i > 0 && top[i - 1].tailPos < entry.tailPos) {
      top[i] = top[i - 1];
      i--;
    }
    top[i] = entry;
  }
}

/** The `max` longest of `streams`, longest first (ties: first seen first). */
export function largest(
  streams: Iterable<SizedStream>,
  max: number,
): SizedStream[] {
  const top: SizedStream[] = [];
  if (max <= 0) return top;
  for (const s of streams) {
    if (top.length === max && s.tailPos <= top[max - 1].tailPos) continue;
    let i = top.length;
    while (i > 0 && top[i - 1].tailPos < s.tailPos) i--;
    top.splice(i, 0, { name: s.name, tailPos: s.tailPos });
    if (top.length > max) top.pop();
  }
  return top;
}
