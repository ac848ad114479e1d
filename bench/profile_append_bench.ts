/**
 * @module
 * Appends with a profile against the same appends without one: evlog wide
 * events and metrics interval records, 16 writers, one record per request,
 * one Streambed server process, the two sides alternated per round so the
 * ratio is fair. Prints appends/s and the server's CPU per append, per
 * round, then per profile the medians over the rounds of the rate ratio and
 * of the CPU ratio (with / without).
 *
 * `--only evlog` (or `metrics`) runs one profile, `--side with` (or
 * `without`) one side; `CPU_PROF=<dir>` runs the server with Deno's
 * `--cpu-prof` into that folder.
 *
 * ```sh
 * deno run -A bench/profile_append_bench.ts --duration-ms 3000 --rounds 2
 * ```
 */

import { parseArgs } from "node:util";
import { runAppendScenario } from "./_load_append.ts";
import { makeTarget } from "./_load_client.ts";
import { startServer, streambedCommand } from "./_load_process.ts";
import { threadCpuUs } from "./_load_server_cpu.ts";

const REPO_ROOT = new URL("..", import.meta.url).pathname;

/** A wide request event in the evlog shape, with a secret in a nested key. */
function evlogEvent(writer: number, seq: number): string {
  return JSON.stringify({
    timestamp: "2026-12-02T10:00:00.000Z",
    service: "checkout",
    environment: "prod",
    requestId: `w${writer}-${seq}`,
    method: "POST",
    path: "/api/cart",
    status: seq % 50 === 0 ? 503 : 200,
    duration: 12.5,
    message: "cart updated",
    user: { id: `u${writer}`, token: "t-123" },
    cart: { items: seq % 7, total: 42.5 },
  });
}

/** An interval summary record with a histogram. */
function metricsRecord(writer: number, seq: number): string {
  return JSON.stringify({
    metric: "http.server.duration",
    unit: "ms",
    windowStart: 1_764_669_600_000 + seq * 10_000,
    windowEnd: 1_764_669_610_000 + seq * 10_000,
    count: 10,
    sum: 125,
    min: 2,
    max: 40,
    buckets: { "5": 3, "10": 4, "50": 3 },
    attributes: { route: `/r${writer % 4}`, method: "GET" },
  });
}

async function installProfile(url: string, kind: string): Promise<void> {
  const response = await fetch(`${url}/_profile`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ profile: { kind } }),
  });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`_profile: ${text}`);
}

function median(list: number[]): number {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid]
    : (sorted[mid - 1] + sorted[mid]) / 2;
}

function range(list: number[]): string {
  return `${Math.min(...list).toFixed(2)}-${Math.max(...list).toFixed(2)}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "duration-ms": { type: "string", default: "3000" },
      "warmup-ms": { type: "string", default: "500" },
      rounds: { type: "string", default: "2" },
      writers: { type: "string", default: "16" },
      "streambed-arg": { type: "string", multiple: true, default: [] },
      only: { type: "string" },
      side: { type: "string", default: "both" },
    },
  });
  const timing = {
    durationMs: Number(values["duration-ms"]),
    warmupMs: Number(values["warmup-ms"]),
    serverPid: null as number | null,
  };
  const dataDir = await Deno.makeTempDir({
    prefix: "streambed-profile-bench-",
  });
  const command = streambedCommand(
    REPO_ROOT,
    dataDir,
    values["streambed-arg"] ?? [],
    30_000,
  );
  const cpuProfDir = Deno.env.get("CPU_PROF");
  if (cpuProfDir) {
    await Deno.mkdir(cpuProfDir, { recursive: true });
    command.args.splice(1, 0, "--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`);
  }
  const server = await startServer(command);
  timing.serverPid = server.pid;
  try {
    const target = makeTarget(server.url, "raw");
    console.log(
      "| profile | round | without: appends/s | with: appends/s | ratio | without: server µs/append | with: server µs/append | without: main thread µs/append | with: main thread µs/append |",
    );
    console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    const ratios: string[] = [];
    for (
      const [kind, makeBody] of [
        ["evlog", evlogEvent],
        ["metrics", metricsRecord],
      ] as const
    ) {
      if (values.only !== undefined && values.only !== kind) continue;
      const rateRatios: number[] = [];
      const cpuRatios: number[] = [];
      const mainRatios: number[] = [];
      for (let round = 0; round < Number(values.rounds); round++) {
        // Server CPU of the measured phase only: creating the stream and
        // installing the profile (compiling its canonical schema) come
        // before it, as they would once for a long-lived stream.
        const rate = async (withProfile: boolean) => {
          let mainBefore = 0;
          let mainUs = 0;
          const result = await runAppendScenario(target, {
            id: `${kind}-${withProfile ? "on" : "off"}-${round}`,
            label: kind,
            contentType: "application/json",
            streamCount: 1,
            writers: Number(values.writers),
            makeBody,
            prepare: withProfile
              ? (urls) => installProfile(urls[0], kind)
              : undefined,
          }, {
            ...timing,
            onMeasure: (phase) => {
              const main = threadCpuUs(server.pid).get("main") ?? 0;
              if (phase === "start") mainBefore = main;
              else mainUs = main - mainBefore;
            },
          });
          if (result.errors > 0) {
            throw new Error(`${result.id}: ${result.notes}`);
          }
          return {
            rate: result.rate ?? 0,
            us: result.serverCpuUsPerOp ?? NaN,
            mainUs: mainUs / result.samples,
          };
        };
        const first = round % 2 === 0;
        const skip = { rate: NaN, us: NaN, mainUs: NaN };
        const side = values.side;
        const a = side === "both" || (side === "with") === !first
          ? await rate(!first)
          : skip;
        const b = side === "both" || (side === "with") === first
          ? await rate(first)
          : skip;
        const [off, on] = first ? [a, b] : [b, a];
        rateRatios.push(on.rate / off.rate);
        cpuRatios.push(on.us / off.us);
        mainRatios.push(on.mainUs / off.mainUs);
        console.log(
          `| ${kind} | ${round} | ${off.rate.toFixed(0)} | ${
            on.rate.toFixed(0)
          } | ${(on.rate / off.rate).toFixed(2)}x | ${off.us.toFixed(1)} | ${
            on.us.toFixed(1)
          } | ${off.mainUs.toFixed(1)} | ${on.mainUs.toFixed(1)} |`,
        );
      }
      ratios.push(
        `${kind}: median rate ratio ${median(rateRatios).toFixed(2)}x (${
          range(rateRatios)
        }), median CPU per append ratio ${median(cpuRatios).toFixed(2)}x (${
          range(cpuRatios)
        }), main thread ${median(mainRatios).toFixed(2)}x (${
          range(mainRatios)
        }) over ${rateRatios.length} rounds`,
      );
    }
    for (const line of ratios) console.log(line);
    console.log(
      `machine: ${navigator.hardwareConcurrency} CPUs, load ${
        Deno.loadavg()[0].toFixed(2)
      }, Deno ${Deno.version.deno}`,
    );
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

if (import.meta.main) await main();
