import assert from "node:assert/strict";
import { validateTouch } from "../profiles/_touch_options.ts";
import type { JsonObject } from "../profiles/profile.ts";
import { TouchJournal } from "./journal.ts";
import { KeyHasher } from "./keys.ts";
import {
  type ActiveTemplate,
  type BatchInput,
  type Change,
  changeFromRecord,
  initialState,
  journalOptions,
  type MissingBefore,
  nextMode,
  processBatch,
  type ProcessorOptions,
  processorOptions,
  type ProcessorState,
  releaseCoarse,
} from "./processor.ts";

const hasher = await KeyHasher.create();

function touchConfig(extra: Record<string, unknown> = {}): JsonObject {
  const r = validateTouch({ enabled: true, ...extra });
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
}

const OPTS = processorOptions(touchConfig());
const TODOS = {
  ...hasher.template("public.todos", [
    { name: "status", encoding: "string" },
    { name: "tenantId", encoding: "string" },
    { name: "userId", encoding: "string" },
  ]),
  activeFromSeq: 0,
} satisfies ActiveTemplate;
const TUPLE = ["open", "t1", "u1"];
const ROW = { status: "open", tenantId: "t1", userId: "u1", title: "a" };

function run(
  changes: Change[],
  extra: Partial<BatchInput> = {},
  opts: ProcessorOptions = OPTS,
  state: ProcessorState = initialState(opts, 0),
) {
  return processBatch(hasher, opts, state, {
    changes,
    nowMs: 1000,
    lagRecords: 0,
    activeWaiters: 1,
    templates: new Map([["public.todos", [TODOS]]]),
    ...extra,
  });
}
const keysOf = (out: { touches: { key: string }[] }) =>
  new Set(out.touches.map((t) => t.key));

Deno.test("touch processor: options come from the validated profile", () => {
  const touch = touchConfig({
    onMissingBefore: "skipBefore",
    memory: { k: 2 },
  });
  assert.equal(processorOptions(touch).onMissingBefore, "skipBefore");
  assert.equal(processorOptions(touch).fineTouchBudgetPerBatch, 2000);
  assert.equal(journalOptions(touch).k, 2);
  assert.equal(journalOptions(touch).filterPow2, 22);
});

Deno.test("touch processor: records to changes; controls and bad records skipped", () => {
  const insert = {
    type: "public.todos",
    key: "1",
    value: ROW,
    headers: { operation: "insert" },
  };
  assert.deepEqual(changeFromRecord(insert, 3), {
    seq: 3,
    entity: "public.todos",
    op: "insert",
    before: null,
    after: ROW,
  });
  const update = {
    type: "e",
    key: "1",
    value: { a: 2 },
    old_value: { a: 1 },
    headers: { operation: "update" },
  };
  assert.deepEqual(changeFromRecord(update, 0)?.before, { a: 1 });
  assert.equal(
    changeFromRecord({ ...update, old_value: undefined }, 0)?.before,
    null,
  );
  assert.equal(changeFromRecord({ headers: { control: "reset" } }, 0), null);
  assert.equal(changeFromRecord({ type: "e", headers: {} }, 0), null);
  assert.equal(changeFromRecord("x", 0), null);
});

Deno.test("touch processor: an insert touches the table, watch and membership golden keys", () => {
  const out = run([{
    seq: 0,
    entity: "public.todos",
    op: "insert",
    before: null,
    after: ROW,
  }]);
  assert.deepEqual(
    keysOf(out),
    new Set([
      "feadeb84d447fd63",
      "39accd125778dc36",
      "eae633979a7ee466",
    ]),
  );
  const kinds = out.touches.map((t) => t.kind).sort();
  assert.deepEqual(kinds, ["fine", "fine", "table"]);
  for (const t of out.touches) assert.equal(t.keyId, hasher.keyId(t.key));
});

Deno.test("touch processor: activation is not retroactive", () => {
  const late = new Map([["public.todos", [{ ...TODOS, activeFromSeq: 5 }]]]);
  const out = run(
    [{
      seq: 4,
      entity: "public.todos",
      op: "insert",
      before: null,
      after: ROW,
    }],
    { templates: late },
  );
  assert.deepEqual(keysOf(out), new Set(["feadeb84d447fd63"]));
});

