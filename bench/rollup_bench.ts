/**
 * `_aggregate` of a 24 h window at 1 m from rollup (`agg`) sections against
 * the same request folded from source records, in one process and one run:
 * `RECORDS` (default 50,000) JSON log records `SPACING_MS` (2 s) apart (28 h)
 * on the in-memory WAL store, cut into pretend uploaded segments of
 * `SEGMENT_BYTES` with a companion each (built here as the tier builds
 * them). Each case is timed `REPS` times (median wall time, and the
 * process's CPU time per run from /proc/self/stat) with the companions
 *
 * consulted and without; both answers are checked equal. A case that runs
 * out of the 3 s budget (a 408 over HTTP) is reported with `>`.
 *
 * Run: `deno run -A bench/rollup_bench.ts` (env `RECORDS`, `SPACING_MS`,
 * `REPS`, `SEGMENT_BYTES`). Not part of `deno task test`.
 */

import { defaultConfig } from "../src/config.ts";
import { Engine } from "../src/engine/engine.ts";
import { createLogger } from "../src/log.ts";
import {
  buildCompanion,
  type CompanionRecord,
  decodeCompanion,
  encodeCompanion,
} from "../src/search/companion.ts";
import { validateSearchConfig } from "../src/search/config.ts";
import { extractFields } from "../src/search/extract.ts";
import { MemoryStore, MemoryWal } from "../src/storage/memory_store.ts";
import {
  type CompanionEntry,
  companionPruner,
  hashOf,
} from "../src/tier/companions.ts";

function envInt(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  return v === undefined ? fallback : Number.parseInt(v, 10);
}

const RECORDS = envInt("RECORDS", 50_000);
/** Time between records: 2 s puts 50,000 records over 27.8 h. */
const SPACING_MS = envInt("SPACING_MS", 2000);
const REPS = envInt("REPS", 5);
const SEGMENT_BYTES = envInt("SEGMENT_BYTES", 256 * 1024);
const BLOCK_BYTES = 16 * 1024;
const BATCH = 1000;
const HOUR = 3_600_000;
const BASE_MS = Date.UTC(2026, 11, 1, 0, 0, 0);
const enc = new TextEncoder();

function record(i: number) {
  const services = ["api", "web", "db", "auth", "billing"];
  return {
    ts: new Date(BASE_MS + i * SPACING_MS).toISOString(),
    service: services[i % 5],
    status: i % 997 === 0 ? 500 : i % 13 === 0 ? 404 : 200,
    latency: (i * 7919) % 2000,
    message: `request ${i % 50} served`,
  };
}

const SEARCH = {
  primaryTimestampField: "ts",
  fields: {
    ts: {
      kind: "date",
      bindings: [{ version: 1, jsonPointer: "/ts" }],
      column: true,
    },
    service: {
      kind: "keyword",
      bindings: [{ version: 1, jsonPointer: "/service" }],
      exact: true,
    },
    status: {
      kind: "integer",
      bindings: [{ version: 1, jsonPointer: "/status" }],
      exact: true,
      column: true,
    },
    latency: {
      kind: "integer",
      bindings: [{ version: 1, jsonPointer: "/latency" }],
      column: true,
      aggregatable: true,
    },
  },
  rollups: {
    requests: {
      dimensions: ["service"],
      intervals: ["1m", "1h"],
      measures: {
        n: { kind: "count" },
        errors: { kind: "count", include: "status:>=500" },
        latency: { kind: "summary", field: "latency" },
      },
    },
  },
};

