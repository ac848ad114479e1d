/**
 * Properties of answers that use companions, on random records cut into
 * random "uploaded segments" (some with a companion, some without):
 * `_aggregate` answered with rollup (`agg`) sections for the aligned windows
 * wholly inside the request, and from source records for the edges and the
 * segments without one, equals a plain fold of every record (`used_rollups`
 * true exactly when a companion's rows could answer a window); `_search`
 * ranked with BM25 statistics from `fts` sections ranks and scores exactly
 * as BM25 over statistics of every record does.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import type { Engine } from "../src/engine/engine.ts";
import {
  aggregate,
  parseAggregateRequest,
  rollupEqualities,
} from "../src/search/aggregate.ts";
import {
  buildCompanion,
  decodeCompanion,
  encodeCompanion,
} from "../src/search/companion.ts";
import {
  type SearchConfig,
  validateSearchConfig,
} from "../src/search/config.ts";
import { compileQuery } from "../src/search/compile.ts";
import {
  addToStats,
  emptyStats,
  matches,
  score,
} from "../src/search/evaluate.ts";
import { extractFields } from "../src/search/extract.ts";
import { parseQuery } from "../src/search/query.ts";
import { companionRecords } from "../src/tier/_companion_build.ts";
import {
  type CompanionEntry,
  companionPruner,
  hashOf,
} from "../src/tier/companions.ts";
import { appendJson, openSearchStream } from "./_search_stream.ts";

const MINUTE = 60_000;

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
      dimensions: ["service", "status"],
      intervals: ["1m", "5m", "1h"],
      measures: {
        n: { kind: "count" },
        errors: { kind: "count", include: "status:>=500" },
        latency: { kind: "summary", field: "latency" },
        parts: {
          kind: "summary_parts",
          countJsonPointer: "/p/c",
          sumJsonPointer: "/p/s",
          minJsonPointer: "/p/lo",
          maxJsonPointer: "/p/hi",
          histogramJsonPointer: "/p/h",
        },
      },
    },
  },
};
const checked = validateSearchConfig(SEARCH);
if (!checked.ok) throw checked.error;
const CONFIG = checked.value;

const recordArb = fc.record({
  ts: fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 3 * 60 * MINUTE }) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(undefined, [1000, 2000] as unknown as number),
    },
  ),
  service: fc.option(
    fc.oneof(
      fc.constantFrom("api", "web", "db"),
      fc.array(fc.constantFrom("api", "web"), { maxLength: 2 }),
    ),
    { nil: undefined },
  ),
  status: fc.option(fc.constantFrom(200, 404, 500, 503), { nil: undefined }),
  latency: fc.option(fc.integer({ min: -5, max: 5000 }), { nil: undefined }),
  p: fc.option(
    fc.record({
      c: fc.integer({ min: 0, max: 9 }),
      s: fc.integer({ min: 0, max: 900 }),
      lo: fc.integer({ min: 0, max: 10 }),
      hi: fc.integer({ min: 10, max: 100 }),
      h: fc.constant({ "1": 1, "64": 2 }),
    }),
    { nil: undefined },
  ),
}, { requiredKeys: [] });

const requestArb = fc.record({
  from: fc.integer({ min: -MINUTE, max: 3 * 60 * MINUTE }),
  span: fc.integer({ min: 1, max: 3 * 60 * MINUTE }),
  interval: fc.constantFrom("1m", "5m", "1h"),
  group_by: fc.subarray(["service", "status"]),
  measures: fc.subarray(["n", "errors", "latency", "parts"], { minLength: 1 }),
  q: fc.constantFrom(
    undefined,
    "service:api",
    "service:web status:500",
    "status:>=500",
    "-service:db",
  ),
});

/** JSON with bigints as numbers (the fold keeps integers as bigints). */
const plain = (v: unknown) =>
  JSON.stringify(v, (_k, x) => typeof x === "bigint" ? Number(x) : x);

/**
 * Companions of stream "s" of `engine`: consecutive batches (`bounds`)
 * become "uploaded segments" of `cuts` batches each (0: the batch gets no
 * companion), and the batches past the cuts none, like a lagging index.
 */
async function companionsOf(
  engine: Engine,
  config: SearchConfig,
  bounds: [number, number][],
  cuts: number[],
): Promise<CompanionEntry[]> {
  const entries: CompanionEntry[] = [];
  let b = 0;
  for (const cut of cuts) {
    if (b >= bounds.length) break;
    const n = Math.min(Math.max(cut, 1), bounds.length - b);
    if (cut > 0) {
      const startPos = bounds[b][0];
      const endPos = bounds[b + n - 1][1];
      const read = await engine.read("s", startPos, endPos - startPos);
      assert.ok(read.ok);
      const lengths = bounds.slice(b, b + n).map(([s, e]) => e - s);
      const built = buildCompanion(
        config,
        1,
        { startPos, endPos },
        companionRecords(
          [{ startPos, data: read.value.data, lengths }],
          config,
          [{ position: 0, version: 1 }],
        ),
        40,
      );
      const bytes = encodeCompanion(built);
      entries.push({
        hash: hashOf(config),
        startPos,
        endPos,
        companion: decodeCompanion(bytes),
        bytes: bytes.length,
      });
    }
    b += n;
  }
  return entries;
}

/** An engine with stream "s" holding `batches` under `search`, and each batch's bounds. */
async function streamOf(
  search: unknown,
  batches: unknown[][],
): Promise<{ engine: Engine; bounds: [number, number][] }> {
  const engine = await openSearchStream("s", search);
  const bounds: [number, number][] = [];
  for (const batch of batches) {
    const nextPos = await appendJson(engine, "s", batch);
    bounds.push([bounds.at(-1)?.[1] ?? 0, nextPos]);
  }
  return { engine, bounds };
}

