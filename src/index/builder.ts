/**
 * @module
 * `RunBuilder`: where run builds and compactions execute. `workerRunBuilder`
 * runs them on a dedicated Worker (the server's choice: a 16-segment build
 * hashes and sorts millions of keys), `inThreadRunBuilder` runs them here
 * (tests, tools). Builds take keys and encoded runs and return encoded
 * runs; `decode` checks a run file there and returns its columns. Only flat
 * buffers cross the thread boundary: copied in, transferred back.
 */

import { assert } from "../assert.ts";
import { type ErrorKind, StreamError } from "../errors.ts";
import { ROUTING_BUILD_PENDING_MAX } from "../limits.ts";
import {
  buildL0Bytes,
  type BuildReply,
  type BuildRequest,
  compactBytes,
  type SegmentKeySource,
} from "./_build.ts";
import { type Codec, createNodeZstdCodec } from "../_wasm/codec.ts";
import { type RoutingRun, runFromParts, type RunParts } from "./run.ts";
import { decodeRun } from "./run_format.ts";
import { decodeLexicon, Lexicon } from "./lexicon.ts";

/** An encoded run, its distinct fingerprints and its key lexicon. */
export interface BuiltRun {
  /** The run file. */
  bytes: Uint8Array;
  /** Distinct fingerprints in it. */
  entryCount: number;
  /** The lexicon file (`lexicon.ts`), when the build made one. */
  lexicon: Uint8Array | undefined;
}

/** Builds and compacts runs somewhere off the caller's hands. */
export interface RunBuilder {
  /**
   * The L0 run over `keys[i]` = keys of segment `firstSegment + i` (decoded
   * keys, or the segment file, decoded where the build runs).
   */
  buildL0(
    seed: bigint,
    firstSegment: number,
    keys: SegmentKeySource[],
  ): Promise<BuiltRun>;
  /**
   * The next-level run merging encoded, contiguous runs of one level, with
   * the merge of their lexicons when `lexicons` (one per run) is given.
   */
  compact(runs: Uint8Array[], lexicons?: Uint8Array[]): Promise<BuiltRun>;
  /** The checked, decoded run file (`corrupt` if it is not one). */
  decode(bytes: Uint8Array): Promise<RoutingRun>;
  /** The checked, decoded lexicon file (`corrupt` if it is not one). */
  decodeLexicon(bytes: Uint8Array): Promise<Lexicon>;
  /** Releases the Worker, if any; later calls fail. */
  close(): void;
}

/**
 * Runs builds on the calling thread (tests and tools); segment files are
 * decoded with `codec` (default: zstd, made on first use).
 */
export function inThreadRunBuilder(codec?: Codec | null): RunBuilder {
  let made = codec;
  return {
    buildL0: (seed, first, keys) =>
      buildL0Bytes(seed, first, keys, made ??= createNodeZstdCodec()),
    compact: (runs, lexicons) =>
      Promise.resolve().then(() => compactBytes(runs, lexicons)),
    decode: (bytes) => Promise.resolve().then(() => decodeRun(bytes)),
    decodeLexicon: (bytes) =>
      Promise.resolve().then(() => decodeLexicon(bytes)),
    close() {},
  };
}

/** A request without its id (the builder assigns it). */
type BuildRequestBody = BuildRequest extends infer R
  ? R extends { id: number } ? Omit<R, "id"> : never
  : never;

type Reply =
  | BuiltRun
  | { parts: RunParts }
  | { keys: Uint8Array; offsets: Uint32Array };
type Pending = { resolve: (r: Reply) => void; reject: (e: Error) => void };

/**
 * Runs builds on a dedicated Worker, one at a time in request order; past
 * `pendingMax` waiting requests, calls fail with `overloaded`.
 */
