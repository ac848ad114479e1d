/**
 * @module
 * Catch-up read scenario: fill one binary stream with many ~100-byte appends
 * (concurrent writers), then read it from offset -1 following
 * `Stream-Next-Offset` until `Stream-Up-To-Date: true`, several times, and
 * report median and best MB/s (1 MB = 10^6 bytes of decoded body), and with
 * a server pid the server's CPU per MB read.
 */

import {
  append,
  countBodyBytes,
  createStream,
  drain,
  HEADER,
  isAppendOk,
  streamUrl,
  type Target,
} from "./_load_client.ts";
import { randomBytes } from "./_load_append.ts";
import { finiteOrNull, type ScenarioResult } from "./_load_report.ts";
import { cpuUsPerOp, serverCpuUs } from "./_load_server_cpu.ts";
import { median } from "./_load_stats.ts";

/** Parameters of the catch-up scenario. */
export interface CatchupOptions {
  /** Messages written before reading (default 100,000). */
  messages: number;
  /** Bytes per message. */
  messageBytes: number;
  /** Concurrent appends while filling. */
  fillConcurrency: number;
  /** Number of timed full reads. */
  repeats: number;
  /** Give up filling or reading after this long. */
  timeoutMs: number;
  /** Server process whose CPU per MB read is reported, or null. */
  serverPid?: number | null;
}

/** GET requests allowed per full read (loop bound). */
export const READ_REQUESTS_MAX = 1_000_000;

interface ReadRun {
  bytes: number;
  requests: number;
  elapsedMs: number;
}

/** Fills a stream, reads it `repeats` times and returns median and best rows. */
export async function runCatchupScenario(
  target: Target,
  options: CatchupOptions,
  log: (line: string) => void,
): Promise<ScenarioResult[]> {
  const url = streamUrl(target, "catchup");
  const contentType = "application/octet-stream";
  await createStream(url, contentType);
  const fill = await fillStream(url, contentType, options);
  log(
    `catch-up: filled ${options.messages} messages in ${
      fill.elapsedMs.toFixed(0)
    } ms`,
  );
  const runs: ReadRun[] = [];
  const cpuBefore = serverCpuUs(options.serverPid ?? null);
  for (let i = 0; i < options.repeats; i++) {
    const run = await readToTail(url, options.timeoutMs);
    log(
      `catch-up: read ${run.bytes} bytes in ${run.requests} requests, ${
        run.elapsedMs.toFixed(1)
      } ms`,
    );
    runs.push(run);
  }
  const rows = catchupRows(options, runs, fill.elapsedMs);
  const mb = runs.reduce((sum, run) => sum + run.bytes, 0) / 1e6;
  // Reported on the median row: server CPU µs per MB over all the reads.
  rows[0].serverCpuUsPerOp = cpuUsPerOp(
    cpuBefore,
    serverCpuUs(options.serverPid ?? null),
    mb,
  );
  return rows;
}

function catchupRows(
  options: CatchupOptions,
  runs: readonly ReadRun[],
  fillMs: number,
): ScenarioResult[] {
  const expectedBytes = options.messages * options.messageBytes;
  const rates = runs.map((run) => run.bytes / 1e6 / (run.elapsedMs / 1000));
  const wrong = runs.filter((run) => run.bytes !== expectedBytes).length;
  const fillRate = options.messages / (fillMs / 1000);
  const count = options.messages.toLocaleString("en-US");
  const row = (id: string, what: string, rate: number): ScenarioResult => ({
    id,
    label: `catch-up read ${count} x ${options.messageBytes} B (${what})`,
    rate: finiteOrNull(rate),
    rateUnit: "MB/s",
    p50Ms: null,
    p99Ms: null,
    samples: runs.length,
    errors: wrong,
    notes:
      `${runs[0]?.requests ?? 0} GETs/read, fill ${
        Math.round(fillRate)
      } appends/s` +
      (wrong > 0 ? `, ${wrong} reads != ${expectedBytes} bytes` : ""),
  });
  return [
    row("catchup-median", "median", median(rates)),
    row("catchup-best", "best", Math.max(...rates)),
  ];
}

async function fillStream(
  url: string,
  contentType: string,
  options: CatchupOptions,
): Promise<{ elapsedMs: number }> {
  const body = randomBytes(options.messageBytes);
  // One failure aborts every filler, so none keeps appending into the next scenario.
  const stop = new AbortController();
  const signal = AbortSignal.any([
    stop.signal,
    AbortSignal.timeout(options.timeoutMs),
  ]);
  const startMs = performance.now();
  let issued = 0;
  async function filler(): Promise<void> {
    while (issued < options.messages && !signal.aborted) {
      issued += 1;
      const status = await append(url, contentType, body, signal);
      if (!isAppendOk(status)) {
        throw new Error(`Cannot fill "${url}": HTTP ${status}`);
      }
    }
  }
  const fillers = Array.from({ length: options.fillConcurrency }, filler);
  try {
    await Promise.all(fillers);
  } catch (error) {
    stop.abort();
    await Promise.allSettled(fillers);
    throw new Error(`Cannot fill "${url}" after ${issued} appends`, {
      cause: error,
    });
  }
  if (issued < options.messages) {
    throw new Error(`Cannot fill "${url}": timed out after ${issued} appends`);
  }
  return { elapsedMs: performance.now() - startMs };
}

async function readToTail(url: string, timeoutMs: number): Promise<ReadRun> {
  const startMs = performance.now();
  const signal = AbortSignal.timeout(timeoutMs);
  let offset = "-1";
  let bytes = 0;
  for (let requests = 1; requests <= READ_REQUESTS_MAX; requests++) {
    if (performance.now() - startMs > timeoutMs) break;
    // identity: measure the server's read path, not gzip (the reference server compresses >= 1 KiB).
    const res = await fetch(`${url}?offset=${encodeURIComponent(offset)}`, {
      headers: { "accept-encoding": "identity" },
      signal,
    });
    if (res.status !== 200) {
      await drain(res);
      throw new Error(
        `Cannot read "${url}" at offset ${offset}: HTTP ${res.status}`,
      );
    }
    bytes += await countBodyBytes(res);
    const next = res.headers.get(HEADER.nextOffset);
    if (res.headers.get(HEADER.upToDate)?.toLowerCase() === "true") {
      return { bytes, requests, elapsedMs: performance.now() - startMs };
    }
    if (next === null || next === offset) {
      throw new Error(
        `Cannot read "${url}": no progress past offset ${offset}`,
      );
    }
    offset = next;
  }
  throw new Error(
    `Cannot read "${url}" to its tail within ${timeoutMs} ms / ${READ_REQUESTS_MAX} requests`,
  );
}
