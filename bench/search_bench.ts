/**
 * `filter=` reads, `_search` and `_aggregate` by scanning source records, in
 * process, on the in-memory WAL store, then a few selective queries with and
 * without companions (built here over the stream cut into pretend segments,
 * `SEGMENT_BYTES`, blocks of each size in `BLOCK_BYTES`, default 4 KiB and
 * 16 KiB), ratio in the same run: `RECORDS` (default 100,000) JSON log
 * records of about
 * 150 bytes (`ts`, `service`, `status`, `message`), a `search` section like
 * specs/search.md §1. Each query is timed `REPS` times (median) next to a
 * plain catch-up read of the whole stream in the same run, and reported as
 * MB/s and records/s of stored bytes scanned, and as a ratio to the read.
 *
 * Run: `deno run -A bench/search_bench.ts` (env `RECORDS`, `RECORD_BYTES`,
 * `SEGMENT_BYTES`, `BLOCK_BYTES`, `REPS`, `SCAN_CASES`). Not part
 * of `deno task test`.
 */

import { defaultConfig } from "../src/config.ts";
import { LOG_BASE_MS, LOG_SEARCH, logRecord } from "./_log_records.ts";
import { Engine } from "../src/engine/engine.ts";
import { createLogger } from "../src/log.ts";
import { MemoryStore, MemoryWal } from "../src/storage/memory_store.ts";
import {
  buildCompanion,
  type CompanionRecord,
  decodeCompanion,
  encodeCompanion,
} from "../src/search/companion.ts";
import { validateSearchConfig } from "../src/search/config.ts";
import { extractFields } from "../src/search/extract.ts";
import {
  type CompanionEntry,
  companionMemoryBytes,
  companionPruner,
  hashOf,
} from "../src/tier/companions.ts";

function envInt(name: string, fallback: number): number {
  const v = Deno.env.get(name);
  return v === undefined ? fallback : Number.parseInt(v, 10);
}

const RECORDS = envInt("RECORDS", 100_000);
/** Stored bytes per pretend segment of the indexed cases. */
const SEGMENT_BYTES = envInt("SEGMENT_BYTES", 256 * 1024);
/** Stored bytes per companion block; a comma list compares sizes in one run. */
const BLOCK_BYTES_LIST = (Deno.env.get("BLOCK_BYTES") ?? "4096,16384").split(
  ",",
).map((v) => Number.parseInt(v, 10));
const REPS = envInt("REPS", 5);
/** Stored bytes of a record, about (110: the short records of the first runs). */
const RECORD_BYTES = envInt("RECORD_BYTES", 110);
const BATCH = 1000;
const BASE_MS = LOG_BASE_MS;
const enc = new TextEncoder();

function record(i: number) {
  return logRecord(i, RECORD_BYTES);
}

const SEARCH = LOG_SEARCH;

