/**
 * @module
 * The tier's per-stream state and the local backlog counters. Each stream's
 * segments tile `[basePos, sealedThrough)`; positions below `walStart` are
 * served from segments (their WAL rows are gone). The counters (WAL bytes
 * not yet published, sealed bytes and segments not yet uploaded) change only
 * here, in the same step as the fields they sum, so the loops, the reader
 * and `admit()` always agree.
 */

import { assert } from "../assert.ts";
import type {
  SegmentRow,
  StreamRow,
  WalSnapshot,
} from "../storage/wal_store.ts";
import type { SchemaRegistryRef } from "../objectstore/manifest.ts";
import { freshRetry, type Retry } from "./retry.ts";

/** Per-stream tiering state. */
export interface TierStream {
  /** Stream id. */
  id: number;
  /** First own position (the fork position, else 0). */
  basePos: number;
  /** Sealed segments in position order, tiling `[basePos, sealedThrough)`. */
  segments: SegmentRow[];
  /** Position up to which segments are sealed. */
  sealedThrough: number;
  /** Positions below are served from segments (the WAL rows are gone). */
  walStart: number;
  /** Committed tail, as last seen (for the WAL backlog figure). */
  tailPos: number;
  /** When data past `sealedThrough` was first seen. */
  unsealedSinceMs: number | undefined;
  /**
   * When the tail last moved (epoch ms; after a restart, the time of the
   * last append): a tiny stream's unsealed bytes wait for `--segment-idle-ms` past it.
   */
  lastCommitMs: number;
  /** The seal loop's earliest scheduled look at it (`Infinity`: none). */
  sealLookAtMs: number;
  /** The upload loop's earliest scheduled look at it (`Infinity`: none). */
  uploadLookAtMs: number;
  /**
   * Segment starts put into the object store (not yet marked uploaded);
   * allocated while an upload is under way.
   */
  put: Set<number> | undefined;
  /** Summary of the last published manifest (`publishedSummary`). */
  published: string | undefined;
  /**
   * Generation of the manifest this node last published, when manifest
   * generations are kept; undefined until read (or after losing a race).
   */
  generation: number | undefined;
  /** Token of this node's lease on the stream, as of the current pass. */
  leaseToken: number | undefined;
  /**
   * The lease token under which `segments` were last taken from the
   * database (several nodes: a new token means another node may have
   * sealed and published meanwhile).
   */
  adoptedToken: number | undefined;
  /** The schema registry last prepared for publication, and its object. */
  schema: { source: object; text: string; ref: SchemaRegistryRef } | undefined;
  /**
   * Publication times (epoch ms, this process) of the manifest before the
   * latest one and of the latest; 0 before there was one.
   */
  manifestAtMs: [number, number];
  /** Key of the registry object the last published manifest named. */
  schemaPublishedKey: string | undefined;
  /** Sealing fails and backs off independently of uploading. */
  seal: Retry;
  /** Uploading's retry state. */
  upload: Retry;
}

/** `_details` figures of one stream. */
export interface TierDetails {
  /** Position up to which segments are sealed. */
  sealedThroughPos: number;
  /** Position up to which a published manifest names segments. */
  uploadedThroughPos: number;
  /** Positions below are read from segments. */
  walStartPos: number;
  /** Sealed segments. */
  segmentCount: number;
  /** Their encoded bytes. */
  segmentBytes: number;
  /** Segments a published manifest names. */
  uploadedSegmentCount: number;
}

/** What a published manifest said, compactly: to skip publishing it again. */
export function publishedSummary(
  through: number,
  closed: boolean,
  softDeleted: boolean,
  schemaKey: string | undefined = undefined,
  profile: string | undefined = undefined,
): string {
  const base = `${through}|${closed}|${softDeleted}|${schemaKey ?? ""}`;
  return profile === undefined ? base : `${base}|${profile}`;
}

/**
 * What of `rows`' packing a published manifest records, compactly (part of
 * `TierStream.published`): the last segment's pack range, when packed.
 */
export function packText(
  rows: readonly { pack?: { key: string; offset: number } }[],
): string {
  const last = rows[rows.length - 1]?.pack;
  return last === undefined ? "" : `|pack:${last.key}@${last.offset}`;
}

/** Tiered streams by id, with the backlog counters. */
export class TierStreams {
  /** When this process marked a segment uploaded (for index lag figures). */
  readonly uploadedAtMs = new WeakMap<SegmentRow, number>();
  readonly #streams = new Map<number, TierStream>();
  /** Σ over streams of `tailPos - walStart`. */
  #walBacklogBytes = 0;
  /** Σ of the sizes of sealed, not uploaded segments, and their count. */
  #uploadBacklogBytes = 0;
  #uploadsPending = 0;
  /** Segments sealed and uploaded since start (for `/metrics`). */
  #sealed = 0;
  #uploaded = 0;
  /** Tiny streams waiting for idleness (sealed early under backlog pressure). */
  readonly #heldSmall = new Set<number>();

