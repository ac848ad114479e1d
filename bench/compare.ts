/**
 * @module
 * Runs bench/load.ts against Streambed and then against the upstream
 * reference server (npm `@durable-streams/server` 0.3.7, in memory), one after
 * the other on loopback, and prints both side by side with ratios. Starts and
 * stops both servers itself unless `--streambed-url` / `--reference-url` are given.
 *
 * ```sh
 * deno task bench:compare -- --duration-ms 2000
 * ```
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  type FlagValues,
  LOAD_FLAGS,
  LOAD_USAGE,
  loadOptionsFrom,
  stripDashDash,
} from "./_load_args.ts";
import {
  type ServerProcess,
  startServer,
  streambedCommand,
} from "./_load_process.ts";
import {
  nodeReferenceCommand,
  prepareNodeReference,
} from "./_load_reference_node.ts";
import {
  formatNumber,
  renderTable,
  type ScenarioResult,
} from "./_load_report.ts";
import { type LoadReport, logProgress, printReport, runLoad } from "./load.ts";

const COMPARE_USAGE = `Usage: deno task bench:compare -- [flags]
  --streambed-url URL    use a running Streambed instead of starting main.ts
  --streambed-arg=ARG    extra argument for main.ts (repeatable), e.g.
                         --streambed-arg=--durability --streambed-arg=os
  --reference-url URL    use a running reference server instead of starting one
  --start-timeout-ms N   wait this long for a server's "listening on" line (default 120000)
  --reference-runtime R  deno (default: run the npm package under Deno) or node
                         (npm install into $TMPDIR once, then run under Node)
  --show-tables          also print each server's own table
Load flags (passed through): see below, except --url.
${LOAD_USAGE}`;

/** Repository root (bench/..), where main.ts lives. */
const REPO_ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Parsed compare flags. */
interface CompareFlags {
  streambedUrl: string | null;
  streambedArgs: string[];
  referenceUrl: string | null;
  referenceRuntime: "deno" | "node";
  startTimeoutMs: number;
  showTables: boolean;
  load: FlagValues;
}

function parseCompareArgs(args: readonly string[]): CompareFlags {
  const { url: _url, "server-pid": _pid, ...loadFlags } = LOAD_FLAGS;
  const { values } = parseArgs({
    args: stripDashDash(args),
    options: {
      ...loadFlags,
      "streambed-url": { type: "string" },
      "streambed-arg": { type: "string", multiple: true },
      "reference-url": { type: "string" },
      "reference-runtime": { type: "string", default: "deno" },
      "start-timeout-ms": { type: "string", default: "120000" },
      "show-tables": { type: "boolean" },
    },
    strict: true,
  });
  const startTimeoutMs = Number(values["start-timeout-ms"]);
  if (!Number.isInteger(startTimeoutMs) || startTimeoutMs < 1000) {
    throw new Error("Invalid --start-timeout-ms");
  }
  // Validate the pass-through flags now rather than after starting a server.
  loadOptionsFrom({ ...values, url: "http://127.0.0.1:1" });
  return {
    streambedUrl: values["streambed-url"] ?? null,
    streambedArgs: values["streambed-arg"] ?? [],
    referenceUrl: values["reference-url"] ?? null,
    referenceRuntime: runtimeFlag(values["reference-runtime"]),
    startTimeoutMs,
    showTables: values["show-tables"] === true,
    load: values,
  };
}

function runtimeFlag(value: string): "deno" | "node" {
  if (value !== "deno" && value !== "node") {
    throw new Error(
      `Invalid --reference-runtime "${value}": expected deno or node`,
    );
  }
  return value;
}

/** Starts Streambed from main.ts with a fresh data directory. */
async function startStreambed(
  flags: CompareFlags,
  dataDir: string,
): Promise<ServerProcess> {
  return await startServer(
    streambedCommand(
      REPO_ROOT,
      dataDir,
      flags.streambedArgs,
      flags.startTimeoutMs,
    ),
  );
}

/** Starts the reference server (in memory) under Deno or Node. */
async function startReference(flags: CompareFlags): Promise<ServerProcess> {
  if (flags.referenceRuntime === "node") {
    const dir = await prepareNodeReference((line) =>
      logProgress(`reference: ${line}`)
    );
    return await startServer(nodeReferenceCommand(dir, flags.startTimeoutMs));
  }
  return await startServer({
    name: "reference",
    command: Deno.execPath(),
    // --no-lock: keep the benchmark-only npm dependency out of the project's deno.lock.
    args: [
      "run",
      "-A",
      "--no-lock",
      "--quiet",
      "bench/_load_reference_server.ts",
      "--port",
      "0",
    ],
    cwd: REPO_ROOT,
    startTimeoutMs: flags.startTimeoutMs,
  });
}

