/**
 * No false negatives, against a brute-force model (touch-live.md §1, §5):
 * random State Protocol changes appended to a real engine, templates
 * activated at random points, waits on random keys from random cursors,
 * some registered before the changes (hot keys) and some asked afterwards
 * with `timeoutMs: 0` (cold keys). The model computes, for each wait, the
 * keys every change after its cursor touches under the spec's rules; when
 * one of them is the wait's key, the server must answer `touched` (or
 * `stale` after a restart). Runs in fine mode, with no fine budget, lagging
 * (restricted), with a before-image error (coarseOnly), with overflowing
 * buckets, with `skipBefore`, with repeat touches held by a coalescing
 * window, with every wait too broad for the key index (matched on the
 * generation table), across a journal restart, and with a zero
 * hot-key TTL where waits registered before the changes name no templates
 * (their own keys, hot while they wait, must wake them).
 */

import assert from "node:assert/strict";
import { defaultConfig } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import type { StreamView } from "../engine/types.ts";
import { createLogger } from "../log.ts";
import { validateTouch } from "../profiles/_touch_options.ts";
import type { JsonObject } from "../profiles/profile.ts";
import { MemoryLiveTemplateStore } from "../storage/live_template_store.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import { KeyHasher } from "../touch/keys.ts";
import { TouchService } from "./touch_service.ts";

const hasher = await KeyHasher.create();
const log = createLogger("error");
const enc = (s: string) => new TextEncoder().encode(s);
const RUNS = Number(Deno.env.get("TOUCH_PROPERTY_RUNS") ?? 6);

type Row = Record<string, string>;
interface ModelTemplate {
  id: string;
  entity: string;
  fields: string[];
}
interface ModelChange {
  entity: string;
  op: "insert" | "update" | "delete";
  before: Row | null;
  after: Row | null;
  /** Templates active for this change. */
  templates: ModelTemplate[];
}

const ENTITIES = ["e1", "e2", "e3"];
const FIELD_NAMES = ["a", "b", "c"];
const VALUES = ["x", "y"];
const TEMPLATES: ModelTemplate[] = [
  { entity: "e1", fields: ["a"] },
  { entity: "e1", fields: ["a", "b"] },
  { entity: "e2", fields: ["b"] },
].map((t) => ({ ...t, id: hasher.templateId(t.entity, t.fields) }));

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)];
}

function randomRow(r: () => number): Row {
  const row: Row = {};
  for (const f of FIELD_NAMES) if (r() < 0.9) row[f] = pick(r, VALUES);
  return row;
}

function tuple(t: ModelTemplate, row: Row | null): string[] | null {
  if (row === null) return null;
  const out: string[] = [];
  for (const f of t.fields) {
    if (row[f] === undefined) return null;
    out.push(row[f]);
  }
  return out;
}

/** The keys a change touches under the spec's rules (§4), brute force. */
function modelKeys(c: ModelChange, missingBefore: string): Set<string> {
  const keys = new Set([hasher.tableKey(c.entity)]);
  for (const t of c.templates) {
    const w = (a: string[]) => hasher.fineKey("key", t.id, null, a);
    const m = (a: string[]) => hasher.fineKey("mem", t.id, null, a);
    const fld = (f: string, a: string[]) => hasher.fineKey("fld", t.id, f, a);
    const before = tuple(t, c.before);
    const after = tuple(t, c.after);
    if (c.op === "insert" && after) keys.add(w(after)).add(m(after));
    if (c.op === "delete" && before) keys.add(w(before)).add(m(before));
    if (c.op !== "update") continue;
    if (c.before === null) {
      if (missingBefore === "skipBefore" && after) {
        keys.add(w(after)).add(m(after));
        for (const f of Object.keys(c.after!)) keys.add(fld(f, after));
      }
      continue;
    }
    if (before) keys.add(w(before));
    if (after) keys.add(w(after));
    if (before && after && before.join("\0") === after.join("\0")) {
      for (const f of FIELD_NAMES) {
        if (t.fields.includes(f)) continue;
        if ((c.before[f] ?? null) !== (c.after![f] ?? null)) {
          keys.add(fld(f, after));
        }
      }
    } else {
      if (before) keys.add(m(before));
      if (after) keys.add(m(after));
    }
  }
  return keys;
}

/** Every key a wait may ask for, with the template it belongs to. */
function keyUniverse(): { key: string; template: ModelTemplate | null }[] {
  const out: { key: string; template: ModelTemplate | null }[] = ENTITIES.map(
    (e) => ({ key: hasher.tableKey(e), template: null }),
  );
  for (const t of TEMPLATES) {
    const tuples = t.fields.length === 1
      ? VALUES.map((v) => [v])
      : VALUES.flatMap((v) => VALUES.map((u) => [v, u]));
    for (const a of tuples) {
      out.push({ key: hasher.fineKey("key", t.id, null, a), template: t });
      out.push({ key: hasher.fineKey("mem", t.id, null, a), template: t });
      for (const f of FIELD_NAMES) {
        if (t.fields.includes(f)) continue;
        out.push({ key: hasher.fineKey("fld", t.id, f, a), template: t });
      }
    }
  }
  return out;
}

