/**
 * @module
 * Live readers spread over child processes (`--reader-processes N`). One
 * client process handles a hundred readers' responses one after another, so
 * the last reader's latency includes the client's own queue; with the
 * readers in several processes that work runs in parallel, as it does when
 * readers are separate clients. Each child (bench/_load_live_child.ts) runs
 * its share with the same reader loops and reports, on stdout, `ready`,
 * `done` (it saw every message) and at `stop` one `result` line with its
 * observations in wall-clock milliseconds, which this module moves into
 * this process's `performance.now()` clock.
 */

import { fileURLToPath } from "node:url";
import type { Target } from "./_load_client.ts";
import {
  type LiveMode,
  type LiveOptions,
  newStats,
  type Reader,
  type ReaderGroup,
  type ReaderStats,
  SETTLE_MS,
} from "./_load_live.ts";

/** Longest wait for a child to start and park its readers. */
const CHILD_START_MS = 60_000;
const CHILD_SCRIPT = fileURLToPath(
  new URL("./_load_live_child.ts", import.meta.url),
);

/** What a child is told to do (its one argument, as JSON). */
export interface ChildSpec {
  /** Server base URL. */
  baseUrl: string;
  /** Client kind. */
  client: Target["client"];
  /** Stream URL. */
  url: string;
  /** Offset the readers start from. */
  startOffset: string;
  /** Long-poll or SSE. */
  mode: LiveMode;
  /** Readers in this child. */
  count: number;
  /** Messages the writer sends, warm-up included. */
  iterations: number;
  /** Ready wait. */
  readyMs: number;
}

/** A child's `result` line. */
export interface ChildResult {
  /** The child's `performance.timeOrigin`. */
  origin: number;
  /** Per reader, per message: `performance.now()` in the child, or null. */
  seen: (number | null)[][];
  /** The child's counters. */
  stats: ReaderStats;
}

interface Child {
  process: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  ready: Promise<void>;
  done: Promise<void>;
  result: Promise<ChildResult>;
}

/** Starts the children; {@linkcode ReaderGroup.ready} waits for them. */
export function startReaderProcesses(
  target: Target,
  url: string,
  startOffset: string,
  mode: LiveMode,
  count: number,
  options: LiveOptions,
): ReaderGroup {
  const processes = Math.min(options.readerProcesses, count);
  const children = Array.from({ length: processes }, (_, i) => {
    const share = Math.floor(count / processes) +
      (i < count % processes ? 1 : 0);
    return spawnChild({
      baseUrl: target.baseUrl,
      client: target.client,
      url,
      startOffset,
      mode,
      count: share,
      iterations: options.iterations,
      readyMs: options.readyMs,
    });
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await Promise.all(children.map(stopChild));
  };
  return {
    async ready() {
      await withTimeout(
        Promise.all(children.map((c) => c.ready)),
        CHILD_START_MS,
        "reader processes did not start",
      );
    },
    async drained(_wanted, drainMs) {
      await withTimeout(
        Promise.all(children.map((c) => c.done)),
        drainMs,
        "",
      ).catch(() => {}); // a missed message is reported by the row
    },
    async collect() {
      for (const child of children) await send(child, "stop\n");
      const results = await withTimeout(
        Promise.all(children.map((c) => c.result)),
        SETTLE_MS * 5,
        "reader processes did not report",
      );
      const readers: Reader[] = [];
      const stats = newStats();
      for (const result of results) {
        const shift = result.origin - performance.timeOrigin;
        for (const seen of result.seen) {
          readers.push({
            seenMs: Float64Array.from(
              seen,
              (ms) => ms === null ? NaN : ms + shift,
            ),
            ready: true,
          });
        }
        for (const key of Object.keys(stats) as (keyof ReaderStats)[]) {
          stats[key] += result.stats[key];
        }
      }
      return { readers, stats };
    },
    stop,
  };
}

function spawnChild(spec: ChildSpec): Child {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", CHILD_SCRIPT, JSON.stringify(spec)],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const ready = Promise.withResolvers<void>();
  const done = Promise.withResolvers<void>();
  const result = Promise.withResolvers<ChildResult>();
  (async () => {
    for await (const line of lines(process.stdout)) {
      if (line === "ready") ready.resolve();
      else if (line === "done") done.resolve();
      else if (line.startsWith("result ")) {
        result.resolve(JSON.parse(line.slice(7)) as ChildResult);
      }
    }
    const gone = new Error("reader process exited early");
    ready.reject(gone);
    done.reject(gone);
    result.reject(gone);
  })();
  // Nobody may wait on these; a rejection must not be unhandled.
  for (const p of [ready.promise, done.promise, result.promise]) {
    p.catch(() => {});
  }
  return {
    process,
    stdin: process.stdin.getWriter(),
    ready: ready.promise,
    done: done.promise,
    result: result.promise,
  };
}

async function send(child: Child, text: string): Promise<void> {
  try {
    await child.stdin.write(new TextEncoder().encode(text));
  } catch {
    // the child is gone; collect() reports it
  }
}

async function stopChild(child: Child): Promise<void> {
  await child.stdin.close().catch(() => {});
  const exited = await Promise.race([
    child.process.status.then(() => true),
    new Promise<false>((resolve) => {
      const timer = setTimeout(() => resolve(false), SETTLE_MS);
      child.process.status.finally(() => clearTimeout(timer));
    }),
  ]);
  if (!exited) {
    try {
      child.process.kill("SIGKILL");
    } catch {
      // already exited
    }
    await child.process.status;
  }
}

async function* lines(stream: ReadableStream<Uint8Array>) {
  let buffered = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
    }
  }
  if (buffered !== "") yield buffered;
}

async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  message: string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
