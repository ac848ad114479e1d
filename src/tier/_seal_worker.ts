/**
 * @module
 * Worker side of `workerSealer`: reads WAL chunks through its own SQLite
 * connection, encodes and writes one segment file per request, one request
 * at a time, so compression never runs on the thread serving HTTP.
 */

import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { StreamError } from "../errors.ts";
import { SqliteStore } from "../storage/sqlite_store.ts";
import { type SealReply, type SealRequest, sealToFile } from "./_seal.ts";
import { workerScope } from "../worker_scope.ts";

const codec = createNodeZstdCodec();
let store: { path: string; db: SqliteStore } | undefined;

function open(path: string): SqliteStore {
  if (store?.path !== path) {
    store?.db.close();
    // Reads only: durability does not matter for this connection.
    store = { path, db: new SqliteStore(path, "os") };
  }
  return store.db;
}

const scope = workerScope<SealRequest>();

scope.onmessage = async (event: MessageEvent<SealRequest>) => {
  const r = event.data;
  try {
    const db = open(r.walPath);
    const sealed = await sealToFile(
      (id, from, end, max) => db.readChunks(id, from, end, max),
      codec,
      r.segmentDir,
      r.segmentBytes,
      r.streamId,
      r.fromPos,
      r.limitPos,
    );
    scope.postMessage({ id: r.id, ok: true, sealed } satisfies SealReply);
  } catch (error) {
    scope.postMessage(
      {
        id: r.id,
        ok: false,
        kind: error instanceof StreamError ? error.kind : "unavailable",
        message: error instanceof Error ? error.message : String(error),
      } satisfies SealReply,
    );
  }
};

scope.postMessage({ ready: true } satisfies SealReply);
