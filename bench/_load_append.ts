/**
 * @module
 * Append throughput and latency scenarios: N concurrent writers POST to one or
 * many streams (round-robin) for a bounded time after a warm-up, recording
 * per-append latency (request start to drained response).
 */

import process from "node:process";
import {
  type Appender,
  createStreams,
  isAppendOk,
  makeAppender,
  type Target,
} from "./_load_client.ts";
import { finiteOrNull, type ScenarioResult } from "./_load_report.ts";
import { cpuUsPerOp, serverCpuUs } from "./_load_server_cpu.ts";
import { SampleRecorder } from "./_load_stats.ts";

/** Appends allowed per scenario phase, whatever the duration (loop bound). */
export const APPENDS_MAX = 5_000_000;
/** A phase stops early once this many appends have failed. */
export const APPEND_ERRORS_MAX = 100;
/** In-flight appends are aborted this long after a phase's end. */
export const APPEND_GRACE_MS = 10_000;

/** Produces the body of a writer's n-th append. */
export type BodyFactory = (
  writer: number,
  seq: number,
) => Uint8Array<ArrayBuffer> | string;

/** Describes one append scenario. */
export interface AppendScenario {
  /** Row id, e.g. `append-json-1`. */
  id: string;
  /** Row label. */
  label: string;
  /** Stream content type. */
  contentType: string;
  /** Number of streams; writer w's j-th append goes to stream (w + j*writers) % streamCount. */
  streamCount: number;
  /** Concurrent writers. */
  writers: number;
  /** Body generator. */
  makeBody: BodyFactory;
  /** Runs once the streams exist, before the warm-up (e.g. installs a schema). */
  prepare?: (urls: readonly string[]) => Promise<void>;
}

/** Timing knobs shared by the append scenarios. */
export interface AppendTiming {
  /** Measured phase length. */
  durationMs: number;
  /** Unmeasured warm-up phase length. */
  warmupMs: number;
  /** Server process whose CPU per append is reported, or null. */
  serverPid: number | null;
  /** Called just before and just after the measured phase. */
  onMeasure?: (phase: "start" | "end") => void;
}

interface PhaseState {
  appends: number;
  errors: number;
  lastError: string;
}

/** Builds a JSON object body of exactly `sizeBytes` ASCII bytes. */
export function jsonBody(
  writer: number,
  seq: number,
  sizeBytes: number,
): string {
  const base = JSON.stringify({ w: writer, n: seq, pad: "" });
  const pad = "x".repeat(Math.max(0, sizeBytes - base.length));
  return JSON.stringify({ w: writer, n: seq, pad });
}

/** Random bytes of the given length (fixed per call; reused across appends). */
export function randomBytes(sizeBytes: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(sizeBytes);
  // getRandomValues fills at most 65,536 bytes per call.
  for (let start = 0; start < sizeBytes; start += 65_536) {
    crypto.getRandomValues(
      bytes.subarray(start, Math.min(sizeBytes, start + 65_536)),
    );
  }
  return bytes;
}

/** Runs one append scenario: create streams, warm up, measure. */
export async function runAppendScenario(
  target: Target,
  scenario: AppendScenario,
  timing: AppendTiming,
): Promise<ScenarioResult> {
  const urls = await createStreams(
    target,
    scenario.id,
    scenario.streamCount,
    scenario.contentType,
  );
  await scenario.prepare?.(urls);
  const appenders = Array.from(
    { length: scenario.writers },
    () => makeAppender(target),
  );
  await runPhase(urls, appenders, scenario, timing.warmupMs, null);
  const recorder = new SampleRecorder();
  const startMs = performance.now();
  const cpuBefore = process.cpuUsage();
  timing.onMeasure?.("start");
  const serverBefore = serverCpuUs(timing.serverPid);
  const state = await runPhase(
    urls,
    appenders,
    scenario,
    timing.durationMs,
    recorder,
  );
  timing.onMeasure?.("end");
  const elapsedMs = performance.now() - startMs;
  const serverCpu = cpuUsPerOp(
    serverBefore,
    serverCpuUs(timing.serverPid),
    state.appends,
  );
  const clientCpu = clientCpuPercent(cpuBefore, elapsedMs);
  const summary = recorder.summary();
  return {
    id: scenario.id,
    label: scenario.label,
    rate: finiteOrNull(state.appends / (elapsedMs / 1000)),
    rateUnit: "appends/s",
    p50Ms: finiteOrNull(summary.p50Ms),
    p99Ms: finiteOrNull(summary.p99Ms),
    samples: state.appends,
    errors: state.errors,
    notes: `client CPU ${clientCpu.toFixed(0)}%` +
      (state.errors > 0 ? `; last error: ${state.lastError}` : ""),
    serverCpuUsPerOp: serverCpu,
  };
}

/**
 * CPU used by this (client) process since `before`, as a percentage of one
 * core. Near 100% means the benchmark itself, not the server, may be the limit.
 */
export function clientCpuPercent(
  before: NodeJS.CpuUsage,
  elapsedMs: number,
): number {
  const used = process.cpuUsage(before);
  return ((used.user + used.system) / 1000 / elapsedMs) * 100;
}

async function runPhase(
  urls: readonly string[],
  appenders: readonly Appender[],
  scenario: AppendScenario,
  phaseMs: number,
  recorder: SampleRecorder | null,
): Promise<PhaseState> {
  const state: PhaseState = { appends: 0, errors: 0, lastError: "" };
  const endMs = performance.now() + phaseMs;
  const signal = AbortSignal.timeout(phaseMs + APPEND_GRACE_MS);
  const writers = Array.from(
    { length: scenario.writers },
    (_, writer) =>
      writerLoop({
        urls,
        append: appenders[writer],
        scenario,
        endMs,
        recorder,
        state,
        writer,
        signal,
      }),
  );
  await Promise.all(writers);
  return state;
}

interface WriterContext {
  urls: readonly string[];
  append: Appender;
  scenario: AppendScenario;
  endMs: number;
  recorder: SampleRecorder | null;
  state: PhaseState;
  writer: number;
  signal: AbortSignal;
}

async function writerLoop(ctx: WriterContext): Promise<void> {
  const { urls, scenario, state, writer } = ctx;
  for (let seq = 0; performance.now() < ctx.endMs; seq++) {
    if (state.appends >= APPENDS_MAX || state.errors >= APPEND_ERRORS_MAX) {
      return;
    }
    const url = urls[(writer + seq * scenario.writers) % urls.length];
    const body = scenario.makeBody(writer, seq);
    const startMs = performance.now();
    try {
      const status = await ctx.append(
        url,
        scenario.contentType,
        body,
        ctx.signal,
      );
      if (!isAppendOk(status)) throw new Error(`HTTP ${status}`);
      state.appends += 1;
      ctx.recorder?.add(performance.now() - startMs);
    } catch (error) {
      state.errors += 1;
      state.lastError = error instanceof Error ? error.message : String(error);
      if (ctx.signal.aborted) return;
    }
  }
}
