/**
 * @module
 * Ack-to-delivery latency: R live readers (long-poll or SSE) wait at the tail
 * of a JSON stream while one writer appends `{"i":n,"t":sendMs,...}` every
 * ~20 ms. Latency is reader-sees-message minus the writer's POST ack time;
 * it can be negative when a reader hears of a message before its ack lands.
 */

import {
  type Appender,
  createStream,
  drain,
  type Getter,
  HEADER,
  isAppendOk,
  makeAppender,
  makeGetter,
  settlesWithin,
  sleep,
  streamUrl,
  type Target,
} from "./_load_client.ts";
import {
  finiteOrNull,
  formatNumber,
  type ScenarioResult,
} from "./_load_report.ts";
import { parseSse } from "./_load_sse.ts";
import { startReaderProcesses } from "./_load_live_processes.ts";
import { SampleRecorder } from "./_load_stats.ts";

/** Live reading mode (PROTOCOL.md §5.7, §5.8). */
export type LiveMode = "long-poll" | "sse";

/** Parameters of one live scenario. */
export interface LiveOptions {
  /** Appends made by the writer. */
  iterations: number;
  /**
   * The first this-many appends warm both sides up and are not measured
   * (one cold round would otherwise be the whole p99: a round is 1% of the
   * samples with 100 readers and 100 appends).
   */
  warmup: number;
  /** Gap between appends. */
  intervalMs: number;
  /** Wait at most this long after the last ack for readers to catch up. */
  drainMs: number;
  /** Wait at most this long for readers to be parked at the tail. */
  readyMs: number;
  /**
   * Client processes the readers are spread over; 1 runs them in this
   * process, beside the writer.
   */
  readerProcesses: number;
}

/** Requests (long-poll) or connections (SSE) per reader (loop bound). */
export const READER_REQUESTS_MAX = 100_000;
/** Longest wait for aborted readers to finish. */
export const SETTLE_MS = 2000;
/** Longest wait for any one append to be acknowledged. */
export const APPEND_TIMEOUT_MS = 10_000;
const JSON_TYPE = "application/json";

/** Counters shared by the readers of one group. */
export interface ReaderStats {
  timeouts: number;
  errors: number;
  reconnects: number;
  delivered: number;
  ready: number;
}

/** One reader's observations. */
export interface Reader {
  /** Time each message index was first seen (NaN = not yet). */
  seenMs: Float64Array;
  ready: boolean;
}

/** What a reader loop needs. */
export interface ReaderContext {
  url: string;
  get: Getter;
  startOffset: string;
  reader: Reader;
  stats: ReaderStats;
  signal: AbortSignal;
}

/** Runs one live scenario and returns its row. */
export async function runLiveScenario(
  target: Target,
  mode: LiveMode,
  readerCount: number,
  options: LiveOptions,
): Promise<ScenarioResult> {
  const id = `live-${mode.replace("-", "")}-${readerCount}`;
  const url = streamUrl(target, id);
  const startOffset = await createStream(url, JSON_TYPE);
  const start = options.readerProcesses > 1
    ? startReaderProcesses
    : startReadersHere;
  const group = start(target, url, startOffset, mode, readerCount, options);
  try {
    await group.ready();
    const writes = await writeMessages(url, makeAppender(target), options);
    await group.drained(readerCount * writes.acked, options.drainMs);
    const { readers, stats } = await group.collect();
    const row = liveRow(id, mode, readers, writes, stats, options.warmup);
    if (options.readerProcesses > 1) {
      row.notes += `; readers in ${options.readerProcesses} processes`;
    }
    return row;
  } finally {
    await group.stop();
  }
}

/** Readers running somewhere, observed in this process's clock. */
export interface ReaderGroup {
  /** Resolves once the readers are parked (or the ready wait ran out). */
  ready(): Promise<void>;
  /** Resolves once `wanted` deliveries were seen or `drainMs` passed. */
  drained(wanted: number, drainMs: number): Promise<void>;
  /** Stops the readers and returns what they saw. */
  collect(): Promise<{ readers: Reader[]; stats: ReaderStats }>;
  /** Stops everything (idempotent, bounded). */
  stop(): Promise<void>;
}

