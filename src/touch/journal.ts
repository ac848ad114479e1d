/**
 * @module
 * The touch journal of one stream (touch-live.md §5): nothing durable. Touches
 * collect in a pending bucket; a flush makes a new generation and records,
 * per key id, the generation of its last touch in a bloom-style table of
 * generations (membership only over-reported). An epoch, random per journal,
 * makes cursors from another journal stale. Waits are matched by key id, or
 * exactly by full key through a short lane of recently flushed keys. Hot
 * sets remember which key ids and templates waiters asked for lately. All
 * time comes from an injected clock.
 */

/** Sizes and intervals of a journal (from `profile.touch.memory`). */
export interface JournalOptions {
  bucketMs: number;
  filterPow2: number;
  k: number;
  pendingMaxKeys: number;
  hotKeyTtlMs: number;
  hotTemplateTtlMs: number;
  hotMaxKeys: number;
  hotMaxTemplates: number;
}

/** How long flushed full keys stay in the exact lane. */
export const EXACT_LANE_MS = 15_000;
/** Most literal keys of an exact wait. */
export const EXACT_MAX_KEYS = 16;
/** The filter starts this small and grows on demand up to `filterPow2`. */
export const FILTER_START_POW2 = 18;

/** A parsed cursor. */
export interface Cursor {
  epoch: string;
  generation: number;
}

const CURSOR = /^([0-9a-f]{16}):(\d{1,15})$/;

/** Parses `<epoch hex16>:<generation>`; null when malformed. */
export function parseCursor(text: string): Cursor | null {
  const m = CURSOR.exec(text);
  if (m === null) return null;
  return { epoch: m[1], generation: Number(m[2]) };
}

/** A random 16-hex-digit epoch. */
export function randomEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** What a flush did. */
export interface FlushInfo {
  generation: number;
  keys: number;
  overflow: boolean;
  bucketStartMs: number;
  flushAtMs: number;
}

/** A flush and the keys it wrote: key id to full key (null when unknown). */
export interface FlushResult extends FlushInfo {
  touched: ReadonlyMap<number, string | null>;
}

/** A wait's question, its cursor already resolved to a generation. */
export interface WaitQuery {
  generation: number;
  keyIds: Uint32Array;
  /** Full hex16 keys, for an exact wait. */
  exactKeys?: string[];
}

/** A cursor checked against the journal. */
export type CursorCheck =
  | { kind: "stale" }
  | { kind: "ok"; generation: number };

interface LaneEntry {
  generation: number;
  flushAtMs: number;
  keys: Set<string>;
}

/** One stream's in-memory touch journal. */
export class TouchJournal {
  readonly epoch: string;
  readonly #opts: JournalOptions;
  readonly #clock: () => number;
  #generation = 0;
  #filter: Uint32Array;
  #pow2: number;
  #used = 0;
  #pending = new Map<number, string | null>();
  #pendingOverflow = false;
  #bucketStartMs: number | null = null;
  #lastOverflowGeneration = 0;
  #overflowBuckets = 0;
  #lane: LaneEntry[] = [];
  #laneKeys = 0;
  /** Generations up to here may be missing from the exact lane. */
  #laneFloor = 0;
  #hotKeys = new Map<number, number>();
  #hotTemplates = new Map<string, number>();
  #lastFlush: FlushInfo | null = null;

  constructor(
    opts: JournalOptions,
    clock: () => number,
    epoch = randomEpoch(),
  ) {
    this.#opts = opts;
    this.#clock = clock;
    this.epoch = epoch;
    this.#pow2 = Math.min(opts.filterPow2, FILTER_START_POW2);
    this.#filter = new Uint32Array(1 << this.#pow2);
  }

  get generation(): number {
    return this.#generation;
  }

  /** The current cursor text. */
  cursor(): string {
    return `${this.epoch}:${this.#generation}`;
  }

  /** Distinct keys waiting for the next flush. */
  get pendingKeys(): number {
    return this.#pending.size;
  }

