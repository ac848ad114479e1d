/**
 * @module
 * Batched manifests (docs/segments.md "Many small streams"): a manifest that
 * names no segments, no schema registry and no routing-key index (an empty
 * stream's) is not put as `streams/<id>/manifest.json` but collected and put
 * with many others in one batch object `manifests/<16-digit seq>.json`. A
 * deleted stream gets a tombstone entry. Each entry keeps the sequence
 * number of the batch that first carried it, so the newest entry per stream
 * wins wherever merges moved it. Batch objects are merged when there are
 * more than `MANIFEST_BATCH_OBJECTS_MAX`: the merged objects are put first,
 * the old ones deleted after, so a crash between the two leaves entries that
 * the merged ones supersede or repeat.
 */

import { StreamError } from "../errors.ts";
import {
  MANIFEST_BATCH_ENTRIES_MAX,
  MANIFEST_BATCH_LIST_PAGES_MAX,
  MANIFEST_BATCH_OBJECT_ENTRIES_MAX,
  MANIFEST_BATCH_OBJECTS_MAX,
} from "../limits.ts";
import {
  checkManifest,
  type Manifest,
  MANIFEST_VERSION,
} from "../objectstore/manifest.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import type { CrashPoint } from "./_context.ts";
import type { TierClock } from "./clock.ts";
import { freshRetry, type Retry, retryLater } from "./retry.ts";

/** Prefix of batch objects. */
export const MANIFEST_BATCHES_PREFIX = "manifests/";

/** One stream's entry in a batch: its manifest, or null once deleted. */
export interface BatchEntry {
  /** Sequence number of the batch that first carried this entry. */
  seq: number;
  /** Stream id. */
  id: number;
  /** The manifest, or null: a tombstone (the stream was deleted). */
  manifest: Manifest | null;
}

/**
 * Whether `m` is published in a batch: it names no segment outside a pack
 * object, no schema registry and no routing-key index. Once a stream's
 * manifest is not batchable, none of its later ones is (own segments,
 * registries and indexes are never taken back, and a stream past tiny is
 * not packed again), so its own manifest object wins at bootstrap.
 */
export function batchable(m: Manifest): boolean {
  return m.segments.every((s) => s.packOffset !== undefined) &&
    m.schemaRegistry === undefined && m.routingIndex === undefined;
}

/** Key of batch object `seq`. */
export function batchKey(seq: number): string {
  return `${MANIFEST_BATCHES_PREFIX}${String(seq).padStart(16, "0")}.json`;
}

function seqOfKey(key: string): number | undefined {
  const match = /^manifests\/(\d{16})\.json$/.exec(key);
  return match === null ? undefined : Number(match[1]);
}

/** Serializes batch entries. */
export function encodeBatch(entries: readonly BatchEntry[]): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({ version: MANIFEST_VERSION, entries }),
  );
}

/** Parses and checks a batch object; bad bytes are `corrupt`. */
export function decodeBatch(bytes: Uint8Array, key: string): BatchEntry[] {
  let parsed: { version?: unknown; entries?: unknown };
  try {
    parsed = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes),
    );
  } catch (cause) {
    throw new StreamError("corrupt", `Manifest batch "${key}" is not JSON`, {
      key,
    }, { cause });
  }
  const bad = (why: string) =>
    new StreamError("corrupt", `Manifest batch "${key}": ${why}`, { key });
  if (parsed?.version !== MANIFEST_VERSION || !Array.isArray(parsed.entries)) {
    throw bad("not a version 1 batch");
  }
  return parsed.entries.map((e: BatchEntry) => {
    if (
      typeof e !== "object" || e === null || !Number.isSafeInteger(e.seq) ||
      !Number.isSafeInteger(e.id) || e.id < 1
    ) throw bad("bad entry");
    if (e.manifest === null) return { seq: e.seq, id: e.id, manifest: null };
    const m = checkManifest(e.manifest, `${key}#${e.id}`);
    if (m.id !== e.id) throw bad(`entry ${e.id} holds stream ${m.id}`);
    return { seq: e.seq, id: e.id, manifest: m };
  });
}