/** Fresh zeroed counters. */
export function newStats(): ReaderStats {
  return { timeouts: 0, errors: 0, reconnects: 0, delivered: 0, ready: 0 };
}

/** Starts `count` reader loops in this process; see {@linkcode ReaderGroup}. */
export function startReadersHere(
  target: Target,
  url: string,
  startOffset: string,
  mode: LiveMode,
  count: number,
  options: Pick<LiveOptions, "iterations" | "readyMs">,
): ReaderGroup {
  const stats = newStats();
  const controller = new AbortController();
  const readers: Reader[] = Array.from({ length: count }, () => ({
    seenMs: new Float64Array(options.iterations).fill(NaN),
    ready: false,
  }));
  const loop = mode === "sse" ? sseReader : longPollReader;
  const running = readers.map((reader) =>
    loop({
      url,
      get: makeGetter(target),
      startOffset,
      reader,
      stats,
      signal: controller.signal,
    })
  );
  const stop = async () => {
    controller.abort();
    // Bounded: a reader that ignores the abort must not hang the run.
    await settlesWithin(Promise.allSettled(running), SETTLE_MS);
  };
  return {
    ready: () => waitReady(mode, stats, count, options.readyMs),
    async drained(wanted, drainMs) {
      const endMs = performance.now() + drainMs;
      while (stats.delivered < wanted && performance.now() < endMs) {
        await sleep(5);
      }
    },
    async collect() {
      await stop();
      return { readers, stats };
    },
    stop,
  };
}

/** Resolves when the readers can be assumed parked at the tail. */
export async function waitReady(
  mode: LiveMode,
  stats: ReaderStats,
  readerCount: number,
  readyMs: number,
): Promise<void> {
  if (mode === "long-poll") {
    // A long-poll reader cannot tell when the server has parked it; give the requests time to arrive.
    await sleep(Math.min(readyMs, 300));
    return;
  }
  const endMs = performance.now() + readyMs;
  while (stats.ready < readerCount && performance.now() < endMs) await sleep(5);
}

interface Writes {
  sendMs: Float64Array;
  ackMs: Float64Array;
  acked: number;
  errors: number;
}

async function writeMessages(
  url: string,
  append: Appender,
  options: LiveOptions,
): Promise<Writes> {
  const writes: Writes = {
    sendMs: new Float64Array(options.iterations).fill(NaN),
    ackMs: new Float64Array(options.iterations).fill(NaN),
    acked: 0,
    errors: 0,
  };
  const startMs = performance.now();
  for (let i = 0; i < options.iterations; i++) {
    const sendMs = performance.now();
    const body = JSON.stringify({ i, t: sendMs, pad: "x".repeat(60) });
    try {
      const status = await append(
        url,
        JSON_TYPE,
        body,
        AbortSignal.timeout(APPEND_TIMEOUT_MS),
      );
      if (!isAppendOk(status)) throw new Error(`HTTP ${status}`);
      writes.ackMs[i] = performance.now();
      writes.sendMs[i] = sendMs;
      writes.acked += 1;
    } catch {
      writes.errors += 1;
    }
    await sleep(startMs + (i + 1) * options.intervalMs - performance.now());
  }
  return writes;
}

function liveRow(
  id: string,
  mode: LiveMode,
  readers: readonly Reader[],
  writes: Writes,
  stats: ReaderStats,
  warmup: number,
): ScenarioResult {
  const ackToSeen = new SampleRecorder();
  const sendToSeen = new SampleRecorder();
  let missed = 0;
  let early = 0;
  for (const reader of readers) {
    for (let i = warmup; i < writes.ackMs.length; i++) {
      if (Number.isNaN(writes.ackMs[i])) continue;
      const seenMs = reader.seenMs[i];
      if (Number.isNaN(seenMs)) {
        missed += 1;
        continue;
      }
      if (seenMs < writes.ackMs[i]) early += 1;
      ackToSeen.add(seenMs - writes.ackMs[i]);
      sendToSeen.add(seenMs - writes.sendMs[i]);
    }
  }
  const ack = ackToSeen.summary();
  const send = sendToSeen.summary();
  const notes = [
    `send->seen p50 ${formatNumber(finiteOrNull(send.p50Ms))} p99 ${
      formatNumber(finiteOrNull(send.p99Ms))
    } ms`,
    `seen before ack ${early}`,
    mode === "long-poll"
      ? `204s ${stats.timeouts}`
      : `reconnects ${stats.reconnects}`,
  ];
  if (missed > 0) notes.push(`missed ${missed}`);
  if (writes.errors + stats.errors > 0) {
    notes.push(`append errors ${writes.errors}, reader errors ${stats.errors}`);
  }
  return {
    id,
    label: `ack->delivery ${mode} x${readers.length} readers`,
    rate: null,
    rateUnit: "",
    p50Ms: finiteOrNull(ack.p50Ms),
    p99Ms: finiteOrNull(ack.p99Ms),
    samples: ack.count,
    errors: missed + writes.errors,
    notes: notes.join("; "),
  };
}

