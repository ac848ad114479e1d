/**
 * `filter=` reads, `_search` and `_aggregate` by scanning source records, in
 * process, on the in-memory WAL store, then a few selective queries with and
 * without companions (built here over the stream cut into pretend segments,
 * `SEGMENT_BYTES`, blocks of `BLOCK_BYTES`), ratio in the same run: `RECORDS` (default 100,000) JSON log records of about
 * 150 bytes (`ts`, `service`, `status`, `message`), a `search` section like
 * specs/search.md §1. Each query is timed `REPS` times (median) next to a
 * plain catch-up read of the whole stream in the same run, and reported as
 * MB/s and records/s of stored bytes scanned, and as a ratio to the read.
 *
 * Run: `deno run -A bench/search_bench.ts` (env `RECORDS`, `RECORD_BYTES`,
 * `SEGMENT_BYTES`, `BLOCK_BYTES`, `REPS`, `SCAN_CASES`). Not part
 * of `deno task test`.
 */

import { LOG_BASE_MS, LOG_SEARCH, logRecord } from "./_log_records.ts";
import type { Engine } from "../src/engine/engine.ts";
import { companionPruner } from "../src/tier/companions.ts";
import {
  envInt,
  fail,
  pretendCompanions,
  seedStream,
  timed,
} from "./_search_setup.ts";

const RECORDS = envInt("RECORDS", 100_000);
/** Stored bytes per pretend segment of the indexed cases. */
const SEGMENT_BYTES = envInt("SEGMENT_BYTES", 256 * 1024);
/** Stored bytes per companion block. */
const BLOCK_BYTES = envInt("BLOCK_BYTES", 16 * 1024);
const REPS = envInt("REPS", 5);
/** Stored bytes of a record, about (110: the short records of the first runs). */
const RECORD_BYTES = envInt("RECORD_BYTES", 110);
const BASE_MS = LOG_BASE_MS;

function record(i: number) {
  return logRecord(i, RECORD_BYTES);
}

const SEARCH = LOG_SEARCH;

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

async function search(engine: Engine, q: string): Promise<number> {
  const r = await engine.search("logs", { q, size: 50 }, ALL);
  if (!r.ok) fail("search", r.error);
  if (r.value.timedOut) timedOut.add(q);
  return r.value.hits.length;
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

/** Median wall ms of `REPS` runs after a warm-up. */
async function wallMs(run: () => Promise<unknown>): Promise<number> {
  return (await timed(run, REPS)).wallMs;
}

const { engine, bytes } = await seedStream("logs", SEARCH, RECORDS, record);
const mib = bytes / (1 << 20);
console.log(
  `${RECORDS} records, ${mib.toFixed(1)} MiB stored, median of ${REPS}`,
);
const baseline = await wallMs(() => readAll(engine));
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
  const ms = name.startsWith("catch-up") ? baseline : await wallMs(run);
  console.log(
    `| ${name} | ${ms.toFixed(1)} | ${
      (bytes / 1e6 / (ms / 1000)).toFixed(1)
    } | ${Math.round(RECORDS / (ms / 1000)).toLocaleString("en-US")} | ${
      (ms / baseline).toFixed(1)
    } |`,
  );
}

// Indexed against scan, in this run: the same queries with the companions
// of every pretend segment consulted, then without.
// Companions over the stream cut into `SEGMENT_BYTES` pieces, as the tier
// builds them after upload (here in process, from the records appended):
// the time to build them and their size next to the stored bytes.
const built = pretendCompanions(SEARCH, RECORDS, record, {
  segmentBytes: SEGMENT_BYTES,
  blockBytes: BLOCK_BYTES,
  analyze: false,
  keepRecord: false,
});
if (built.entries.at(-1)?.endPos !== bytes) {
  fail("companions", "positions do not match the stored stream");
}
console.log(
  `\n${built.entries.length} companions of ${
    (SEGMENT_BYTES / 1024).toFixed(0)
  } KiB segments, ${(BLOCK_BYTES / 1024).toFixed(0)} KiB blocks: built in ${
    built.buildMs.toFixed(0)
  } ms with the records made again (see companion_build_bench.ts), ${
    (100 * built.bytes / bytes).toFixed(1)
  }% of stored bytes`,
);
const indexed = companionPruner((id) =>
  id === engine.view("logs")!.id ? built.entries : undefined
);
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
console.log("| case | scan ms | indexed ms | scan / indexed |");
console.log("| --- | ---: | ---: | ---: |");
for (const [name, run] of pairs) {
  engine.setSearchPruner(scan);
  const plain = await run();
  const scanMs = await wallMs(run);
  engine.setSearchPruner(indexed);
  const assisted = await run();
  if (plain !== assisted) fail(name, { plain, assisted });
  const indexedMs = await wallMs(run);
  console.log(
    `| ${name} | ${scanMs.toFixed(1)} | ${indexedMs.toFixed(1)} | ${
      (scanMs / indexedMs).toFixed(1)
    } |`,
  );
}
engine.setSearchPruner(scan);

if (timedOut.size > 0) {
  console.log(
    `timed out (3 s budget, partial answers): ${[...timedOut].join(", ")}`,
  );
}
await engine.close();