Deno.test("_aggregate over rollup sections equals a fold of the source records", async () => {
  let usedSome = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(recordArb, { minLength: 1, maxLength: 5 }), {
        minLength: 1,
        maxLength: 10,
      }),
      fc.array(fc.nat(4), { minLength: 1, maxLength: 10 }),
      fc.array(requestArb, { minLength: 1, maxLength: 4 }),
      async (batches, cuts, requests) => {
        const { engine, bounds } = await streamOf(SEARCH, batches);
        try {
          const entries = await companionsOf(engine, CONFIG, bounds, cuts);
          engine.setSearchPruner(companionPruner(() => entries));
          const all = batches.flat();
          for (const q of requests) {
            const body: Record<string, unknown> = {
              rollup: "requests",
              from: q.from,
              to: q.from + q.span,
              interval: q.interval,
              group_by: q.group_by,
              measures: q.measures,
            };
            if (q.q !== undefined) body.q = q.q;
            const got = await engine.aggregate("s", body, {
              splitPos: 0,
              publishedPos: Infinity,
            });
            const parsed = parseAggregateRequest(CONFIG, body);
            if (!parsed.ok) {
              assert.ok(!got.ok, "the engine refuses what the parser refuses");
              continue;
            }
            assert.ok(got.ok, got.ok ? "" : got.error.message);
            const want = aggregate(
              CONFIG,
              parsed.value,
              all.map((record) => ({
                doc: extractFields(CONFIG, record, 1),
                record,
              })),
            );
            assert.ok(want.ok);
            assert.equal(
              plain(got.value.buckets),
              plain(want.value),
              plain(body),
            );
            const width = parsed.value.intervalMs;
            const inner = Math.ceil(q.from / width) * width <
              Math.floor((q.from + q.span) / width) * width;
            const eligible = rollupEqualities(CONFIG, parsed.value) !==
              undefined;
            assert.equal(
              got.value.usedRollups,
              inner && eligible && entries.length > 0,
            );
            if (got.value.usedRollups) usedSome++;
          }
        } finally {
          await engine.close();
        }
      },
    ),
    { numRuns: 80 },
  );
  assert.ok(usedSome > 20, `rollups answered ${usedSome} requests`);
});

const TEXT_SEARCH = {
  defaultFields: [{ field: "message", boost: 2 }, { field: "title" }],
  fields: {
    message: {
      kind: "text",
      bindings: [{ version: 1, jsonPointer: "/message" }],
      analyzer: "unicode_word_v1",
      positions: true,
    },
    title: {
      kind: "text",
      bindings: [{ version: 1, jsonPointer: "/title" }],
      analyzer: "unicode_word_v1",
      positions: true,
    },
    service: {
      kind: "keyword",
      bindings: [{ version: 1, jsonPointer: "/service" }],
      exact: true,
    },
  },
};
const textChecked = validateSearchConfig(TEXT_SEARCH);
if (!textChecked.ok) throw textChecked.error;
const TEXT_CONFIG = textChecked.value;

const WORDS = ["db", "timeout", "ok", "slow", "cache", "Émile"];
const wordsArb = fc.array(fc.constantFrom(...WORDS), { maxLength: 6 }).map(
  (w) => w.join(" "),
);
const textRecordArb = fc.record({
  message: fc.oneof(wordsArb, fc.array(wordsArb, { maxLength: 2 })),
  title: wordsArb,
  service: fc.constantFrom("api", "web"),
}, { requiredKeys: [] });
const textQueryArb = fc.oneof(
  fc.constantFrom(...WORDS),
  fc.constantFrom(
    "db timeout",
    '"db timeout"',
    "slow OR cache",
    "title:ok",
    "message:timeout service:api",
    "émile -ok",
    "ca*",
  ),
);

Deno.test("_search ranks with BM25 statistics from fts sections exactly as over every record", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(textRecordArb, { minLength: 1, maxLength: 5 }), {
        minLength: 1,
        maxLength: 10,
      }),
      fc.array(fc.nat(4), { minLength: 1, maxLength: 10 }),
      textQueryArb,
      async (batches, cuts, q) => {
        const { engine, bounds } = await streamOf(TEXT_SEARCH, batches);
        try {
          const entries = await companionsOf(
            engine,
            TEXT_CONFIG,
            bounds,
            cuts,
          );
          engine.setSearchPruner(companionPruner(() => entries));
          const got = await engine.search("s", { q, size: 500 }, {
            splitPos: 0,
            publishedPos: Infinity,
          });
          assert.ok(got.ok, got.ok ? "" : got.error.message);
          // Brute force: statistics of every record, then score and order
          // (score desc, then offset desc: no timestamp field).
          const parsed = parseQuery(q);
          assert.ok(parsed.ok);
          const plan = compileQuery(TEXT_CONFIG, parsed.value, "search");
          assert.ok(plan.ok);
          const docs = batches.flat().map((r) =>
            extractFields(TEXT_CONFIG, r, 1)
          );
          const stats = emptyStats();
          for (const doc of docs) addToStats(stats, doc);
          const want = docs.map((doc, i) => ({ doc, i }))
            .filter(({ doc }) => matches(TEXT_CONFIG, plan.value, doc))
            .map(({ doc, i }) => ({
              i,
              score: score(TEXT_CONFIG, plan.value, doc, stats),
            }))
            .sort((a, b) => b.score - a.score || b.i - a.i);
          const all = batches.flat();
          assert.deepEqual(
            got.value.hits.map((h) => [h.score, plain(h.source)]),
            want.map((w) => [w.score, plain(all[w.i])]),
          );
        } finally {
          await engine.close();
        }
      },
    ),
    { numRuns: 80 },
  );
});
