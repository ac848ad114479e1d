/**
 * @module
 * Worker side of `workerRunBuilder`: reads keys out of segment files
 * (decompressing their blocks), hashes them, builds, compacts and decodes
 * runs and key lexicons one request at a time, so none of that runs on the thread serving
 * HTTP. Results go back as transferred buffers.
 */

import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { StreamError } from "../errors.ts";
import { workerScope } from "../worker_scope.ts";
import { runPartsBuffers, runToParts } from "./run.ts";
import { decodeRun } from "./run_format.ts";
import { decodeLexicon } from "./lexicon.ts";
import {
  buildL0Bytes,
  type BuildReply,
  type BuildRequest,
  compactBytes,
} from "./_build.ts";

const scope = workerScope<BuildRequest>();
const codec = createNodeZstdCodec();

scope.onmessage = async (event: MessageEvent<BuildRequest>) => {
  const r = event.data;
  try {
    // Results are fresh: hand their buffers over instead of copying them.
    const post = scope.postMessage as (m: unknown, t: Transferable[]) => void;
    if (r.kind === "lexicon") {
      const { data, offsets } = decodeLexicon(r.bytes);
      const reply: BuildReply = { id: r.id, ok: true, keys: data, offsets };
      post.call(scope, reply, [
        data.buffer as ArrayBuffer,
        offsets.buffer as ArrayBuffer,
      ]);
      return;
    }
    if (r.kind === "decode") {
      const parts = runToParts(decodeRun(r.bytes));
      const reply: BuildReply = { id: r.id, ok: true, parts };
      post.call(scope, reply, runPartsBuffers(parts));
      return;
    }
    const { bytes, entryCount, lexicon } = r.kind === "l0"
      ? await buildL0Bytes(r.seed, r.firstSegment, r.keys, codec)
      : compactBytes(r.runs, r.lexicons);
    const reply: BuildReply = {
      id: r.id,
      ok: true,
      bytes,
      entryCount,
      lexicon,
    };
    const transfer = [bytes.buffer as ArrayBuffer];
    if (lexicon !== undefined) transfer.push(lexicon.buffer as ArrayBuffer);
    post.call(scope, reply, transfer);
  } catch (error) {
    scope.postMessage(
      {
        id: r.id,
        ok: false,
        kind: error instanceof StreamError ? error.kind : "internal",
        message: error instanceof Error ? error.message : String(error),
      } satisfies BuildReply,
    );
  }
};

scope.postMessage({ ready: true } satisfies BuildReply);