function fail(what: string, error: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(error)}`);
}

async function seed(): Promise<{ engine: Engine; bytes: number }> {
  const engine = await Engine.open(new MemoryStore(new MemoryWal()), {
    limits: { ...defaultConfig().limits, readBytesMax: 1 << 20 },
    log: createLogger("error"),
    onFatal: (e) => {
      throw e;
    },
  });
  const created = await engine.create("logs", {
    contentType: "application/json",
    ttlSeconds: undefined,
    expiresAtMs: undefined,
    closed: false,
    body: new Uint8Array(),
    fork: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  });
  if (!created.ok) fail("create", created.error);
  const schema = await engine.updateSchema("logs", {
    schema: { type: "object" },
    search: SEARCH,
  });
  if (!schema.ok) fail("schema", schema.error);
  let tail = 0;
  for (let i = 0; i < RECORDS; i += BATCH) {
    const batch = Array.from(
      { length: Math.min(BATCH, RECORDS - i) },
      (_, k) => record(i + k),
    );
    const appended = await engine.append("logs", {
      contentType: "application/json",
      body: enc.encode(JSON.stringify(batch)),
      close: false,
      streamSeq: undefined,
      producer: undefined,
      routingKey: undefined,
      timestampMs: undefined,
    });
    if (!appended.ok) fail("append", appended.error);
    tail = appended.value.nextPos;
  }
  return { engine, bytes: tail };
}

/** A companion per `SEGMENT_BYTES` of the stream, as the tier builds them. */
function companions(): { entries: CompanionEntry[]; bytes: number } {
  const checked = validateSearchConfig(SEARCH);
  if (!checked.ok) fail("config", checked.error);
  const config = checked.value;
  const entries: CompanionEntry[] = [];
  let bytes = 0;
  let pos = 0;
  let records: CompanionRecord[] = [];
  const flush = () => {
    if (records.length === 0) return;
    const segment = { startPos: records[0].startPos, endPos: pos };
    const encoded = encodeCompanion(
      buildCompanion(config, 1, segment, records, BLOCK_BYTES),
    );
    bytes += encoded.length;
    entries.push({
      hash: hashOf(config),
      ...segment,
      companion: decodeCompanion(encoded),
      bytes: encoded.length,
    });
    records = [];
  };
  for (let i = 0; i < RECORDS; i++) {
    const value = record(i);
    const length = enc.encode(JSON.stringify(value)).length + 1;
    records.push({
      startPos: pos,
      endPos: pos + length,
      doc: extractFields(config, value, 1),
      record: value,
    });
    pos += length;
    if (pos - records[0].startPos >= SEGMENT_BYTES) flush();
  }
  flush();
  return { entries, bytes };
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

/** Median wall ms of `REPS` runs after a warm-up, and CPU ms per run. */
async function timed(
  run: () => Promise<unknown>,
): Promise<{ wallMs: number; cpuMs: number }> {
  await run(); // warm-up
  const times: number[] = [];
  const cpu0 = cpuMs();
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return { wallMs: median(times), cpuMs: (cpuMs() - cpu0) / REPS };
}

const ALL = { splitPos: 0, publishedPos: Infinity };

/** Answers `body`; the buckets as JSON only when `render` (not timed). */
async function aggregate(
  engine: Engine,
  body: Record<string, unknown>,
  render = false,
): Promise<{ json: string; used: boolean; timedOut: boolean }> {
  const r = await engine.aggregate("logs", body, ALL);
  if (!r.ok) fail("aggregate", r.error);
  return {
    json: render ? JSON.stringify(r.value.buckets) : "",
    used: r.value.usedRollups,
    timedOut: r.value.timedOut,
  };
}

const { engine, bytes } = await seed();
const built = companions();
if (built.entries.at(-1)?.endPos !== bytes) {
  fail("companions", "positions do not match the stored stream");
}
console.log(
  `${RECORDS} records over ${(RECORDS * SPACING_MS / HOUR).toFixed(1)} h, ${
    (bytes / (1 << 20)).toFixed(1)
  } MiB stored, ${built.entries.length} companions (${
    (100 * built.bytes / bytes).toFixed(1)
  }% of stored bytes), median of ${REPS}; load average ${
    Deno.loadavg()[0].toFixed(1)
  }`,
);
const rollups = companionPruner((id) =>
  id === engine.view("logs")!.id ? built.entries : undefined
);
const window = (fromMs: number, toMs: number, extra = {}) => ({
  rollup: "requests",
  from: fromMs,
  to: toMs,
  interval: "1m",
  group_by: ["service"],
  ...extra,
});
const day = [BASE_MS + HOUR, BASE_MS + 25 * HOUR] as const;
const cases: [string, Record<string, unknown>][] = [
  ["24 h at 1m by service, aligned", window(...day)],
  [
    "24 h at 1m by service, counts only",
    window(...day, { measures: ["n", "errors"] }),
  ],
  [
    "24 h at 1m by service, edges 30 s off",
    window(day[0] + 30_000, day[1] + 30_000),
  ],
  ["24 h at 1m, q=service:api", window(...day, { q: "service:api" })],
  ["24 h at 1h by service", { ...window(...day), interval: "1h" }],
];
console.log(
  "| case | source ms | rollups ms | ratio | source CPU ms | rollups CPU ms | CPU ratio |",
);
console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
for (const [name, body] of cases) {
  engine.setSearchPruner(() => undefined);
  const plain = await aggregate(engine, body, true);
  let slow = plain.timedOut;
  const source = await timed(async () => {
    const r = await aggregate(engine, body);
    slow ||= r.timedOut;
  });
  engine.setSearchPruner(rollups);
  const fast = await aggregate(engine, body, true);
  if (!fast.used || fast.timedOut) fail(name, "rollups not used or timed out");
  if (!slow && fast.json !== plain.json) fail(name, "answers differ");
  const rolled = await timed(() => aggregate(engine, body));
  const more = slow ? ">" : "";
  console.log(
    `| ${name} | ${more}${source.wallMs.toFixed(1)} | ${
      rolled.wallMs.toFixed(1)
    } | ${more}${(source.wallMs / rolled.wallMs).toFixed(1)} | ${more}${
      source.cpuMs.toFixed(0)
    } | ${rolled.cpuMs.toFixed(0)} | ${more}${
      (source.cpuMs / Math.max(rolled.cpuMs, 1)).toFixed(1)
    } |`,
  );
}
await engine.close();
