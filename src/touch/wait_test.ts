import assert from "node:assert/strict";
import { TouchJournal } from "./journal.ts";
import { KeyHasher } from "./keys.ts";
import {
  parseWaitBody,
  planWait,
  startWait,
  type WaitRequest,
} from "./wait.ts";

const hasher = await KeyHasher.create();
const TID = "ddd2330fdab379da";
const WATCH = "39accd125778dc36";
const TABLE = "feadeb84d447fd63";
const entityOf = (id: string) => id === TID ? "public.todos" : undefined;
const MEM = {
  bucketMs: 100,
  filterPow2: 12,
  k: 4,
  pendingMaxKeys: 1000,
  hotKeyTtlMs: 10_000,
  hotTemplateTtlMs: 10_000,
  hotMaxKeys: 1000,
  hotMaxTemplates: 100,
};

function parse(body: unknown): WaitRequest {
  const r = parseWaitBody(body);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

const BAD: [string, unknown][] = [
  ["not an object", []],
  ["no keys", { cursor: "now" }],
  ["1025 keys", {
    cursor: "now",
    keys: Array.from({ length: 1025 }, (_, i) => `k${i}`),
  }],
  ["1025 key ids", {
    cursor: "now",
    keyIds: Array.from({ length: 1025 }, (_, i) => i),
  }],
  ["empty keys", { cursor: "now", keys: [] }],
  ["key id not uint32", { cursor: "now", keyIds: [2 ** 32] }],
  ["cursor abc", { cursor: "abc", keys: ["a"] }],
  ["no cursor", { keys: ["a"] }],
  ["timeoutMs string", { cursor: "now", keys: ["a"], timeoutMs: "x" }],
  ["interestMode", { cursor: "now", keys: ["a"], interestMode: "both" }],
  ["exact 17 keys", {
    cursor: "now",
    exact: true,
    keys: Array.from({ length: 17 }, () => WATCH),
  }],
  ["exact non-hex key", { cursor: "now", exact: true, keys: ["abc"] }],
  ["exact coarse", {
    cursor: "now",
    exact: true,
    interestMode: "coarse",
    keys: [WATCH],
  }],
  ["exact not bool", { cursor: "now", exact: 1, keys: [WATCH] }],
  ["templateIdsUsed", { cursor: "now", keys: ["a"], templateIdsUsed: [""] }],
  ["unknown field", { cursor: "now", keys: ["a"], other: 1 }],
];

for (const [name, body] of BAD) {
  Deno.test(`touch wait: 400 for ${name}`, () => {
    const r = parseWaitBody(body);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.kind, "bad_request");
  });
}

Deno.test("touch wait: defaults and timeout clamping", () => {
  const r = parse({ cursor: "now", keys: [WATCH] });
  assert.equal(r.timeoutMs, 30_000);
  assert.equal(r.interestMode, "fine");
  assert.equal(r.exact, false);
  assert.equal(
    parse({ cursor: "now", keys: ["a"], timeoutMs: 999_999 }).timeoutMs,
    120_000,
  );
  assert.equal(
    parse({ cursor: "now", keys: ["a"], timeoutMs: -5 }).timeoutMs,
    0,
  );
  assert.deepEqual(
    parse({ cursor: "00000000000000aa:3", keyIds: [7] }).cursor,
    {
      epoch: "00000000000000aa",
      generation: 3,
    },
  );
});

Deno.test("touch wait: keys per interest mode and runtime mode", () => {
  const id = (k: string) => hasher.keyId(k);
  const tplKey = hasher.templateKey(TID);
  const fine = parse({
    cursor: "now",
    keys: [WATCH],
    templateIdsUsed: [TID, "nothex"],
  });
  const p = planWait(hasher, fine, "fine", entityOf);
  assert.ok(p.ok);
  if (!p.ok) return;
  assert.equal(p.value.kind, "fineKey");
  assert.deepEqual(new Set(p.value.keyIds), new Set([id(WATCH), id(tplKey)]));
  assert.deepEqual(p.value.templateIds, [TID]);
  const r = planWait(hasher, fine, "restricted", entityOf);
  assert.ok(r.ok && r.value.kind === "templateKey");
  const c = planWait(hasher, fine, "coarseOnly", entityOf);
  assert.ok(
    c.ok && c.value.kind === "tableKey" && c.value.keyIds.includes(id(TABLE)),
  );
  const coarse = parse({
    cursor: "now",
    interestMode: "coarse",
    keys: [WATCH],
    templateIdsUsed: [TID],
  });
  const cp = planWait(hasher, coarse, "fine", entityOf);
  assert.ok(cp.ok);
  if (cp.ok) assert.deepEqual([...cp.value.keyIds], [id(TABLE)]);
  const coarseKeys = parse({
    cursor: "now",
    interestMode: "coarse",
    keys: [TABLE],
    keyIds: [9],
  });
  const ck = planWait(hasher, coarseKeys, "fine", entityOf);
  assert.ok(ck.ok);
  if (ck.ok) {
    assert.deepEqual(new Set(ck.value.keyIds), new Set([9, id(TABLE)]));
  }
  const exact = parse({ cursor: "now", exact: true, keys: [WATCH] });
  assert.equal(planWait(hasher, exact, "restricted", entityOf).ok, false);
  const ep = planWait(hasher, exact, "fine", entityOf);
  assert.ok(ep.ok);
  if (ep.ok) assert.deepEqual(ep.value.exactKeys, [WATCH]);
});

Deno.test("touch wait: cursor now, stale epoch, clamped ahead; wait marks keys hot", () => {
  const clock = { now: 0 };
  const journal = new TouchJournal(MEM, () => clock.now, "00000000000000aa");
  journal.touch(1);
  journal.flush();
  const req = parse({ cursor: "now", keys: [WATCH], templateIdsUsed: [TID] });
  const plan = planWait(hasher, req, "fine", entityOf);
  assert.ok(plan.ok);
  if (!plan.ok) return;
  const now = startWait(journal, req, plan.value);
  assert.equal(now.kind, "wait");
  if (now.kind === "wait") assert.equal(now.query.generation, 1);
  assert.equal(journal.isHotKey(hasher.keyId(WATCH)), true);
  assert.equal(journal.isHotTemplate(TID), true);
  const stale = startWait(journal, {
    ...req,
    cursor: { epoch: "00000000000000bb", generation: 1 },
  }, plan.value);
  assert.deepEqual(stale, {
    kind: "stale",
    cursor: "00000000000000aa:1",
    epoch: "00000000000000aa",
    generation: 1,
  });
  const ahead = startWait(journal, {
    ...req,
    cursor: { epoch: "00000000000000aa", generation: 99 },
  }, plan.value);
  assert.ok(ahead.kind === "wait" && ahead.query.generation === 1);
  // A wait from generation 1 wakes on a later touch of its template key.
  const tplKey = hasher.templateKey(TID);
  journal.touch(hasher.keyId(tplKey), tplKey);
  journal.flush();
  if (ahead.kind === "wait") assert.equal(journal.matches(ahead.query), true);
});
