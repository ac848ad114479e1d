import assert from "node:assert/strict";
import fc from "fast-check";
import { type SearchConfig, validateSearchConfig } from "./config.ts";
import { compileQuery, type Plan, type QueryMode } from "./compile.ts";
import {
  addToStats,
  bm25,
  BM25_B,
  BM25_K1,
  emptyStats,
  matches,
  score,
} from "./evaluate.ts";
import { type ExtractedDoc, extractFields } from "./extract.ts";
import { parseQuery, printQuery, type QueryNode } from "./query.ts";
import { exampleSearch } from "./_fixtures.ts";

function config(): SearchConfig {
  const raw = exampleSearch() as {
    fields: Record<string, Record<string, unknown>>;
  };
  raw.fields.message.exists = true;
  raw.fields.flag = {
    kind: "bool",
    bindings: [{ version: 1, jsonPointer: "/flag" }],
    exact: true,
    column: true,
  };
  const result = validateSearchConfig(raw);
  if (!result.ok) throw result.error;
  return result.value;
}

const CONFIG = config();

function compile(q: string, mode: QueryMode): Plan {
  const parsed = parseQuery(q);
  if (!parsed.ok) throw parsed.error;
  const plan = compileQuery(CONFIG, parsed.value, mode);
  if (!plan.ok) throw plan.error;
  return plan.value;
}

type Raw = Record<string, unknown>;

const RECORDS: Raw[] = [
  { ts: 1000, service: "api", status: 500, message: "db timeout on write" },
  { ts: 2000, service: "API", status: 200, message: "ok" },
  { ts: 3000, service: "web", status: 503, message: "timeout talking to db" },
  { ts: 4000, service: "web", message: "no status here" },
  {
    ts: 5000,
    service: "db",
    status: "404",
    message: "not found",
    flag: "TRUE",
  },
  { ts: "1970-01-01T00:00:06Z", service: ["api", "web"], status: [200, 500] },
];

function matching(q: string, mode: QueryMode = "filter"): number[] {
  const plan = compile(q, mode);
  return RECORDS.flatMap((r, i) =>
    matches(CONFIG, plan, extractFields(CONFIG, r, 2)) ? [i] : []
  );
}

Deno.test("matches() answers the spec's filters (table)", () => {
  const cases: [string, number[]][] = [
    ["status:500", [0, 5]],
    ["status:>=500 AND -service:api", [2]],
    ["(service:api OR service:web) has:status", [0, 1, 2, 5]],
    ["svc:API", [0, 1, 5]],
    ["-has:status", [3]],
    ["status:<300", [1, 5]],
    ["status:404 flag:true", [4]],
    ["flag:false", []],
    ["ts:>=3000 ts:<6000", [2, 3, 4]],
    ['ts:>="1970-01-01T00:00:05Z"', [4, 5]],
    ["has:message -status:200", [0, 2, 3, 4]],
    ["NOT (service:web OR service:db)", [0, 1]],
  ];
  for (const [q, want] of cases) assert.deepEqual(matching(q), want, q);
});

Deno.test("matches() answers text, prefix and phrase queries (table)", () => {
  const cases: [string, number[]][] = [
    ["timeout", [0, 2]],
    ["db timeout", [0, 2]],
    ['"db timeout"', [0]],
    ['"timeout db"', []],
    ["time*", [0, 2]],
    // Inside quotes `*` is a literal (and the analyzer drops it): no prefix.
    ['"timeout tal*"', []],
    ['"timeout talking"', [2]],
    ["message:db", [0, 2]],
    ["service:ap*", [0, 1, 5]],
    ["service:we* -timeout", [3, 5]],
    ["timeout OR found", [0, 2, 4]],
    ["has:message", [0, 1, 2, 3, 4]],
  ];
  for (const [q, want] of cases) {
    assert.deepEqual(matching(q, "search"), want, q);
  }
});

Deno.test("a non-object record matches only negated clauses", () => {
  const doc = extractFields(CONFIG, [1, 2], 2);
  assert.equal(matches(CONFIG, compile("status:500", "filter"), doc), false);
  assert.equal(matches(CONFIG, compile("-status:500", "filter"), doc), true);
  assert.equal(matches(CONFIG, compile("-has:ts", "filter"), doc), true);
});

Deno.test("bm25() has the textbook shape (k1 = 1.2, b = 0.75)", () => {
  assert.equal(BM25_K1, 1.2);
  assert.equal(BM25_B, 0.75);
  const idf = Math.log(1 + (10 - 2 + 0.5) / (2 + 0.5));
  const want = idf * (3 * 2.2) / (3 + 1.2 * (1 - 0.75 + 0.75 * (4 / 8)));
  assert.ok(Math.abs(bm25(3, 4, 8, 10, 2) - want) < 1e-12);
  assert.ok(
    bm25(2, 10, 10, 100, 5) > bm25(1, 10, 10, 100, 5),
    "more occurrences score more",
  );
  assert.ok(
    bm25(1, 5, 10, 100, 5) > bm25(1, 20, 10, 100, 5),
    "shorter fields score more",
  );
  assert.ok(
    bm25(1, 10, 10, 100, 2) > bm25(1, 10, 10, 100, 50),
    "rarer terms score more",
  );
});

