/**
 * @module
 * Worker side of `workerSealer`: reads WAL chunks through its own SQLite
 * or PostgreSQL connection, encodes and writes one segment file per request, one request
 * at a time, so compression never runs on the thread serving HTTP.
 */

import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { StreamError } from "../errors.ts";
import { SqliteStore } from "../storage/sqlite_store.ts";
import type { WalStore } from "../storage/wal_store.ts";
import {
  type SealReply,
  type SealRequest,
  sealToFile,
  type WalSource,
} from "./_seal.ts";
import { workerScope } from "../worker_scope.ts";

const codec = createNodeZstdCodec();
let store: { key: string; db: WalStore } | undefined;

async function open(source: WalSource): Promise<WalStore> {
  const key = typeof source === "string" ? source : JSON.stringify(source);
  if (store?.key !== key) {
    store?.db.close().catch(() => {});
    // Reads only: durability does not matter for this connection.
    let db: WalStore;
    if (typeof source === "string") db = new SqliteStore(source, "os");
    else {
      // Loaded only here, so SQLite servers never fetch the driver.
      const { PgStore } = await import("../storage/pg_store.ts");
      db = new PgStore({ ...source.postgres, poolSize: 1 });
    }
    store = { key, db };
  }
  return store.db;
}

const scope = workerScope<SealRequest>();

scope.onmessage = async (event: MessageEvent<SealRequest>) => {
  const r = event.data;
  try {
    const db = await open(r.walPath);
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
