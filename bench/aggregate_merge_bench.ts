/**
 * @module
 * CPU per `_aggregate` answer built from rollup rows alone: 24 h at `1m` by
 * service (1,440 buckets of 5 groups: 7,200 output groups, each with two
 * counts and a `latency` summary of about 11 log2 buckets), the rows merged
 * into an `Aggregator` and the buckets built, as `runAggregate` does for the
 * inner windows of covered segments. No records are read, so this isolates
 * the per-output-group cost that bounds `bench/rollup_bench.ts` at `1m`.
 * CPU from /proc/self/stat (10 ms ticks), `ROUNDS` rounds of 5 answers.
 *
 * Run: `deno run -A bench/aggregate_merge_bench.ts` (env `ROUNDS`, default 10).
 */

import { validateSearchConfig } from "../src/search/config.ts";
import {
  Aggregator,
  log2Bucket,
  newState,
  parseAggregateRequest,
  type State,
} from "../src/search/aggregate.ts";

const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 10);
const BASE_MS = Date.UTC(2026, 11, 1);
const SERVICES = ["api", "web", "db", "auth", "billing"];

const checked = validateSearchConfig({
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
      aggregatable: true,
    },
  },
  rollups: {
    requests: {
      dimensions: ["service"],
      intervals: ["1m"],
      measures: {
        n: { kind: "count" },
        errors: { kind: "count", include: "status:>=500" },
        latency: { kind: "summary", field: "latency" },
      },
    },
  },
});
if (!checked.ok) throw checked.error;
const config = checked.value;
const parsed = parseAggregateRequest(config, {
  rollup: "requests",
  from: BASE_MS,
  to: BASE_MS + 24 * 3_600_000,
  interval: "1m",
  group_by: ["service"],
});
if (!parsed.ok) throw parsed.error;
const request = parsed.value;

/** A rollup row per minute and service: six records each. */
const rows: { startMs: number; dims: string[][]; states: State[] }[] = [];
for (let m = 0; m < 1440; m++) {
  for (const service of SERVICES) {
    const states = [newState(), newState(), newState()];
    states[0].count = 6;
    const latency = states[2];
    for (let k = 0; k < 6; k++) {
      const v = (m * 31 + k * 7919) % 2000;
      latency.count++;
      latency.sum += v;
      latency.min = Math.min(latency.min, v);
      latency.max = Math.max(latency.max, v);
      const b = log2Bucket(v);
      latency.histogram.set(b, (latency.histogram.get(b) ?? 0) + 1);
    }
    rows.push({ startMs: BASE_MS + m * 60_000, dims: [[service]], states });
  }
}

function answer(): number {
  const folder = Aggregator.open(config, request);
  if (!folder.ok) throw folder.error;
  for (const r of rows) {
    const added = folder.value.addRollupGroup(r.startMs, r.dims, r.states, [
      0,
      1,
      2,
    ]);
    if (!added.ok) throw added.error;
  }
  return folder.value.buckets().length;
}

function cpuMs(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

for (let i = 0; i < 10; i++) answer(); // warm-up
const cpu0 = cpuMs();
const t0 = performance.now();
for (let i = 0; i < ROUNDS * 5; i++) answer();
const n = ROUNDS * 5;
console.log(
  `${rows.length} rollup rows into ${answer()} buckets: ${
    ((cpuMs() - cpu0) / n).toFixed(1)
  } CPU ms, ${
    ((performance.now() - t0) / n).toFixed(1)
  } wall ms per answer (load ${Deno.loadavg()[0].toFixed(1)})`,
);