/** Runs the load benchmark against `url`, or against a server it starts and then stops. */
async function benchOne(
  name: string,
  url: string | null,
  start: () => Promise<ServerProcess>,
  flags: CompareFlags,
  running: Set<ServerProcess>,
): Promise<LoadReport> {
  const log = (line: string): void => logProgress(`${name}: ${line}`);
  if (url !== null) {
    return await runLoad(loadOptionsFrom({ ...flags.load, url }), log);
  }
  log("starting server");
  const server = await start();
  running.add(server);
  log(`server pid ${server.pid} at ${server.url}`);
  try {
    return await runLoad(
      loadOptionsFrom({
        ...flags.load,
        url: server.url,
        "server-pid": String(server.pid),
      }),
      log,
    );
  } finally {
    await server.stop();
    running.delete(server);
    log(`server pid ${server.pid} stopped`);
  }
}

type Metric = {
  name: string;
  pick: (row: ScenarioResult) => number | null;
  higherIsBetter: boolean;
};

const METRICS: Metric[] = [
  { name: "rate", pick: (row) => row.rate, higherIsBetter: true },
  { name: "p50 ms", pick: (row) => row.p50Ms, higherIsBetter: false },
  { name: "p99 ms", pick: (row) => row.p99Ms, higherIsBetter: false },
  {
    name: "server CPU us/op",
    pick: (row) => row.serverCpuUsPerOp ?? null,
    higherIsBetter: false,
  },
];

/** Renders the side-by-side table: one line per scenario and metric present. */
export function renderComparison(
  streambed: LoadReport,
  reference: LoadReport,
): string {
  const ids = [
    ...new Set(
      [...streambed.results, ...reference.results].map((row) => row.id),
    ),
  ];
  const lines: string[][] = [];
  for (const id of ids) {
    const s = streambed.results.find((row) => row.id === id);
    const r = reference.results.find((row) => row.id === id);
    const label = (s ?? r)?.label ?? id;
    for (const metric of METRICS) {
      const sv = s ? metric.pick(s) : null;
      const rv = r ? metric.pick(r) : null;
      if (sv === null && rv === null) continue;
      const unit = metric.name === "rate"
        ? (s ?? r)?.rateUnit ?? ""
        : metric.name;
      lines.push([
        label,
        unit,
        formatNumber(sv),
        formatNumber(rv),
        ratio(sv, rv),
        better(sv, rv, metric),
      ]);
    }
  }
  return renderTable([
    "scenario",
    "metric",
    "streambed",
    "reference",
    "S/R",
    "better",
  ], lines);
}

function ratio(s: number | null, r: number | null): string {
  // Ack-to-delivery latencies can be <= 0 (delivered before the ack): no ratio then.
  if (s === null || r === null || s <= 0 || r <= 0) return "-";
  return `${(s / r).toFixed(2)}x`;
}

function better(s: number | null, r: number | null, metric: Metric): string {
  if (s === null || r === null) return "-";
  if (Math.abs(s - r) <= 0.05 * Math.max(Math.abs(s), Math.abs(r))) return "~";
  return (s > r) === metric.higherIsBetter ? "streambed" : "reference";
}

async function main(): Promise<void> {
  if (Deno.args.includes("--help")) return console.log(COMPARE_USAGE);
  let flags: CompareFlags;
  try {
    flags = parseCompareArgs(Deno.args);
  } catch (error) {
    console.error(
      `${error instanceof Error ? error.message : error}\n\n${COMPARE_USAGE}`,
    );
    Deno.exit(2);
  }
  const running = new Set<ServerProcess>();
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-bench-" });
  const onSignal = async (): Promise<void> => {
    for (const server of running) await server.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const streambed = await benchOne(
      "streambed",
      flags.streambedUrl,
      () => startStreambed(flags, dataDir),
      flags,
      running,
    );
    const reference = await benchOne(
      "reference",
      flags.referenceUrl,
      () => startReference(flags),
      flags,
      running,
    );
    if (flags.showTables) [streambed, reference].forEach(printReport);
    console.log(
      `Streambed (${streambed.url}) vs reference @durable-streams/server 0.3.7 in memory ` +
        `under ${
          flags.referenceUrl === null ? flags.referenceRuntime : "?"
        } (${reference.url})`,
    );
    console.log(
      "S/R = streambed / reference; for rates higher is better, for latencies lower is better.",
    );
    console.log(renderComparison(streambed, reference));
    if (streambed.options.json) {
      console.log(JSON.stringify({ streambed, reference }));
    }
  } finally {
    for (const server of running) await server.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`compare: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
