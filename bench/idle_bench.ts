/**
 * @module
 * Server CPU while idle over many streams, and per `/v1/server/_details`
 * request, for one or more checkouts in one run. One data dir of N streams
 * (each with one 100-byte JSON message, optionally a sliding TTL) is
 * written once in process through the engine on the SQLite WAL; each
 * checkout then starts on its own copy of it.
 *
 *   deno run -A bench/idle_bench.ts [--n 100000] [--ttl 3600]
 *     [--settle-ms 20000] [--idle-ms 30000] [--details 20] [--rounds 2]
 *     [--subscriptions K] [--pattern GLOB] [--root NAME=DIR]... [--arg FLAG]...
 *
 * `--subscriptions K` adds K pull-wake subscriptions with the glob
 * `--pattern` (default `*\/none`: no literal prefix, matches nothing)
 * through the first root's server before the checkouts are measured, so
 * each start-up reconciles them with the N streams.
 *
 * Per checkout and round: CPU from spawn to the end of `--settle-ms` after
 * `listening` (start-up and the first passes), CPU over `--idle-ms` of no
 * requests (`/proc/PID/stat`), then CPU per `_details` request over
 * `--details` requests. Roots alternate within each round.
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { defaultConfig } from "../src/config.ts";
import { Engine } from "../src/engine/engine.ts";
import { createLogger } from "../src/log.ts";
import { openSqliteStore } from "../src/storage/sqlite_store.ts";
import { startServer, streambedCommand } from "./_load_process.ts";
import { serverCpuUs } from "./_load_server_cpu.ts";

const here = new URL("..", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "100000" },
    ttl: { type: "string", default: "0" },
    "settle-ms": { type: "string", default: "20000" },
    "idle-ms": { type: "string", default: "30000" },
    details: { type: "string", default: "20" },
    rounds: { type: "string", default: "2" },
    subscriptions: { type: "string", default: "0" },
    pattern: { type: "string", default: "*/none" },
    root: { type: "string", multiple: true },
    arg: { type: "string", multiple: true },
  },
});
const n = Number(values.n);
const ttlSeconds = Number(values.ttl) > 0 ? Number(values.ttl) : undefined;
const settleMs = Number(values["settle-ms"]);
const idleMs = Number(values["idle-ms"]);
const detailsN = Number(values.details);
const rounds = Number(values.rounds);
const extra = values.arg ?? [];
const subscriptions = Number(values.subscriptions);
const roots = (values.root ?? [`new=${here}`]).map((spec) => {
  const eq = spec.indexOf("=");
  return { name: spec.slice(0, eq), dir: spec.slice(eq + 1) };
});

/** Writes N streams into `dataDir`'s WAL. */
async function seed(dataDir: string): Promise<void> {
  const store = openSqliteStore(join(dataDir, "wal.sqlite"), "os");
  const engine = await Engine.open(store, {
    limits: defaultConfig().limits,
    log: createLogger("error"),
    onFatal: (e) => {
      throw e;
    },
  });
  const enc = new TextEncoder();
  for (let i = 0; i < n; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const head = `[{"stream":${j},"pad":"`;
      const body = enc.encode(head + "x".repeat(96 - head.length) + `"}]`);
      batch.push(engine.create(`s/${j}`, {
        contentType: "application/json",
        ttlSeconds,
        expiresAtMs: undefined,
        closed: false,
        body,
        fork: undefined,
        routingKey: undefined,
        timestampMs: undefined,
      }));
    }
    for (const r of await Promise.all(batch)) {
      if (!r.ok) throw new Error(r.error.message);
    }
  }
  await engine.close();
  await store.close();
}

/** Adds the subscriptions through a server on `dataDir`. */
async function subscribe(root: string, dataDir: string): Promise<void> {
  const server = await startServer(
    streambedCommand(root, dataDir, extra, 300_000),
  );
  try {
    const base = `${server.url}/v1/stream`;
    const put = async (url: string, body: unknown, status: number) => {
      const r = await fetch(url, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      await r.body?.cancel();
      if (r.status !== status) throw new Error(`PUT ${url}: ${r.status}`);
    };
    await put(`${base}/wake/pool`, [], 201);
    for (let i = 0; i < subscriptions; i++) {
      await put(`${base}/__ds/subscriptions/sub-${i}`, {
        type: "pull-wake",
        pattern: values.pattern,
        wake_stream: "wake/pool",
      }, 201);
    }
  } finally {
    await server.stop();
  }
}

async function measure(root: string, seeded: string) {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-idle-" });
  try {
    await new Deno.Command("cp", { args: ["-a", `${seeded}/.`, dataDir] })
      .output();
    const spawned = performance.now();
    const server = await startServer(
      streambedCommand(root, dataDir, extra, 300_000),
    );
    const listenMs = Math.round(performance.now() - spawned);
    const listenCpuMs = Math.round((serverCpuUs(server.pid) ?? 0) / 1000);
    try {
      await new Promise((r) => setTimeout(r, settleMs));
      const startUs = serverCpuUs(server.pid) ?? 0;
      await new Promise((r) => setTimeout(r, idleMs));
      const idleUs = (serverCpuUs(server.pid) ?? 0) - startUs;
      const before = serverCpuUs(server.pid) ?? 0;
      for (let i = 0; i < detailsN; i++) {
        const r = await fetch(`${server.url}/v1/server/_details`);
        if (r.status !== 200) throw new Error(`_details: ${r.status}`);
        await r.json();
      }
      const detailsUs = (serverCpuUs(server.pid) ?? 0) - before;
      return {
        listenMs,
        listenCpuMs,
        startupCpuMs: Math.round(startUs / 1000),
        idleCpuPct: Math.round(idleUs / (idleMs * 10) * 100) / 100,
        detailsCpuMsEach: Math.round(detailsUs / detailsN / 100) / 10,
      };
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

const seeded = await Deno.makeTempDir({ prefix: "streambed-idle-seed-" });
try {
  const started = performance.now();
  await seed(seeded);
  if (subscriptions > 0) await subscribe(roots[0].dir, seeded);
  console.log(JSON.stringify({
    seeded: n,
    ttlSeconds: ttlSeconds ?? null,
    subscriptions,
    seedMs: Math.round(performance.now() - started),
  }));
  for (let round = 1; round <= rounds; round++) {
    for (const { name, dir } of roots) {
      console.log(
        JSON.stringify({ round, root: name, ...await measure(dir, seeded) }),
      );
    }
  }
} finally {
  await Deno.remove(seeded, { recursive: true });
}
