import assert from "node:assert/strict";
import {
  walStoreCompactionContract,
  walStoreContract,
  walStoreKeysContract,
  walStoreReleaseContract,
  walStoreSegmentContract,
} from "./_contract.ts";
import { openThreadedSqliteStore } from "./threaded_sqlite_store.ts";

const openThreaded = (dir: string) =>
  openThreadedSqliteStore(`${dir}/wal.sqlite`, "fsync");
walStoreContract("ThreadedSqliteStore", openThreaded);
walStoreSegmentContract("ThreadedSqliteStore", openThreaded);
walStoreCompactionContract("ThreadedSqliteStore", openThreaded);
walStoreKeysContract("ThreadedSqliteStore", openThreaded);
walStoreReleaseContract("ThreadedSqliteStore", openThreaded);

Deno.test("ThreadedSqliteStore opens a version 2 WAL: its reader and writer each open it, one migrates", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/wal.sqlite`;
  await Deno.copyFile(
    new URL("../../test/fixtures/wal_v2.sqlite", import.meta.url),
    path,
  );
  const store = await openThreaded(dir);
  try {
    const snapshot = await store.load();
    assert.equal(snapshot.streams.length, 3);
    const row = snapshot.streams.find((s) => s.name === "legacy/bytes")!;
    // The writer (on its own connection) commits into the migrated tables.
    await store.commit([{
      op: "append",
      streamId: row.id,
      chunk: {
        startPos: row.tailPos,
        endPos: row.tailPos + 1,
        data: new Uint8Array([46]),
        lengths: null,
        keys: null,
        times: Float64Array.of(77),
      },
      tail: {
        tailPos: row.tailPos + 1,
        closed: false,
        closedBy: null,
        streamSeq: null,
        accessedAtMs: 1,
        lastTimeMs: 77,
      },
    }], snapshot.nextStreamId);
    assert.equal(
      await store.seekTime(row.id, 0, row.tailPos + 1, 50),
      row.tailPos,
    );
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