/** Keeps the newest entry per stream of `entries`. */
export function newestEntries(
  entries: Iterable<BatchEntry>,
): Map<number, BatchEntry> {
  const newest = new Map<number, BatchEntry>();
  for (const e of entries) {
    const seen = newest.get(e.id);
    if (seen === undefined || seen.seq < e.seq) newest.set(e.id, e);
  }
  return newest;
}

/** Every batch object's key, sorted. */
export async function listBatches(objects: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  let next: string | undefined;
  for (let page = 0; page < MANIFEST_BATCH_LIST_PAGES_MAX; page++) {
    const listed = await objects.list(MANIFEST_BATCHES_PREFIX, next);
    keys.push(...listed.keys.filter((k) => seqOfKey(k) !== undefined));
    next = listed.next;
    if (next === undefined) break;
  }
  return keys.sort();
}

/** Reads every entry of every batch object (one GET per object). */
export async function readBatches(
  objects: ObjectStore,
  keys?: readonly string[],
): Promise<BatchEntry[]> {
  const entries: BatchEntry[] = [];
  for (const key of keys ?? await listBatches(objects)) {
    const bytes = await objects.get(key);
    if (bytes !== undefined) entries.push(...decodeBatch(bytes, key));
  }
  return entries;
}

interface Pending {
  manifest: Manifest | null;
  onPublished: (() => void) | undefined;
}

/** What a `ManifestBatcher` works with. */
export interface BatcherOptions {
  /** Where batch objects go. */
  objects: ObjectStore;
  /** Longest wait of a queued entry before its batch is published, ms. */
  waitMs: number;
  /** The tier's clock. */
  clock: TierClock;
  /** Jitter source for retries. */
  random: () => number;
  /** First wait after a failed publish, ms (`--upload-retry-min-ms`). */
  retryMinMs: number;
  /** Longest wait after failed publishes, ms (`--upload-retry-max-ms`). */
  retryMaxMs: number;
  /** Test-only crash points. */
  crashPoint: (point: CrashPoint) => void;
}

/** Collects manifests and tombstones and publishes them in batch objects. */
export class ManifestBatcher {
  readonly #o: BatcherOptions;
  #pending = new Map<number, Pending>();
  #oldestMs = Infinity;
  /** Batch objects known to exist, by key, with their entry counts. */
  #known = new Map<string, number>();
  #nextSeq = 1;
  /** Nothing is published before the store was listed (`#nextSeq`). */
  #opened = false;
  readonly #retry: Retry = freshRetry();

  /** A batcher over `options.objects`. */
  constructor(options: BatcherOptions) {
    this.#o = options;
  }

  /**
   * Reads the batch objects in the store (one LIST, one GET each) and
   * returns the newest entry per stream; later batches get higher numbers.
   */
  async open(): Promise<Map<number, BatchEntry>> {
    this.#known.clear();
    const entries: BatchEntry[] = [];
    for (const key of await listBatches(this.#o.objects)) {
      const bytes = await this.#o.objects.get(key);
      if (bytes === undefined) continue;
      const batch = decodeBatch(bytes, key);
      entries.push(...batch);
      this.#known.set(key, batch.length);
      this.#nextSeq = Math.max(this.#nextSeq, seqOfKey(key)! + 1);
    }
    this.#opened = true;
    return newestEntries(entries);
  }

  /** Entries waiting to be published. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Batch objects this node knows of. */
  get objectCount(): number {
    return this.#known.size;
  }

  /**
   * Queues stream `m.id`'s manifest (replacing one queued before);
   * `onPublished` runs once a batch object holding it is in the store.
   */
  add(m: Manifest, onPublished?: () => void): void {
    this.#queue(m.id, { manifest: m, onPublished }, this.#o.clock.now());
  }

  /** Queues a tombstone: stream `id` was deleted. */
  tombstone(id: number): void {
    this.#queue(
      id,
      { manifest: null, onPublished: undefined },
      this.#o.clock.now(),
    );
  }