function randomChange(r: () => number, allowMissingBefore: boolean) {
  const entity = pick(r, ENTITIES);
  const op = pick(r, ["insert", "update", "delete"] as const);
  const before = op === "insert" ? null : randomRow(r);
  let after = op === "delete" ? null : randomRow(r);
  if (op === "update" && r() < 0.3) {
    // Only a non-template field moves.
    after = { ...before!, c: before!.c === "x" ? "y" : "x" };
  }
  const dropBefore = op === "update" && allowMissingBefore && r() < 0.2;
  const record: Record<string, unknown> = {
    type: entity,
    key: "k",
    headers: { operation: op },
  };
  if (after !== null) record.value = after;
  if (op === "delete") record.old_value = before;
  if (op === "update" && !dropBefore) record.old_value = before;
  return {
    record,
    change: {
      entity,
      op,
      before: dropBefore ? null : before,
      after,
      templates: [],
    } as ModelChange,
  };
}

interface Scenario {
  name: string;
  touch: Record<string, unknown>;
  batchBytesMax?: number;
  restart?: boolean;
  /** A runtime mode the scenario must reach. */
  mode?: string;
  /**
   * Waits registered before the changes leave out `templateIdsUsed`: only
   * their own (hot) fine keys can wake them.
   */
  bareWaits?: boolean;
}

const SCENARIOS: Scenario[] = [
  { name: "fine", touch: {}, mode: "fine" },
  { name: "no fine budget", touch: { fineTouchBudgetPerBatch: 0 } },
  {
    name: "lagging (restricted)",
    touch: {
      lagDegradeFineTouchesAtSourceOffsets: 1,
      lagRecoverFineTouchesAtSourceOffsets: 0,
    },
    batchBytesMax: 256,
    mode: "restricted",
  },
  {
    name: "before-image error (coarseOnly)",
    touch: { onMissingBefore: "error" },
    mode: "coarseOnly",
  },
  { name: "overflowing buckets", touch: { memory: { pendingMaxKeys: 2 } } },
  { name: "skipBefore", touch: { onMissingBefore: "skipBefore" } },
  {
    name: "coalesced repeat touches",
    touch: { touchCoalesceWindowMs: 300 },
  },
  {
    name: "broad waits (a key index of one key id)",
    touch: { memory: { keyIndexMaxKeys: 1 } },
  },
  { name: "journal restart", touch: {}, restart: true },
  {
    name: "registered waits keep their keys hot",
    touch: { memory: { hotKeyTtlMs: 0 } },
    bareWaits: true,
  },
];

interface WaitCase {
  cursor: string;
  from: number;
  key: string;
  body: JsonObject;
  result?: Promise<JsonObject | null>;
  settled?: JsonObject | null;
}

/** What a run checked: due waits, and the runtime modes it went through. */
interface RunStats {
  due: number;
  restrictedBatches: number;
  coarseOnlyBatches: number;
  overflowBuckets: number;
}