Deno.test("touch processor: updates, with and without a before image", () => {
  const done = { ...ROW, status: "done" };
  const moved = run([{
    seq: 0,
    entity: "public.todos",
    op: "update",
    before: ROW,
    after: done,
  }]);
  const doneArgs = ["done", "t1", "u1"];
  for (
    const key of [
      hasher.watchKey(TODOS.id, TUPLE),
      hasher.watchKey(TODOS.id, doneArgs),
      hasher.membershipKey(TODOS.id, TUPLE),
      hasher.membershipKey(TODOS.id, doneArgs),
    ]
  ) assert.ok(keysOf(moved).has(key));
  const retitled = run([{
    seq: 0,
    entity: "public.todos",
    op: "update",
    before: ROW,
    after: { ...ROW, title: "b" },
  }]);
  assert.ok(keysOf(retitled).has("1ecc53e76a89f0d5"));
  assert.ok(!keysOf(retitled).has("eae633979a7ee466"));
  const noBefore: Change = {
    seq: 0,
    entity: "public.todos",
    op: "update",
    before: null,
    after: done,
  };
  assert.deepEqual(keysOf(run([noBefore])), new Set(["feadeb84d447fd63"]));
  const skip = { ...OPTS, onMissingBefore: "skipBefore" as MissingBefore };
  const skipped = keysOf(run([noBefore], {}, skip));
  assert.ok(skipped.has(hasher.watchKey(TODOS.id, doneArgs)));
  assert.ok(skipped.has(hasher.projectedFieldKey(TODOS.id, "title", doneArgs)));
  assert.ok(!skipped.has(hasher.watchKey(TODOS.id, TUPLE)));
});

Deno.test("touch processor: onMissingBefore error latches coarseOnly and records the error", () => {
  const err = { ...OPTS, onMissingBefore: "error" as MissingBefore };
  const out = run(
    [
      {
        seq: 7,
        entity: "public.todos",
        op: "update",
        before: null,
        after: ROW,
      },
      {
        seq: 8,
        entity: "public.todos",
        op: "insert",
        before: null,
        after: ROW,
      },
    ],
    {},
    err,
  );
  assert.equal(out.state.mode, "coarseOnly");
  assert.equal(out.state.counters.missingBeforeErrors, 1);
  assert.match(out.state.lastError!, /record 7/);
  assert.deepEqual(
    keysOf(out),
    new Set(["feadeb84d447fd63", hasher.templateKey(TODOS.id)]),
  );
  const next = run(
    [
      {
        seq: 9,
        entity: "public.todos",
        op: "insert",
        before: null,
        after: ROW,
      },
    ],
    {},
    err,
    out.state,
  );
  assert.equal(next.state.mode, "coarseOnly");
});

Deno.test("touch processor: lag degrades to template keys and recovers with hysteresis", () => {
  let s = initialState(OPTS, 0);
  const step = (lag: number, waiters = 1) => {
    const m = nextMode(s, lag, waiters, OPTS);
    s = { ...s, ...m };
    return m.mode;
  };
  assert.equal(step(0, 0), "idle");
  assert.equal(step(0), "fine");
  assert.equal(step(5000), "fine");
  assert.equal(step(5001), "restricted");
  assert.equal(step(3000), "restricted");
  assert.equal(step(1000), "fine");
  const out = run(
    [{
      seq: 0,
      entity: "public.todos",
      op: "insert",
      before: null,
      after: ROW,
    }],
    { lagRecords: 6000 },
  );
  assert.equal(out.state.mode, "restricted");
  assert.deepEqual(
    keysOf(out),
    new Set(["feadeb84d447fd63", hasher.templateKey(TODOS.id)]),
  );
});

Deno.test("touch processor: budget, tokens and cold keys turn fine touches into template keys", () => {
  const ins = (i: number): Change => ({
    seq: i,
    entity: "public.todos",
    op: "insert",
    before: null,
    after: { ...ROW, userId: `u${i}` },
  });
  const tight = { ...OPTS, fineTouchBudgetPerBatch: 3 };
  const out = run([ins(1), ins(2), ins(3)], {}, tight);
  assert.equal(out.touches.filter((t) => t.kind === "fine").length, 3);
  assert.equal(out.state.counters.fineDroppedBudget, 3);
  assert.ok(keysOf(out).has(hasher.templateKey(TODOS.id)));
  const noTokens = { ...OPTS, fineBurstTokens: 1, fineTokensPerSecond: 0 };
  const t = run([ins(1)], {}, noTokens);
  assert.equal(t.touches.filter((x) => x.kind === "fine").length, 1);
  assert.equal(t.state.counters.fineDroppedBudget, 1);
  const hot = hasher.keyId(hasher.watchKey(TODOS.id, ["open", "t1", "u1"]));
  const cold = run([ins(2), { ...ins(0), after: ROW }], {
    isHotKey: (id) => id === hot,
  });
  assert.deepEqual(
    cold.touches.filter((x) => x.kind === "fine").map((x) => x.key),
    ["39accd125778dc36"],
  );
  assert.equal(cold.state.counters.fineDroppedCold, 3);
  assert.ok(keysOf(cold).has(hasher.templateKey(TODOS.id)));
});

