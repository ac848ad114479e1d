/**
 * The touch service over a real engine (in-memory WAL): routes' domain
 * answers, the processor loop fed by committed appends, waits woken by
 * matching changes only, templates stored and restored, restart to stale,
 * the node's waiter budget, hang-ups, settle=flush, profile switches.
 */

import assert from "node:assert/strict";
import { defaultConfig, type LimitsConfig } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import type { StreamView } from "../engine/types.ts";
import { createLogger } from "../log.ts";
import { validateTouch } from "../profiles/_touch_options.ts";
import type { JsonObject } from "../profiles/profile.ts";
import {
  type LiveTemplateStore,
  MemoryLiveTemplateStore,
} from "../storage/live_template_store.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import { KeyHasher } from "../touch/keys.ts";
import { encodeOffset } from "../protocol/offset.ts";
import { TouchService } from "./touch_service.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const hasher = await KeyHasher.create();
const log = createLogger("error");

/** Touch options by stream name; absent = touch not enabled. */
type Profiles = Map<string, JsonObject>;

function touchOptions(extra: Record<string, unknown> = {}): JsonObject {
  const v = validateTouch({ enabled: true, ...extra });
  if (!v.ok) throw v.error;
  return v.value;
}

interface Harness {
  engine: Engine;
  service: TouchService;
  profiles: Profiles;
  store: LiveTemplateStore;
  wal: MemoryWal;
  close(): Promise<void>;
}

async function open(
  opts: {
    wal?: MemoryWal;
    store?: LiveTemplateStore;
    profiles?: Profiles;
    limits?: Partial<LimitsConfig>;
    memoryBytesMax?: number;
    clock?: () => number;
  } = {},
): Promise<Harness> {
  const wal = opts.wal ?? new MemoryWal();
  const engine = await Engine.open(new MemoryStore(wal), {
    limits: { ...defaultConfig().limits, ...opts.limits },
    log,
    onFatal: () => {},
  });
  const profiles = opts.profiles ?? new Map();
  const store = opts.store ?? new MemoryLiveTemplateStore();
  const service = await TouchService.open({
    engine,
    touchOptionsOf: (s: StreamView) => profiles.get(s.name) ?? null,
    store,
    log,
    memoryBytesMax: opts.memoryBytesMax ?? 256 * 1024 * 1024,
    clock: opts.clock,
  });
  engine.addListener(service.listener());
  return {
    engine,
    service,
    profiles,
    store,
    wal,
    close: async () => {
      service.close();
      await engine.close();
    },
  };
}

async function create(h: Harness, name: string): Promise<void> {
  const r = await h.engine.create(name, {
    contentType: "application/json",
    ttlSeconds: undefined,
    expiresAtMs: undefined,
    closed: false,
    body: new Uint8Array(),
    fork: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  });
  assert.ok(r.ok);
}

async function append(h: Harness, name: string, records: unknown[]) {
  const r = await h.engine.append(name, {
    contentType: "application/json",
    body: enc(JSON.stringify(records)),
    close: false,
    streamSeq: undefined,
    producer: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  });
  assert.ok(r.ok, r.ok ? "" : r.error.message);
}

async function meta(h: Harness, name: string, query = "") {
  return await h.service.meta(
    name,
    new URLSearchParams(query),
    new AbortController().signal,
  );
}

async function settle(h: Harness, name: string): Promise<JsonObject> {
  const m = await meta(h, name, "settle=flush&timeoutMs=10000");
  assert.ok(m.ok);
  assert.equal(m.value.settled, true);
  return m.value;
}

async function cursorOf(h: Harness, name: string): Promise<string> {
  return (await settle(h, name)).cursor as string;
}

function activate(h: Harness, name: string, entity: string, names: string[]) {
  const r = h.service.activate(name, {
    templates: [{
      entity,
      fields: names.map((n) => ({ name: n, encoding: "string" })),
    }],
  });
  assert.ok(r.ok);
  return r.value;
}

const insert = (type: string, value: unknown) => ({
  type,
  key: "k",
  value,
  headers: { operation: "insert" },
});
const FIELDS = ["status", "tenantId", "userId"];
const ROW = { status: "open", tenantId: "t1", userId: "u1", title: "a" };
const TID = "ddd2330fdab379da";
const WATCH = "39accd125778dc36";