Deno.test("score() ranks by BM25 with boosts; fielded clauses score 0", () => {
  const docs = RECORDS.map((r) => extractFields(CONFIG, r, 2));
  const stats = emptyStats();
  for (const doc of docs) addToStats(stats, doc);
  assert.equal(stats.docCount, 6);
  assert.equal(stats.fields.get("message")?.docFreq.get("timeout"), 2);
  const plan = compile("timeout", "search");
  // "db timeout on write" (4 tokens) beats "timeout talking to db" only by... equal length: tie.
  const s0 = score(CONFIG, plan, docs[0], stats);
  const s2 = score(CONFIG, plan, docs[2], stats);
  assert.ok(s0 > 0 && Math.abs(s0 - s2) < 1e-12);
  // The boost of 2 on message doubles a bare term's score against message:timeout.
  const fielded = score(
    CONFIG,
    compile("message:timeout", "search"),
    docs[0],
    stats,
  );
  assert.ok(Math.abs(s0 - 2 * fielded) < 1e-12);
  assert.equal(
    score(CONFIG, compile("status:500", "search"), docs[0], stats),
    0,
  );
  // AND adds children: "timeout write" scores more than "timeout" on record 0.
  assert.ok(
    score(CONFIG, compile("timeout write", "search"), docs[0], stats) > s0,
  );
  // A shorter field with the same term scores more.
  const short = extractFields(CONFIG, { message: "timeout" }, 2);
  assert.ok(score(CONFIG, plan, short, stats) > s0);
});

// ---- a reference evaluator over raw records, for the property test ---------

const SERVICES = ["api", "API", "web", "db"];
const WORDS = ["db", "timeout", "ok", "write", "Disk", "full", "writes", "oks"];

const rawRecord: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(null, 7, "text", [1]) },
  {
    weight: 9,
    arbitrary: fc.record({
      ts: fc.oneof(fc.integer({ min: 0, max: 9 }), fc.constant(null)),
      service: fc.oneof(
        fc.constantFrom(...SERVICES),
        fc.array(fc.constantFrom(...SERVICES), { maxLength: 2 }),
      ),
      status: fc.oneof(
        fc.constantFrom(200, 404, 500, 503, "500", "x"),
        fc.array(fc.constantFrom(200, 500)),
      ),
      flag: fc.constantFrom(true, false, "True", "no"),
      msg: fc.array(fc.constantFrom(...WORDS), { maxLength: 4 }).map((w) =>
        w.join(" ")
      ),
      message: fc.array(fc.constantFrom(...WORDS), { maxLength: 4 }).map((w) =>
        w.join(", ")
      ),
    }, { requiredKeys: [] }),
  },
);

const clause = (mode: QueryMode): fc.Arbitrary<QueryNode> => {
  const field = (
    field: string,
    op: "=" | ">" | ">=" | "<" | "<=",
    value: string,
    prefix = false,
  ): QueryNode => ({
    type: "field",
    field,
    op,
    value,
    quoted: false,
    prefix,
  });
  const ops = fc.constantFrom("=", ">", ">=", "<", "<=" as const);
  const filters: fc.Arbitrary<QueryNode>[] = [
    fc.tuple(ops, fc.constantFrom("200", "404", "500", "503")).map(([op, v]) =>
      field("status", op, v)
    ),
    fc.tuple(ops, fc.integer({ min: 0, max: 9 })).map(([op, v]) =>
      field("ts", op, String(v))
    ),
    fc.constantFrom(...SERVICES).map((v) => field("svc", "=", v)),
    fc.constantFrom("true", "false").map((v) => field("flag", "=", v)),
    fc.constantFrom("status", "ts", "service", "message", "flag").map((
      f,
    ): QueryNode => ({ type: "has", field: f })),
  ];
  if (mode === "filter") return fc.oneof(...filters);
  const phrase = fc.array(fc.constantFrom(...WORDS), {
    minLength: 1,
    maxLength: 2,
  }).map((w) => w.join(" "));
  return fc.oneof(
    ...filters,
    fc.constantFrom("a", "ap", "w").map((v) => field("service", "=", v, true)),
    fc.tuple(fc.constantFrom(...WORDS), fc.boolean()).map((
      [v, prefix],
    ): QueryNode => ({
      type: "term",
      value: prefix ? v.slice(0, 2) : v,
      quoted: false,
      prefix,
    })),
    phrase.map((v): QueryNode => ({
      type: "term",
      value: v,
      quoted: true,
      prefix: false,
    })),
    // One word of two tokens whose last one is a prefix: "db-ti*".
    fc.tuple(fc.constantFrom(...WORDS), fc.constantFrom(...WORDS)).map((
      [a, b],
    ): QueryNode => ({
      type: "term",
      value: `${a}-${b.slice(0, 2)}`,
      quoted: false,
      prefix: true,
    })),
    phrase.map((v): QueryNode => ({
      type: "field",
      field: "message",
      op: "=",
      value: v,
      quoted: true,
      prefix: false,
    })),
  );
};

