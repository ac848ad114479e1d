import assert from "node:assert/strict";
import { defaultConfig } from "../config.ts";
import { StreamError } from "../errors.ts";
import { DISK_FULL_PAUSE_MS } from "../limits.ts";
import { createLogger } from "../log.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import { diskFullError } from "../storage/wal_store.ts";
import { Engine } from "./engine.ts";
import { appendReq, createReq } from "./_testing.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const tick = (ms = 5) => new Promise((resolve) => setTimeout(resolve, ms));
const full = () => diskFullError("WAL commit failed", new Error("ENOSPC"));

interface Harness {
  engine: Engine;
  store: MemoryStore;
  fatal: StreamError[];
  clock: { now: number };
}

async function open(wal: MemoryWal): Promise<Harness> {
  const store = new MemoryStore(wal);
  const fatal: StreamError[] = [];
  const clock = { now: 1_000_000 };
  const engine = await Engine.open(store, {
    limits: { ...defaultConfig().limits, commitBatchMax: 4 },
    log: createLogger("error"),
    onFatal: (e) => fatal.push(e),
    now: () => clock.now,
  });
  return { engine, store, fatal, clock };
}

/** Settles `work`, mapping a thrown StreamError to its kind. */
async function outcome(work: Promise<unknown>): Promise<string> {
  try {
    const result = await work as { ok: boolean; error?: StreamError };
    return result.ok ? "ok" : result.error!.kind;
  } catch (error) {
    if (error instanceof StreamError) return `thrown ${error.kind}`;
    throw error;
  }
}

Deno.test("Engine after a full-disk commit answers 503, rolls back uncommitted state and takes writes again", async () => {
  const wal = new MemoryWal();
  const h = await open(wal);
  const p = (seq: number) => ({ producer: { id: "p", epoch: 0, seq } });
  await h.engine.create("s", createReq({ body: enc("a") }));
  await h.engine.append("s", appendReq("b", p(0)));
  await h.engine.create("doomed", createReq({ body: enc("keep me") }));
  await h.engine.create("src", createReq({ body: enc("root") }));
  await h.engine.create(
    "fork",
    createReq({ fork: { source: "src", position: 4, subOffset: undefined } }),
  );

  let release!: () => void;
  h.store.commitGate = new Promise((r) => (release = r));
  const pending = [
    h.engine.append("s", appendReq("c", p(1))),
    h.engine.append("s", appendReq("d", { ...p(2), streamSeq: "0009" })),
    h.engine.append("s", appendReq("", { close: true })),
    h.engine.create("new", createReq({ body: enc("never") })),
    h.engine.delete("doomed"),
    h.engine.delete("src"), // soft: the fork still reads it
    h.engine.delete("fork"), // then the cascade takes the source too
  ];
  await tick();
  // The tier keeps objects of streams whose delete has not committed.
  const ids = [...h.engine.streamInfos()].map((i) => i.name).sort();
  assert.deepEqual(ids, ["doomed", "fork", "s", "src"]);
  h.store.failNextCommit = full();
  release();
  h.store.commitGate = undefined;
  const outcomes = await Promise.all(pending.map(outcome));
  assert.deepEqual(outcomes, Array(7).fill("thrown unavailable"));
  await tick(); // the roll-back reloads the WAL
  assert.equal(h.fatal.length, 0, "a full disk is not fatal");

  // Writes are refused for a moment; reads go on.
  const refused = await h.engine.append("s", appendReq("x"));
  assert.ok(!refused.ok && refused.error.kind === "unavailable");
  const read = await h.engine.read("s", "start");
  assert.ok(read.ok && dec(read.value.data) === "ab" && !read.value.closed);

  h.clock.now += DISK_FULL_PAUSE_MS;
  // Producer seq 1 was never committed: it is accepted, at the old tail.
  const retried = await h.engine.append("s", appendReq("c", p(1)));
  assert.ok(retried.ok && retried.value.kind === "accepted");
  assert.equal(retried.value.nextPos, 3);
  const seq = await h.engine.append("s", appendReq("d", { streamSeq: "0001" }));
  assert.ok(seq.ok, "the uncommitted Stream-Seq was rolled back");
  assert.equal(h.engine.view("new"), undefined);
  const kept = await h.engine.read("doomed", "start");
  assert.ok(kept.ok && dec(kept.value.data) === "keep me");
  const fork = await h.engine.read("fork", "start");
  assert.ok(fork.ok && dec(fork.value.data) === "root");
  const source = await h.engine.read("src", "start");
  assert.ok(source.ok, "the soft delete was rolled back");
  const created = await h.engine.create("new", createReq({ body: enc("now") }));
  assert.ok(created.ok && created.value.created);
  await h.engine.close();

  // What memory says now is what the WAL says.
  const reopened = await open(wal);
  for (const name of ["s", "new", "doomed", "src", "fork"]) {
    assert.deepEqual(reopened.engine.view(name), h.engine.view(name), name);
  }
  const dup = await reopened.engine.append("s", appendReq("c", p(1)));
  assert.ok(dup.ok && dup.value.kind === "duplicate");
  await reopened.engine.close();
});

