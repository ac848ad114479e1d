/**
 * @module
 * Where an OTLP span's server CPU goes over time: one sender posts batches
 * of 512 spans (the `otlp_bench.ts` batch) one after another, then the
 * server is left alone; prints the server's CPU per span (from
 * /proc/PID/stat) while the requests ran and in the 8 s after, when
 * sealing, compression and the search companions catch up.
 * `PROF=1` also passes `--prof` to V8 (logs under /tmp/v8prof, for
 * `node --prof-process`); `CPU_PROF=<dir>` runs the server with Deno's
 * `--cpu-prof` into that folder (summarise it with
 * `bench/cpu_profile_top.ts`).
 *
 * ```sh
 * deno run -A bench/otlp_background.ts
 * ```
 */

import { BATCH, protobufBody, spanJson } from "./otlp_bench.ts";
import { startServer, streambedCommand } from "./_load_process.ts";
import { serverCpuUs, threadCpuUs } from "./_load_server_cpu.ts";

const REPO_ROOT = new URL("..", import.meta.url).pathname;
const BATCHES = 80;
const AFTER_MS = 8000;

function threadLine(
  before: Map<string, number>,
  after: Map<string, number>,
  spans: number,
): string {
  const parts: string[] = [];
  for (const [name, us] of after) {
    const delta = (us - (before.get(name) ?? 0)) / spans;
    if (delta >= 0.5) parts.push(`${name} ${delta.toFixed(1)}`);
  }
  return parts.join(", ");
}

async function main(): Promise<void> {
  const proto = protobufBody(
    Array.from({ length: BATCH }, (_, i) => spanJson(i)),
  );
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-otlp-bg-" });
  const command = streambedCommand(
    REPO_ROOT,
    dataDir,
    ["--access-log=off"],
    30_000,
  );
  if (Deno.env.get("PROF")) {
    await Deno.mkdir("/tmp/v8prof", { recursive: true });
    command.args.splice(
      1,
      0,
      "--v8-flags=--prof,--logfile=/tmp/v8prof/isolate-%p.log",
    );
  }
  const cpuProfDir = Deno.env.get("CPU_PROF");
  if (cpuProfDir) {
    await Deno.mkdir(cpuProfDir, { recursive: true });
    command.args.splice(1, 0, "--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`);
  }
  const server = await startServer(command);
  const json = { "content-type": "application/json" };
  try {
    const base = `${server.url}/v1/stream/otlp`;
    await (await fetch(base, { method: "PUT", headers: json })).body?.cancel();
    await (await fetch(`${base}/_profile`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ profile: { kind: "otel-traces" } }),
    })).body?.cancel();
    const threadsStart = threadCpuUs(server.pid!);
    const start = serverCpuUs(server.pid) ?? NaN;
    for (let i = 0; i < BATCHES; i++) {
      const response = await fetch(`${base}/_otlp/v1/traces`, {
        method: "POST",
        headers: { "content-type": "application/x-protobuf" },
        body: proto as BodyInit,
      });
      if (response.status !== 200) throw new Error(await response.text());
      await response.body?.cancel();
    }
    const sent = serverCpuUs(server.pid) ?? NaN;
    const threadsSent = threadCpuUs(server.pid!);
    await new Promise((resolve) => setTimeout(resolve, AFTER_MS));
    const after = serverCpuUs(server.pid) ?? NaN;
    const threadsAfter = threadCpuUs(server.pid!);
    const spans = BATCHES * BATCH;
    console.log(
      `server µs/span: ${
        ((sent - start) / spans).toFixed(1)
      } during the requests, ${((after - sent) / spans).toFixed(1)} in the ${
        AFTER_MS / 1000
      } s after (load ${Deno.loadavg()[0].toFixed(2)})`,
    );
    console.log(
      `by thread, µs/span during: ${
        threadLine(threadsStart, threadsSent, spans)
      }`,
    );
    console.log(
      `by thread, µs/span after: ${
        threadLine(threadsSent, threadsAfter, spans)
      }`,
    );
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

if (import.meta.main) await main();