function recordMessages(
  ctx: ReaderContext,
  payload: string,
  seenMs: number,
): void {
  const parsed: unknown = JSON.parse(payload);
  const messages = Array.isArray(parsed) ? parsed : [parsed];
  for (const message of messages) {
    const index = (message as { i?: unknown })?.i;
    if (
      typeof index !== "number" || index < 0 ||
      index >= ctx.reader.seenMs.length
    ) continue;
    if (!Number.isNaN(ctx.reader.seenMs[index])) continue;
    ctx.reader.seenMs[index] = seenMs;
    ctx.stats.delivered += 1;
  }
}

/** Long-polls from `ctx.startOffset` until aborted, recording what it sees. */
export async function longPollReader(ctx: ReaderContext): Promise<void> {
  let offset = ctx.startOffset;
  let cursor: string | null = null;
  for (
    let request = 0;
    request < READER_REQUESTS_MAX && !ctx.signal.aborted;
    request++
  ) {
    // Query parameters in lexicographic order (PROTOCOL.md §10, client SHOULD).
    const query: string =
      (cursor === null ? "" : `cursor=${encodeURIComponent(cursor)}&`) +
      `live=long-poll&offset=${encodeURIComponent(offset)}`;
    try {
      const res = await ctx.get(`${ctx.url}?${query}`, ctx.signal);
      if (res.status === 200) {
        recordMessages(ctx, res.text, performance.now());
      } else if (res.status === 204) {
        ctx.stats.timeouts += 1;
      } else {
        throw new Error(`HTTP ${res.status}`);
      }
      offset = res.header(HEADER.nextOffset) ?? offset;
      cursor = res.header(HEADER.cursor) ?? cursor;
    } catch {
      if (ctx.signal.aborted) return;
      ctx.stats.errors += 1;
      await sleep(50, ctx.signal);
    }
  }
}

/** Follows SSE from `ctx.startOffset` until aborted, recording what it sees. */
export async function sseReader(ctx: ReaderContext): Promise<void> {
  let offset = ctx.startOffset;
  for (
    let connect = 0;
    connect < READER_REQUESTS_MAX && !ctx.signal.aborted;
    connect++
  ) {
    try {
      const res = await fetch(
        `${ctx.url}?live=sse&offset=${encodeURIComponent(offset)}`,
        { signal: ctx.signal },
      );
      if (res.status !== 200 || res.body === null) {
        await drain(res);
        throw new Error(`HTTP ${res.status}`);
      }
      if (connect > 0) ctx.stats.reconnects += 1;
      for await (const event of parseSse(res.body, ctx.signal)) {
        if (event.type === "data") {
          recordMessages(ctx, event.data, performance.now());
        }
        if (event.type !== "control") continue;
        const control = JSON.parse(event.data) as {
          streamNextOffset?: string;
          streamClosed?: boolean;
        };
        offset = control.streamNextOffset ?? offset;
        markReady(ctx);
        if (control.streamClosed === true) return;
      }
    } catch {
      if (ctx.signal.aborted) return;
      ctx.stats.errors += 1;
      await sleep(50, ctx.signal);
    }
  }
}

function markReady(ctx: ReaderContext): void {
  if (ctx.reader.ready) return;
  ctx.reader.ready = true;
  ctx.stats.ready += 1;
}