  get overflowBuckets(): number {
    return this.#overflowBuckets;
  }

  /** Slots of the generation table now allocated. */
  get filterSlots(): number {
    return this.#filter.length;
  }

  get lastFlush(): FlushInfo | null {
    return this.#lastFlush;
  }

  /**
   * Checks a cursor: another epoch is stale; a generation ahead of the
   * current one is clamped to it.
   */
  checkCursor(cursor: Cursor): CursorCheck {
    if (cursor.epoch !== this.epoch) return { kind: "stale" };
    return {
      kind: "ok",
      generation: Math.min(cursor.generation, this.#generation),
    };
  }

  /** Queues a touch of `keyId` (with its full key when known). */
  touch(keyId: number, key: string | null = null): void {
    if (this.#bucketStartMs === null) this.#bucketStartMs = this.#clock();
    if (this.#pending.has(keyId)) {
      if (key !== null && this.#pending.get(keyId) === null) {
        this.#pending.set(keyId, key);
      }
      return;
    }
    if (this.#pending.size >= this.#opts.pendingMaxKeys) {
      // Past the cap the bucket wakes every waiter instead of growing.
      this.#pendingOverflow = true;
      return;
    }
    this.#pending.set(keyId >>> 0, key);
  }

  /** Whether the pending bucket is due: non-empty and `bucketMs` old. */
  flushDue(): boolean {
    if (this.#bucketStartMs === null) return false;
    return this.#clock() - this.#bucketStartMs >= this.#opts.bucketMs;
  }

  /**
   * Flushes the pending bucket into a new generation; null when empty.
   * The result names the key ids written (all of them unless `overflow`),
   * so waits indexed by key id can be found without asking every wait.
   */
  flush(): FlushResult | null {
    if (this.#bucketStartMs === null) return null;
    const now = this.#clock();
    const gen = ++this.#generation;
    const overflow = this.#pendingOverflow;
    this.#growIfNeeded(this.#pending.size);
    const laneKeys = new Set<string>();
    let complete = true;
    for (const [keyId, key] of this.#pending) {
      this.#write(keyId, gen);
      if (key !== null) laneKeys.add(key);
      else complete = false;
    }
    if (overflow) {
      this.#lastOverflowGeneration = gen;
      this.#overflowBuckets++;
    }
    this.#appendLane(gen, now, laneKeys);
    // A touch by key id alone is not in the lane: exact waits from before
    // it fall back to key ids.
    if (!complete) this.#laneFloor = gen;
    const info: FlushInfo = {
      generation: gen,
      keys: this.#pending.size,
      overflow,
      bucketStartMs: this.#bucketStartMs,
      flushAtMs: now,
    };
    const touched = this.#pending;
    this.#pending = new Map();
    this.#pendingOverflow = false;
    this.#bucketStartMs = null;
    this.#lastFlush = info;
    return { ...info, touched };
  }

  /**
   * Whether any key of the wait was touched in a generation after its
   * cursor. Never false when one was (within this epoch); may be true when
   * none was.
   */
  matches(query: WaitQuery): boolean {
    const since = query.generation;
    if (since >= this.#generation) return false;
    if (this.#lastOverflowGeneration > since) return true;
    if (query.exactKeys !== undefined && since >= this.#laneFloor) {
      for (const entry of this.#lane) {
        if (entry.generation <= since) continue;
        for (const key of query.exactKeys) {
          if (entry.keys.has(key)) return true;
        }
      }
      return false;
    }
    for (const keyId of query.keyIds) {
      if (this.#lastGeneration(keyId) > since) return true;
    }
    return false;
  }

  /** Marks key ids as wanted by a waiter now. */
  noteKeys(keyIds: Iterable<number>): void {
    noteHot(
      this.#hotKeys,
      keyIds,
      this.#clock(),
      this.#opts.hotKeyTtlMs,
      this.#opts.hotMaxKeys,
    );
  }

  /** Marks template ids as used by a waiter now. */
  noteTemplates(templateIds: Iterable<string>): void {
    noteHot(
      this.#hotTemplates,
      templateIds,
      this.#clock(),
      this.#opts.hotTemplateTtlMs,
      this.#opts.hotMaxTemplates,
    );
  }

  /** Whether a waiter asked for `keyId` within the hot-key TTL. */
  isHotKey(keyId: number): boolean {
    return isHot(this.#hotKeys, keyId, this.#clock());
  }

  /** Whether a waiter used `templateId` within the hot-template TTL. */
  isHotTemplate(templateId: string): boolean {
    return isHot(this.#hotTemplates, templateId, this.#clock());
  }

  /** Live hot keys and templates, after dropping expired ones. */
  hotCounts(): { keys: number; templates: number } {
    const now = this.#clock();
    prune(this.#hotKeys, now);
    prune(this.#hotTemplates, now);
    return { keys: this.#hotKeys.size, templates: this.#hotTemplates.size };
  }

  #slots(keyId: number): number[] {
    const mask = (1 << this.#pow2) - 1;
    const h2 = (Math.imul(keyId ^ (keyId >>> 16), 0x45d9f3b) | 1) >>> 0;
    const out: number[] = [];
    for (let i = 0; i < this.#opts.k; i++) {
      out.push(((keyId + Math.imul(i, h2)) >>> 0) & mask);
    }
    return out;
  }

  #write(keyId: number, gen: number): void {
    for (const slot of this.#slots(keyId)) {
      if (this.#filter[slot] === 0) this.#used++;
      this.#filter[slot] = gen;
    }
  }

  #lastGeneration(keyId: number): number {
    let least = Infinity;
    for (const slot of this.#slots(keyId >>> 0)) {
      least = Math.min(least, this.#filter[slot]);
    }
    return least;
  }

  /**
   * Doubles the table while it would be more than half used, up to
   * `filterPow2`. A slot of the larger table takes the value of the slot
   * it folds onto, so every key still reads a generation at least its own.
   */
  #growIfNeeded(incoming: number): void {
    while (
      this.#pow2 < this.#opts.filterPow2 &&
      (this.#used + incoming * this.#opts.k) * 2 > this.#filter.length
    ) {
      const old = this.#filter;
      const mask = old.length - 1;
      const next = new Uint32Array(old.length * 2);
      let used = 0;
      for (let i = 0; i < next.length; i++) {
        next[i] = old[i & mask];
        if (next[i] !== 0) used++;
      }
      this.#filter = next;
      this.#pow2++;
      this.#used = used;
    }
  }

  #appendLane(
    gen: number,
    now: number,
    keys: Set<string>,
  ): void {
    // An overflow bucket lacks keys, but it already wakes every waiter.
    this.#lane.push({ generation: gen, flushAtMs: now, keys });
    this.#laneKeys += keys.size;
    while (
      this.#lane.length > 0 &&
      (this.#lane[0].flushAtMs < now - EXACT_LANE_MS ||
        this.#laneKeys > this.#opts.pendingMaxKeys)
    ) {
      const dropped = this.#lane.shift()!;
      this.#laneKeys -= dropped.keys.size;
      this.#laneFloor = dropped.generation;
    }
  }
}

function noteHot<K>(
  map: Map<K, number>,
  items: Iterable<K>,
  now: number,
  ttl: number,
  cap: number,
): void {
  // A full set takes no new items: they stay cold, and a cold fine touch
  // becomes a template-key touch, so the cap costs precision, not wakes.
  for (const item of items) {
    if (!map.has(item) && map.size >= cap) {
      prune(map, now);
      if (map.size >= cap) continue;
    }
    map.set(item, now + ttl);
  }
}

function isHot<K>(map: Map<K, number>, item: K, now: number): boolean {
  const until = map.get(item);
  return until !== undefined && until >= now;
}

function prune<K>(map: Map<K, number>, now: number): void {
  for (const [item, until] of map) if (until < now) map.delete(item);
}
