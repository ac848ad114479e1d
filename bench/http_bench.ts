/**
 * @module
 * The HTTP handler in process, without sockets: routing, header parsing,
 * body reading and response building around an engine on the in-memory WAL.
 *
 * - `deno bench -A bench/http_bench.ts`: wall time per request.
 * - `deno run -A bench/http_bench.ts --cpu`: process CPU per request, the
 *   best of 5 rounds of 10,000 with 16 requests in flight. On a shared
 *   machine CPU time is steadier than wall time; compare two commits by
 *   running the same file in both trees, alternately.
 * - `--observe` wraps the handler as the server does (request id, route
 *   meters, the default sampled access log, its lines discarded), to price
 *   the observer on the request path.
 */

import process from "node:process";
import { defaultConfig } from "../src/config.ts";
import { Engine } from "../src/engine/engine.ts";
import { createHandler } from "../src/http/handler.ts";
import { observeRequests, routeMeters } from "../src/http/observe.ts";
import { createLogger } from "../src/log.ts";
import { MemoryStore, MemoryWal } from "../src/storage/memory_store.ts";

const config = defaultConfig();
const log = createLogger("error");
const engine = await Engine.open(new MemoryStore(new MemoryWal()), {
  limits: config.limits,
  log,
  onFatal: () => {},
});
const handler = createHandler({
  engine,
  http: config.http,
  limits: config.limits,
  log,
});
const handle = Deno.args.includes("--observe")
  ? observeRequests(handler, {
    meters: routeMeters(),
    log: config.log,
    write: () => {},
  })
  : handler;
const base = "http://127.0.0.1:4437/v1/stream/bench-0a1b2c3d-";
const json = { "content-type": "application/json" };
for (let i = 0; i < 64; i++) {
  const created = await handle(
    new Request(base + i, { method: "PUT", headers: json }),
  );
  await created.body?.cancel();
}
const body = JSON.stringify({ n: 0, pad: "x".repeat(84) }); // 100 bytes

const REQUESTS: Record<string, (i: number) => Request> = {
  "HEAD /v1/stream/{name}": (i) =>
    new Request(base + (i % 64), { method: "HEAD" }),
  "POST /v1/stream/{name}, 100 B JSON": (i) =>
    new Request(base + (i % 64), { method: "POST", headers: json, body }),
  "GET /nope (404)": () => new Request("http://127.0.0.1:4437/nope"),
};

async function call(request: Request): Promise<void> {
  const response = await handle(request);
  await response.body?.cancel();
}

let next = 0;
for (const [name, make] of Object.entries(REQUESTS)) {
  Deno.bench(name, { group: "http" }, async () => await call(make(next++)));
}

/** CPU µs per request over `n` requests, 16 in flight. */
async function cpuPerRequestUs(make: (i: number) => Request, n: number) {
  const start = process.cpuUsage();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    inFlight.push(call(make(i)));
    if (inFlight.length === 16) await Promise.all(inFlight.splice(0));
  }
  await Promise.all(inFlight);
  const used = process.cpuUsage(start);
  return (used.user + used.system) / n;
}

if (Deno.args.includes("--cpu")) {
  for (const make of Object.values(REQUESTS)) await cpuPerRequestUs(make, 5000);
  for (const [name, make] of Object.entries(REQUESTS)) {
    const rounds: number[] = [];
    for (let r = 0; r < 5; r++) {
      rounds.push(await cpuPerRequestUs(make, 10_000));
    }
    console.log(
      `${name}: ${Math.min(...rounds).toFixed(1)} µs CPU per request`,
    );
  }
  await engine.close();
}
