/**
 * @module
 * Worker side of `ThreadedSqliteStore`: owns the write connection, so a
 * commit's fsync blocks this thread, not the one serving HTTP. Handles one
 * message at a time, in order.
 */

import type { Durability } from "../config.ts";
import { StreamError } from "../errors.ts";
import type { SegmentRow, WalOp } from "./wal_store.ts";
import { SqliteStore } from "./sqlite_store.ts";
import { workerScope } from "../worker_scope.ts";

/** A request from the main thread. */
export type WorkerRequest =
  | {
    id: number;
    type: "open";
    path: string;
    durability: Durability;
    releaseLog: boolean;
  }
  | { id: number; type: "commit"; ops: WalOp[]; nextStreamId: number }
  | {
    id: number;
    type: "compact";
    streamId: number;
    fromPos: number;
    endPos: number;
    targetBytes: number;
    bytesMax: number;
  }
  | { id: number; type: "addSegment"; row: SegmentRow }
  | { id: number; type: "truncate"; streamId: number; belowPos: number }
  | { id: number; type: "released"; streamId: number }
  | { id: number; type: "close" };

/** The worker's answer. */
export type WorkerReply =
  | { id: number; ok: true; value?: number }
  | {
    id: number;
    ok: false;
    kind: string;
    message: string;
    detail?: Record<string, unknown>;
  };

let store: SqliteStore | undefined;

const scope = workerScope<WorkerRequest>();

scope.onmessage = async (event: MessageEvent<WorkerRequest>) => {
  const request = event.data;
  try {
    const value = await handle(request);
    scope.postMessage(
      { id: request.id, ok: true, value } satisfies WorkerReply,
    );
  } catch (error) {
    const kind = error instanceof StreamError ? error.kind : "unavailable";
    const cause = error instanceof Error && error.cause instanceof Error
      ? `: ${error.cause.message}`
      : "";
    const message = `${
      error instanceof Error ? error.message : String(error)
    }${cause}`;
    // detail carries plain values (e.g. diskFull), safe to clone.
    const detail = error instanceof StreamError ? error.detail : undefined;
    scope.postMessage(
      {
        id: request.id,
        ok: false,
        kind,
        message,
        detail,
      } satisfies WorkerReply,
    );
  }
};

async function handle(request: WorkerRequest): Promise<number | undefined> {
  switch (request.type) {
    case "open":
      store = new SqliteStore(request.path, request.durability, {
        releaseLog: request.releaseLog,
      });
      return undefined;
    case "commit":
      await open().commit(request.ops, request.nextStreamId);
      return undefined;
    case "compact":
      return await open().compact(
        request.streamId,
        request.fromPos,
        request.endPos,
        request.targetBytes,
        request.bytesMax,
      );
    case "addSegment":
      await open().addSegment(request.row);
      return undefined;
    case "truncate":
      await open().truncate(request.streamId, request.belowPos);
      return undefined;
    case "released":
      await open().released(request.streamId);
      return undefined;
    case "close":
      await store?.close();
      store = undefined;
      return undefined;
  }
}

function open(): SqliteStore {
  if (store === undefined) {
    throw new StreamError("unavailable", "WAL worker is not open");
  }
  return store;
}
