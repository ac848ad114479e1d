/**
 * @module
 * Packed segments (docs/segments.md "Packed segments"): the sealed segments
 * of tiny streams are not put as objects of their own but laid end to end,
 * with many other streams', in one pack object `packs/<16-digit seq>.pack`.
 * The pack is put first; each stream's manifest then names its segment as a
 * range of the pack and, naming nothing else, goes out in a batch object
 * (`manifest_batch.ts`); only after that batch is in the store are the
 * segments marked uploaded (with their pack range) and the WAL truncated.
 * A crash in between leaves a pack nothing names and the segments sealed:
 * they are packed again.
 */

import { assert } from "../assert.ts";
import type { StreamInfo } from "../engine/types.ts";
import {
  PACK_BYTES_MAX,
  PACK_LIST_PAGES_MAX,
  PACK_SEGMENT_BYTES_MAX,
  PACK_SEGMENTS_MAX,
} from "../limits.ts";
import {
  packKey,
  PACKS_PREFIX,
  packSeqOfKey,
} from "../objectstore/manifest.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import { encodePack, type PackInput } from "../segment/pack.ts";
import type { SegmentRow } from "../storage/wal_store.ts";
import type { TierContext } from "./_context.ts";
import { encodeRange } from "./_seal.ts";
import { type DueQueue, lookAt } from "./due.ts";
import { freshRetry, type Retry, retryLater } from "./retry.ts";
import { isTiny } from "./seal_loop.ts";
import { segmentFilePath } from "./segment_files.ts";
import type { TierStream } from "./streams.ts";

/**
 * The sealed, not yet put segments of `s` that go into a pack: all of them,
 * when the stream is tiny, every segment it has had so far was packed, and
 * each is at most `PACK_SEGMENT_BYTES_MAX`; else none (they are put as
 * objects of their own, and the stream is never packed again).
 */
export function packableRows(
  ctx: TierContext,
  s: TierStream,
  info: StreamInfo,
): SegmentRow[] {
  if (ctx.packs === undefined || ctx.batches === undefined) return [];
  const rows: SegmentRow[] = [];
  for (const row of s.segments) {
    if (row.pack !== undefined) continue; // packed (published or not yet)
    if (row.uploaded || s.put?.has(row.startPos) === true) return [];
    if (row.sizeBytes > PACK_SEGMENT_BYTES_MAX) return [];
    rows.push(row);
  }
  return rows.length > 0 && isTiny(ctx, s, info) ? rows : [];
}

/**
 * Streams whose segments wait for the next pack, and the pack numbers. A
 * pack is put once `PACK_SEGMENTS_MAX` segments or `PACK_BYTES_MAX` bytes
 * wait, or the first has waited `waitMs` (`--manifest-batch-ms`: their
 * manifests wait as long again for their batch).
 */
export class Packer {
  readonly #objects: ObjectStore;
  readonly #waitMs: number;
  /** Stream id to the time it started waiting, in arrival order. */
  #waiting = new Map<number, number>();
  #nextSeq = 1;
  #opened = false;
  readonly #retry: Retry = freshRetry();
  /** Packs put since start (for tests and figures). */
  packsPut = 0;

  /** A packer putting into `objects`. */
  constructor(objects: ObjectStore, waitMs: number) {
    this.#objects = objects;
    this.#waitMs = waitMs;
  }

  /** Whether stream `id` waits for a pack. */
  holds(id: number): boolean {
    return this.#waiting.has(id);
  }

  /** Streams waiting. */
  get size(): number {
    return this.#waiting.size;
  }

  /** Stream `id` waits from `nowMs` on (kept if it waits already); its deadline. */
  hold(id: number, nowMs: number): number {
    const since = this.#waiting.get(id) ?? nowMs;
    this.#waiting.set(id, since);
    return since + this.#waitMs;
  }

  /** Forgets stream `id` (released, or no longer packable). */
  forget(id: number): void {
    this.#waiting.delete(id);
  }

