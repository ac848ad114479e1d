/**
 * @module
 * Load benchmark for any Durable Streams server on loopback: append
 * throughput and latency, single-append latency, catch-up read MB/s and
 * ack-to-delivery latency for long-poll and SSE readers. Prints a table to
 * stdout (and JSON with `--json`), progress to stderr. See bench/LOAD_NOTES.md.
 *
 * ```sh
 * deno task bench:load -- --url http://127.0.0.1:4437 --duration-ms 2000
 * ```
 */

import { jsonBody, randomBytes, runAppendScenario } from "./_load_append.ts";
import { LOAD_USAGE, type LoadOptions, parseLoadArgs } from "./_load_args.ts";
import { runCatchupScenario } from "./_load_catchup.ts";
import { makeTarget, type Target } from "./_load_client.ts";
import { runLiveScenario } from "./_load_live.ts";
import { renderResults, type ScenarioResult } from "./_load_report.ts";

export type { LoadOptions } from "./_load_args.ts";
export type { ScenarioResult } from "./_load_report.ts";

/** A runnable scenario and the id `--only` matches against. */
interface PlannedScenario {
  id: string;
  run: (target: Target) => Promise<ScenarioResult[]>;
}

/** Machine-readable output of one load run. */
export interface LoadReport {
  /** Server base URL. */
  url: string;
  /** Random prefix of this run's stream names. */
  runId: string;
  /** Options the run used. */
  options: LoadOptions;
  /** One row per measured figure. */
  results: ScenarioResult[];
  /** Where it ran: results on a busy machine are not comparable. */
  machine: MachineInfo;
}

/** Machine facts recorded with each run. */
export interface MachineInfo {
  /** Logical CPUs. */
  cpus: number;
  /** `Deno.version.deno`. */
  deno: string;
  /** 1-minute load average when the run started. */
  loadAvgStart: number;
  /** 1-minute load average when the run ended. */
  loadAvgEnd: number;
}

function loadAvg1m(): number {
  return Deno.loadavg()[0];
}

/** Writes a progress line to stderr. */
export function logProgress(line: string): void {
  console.error(`[load ${new Date().toISOString().slice(11, 19)}] ${line}`);
}

/** True when `id` is selected by the `--only` list (exact id or `prefix-`). */
export function isSelected(id: string, only: readonly string[]): boolean {
  return only.length === 0 ||
    only.some((token) => id === token || id.startsWith(`${token}-`));
}

/** Runs every selected scenario in order against `options.url`. */
export async function runLoad(
  options: LoadOptions,
  log: (line: string) => void = logProgress,
): Promise<LoadReport> {
  const target = makeTarget(options.url, options.client);
  const loadAvgStart = loadAvg1m();
  const planned = planScenarios(options, log).filter((s) =>
    isSelected(s.id, options.only)
  );
  if (planned.length === 0) {
    throw new Error(`No scenario matches --only ${options.only.join(",")}`);
  }
  for (const token of options.only) {
    if (!planned.some((s) => isSelected(s.id, [token]))) {
      log(`warning: --only ${token} matches no scenario`);
    }
  }
  const results: ScenarioResult[] = [];
  for (const scenario of planned) {
    log(`${scenario.id}: start`);
    results.push(...await runGuarded(scenario, target, log));
  }
  const machine = {
    cpus: navigator.hardwareConcurrency,
    deno: Deno.version.deno,
    loadAvgStart,
    loadAvgEnd: loadAvg1m(),
  };
  return {
    url: target.baseUrl,
    runId: target.runId,
    options,
    results,
    machine,
  };
}

async function runGuarded(
  scenario: PlannedScenario,
  target: Target,
  log: (line: string) => void,
): Promise<ScenarioResult[]> {
  try {
    const rows = await scenario.run(target);
    for (const row of rows) {
      log(`${row.id}: done (${row.samples} samples, ${row.errors} errors)`);
    }
    return rows;
  } catch (error) {
    const message = describeError(error);
    log(`${scenario.id}: FAILED: ${message}`);
    return [{
      id: scenario.id,
      label: scenario.id,
      rate: null,
      rateUnit: "",
      p50Ms: null,
      p99Ms: null,
      samples: 0,
      errors: 1,
      notes: `FAILED: ${message}`,
    }];
  }
}