/** A small seeded generator (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ["a", "b", "c", "d"];
const PRODUCERS = ["p", "q"];

/** One random write; its outcome does not matter, only what memory keeps. */
function randomWrite(
  engine: Engine,
  rand: () => number,
  seqs: Map<string, number>,
): Promise<unknown> {
  const name = NAMES[Math.floor(rand() * NAMES.length)];
  const roll = rand();
  if (roll < 0.15) {
    const source = NAMES[Math.floor(rand() * NAMES.length)];
    const fork = rand() < 0.3 && source !== name
      ? { source, position: undefined, subOffset: undefined }
      : undefined;
    return engine.create(name, createReq({ body: enc("c"), fork }));
  }
  if (roll < 0.25) return engine.delete(name);
  const producerId = PRODUCERS[Math.floor(rand() * PRODUCERS.length)];
  const key = `${name}/${producerId}`;
  const seq = seqs.get(key) ?? 0;
  seqs.set(key, seq + 1); // sent, not necessarily accepted: gaps happen
  return engine.append(
    name,
    appendReq(`m${seq}`, {
      producer: rand() < 0.6 ? { id: producerId, epoch: 0, seq } : undefined,
      streamSeq: rand() < 0.2 ? String(seq).padStart(6, "0") : undefined,
      close: rand() < 0.05,
    }),
  );
}

/** What a probe sees of every stream and producer; probes change nothing. */
async function observe(engine: Engine): Promise<unknown[]> {
  const seen: unknown[] = [];
  for (const name of NAMES) {
    const read = await engine.read(name, "start");
    seen.push(
      read.ok
        ? [name, dec(read.value.data), read.value.nextPos, read.value.closed]
        : [name, read.error.kind],
    );
    for (const id of PRODUCERS) {
      // A far-ahead seq is refused with the expected seq, changing nothing.
      const probe = await engine.append(
        name,
        appendReq("probe", { producer: { id, epoch: 0, seq: 1_000_000 } }),
      );
      seen.push(
        probe.ok ? "accepted?" : [probe.error.kind, probe.error.detail],
      );
    }
  }
  seen.push(
    [...engine.streamInfos()].sort((x, y) => x.id - y.id)
      .map((i) => [i.id, i.name, i.tailPos, i.softDeleted]),
  );
  return seen;
}

Deno.test("Engine memory after random full-disk failures matches a restart from the same WAL", async () => {
  for (let seed = 1; seed <= 12; seed++) {
    const rand = random(seed);
    const wal = new MemoryWal();
    const h = await open(wal);
    const seqs = new Map<string, number>();
    for (let round = 0; round < 12; round++) {
      let release!: () => void;
      h.store.commitGate = new Promise((r) => (release = r));
      const writes = Array.from(
        { length: 1 + Math.floor(rand() * 8) },
        () => randomWrite(h.engine, rand, seqs),
      );
      await tick(0);
      if (rand() < 0.4) h.store.failNextCommit = full();
      release();
      h.store.commitGate = undefined;
      await Promise.allSettled(writes);
      await tick(0); // a roll-back, if any, finishes
      h.clock.now += DISK_FULL_PAUSE_MS;
    }
    assert.equal(h.fatal.length, 0);
    const live = await observe(h.engine);
    await h.engine.close();
    const reopened = await open(wal);
    assert.deepEqual(live, await observe(reopened.engine), `seed ${seed}`);
    await reopened.engine.close();
  }
});
