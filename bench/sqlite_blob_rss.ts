/**
 * @module
 * What one large blob costs node:sqlite, alone: peak resident memory of this
 * process while one `--mib` MiB row is inserted into a WAL-mode database with
 * the cache size the server uses (`--cache-kib`, default 65536 as in
 * `PRAGMA cache_size=-65536`). It bounds how little memory a single large
 * append can take through the SQLite WAL.
 *
 *   deno run -A bench/sqlite_blob_rss.ts [--mib 200] [--cache-kib 65536]
 */

import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    mib: { type: "string", default: "200" },
    "cache-kib": { type: "string", default: "65536" },
  },
});
const mib = Number(values.mib);

/** A field of `/proc/self/status` in MiB. */
function memMiB(field: "VmRSS" | "VmHWM"): number {
  const line = Deno.readTextFileSync("/proc/self/status").split("\n")
    .find((l) => l.startsWith(field + ":"));
  return Math.round(Number(line!.split(/\s+/)[1]) / 1024);
}

const dir = await Deno.makeTempDir({ prefix: "sqlite-blob-" });
try {
  const db = new DatabaseSync(`${dir}/wal.sqlite`);
  db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
    PRAGMA cache_size=-${Number(values["cache-kib"])};`);
  db.exec("CREATE TABLE c (id INTEGER PRIMARY KEY, data BLOB)");
  const data = new Uint8Array(mib * 1024 * 1024);
  data.fill(7); // touch every page, as a received body would be
  const before = memMiB("VmRSS");
  const insert = db.prepare("INSERT INTO c (data) VALUES (?)");
  db.exec("BEGIN");
  insert.run(data);
  db.exec("COMMIT");
  const peak = memMiB("VmHWM");
  console.log(
    `${mib} MiB blob: RSS ${before} MiB with the blob in memory, peak ${peak} MiB: ` +
      `${((peak - before) / mib).toFixed(2)}x the blob on top of it`,
  );
  db.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}
