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

import type { Engine } from "../src/engine/engine.ts";
import { companionPruner } from "../src/tier/companions.ts";
import {
  envInt,
  fail,
  pretendCompanions,
  seedStream,
  timed,
} from "./_search_setup.ts";

const RECORDS = envInt("RECORDS", 50_000);
/** Time between records: 2 s puts 50,000 records over 27.8 h. */
const SPACING_MS = envInt("SPACING_MS", 2000);
const REPS = envInt("REPS", 5);
const SEGMENT_BYTES = envInt("SEGMENT_BYTES", 256 * 1024);
const BLOCK_BYTES = 16 * 1024;
const HOUR = 3_600_000;
const BASE_MS = Date.UTC(2026, 11, 1, 0, 0, 0);

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

const { engine, bytes } = await seedStream("logs", SEARCH, RECORDS, record);
// A companion per `SEGMENT_BYTES` of the stream, as the tier builds them.
const built = pretendCompanions(SEARCH, RECORDS, record, {
  segmentBytes: SEGMENT_BYTES,
  blockBytes: BLOCK_BYTES,
  analyze: true,
  keepRecord: true,
});
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
  }, REPS);
  engine.setSearchPruner(rollups);
  const fast = await aggregate(engine, body, true);
  if (!fast.used || fast.timedOut) fail(name, "rollups not used or timed out");
  if (!slow && fast.json !== plain.json) fail(name, "answers differ");
  const rolled = await timed(() => aggregate(engine, body), REPS);
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
