import assert from "node:assert/strict";
import {
  appendRecord,
  streamRow,
  walStoreCompactionContract,
  walStoreContract,
  walStoreKeysContract,
  walStoreReleaseContract,
  walStoreSegmentContract,
} from "./_contract.ts";
import { SCHEMA_VERSION } from "./_sqlite_schema.ts";
import { openSqliteStore } from "./sqlite_store.ts";
import { isDiskFull } from "./wal_store.ts";
import { WAL_LOAD_PAGE_ROWS } from "../limits.ts";
import { DatabaseSync } from "node:sqlite";

const openSqlite = (dir: string) =>
  openSqliteStore(`${dir}/wal.sqlite`, "fsync");
walStoreContract("SqliteStore", openSqlite);
walStoreSegmentContract("SqliteStore", openSqlite);
walStoreCompactionContract("SqliteStore", openSqlite);
walStoreKeysContract("SqliteStore", openSqlite);
walStoreReleaseContract("SqliteStore", openSqlite);

Deno.test("SqliteStore without a release log (no object store) records no deletes; a WAL from before the log gets the table on open", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/wal.sqlite`;
  const store = openSqliteStore(path, "os", { releaseLog: false });
  await store.commit([{ op: "create", stream: streamRow(1, "a") }], 2);
  await store.commit([{ op: "delete", streamId: 1 }], 2);
  assert.deepEqual(await store.pendingReleases(0, 10), []);
  await store.close();
  const db = new DatabaseSync(path);
  db.exec("DROP TABLE releases"); // as a WAL written before the log
  db.close();
  const again = openSqliteStore(path, "os");
  await again.commit([{ op: "create", stream: streamRow(2, "a") }], 3);
  await again.commit([{ op: "delete", streamId: 2 }], 3);
  assert.deepEqual(await again.pendingReleases(0, 10), [2]);
  await again.close();
  await Deno.remove(dir, { recursive: true });
});

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

Deno.test("SqliteStore migrates a version 2 WAL (written by the previous release) in place", async () => {
  // test/fixtures/wal_v2.sqlite: a data dir's WAL written by the code before
  // append times existed: "legacy/bytes" ("hello world", two appends),
  // "legacy/json" (two messages), and "legacy/fork" (a fork of legacy/bytes
  // with "!" appended).
  const dir = await Deno.makeTempDir();
  const path = `${dir}/wal.sqlite`;
  await Deno.copyFile(
    new URL("../../test/fixtures/wal_v2.sqlite", import.meta.url),
    path,
  );
  const before = new DatabaseSync(path);
  const version = before.prepare(
    "SELECT value FROM meta WHERE key='schema_version'",
  ).get() as { value: string };
  assert.equal(version.value, "2");
  before.close();
  let store = openSqliteStore(path, "os");
  try {
    const snapshot = await store.load();
    const byName = new Map(snapshot.streams.map((s) => [s.name, s]));
    assert.deepEqual([...byName.keys()].sort(), [
      "legacy/bytes",
      "legacy/fork",
      "legacy/json",
    ]);
    for (const s of snapshot.streams) assert.equal(s.lastTimeMs, 0);
    const bytes = byName.get("legacy/bytes")!;
    const chunks = await store.readChunks(bytes.id, 0, bytes.tailPos, 1 << 20);
    assert.equal(
      chunks.map((c) => new TextDecoder().decode(c.data)).join(""),
      "hello world",
    );
    for (const c of chunks) {
      assert.equal(c.keys, null);
      assert.equal(c.times, null); // read as time 0
    }
    assert.equal(await store.seekTime(bytes.id, 0, bytes.tailPos, 0), 0);
    assert.equal(
      await store.seekTime(bytes.id, 0, bytes.tailPos, 1),
      undefined,
    );
    // New appends after the migration carry keys and times.
    await store.commit([
      {
        op: "append",
        streamId: bytes.id,
        chunk: {
          startPos: bytes.tailPos,
          endPos: bytes.tailPos + 1,
          data: new Uint8Array([33]),
          lengths: null,
          keys: new Uint8Array([1, 0, 0, 0, 107]),
          times: Float64Array.of(5000),
        },
        tail: {
          tailPos: bytes.tailPos + 1,
          closed: false,
          closedBy: null,
          streamSeq: null,
          accessedAtMs: 5000,
          lastTimeMs: 5000,
        },
      },
    ], snapshot.nextStreamId);
    await store.close();
    store = openSqliteStore(path, "os"); // reopening a migrated WAL is a no-op
    const again = await store.load();
    assert.equal(
      again.streams.find((s) => s.id === bytes.id)!.lastTimeMs,
      5000,
    );
    assert.equal(
      await store.seekTime(bytes.id, 0, bytes.tailPos + 1, 1),
      bytes.tailPos,
    );
    const last = await store.readChunks(
      bytes.id,
      bytes.tailPos,
      bytes.tailPos + 1,
      100,
    );
    assert.deepEqual([...last[0].keys!], [1, 0, 0, 0, 107]);
  } finally {
    await store.close();
  }
  const after = new DatabaseSync(path);
  const migrated = after.prepare(
    "SELECT value FROM meta WHERE key='schema_version'",
  ).get() as { value: string };
  after.close();
  assert.equal(migrated.value, SCHEMA_VERSION);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("SqliteStore migrates a version 3 WAL (no profiles) to profiles stored with streams", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/wal.sqlite`;
  try {
    const fresh = openSqliteStore(path, "os");
    await fresh.commit([{ op: "create", stream: streamRow(1, "old") }], 2);
    await fresh.close();
    // Take the file back to version 3: streams without the profile columns.
    const db = new DatabaseSync(path);
    db.exec(`ALTER TABLE streams DROP COLUMN profile_kind;
      ALTER TABLE streams DROP COLUMN profile_json;
      ALTER TABLE segments DROP COLUMN pack_key;
      ALTER TABLE segments DROP COLUMN pack_offset;
      UPDATE meta SET value='3' WHERE key='schema_version';`);
    db.close();
    const store = openSqliteStore(path, "os");
    try {
      let snapshot = await store.load();
      assert.deepEqual(snapshot.streams.map((s) => s.name), ["old"]);
      assert.deepEqual(snapshot.profiles, []);
      await store.commit([
        { op: "profile", streamId: 1, kind: "generic", options: "{}" },
      ], 2);
      snapshot = await store.load();
      assert.deepEqual(snapshot.profiles, [
        { streamId: 1, kind: "generic", options: "{}" },
      ]);
    } finally {
      await store.close();
    }
    const check = new DatabaseSync(path);
    const version = check.prepare(
      "SELECT value FROM meta WHERE key='schema_version'",
    ).get() as { value: string };
    check.close();
    assert.equal(version.value, SCHEMA_VERSION);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore migrates a version 4 WAL (no packed segments): its segments read back unpacked, new ones keep their pack", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/wal.sqlite`;
  try {
    const fresh = openSqliteStore(path, "os");
    await fresh.commit([{ op: "create", stream: streamRow(1, "old") }], 2);
    await fresh.addSegment({
      streamId: 1,
      startPos: 0,
      endPos: 10,
      sizeBytes: 50,
      uploaded: true,
    });
    await fresh.close();
    // Take the file back to version 4: segments without the pack columns.
    const db = new DatabaseSync(path);
    db.exec(`ALTER TABLE segments DROP COLUMN pack_key;
      ALTER TABLE segments DROP COLUMN pack_offset;
      UPDATE meta SET value='4' WHERE key='schema_version';`);
    db.close();
    const store = openSqliteStore(path, "os");
    try {
      let snapshot = await store.load();
      assert.deepEqual(snapshot.segments, [
        { streamId: 1, startPos: 0, endPos: 10, sizeBytes: 50, uploaded: true },
      ]);
      const pack = { key: "packs/0000000000000003.pack", offset: 8 };
      await store.addSegment({
        streamId: 1,
        startPos: 10,
        endPos: 20,
        sizeBytes: 60,
        uploaded: false,
        pack,
      });
      await store.truncate(1, 20);
      snapshot = await store.load();
      assert.deepEqual(snapshot.segments[1], {
        streamId: 1,
        startPos: 10,
        endPos: 20,
        sizeBytes: 60,
        uploaded: true,
        pack,
      });
    } finally {
      await store.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteStore load() reads every stream across its pages, in id order, with gaps", async () => {
  const dir = await Deno.makeTempDir();
  const store = openSqliteStore(`${dir}/wal.sqlite`, "os");
  try {
    // Two full pages and a part, with ids skipping (deleted streams).
    const ids: number[] = [];
    for (let id = 3; ids.length < 2 * WAL_LOAD_PAGE_ROWS + 5; id += 2) {
      ids.push(id);
    }
    await store.commit(
      ids.reverse().map((id) => ({
        op: "create" as const,
        stream: streamRow(id, `s/${id}`),
      })),
      ids[0] + 1,
    );
    ids.reverse();
    const snapshot = await store.load();
    assert.deepEqual(snapshot.streams.map((s) => s.id), ids);
    assert.equal(
      snapshot.streams[WAL_LOAD_PAGE_ROWS].name,
      `s/${ids[WAL_LOAD_PAGE_ROWS]}`,
    );
    assert.equal(snapshot.nextStreamId, ids[ids.length - 1] + 1);
  } finally {
    await store.close();
    await Deno.remove(dir, { recursive: true });
  }
});
