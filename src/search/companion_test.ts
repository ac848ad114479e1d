import assert from "node:assert/strict";
import fc from "fast-check";
import {
  buildCompanion,
  candidateBlocks,
  type Companion,
  COMPANION_VERSION_RAW,
  CompanionError,
  type CompanionRecord,
  decodeCompanion,
  encodeCompanion,
  hasBit,
  ruledOutRanges,
  type TermField,
} from "./companion.ts";
import { compileQuery } from "./compile.ts";
import { type SearchConfig, validateSearchConfig } from "./config.ts";
import { compareScalars, matches } from "./evaluate.ts";
import { analyzeText, extractFields } from "./extract.ts";
import { parseQuery } from "./query.ts";
import { exampleSearch } from "./_fixtures.ts";

const checked = validateSearchConfig({
  defaultFields: [{ field: "message" }, { field: "service" }],
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
      normalizer: "lowercase_v1",
      exact: true,
      prefix: true,
    },
    latency: {
      kind: "float",
      bindings: [{ version: 1, jsonPointer: "/latency" }],
      column: true,
    },
    ts: {
      kind: "date",
      bindings: [{ version: 1, jsonPointer: "/ts" }],
      column: true,
    },
    ok: {
      kind: "bool",
      bindings: [{ version: 1, jsonPointer: "/ok" }],
      exact: true,
    },
    message: {
      kind: "text",
      bindings: [{ version: 1, jsonPointer: "/message" }],
      analyzer: "unicode_word_v1",
      positions: true,
    },
  },
});
if (!checked.ok) throw checked.error;
const CONFIG: SearchConfig = checked.value;

