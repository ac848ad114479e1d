/**
 * @module
 * Many small streams on one node: N streams with one 100-byte JSON message
 * each (created by one `PUT` with the message as its initial body), written
 * by 16 clients, against one or more checkouts in one run.
 *
 *   deno run -A bench/many_streams.ts [--n 100000] [--clients 16]
 *     [--idle-ms 60000] [--root NAME=DIR]... [--arg FLAG]... [--json]
 *     [--producer]
 *
 * Per checkout (a fresh data dir each, default flags plus `--arg`s):
 *
 * - creation rate (streams/s over the whole creation);
 * - RSS (`/proc/PID/status` VmRSS) before creating, after creating, and
 *   RSS per stream (the difference over N);
 * - server CPU (`/proc/PID/stat`) during an idle period of `--idle-ms`,
 *   then the number of files in the data dir (outside the fs object
 *   store) and of objects in the object store (`<data-dir>/objects`);
 * - restart: SIGTERM, start again on the same data dir, time from spawn to
 *   the `listening on` line and to the first answered read, RSS after it;
 * - listing: every name paged through `GET /v1/streams` (1000 a page).
 *
 * `--producer` follows each create with one append by an idempotent
 * producer of its own (`Producer-Id`, epoch 0, seq 0), as a client per
 * stream using `IdempotentProducer` would: every stream then has producer
 * state, which the stream cache (`--stream-cache-bytes`) bounds.
 *
 * `--root` defaults to `new=` this checkout; pass `--root old=../other` to
 * compare a change with the code before it in the same run.
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { startServer, streambedCommand } from "./_load_process.ts";
import { serverCpuUs } from "./_load_server_cpu.ts";

const here = new URL("..", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "100000" },
    clients: { type: "string", default: "16" },
    "idle-ms": { type: "string", default: "60000" },
    root: { type: "string", multiple: true },
    arg: { type: "string", multiple: true },
    json: { type: "boolean", default: false },
    keep: { type: "boolean", default: false },
    producer: { type: "boolean", default: false },
  },
});
const n = Number(values.n);
const clients = Number(values.clients);
const idleMs = Number(values["idle-ms"]);
const extra = values.arg ?? [];
const roots = (values.root ?? [`new=${here}`]).map((spec) => {
  const eq = spec.indexOf("=");
  return eq < 0
    ? { name: spec, dir: spec }
    : { name: spec.slice(0, eq), dir: spec.slice(eq + 1) };
});

/** VmRSS of `pid` in MiB. */
function rssMiB(pid: number): number {
  const line = Deno.readTextFileSync(`/proc/${pid}/status`)
    .split("\n").find((l) => l.startsWith("VmRSS:"));
  return Number(line!.split(/\s+/)[1]) / 1024;
}

/** Files under `dir`, recursively, skipping `skip` (a full path). */
async function countFiles(dir: string, skip?: string): Promise<number> {
  let count = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (path === skip) continue;
      if (entry.isDirectory) count += await countFiles(path, skip);
      else count++;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return count;
}

/** A ~100-byte JSON message for stream `i`. */
function message(i: number): string {
  const head = `{"stream":${i},"pad":"`;
  return head + "x".repeat(Math.max(0, 98 - head.length)) + `"}`;
}

async function createAll(url: string): Promise<number> {
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const r = await fetch(`${url}/v1/stream/s/${i}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: `[${message(i)}]`,
      });
      await r.body?.cancel();
      if (r.status !== 201) throw new Error(`PUT s/${i}: ${r.status}`);
      if (!values.producer) continue;
      const a = await fetch(`${url}/v1/stream/s/${i}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "producer-id": `writer-${i}`,
          "producer-epoch": "0",
          "producer-seq": "0",
        },
        body: `[${message(i)}]`,
      });
      await a.body?.cancel();
      if (a.status !== 200) throw new Error(`POST s/${i}: ${a.status}`);
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
  return n / ((performance.now() - started) / 1000);
}