async function runScenario(
  sc: Scenario,
  seed: number,
  stats: RunStats,
): Promise<void> {
  const r = rng(seed);
  const touchOpts = validateTouch({ enabled: true, ...sc.touch });
  if (!touchOpts.ok) throw touchOpts.error;
  const engine = await Engine.open(new MemoryStore(new MemoryWal()), {
    limits: defaultConfig().limits,
    log,
    onFatal: () => {},
  });
  const store = new MemoryLiveTemplateStore();
  const openService = async () => {
    const s = await TouchService.open({
      engine,
      touchOptionsOf: (_v: StreamView) => touchOpts.value,
      store,
      log,
      memoryBytesMax: 1 << 30,
      batchBytesMax: sc.batchBytesMax,
    });
    engine.addListener(s.listener());
    return s;
  };
  let service = await openService();
  const aborts = new AbortController();
  try {
    await engine.create("s", {
      contentType: "application/json",
      ttlSeconds: undefined,
      expiresAtMs: undefined,
      closed: false,
      body: new Uint8Array(),
      fork: undefined,
      routingKey: undefined,
      timestampMs: undefined,
    });
    const universe = keyUniverse();
    const active: ModelTemplate[] = [];
    const changes: ModelChange[] = [];
    const waits: WaitCase[] = [];
    const cursorNow = async () => {
      const m = await service.meta("s", new URLSearchParams(), aborts.signal);
      assert.ok(m.ok);
      return m.value.cursor as string;
    };
    const waitBody = (cursor: string, timeoutMs: number, bare = false) => {
      const u = pick(r, universe);
      const body: JsonObject = u.template === null
        ? { cursor, interestMode: "coarse", keys: [u.key], timeoutMs }
        : bare
        ? { cursor, keys: [u.key], timeoutMs }
        : {
          cursor,
          keys: [u.key],
          templateIdsUsed: [u.template.id],
          timeoutMs,
        };
      return { key: u.key, body };
    };
    const restartAt = sc.restart ? 4 + Math.floor(r() * 4) : -1;
    // A wait nothing touches keeps the stream out of `idle` (lag modes need
    // waiters); an overflow bucket or a restart may end it early.
    const sentinel = service.wait("s", {
      cursor: "now",
      keys: ["no such key"],
      timeoutMs: 120_000,
    }, aborts.signal);
    for (let step = 0; step < 20; step++) {
      if (step === restartAt) {
        service.close();
        service = await openService();
      }
      const roll = r();
      if (roll < 0.2) {
        const t = pick(r, TEMPLATES);
        const res = service.activate("s", {
          templates: [{
            entity: t.entity,
            fields: t.fields.map((name) => ({ name, encoding: "string" })),
          }],
        });
        assert.ok(res.ok);
        if (!active.includes(t)) active.push(t);
      } else if (roll < 0.5) {
        const cursor = await cursorNow();
        for (let i = 0; i < 3; i++) {
          const { key, body } = waitBody(cursor, 60_000, sc.bareWaits);
          const w: WaitCase = { cursor, from: changes.length, key, body };
          w.result = service.wait("s", body, aborts.signal).then((x) => {
            assert.ok(x.ok, x.ok ? "" : x.error.message);
            w.settled = x.value;
            return x.value;
          });
          waits.push(w);
        }
        // Cursors for waits asked only at the end (cold keys).
        for (let i = 0; i < 3; i++) {
          const { key, body } = waitBody(cursor, 0);
          waits.push({ cursor, from: changes.length, key, body });
        }
      } else {
        const n = 1 + Math.floor(r() * 20);
        const records: unknown[] = [];
        for (let i = 0; i < n; i++) {
          const { record, change } = randomChange(r, true);
          change.templates = active.filter((t) => t.entity === change.entity);
          records.push(record);
          changes.push(change);
        }
        // Up to three appends started in one turn: the engine assigns them
        // in call order, and the processor lags behind the later ones.
        const parts = 1 + Math.floor(r() * 3);
        const size = Math.ceil(records.length / parts);
        const appends = [];
        for (let i = 0; i < records.length; i += size) {
          appends.push(engine.append("s", {
            contentType: "application/json",
            body: enc(JSON.stringify(records.slice(i, i + size))),
            close: false,
            streamSeq: undefined,
            producer: undefined,
            routingKey: undefined,
            timestampMs: undefined,
          }));
        }
        for (const appended of await Promise.all(appends)) {
          assert.ok(appended.ok);
        }
      }
    }
    const settled = await service.meta(
      "s",
      new URLSearchParams("settle=flush&timeoutMs=20000"),
      aborts.signal,
    );
    assert.ok(settled.ok && settled.value.settled === true);
    const m = settled.value;
    stats.overflowBuckets += m.overflowBuckets as number;
    stats.restrictedBatches += m.restrictedBatchesTotal as number;
    stats.coarseOnlyBatches += m.coarseOnlyBatchesTotal as number;
    const missing = (sc.touch.onMissingBefore as string) ?? "coarse";
    for (const w of waits) {
      const due = changes.slice(w.from).some((c) =>
        modelKeys(c, missing).has(w.key)
      );
      if (!due) continue;
      stats.due++;
      let answer: JsonObject | null | undefined;
      if (w.result !== undefined) {
        // A pending wait was woken by the flush that settled the journal.
        await Promise.resolve();
        answer = w.settled;
      } else {
        const x = await service.wait("s", w.body, aborts.signal);
        assert.ok(x.ok);
        answer = x.value;
      }
      const woke = answer?.touched === true || answer?.stale === true;
      assert.ok(
        woke,
        `${sc.name} seed ${seed}: a wait on ${w.key} from change ${w.from} of ${changes.length} was not woken: ${
          JSON.stringify(answer)
        }`,
      );
    }
    void sentinel;
  } finally {
    aborts.abort();
    service.close();
    await engine.close();
  }
}

for (const sc of SCENARIOS) {
  Deno.test(`touch property: no false negatives (${sc.name})`, async () => {
    const stats: RunStats = {
      due: 0,
      restrictedBatches: 0,
      coarseOnlyBatches: 0,
      overflowBuckets: 0,
    };
    for (let run = 0; run < RUNS; run++) {
      await runScenario(sc, 1000 + run, stats);
    }
    assert.ok(stats.due > 20, `only ${stats.due} waits were due`);
    if (sc.mode === "restricted") assert.ok(stats.restrictedBatches > 0);
    if (sc.mode === "coarseOnly") assert.ok(stats.coarseOnlyBatches > 0);
    if (sc.name === "overflowing buckets") assert.ok(stats.overflowBuckets > 0);
  });
}
