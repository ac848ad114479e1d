import assert from "node:assert/strict";
import {
  appendRecord,
  streamRow,
  walStoreCompactionContract,
  walStoreContract,
  walStoreSegmentContract,
} from "./_contract.ts";
import { openSqliteStore } from "./sqlite_store.ts";
import { isDiskFull } from "./wal_store.ts";
import { DatabaseSync } from "node:sqlite";

const openSqlite = (dir: string) =>
  openSqliteStore(`${dir}/wal.sqlite`, "fsync");
walStoreContract("SqliteStore", openSqlite);
walStoreSegmentContract("SqliteStore", openSqlite);
walStoreCompactionContract("SqliteStore", openSqlite);

Deno.test("SqliteStore refuses a database with another schema version", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/wal.sqlite`;
  openSqliteStore(path, "os").close();
  const db = new DatabaseSync(path);
  db.exec("UPDATE meta SET value='999' WHERE key='schema_version'");
  db.close();
  assert.throws(() => openSqliteStore(path, "os"), /schema version 999/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("SqliteStore reports a chunk whose length disagrees with its positions as corrupt", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/wal.sqlite`;
  const store = openSqliteStore(path, "os");
  const db = new DatabaseSync(path);
  db.exec(
    "INSERT INTO chunks (stream_id, start_pos, end_pos, data) VALUES (1, 0, 10, x'0102')",
  );
  db.close();
  await assert.rejects(
    store.readChunks(1, 0, 10, 100),
    (e: Error) => (e as { kind?: string }).kind === "corrupt",
  );
  await store.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("SqliteStore with durability os runs synchronous=NORMAL, never OFF", async () => {
  const dir = await Deno.makeTempDir();
  const os = openSqliteStore(`${dir}/os.sqlite`, "os");
  const fsync = openSqliteStore(`${dir}/fsync.sqlite`, "fsync");
  try {
    assert.equal(os.synchronousLevel(), 1); // NORMAL
    assert.equal(fsync.synchronousLevel(), 2); // FULL
  } finally {
    await os.close();
    await fsync.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore on a full disk rejects the commit as disk-full, keeps none of it, and takes the next one once space returns", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/wal.sqlite`;
  openSqliteStore(path, "fsync").close();
  const probe = openSqliteStore(path, "fsync");
  const emptyPages = probe.pageCount();
  await probe.close();
  // Room for about 40 KiB of chunks beyond the schema.
  const store = openSqliteStore(path, "fsync", { pagesMax: emptyPages + 12 });
  const blob = new Uint8Array(8 * 1024).fill(7);
  try {
    await store.commit([
      { op: "create", stream: streamRow(1, "filler") },
      { op: "create", stream: streamRow(2, "kept") },
    ], 3);
    let fillerPos = 0;
    let failure: unknown;
    for (let i = 0; i < 100 && failure === undefined; i++) {
      try {
        await store.commit([appendRecord(1, fillerPos, blob)], 3);
        fillerPos += blob.length;
      } catch (error) {
        failure = error;
      }
    }
    assert.ok(isDiskFull(failure), String(failure));
    assert.ok(fillerPos > 0);
    // The failed commit left nothing: tail and chunks are as before it.
    const failed = [appendRecord(2, 0, blob)];
    await assert.rejects(store.commit(failed, 3), (e) => isDiskFull(e));
    let snapshot = await store.load();
    assert.equal(snapshot.streams.find((r) => r.id === 2)!.tailPos, 0);
    assert.deepEqual(await store.readChunks(2, 0, 1 << 20, 1 << 20), []);
    // Space returns (the filler goes); the same connection commits again.
    await store.commit([{ op: "delete", streamId: 1 }], 3);
    await store.commit(failed, 3);
    snapshot = await store.load();
    assert.equal(snapshot.streams.find((r) => r.id === 2)!.tailPos, 8192);
    const chunks = await store.readChunks(2, 0, 8192, 1 << 20);
    assert.deepEqual(chunks.map((c) => c.data.length), [8192]);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
