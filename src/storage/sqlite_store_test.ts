import assert from "node:assert/strict";
import {
  walStoreCompactionContract,
  walStoreContract,
  walStoreSegmentContract,
} from "./_contract.ts";
import { openSqliteStore } from "./sqlite_store.ts";
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
