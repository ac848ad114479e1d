/**
 * @module
 * Appends/s while search companions build, against appends at rest, in one
 * server and one run. One server process seals small segments
 * (`--segment-bytes`, default 256 KiB) so uploads and companion builds run
 * all along; phases alternate between a stream without a search section
 * (`plain`: segments sealed and uploaded, no companions) and one with the
 * search benchmarks' section (`indexed`: a companion built per uploaded
 * segment, on the build Worker). Each phase offers `RATE` appends/s (each a
 * JSON array of `BATCH` log records of ~300 bytes) for `PHASE_S` seconds,
 * open loop (a send every 1/RATE s, at most `IN_FLIGHT` waiting), then waits
 * for the tier to go idle (uploads and builds done) before the next phase.
 * A first round warms up and is not reported.
 *
 * Per phase: appends/s acknowledged, ack latency p50/p99, the server's CPU
 * (whole process, /proc/PID/stat) and its main thread's
 * (/proc/PID/task/PID/stat: where appends run; builds run on a Worker) per
 * append, and companion builds during the phase.
 *
 * ```sh
 * deno run -A bench/companion_append_bench.ts
 * ```
 * Env: `RATE` (default 300), `BATCH` (20), `PHASE_S` (10), `ROUNDS` (2),
 * `IN_FLIGHT` (64), `SEGMENT_BYTES` (262144).
 */

import { LOG_SEARCH, logRecord } from "./_log_records.ts";
import { startServer, streambedCommand } from "./_load_process.ts";
import { CLOCK_TICKS_PER_S, cpuUsFromStat } from "./_load_server_cpu.ts";

const REPO_ROOT = new URL("..", import.meta.url).pathname;

function envInt(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  return v === undefined ? fallback : Number.parseInt(v, 10);
}

const RATE = envInt("RATE", 300);
const BATCH = envInt("BATCH", 20);
const PHASE_S = envInt("PHASE_S", 10);
const ROUNDS = envInt("ROUNDS", 2);
const IN_FLIGHT = envInt("IN_FLIGHT", 64);
const SEGMENT_BYTES = envInt("SEGMENT_BYTES", 256 << 10);
const SETTLE_MS_MAX = 90_000;
/** Polls (750 ms apart) without a new build before a phase starts. */
const QUIET_POLLS = 4;

/** CPU µs of a process (`task` undefined) or of one of its threads. */
function cpuUs(pid: number, task?: number): number {
  const path = task === undefined
    ? `/proc/${pid}/stat`
    : `/proc/${pid}/task/${task}/stat`;
  const us = cpuUsFromStat(Deno.readTextFileSync(path));
  if (us === null) throw new Error(`cannot read ${path}`);
  return us;
}

/** The first value under a key named `name` anywhere in `value`. */
function findKey(value: unknown, name: string): unknown {
  if (typeof value !== "object" || value === null) return undefined;
  for (const [k, v] of Object.entries(value)) {
    if (k === name) return v;
    const found = findKey(v, name);
    if (found !== undefined) return found;
  }
  return undefined;
}

interface TierFigures {
  builds: number;
  busy: boolean;
}

async function tierFigures(base: string): Promise<TierFigures> {
  const res = await fetch(`${base}/v1/server/_details`);
  const details = await res.json();
  const companions = findKey(details, "companions") as
    | { builds?: number }
    | undefined;
  const backlog = Number(findKey(details, "backlogBytes") ?? 0);
  const pending = Number(findKey(details, "uploadsPending") ?? 0);
  const lag = Number(findKey(details, "indexLagSegmentsMax") ?? 0);
  return {
    builds: companions?.builds ?? NaN,
    busy: pending > 0 || lag > 0 || backlog >= SEGMENT_BYTES,
  };
}

/** Waits until no upload is pending and no build ran for `QUIET_POLLS` polls. */
async function settle(base: string): Promise<void> {
  const until = Date.now() + SETTLE_MS_MAX;
  let last = -1;
  let quiet = 0;
  while (Date.now() < until && quiet < QUIET_POLLS) {
    const f = await tierFigures(base);
    quiet = !f.busy && f.builds === last ? quiet + 1 : 0;
    last = f.builds;
    await new Promise((r) => setTimeout(r, 750));
  }
}

let seq = 0;

function body(): string {
  const records = [];
  for (let i = 0; i < BATCH; i++) records.push(logRecord(seq++, 300));
  return JSON.stringify(records);
}

