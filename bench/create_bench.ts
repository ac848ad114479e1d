/**
 * @module
 * Stream creation and listing at scale, against one or more checkouts in one
 * run (a fresh data dir each, default flags plus `--arg`s, so `fsync`):
 *
 *   deno run -A bench/create_bench.ts [--n 20000] [--clients 16]
 *     [--root NAME=DIR]... [--arg FLAG]... [--json]
 *
 * Phases, each over `--n` new streams written by `--clients` clients on
 * kept-alive connections:
 *
 * - `empty`: `PUT` with no body;
 * - `body`: `PUT` with a 100-byte JSON message as its initial body;
 * - `create+append`: an empty `PUT`, then a `POST` of one message;
 * - `list`: after the three phases, `GET /v1/streams?limit=1000` pages: the
 *   first page after a create (the case a sorted copy rebuilt after every new
 *   name makes O(streams)), and pages with no create in between;
 * - `objects`: after 10 s more, the objects in the fs object store (the
 *   `body` and `create+append` streams are tiny: they wait for
 *   `--segment-idle-ms`; the `empty` ones have only a manifest).
 *
 * Each phase reports streams/s and the server's CPU per stream
 * (`/proc/PID/stat`), which is steadier than the rate on a shared machine.
 */

import { parseArgs } from "node:util";
import { startServer, streambedCommand } from "./_load_process.ts";
import { serverCpuUs } from "./_load_server_cpu.ts";

const here = new URL("..", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "20000" },
    clients: { type: "string", default: "16" },
    root: { type: "string", multiple: true },
    arg: { type: "string", multiple: true },
    json: { type: "boolean", default: false },
  },
});
const n = Number(values.n);
const clients = Number(values.clients);
const extra = values.arg ?? [];
const roots = (values.root ?? [`new=${here}`]).map((spec) => {
  const eq = spec.indexOf("=");
  return eq < 0
    ? { name: spec, dir: spec }
    : { name: spec.slice(0, eq), dir: spec.slice(eq + 1) };
});

const MESSAGE = `{"pad":"${"x".repeat(88)}"}`;

/** Runs `n` numbered jobs on `clients` concurrent workers. */
async function runJobs(
  count: number,
  job: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      await job(i);
    }
  };
  await Promise.all(Array.from({ length: clients }, worker));
}

async function put(url: string, body: string | undefined): Promise<void> {
  const r = await fetch(url, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body,
  });
  await r.body?.cancel();
  if (r.status !== 201) throw new Error(`PUT ${url}: ${r.status}`);
}

async function post(url: string, body: string): Promise<void> {
  const r = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body,
  });
  await r.body?.cancel();
  if (r.status !== 204 && r.status !== 200) {
    throw new Error(`POST ${url}: ${r.status}`);
  }
}

interface Phase {
  perS: number;
  cpuUsPerStream: number;
}

async function phase(
  pid: number,
  job: (i: number) => Promise<void>,
): Promise<Phase> {
  const cpu0 = serverCpuUs(pid) ?? 0;
  const started = performance.now();
  await runJobs(n, job);
  const seconds = (performance.now() - started) / 1000;
  const cpu1 = serverCpuUs(pid) ?? 0;
  return {
    perS: Math.round(n / seconds),
    cpuUsPerStream: Math.round((cpu1 - cpu0) / n),
  };
}

async function pageMs(url: string, after: string): Promise<number> {
  const started = performance.now();
  const r = await fetch(
    `${url}/v1/streams?limit=1000&after=${encodeURIComponent(after)}`,
  );
  const page = await r.json() as { streams: unknown[] };
  if (r.status !== 200 || page.streams.length === 0) {
    throw new Error(`list: ${r.status}`);
  }
  return performance.now() - started;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

interface Figures {
  root: string;
  streams: number;
  empty: Phase;
  body: Phase;
  createAppend: Phase;
  /** Median page latency, no creates since the last page, ms. */
  pageWarmMs: number;
  /** Median latency of a page right after a create, ms. */
  pageAfterCreateMs: number;
  /** Objects in the object store 10 s after the last create. */
  objects: number;
}

async function countFiles(dir: string): Promise<number> {
  let count = 0;
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) count += await countFiles(`${dir}/${entry.name}`);
      else count++;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return count;
}

async function measure(name: string, root: string): Promise<Figures> {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-create-" });
  try {
    const server = await startServer(
      streambedCommand(root, dataDir, extra, 120_000),
    );
    try {
      const base = `${server.url}/v1/stream`;
      const empty = await phase(server.pid, (i) => put(`${base}/e/${i}`, ""));
      const body = await phase(
        server.pid,
        (i) => put(`${base}/b/${i}`, `[${MESSAGE}]`),
      );
      const createAppend = await phase(server.pid, async (i) => {
        await put(`${base}/a/${i}`, "");
        await post(`${base}/a/${i}`, `[${MESSAGE}]`);
      });
      const warm: number[] = [];
      const afterCreate: number[] = [];
      for (let i = 0; i < 20; i++) {
        warm.push(await pageMs(server.url, `b/${i * 50}`));
        await put(`${base}/l/${i}`, "");
        afterCreate.push(await pageMs(server.url, `b/${i * 50}`));
      }
      await new Promise((r) => setTimeout(r, 10_000));
      const objects = await countFiles(`${dataDir}/objects`);
      return {
        root: name,
        streams: 3 * n + 20,
        empty,
        body,
        createAppend,
        pageWarmMs: Math.round(median(warm) * 10) / 10,
        pageAfterCreateMs: Math.round(median(afterCreate) * 10) / 10,
        objects,
      };
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

const results: Figures[] = [];
for (const { name, dir } of roots) {
  const figures = await measure(name, dir);
  results.push(figures);
  if (!values.json) console.log(JSON.stringify(figures));
}
if (values.json) console.log(JSON.stringify(results, null, 2));