  /** Forgets a queued manifest of stream `id` (its own object takes over). */
  drop(id: number): void {
    this.#pending.delete(id);
  }

  #queue(id: number, entry: Pending, now: number): void {
    if (this.#pending.size === 0) this.#oldestMs = now;
    this.#pending.set(id, entry);
  }

  /**
   * Publishes what is queued when it is full, its oldest entry has waited
   * `waitMs`, or `force`; then merges batch objects when there are too many.
   */
  async flush(force = false): Promise<void> {
    const { clock, random, retryMinMs, retryMaxMs } = this.#o;
    const now = clock.now();
    const due = force || this.#pending.size >= MANIFEST_BATCH_ENTRIES_MAX ||
      now - this.#oldestMs >= this.#o.waitMs;
    if (this.#pending.size === 0 || !due) return;
    if (!force && now < this.#retry.retryAtMs) return;
    try {
      // A batch number must be above every one in the store: list first.
      if (!this.#opened) await this.open();
      await this.#publish();
      if (this.#known.size > MANIFEST_BATCH_OBJECTS_MAX) await this.merge();
      this.#retry.failures = 0;
      this.#retry.retryAtMs = 0;
    } catch (error) {
      retryLater(this.#retry, clock, random, retryMinMs, retryMaxMs);
      throw error;
    }
  }

  /** Failed publishes in a row. */
  get failures(): number {
    return this.#retry.failures;
  }

  async #publish(): Promise<void> {
    const taken = this.#pending;
    const oldestMs = this.#oldestMs;
    this.#pending = new Map();
    this.#oldestMs = Infinity;
    const seq = this.#nextSeq++;
    const entries: BatchEntry[] = [];
    for (const [id, p] of taken) {
      entries.push({ seq, id, manifest: p.manifest });
    }
    try {
      await this.#o.objects.put(batchKey(seq), encodeBatch(entries));
    } catch (error) {
      // Queued again (as old as before), unless a newer entry came
      // meanwhile. A put that failed late may still have landed: the next
      // merge reads and deletes it if so.
      for (const [id, p] of taken) {
        if (!this.#pending.has(id)) this.#queue(id, p, oldestMs);
      }
      this.#oldestMs = Math.min(this.#oldestMs, oldestMs);
      this.#known.set(batchKey(seq), 0);
      throw error;
    }
    this.#known.set(batchKey(seq), entries.length);
    this.#o.crashPoint("after_manifest_batch_publish");
    for (const p of taken.values()) p.onPublished?.();
  }

  /**
   * Merges every batch object into as few as fit
   * `MANIFEST_BATCH_OBJECT_ENTRIES_MAX` entries each, keeping the newest
   * entry per stream. A tombstone no other object mentions is dropped: a
   * crash before the old objects are deleted then leaves nothing it hid.
   */
  async merge(): Promise<void> {
    const keys = [...this.#known.keys()].sort();
    const entries = await readBatches(this.#o.objects, keys);
    const mentions = new Map<number, number>();
    for (const e of entries) mentions.set(e.id, (mentions.get(e.id) ?? 0) + 1);
    const kept = [...newestEntries(entries).values()]
      .filter((e) => e.manifest !== null || mentions.get(e.id)! > 1)
      .sort((a, b) => a.id - b.id);
    for (let i = 0; i < kept.length; i += MANIFEST_BATCH_OBJECT_ENTRIES_MAX) {
      const part = kept.slice(i, i + MANIFEST_BATCH_OBJECT_ENTRIES_MAX);
      const key = batchKey(this.#nextSeq++);
      await this.#o.objects.put(key, encodeBatch(part));
      this.#known.set(key, part.length);
    }
    this.#o.crashPoint("after_manifest_batch_merge");
    for (const key of keys) {
      await this.#o.objects.delete(key);
      this.#known.delete(key);
    }
  }
}
