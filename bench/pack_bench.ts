/**
 * @module
 * Objects in the object store per tiny stream once tiering is done, and the
 * object-store GETs of a cold read, against one or more checkouts in one run
 * (a fresh data dir each, fs object store, short idle and age times so tiny
 * streams are sealed within seconds, plus `--arg`s):
 *
 *   deno run -A bench/pack_bench.ts [--n 10000] [--clients 16] [--reads 100]
 *     [--root NAME=DIR]... [--arg FLAG]... [--json]
 *
 * Per checkout: `--n` streams are created with one 100-byte JSON message
 * each (`PUT` with a body) by `--clients` clients; once `/health` shows no
 * local backlog (everything published), the objects under the store's root
 * are counted by prefix and the server's CPU for the whole run is taken from
 * `/proc/PID/stat`. The server is then restarted on the same data dir (an
 * empty segment cache) and `--reads` random streams are read one at a time:
 * the object-store `get` and `getRange` calls they cost (from `/metrics`),
 * per read, and every body is checked.
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { startServer, streambedCommand } from "./_load_process.ts";
import { serverCpuUs } from "./_load_server_cpu.ts";

const here = new URL("..", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "10000" },
    clients: { type: "string", default: "16" },
    reads: { type: "string", default: "100" },
    root: { type: "string", multiple: true },
    arg: { type: "string", multiple: true },
    json: { type: "boolean", default: false },
  },
});
const n = Number(values.n);
const clients = Number(values.clients);
const reads = Number(values.reads);
const roots = (values.root ?? [`new=${here}`]).map((spec) => {
  const eq = spec.indexOf("=");
  return eq < 0
    ? { name: spec, dir: spec }
    : { name: spec.slice(0, eq), dir: spec.slice(eq + 1) };
});
const ARGS = [
  "--segment-idle-ms",
  "1000",
  "--segment-age-ms",
  "1000",
  "--manifest-batch-ms",
  "1000",
  "--access-log",
  "off",
  ...(values.arg ?? []),
];

function message(i: number): string {
  return `{"i":"${String(i).padStart(8, "0")}","pad":"${"x".repeat(75)}"}`;
}

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

/** Object files under the fs store's root, by first key segment. */
async function countObjects(root: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  const walk = async (dir: string, top: string | undefined) => {
    for await (const e of Deno.readDir(dir)) {
      if (e.name === ".tmp") continue;
      const name = decodeURIComponent(e.name.replace(/\.(d|o)$/, ""));
      if (e.isDirectory) await walk(join(dir, e.name), top ?? name);
      else if (e.name.endsWith(".o")) {
        const key = top ?? name;
        counts[key] = (counts[key] ?? 0) + 1;
      }
    }
  };
  await walk(root, undefined);
  return counts;
}

async function backlogBytes(url: string): Promise<number> {
  const health = await (await fetch(`${url}/health`)).json();
  return health.tier?.backlogBytes ?? 0;
}

/** Object-store reads so far (`get` and `getRange`), from `/metrics`. */
async function objectReads(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    const m = /^streambed_objectstore_requests_total\{([^}]*)\} (\d+)/.exec(
      line,
    );
    if (m === null) continue;
    if (/op="(get|getRange)"/.test(m[1])) total += Number(m[2]);
  }
  return total;
}

interface Figures {
  root: string;
  streams: number;
  /** Seconds from the first create until nothing waits for the store. */
  tieredS: number;
  /** Server CPU over creating and tiering, µs per stream. */
  cpuUsPerStream: number;
  /** Objects by first key segment, and in all. */
  objects: Record<string, number>;
  objectsTotal: number;
  /** Objects per 100 streams. */
  objectsPer100: number;
  /** Object-store GETs per cold read of one stream (after a restart). */
  getsPerColdRead: number;
}

async function measure(root: { name: string; dir: string }): Promise<Figures> {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-packbench-" });
  try {
    let server = await startServer(
      streambedCommand(root.dir, dataDir, ARGS, 120_000),
    );
    const started = performance.now();
    const cpu0 = serverCpuUs(server.pid) ?? 0;
    await runJobs(n, async (i) => {
      const r = await fetch(`${server.url}/v1/stream/t/${i}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: message(i),
      });
      await r.body?.cancel();
      if (r.status !== 201) throw new Error(`PUT t/${i}: ${r.status}`);
    });
    await new Promise((r) => setTimeout(r, 3000)); // idle and age pass
    for (let i = 0; i < 6000 && await backlogBytes(server.url) > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 2000)); // last batch and merges
    const tieredS = (performance.now() - started) / 1000;
    const cpuUsPerStream = Math.round(
      ((serverCpuUs(server.pid) ?? 0) - cpu0) / n,
    );
    await server.stop();
    const objects = await countObjects(join(dataDir, "objects"));
    const objectsTotal = Object.values(objects).reduce((a, b) => a + b, 0);
    server = await startServer(
      streambedCommand(root.dir, dataDir, ARGS, 120_000),
    );
    try {
      await new Promise((r) => setTimeout(r, 2000)); // first passes
      const before = await objectReads(server.url);
      for (let k = 0; k < reads; k++) {
        const i = Math.floor(Math.random() * n);
        const r = await fetch(`${server.url}/v1/stream/t/${i}?offset=-1`);
        const body = await r.text();
        if (body !== `[${message(i)}]`) throw new Error(`t/${i}: ${body}`);
      }
      const after = await objectReads(server.url);
      return {
        root: root.name,
        streams: n,
        tieredS: Math.round(tieredS),
        cpuUsPerStream,
        objects,
        objectsTotal,
        objectsPer100: Math.round(objectsTotal / n * 100 * 100) / 100,
        getsPerColdRead: (after - before) / reads,
      };
    } finally {
      await server.stop();
    }
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
}

const results: Figures[] = [];
for (const root of roots) results.push(await measure(root));
if (values.json) console.log(JSON.stringify(results, null, 2));
else {
  for (const r of results) {
    console.log(
      `${r.root}: ${r.streams} streams, tiered in ${r.tieredS} s, ${r.cpuUsPerStream} µs CPU/stream; objects ${r.objectsTotal} (${
        JSON.stringify(r.objects)
      }) = ${r.objectsPer100} per 100 streams; ${r.getsPerColdRead} GETs per cold read`,
    );
  }
}