Deno.test("touch processor: table touches coalesce per coarseIntervalMs and are released later", () => {
  const ins: Change = {
    seq: 0,
    entity: "public.todos",
    op: "insert",
    before: null,
    after: ROW,
  };
  const first = run([ins], { templates: new Map() });
  assert.deepEqual(keysOf(first), new Set(["feadeb84d447fd63"]));
  const second = run(
    [ins],
    { templates: new Map(), nowMs: 1050 },
    OPTS,
    first.state,
  );
  assert.deepEqual(second.touches, []);
  assert.equal(second.state.coarsePending.size, 1);
  const s = second.state;
  assert.deepEqual(releaseCoarse(hasher, OPTS, s, 1099), []);
  const released = releaseCoarse(hasher, OPTS, s, 1100);
  assert.deepEqual(released.map((t) => t.key), ["feadeb84d447fd63"]);
  assert.equal(s.coarsePending.size, 0);
  assert.equal(s.counters.tableTouches, 2);
});

// ---- No false negatives: the processor and journal against a brute-force model.

type Tpl = ActiveTemplate;
const FIELD_NAMES = ["a", "b", "c"];
const VALUES = ["x", "y", 1, null];

function lcg(seed: number) {
  return (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
}

/** Fine keys a change must wake, written straight from the spec's rules. */
function modelKeys(t: Tpl, c: Change, missing: MissingBefore): Set<string> {
  const tup = (row: Record<string, unknown> | null) => {
    if (row === null) return null;
    const args = t.fields.map((f) => row[f.name]);
    if (args.some((v) => v === null || v === undefined)) return null;
    return args.map(String);
  };
  const keys = new Set<string>();
  const wm = (a: string[] | null, mem: boolean) => {
    if (!a) return;
    keys.add(hasher.watchKey(t.id, a));
    if (mem) keys.add(hasher.membershipKey(t.id, a));
  };
  const b = tup(c.before);
  const a = tup(c.after);
  if (c.op === "insert") wm(a, true);
  else if (c.op === "delete") wm(b, true);
  else if (c.before === null) {
    if (missing === "skipBefore" && a) {
      wm(a, true);
      for (const f of Object.keys(c.after!)) {
        keys.add(hasher.projectedFieldKey(t.id, f, a));
      }
    }
  } else {
    const same = JSON.stringify(a) === JSON.stringify(b) && a !== null;
    wm(b, !same);
    wm(a, !same);
    if (same) {
      if (c.before.d !== c.after!.d) {
        keys.add(hasher.projectedFieldKey(t.id, "d", a!));
      }
    }
  }
  return keys;
}

Deno.test("touch processor: property — every change a waiter listens to wakes it, fine or coarse", () => {
  let checked = 0;
  for (let round = 0; round < 60; round++) {
    const rnd = lcg(round + 1);
    const missing = (["coarse", "skipBefore", "error"] as const)[rnd(3)];
    const opts: ProcessorOptions = {
      ...OPTS,
      onMissingBefore: missing,
      coarseIntervalMs: [10, 100, 1000][rnd(3)],
      fineTouchBudgetPerBatch: rnd(6),
      fineBurstTokens: rnd(8),
      fineTokensPerSecond: rnd(3) * 10,
      lagDegradeFineTouchesAtSourceOffsets: 50,
      lagRecoverFineTouchesAtSourceOffsets: 10,
      lagReservedFineTouchBudgetPerBatch: rnd(3),
    };
    const entities = ["e1", "e2"];
    const templates: Tpl[] = [];
    for (const entity of entities) {
      for (let i = 0; i < 2; i++) {
        const names = FIELD_NAMES.filter(() => rnd(2) === 0);
        if (names.length === 0) names.push("a");
        templates.push({
          ...hasher.template(
            entity,
            names.map((name) => ({ name, encoding: "string" })),
          ),
          activeFromSeq: rnd(30),
        });
      }
    }
    const byEntity = new Map<string, Tpl[]>();
    for (const t of templates) {
      byEntity.set(t.entity, [...(byEntity.get(t.entity) ?? []), t]);
    }
    const clock = { now: 0 };
    const journal = new TouchJournal(
      {
        ...journalOptions(touchConfig()),
        bucketMs: 10,
        filterPow2: 10,
        k: 2,
        // Small caps in some rounds: overflow buckets and a short exact lane.
        pendingMaxKeys: [3, 8, 1000][rnd(3)],
      },
      () => clock.now,
    );
    const hotIds = new Set<number>();
    let state = initialState(opts, 0);
    const changes: Change[] = [];
    const waits: {
      at: number;
      gen: number;
      keys: string[];
      table?: string;
      tpl?: Tpl;
      fine?: string;
    }[] = [];
    const row = () => {
      const r: Record<string, unknown> = {};
      for (const f of [...FIELD_NAMES, "d"]) r[f] = VALUES[rnd(VALUES.length)];
      return r;
    };
    for (let batch = 0; batch < 15; batch++) {
      // Waits start between batches, with the current cursor.
      for (let w = 0; w < 3; w++) {
        if (rnd(2) === 0) {
          const entity = entities[rnd(2)];
          waits.push({
            at: changes.length,
            gen: journal.generation,
            keys: [hasher.tableKey(entity)],
            table: entity,
          });
        } else {
          const tpl = templates[rnd(templates.length)];
          const args = tpl.fields.map(() => String(VALUES[rnd(2)]));
          const fine = [
            hasher.watchKey(tpl.id, args),
            hasher.membershipKey(tpl.id, args),
            hasher.projectedFieldKey(tpl.id, "d", args),
          ][rnd(3)];
          // A fine wait listens on its keys and its templates' keys.
          const keys = [fine, hasher.templateKey(tpl.id)];
          if (rnd(2) === 0) hotIds.add(hasher.keyId(fine));
          waits.push({
            at: changes.length,
            gen: journal.generation,
            keys,
            tpl,
            fine,
          });
        }
      }
      const batchChanges: Change[] = [];
      for (let i = rnd(6); i > 0; i--) {
        const op = (["insert", "update", "delete"] as const)[rnd(3)];
        const before = op === "insert"
          ? null
          : rnd(4) === 0 && op === "update"
          ? null
          : row();
        let after = op === "delete" ? null : row();
        if (op === "update" && before && rnd(2) === 0) {
          after = { ...before, d: VALUES[rnd(4)] };
        }
        const c: Change = {
          seq: changes.length,
          entity: entities[rnd(2)],
          op,
          before,
          after,
        };
        changes.push(c);
        batchChanges.push(c);
      }
      clock.now += rnd(40);
      const out = processBatch(hasher, opts, state, {
        changes: batchChanges,
        nowMs: clock.now,
        lagRecords: rnd(80),
        activeWaiters: rnd(4),
        templates: byEntity,
        isHotKey: rnd(2) === 0 ? undefined : (id) => hotIds.has(id),
      });
      state = out.state;
      for (const t of out.touches) journal.touch(t.keyId, t.key);
      if (rnd(2) === 0) journal.flush();
    }
    clock.now += 10_000;
    for (const t of releaseCoarse(hasher, opts, state, clock.now)) {
      journal.touch(t.keyId, t.key);
    }
    journal.flush();
    for (const w of waits) {
      const due = changes.slice(w.at).some((c) => {
        if (w.table !== undefined) return c.entity === w.table;
        const t = w.tpl!;
        return c.entity === t.entity && c.seq >= t.activeFromSeq &&
          modelKeys(t, c, missing).has(w.fine!);
      });
      if (!due) continue;
      checked++;
      const keyIds = Uint32Array.from(w.keys.map((k) => hasher.keyId(k)));
      assert.equal(
        journal.matches({ generation: w.gen, keyIds }),
        true,
        `round ${round}: wait on ${w.keys} from generation ${w.gen} missed`,
      );
      if (w.keys.length <= 16) {
        assert.equal(
          journal.matches({ generation: w.gen, keyIds, exactKeys: w.keys }),
          true,
          `round ${round}: exact wait on ${w.keys} missed`,
        );
      }
    }
  }
  assert.ok(checked > 200, `only ${checked} due waits checked`);
});
