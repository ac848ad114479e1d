/**
 * Property: with companions consulted (built for some segments, missing for
 * others, built for another config for others), `filter=` reads followed to
 * the tail and `_search` pages return exactly what a brute-force evaluation
 * over every record returns, with small scan caps so answers split across
 * many responses.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { defaultConfig } from "../src/config.ts";
import {
  buildCompanion,
  type CompanionRecord,
} from "../src/search/companion.ts";
import { compileQuery } from "../src/search/compile.ts";
import {
  type SearchConfig,
  validateSearchConfig,
} from "../src/search/config.ts";
import { matches } from "../src/search/evaluate.ts";
import { extractFields } from "../src/search/extract.ts";
import { parseQuery } from "../src/search/query.ts";
import {
  type CompanionEntry,
  companionPruner,
  hashOf,
} from "../src/tier/companions.ts";
import {
  appendJson,
  jsonCompanionRecord,
  openSearchStream,
} from "./_search_stream.ts";

const dec = new TextDecoder();

const SEARCH = {
  defaultFields: [{ field: "message" }],
  fields: {
    status: {
      kind: "integer",
      bindings: [{ version: 1, jsonPointer: "/status" }],
      exact: true,
      column: true,
    },
    service: {
      kind: "keyword",
      bindings: [{ version: 1, jsonPointer: "/service" }],
      exact: true,
      prefix: true,
    },
    latency: {
      kind: "float",
      bindings: [{ version: 1, jsonPointer: "/latency" }],
      column: true,
      exists: true,
    },
    message: {
      kind: "text",
      bindings: [{ version: 1, jsonPointer: "/message" }],
      analyzer: "unicode_word_v1",
      positions: true,
      exists: true,
    },
  },
};

function checked(search: unknown): SearchConfig {
  const c = validateSearchConfig(search);
  if (!c.ok) throw c.error;
  return c.value;
}
const CONFIG = checked(SEARCH);
/** The same fields bound elsewhere: its companions must never be read. */
const OTHER = checked({
  ...SEARCH,
  fields: {
    ...SEARCH.fields,
    status: {
      ...SEARCH.fields.status,
      bindings: [{ version: 1, jsonPointer: "/code" }],
    },
  },
});

const WORDS = ["db", "timeout", "ok", "slow"];
const recordArb = fc.record({
  status: fc.constantFrom(200, 404, 500),
  code: fc.constantFrom(200, 500),
  service: fc.constantFrom("api", "web", "apex"),
  latency: fc.constantFrom(0.5, 3, 12.25),
  message: fc.array(fc.constantFrom(...WORDS), { maxLength: 4 }).map((w) =>
    w.join(" ")
  ),
}, { requiredKeys: [] });
const clauseArb = fc.oneof(
  fc.constantFrom(200, 404, 500).map((v) => `status:${v}`),
  fc.constantFrom(">=", "<", ">", "<=").chain((op) =>
    fc.constantFrom(404, 500).map((v) => `status:${op}${v}`)
  ),
  fc.constantFrom(">=", "<").chain((op) =>
    fc.constantFrom(1, 12.25).map((v) => `latency:${op}${v}`)
  ),
  fc.constantFrom("service:api", "service:web", "has:latency", "has:message"),
);
const filterArb = fc.oneof(
  clauseArb,
  fc.tuple(clauseArb, clauseArb).map(([a, b]) => `${a} ${b}`),
  fc.tuple(clauseArb, clauseArb).map(([a, b]) => `(${a} OR ${b})`),
  clauseArb.map((a) => `-${a}`),
);
const searchArb = fc.oneof(
  filterArb,
  fc.constantFrom("timeout", '"db timeout"', "service:ap*", "db slow"),
);

function brute(records: unknown[], q: string, mode: "filter" | "search") {
  const parsed = parseQuery(q);
  if (!parsed.ok) throw parsed.error;
  const plan = compileQuery(CONFIG, parsed.value, mode);
  if (!plan.ok) throw plan.error;
  return records.filter((r) =>
    matches(CONFIG, plan.value, extractFields(CONFIG, r, 1))
  );
}

Deno.test("filter= and _search with companions equal a brute-force evaluation", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.tuple(
          fc.array(recordArb, { minLength: 1, maxLength: 8 }),
          fc.constantFrom("built", "missing", "other"),
        ),
        { minLength: 1, maxLength: 8 },
      ),
      fc.integer({ min: 1, max: 300 }),
      filterArb,
      searchArb,
      async (segments, blockBytes, filter, q) => {
        const limits = { ...defaultConfig().limits, filterScanBytesMax: 90 };
        const engine = await openSearchStream("s", SEARCH, limits);
        try {
          const entries: CompanionEntry[] = [];
          let pos = 0;
          for (const [batch, kind] of segments) {
            const nextPos = await appendJson(engine, "s", batch);
            const config = kind === "other" ? OTHER : CONFIG;
            const records: CompanionRecord[] = batch.map((value) => {
              const rec = jsonCompanionRecord(config, value, pos);
              pos = rec.endPos;
              return rec;
            });
            assert.equal(pos, nextPos);
            if (kind === "missing") continue;
            const segment = { startPos: records[0].startPos, endPos: pos };
            entries.push({
              hash: hashOf(config),
              ...segment,
              companion: buildCompanion(
                config,
                1,
                segment,
                records,
                blockBytes,
              ),
              bytes: 0,
            });
          }
          const id = engine.view("s")!.id;
          engine.setSearchPruner(
            companionPruner((s) => s === id ? entries : undefined),
          );
          const all = segments.flatMap(([batch]) => batch);
          const kept: unknown[] = [];
          let position: number | "start" = "start";
          for (let i = 0; i < 10_000; i++) {
            const r = await engine.readFiltered(
              "s",
              position,
              filter,
              undefined,
              64,
            );
            if (!r.ok) throw r.error;
            const text = dec.decode(r.value.data);
            if (text.length > 0) {
              kept.push(...JSON.parse(`[${text.slice(0, -1)}]`));
            }
            if (r.value.upToDate) break;
            position = r.value.nextPos;
          }
          assert.deepEqual(
            kept.map((x) => JSON.stringify(x)),
            brute(all, filter, "filter").map((x) => JSON.stringify(x)),
          );
          const hits: unknown[] = [];
          let after: unknown;
          for (let i = 0; i < 1000; i++) {
            const r = await engine.search(
              "s",
              {
                q,
                size: 3,
                ...(after === undefined ? {} : { search_after: after }),
              },
              { splitPos: 0, publishedPos: Infinity },
            );
            if (!r.ok) throw r.error;
            hits.push(...r.value.hits.map((h) => h.source));
            if (r.value.nextSearchAfter === null) break;
            after = r.value.nextSearchAfter.map((v) =>
              typeof v === "bigint" ? Number(v) : v
            );
          }
          assert.deepEqual(
            hits.map((x) => JSON.stringify(x)).sort(),
            brute(all, q, "search").map((x) => JSON.stringify(x)).sort(),
          );
        } finally {
          await engine.close();
        }
      },
    ),
    { numRuns: 200 },
  );
});
