/**
 * @module
 * Where an append's server CPU goes, piece by piece, in process: the whole
 * handler on the in-memory WAL, the engine alone, JSON framing, header
 * parsing, the response, and a SQLite commit (`os`) of 16 merged appends.
 * Process CPU per operation, best of 5 rounds. See bench/README.md, "Hot
 * path".
 *
 * ```sh
 * deno run -A bench/append_pieces.ts
 * ```
 */

import process from "node:process";
import { defaultConfig } from "../src/config.ts";
import { Engine } from "../src/engine/engine.ts";
import { createHandler } from "../src/http/handler.ts";
import { createLogger } from "../src/log.ts";
import { MemoryStore, MemoryWal } from "../src/storage/memory_store.ts";
import { frameJsonMessages } from "../src/protocol/json.ts";
import { parseAppendHeaders } from "../src/http/request_headers.ts";
import { respond } from "../src/http/respond.ts";
import { openSqliteStore } from "../src/storage/sqlite_store.ts";
import { appendRecord, streamRow } from "../src/storage/_contract.ts";

const config = defaultConfig();
const log = createLogger("error");
const engine = await Engine.open(new MemoryStore(new MemoryWal()), {
  limits: config.limits,
  log,
  onFatal: () => {},
});
const handle = createHandler({
  engine,
  http: config.http,
  limits: config.limits,
  log,
});
const url = "http://127.0.0.1:4437/v1/stream/bench-x";
const json = { "content-type": "application/json" };
await handle(new Request(url, { method: "PUT", headers: json }));
const body = JSON.stringify({ w: 1, n: 0, pad: "x".repeat(78) });
const bytes = new TextEncoder().encode(body);
const mk = () => new Request(url, { method: "POST", headers: json, body });
const reqH = mk().headers;

async function cpu(
  n: number,
  f: (i: number) => unknown | Promise<unknown>,
  inflight = 16,
): Promise<number> {
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const s = process.cpuUsage();
    const pending: unknown[] = [];
    for (let i = 0; i < n; i++) {
      pending.push(f(i));
      if (pending.length === inflight) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    const u = process.cpuUsage(s);
    best = Math.min(best, (u.user + u.system) / n);
  }
  return best;
}
const out: Record<string, number> = {};
out["new Request (bench side)"] = await cpu(20000, () => mk());
out["floor-like handler: bytes() + 204"] = await cpu(20000, async () => {
  const r = mk();
  await r.bytes();
  return new Response(null, {
    status: 204,
    headers: { "stream-next-offset": "1" },
  });
});
out["full handler, memory WAL"] = await cpu(20000, async () => {
  const r = await handle(mk());
  return r;
});
out["engine.append alone, memory WAL"] = await cpu(
  20000,
  () =>
    engine.append("bench-x", {
      contentType: "application/json",
      body: bytes,
      close: false,
      streamSeq: undefined,
      producer: undefined,
      routingKey: undefined,
      timestampMs: undefined,
    }),
);
out["frameJsonMessages 100 B"] = await cpu(
  50000,
  () => frameJsonMessages(bytes, false),
  1,
);
out["parseAppendHeaders"] = await cpu(
  50000,
  () => parseAppendHeaders(reqH, bytes, config.limits.routingKeyBytesMax),
  1,
);
out["respond 204"] = await cpu(
  50000,
  () =>
    respond(null, 204, {
      "stream-next-offset": "0000000000000000_0000000000000001",
    }),
  1,
);
const dir = Deno.makeTempDirSync({ prefix: "streambed-bench-" });
const store = openSqliteStore(`${dir}/wal.sqlite`, "os");
await store.commit([{ op: "create", stream: streamRow(1, "b") }], 2);
let pos = 0;
const rec = new Uint8Array(1616).fill(7); // one merged chunk of 16 x 101 B
out["SQLite commit (os): 16 appends merged to 1 chunk, per append"] =
  (await cpu(3000, async () => {
    await store.commit([appendRecord(1, pos, rec)], 2);
    pos += rec.length;
  }, 1)) / 16;
for (const [k, v] of Object.entries(out)) {
  console.log(`${v.toFixed(2).padStart(7)} µs  ${k}`);
}
await engine.close();
await store.close();
Deno.removeSync(dir, { recursive: true });