const WORDS = ["db", "timeout", "ok", "slow", "cache"];
const SERVICES = ["api", "Web", "apex", "db"];
const DATES = ["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "x"];

const recordArb = fc.record({
  status: fc.constantFrom(200, 404, 500, 503),
  service: fc.oneof(
    fc.constantFrom(...SERVICES),
    fc.array(fc.constantFrom(...SERVICES), { maxLength: 2 }),
  ),
  latency: fc.constantFrom(0.5, 1, 2.25, 10),
  ts: fc.constantFrom(...DATES),
  ok: fc.boolean(),
  message: fc.array(fc.constantFrom(...WORDS), { maxLength: 5 }).map((w) =>
    w.join(" ")
  ),
}, { requiredKeys: [] });

const clauseArb = fc.oneof(
  fc.constantFrom(200, 404, 500, 503).map((v) => `status:${v}`),
  fc.constantFrom(">=", "<", ">", "<=").chain((op) =>
    fc.constantFrom(404, 500).map((v) => `status:${op}${v}`)
  ),
  fc.constantFrom(">=", "<", ">", "<=", "").chain((op) =>
    fc.constantFrom(1, 2.25, 5).map((v) => `latency:${op}${v}`)
  ),
  fc.constantFrom(">=", "<", "").map((op) => `ts:${op}"2026-01-02T00:00:00Z"`),
  fc.constantFrom(...SERVICES).map((v) => `service:${v}`),
  fc.constantFrom("ok:true", "ok:false", "service:ap*", "message:db"),
  fc.constantFrom("has:service", "has:status", "has:message", "has:ts"),
  fc.constantFrom(...WORDS),
  fc.constantFrom('"db timeout"', "tim*", "db timeout"),
);
const queryArb = fc.oneof(
  clauseArb,
  fc.tuple(clauseArb, clauseArb).map(([a, b]) => `${a} ${b}`),
  fc.tuple(clauseArb, clauseArb).map(([a, b]) => `(${a} OR ${b})`),
  clauseArb.map((a) => `-${a}`),
);

function recordsOf(values: unknown[]): CompanionRecord[] {
  const out: CompanionRecord[] = [];
  let pos = 1000;
  for (const v of values) {
    const len = JSON.stringify(v).length + 1;
    out.push({
      startPos: pos,
      endPos: pos + len,
      doc: extractFields(CONFIG, v, 1),
    });
    pos += len;
  }
  return out;
}

function planOf(q: string) {
  const parsed = parseQuery(q);
  if (!parsed.ok) return undefined;
  const plan = compileQuery(CONFIG, parsed.value, "search");
  return plan.ok ? plan.value : undefined;
}

function build(records: CompanionRecord[], blockBytes: number): Companion {
  const startPos = records[0]?.startPos ?? 0;
  const endPos = records.at(-1)?.endPos ?? 0;
  return buildCompanion(CONFIG, 3, { startPos, endPos }, records, blockBytes);
}

Deno.test("companion: no matching record lies in a pruned block", () => {
  fc.assert(
    fc.property(
      fc.array(recordArb, { minLength: 1, maxLength: 60 }),
      queryArb,
      fc.integer({ min: 1, max: 400 }),
      (values, q, blockBytes) => {
        const plan = planOf(q);
        fc.pre(plan !== undefined);
        const records = recordsOf(values);
        const c = decodeCompanion(encodeCompanion(build(records, blockBytes)));
        const bits = candidateBlocks(CONFIG, plan!, c);
        const skipped = ruledOutRanges(CONFIG, plan!, c);
        for (const r of records) {
          if (!matches(CONFIG, plan!, r.doc)) continue;
          const b = c.blocks.findIndex((x) =>
            x.startPos <= r.startPos && r.endPos <= x.endPos
          );
          assert.ok(b >= 0, "every record lies in one block");
          assert.ok(hasBit(bits, b), `record at ${r.startPos} pruned by ${q}`);
          assert.ok(
            !skipped.some((s) =>
              s.startPos < r.endPos && r.startPos < s.endPos
            ),
          );
        }
      },
    ),
    { numRuns: 400 },
  );
});

Deno.test("companion: selective queries do rule blocks out", () => {
  const values = [];
  for (let i = 0; i < 200; i++) {
    values.push({
      status: i === 150 ? 503 : 200,
      service: i < 100 ? "api" : "web",
      latency: i,
      message: i === 150 ? "db timeout" : "ok",
    });
  }
  const c = build(recordsOf(values), 256);
  assert.ok(c.blocks.length > 10);
  for (const q of ["status:503", "timeout", "latency:>=150 latency:<151"]) {
    const bits = candidateBlocks(CONFIG, planOf(q)!, c);
    const kept = c.blocks.filter((_, i) => hasBit(bits, i)).length;
    assert.equal(kept, 1, q);
  }
  const web = candidateBlocks(CONFIG, planOf("service:web")!, c);
  const kept = c.blocks.filter((_, i) => hasBit(web, i)).length;
  assert.ok(kept < c.blocks.length && kept > 1);
});

Deno.test("companion: round trip keeps every section", () => {
  const records = recordsOf([
    { status: 200, service: "API", latency: 1.5, ts: DATES[0], ok: true },
    { message: "db timeout db", status: 9007199254740993 },
  ]);
  const c = build(records, 1);
  const back = decodeCompanion(encodeCompanion(c));
  assert.deepEqual(back, c);
  assert.deepEqual(back.fts.get("message")!.terms, ["db", "timeout"]);
  assert.deepEqual(back.fts.get("message")!.docs, [1, 1]);
  assert.deepEqual(back.exact.get("service")!.terms, ["api"]);
  // An integer beyond 2^53 widens its block's column to the whole line.
  assert.equal(back.col.get("status")!.max[1], Infinity);
});

Deno.test("companion: sections are stored compressed; the raw first version still reads", () => {
  const values = Array.from({ length: 400 }, (_, i) => ({
    status: 200 + (i % 3),
    // Keywords sharing a high surrogate: front coding keeps pairs whole.
    service: i % 2 ? "Straße" : ["api", "😀a", "😁b", "😁c"][(i >> 1) % 4],
    message: `id${i} café timeout ${i % 7 ? "ok" : "Éte"}`,
  }));
  const c = build(recordsOf(values), 64);
  const packed = encodeCompanion(c);
  const raw = encodeCompanion(c, COMPANION_VERSION_RAW);
  assert.equal(new DataView(packed.buffer).getUint32(4, true), 3);
  assert.ok(
    packed.length * 3 < raw.length,
    `${packed.length} vs ${raw.length}`,
  );
  assert.deepEqual(decodeCompanion(packed), c);
  assert.deepEqual(decodeCompanion(raw), c);
  // Version 2 (more sections, same raw layout) reads too; 4 is unknown.
  assert.deepEqual(decodeCompanion(encodeCompanion(c, 2)), c);
  const future = encodeCompanion(c, 4);
  assert.throws(() => decodeCompanion(future), CompanionError);
  assert.ok(c.exact.get("service")!.terms.includes("straße"));
  assert.deepEqual(decodeCompanion(packed).exact.get("service")!.terms, [
    "api",
    "straße",
    "😀a",
    "😁b",
    "😁c",
  ]);
  assert.ok(c.fts.get("message")!.terms.includes("café"));
});

Deno.test("companion: any damaged byte is refused", () => {
  const records = recordsOf([
    { status: 200, service: "api", message: "slow cache" },
    { status: 500, service: "web", message: "db" },
  ]);
  const bytes = encodeCompanion(build(records, 1));
  fc.assert(
    fc.property(
      fc.nat(bytes.length - 1),
      fc.integer({ min: 1, max: 255 }),
      (at, flip) => {
        const bad = bytes.slice();
        bad[at] ^= flip;
        assert.throws(() => decodeCompanion(bad), CompanionError);
      },
    ),
    { numRuns: 300 },
  );
  assert.throws(
    () => decodeCompanion(bytes.subarray(0, bytes.length - 3)),
    CompanionError,
  );
});

/**
 * The sections as a plain fold over the records would give them: per field,
 * each term's blocks and records, presence, min and max, token totals.
 */
function referenceSections(records: CompanionRecord[], c: Companion) {
  const blockOf = (pos: number) =>
    c.blocks.findIndex((b) => pos >= b.startPos && pos < b.endPos);
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(CONFIG.fields)) {
    const terms = new Map<string, { blocks: Set<number>; docs: number }>();
    const present = new Set<number>();
    let tokens = 0;
    for (const r of records) {
      const values = r.doc.values.get(name);
      if (values === undefined) continue;
      const b = blockOf(r.startPos);
      present.add(b);
      const seen = new Set<string>();
      const list = field.kind === "text"
        ? values.flatMap((v) => analyzeText(v as string))
        : values.map((v) => typeof v === "bigint" ? `${v}n` : String(v));
      if (field.kind === "text") tokens += list.length;
      // Dates and floats have no terms (`col` only).
      const termed = field.kind !== "date" && field.kind !== "float";
      for (const t of termed ? list : []) {
        const e = terms.get(t) ?? { blocks: new Set(), docs: 0 };
        terms.set(t, e);
        e.blocks.add(b);
        if (!seen.has(t)) e.docs++;
        seen.add(t);
      }
    }
    out[name] = {
      present: [...present].sort((x, y) => x - y),
      terms: [...terms.entries()].map(([t, e]) => [
        t,
        [...e.blocks].sort((x, y) => x - y),
        field.kind === "text" ? e.docs : 0,
      ]).sort(),
      tokens,
    };
  }
  return out;
}