interface Phase {
  name: string;
  acked: number;
  failed: number;
  seconds: number;
  latenciesMs: number[];
  processCpuUs: number;
  mainCpuUs: number;
  builds: number;
}

async function phase(
  base: string,
  pid: number,
  name: string,
): Promise<Phase> {
  const url = `${base}/v1/stream/${name}`;
  const bodies = Array.from({ length: 64 }, body);
  const before = await tierFigures(base);
  const cpu0 = cpuUs(pid);
  const main0 = cpuUs(pid, pid);
  const latenciesMs: number[] = [];
  let acked = 0;
  let failed = 0;
  let inFlight = 0;
  const waits: Promise<void>[] = [];
  const t0 = performance.now();
  const total = RATE * PHASE_S;
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / RATE;
    const now = performance.now();
    if (due > now) await new Promise((r) => setTimeout(r, due - now));
    if (inFlight >= IN_FLIGHT) {
      failed++; // the server fell behind the offered rate: not sent
      continue;
    }
    inFlight++;
    const sent = performance.now();
    waits.push(
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: bodies[i % bodies.length],
      }).then(async (res) => {
        await res.body?.cancel();
        if (res.status === 200 || res.status === 204) {
          acked++;
          latenciesMs.push(performance.now() - sent);
        } else failed++;
      }, () => {
        failed++;
      }).finally(() => inFlight--),
    );
  }
  await Promise.all(waits);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuUs(pid) - cpu0;
  const main = cpuUs(pid, pid) - main0;
  const after = await tierFigures(base);
  return {
    name,
    acked,
    failed,
    seconds,
    latenciesMs,
    processCpuUs: cpu,
    mainCpuUs: main,
    builds: after.builds - before.builds,
  };
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
}

async function main(): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-comp-append-" });
  const server = await startServer(
    streambedCommand(REPO_ROOT, dataDir, [
      "--access-log=off",
      "--segment-bytes",
      String(SEGMENT_BYTES),
    ], 60_000),
  );
  const json = { "content-type": "application/json" };
  try {
    const base = server.url;
    for (const name of ["plain", "indexed"]) {
      const res = await fetch(`${base}/v1/stream/${name}`, {
        method: "PUT",
        headers: json,
      });
      await res.body?.cancel();
    }
    const schema = await fetch(`${base}/v1/stream/indexed/_schema`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ schema: { type: "object" }, search: LOG_SEARCH }),
    });
    if (!schema.ok) throw new Error(await schema.text());
    await schema.body?.cancel();
    console.log(
      `RATE=${RATE}/s, ${BATCH} records (~${
        (body().length / 1024).toFixed(1)
      } KiB) per append, ${PHASE_S} s per phase, ${ROUNDS} rounds, ${
        SEGMENT_BYTES / 1024
      } KiB segments; load average ${Deno.loadavg()[0].toFixed(1)}`,
    );
    console.log(
      "| phase | appends/s | not acked | p50 ms | p99 ms | process CPU µs/append | main-thread CPU µs/append | companion builds |",
    );
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    const sums = new Map<string, { rate: number; main: number }>();
    // A warm-up round (JIT, first segments) is not reported.
    for (let round = -1; round < ROUNDS; round++) {
      for (const name of ["plain", "indexed"]) {
        await settle(base);
        const p = await phase(base, server.pid, name);
        if (round < 0) continue;
        const rate = p.acked / p.seconds;
        const main = p.mainCpuUs / Math.max(1, p.acked);
        const s = sums.get(name) ?? { rate: 0, main: 0 };
        sums.set(name, { rate: s.rate + rate, main: s.main + main });
        console.log(
          `| ${name} | ${rate.toFixed(1)} | ${p.failed} | ${
            quantile(p.latenciesMs, 0.5).toFixed(1)
          } | ${quantile(p.latenciesMs, 0.99).toFixed(1)} | ${
            (p.processCpuUs / Math.max(1, p.acked)).toFixed(0)
          } | ${main.toFixed(0)} | ${p.builds} |`,
        );
      }
    }
    const plain = sums.get("plain")!;
    const indexed = sums.get("indexed")!;
    console.log(
      `appends/s indexed / plain: ${
        (indexed.rate / plain.rate).toFixed(3)
      }; main-thread CPU per append indexed / plain: ${
        (indexed.main / plain.main).toFixed(2)
      } (CPU in ${1_000_000 / CLOCK_TICKS_PER_S} µs ticks)`,
    );
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

if (import.meta.main) await main();
