import assert from "node:assert/strict";
import fc from "fast-check";
import { type SearchConfig, validateSearchConfig } from "./config.ts";
import { compileQuery, hasTextClause, type Plan } from "./compile.ts";
import { addToStats, emptyStats, matches, score } from "./evaluate.ts";
import { extractFields } from "./extract.ts";
import { type Candidate, searchPage } from "./page.ts";
import { parseQuery } from "./query.ts";
import {
  compareSortValues,
  type Hit,
  parseSearchAfter,
  parseSort,
  type SortKey,
  sortValues,
  sortValuesToJson,
  TopK,
} from "./sort.ts";
import { exampleSearch } from "./_fixtures.ts";

function config(): SearchConfig {
  const raw = exampleSearch() as {
    fields: Record<string, Record<string, unknown>>;
  };
  raw.fields.status.sortable = true;
  const result = validateSearchConfig(raw);
  if (!result.ok) throw result.error;
  return result.value;
}
const CONFIG = config();

function keys(sort: string[] | undefined, hasText = false): SortKey[] {
  const result = parseSort(CONFIG, sort, hasText);
  if (!result.ok) throw result.error;
  return result.value;
}

function compile(q: string): Plan {
  const parsed = parseQuery(q);
  if (!parsed.ok) throw parsed.error;
  const plan = compileQuery(CONFIG, parsed.value, "search");
  if (!plan.ok) throw plan.error;
  return plan.value;
}

const offsetOf = (i: number) =>
  `0000000000000000_${String(i).padStart(16, "0")}`;

Deno.test("parseSort() defaults and appends offset (spec §3)", () => {
  assert.deepEqual(keys(undefined), [{ key: "offset", order: "desc" }]);
  assert.deepEqual(keys(undefined, true), [
    { key: "_score", order: "desc" },
    { key: "ts", order: "desc" },
    { key: "offset", order: "desc" },
  ]);
  assert.deepEqual(keys(["ts:asc"]), [{ key: "ts", order: "asc" }, {
    key: "offset",
    order: "asc",
  }]);
  assert.deepEqual(keys(["status", "offset:asc"]), [
    { key: "status", order: "desc" },
    { key: "offset", order: "asc" },
  ]);
  assert.deepEqual(keys(["_score"]), [{ key: "_score", order: "desc" }, {
    key: "offset",
    order: "desc",
  }]);
});

Deno.test("parseSort() refuses bad keys (table)", () => {
  const cases: [string[], RegExp][] = [
    [["message"], /not sortable/],
    [["service"], /not sortable/],
    [["svc:asc"], /not sortable/],
    [["nope"], /not indexed/],
    [["ts:up"], /asc or desc/],
    [["ts", "ts:asc"], /twice/],
    [[], /empty/],
  ];
  for (const [sort, message] of cases) {
    const result = parseSort(CONFIG, sort, false);
    assert.equal(result.ok, false, sort.join(","));
    if (!result.ok) assert.match(result.error.message, message);
  }
});

Deno.test("sortValues() takes min ascending, max descending; missing sorts last", () => {
  const doc = extractFields(CONFIG, { ts: [5, 1, 9] }, 1);
  const asc = keys(["ts:asc"]);
  const desc = keys(["ts:desc"]);
  assert.deepEqual(sortValues(asc, doc, offsetOf(1), 0), [1, offsetOf(1)]);
  assert.deepEqual(sortValues(desc, doc, offsetOf(1), 0), [9, offsetOf(1)]);
  const missing = sortValues(asc, extractFields(CONFIG, {}, 1), offsetOf(2), 0);
  assert.deepEqual(missing, [null, offsetOf(2)]);
  assert.ok(compareSortValues(asc, [1, offsetOf(1)], missing) < 0);
  assert.ok(compareSortValues(desc, [9, offsetOf(1)], [null, offsetOf(2)]) < 0);
});

Deno.test("parseSearchAfter() canonicalizes per key and refuses bad shapes", () => {
  const k = keys(["status", "ts:asc", "_score"]);
  const parsed = parseSearchAfter(CONFIG, k, [
    500,
    "2025-12-01T10:00:00Z",
    1.5,
    offsetOf(3),
  ]);
  assert.deepEqual(parsed, {
    ok: true,
    value: [500n, 1764583200000, 1.5, offsetOf(3)],
  });
  assert.deepEqual(parseSearchAfter(CONFIG, k, [null, null, 0, offsetOf(3)]), {
    ok: true,
    value: [null, null, 0, offsetOf(3)],
  });
  for (
    const bad of [[500], "x", [500, 1, 1, 3], ["x", 1, 1, offsetOf(3)], [
      500,
      1,
      null,
      offsetOf(3),
    ]]
  ) {
    assert.equal(
      parseSearchAfter(CONFIG, k, bad).ok,
      false,
      JSON.stringify(bad),
    );
  }
  assert.deepEqual(sortValuesToJson([2n ** 60n, 5n, "a", null]), [
    "1152921504606846976",
    5,
    "a",
    null,
  ]);
});

