/**
 * @module
 * Worker side of `workerCompanionBuilder`: builds and encodes companions
 * one request at a time, so parsing and extraction do not run on the
 * thread serving HTTP. Results go back as transferred buffers.
 */

import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { workerScope } from "../worker_scope.ts";
import {
  buildCompanionBytes,
  type CompanionBuildReply,
  type CompanionBuildRequest,
} from "./_companion_build.ts";

const scope = workerScope<CompanionBuildRequest>();

const codec = createNodeZstdCodec();

scope.onmessage = async (event: MessageEvent<CompanionBuildRequest>) => {
  const r = event.data;
  try {
    const bytes = await buildCompanionBytes(r, codec);
    const reply: CompanionBuildReply = { id: r.id, ok: true, bytes };
    const post = scope.postMessage as (m: unknown, t: Transferable[]) => void;
    post.call(scope, reply, [bytes.buffer as ArrayBuffer]);
  } catch (error) {
    scope.postMessage(
      {
        id: r.id,
        ok: false,
        message: error instanceof Error ? error.message : String(error),
      } satisfies CompanionBuildReply,
    );
  }
};

scope.postMessage({ ready: true } satisfies CompanionBuildReply);