function fail(what: string, error: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(error)}`);
}

async function seed(): Promise<{ engine: Engine; bytes: number }> {
  const limits = { ...defaultConfig().limits, readBytesMax: 1 << 20 };
  const engine = await Engine.open(new MemoryStore(new MemoryWal()), {
    limits,
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

async function readAll(engine: Engine): Promise<void> {
  let pos: number | "start" = "start";
  for (;;) {
    const r = await engine.read("logs", pos);
    if (!r.ok) fail("read", r.error);
    if (r.value.upToDate) return;
    pos = r.value.nextPos;
  }
}

async function filterAll(engine: Engine, filter: string): Promise<number> {
  let pos: number | "start" = "start";
  let kept = 0;
  for (;;) {
    const r = await engine.readFiltered("logs", pos, filter, undefined);
    if (!r.ok) fail("filter", r.error);
    kept += r.value.data.length;
    if (r.value.upToDate) return kept;
    pos = r.value.nextPos;
  }
}

const ALL = { splitPos: 0, publishedPos: Infinity };

/** Cases that ran out of their time budget (answered 408 over HTTP). */
const timedOut = new Set<string>();

/** Hits of `q`, or -1 when the budget ran out (partial, not comparable). */
async function search(engine: Engine, q: string): Promise<number> {
  const r = await engine.search("logs", { q, size: 50 }, ALL);
  if (!r.ok) fail("search", r.error);
  if (r.value.timedOut) timedOut.add(q);
  return r.value.timedOut ? -1 : r.value.hits.length;
}

async function aggregate(engine: Engine): Promise<number> {
  const r = await engine.aggregate("logs", {
    rollup: "requests",
    from: BASE_MS,
    to: BASE_MS + RECORDS * 100,
    interval: "1m",
    group_by: ["service"],
  }, ALL);
  if (!r.ok) fail("aggregate", r.error);
  if (r.value.timedOut) timedOut.add("aggregate");
  return r.value.buckets.length;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  await run(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const t0 = performance.now();
    await run();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/**
 * Companions over the stream cut into `SEGMENT_BYTES` pieces, as the tier
 * builds them after upload (here in process, from the records appended):
 * the time to build them and their size next to the stored bytes.
 */
function companions(blockBytes: number): {
  entries: CompanionEntry[];
  buildMs: number;
  companionBytes: number;
  memoryBytes: number;
  termBlockBytes: number;
  bitmapOnlyBytes: number;
} {
  const checked = validateSearchConfig(SEARCH);
  if (!checked.ok) fail("config", checked.error);
  const config = checked.value;
  const hash = hashOf(config);
  const t0 = performance.now();
  const entries: CompanionEntry[] = [];
  let companionBytes = 0;
  let memoryBytes = 0;
  // Term blocks as kept, and as a bitmap per term would take.
  let termBlockBytes = 0;
  let bitmapOnlyBytes = 0;
  let pos = 0;
  let records: CompanionRecord[] = [];
  const flush = () => {
    if (records.length === 0) return;
    const segment = { startPos: records[0].startPos, endPos: pos };
    const encoded = encodeCompanion(
      buildCompanion(config, 1, segment, records, blockBytes),
    );
    companionBytes += encoded.length;
    const companion = decodeCompanion(encoded);
    memoryBytes += companionMemoryBytes(companion, encoded.length);
    for (const f of [...companion.exact.values(), ...companion.fts.values()]) {
      termBlockBytes += f.blocks.byteLength;
      bitmapOnlyBytes += f.terms.length * ((companion.blocks.length + 7) >> 3);
    }
    entries.push({
      hash,
      ...segment,
      companion,
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
      doc: extractFields(config, value, 1, false),
    });
    pos += length;
    if (pos - records[0].startPos >= SEGMENT_BYTES) flush();
  }
  flush();
  return {
    entries,
    buildMs: performance.now() - t0,
    companionBytes,
    memoryBytes,
    termBlockBytes,
    bitmapOnlyBytes,
  };
}

const { engine, bytes } = await seed();
const mib = bytes / (1 << 20);
console.log(
  `${RECORDS} records, ${mib.toFixed(1)} MiB stored, median of ${REPS}`,
);
const baseline = await timed(() => readAll(engine));
const cases: [string, () => Promise<unknown>][] = [
  ["catch-up read, whole stream", () => readAll(engine)],
  ["filter=status:500 (whole stream)", () => filterAll(engine, "status:500")],
  [
    "filter=service:api status:>=400",
    () => filterAll(engine, "service:api status:>=400"),
  ],
  ["_search q=status:500 size=50", () => search(engine, "status:500")],
  [
    '_search q="db timeout" (BM25, 2 passes)',
    () => search(engine, "db timeout"),
  ],
  ["_aggregate 1m by service, all", () => aggregate(engine)],
];
console.log(`load average at start: ${Deno.loadavg()[0].toFixed(1)}`);
console.log("| case | median ms | MB/s | records/s | x read |");
console.log("| --- | ---: | ---: | ---: | ---: |");
// `SCAN_CASES=0` goes straight to the indexed cases.
for (const [name, run] of envInt("SCAN_CASES", 1) ? cases : []) {
  const ms = name.startsWith("catch-up") ? baseline : await timed(run);
  console.log(
    `| ${name} | ${ms.toFixed(1)} | ${
      (bytes / 1e6 / (ms / 1000)).toFixed(1)
    } | ${Math.round(RECORDS / (ms / 1000)).toLocaleString("en-US")} | ${
      (ms / baseline).toFixed(1)
    } |`,
  );
}

// Indexed against scan, in this run: the same queries with the companions
// of every pretend segment consulted (for each block size), then without.
const scan = () => undefined;
const pairs: [string, () => Promise<unknown>][] = [
  ["filter=status:500", () => filterAll(engine, "status:500")],
  [
    "filter=service:api status:500",
    () => filterAll(engine, "service:api status:500"),
  ],
  ["_search q=message:timeout", () => search(engine, "message:timeout")],
  [
    "_search q=message:timeout service:api",
    () => search(engine, "message:timeout service:api"),
  ],
  ["_search q=status:500 size=50", () => search(engine, "status:500")],
];
const scanned = new Map<string, { answer: unknown; ms: number }>();
engine.setSearchPruner(scan);
for (const [name, run] of pairs) {
  scanned.set(name, { answer: await run(), ms: await timed(run) });
}
for (const blockBytes of BLOCK_BYTES_LIST) {
  const built = companions(blockBytes);
  if (built.entries.at(-1)?.endPos !== bytes) {
    fail("companions", "positions do not match the stored stream");
  }
  console.log(
    `\n${built.entries.length} companions of ${
      (SEGMENT_BYTES / 1024).toFixed(0)
    } KiB segments, ${(blockBytes / 1024).toFixed(0)} KiB blocks: built in ${
      built.buildMs.toFixed(0)
    } ms with the records made again (see companion_build_bench.ts), ${
      (100 * built.companionBytes / bytes).toFixed(1)
    }% of stored bytes; decoded in memory ${
      (built.memoryBytes / (1 << 20)).toFixed(1)
    } MiB (${
      (100 * built.memoryBytes / bytes).toFixed(1)
    }% of stored bytes); term blocks ${
      (built.termBlockBytes / (1 << 20)).toFixed(2)
    } MiB as lists and bitmaps, ${
      (built.bitmapOnlyBytes / (1 << 20)).toFixed(2)
    } MiB as a bitmap per term`,
  );
  const indexed = companionPruner((id) =>
    id === engine.view("logs")!.id ? built.entries : undefined
  );
  engine.setSearchPruner(indexed);
  console.log("| case | scan ms | indexed ms | scan / indexed |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const [name, run] of pairs) {
    const plain = scanned.get(name)!;
    const assisted = await run();
    // A scan out of budget has a partial answer: nothing to compare.
    if (plain.answer !== -1 && plain.answer !== assisted) {
      fail(name, { plain: plain.answer, assisted });
    }
    const indexedMs = await timed(run);
    console.log(
      `| ${name} | ${plain.ms.toFixed(1)} | ${indexedMs.toFixed(1)} | ${
        (plain.ms / indexedMs).toFixed(1)
      } |`,
    );
  }
}
engine.setSearchPruner(scan);

if (timedOut.size > 0) {
  console.log(
    `timed out (3 s budget, partial answers): ${[...timedOut].join(", ")}`,
  );
}
await engine.close();
