/**
 * @module
 * Restart over many idle streams, for one or more checkouts in one run: one
 * data dir of N streams (each with one 100-byte JSON message) is written
 * once in process through the engine on the SQLite WAL; each checkout then
 * starts on its own copy of it, and on an empty data dir for a baseline.
 *
 *   deno run -A bench/restart_bench.ts [--n 100000] [--settle-ms 10000]
 *     [--rounds 2] [--root NAME=DIR]... [--arg FLAG]...
 *
 * Per checkout and round: spawn to `listening`, spawn to the first read of
 * a random stream served, server CPU to `listening`, then RSS and JS heap
 * (`/v1/server/_details`) right after that read and again `--settle-ms`
 * later (after the first tiering passes), as bytes per stream above the
 * empty data dir's figures.
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
    "settle-ms": { type: "string", default: "10000" },
    rounds: { type: "string", default: "2" },
    root: { type: "string", multiple: true },
    arg: { type: "string", multiple: true },
  },
});
const n = Number(values.n);
const settleMs = Number(values["settle-ms"]);
const rounds = Number(values.rounds);
const extra = values.arg ?? [];
const roots = (values.root ?? [`new=${here}`]).map((spec) => {
  const eq = spec.indexOf("=");
  return { name: spec.slice(0, eq), dir: spec.slice(eq + 1) };
});

/** Writes `count` streams into `dataDir`'s WAL. */
async function seed(dataDir: string, count: number): Promise<void> {
  const store = openSqliteStore(join(dataDir, "wal.sqlite"), "os");
  const engine = await Engine.open(store, {
    limits: defaultConfig().limits,
    log: createLogger("error"),
    onFatal: (e) => {
      throw e;
    },
  });
  const enc = new TextEncoder();
  for (let i = 0; i < count; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + 1000); j++) {
      const head = `[{"stream":${j},"pad":"`;
      const body = enc.encode(head + "x".repeat(96 - head.length) + `"}]`);
      batch.push(engine.create(`s/${j}`, {
        contentType: "application/json",
        ttlSeconds: undefined,
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

function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return kb === null ? 0 : Number(kb[1]) * 1024;
}

async function heapUsed(url: string): Promise<number> {
  const r = await fetch(`${url}/v1/server/_details`);
  if (r.status !== 200) throw new Error(`_details: ${r.status}`);
  const body = await r.json();
  return body.memory.process.heapUsed as number;
}

interface Figures {
  listenMs: number;
  firstReadMs: number;
  listenCpuMs: number;
  rss: number;
  heap: number;
  rssSettled: number;
  heapSettled: number;
}

async function measure(root: string, seeded: string, count: number) {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-restart-" });
  try {
    await new Deno.Command("cp", { args: ["-a", `${seeded}/.`, dataDir] })
      .output();
    const spawned = performance.now();
    const server = await startServer(
      streambedCommand(root, dataDir, extra, 600_000),
    );
    const listenMs = Math.round(performance.now() - spawned);
    const listenCpuMs = Math.round((serverCpuUs(server.pid) ?? 0) / 1000);
    try {
      const pick = count === 0 ? 0 : Math.floor(Math.random() * count);
      const r = await fetch(`${server.url}/v1/stream/s/${pick}?offset=-1`);
      await r.body?.cancel();
      if (r.status !== (count === 0 ? 404 : 200)) {
        throw new Error(`read: ${r.status}`);
      }
      const firstReadMs = Math.round(performance.now() - spawned);
      const rss = rssBytes(server.pid);
      const heap = await heapUsed(server.url);
      await new Promise((r) => setTimeout(r, settleMs));
      return {
        listenMs,
        firstReadMs,
        listenCpuMs,
        rss,
        heap,
        rssSettled: rssBytes(server.pid),
        heapSettled: await heapUsed(server.url),
      } satisfies Figures;
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

const seeded = await Deno.makeTempDir({ prefix: "streambed-restart-seed-" });
const empty = await Deno.makeTempDir({ prefix: "streambed-restart-empty-" });
try {
  const started = performance.now();
  await seed(seeded, n);
  await seed(empty, 0);
  console.log(JSON.stringify({
    seeded: n,
    seedMs: Math.round(performance.now() - started),
  }));
  const perStream = (full: number, base: number) =>
    Math.round((full - base) / n);
  for (let round = 1; round <= rounds; round++) {
    for (const { name, dir } of roots) {
      const base = await measure(dir, empty, 0);
      const full = await measure(dir, seeded, n);
      console.log(JSON.stringify({
        round,
        root: name,
        listenMs: full.listenMs,
        firstReadMs: full.firstReadMs,
        listenCpuMs: full.listenCpuMs,
        emptyListenMs: base.listenMs,
        rssMiB: Math.round(full.rss / 2 ** 20),
        rssPerStreamB: perStream(full.rss, base.rss),
        heapPerStreamB: perStream(full.heap, base.heap),
        rssSettledMiB: Math.round(full.rssSettled / 2 ** 20),
        rssSettledPerStreamB: perStream(full.rssSettled, base.rssSettled),
        heapSettledPerStreamB: perStream(full.heapSettled, base.heapSettled),
      }));
    }
  }
} finally {
  await Deno.remove(seeded, { recursive: true });
  await Deno.remove(empty, { recursive: true });
}