Deno.test("TouchService: 404 until the profile enables touch, then a cursor", async () => {
  const h = await open();
  try {
    const missing = await meta(h, "nope");
    assert.equal(!missing.ok && missing.error.kind, "stream_not_found");
    await create(h, "app");
    const off = await meta(h, "app");
    assert.equal(!off.ok && off.error.kind, "not_found");
    const wait = await h.service.wait("app", {
      cursor: "now",
      keys: ["a"],
    }, new AbortController().signal);
    assert.equal(!wait.ok && wait.error.kind, "not_found");
    h.profiles.set("app", touchOptions());
    const on = await meta(h, "app");
    assert.ok(on.ok);
    assert.match(on.value.cursor as string, /^[0-9a-f]{16}:\d+$/);
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: a wait wakes on a matching append, not on another", async () => {
  const h = await open();
  try {
    await create(h, "app");
    h.profiles.set("app", touchOptions());
    activate(h, "app", "public.todos", FIELDS);
    const cursor = await cursorOf(h, "app");
    const ac = new AbortController();
    // No templateIdsUsed: with them, the cold fine keys of the other row
    // would touch the template key, a false positive the wait would see.
    const waiting = h.service.wait("app", {
      cursor,
      keys: [WATCH],
      timeoutMs: 10_000,
    }, ac.signal);
    let done = false;
    waiting.then(() => done = true);
    await append(h, "app", [
      insert("public.todos", { ...ROW, userId: "u2" }),
      insert("public.other", ROW),
    ]);
    await settle(h, "app");
    assert.equal(done, false, "a non-matching change must not wake it");
    await append(h, "app", [insert("public.todos", ROW)]);
    const woken = await waiting;
    assert.ok(woken.ok && woken.value !== null);
    assert.equal(woken.value.touched, true);
    assert.equal(woken.value.effectiveWaitKind, "fineKey");
    assert.notEqual(woken.value.cursor, cursor);
    assert.equal(h.engine.waiting, 0, "the slot is given back");
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: keyIndexMaxKeys: indexed waits match their key ids exactly, broad ones on the generation table", async () => {
  const h = await open();
  try {
    await create(h, "app");
    // A table of 2^10 one-slot entries: key ids 1024 apart share a slot.
    h.profiles.set(
      "app",
      touchOptions({ memory: { filterPow2: 10, k: 1, keyIndexMaxKeys: 1 } }),
    );
    activate(h, "app", "public.todos", FIELDS);
    const cursor = await cursorOf(h, "app");
    const twin = (hasher.keyId(WATCH) ^ 1024) >>> 0;
    const ac = new AbortController();
    const wait = (body: Record<string, unknown>) =>
      h.service.wait("app", { cursor, ...body }, ac.signal);
    // The row's own key: hot while it waits, so the insert touches it.
    const own = wait({ keys: [WATCH], timeoutMs: 10_000 });
    // One key id: indexed, and the twin key id is not its own.
    const indexed = wait({ keyIds: [twin], timeoutMs: 1500 });
    // Two key ids: broad, matched on the table, where the twin's slot moved.
    const broad = wait({ keyIds: [twin, 7], timeoutMs: 10_000 });
    const m = await meta(h, "app");
    assert.ok(m.ok);
    assert.equal(m.value.keyIndexMaxKeys, 1);
    assert.equal(m.value.broadFineWaitersActive, 1);
    await append(h, "app", [insert("public.todos", ROW)]);
    const [a, b, c] = await Promise.all([own, indexed, broad]);
    assert.ok(a.ok && b.ok && c.ok);
    assert.equal(a.value?.touched, true);
    assert.equal(b.value?.touched, false, "no wake for another key id");
    assert.equal(c.value?.touched, true, "a broad wait shares the slot");
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: touchCoalesceWindowMs holds a key's repeat touches until its window ends", async () => {
  const h = await open();
  try {
    await create(h, "app");
    h.profiles.set("app", touchOptions({ touchCoalesceWindowMs: 3000 }));
    activate(h, "app", "public.todos", FIELDS);
    const ac = new AbortController();
    const first = h.service.wait("app", {
      cursor: await cursorOf(h, "app"),
      keys: [WATCH],
      timeoutMs: 10_000,
    }, ac.signal);
    // The first touch of the key goes straight through.
    await append(h, "app", [insert("public.todos", ROW)]);
    const woken = await first;
    assert.ok(woken.ok && woken.value?.touched === true);
    const cursor = woken.value.cursor as string;
    const second = h.service.wait("app", {
      cursor,
      keys: [WATCH],
      timeoutMs: 20_000,
    }, ac.signal);
    let done = false;
    second.then(() => done = true);
    // Two more within the window: held, its watch and membership keys
    // once each.
    await append(h, "app", [insert("public.todos", ROW)]);
    await append(h, "app", [insert("public.todos", ROW)]);
    const m = await meta(h, "app");
    assert.ok(m.ok);
    assert.equal(m.value.heldTouches, 2);
    // 2 or 4: the two appends may be read in one batch.
    assert.ok((m.value.coalescedTouchesTotal as number) >= 2);
    assert.equal(m.value.settled, false, "a held touch is pending work");
    assert.equal(done, false, "held until the window ends");
    // Then released once: the wait wakes, and the journal settles.
    const late = await second;
    assert.ok(late.ok && late.value?.touched === true);
    const after = await settle(h, "app");
    assert.equal(after.heldTouches, 0);
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: coarse waits, timeouts advance the cursor", async () => {
  const h = await open();
  try {
    await create(h, "app");
    h.profiles.set("app", touchOptions());
    const cursor = await cursorOf(h, "app");
    await append(h, "app", [insert("public.other", { a: 1 })]);
    await settle(h, "app");
    const body = {
      cursor,
      interestMode: "coarse",
      keys: [hasher.tableKey("public.todos")],
      timeoutMs: 50,
    };
    const signal = new AbortController().signal;
    const quiet = await h.service.wait("app", body, signal);
    assert.ok(quiet.ok && quiet.value !== null);
    assert.equal(quiet.value.touched, false);
    assert.notEqual(quiet.value.cursor, cursor);
    await append(h, "app", [insert("public.todos", ROW)]);
    await settle(h, "app");
    const woken = await h.service.wait("app", body, signal);
    assert.ok(woken.ok && woken.value !== null);
    assert.equal(woken.value.touched, true);
    assert.equal(woken.value.effectiveWaitKind, "tableKey");
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: activation is not retroactive", async () => {
  const h = await open();
  try {
    await create(h, "app");
    h.profiles.set("app", touchOptions());
    const cursor = await cursorOf(h, "app");
    await append(h, "app", [insert("public.todos", ROW)]);
    activate(h, "app", "public.todos", FIELDS);
    await settle(h, "app");
    const signal = new AbortController().signal;
    const fine = await h.service.wait("app", {
      cursor,
      keys: [WATCH],
      exact: true,
      timeoutMs: 0,
    }, signal);
    assert.ok(fine.ok && fine.value !== null);
    assert.equal(fine.value.touched, false);
    const coarse = await h.service.wait("app", {
      cursor,
      interestMode: "coarse",
      keys: [hasher.tableKey("public.todos")],
      timeoutMs: 0,
    }, signal);
    assert.ok(coarse.ok && coarse.value !== null);
    assert.equal(coarse.value.touched, true);
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: a restart answers stale and keeps the templates", async () => {
  const wal = new MemoryWal();
  const store = new MemoryLiveTemplateStore();
  const profiles: Profiles = new Map([["app", touchOptions()]]);
  const first = await open({ wal, store, profiles });
  await create(first, "app");
  activate(first, "app", "public.todos", FIELDS);
  const cursor = await cursorOf(first, "app");
  await first.close();
  const h = await open({ wal, store, profiles });
  try {
    const signal = new AbortController().signal;
    const stale = await h.service.wait("app", {
      cursor,
      keys: [WATCH],
      timeoutMs: 1000,
    }, signal);
    assert.ok(stale.ok && stale.value !== null);
    assert.equal(stale.value.stale, true);
    assert.notEqual(stale.value.cursor, cursor);
    assert.equal((stale.value.error as JsonObject).code, "stale");
    // The template came back from the store: the insert (its fine keys
    // cold, no waiter asked yet) touches the template key, which a wait
    // naming the template listens on. Without the template only the table
    // key would be touched.
    const fresh = stale.value.cursor as string;
    await append(h, "app", [insert("public.todos", ROW)]);
    await settle(h, "app");
    const woken = await h.service.wait("app", {
      cursor: fresh,
      keys: [WATCH],
      templateIdsUsed: [TID],
      timeoutMs: 0,
    }, signal);
    assert.ok(woken.ok && woken.value !== null);
    assert.equal(woken.value.touched, true);
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: touch_state follows the processor and is rebuilt from the tail on restart", async () => {
  const wal = new MemoryWal();
  const store = new MemoryLiveTemplateStore();
  const profiles: Profiles = new Map([["app", touchOptions()]]);
  // Real time (buckets flush as it passes) plus jumps the test makes.
  let skewMs = 0;
  const clock = () => Date.now() + skewMs;
  const first = await open({ wal, store, profiles, clock });
  let id = 0;
  let firstEpoch = "";
  let finalPos = -1;
  try {
    await create(first, "app");
    await append(first, "app", [insert("public.todos", ROW)]);
    id = first.engine.view("app")!.id;
    const started = await settle(first, "app");
    firstEpoch = started.epoch as string;
    const startPos = first.engine.view("app")!.tailPos;
    // Written when the runtime starts, at the tail.
    const written = store.touchState(id)!;
    assert.deepEqual(written, {
      streamId: id,
      processedThroughPos: startPos,
      epoch: firstEpoch,
      updatedAtMs: written.updatedAtMs,
    });
    assert.equal(started.previousCheckpointThrough, null);
    assert.equal(started.checkpointThrough, encodeOffset(startPos));
    // Within the interval the processor moves on without writing (checked
    // when this machine got there within it) ...
    await append(first, "app", [insert("public.todos", ROW)]);
    await settle(first, "app");
    if (clock() - written.updatedAtMs < 900) {
      assert.equal(store.touchState(id)!.processedThroughPos, startPos);
    }
    // ... past it, the next batch writes where it got to.
    skewMs += 1000;
    await append(first, "app", [insert("public.todos", ROW)]);
    const moved = await settle(first, "app");
    const tail = first.engine.view("app")!.tailPos;
    assert.equal(store.touchState(id)!.processedThroughPos, tail);
    assert.equal(moved.checkpointThrough, encodeOffset(tail));
    // A batch inside the interval again: only close writes it.
    await append(first, "app", [insert("public.todos", ROW)]);
    await settle(first, "app");
    finalPos = first.engine.view("app")!.tailPos;
  } finally {
    await first.close();
  }
  const stopped = store.touchState(id)!;
  assert.equal(stopped.epoch, firstEpoch);
  assert.equal(stopped.processedThroughPos, finalPos, "written on close");
  // Records appended while no runtime follows the stream are not
  // processed: the new runtime starts at the tail with a new epoch.
  skewMs += 60_000;
  const h = await open({ wal, store, profiles, clock });
  try {
    await append(h, "app", [insert("public.todos", ROW)]);
    await append(h, "app", [insert("public.todos", ROW)]);
    const tail = h.engine.view("app")!.tailPos;
    assert.ok(tail > stopped.processedThroughPos);
    const m = await settle(h, "app");
    assert.notEqual(m.epoch, firstEpoch);
    assert.equal(
      m.previousCheckpointThrough,
      encodeOffset(stopped.processedThroughPos),
    );
    assert.equal(m.previousCheckpointEpoch, firstEpoch);
    assert.equal(m.walScannedThrough, encodeOffset(tail));
    assert.equal(m.changesTotal, 0, "nothing before the tail is processed");
    const rebuilt = store.touchState(id)!;
    assert.equal(rebuilt.processedThroughPos, tail);
    assert.equal(rebuilt.epoch, m.epoch);
    assert.ok(rebuilt.updatedAtMs >= stopped.updatedAtMs + 60_000);
    // Switching touch off forgets the checkpoint with the templates.
    h.profiles.delete("app");
    assert.equal((await meta(h, "app")).ok, false);
    assert.equal(store.touchState(id), null);
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: waits take slots of --waiters-max; 503 when full; a hang-up frees its slot", async () => {
  const h = await open({ limits: { waitersMax: 1 } });
  try {
    await create(h, "app");
    h.profiles.set("app", touchOptions());
    const ac = new AbortController();
    const first = h.service.wait("app", {
      cursor: "now",
      keys: ["a"],
      timeoutMs: 60_000,
    }, ac.signal);
    assert.equal(h.engine.waiting, 1);
    const second = await h.service.wait("app", {
      cursor: "now",
      keys: ["a"],
      timeoutMs: 60_000,
    }, new AbortController().signal);
    assert.equal(!second.ok && second.error.kind, "overloaded");
    ac.abort();
    const gone = await first;
    assert.ok(gone.ok);
    assert.equal(gone.value, null);
    assert.equal(h.engine.waiting, 0);
    const m = await meta(h, "app");
    assert.ok(m.ok);
    assert.equal(m.value.activeWaiters, 0);
    assert.equal(m.value.waitsAbortedTotal, 1);
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: settle=flush after a burst of 1000 appends", async () => {
  const h = await open();
  try {
    await create(h, "app");
    h.profiles.set("app", touchOptions());
    activate(h, "app", "public.todos", FIELDS);
    await meta(h, "app");
    for (let i = 0; i < 1000; i += 100) {
      const batch = [];
      for (let j = i; j < i + 100; j++) {
        batch.push(insert("public.todos", { ...ROW, userId: `u${j}` }));
      }
      await append(h, "app", batch);
    }
    const m = await settle(h, "app");
    assert.equal(m.changesTotal, 1000);
    const tail = h.engine.view("app")!.tailPos;
    assert.equal(m.walScannedThrough, encodeOffset(tail));
    const bad = await meta(h, "app", "settle=now");
    assert.equal(!bad.ok && bad.error.kind, "bad_request");
    const badTimeout = await meta(h, "app", "settle=flush&timeoutMs=x");
    assert.equal(!badTimeout.ok && badTimeout.error.kind, "bad_request");
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: switching touch off drops the runtime and its templates", async () => {
  const h = await open();
  try {
    await create(h, "app");
    h.profiles.set("app", touchOptions());
    activate(h, "app", "public.todos", FIELDS);
    const view = h.engine.view("app")!;
    assert.equal(h.store.load(view.id).length, 1);
    h.profiles.delete("app");
    const off = await meta(h, "app");
    assert.equal(!off.ok && off.error.kind, "not_found");
    assert.equal(h.store.load(view.id).length, 0);
    h.profiles.set("app", touchOptions());
    const on = await meta(h, "app");
    assert.ok(on.ok);
    assert.equal(on.value.activeTemplates, 0, "templates must be re-activated");
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: templates persist last-seen and GC retires idle ones", async () => {
  const h = await open();
  try {
    await create(h, "app");
    h.profiles.set("app", touchOptions());
    const r = h.service.activate("app", {
      templates: [{
        entity: "public.todos",
        fields: [{ name: "status", encoding: "string" }],
      }],
      inactivityTtlMs: 1,
    });
    assert.ok(r.ok);
    const live = h.service.runtime("app");
    assert.ok(live.ok);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const retired = live.value.templates.gc();
    assert.equal(retired.length, 1);
    const rows = h.store.load(h.engine.view("app")!.id);
    assert.equal(rows[0].state, "retired");
    assert.equal(rows[0].retiredReason, "inactivity");
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: validation answers 400 before anything waits", async () => {
  const h = await open();
  try {
    await create(h, "app");
    h.profiles.set("app", touchOptions());
    const signal = new AbortController().signal;
    const bad = async (body: unknown) => {
      const r = await h.service.wait("app", body, signal);
      assert.equal(!r.ok && r.error.kind, "bad_request", JSON.stringify(body));
    };
    await bad({ cursor: "now" });
    await bad({ cursor: "abc", keys: ["a"] });
    await bad({ cursor: "now", keys: Array(1025).fill("a") });
    await bad({ cursor: "now", keys: Array(17).fill(WATCH), exact: true });
    await bad({ cursor: "now", keys: ["a"], timeoutMs: "x" });
    await bad({ cursor: "now", keys: ["a"], declareTemplates: "x" });
    assert.equal(h.engine.waiting, 0);
    const act = h.service.activate("app", { templates: Array(257).fill({}) });
    assert.equal(!act.ok && act.error.kind, "bad_request");
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: journals over the memory cap are evicted, least recently waited first", async () => {
  const h = await open({ memoryBytesMax: 1 });
  try {
    for (const name of ["a", "b"]) {
      await create(h, name);
      h.profiles.set(name, touchOptions());
    }
    const cursorA = await cursorOf(h, "a");
    // Opening b's journal puts the node over the cap: a (no waits) goes.
    await meta(h, "b");
    assert.equal(h.service.size, 1);
    const r = await h.service.wait("a", {
      cursor: cursorA,
      keys: ["x"],
      timeoutMs: 0,
    }, new AbortController().signal);
    assert.ok(r.ok && r.value !== null);
    assert.equal(r.value.stale, true);
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: waits heartbeat their templates; last-seen is written on persist and close", async () => {
  const h = await open();
  try {
    await create(h, "app");
    h.profiles.set("app", touchOptions());
    activate(h, "app", "public.todos", FIELDS);
    const id = h.engine.view("app")!.id;
    const activatedSeen = h.store.load(id)[0].lastSeenAtMs;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const w = await h.service.wait("app", {
      cursor: "now",
      keys: [WATCH],
      templateIdsUsed: [TID],
      timeoutMs: 0,
    }, new AbortController().signal);
    assert.ok(w.ok);
    assert.equal(h.store.load(id)[0].lastSeenAtMs, activatedSeen);
    const live = h.service.runtime("app");
    assert.ok(live.ok);
    live.value.templates.persistLastSeen();
    assert.ok(h.store.load(id)[0].lastSeenAtMs > activatedSeen);
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: retired templates past the stream cap are forgotten, in memory and stored", async () => {
  const h = await open();
  try {
    await create(h, "app");
    h.profiles.set(
      "app",
      touchOptions({ templates: { maxActiveTemplatesPerStream: 2 } }),
    );
    const r = h.service.activate("app", {
      templates: Array.from({ length: 8 }, (_, i) => ({
        entity: `e${i}`,
        fields: [{ name: "id", encoding: "int64" }],
      })),
    });
    assert.ok(r.ok);
    assert.equal((r.value.activated as unknown[]).length, 8);
    const live = h.service.runtime("app");
    assert.ok(live.ok);
    // 2 active, at most 2 retired kept.
    assert.equal(live.value.templates.activeCount, 2);
    assert.equal(live.value.templates.size, 4);
    const rows = h.store.load(h.engine.view("app")!.id);
    assert.equal(rows.length, 4);
    assert.equal(rows.filter((x) => x.state === "active").length, 2);
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: a waiting wait's keys stay hot past hotKeyTtlMs", async () => {
  const h = await open();
  try {
    await create(h, "app");
    h.profiles.set("app", touchOptions({ memory: { hotKeyTtlMs: 0 } }));
    activate(h, "app", "public.todos", FIELDS);
    const cursor = await cursorOf(h, "app");
    // No templateIdsUsed: only the fine key can wake it.
    const waiting = h.service.wait("app", {
      cursor,
      keys: [WATCH],
      timeoutMs: 10_000,
    }, new AbortController().signal);
    await new Promise((resolve) => setTimeout(resolve, 20)); // TTL long gone
    await append(h, "app", [insert("public.todos", ROW)]);
    const woken = await waiting;
    assert.ok(woken.ok && woken.value !== null);
    assert.equal(woken.value.touched, true);
  } finally {
    await h.close();
  }
});

Deno.test("TouchService: deleting a stream drops its stored templates, runtime or not", async () => {
  const wal = new MemoryWal();
  const store = new MemoryLiveTemplateStore();
  const profiles: Profiles = new Map([["app", touchOptions()]]);
  const first = await open({ wal, store, profiles });
  await create(first, "app");
  activate(first, "app", "public.todos", FIELDS);
  const id = first.engine.view("app")!.id;
  await first.close();
  // After a restart no runtime exists until a touch request.
  const h = await open({ wal, store, profiles });
  try {
    assert.equal(h.store.load(id).length, 1);
    assert.ok((await h.engine.delete("app")).ok);
    assert.equal(h.store.load(id).length, 0);
  } finally {
    await h.close();
  }
});

Deno.test("TouchService.open looks up only the streams with stored templates, not every stream", async () => {
  const wal = new MemoryWal();
  const store = new MemoryLiveTemplateStore();
  const profiles: Profiles = new Map([
    ["app", touchOptions()],
    ["off", touchOptions()],
  ]);
  const first = await open({ wal, store, profiles });
  await create(first, "app");
  await create(first, "off");
  for (let i = 0; i < 200; i++) await create(first, `plain/${i}`);
  activate(first, "app", "public.todos", FIELDS);
  activate(first, "off", "public.todos", FIELDS);
  const appId = first.engine.view("app")!.id;
  const offId = first.engine.view("off")!.id;
  await first.close();
  profiles.delete("off"); // touch switched off while the server was down
  const engine = await Engine.open(new MemoryStore(wal), {
    limits: defaultConfig().limits,
    log,
    onFatal: () => {},
  });
  let lookups = 0;
  const service = await TouchService.open({
    engine: {
      view: (name) => engine.view(name),
      read: (...args) => engine.read(...args),
      reserveWaiter: () => engine.reserveWaiter(),
      streamInfo: (id) => {
        lookups++;
        return engine.streamInfo(id);
      },
    },
    touchOptionsOf: (s: StreamView) => profiles.get(s.name) ?? null,
    store,
    log,
    memoryBytesMax: 256 * 1024 * 1024,
  });
  try {
    assert.equal(lookups, 2, "the two streams with templates");
    assert.equal(store.load(appId).length, 1);
    assert.equal(store.load(offId).length, 0, "touch is off: dropped");
  } finally {
    service.close();
    await engine.close();
  }
});