export function workerRunBuilder(
  pendingMax: number = ROUTING_BUILD_PENDING_MAX,
): RunBuilder {
  const worker = new Worker(new URL("./_build_worker.ts", import.meta.url), {
    type: "module",
  });
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let failed: StreamError | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => markReady = resolve);
  const fail = (error: StreamError) => {
    failed ??= error;
    markReady();
    for (const p of pending.values()) p.reject(error);
    pending.clear();
  };
  worker.onmessage = (event: MessageEvent<BuildReply>) => {
    const reply = event.data;
    if ("ready" in reply) return markReady();
    const p = pending.get(reply.id);
    if (p === undefined) return;
    pending.delete(reply.id);
    if (!reply.ok) {
      p.reject(new StreamError(reply.kind as ErrorKind, reply.message));
    } else if ("parts" in reply) p.resolve({ parts: reply.parts });
    else if ("keys" in reply) {
      p.resolve({ keys: reply.keys, offsets: reply.offsets });
    } else {
      p.resolve({
        bytes: reply.bytes,
        entryCount: reply.entryCount,
        lexicon: reply.lexicon,
      });
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    fail(
      new StreamError(
        "unavailable",
        `Index build worker crashed: ${event.message}`,
      ),
    );
  };
  const send = async (
    request: BuildRequestBody,
    transfer: ArrayBuffer[],
  ): Promise<Reply> => {
    await ready;
    if (failed !== undefined) throw failed;
    if (pending.size >= pendingMax) {
      throw new StreamError(
        "overloaded",
        `Index worker has ${pending.size} requests waiting`,
        { overload: "index_queue" },
      );
    }
    const id = nextId++;
    return await new Promise<Reply>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id }, transfer);
    });
  };
  return {
    // Inputs are copied, not transferred: a caller may keep them (a key
    // reader's cache, a store's own buffer), and a transferred buffer would
    // read as empty there afterwards. Results come back transferred.
    async buildL0(seed, firstSegment, keys) {
      return built(await send({ kind: "l0", seed, firstSegment, keys }, []));
    },
    async compact(runs, lexicons) {
      return built(await send({ kind: "compact", runs, lexicons }, []));
    },
    async decode(bytes) {
      const reply = await send({ kind: "decode", bytes }, []);
      assert("parts" in reply, "a decode request gets a decoded run");
      return runFromParts(reply.parts);
    },
    async decodeLexicon(bytes) {
      const reply = await send({ kind: "lexicon", bytes }, []);
      assert("keys" in reply, "a lexicon request gets its keys");
      return new Lexicon(reply.keys, reply.offsets);
    },
    close() {
      fail(new StreamError("unavailable", "Index build worker closed"));
      worker.terminate();
    },
  };
}

function built(reply: Reply): BuiltRun {
  assert("bytes" in reply, "a build request gets a run file");
  return reply;
}

/**
 * Spreads requests over `builders` (say, one Worker each), each to the one
 * with the fewest requests in flight, so up to `builders.length` builds run
 * at once. `close` closes them all.
 */
export function pooledRunBuilder(builders: readonly RunBuilder[]): RunBuilder {
  assert(builders.length >= 1, "a pool holds at least one builder");
  const busy = new Array<number>(builders.length).fill(0);
  const on = async <T>(work: (b: RunBuilder) => Promise<T>): Promise<T> => {
    let pick = 0;
    for (let i = 1; i < busy.length; i++) if (busy[i] < busy[pick]) pick = i;
    busy[pick]++;
    try {
      return await work(builders[pick]);
    } finally {
      busy[pick]--;
    }
  };
  return {
    buildL0: (seed, first, keys) => on((b) => b.buildL0(seed, first, keys)),
    compact: (runs, lexicons) => on((b) => b.compact(runs, lexicons)),
    decode: (bytes) => on((b) => b.decode(bytes)),
    decodeLexicon: (bytes) => on((b) => b.decodeLexicon(bytes)),
    close() {
      for (const b of builders) b.close();
    },
  };
}