/** The same figures read from a built companion. */
function builtSections(c: Companion) {
  const blocksOf = (bits: Uint8Array) =>
    c.blocks.map((_, i) => i).filter((i) => hasBit(bits, i));
  const termBlocks = (f: TermField, i: number) => {
    // Both views of a term's blocks agree: the list and the bitmap.
    assert.deepEqual(blocksOf(f.blocks.bitmapOf(i)), f.blocks.blocksOf(i));
    return f.blocks.blocksOf(i);
  };
  const out: Record<string, unknown> = {};
  for (const [name, field] of Object.entries(CONFIG.fields)) {
    const f = field.kind === "text" ? c.fts.get(name) : c.exact.get(name);
    const col = c.col.get(name);
    out[name] = {
      present: blocksOf((f ?? col)!.present),
      terms: f === undefined ? [] : f.terms.map((t, i) => [
        typeof t === "bigint" ? `${t}n` : String(t),
        termBlocks(f, i),
        f.docs[i],
      ]).sort(),
      tokens: field.kind === "text" ? c.fts.get(name)!.tokens : 0,
    };
  }
  return out;
}

const wordArb = fc.oneof(
  fc.constantFrom(...WORDS, "DB", "Timeout", "café", "ÉTÉ", "x1", "a-b"),
  fc.string({ maxLength: 6 }),
);