/** An error's message followed by its chain of causes. */
export function describeError(error: unknown): string {
  const parts: string[] = [];
  for (let e = error, depth = 0; e !== undefined && depth < 5; depth++) {
    parts.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join(": ");
}

function planScenarios(
  options: LoadOptions,
  log: (line: string) => void,
): PlannedScenario[] {
  return [
    ...planAppendScenarios(options),
    {
      id: "catchup",
      run: (target) =>
        runCatchupScenario(target, {
          messages: options.catchupMessages,
          messageBytes: 100,
          fillConcurrency: 32,
          repeats: options.catchupRepeats,
          timeoutMs: 300_000,
          serverPid: options.serverPid,
        }, log),
    },
    ...planLiveScenarios(options),
  ];
}

function planAppendScenarios(options: LoadOptions): PlannedScenario[] {
  const timing = {
    durationMs: options.durationMs,
    warmupMs: options.warmupMs,
    serverPid: options.serverPid,
  };
  const binary = randomBytes(1024);
  const kinds = [
    {
      kind: "json",
      what: "JSON 100 B",
      contentType: "application/json",
      makeBody: (w: number, n: number) => jsonBody(w, n, 100),
    },
    {
      kind: "bin",
      what: "binary 1 KiB",
      contentType: "application/octet-stream",
      makeBody: () => binary,
    },
  ];
  const planned: PlannedScenario[] = [];
  for (const { kind, what, contentType, makeBody } of kinds) {
    for (const streamCount of new Set([1, options.streams])) {
      const id = `append-${kind}-${streamCount}`;
      const label =
        `append ${what}, ${options.writers} writers, ${streamCount} stream${
          streamCount === 1 ? "" : "s"
        }`;
      const scenario = {
        id,
        label,
        contentType,
        streamCount,
        writers: options.writers,
        makeBody,
      };
      planned.push({
        id,
        run: async (
          target,
        ) => [await runAppendScenario(target, scenario, timing)],
      });
    }
  }
  const single = {
    id: "single-append",
    label: "single-append latency, JSON 100 B, 1 writer",
    contentType: "application/json",
    streamCount: 1,
    writers: 1,
    makeBody: (w: number, n: number) => jsonBody(w, n, 100),
  };
  planned.push({
    id: single.id,
    run: async (target) => [await runAppendScenario(target, single, timing)],
  });
  return planned;
}

function planLiveScenarios(options: LoadOptions): PlannedScenario[] {
  const live = {
    iterations: options.liveWarmup + options.liveIterations,
    warmup: options.liveWarmup,
    readerProcesses: options.readerProcesses,
    intervalMs: options.liveIntervalMs,
    drainMs: 3000,
    readyMs: 3000,
  };
  const planned: PlannedScenario[] = [];
  for (const mode of ["long-poll", "sse"] as const) {
    for (const readers of options.liveReaders) {
      const id = `live-${mode.replace("-", "")}-${readers}`;
      planned.push({
        id,
        run: async (
          target,
        ) => [await runLiveScenario(target, mode, readers, live)],
      });
    }
  }
  return planned;
}

/** Prints the results table (and JSON when asked) to stdout. */
export function printReport(report: LoadReport): void {
  const o = report.options;
  console.log(
    `Durable Streams load benchmark: ${report.url} (run ${report.runId}; ` +
      `duration ${o.durationMs} ms, warm-up ${o.warmupMs} ms, ${o.writers} writers)`,
  );
  const m = report.machine;
  console.log(
    `Deno ${m.deno}, ${m.cpus} CPUs, 1-min load average ${
      m.loadAvgStart.toFixed(2)
    } at start, ${m.loadAvgEnd.toFixed(2)} at end ` +
      `(client, server and anything else share these CPUs)`,
  );
  console.log(renderResults(report.results));
  if (o.json) console.log(JSON.stringify(report));
}

async function main(): Promise<void> {
  if (Deno.args.includes("--help")) {
    console.log(LOAD_USAGE);
    return;
  }
  let options: LoadOptions;
  try {
    options = parseLoadArgs(Deno.args);
  } catch (error) {
    console.error(
      `${error instanceof Error ? error.message : error}\n\n${LOAD_USAGE}`,
    );
    Deno.exit(2);
  }
  const report = await runLoad(options);
  printReport(report);
  if (report.results.some((row) => row.notes.startsWith("FAILED"))) {
    Deno.exitCode = 1;
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`load: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