/** Pages through every name; returns names seen and ms taken. */
async function listAll(url: string): Promise<{ names: number; ms: number }> {
  const started = performance.now();
  let after = "";
  let names = 0;
  for (;;) {
    const r = await fetch(
      `${url}/v1/streams?limit=1000&after=${encodeURIComponent(after)}`,
    );
    const page = await r.json() as { streams: unknown[]; next: string | null };
    names += page.streams.length;
    if (page.next === null) break;
    after = page.next;
  }
  return { names, ms: performance.now() - started };
}

/** Reads stream `i` and checks its message. */
async function readOne(url: string, i: number): Promise<void> {
  const r = await fetch(`${url}/v1/stream/s/${i}?offset=-1`);
  const body = await r.text();
  if (r.status !== 200 || !body.includes(`"stream":${i},`)) {
    throw new Error(`GET s/${i}: ${r.status} ${body.slice(0, 80)}`);
  }
}

interface Figures {
  root: string;
  n: number;
  createPerS: number;
  rssStartMiB: number;
  rssCreatedMiB: number;
  rssPerStreamB: number;
  idleCpuPct: number;
  dataDirFiles: number;
  objects: number;
  restartListenMs: number;
  restartFirstReadMs: number;
  rssRestartMiB: number;
  rssRestartPerStreamB: number;
  listAllMs: number;
  listedNames: number;
}

async function measure(name: string, root: string): Promise<Figures> {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-many-" });
  const objectsDir = join(dataDir, "objects");
  try {
    let server = await startServer(
      streambedCommand(root, dataDir, extra, 120_000),
    );
    let rssStart = 0;
    let createPerS = 0;
    let rssCreated = 0;
    let idleCpuPct = 0;
    try {
      await new Promise((r) => setTimeout(r, 1000));
      rssStart = rssMiB(server.pid);
      createPerS = await createAll(server.url);
      rssCreated = rssMiB(server.pid);
      const cpu0 = serverCpuUs(server.pid) ?? 0;
      await new Promise((r) => setTimeout(r, idleMs));
      const cpu1 = serverCpuUs(server.pid) ?? 0;
      idleCpuPct = (cpu1 - cpu0) / (idleMs * 10);
    } finally {
      await server.stop();
    }
    const dataDirFiles = await countFiles(dataDir, objectsDir);
    const objects = await countFiles(objectsDir);
    const spawned = performance.now();
    server = await startServer(streambedCommand(root, dataDir, extra, 300_000));
    const restartListenMs = performance.now() - spawned;
    try {
      await readOne(server.url, n - 1);
      const restartFirstReadMs = performance.now() - spawned;
      const rssRestart = rssMiB(server.pid);
      const listed = await listAll(server.url);
      return {
        root: name,
        n,
        createPerS: Math.round(createPerS),
        rssStartMiB: Math.round(rssStart),
        rssCreatedMiB: Math.round(rssCreated),
        rssPerStreamB: Math.round((rssCreated - rssStart) * 1048576 / n),
        idleCpuPct: Math.round(idleCpuPct * 10) / 10,
        dataDirFiles,
        objects,
        restartListenMs: Math.round(restartListenMs),
        restartFirstReadMs: Math.round(restartFirstReadMs),
        rssRestartMiB: Math.round(rssRestart),
        rssRestartPerStreamB: Math.round(
          (rssRestart - rssStart) * 1048576 / n,
        ),
        listAllMs: Math.round(listed.ms),
        listedNames: listed.names,
      };
    } finally {
      await server.stop();
    }
  } finally {
    if (!values.keep) await Deno.remove(dataDir, { recursive: true });
    else console.error(`kept ${dataDir}`);
  }
}

const results: Figures[] = [];
for (const { name, dir } of roots) {
  const figures = await measure(name, dir);
  results.push(figures);
  if (!values.json) console.log(JSON.stringify(figures));
}
if (values.json) console.log(JSON.stringify(results, null, 2));
