/**
 * @module
 * Sealing one WAL range into a segment file: read chunks, encode records
 * (zstd + crc32c), write the file durably. Runs on this thread in slices
 * that yield to the event loop between blocks, or on a Worker
 * (`_seal_worker.ts`) with its own read connection to the SQLite WAL, so the
 * heavy work stays off the request path.
 */

import { join } from "node:path";
import type { Codec } from "../_wasm/codec.ts";
import { type ErrorKind, StreamError } from "../errors.ts";
import { SEAL_READ_SLICE_BYTES, SEAL_YIELD_BYTES } from "../limits.ts";
import { writeFileDurably } from "../segment/builder.ts";
import { chunkRecords, SegmentEncoder } from "../segment/format.ts";
import type { Chunk, WalStore } from "../storage/wal_store.ts";
import type { PgStoreOptions } from "../storage/pg_store.ts";
import { fileName } from "./segment_files.ts";

/** Reads chunks of one stream (a `WalStore.readChunks`). */
export type WalRead = (
  streamId: number,
  fromPos: number,
  endPos: number,
  bytesMax: number,
) => Promise<Chunk[]>;

/** A sealed file: where its records end and its size. */
export interface Sealed {
  /** Position after the last sealed record. */
  endPos: number;
  /** File size in bytes. */
  sizeBytes: number;
}

/** Seals `[fromPos, ...)` of a stream into `<segmentDir>/<fileName>`. */
export interface Sealer {
  /** Seals from `fromPos` up to a chunk boundary past the size target, below `limitPos`. */
  seal(
    streamId: number,
    fromPos: number,
    limitPos: number,
  ): Promise<Sealed | undefined>;
  /** Releases the Worker, if any. */
  close(): void;
}

/**
 * Encodes WAL records from `fromPos` (a record boundary) up to the first
 * chunk boundary at or past `segmentBytes` (or exactly to `endPosExact`, to
 * rebuild a sealed range), never past `limitPos`. Yields after every block's
 * worth of records. Undefined when there is nothing to seal.
 */
