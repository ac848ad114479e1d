/**
 * Properties: for random records and queries, `filter=` reads followed to the
 * tail and `_search` pages followed to the end return exactly what a
 * brute-force evaluation over every record returns, on a plain stream and on
 * a fork (records before the fork point come from the source), with small
 * read and scan caps so answers split across many responses.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { defaultConfig } from "../config.ts";
import { createLogger } from "../log.ts";
import { compileQuery } from "../search/compile.ts";
import { validateSearchConfig } from "../search/config.ts";
import { matches } from "../search/evaluate.ts";
import { extractFields } from "../search/extract.ts";
import { parseQuery } from "../search/query.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import { Engine } from "./engine.ts";
import type { AppendRequest, CreateRequest } from "./types.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

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
const checked = validateSearchConfig(SEARCH);
if (!checked.ok) throw checked.error;
const CONFIG = checked.value;

const WORDS = ["db", "timeout", "ok", "slow", "cache"];
const SERVICES = ["api", "web", "apex", "db"];

const recordArb = fc.record({
  status: fc.option(fc.constantFrom(200, 404, 500, 503), { nil: undefined }),
  service: fc.option(
    fc.oneof(
      fc.constantFrom(...SERVICES),
      fc.array(fc.constantFrom(...SERVICES), { maxLength: 2 }),
    ),
    { nil: undefined },
  ),
  message: fc.option(
    fc.array(fc.constantFrom(...WORDS), { maxLength: 5 }).map((w) =>
      w.join(" ")
    ),
    { nil: undefined },
  ),
}, { requiredKeys: [] });

const clauseArb = fc.oneof(
  fc.constantFrom(200, 404, 500, 503).map((v) => `status:${v}`),
  fc.constantFrom(">=", "<", ">").chain((op) =>
    fc.constantFrom(404, 500).map((v) => `status:${op}${v}`)
  ),
  fc.constantFrom(...SERVICES).map((v) => `service:${v}`),
  fc.constantFrom("has:service", "has:status", "has:message"),
);
const filterArb = fc.oneof(
  clauseArb,
  fc.tuple(clauseArb, clauseArb).map(([a, b]) => `${a} ${b}`),
  fc.tuple(clauseArb, clauseArb).map(([a, b]) => `(${a} OR ${b})`),
  clauseArb.map((a) => `-${a}`),
);
const searchArb = fc.oneof(
  filterArb,
  fc.constantFrom(...WORDS),
  fc.constantFrom('"db timeout"', "service:ap*", "db timeout", "ok OR slow"),
);

function createReq(fork?: { source: string; position: number }): CreateRequest {
  return {
    contentType: "application/json",
    ttlSeconds: undefined,
    expiresAtMs: undefined,
    closed: false,
    body: new Uint8Array(),
    fork: fork === undefined ? undefined : { ...fork, subOffset: undefined },
    routingKey: undefined,
    timestampMs: undefined,
  };
}

function appendReq(values: unknown[]): AppendRequest {
  return {
    contentType: "application/json",
    body: enc(JSON.stringify(values)),
    close: false,
    streamSeq: undefined,
    producer: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  };
}

function brute(records: unknown[], q: string, mode: "filter" | "search") {
  const parsed = parseQuery(q);
  if (!parsed.ok) throw parsed.error;
  const plan = compileQuery(CONFIG, parsed.value, mode);
  if (!plan.ok) throw plan.error;
  return records.filter((r) =>
    matches(CONFIG, plan.value, extractFields(CONFIG, r, 1))
  );
}

async function filterAll(engine: Engine, name: string, filter: string) {
  const out: unknown[] = [];
  let position: number | "start" = "start";
  for (let i = 0; i < 10_000; i++) {
    const r = await engine.readFiltered(name, position, filter, undefined, 64);
    if (!r.ok) throw r.error;
    const text = dec(r.value.data);
    if (text.length > 0) out.push(...JSON.parse(`[${text.slice(0, -1)}]`));
    if (r.value.upToDate) return out;
    position = r.value.nextPos;
  }
  throw new Error("never reached the tail");
}

async function searchAll(engine: Engine, name: string, q: string) {
  const out: unknown[] = [];
  let after: unknown;
  for (let i = 0; i < 1000; i++) {
    const r = await engine.search(
      name,
      { q, size: 3, ...(after === undefined ? {} : { search_after: after }) },
      { splitPos: 0, publishedPos: Infinity },
    );
    if (!r.ok) throw r.error;
    out.push(...r.value.hits.map((h) => h.source));
    if (r.value.nextSearchAfter === null) return out;
    after = r.value.nextSearchAfter.map((v) =>
      typeof v === "bigint" ? Number(v) : v
    );
  }
  throw new Error("paging never ended");
}

const sorted = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).sort();
const inOrder = (xs: unknown[]) => xs.map((x) => JSON.stringify(x));

Deno.test("filter= and _search equal a brute-force evaluation, on a stream and its fork", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.array(recordArb, { minLength: 1, maxLength: 6 }), {
        minLength: 1,
        maxLength: 8,
      }),
      fc.array(recordArb, { maxLength: 6 }),
      fc.nat(),
      filterArb,
      searchArb,
      async (batches, forkBatch, cut, filter, q) => {
        const limits = { ...defaultConfig().limits, filterScanBytesMax: 90 };
        const engine = await Engine.open(new MemoryStore(new MemoryWal()), {
          limits,
          log: createLogger("error"),
          onFatal: (e) => {
            throw e;
          },
        });
        try {
          const created = await engine.create("s", createReq());
          assert.ok(created.ok);
          const schema = await engine.updateSchema("s", {
            schema: { type: "object" },
            search: SEARCH,
          });
          assert.ok(schema.ok);
          const ends: number[] = [];
          for (const batch of batches) {
            const r = await engine.append("s", appendReq(batch));
            assert.ok(r.ok);
            ends.push(r.value.nextPos);
          }
          const all = batches.flat();
          assert.deepEqual(
            inOrder(await filterAll(engine, "s", filter)),
            inOrder(brute(all, filter, "filter")),
          );
          assert.deepEqual(
            sorted(await searchAll(engine, "s", q)),
            sorted(brute(all, q, "search")),
          );
          // A fork at a batch boundary: the source's records up to it, then its own.
          const at = cut % batches.length;
          const forked = await engine.create(
            "f",
            createReq({ source: "s", position: ends[at] }),
          );
          assert.ok(forked.ok);
          if (forkBatch.length > 0) {
            assert.ok((await engine.append("f", appendReq(forkBatch))).ok);
          }
          const seen = [...batches.slice(0, at + 1).flat(), ...forkBatch];
          assert.deepEqual(
            inOrder(await filterAll(engine, "f", filter)),
            inOrder(brute(seen, filter, "filter")),
          );
          assert.deepEqual(
            sorted(await searchAll(engine, "f", q)),
            sorted(brute(seen, q, "search")),
          );
        } finally {
          await engine.close();
        }
      },
    ),
    { numRuns: 60 },
  );
});