Deno.test("TopK keeps the best hits (property)", () => {
  const k: SortKey[] = [{ key: "_score", order: "desc" }, {
    key: "offset",
    order: "asc",
  }];
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 5 })),
      fc.integer({ min: 1, max: 6 }),
      (scores, size) => {
        const top = new TopK(k, size);
        const hits: Hit[] = scores.map((s, i) => ({
          offset: offsetOf(i),
          score: s,
          sort: [s, offsetOf(i)],
        }));
        for (const hit of hits) top.push(hit);
        assert.ok(top.length <= size);
        const want = [...hits].sort((a, b) =>
          b.score - a.score || a.offset.localeCompare(b.offset)
        ).slice(0, size);
        assert.deepEqual(top.sorted(), want);
      },
    ),
  );
});

/** Pages through `records` with `search_after` until the last page. */
function allPages(
  plan: Plan,
  records: Candidate[],
  k: SortKey[],
  size: number,
): Hit[][] {
  const stats = emptyStats();
  for (const r of records) addToStats(stats, r.doc);
  const pages: Hit[][] = [];
  let after = undefined;
  for (let i = 0; i <= records.length + 1; i++) {
    const page = searchPage(CONFIG, plan, records, {
      keys: k,
      size,
      after,
      stats,
    });
    pages.push(page.hits);
    if (page.nextSearchAfter === null) return pages;
    // The paging key goes to the client as JSON and comes back.
    const back = parseSearchAfter(
      CONFIG,
      k,
      JSON.parse(JSON.stringify(sortValuesToJson(page.nextSearchAfter))),
    );
    assert.equal(back.ok, true);
    if (back.ok) after = back.value;
  }
  throw new Error("paging did not end");
}

Deno.test("status:500, size 10: offset desc, pages yield every match once (spec §7.5)", () => {
  const records: Candidate[] = Array.from({ length: 57 }, (_, i) => ({
    offset: offsetOf(i),
    doc: extractFields(CONFIG, { status: i % 3 === 0 ? 500 : 200, ts: i }, 1),
  }));
  const plan = compile("status:500");
  const k = keys(undefined, hasTextClause(plan));
  const pages = allPages(plan, records, k, 10);
  assert.equal(pages[0].length, 10);
  const offsets = pages.flat().map((h) => h.offset);
  const want = records.filter((_, i) => i % 3 === 0).map((r) => r.offset)
    .reverse();
  assert.deepEqual(offsets, want);
});

Deno.test("searchPage() ranks by score, then ts, then offset (spec §7.6)", () => {
  const messages = [
    "db timeout",
    "timeout",
    "db timeout db timeout",
    "nothing",
    "timeout",
  ];
  const records = messages.map((m, i) => ({
    offset: offsetOf(i),
    doc: extractFields(CONFIG, { message: m, ts: 100 - i }, 2),
  }));
  const plan = compile("db timeout");
  const [page] = allPages(plan, records, keys(undefined, true), 10);
  assert.deepEqual(page.map((h) => h.offset), [offsetOf(2), offsetOf(0)]);
  assert.ok(page[0].score > page[1].score);
  const single =
    allPages(compile("timeout"), records, keys(undefined, true), 10)[0];
  // Records 1 and 4 tie on score; the later ts (record 1) comes first.
  assert.deepEqual(single.slice(0, 2).map((h) => h.offset), [
    offsetOf(1),
    offsetOf(4),
  ]);
});

Deno.test("paged searchPage() equals a full sort of every match (property)", () => {
  const words = ["db", "timeout", "disk", "full"];
  const record = fc.record({
    ts: fc.oneof(
      fc.integer({ min: 0, max: 5 }),
      fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 2 }),
    ),
    status: fc.constantFrom(200, 500),
    message: fc.array(fc.constantFrom(...words), { maxLength: 5 }).map((w) =>
      w.join(" ")
    ),
  }, { requiredKeys: [] });
  const query = fc.constantFrom(
    "timeout",
    "db OR full",
    "status:500",
    "-status:500 disk",
    "has:ts",
  );
  const sort = fc.constantFrom<string[] | undefined>(
    undefined,
    ["ts:asc"],
    ["ts"],
    ["status:asc", "_score"],
    ["offset:asc"],
  );
  fc.assert(
    fc.property(
      fc.array(record, { maxLength: 25 }),
      query,
      sort,
      fc.integer({ min: 1, max: 4 }),
      (raws, q, s, size) => {
        const records = raws.map((r, i) => ({
          offset: offsetOf(i),
          doc: extractFields(CONFIG, r, 2),
        }));
        const plan = compile(q);
        const k = keys(s, hasTextClause(plan));
        const pages = allPages(plan, records, k, size);
        const stats = emptyStats();
        for (const r of records) addToStats(stats, r.doc);
        const want = records.filter((r) => matches(CONFIG, plan, r.doc)).map(
          (r) => {
            const sc = score(CONFIG, plan, r.doc, stats);
            return {
              offset: r.offset,
              score: sc,
              sort: sortValues(k, r.doc, r.offset, sc),
            };
          },
        ).sort((a, b) => compareSortValues(k, a.sort, b.sort));
        assert.deepEqual(pages.flat(), want);
        for (const page of pages.slice(0, -1)) assert.equal(page.length, size);
      },
    ),
    { numRuns: 200 },
  );
});