Deno.test("buildCompanion() gives the terms, blocks and counts of a plain fold (property)", () => {
  fc.assert(
    fc.property(
      fc.array(
        recordArb.chain((r) =>
          fc.array(wordArb, { maxLength: 6 }).map((w) => ({
            ...r,
            message: w.join(" "),
          }))
        ),
        { minLength: 1, maxLength: 40 },
      ),
      fc.integer({ min: 1, max: 300 }),
      (values, blockBytes) => {
        const records = recordsOf(values);
        const c = build(records, blockBytes);
        assert.deepEqual(builtSections(c), referenceSections(records, c));
        // Terms are in ascending order, as readers binary-search them.
        for (const f of [...c.fts.values(), ...c.exact.values()]) {
          for (let i = 1; i < f.terms.length; i++) {
            assert.ok(compareScalars(f.terms[i - 1], f.terms[i]) < 0);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

/**
 * The records of test/fixtures/companion_v3.bin: written by the version 3
 * encoder as it was when every term's blocks were decoded into a bitmap
 * (600 records, `exampleSearch()`, blocks of 512 bytes: 100 blocks).
 */
function fixtureCompanion(): Companion {
  const checked = validateSearchConfig(exampleSearch());
  if (!checked.ok) throw checked.error;
  const records: CompanionRecord[] = [];
  let pos = 0;
  const services = ["api", "Web", "db", "auth"];
  for (let i = 0; i < 600; i++) {
    const v = {
      ts: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
      service: services[i % 4],
      status: i % 37 === 0 ? 500 : 200,
      msg: `request ${i % 3 ? "served" : "slow"} id${i} ${
        i % 101 === 0 ? "timeout" : "ok"
      }`,
    };
    const len = JSON.stringify(v).length + 1;
    records.push({
      startPos: pos,
      endPos: pos + len,
      doc: extractFields(checked.value, v, 1, true),
      record: v,
    });
    pos += len;
  }
  return buildCompanion(
    checked.value,
    1,
    { startPos: 0, endPos: pos },
    records,
    512,
  );
}

Deno.test("companion: a stored version 3 object reads as the same companion and re-encodes to its bytes", () => {
  const stored = Deno.readFileSync(
    new URL("../../test/fixtures/companion_v3.bin", import.meta.url),
  );
  const back = decodeCompanion(stored);
  const built = fixtureCompanion();
  assert.equal(back.blocks.length, 100);
  assert.deepEqual(back, built);
  assert.deepEqual(encodeCompanion(back), stored);
  // Rare terms are kept as lists, common ones as bitmaps.
  const message = back.fts.get("message")!;
  const at = (t: string) => message.terms.indexOf(t);
  assert.equal(message.blocks.bitsAt[at("id7")], -1);
  assert.deepEqual(message.blocks.blocksOf(at("id7")), [1]);
  assert.ok(message.blocks.bitsAt[at("request")] >= 0);
  assert.equal(message.blocks.blocksOf(at("request")).length, 100);
  assert.deepEqual(message.blocks.blocksOf(at("timeout")), [
    0,
    16,
    33,
    50,
    67,
    84,
  ]);
});