  /** Per-stream state and the backlog counters from the WAL's tables. */
  load(snapshot: WalSnapshot): void {
    const forkPos = new Map(
      snapshot.streams.map((s) => [s.id, s.forkPos ?? 0]),
    );
    for (const row of snapshot.segments) {
      const s = this.ensure(row.streamId, forkPos.get(row.streamId) ?? 0);
      assert(row.startPos === s.sealedThrough, "segments tile the stream");
      s.segments.push(row);
      s.sealedThrough = row.endPos;
      if (row.uploaded) s.walStart = row.endPos;
      else {
        this.#uploadBacklogBytes += row.sizeBytes;
        this.#uploadsPending++;
      }
    }
    for (const row of snapshot.streams) {
      const s = this.ensure(row.id, row.forkPos ?? 0);
      s.tailPos = row.tailPos;
      s.lastCommitMs = row.lastTimeMs;
      s.published = publishedAtStart(s, row);
    }
    for (const s of this.#streams.values()) {
      s.tailPos = Math.max(s.tailPos, s.sealedThrough); // rows of no stream
      this.#walBacklogBytes += s.tailPos - s.walStart;
    }
  }

  /** Stream `id`, if tracked. */
  get(id: number): TierStream | undefined {
    return this.#streams.get(id);
  }