  /** Whether a pack is due at `nowMs`. */
  due(nowMs: number): boolean {
    if (this.#waiting.size === 0 || nowMs < this.#retry.retryAtMs) return false;
    if (this.#waiting.size >= PACK_SEGMENTS_MAX) return true;
    const oldest = this.#waiting.values().next().value!;
    return nowMs - oldest >= this.#waitMs;
  }

  /** The waiting streams, oldest first. */
  waiting(): number[] {
    return [...this.#waiting.keys()];
  }

  /** The next pack's key: above every pack in the store (listed once). */
  async nextKey(): Promise<string> {
    if (!this.#opened) {
      let next: string | undefined;
      for (let page = 0; page < PACK_LIST_PAGES_MAX; page++) {
        const listed = await this.#objects.list(PACKS_PREFIX, next);
        for (const key of listed.keys) {
          const seq = packSeqOfKey(key);
          if (seq !== undefined) {
            this.#nextSeq = Math.max(this.#nextSeq, seq + 1);
          }
        }
        next = listed.next;
        if (next === undefined) break;
      }
      this.#opened = true;
    }
    return packKey(this.#nextSeq++);
  }

  /** The retry state of failed pack puts. */
  get retry(): Retry {
    return this.#retry;
  }
}

/**
 * Holds `s` for the next pack when it has packable segments (scheduling a
 * look at its deadline on `due`); true if so (its segments are not put on
 * their own meanwhile).
 */
export function holdForPack(
  ctx: TierContext,
  s: TierStream,
  info: StreamInfo,
  due: DueQueue,
): boolean {
  const packer = ctx.packs;
  if (packer === undefined) return false;
  if (packableRows(ctx, s, info).length === 0) {
    packer.forget(s.id);
    return false;
  }
  const atMs = packer.hold(s.id, ctx.clock.now());
  s.uploadLookAtMs = lookAt(due, s.id, atMs, s.uploadLookAtMs);
  return true;
}

/**
 * Before an upload pass: holds the packable streams among `ids` for the
 * next pack (scheduling a look at their deadline on `due`), and when a pack
 * is due puts one. Returns the streams whose segments it packed (the pass
 * publishes their manifests).
 */
export async function packPass(
  ctx: TierContext,
  ids: readonly number[],
  hooks: {
    info(id: number): StreamInfo | undefined;
    due: DueQueue;
  },
): Promise<number[]> {
  const packer = ctx.packs;
  if (packer === undefined) return [];
  const now = ctx.clock.now();
  for (const id of ids) {
    const info = hooks.info(id);
    const s = ctx.streams.get(id);
    if (info === undefined || s === undefined) packer.forget(id);
    else holdForPack(ctx, s, info, hooks.due);
  }
  if (!packer.due(now)) return [];
  try {
    const packed = await putPack(ctx, packer, hooks.info);
    packer.retry.failures = 0;
    packer.retry.retryAtMs = 0;
    // What did not fit waits for the next pass.
    for (const id of packer.waiting()) hooks.due.mark(id);
    return packed;
  } catch (error) {
    const { uploadRetryMinMs, uploadRetryMaxMs } = ctx.config;
    retryLater(
      packer.retry,
      ctx.clock,
      ctx.random,
      uploadRetryMinMs,
      uploadRetryMaxMs,
    );
    const failures = packer.retry.failures;
    if (failures === 1 || failures % 20 === 0) {
      ctx.log.warn(
        `pack not put (attempt ${failures}); will retry: ${
          (error as Error).message
        }`,
      );
    }
    for (const id of packer.waiting()) {
      const s = ctx.streams.get(id);
      if (s === undefined) continue;
      s.uploadLookAtMs = lookAt(
        hooks.due,
        id,
        packer.retry.retryAtMs,
        s.uploadLookAtMs,
      );
    }
    return [];
  }
}

/**
 * Puts one pack of the waiting streams' segments (oldest first, within
 * `PACK_SEGMENTS_MAX` and `PACK_BYTES_MAX`), then notes each segment's
 * place on its row (not yet uploaded: a manifest must name it first).
 */
async function putPack(
  ctx: TierContext,
  packer: Packer,
  info: (id: number) => StreamInfo | undefined,
): Promise<number[]> {
  const inputs: PackInput[] = [];
  const rows: { s: TierStream; row: SegmentRow }[] = [];
  let bytes = 0;
  for (const id of packer.waiting()) {
    const s = ctx.streams.get(id);
    const i = info(id);
    const pending = s === undefined || i === undefined
      ? []
      : packableRows(ctx, s, i);
    if (pending.length === 0) {
      packer.forget(id);
      continue;
    }
    const size = pending.reduce((n, r) => n + r.sizeBytes, 0);
    if (inputs.length > 0) {
      const full = inputs.length + pending.length > PACK_SEGMENTS_MAX ||
        bytes + size > PACK_BYTES_MAX;
      if (full) break;
    }
    for (const row of pending) {
      inputs.push({
        streamId: id,
        startPos: row.startPos,
        endPos: row.endPos,
        segment: await sealedBytes(ctx, row),
      });
      rows.push({ s: s!, row });
    }
    bytes += size;
  }
  if (inputs.length === 0) return [];
  const { bytes: pack, entries } = encodePack(inputs);
  const key = await packer.nextKey();
  await ctx.objects.put(key, pack);
  packer.packsPut++;
  ctx.crashPoint("after_pack_put");
  const packed = new Set<number>();
  for (const [i, { s, row }] of rows.entries()) {
    packer.forget(s.id);
    if (!ctx.streams.isCurrent(s) || !s.segments.includes(row)) continue;
    assert(entries[i].length === row.sizeBytes, "a packed file keeps its size");
    row.pack = { key, offset: entries[i].offset };
    (s.put ??= new Set()).add(row.startPos); // put: publish, do not put again
    packed.add(s.id);
    await ctx.cache.put(`${key}#${entries[i].offset}`, inputs[i].segment);
  }
  return [...packed];
}

/** A sealed segment's bytes: its file, else rebuilt from the WAL. */
export async function sealedBytes(
  ctx: TierContext,
  row: SegmentRow,
): Promise<Uint8Array> {
  try {
    return await Deno.readFile(segmentFilePath(ctx.segmentDir, row));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const rebuilt = await encodeRange(
    (id, from, end, bytesMax) => ctx.store.readChunks(id, from, end, bytesMax),
    ctx.codec,
    row.streamId,
    row.startPos,
    row.endPos,
    { endPosExact: row.endPos },
  );
  assert(rebuilt !== undefined, "a sealed range is never empty");
  return rebuilt.bytes;
}
