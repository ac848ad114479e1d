// The spec's acceptance scenarios at the core level: State Protocol records
// through the processor into a journal, waits planned and matched, no HTTP.
import assert from "node:assert/strict";
import { validateTouch } from "../profiles/_touch_options.ts";
import { TouchJournal } from "./journal.ts";
import { KeyHasher } from "./keys.ts";
import {
  changeFromRecord,
  initialState,
  journalOptions,
  processBatch,
  processorOptions,
} from "./processor.ts";
import { TemplateRegistry } from "./templates.ts";
import { parseWaitBody, planWait, startWait } from "./wait.ts";

const hasher = await KeyHasher.create();

function stream(extra: Record<string, unknown> = {}) {
  const touch = validateTouch({ enabled: true, ...extra });
  if (!touch.ok) throw touch.error;
  const clock = { now: 0 };
  const opts = processorOptions(touch.value);
  const journal = new TouchJournal(
    journalOptions(touch.value),
    () => clock.now,
  );
  const t = touch.value.templates as Record<string, number>;
  const templates = new TemplateRegistry(hasher, {
    defaultInactivityTtlMs: t.defaultInactivityTtlMs,
    maxActiveTemplatesPerEntity: t.maxActiveTemplatesPerEntity,
    maxActiveTemplatesPerStream: t.maxActiveTemplatesPerStream,
    activationRateLimitPerMinute: t.activationRateLimitPerMinute,
  }, () => clock.now);
  let state = initialState(opts, 0);
  let seq = 0;
  return {
    clock,
    journal,
    templates,
    activate(entity: string, names: string[]) {
      const r = templates.activate(
        {
          templates: [{
            entity,
            fields: names.map((name) => ({ name, encoding: "string" })),
          }],
          inactivityTtlMs: 60_000,
        },
        seq,
        journal.cursor(),
      );
      assert.equal(r.activated.length, 1);
    },
    append(...records: unknown[]) {
      const changes = records.map((r) => changeFromRecord(r, seq++)).filter((
        c,
      ) => c !== null);
      clock.now += 1000;
      const out = processBatch(hasher, opts, state, {
        changes,
        nowMs: clock.now,
        lagRecords: 0,
        activeWaiters: 1,
        templates: templates.activeByEntity(),
      });
      state = out.state;
      for (const t of out.touches) journal.touch(t.keyId, t.key);
      journal.flush();
    },
    woken(body: Record<string, unknown>): boolean | "stale" {
      const req = parseWaitBody(body);
      if (!req.ok) throw req.error;
      const plan = planWait(
        hasher,
        req.value,
        state.mode,
        (id) => templates.entityOf(id),
      );
      if (!plan.ok) throw plan.error;
      const start = startWait(journal, req.value, plan.value);
      return start.kind === "stale" ? "stale" : journal.matches(start.query);
    },
  };
}

const insert = (type: string, value: unknown) => ({
  type,
  key: "k",
  value,
  headers: { operation: "insert" },
});
const update = (value: unknown, old_value?: unknown) => ({
  type: "public.todos",
  key: "k",
  value,
  old_value,
  headers: { operation: "update" },
});
const FIELDS = ["status", "tenantId", "userId"];
const ROW = { status: "open", tenantId: "t1", userId: "u1", title: "a" };
const TID = "ddd2330fdab379da";

Deno.test("touch pipeline: an insert wakes the golden watch key; others stay asleep", () => {
  const s = stream();
  s.activate("public.todos", FIELDS);
  const cursor = s.journal.cursor();
  s.append(insert("public.todos", ROW));
  assert.equal(
    s.woken({ cursor, keys: ["39accd125778dc36"], templateIdsUsed: [TID] }),
    true,
  );
  assert.equal(
    s.woken({ cursor, keys: ["39accd125778dc36"], exact: true }),
    true,
  );
  const other = hasher.watchKey(TID, ["open", "t1", "u2"]);
  assert.equal(s.woken({ cursor, keys: [other], exact: true }), false);
});

Deno.test("touch pipeline: coarse waits wake on their entity only", () => {
  const s = stream();
  const cursor = s.journal.cursor();
  s.append(insert("public.other", { a: 1 }));
  const coarse = {
    cursor,
    interestMode: "coarse",
    keys: [hasher.tableKey("public.todos")],
  };
  assert.equal(s.woken(coarse), false);
  s.append(insert("public.todos", ROW));
  assert.equal(s.woken(coarse), true);
});

Deno.test("touch pipeline: activation is not retroactive", () => {
  const s = stream();
  const cursor = s.journal.cursor();
  s.append(insert("public.todos", ROW));
  s.activate("public.todos", FIELDS);
  assert.equal(
    s.woken({ cursor, keys: ["39accd125778dc36"], exact: true }),
    false,
  );
  assert.equal(
    s.woken({
      cursor,
      interestMode: "coarse",
      keys: ["x"],
      templateIdsUsed: [TID],
    }),
    true,
  );
});

Deno.test("touch pipeline: updates without and with old_value", () => {
  const s = stream();
  s.activate("public.todos", FIELDS);
  const oldKey = hasher.watchKey(TID, ["open", "t1", "u1"]);
  let cursor = s.journal.cursor();
  s.append(update({ ...ROW, status: "done" }));
  assert.equal(s.woken({ cursor, keys: [oldKey], exact: true }), false);
  assert.equal(
    s.woken({
      cursor,
      interestMode: "coarse",
      keys: [hasher.tableKey("public.todos")],
    }),
    true,
  );
  const skip = stream({ onMissingBefore: "skipBefore" });
  skip.activate("public.todos", FIELDS);
  cursor = skip.journal.cursor();
  skip.append(update({ ...ROW, status: "done" }));
  const doneKey = hasher.watchKey(TID, ["done", "t1", "u1"]);
  assert.equal(skip.woken({ cursor, keys: [doneKey], exact: true }), true);
  cursor = s.journal.cursor();
  s.append(update({ ...ROW, title: "b" }, ROW));
  assert.equal(
    s.woken({ cursor, keys: ["1ecc53e76a89f0d5"], exact: true }),
    true,
  );
  assert.equal(
    s.woken({ cursor, keys: ["eae633979a7ee466"], exact: true }),
    false,
  );
});

Deno.test("touch pipeline: a new journal (restart) answers stale", () => {
  const s = stream();
  const cursor = s.journal.cursor();
  const restarted = stream();
  assert.equal(restarted.woken({ cursor, keys: ["a"] }), "stale");
  assert.equal(s.woken({ cursor, keys: ["a"] }), false);
});