const queryOf = (mode: QueryMode): fc.Arbitrary<QueryNode> =>
  fc.letrec<{ q: QueryNode }>((tie) => ({
    q: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      clause(mode),
      tie("q").map((child): QueryNode => ({ type: "not", child })),
      fc.tuple(
        fc.constantFrom("and" as const, "or" as const),
        fc.array(tie("q"), { minLength: 2, maxLength: 3 }),
      )
        .map(([type, children]): QueryNode => ({ type, children })),
    ),
  })).q;

/** The values at a key, as a list (arrays flattened, null dropped). */
function rawValues(record: unknown, key: string): unknown[] {
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    return [];
  }
  const v = (record as Raw)[key];
  return (Array.isArray(v) ? v : [v]).filter((x) =>
    x !== null && x !== undefined
  );
}

function refNumbers(record: unknown, key: string): number[] {
  return rawValues(record, key).flatMap((v) =>
    typeof v === "number"
      ? [v]
      : typeof v === "string" && /^\d+$/.test(v)
      ? [Number(v)]
      : []
  );
}

function refCompare(op: string, a: number, b: number): boolean {
  return op === "="
    ? a === b
    : op === ">"
    ? a > b
    : op === ">="
    ? a >= b
    : op === "<"
    ? a < b
    : a <= b;
}

let messageKey = "message";

function refTokens(record: unknown): string[][] {
  return rawValues(record, messageKey).filter((v) => typeof v === "string").map(
    (
      v,
    ) =>
      (v as string).toLowerCase().split(/[^a-z0-9]+/).filter((t) => t !== ""),
  );
}

function refText(
  record: unknown,
  value: string,
  phrase: boolean,
  prefix: boolean,
): boolean {
  const want = value.toLowerCase().split(/[^a-z0-9]+/).filter((t) => t !== "");
  const eq = (j: number, t: string) =>
    prefix && j === want.length - 1 ? t.startsWith(want[j]) : t === want[j];
  const lists = refTokens(record);
  if (!phrase) {
    return want.every((_, j) => lists.some((l) => l.some((t) => eq(j, t))));
  }
  return lists.some((l) =>
    l.some((_, i) => want.every((_, j) => i + j < l.length && eq(j, l[i + j])))
  );
}

function reference(node: QueryNode, record: unknown): boolean {
  switch (node.type) {
    case "and":
      return node.children.every((c) => reference(c, record));
    case "or":
      return node.children.some((c) => reference(c, record));
    case "not":
      return !reference(node.child, record);
    case "has": {
      if (node.field === "status" || node.field === "ts") {
        return refNumbers(record, node.field).length > 0;
      }
      if (node.field === "flag") {
        return rawValues(record, "flag").some((v) =>
          typeof v === "boolean" || /^(true|false)$/i.test(String(v))
        );
      }
      const key = node.field === "message" ? messageKey : node.field;
      return rawValues(record, key).some((v) => typeof v === "string");
    }
    case "term":
      return refText(record, node.value, node.quoted, node.prefix);
    case "field":
      switch (node.field) {
        case "status":
        case "ts":
          return refNumbers(record, node.field).some((v) =>
            refCompare(node.op, v, Number(node.value))
          );
        case "flag":
          return rawValues(record, "flag").some((v) =>
            String(v).toLowerCase() === node.value
          );
        case "message":
          return refText(record, node.value, node.quoted, node.prefix);
        default: {
          const values = rawValues(record, "service").filter((v) =>
            typeof v === "string"
          ) as string[];
          const want = node.value.toLowerCase();
          return values.some((v) =>
            node.prefix
              ? v.toLowerCase().startsWith(want)
              : v.toLowerCase() === want
          );
        }
      }
  }
}

for (const mode of ["filter", "search"] as const) {
  Deno.test(`matches() agrees with a reference evaluator in ${mode} mode (property)`, () => {
    const outcomes = [0, 0];
    fc.assert(
      fc.property(
        queryOf(mode),
        fc.array(fc.tuple(rawRecord, fc.constantFrom(1, 2)), { maxLength: 8 }),
        (query, records) => {
          const compiled = compileQuery(CONFIG, query, mode);
          assert.equal(compiled.ok, true, printQuery(query));
          if (!compiled.ok) return;
          for (const [record, version] of records) {
            // Version 1 binds message to /msg, version 2 to /message.
            messageKey = version === 1 ? "msg" : "message";
            const doc: ExtractedDoc = extractFields(CONFIG, record, version);
            const want = reference(query, record);
            assert.equal(
              matches(CONFIG, compiled.value, doc),
              want,
              printQuery(query),
            );
            outcomes[want ? 1 : 0]++;
          }
        },
      ),
      { numRuns: 300 },
    );
    assert.ok(outcomes[0] > 100 && outcomes[1] > 100, `outcomes ${outcomes}`);
  });
}
