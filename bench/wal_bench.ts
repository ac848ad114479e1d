/**
 * @module
 * WAL benchmarks: group-commit throughput of the SQLite store by batch size
 * (rows per transaction, fsync durability), and the offset codec.
 * Run: deno bench -A bench/wal_bench.ts
 */

import { decodeOffset, encodeOffset } from "../src/protocol/offset.ts";
import { openSqliteStore } from "../src/storage/sqlite_store.ts";
import { appendRecord, streamRow } from "../src/storage/_contract.ts";
import type { WalOp } from "../src/storage/wal_store.ts";

const dir = Deno.makeTempDirSync({ prefix: "streambed-bench-" });
const store = openSqliteStore(`${dir}/wal.sqlite`, "fsync");
await store.commit([{ op: "create", stream: streamRow(1, "bench") }], 2);
let pos = 0;
const record = new Uint8Array(100).fill(7);

/** One transaction holding `rows` separate 100-byte chunks (no merging). */
async function commitRows(rows: number): Promise<void> {
  const ops: WalOp[] = [];
  for (let i = 0; i < rows; i++) {
    ops.push(appendRecord(1, pos, record));
    pos += 100;
  }
  await store.commit(ops, 2);
}

for (const rows of [1, 16, 64, 256]) {
  Deno.bench({
    name: `wal commit, ${rows} rows of 100 B per transaction (fsync)`,
    group: "wal",
    baseline: rows === 1,
    n: rows === 1 ? 500 : 200,
    async fn() {
      await commitRows(rows);
    },
  });
}

const offsets = Array.from({ length: 1000 }, (_, i) => encodeOffset(i * 137));
Deno.bench({
  name: "encodeOffset x1000",
  group: "offset",
  fn() {
    for (let i = 0; i < 1000; i++) encodeOffset(i * 137);
  },
});
Deno.bench({
  name: "decodeOffset x1000",
  group: "offset",
  fn() {
    for (const o of offsets) decodeOffset(o);
  },
});

globalThis.addEventListener("unload", () => {
  store.close();
  Deno.removeSync(dir, { recursive: true });
});
