/**
 * @module
 * The set-up the search and rollup benchmarks share: numbers from the
 * environment, a stream of generated JSON records under a `search` section
 * on the in-memory WAL, companions over it cut into pretend uploaded
 * segments (built in process as the tier builds them), and timing by the
 * median of repeated runs with this process's CPU time.
 */

import { defaultConfig } from "../src/config.ts";
import type { Engine } from "../src/engine/engine.ts";
import {
  buildCompanion,
  type CompanionRecord,
  decodeCompanion,
  encodeCompanion,
} from "../src/search/companion.ts";
import { validateSearchConfig } from "../src/search/config.ts";
import { type CompanionEntry, hashOf } from "../src/tier/companions.ts";
import {
  appendJson,
  jsonCompanionRecord,
  openSearchStream,
} from "../test/_search_stream.ts";

/** The integer in env `name`, or `fallback` when unset. */
export function envInt(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  return v === undefined ? fallback : Number.parseInt(v, 10);
}

/** Stops the benchmark: `what` went wrong, with `error` as JSON. */
export function fail(what: string, error: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(error)}`);
}

/** Records per append while seeding. */
const SEED_BATCH = 1000;

/**
 * The JSON stream `name` under `search` holding `count` records made by
 * `record`, appended in batches of 1,000, on an engine whose reads return
 * up to 1 MiB; `bytes` is the stream's stored size.
 */
export async function seedStream(
  name: string,
  search: unknown,
  count: number,
  record: (i: number) => unknown,
): Promise<{ engine: Engine; bytes: number }> {
  const limits = { ...defaultConfig().limits, readBytesMax: 1 << 20 };
  const engine = await openSearchStream(name, search, limits);
  let bytes = 0;
  for (let i = 0; i < count; i += SEED_BATCH) {
    const batch = Array.from(
      { length: Math.min(SEED_BATCH, count - i) },
      (_, k) => record(i + k),
    );
    bytes = await appendJson(engine, name, batch);
  }
  return { engine, bytes };
}

/** How `pretendCompanions` cuts and builds. */
export interface PretendOptions {
  /** Stored bytes per pretend segment (a segment ends past them). */
  segmentBytes: number;
  /** Stored bytes per companion block. */
  blockBytes: number;
  /** Give text fields tokens (the tier builds without). */
  analyze: boolean;
  /** Keep each parsed record (rollup `summary_parts` measures read it). */
  keepRecord: boolean;
}

/**
 * A companion per `segmentBytes` of the stream `seedStream` wrote (the same
 * `count` records from `record`), encoded and decoded again; `bytes` is
 * their encoded size and `buildMs` the time to make the records again and
 * build them.
 */
export function pretendCompanions(
  search: unknown,
  count: number,
  record: (i: number) => unknown,
  options: PretendOptions,
): { entries: CompanionEntry[]; bytes: number; buildMs: number } {
  const checked = validateSearchConfig(search);
  if (!checked.ok) fail("config", checked.error);
  const config = checked.value;
  const hash = hashOf(config);
  const t0 = performance.now();
  const entries: CompanionEntry[] = [];
  let bytes = 0;
  let pos = 0;
  let records: CompanionRecord[] = [];
  const flush = () => {
    if (records.length === 0) return;
    const segment = { startPos: records[0].startPos, endPos: pos };
    const encoded = encodeCompanion(
      buildCompanion(config, 1, segment, records, options.blockBytes),
    );
    bytes += encoded.length;
    entries.push({
      hash,
      ...segment,
      companion: decodeCompanion(encoded),
      bytes: encoded.length,
    });
    records = [];
  };
  for (let i = 0; i < count; i++) {
    const next = jsonCompanionRecord(config, record(i), pos, options);
    records.push(next);
    pos = next.endPos;
    if (pos - records[0].startPos >= options.segmentBytes) flush();
  }
  flush();
  return { entries, bytes, buildMs: performance.now() - t0 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** This process's CPU time so far (user + system), in ms. */
function cpuMs(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 (1-based), in clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Median wall ms of `reps` runs after a warm-up, and CPU ms per run. */
export async function timed(
  run: () => Promise<unknown>,
  reps: number,
): Promise<{ wallMs: number; cpuMs: number }> {
  await run(); // warm-up
  const times: number[] = [];
  const cpu0 = cpuMs();
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return { wallMs: median(times), cpuMs: (cpuMs() - cpu0) / reps };
}