  /** Ids of every tracked stream. */
  ids(): number[] {
    return [...this.#streams.keys()];
  }

  /** Segments not yet uploaded, over all streams. */
  *pendingSegments(): Generator<SegmentRow> {
    for (const s of this.#streams.values()) {
      for (const row of s.segments) if (!row.uploaded) yield row;
    }
  }

  /** False once `s` was released (it is no longer the tracked state). */
  isCurrent(s: TierStream): boolean {
    return this.#streams.get(s.id) === s;
  }

  /** Stream `id`, tracked from now on if it was not. */
  ensure(id: number, basePos: number): TierStream {
    let s = this.#streams.get(id);
    if (s === undefined) {
      s = {
        id,
        basePos,
        segments: [],
        sealedThrough: basePos,
        walStart: basePos,
        tailPos: basePos,
        unsealedSinceMs: undefined,
        lastCommitMs: 0,
        sealLookAtMs: Infinity,
        uploadLookAtMs: Infinity,
        put: undefined,
        published: undefined,
        generation: undefined,
        leaseToken: undefined,
        adoptedToken: undefined,
        schema: undefined,
        schemaPublishedKey: undefined,
        manifestAtMs: [0, 0],
        seal: freshRetry(),
        upload: freshRetry(),
      };
      this.#streams.set(id, s);
    }
    return s;
  }

  /** Notes a committed tail of `s` at `nowMs` (tails only grow). */
  noteTail(s: TierStream, tailPos: number, nowMs: number): void {
    if (tailPos <= s.tailPos) return;
    this.#walBacklogBytes += tailPos - s.tailPos;
    s.tailPos = tailPos;
    s.lastCommitMs = nowMs;
  }

  /** Notes whether `s` (tiny) holds unsealed bytes until it is idle. */
  holdSmall(s: TierStream, held: boolean): void {
    if (held) this.#heldSmall.add(s.id);
    else this.#heldSmall.delete(s.id);
  }

  /**
   * Takes up to `max` tiny streams holding unsealed bytes, oldest hold
   * first (under backlog pressure they are sealed by age instead).
   */
  takeHeldSmall(max: number): number[] {
    const out: number[] = [];
    for (const id of this.#heldSmall) {
      if (out.length >= max) break;
      out.push(id);
      this.#heldSmall.delete(id);
    }
    return out;
  }

  /** Records a sealed segment of `s`, waiting for upload. */
  addSealed(s: TierStream, row: SegmentRow): void {
    assert(row.startPos === s.sealedThrough, "segments tile the stream");
    s.segments.push(row);
    s.sealedThrough = row.endPos;
    this.#uploadBacklogBytes += row.sizeBytes;
    this.#uploadsPending++;
    this.#sealed++;
  }

  /** A manifest published `s` up to `through`: reads below come from segments. */
  publishedThrough(s: TierStream, through: number): void {
    assert(through <= s.tailPos, "published data was committed");
    this.#walBacklogBytes -= through - s.walStart;
    s.walStart = through;
  }

  /** Marks `row` uploaded (a published manifest names it). */
  markUploaded(row: SegmentRow, nowMs?: number): void {
    if (row.uploaded) return;
    row.uploaded = true;
    if (nowMs !== undefined) this.uploadedAtMs.set(row, nowMs);
    this.#uploadBacklogBytes -= row.sizeBytes;
    this.#uploadsPending--;
    this.#uploaded++;
  }

  /**
   * Replaces the segments of `s` with `rows` (the database's, uploaded ones
   * first, tiling from `basePos`), when another node sealed or published
   * it: `walStart` and `sealedThrough` follow them and the counters are
   * corrected. Returns the rows dropped that were sealed here and not
   * uploaded (their files are no longer wanted).
   */
  adopt(s: TierStream, rows: SegmentRow[]): SegmentRow[] {
    let end = s.basePos;
    let walStart = s.basePos;
    for (const row of rows) {
      assert(row.startPos === end, "adopted segments tile the stream");
      end = row.endPos;
      if (row.uploaded) walStart = row.endPos;
    }
    const dropped: SegmentRow[] = [];
    for (const row of s.segments) {
      if (row.uploaded) continue;
      this.#uploadBacklogBytes -= row.sizeBytes;
      this.#uploadsPending--;
      dropped.push(row);
    }
    for (const row of rows) {
      if (row.uploaded) continue;
      this.#uploadBacklogBytes += row.sizeBytes;
      this.#uploadsPending++;
    }
    s.segments = rows;
    s.sealedThrough = end;
    this.#walBacklogBytes -= s.tailPos - s.walStart;
    s.walStart = walStart;
    s.tailPos = Math.max(s.tailPos, end);
    this.#walBacklogBytes += s.tailPos - s.walStart;
    s.put = undefined;
    s.published = undefined;
    s.generation = undefined;
    return dropped;
  }

  /** Stops tracking stream `id`, taking its bytes off the backlog. */
  remove(id: number): TierStream | undefined {
    const s = this.#streams.get(id);
    if (s === undefined) return undefined;
    this.#streams.delete(id);
    this.#heldSmall.delete(id);
    this.#walBacklogBytes -= s.tailPos - s.walStart;
    for (const row of s.segments) {
      if (!row.uploaded) {
        this.#uploadBacklogBytes -= row.sizeBytes;
        this.#uploadsPending--;
      }
    }
    return s;
  }

  /** The local backlog: WAL bytes not published plus sealed bytes not uploaded. */
  get backlogBytes(): number {
    return this.#walBacklogBytes + this.#uploadBacklogBytes;
  }

  /** Sealed bytes not yet uploaded. */
  get uploadBacklogBytes(): number {
    return this.#uploadBacklogBytes;
  }

  /** The counters, checked. */
  counters(): {
    walBacklogBytes: number;
    uploadBacklogBytes: number;
    uploadsPending: number;
    segmentsSealed: number;
    segmentsUploaded: number;
  } {
    assert(
      this.#walBacklogBytes >= 0 && this.#uploadBacklogBytes >= 0 &&
        this.#uploadsPending >= 0,
      "backlog counters never go negative",
    );
    return {
      walBacklogBytes: this.#walBacklogBytes,
      uploadBacklogBytes: this.#uploadBacklogBytes,
      uploadsPending: this.#uploadsPending,
      segmentsSealed: this.#sealed,
      segmentsUploaded: this.#uploaded,
    };
  }

  /** `_details` figures for stream `id`. */
  details(id: number, basePos: number): TierDetails {
    const s = this.#streams.get(id);
    const segments = s?.segments ?? [];
    let uploadedThroughPos = basePos;
    let uploadedSegmentCount = 0;
    for (const row of segments) {
      if (!row.uploaded) break;
      uploadedThroughPos = row.endPos;
      uploadedSegmentCount++;
    }
    return {
      sealedThroughPos: s?.sealedThrough ?? basePos,
      uploadedThroughPos,
      walStartPos: s?.walStart ?? basePos,
      segmentCount: segments.length,
      segmentBytes: segments.reduce((n, r) => n + r.sizeBytes, 0),
      uploadedSegmentCount,
    };
  }
}

/** The segment of `rows` (in position order) holding `pos`. */
export function findSegment(
  rows: SegmentRow[],
  pos: number,
): SegmentRow | undefined {
  let lo = 0;
  let hi = rows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (rows[mid].endPos <= pos) lo = mid + 1;
    else if (rows[mid].startPos > pos) hi = mid - 1;
    else return rows[mid];
  }
  return undefined;
}

/**
 * What the last published manifest of `s` must have said, when that can be
 * known after a restart, so the first upload pass does not publish every
 * stream's manifest again. Segments are marked uploaded only after a
 * manifest naming them is published, so with none pending that manifest ends
 * at the last segment; a stream open and not soft-deleted now was so at
 * every publish (both only ever turn on). Otherwise `undefined`: publish once.
 */
function publishedAtStart(s: TierStream, row: StreamRow): string | undefined {
  const last = s.segments[s.segments.length - 1];
  if (last === undefined || !last.uploaded) return undefined;
  if (row.closed || row.softDeleted) return undefined;
  return publishedSummary(last.endPos, false, false) + packText(s.segments);
}