export async function encodeRange(
  read: WalRead,
  codec: Codec,
  streamId: number,
  fromPos: number,
  limitPos: number,
  options: { segmentBytes?: number; endPosExact?: number },
): Promise<{ bytes: Uint8Array; endPos: number } | undefined> {
  const segmentBytes = options.segmentBytes ?? Number.MAX_SAFE_INTEGER;
  const encoder = new SegmentEncoder({
    streamId: String(streamId),
    codec,
    level: 1,
  });
  let pos = fromPos;
  let sinceYield = 0;
  let stop = false;
  while (!stop && pos < limitPos) {
    const chunks = await read(streamId, pos, limitPos, SEAL_READ_SLICE_BYTES);
    if (chunks.length === 0 || chunks[0].startPos > pos) {
      throw new StreamError(
        "corrupt",
        `WAL data missing at position ${pos} of stream id ${streamId}`,
      );
    }
    const before = pos;
    for (const chunk of chunks) {
      if (options.endPosExact === undefined && pos - fromPos >= segmentBytes) {
        stop = true; // full, at a chunk boundary
        break;
      }
      for (const record of chunkRecords([chunk])) {
        if (record.pos < pos) continue; // compaction merged across fromPos
        if (record.pos + record.data.length > limitPos) {
          stop = true; // past the visible tail (or the rebuilt range)
          break;
        }
        encoder.add(record);
        pos += record.data.length;
        sinceYield += record.data.length;
        if (sinceYield >= SEAL_YIELD_BYTES) {
          sinceYield = 0; // a block was compressed: let others run
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      if (stop) break;
    }
    if (pos === before) break;
  }
  if (pos === fromPos) return undefined;
  if (options.endPosExact !== undefined && pos !== options.endPosExact) {
    throw new StreamError(
      "corrupt",
      `Cannot rebuild segment of stream id ${streamId} up to ${options.endPosExact}`,
    );
  }
  return { bytes: encoder.finish(), endPos: pos };
}

/** Encodes a range and writes its file (temp, fsync, rename). */
export async function sealToFile(
  read: WalRead,
  codec: Codec,
  segmentDir: string,
  segmentBytes: number,
  streamId: number,
  fromPos: number,
  limitPos: number,
): Promise<Sealed | undefined> {
  const encoded = await encodeRange(read, codec, streamId, fromPos, limitPos, {
    segmentBytes,
  });
  if (encoded === undefined) return undefined;
  const path = join(
    segmentDir,
    fileName({ streamId, startPos: fromPos, endPos: encoded.endPos }),
  );
  await writeFileDurably(path, encoded.bytes);
  return { endPos: encoded.endPos, sizeBytes: encoded.bytes.length };
}

/** Seals on this thread, reading through `store`. */
export function inThreadSealer(
  store: WalStore,
  codec: Codec,
  segmentDir: string,
  segmentBytes: number,
): Sealer {
  const read: WalRead = (id, from, end, max) =>
    store.readChunks(id, from, end, max);
  return {
    seal: (streamId, fromPos, limitPos) =>
      sealToFile(
        read,
        codec,
        segmentDir,
        segmentBytes,
        streamId,
        fromPos,
        limitPos,
      ),
    close: () => {},
  };
}

/**
 * The WAL a seal Worker reads through a connection of its own: a SQLite
 * file's path, or how to reach PostgreSQL (`log` left out: it cannot cross).
 */
export type WalSource = string | { postgres: Omit<PgStoreOptions, "log"> };

/** A request to the seal Worker. */
export interface SealRequest {
  /** Correlates the reply. */
  id: number;
  /** The WAL to read. */
  walPath: WalSource;
  /** Folder for the file. */
  segmentDir: string;
  /** Size target. */
  segmentBytes: number;
  /** Stream id. */
  streamId: number;
  /** First position (a record boundary). */
  fromPos: number;
  /** Never seal past this. */
  limitPos: number;
}

/** The seal Worker's reply (`ready` once it listens). */
export type SealReply =
  | { ready: true }
  | { id: number; ok: true; sealed: Sealed | undefined }
  | { id: number; ok: false; kind: string; message: string };

/** Seals on a Worker with its own read connection to `walPath`. */
export function workerSealer(
  walPath: WalSource,
  segmentDir: string,
  segmentBytes: number,
): Sealer {
  const worker = new Worker(new URL("./_seal_worker.ts", import.meta.url), {
    type: "module",
  });
  const pending = new Map<
    number,
    { resolve: (s: Sealed | undefined) => void; reject: (e: Error) => void }
  >();
  let nextId = 1;
  let failed: StreamError | undefined;
  let markClosed!: () => void;
  const closed = new Promise<void>((resolve) => markClosed = resolve);
  const failAll = (error: StreamError) => {
    failed = error;
    markClosed();
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  // Messages posted before the worker's module (whose imports await WASM
  // set-up) has installed its handler can be lost: wait for its `ready`.
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => markReady = resolve);
  worker.onmessage = (event: MessageEvent<SealReply>) => {
    const reply = event.data;
    if ("ready" in reply) {
      markReady();
      return;
    }
    const p = pending.get(reply.id);
    if (p === undefined) return;
    pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.sealed);
    else p.reject(new StreamError(reply.kind as ErrorKind, reply.message));
  };
  worker.onerror = (event) => {
    event.preventDefault();
    failAll(
      new StreamError("unavailable", `Seal worker crashed: ${event.message}`),
    );
  };
  return {
    async seal(streamId, fromPos, limitPos) {
      await Promise.race([ready, closed]);
      if (failed !== undefined) throw failed;
      const id = nextId++;
      return await new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage(
          {
            id,
            walPath,
            segmentDir,
            segmentBytes,
            streamId,
            fromPos,
            limitPos,
          } satisfies SealRequest,
        );
      });
    },
    close() {
      worker.terminate();
      failAll(new StreamError("unavailable", "Seal worker is closed"));
    },
  };
}
