/**
 * @module
 * Command-line flags of bench/load.ts, parsed into a typed, range-checked
 * {@linkcode LoadOptions}. compare.ts reuses {@linkcode parseLoadArgs} with a
 * placeholder URL to validate the flags it passes through.
 */

import { parseArgs } from "node:util";

/** Parsed flag values as `node:util` parseArgs returns them. */
export type FlagValues = Record<
  string,
  string | boolean | string[] | undefined
>;

/** Everything bench/load.ts needs to run. */
export interface LoadOptions {
  /** Server base URL (loopback only); streams live at `URL/v1/stream/<name>`. */
  url: string;
  /** Measured length of each append scenario. @default 5000 */
  durationMs: number;
  /** Unmeasured warm-up before each append scenario. @default min(1000, durationMs / 5) */
  warmupMs: number;
  /** Concurrent writers in the throughput scenarios. @default 16 */
  writers: number;
  /** Streams in the "many streams" throughput scenarios. @default 64 */
  streams: number;
  /** Also print machine-readable JSON to stdout. */
  json: boolean;
  /** Scenario ids or id prefixes to run; empty means all. */
  only: string[];
  /** Messages written before the catch-up reads. @default 100000 */
  catchupMessages: number;
  /** Timed full reads in the catch-up scenario. @default 5 */
  catchupRepeats: number;
  /** Appends made by the writer in each live scenario. @default 100 */
  liveIterations: number;
  /** Unmeasured appends before the measured ones in each live scenario. @default 10 */
  liveWarmup: number;
  /** Gap between live appends. @default 20 */
  liveIntervalMs: number;
  /** Reader counts for the live scenarios. @default [1, 100] */
  liveReaders: number[];
  /** Client processes the live readers are spread over. @default 1 */
  readerProcesses: number;
  /** Client of the timed appends and long-poll reads. @default "raw" */
  client: "raw" | "fetch";
  /** Server process on this machine whose CPU per append is reported, or null. */
  serverPid: number | null;
}

/** Flag definitions shared with compare.ts (which adds its own). */
export const LOAD_FLAGS = {
  url: { type: "string" },
  "duration-ms": { type: "string" },
  "warmup-ms": { type: "string" },
  writers: { type: "string" },
  streams: { type: "string" },
  json: { type: "boolean" },
  only: { type: "string" },
  "catchup-messages": { type: "string" },
  "catchup-repeats": { type: "string" },
  "live-iterations": { type: "string" },
  "live-interval-ms": { type: "string" },
  "live-warmup": { type: "string" },
  "live-readers": { type: "string" },
  client: { type: "string" },
  "reader-processes": { type: "string" },
  "server-pid": { type: "string" },
  help: { type: "boolean" },
} as const;

/** Usage text for bench/load.ts. */
export const LOAD_USAGE =
  `Usage: deno task bench:load -- --url http://127.0.0.1:PORT [flags]
  --duration-ms N        measured time per append scenario (default 5000)
  --warmup-ms N          warm-up per append scenario (default min(1000, duration/5))
  --writers N            concurrent writers (default 16)
  --streams N            streams in the many-stream scenarios (default 64)
  --only a,b             scenario ids or prefixes: append, append-json-1, append-json-64,
                         append-bin-1, append-bin-64, single-append, catchup, live,
                         live-longpoll-1, live-longpoll-100, live-sse-1, live-sse-100
  --catchup-messages N   messages in the catch-up stream (default 100000)
  --catchup-repeats N    timed full reads (default 5)
  --live-iterations N    measured appends per live scenario (default 100)
  --live-warmup N        unmeasured appends first, per live scenario (default 10)
  --live-interval-ms N   gap between live appends (default 20)
  --live-readers a,b     reader counts for live scenarios (default 1,100)
  --reader-processes N   spread live readers over N client processes (default 1:
                         all in the benchmark process, beside the writer)
  --client raw|fetch     HTTP client of appends and long-poll reads (default raw:
                         one keep-alive socket each, little client CPU; fetch:
                         Deno's fetch, 50-70 us of client CPU per request)
  --server-pid N         the server's process id (same machine): append rows then
                         report its CPU per append, from /proc/N/stat
  --json                 also print JSON results to stdout`;

/** Drops a leading `--` that `deno task x -- flags` may pass through. */
export function stripDashDash(args: readonly string[]): string[] {
  return args[0] === "--" ? args.slice(1) : [...args];
}

/** Parses load flags; throws an Error describing the first bad flag. */
export function parseLoadArgs(args: readonly string[]): LoadOptions {
  const { values } = parseArgs({
    args: stripDashDash(args),
    options: LOAD_FLAGS,
    strict: true,
  });
  return loadOptionsFrom(values);
}

/** Builds {@linkcode LoadOptions} from parsed flag values. */
export function loadOptionsFrom(
  values: FlagValues,
): LoadOptions {
  const url = values.url;
  if (typeof url !== "string" || url === "") {
    throw new Error("Missing required flag --url");
  }
  const durationMs = intFlag(values, "duration-ms", 5000, 100, 600_000);
  const client = values.client ?? "raw";
  if (client !== "raw" && client !== "fetch") {
    throw new Error(`Invalid --client "${client}": expected raw or fetch`);
  }
  return {
    url,
    durationMs,
    warmupMs: intFlag(
      values,
      "warmup-ms",
      Math.min(1000, Math.round(durationMs / 5)),
      0,
      60_000,
    ),
    writers: intFlag(values, "writers", 16, 1, 1024),
    streams: intFlag(values, "streams", 64, 1, 10_000),
    json: values.json === true,
    only: listFlag(values.only),
    catchupMessages: intFlag(
      values,
      "catchup-messages",
      100_000,
      1,
      10_000_000,
    ),
    catchupRepeats: intFlag(values, "catchup-repeats", 5, 1, 100),
    liveIterations: intFlag(values, "live-iterations", 100, 1, 100_000),
    liveWarmup: intFlag(values, "live-warmup", 10, 0, 10_000),
    liveIntervalMs: intFlag(values, "live-interval-ms", 20, 1, 10_000),
    liveReaders: listFlag(values["live-readers"] ?? "1,100").map((item) =>
      parseIntIn("--live-readers", item, 1, 1000)
    ),
    readerProcesses: intFlag(values, "reader-processes", 1, 1, 64),
    client,
    serverPid: values["server-pid"] === undefined
      ? null
      : intFlag(values, "server-pid", 0, 1, 2 ** 31 - 1),
  };
}

function listFlag(value: FlagValues[string]): string[] {
  if (typeof value !== "string") return [];
  return value.split(",").map((item) => item.trim()).filter((item) =>
    item !== ""
  );
}

function intFlag(
  values: FlagValues,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  return parseIntIn(`--${name}`, String(raw), min, max);
}

function parseIntIn(
  name: string,
  raw: string,
  min: number,
  max: number,
): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(
      `Invalid ${name} "${raw}": expected an integer in ${min}..${max}`,
    );
  }
  return value;
}
