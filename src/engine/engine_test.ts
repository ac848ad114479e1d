import assert from "node:assert/strict";
import { defaultConfig, type LimitsConfig } from "../config.ts";
import type { StreamError } from "../errors.ts";
import { createLogger } from "../log.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import { Engine } from "./engine.ts";
import { appendReq, createReq } from "./_testing.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const tick = (ms = 5) => new Promise((resolve) => setTimeout(resolve, ms));

interface Harness {
  engine: Engine;
  store: MemoryStore;
  wal: MemoryWal;
  fatal: StreamError[];
  clock: { now: number };
}

async function open(
  limits: Partial<LimitsConfig> = {},
  wal = new MemoryWal(),
  clock = { now: 1_000_000 },
): Promise<Harness> {
  const store = new MemoryStore(wal);
  const fatal: StreamError[] = [];
  const engine = await Engine.open(store, {
    limits: { ...defaultConfig().limits, ...limits },
    log: createLogger("error"),
    onFatal: (e) => fatal.push(e),
    now: () => clock.now,
  });
  return { engine, store, wal, fatal, clock };
}

Deno.test("Engine checks and assigns without an await between", async () => {
  const h = await open();
  // Started in one turn: the second create sees the first one's stream.
  const creates = await Promise.all([
    h.engine.create("s", createReq()),
    h.engine.create("s", createReq()),
  ]);
  assert.deepEqual(creates.map((r) => r.ok && r.value.created), [true, false]);
  // Started in one turn: each append is checked against the producer seq and
  // tail the previous one assigned, and the retry of seq 2 is a duplicate.
  const producer = (seq: number) => ({ id: "p", epoch: 0, seq });
  const appends = [0, 1, 2, 2].map((seq) =>
    h.engine.append("s", appendReq("ab", { producer: producer(seq) }))
  );
  const streamSeqs = ["a", "a"].map((streamSeq) =>
    h.engine.append("s", appendReq("cd", { streamSeq }))
  );
  const results = await Promise.all([...appends, ...streamSeqs]);
  assert.deepEqual(
    results.map((r) =>
      r.ok ? `${r.value.kind} ${r.value.nextPos}` : r.error.kind
    ),
    [
      "accepted 2",
      "accepted 4",
      "accepted 6",
      "duplicate 8",
      "accepted 8",
      "seq_conflict",
    ],
  );
  await h.engine.close();
});

Deno.test("Engine answers overloaded when the append queue is full (appendQueueMax)", async () => {
  const h = await open({ appendQueueMax: 2 });
  await h.engine.create("s", createReq());
  let release!: () => void;
  h.store.commitGate = new Promise((r) => (release = r));
  const first = h.engine.append("s", appendReq("a"));
  await tick(); // the flush has taken "a" and waits at the gate
  const queued = [
    h.engine.append("s", appendReq("b")),
    h.engine.append("s", appendReq("c")),
  ];
  const refused = await h.engine.append("s", appendReq("d"));
  assert.ok(!refused.ok && refused.error.kind === "overloaded");
  release();
  h.store.commitGate = undefined;
  for (const r of [await first, ...(await Promise.all(queued))]) {
    assert.ok(r.ok);
  }
  const read = await h.engine.read("s", "start");
  assert.ok(
    read.ok && dec(read.value.data) === "abc",
    "the refused append wrote nothing",
  );
  await h.engine.close();
});

Deno.test("Engine answers overloaded when queued bytes exceed appendQueueBytesMax", async () => {
  const h = await open({ appendQueueBytesMax: 10 });
  await h.engine.create("s", createReq());
  let release!: () => void;
  h.store.commitGate = new Promise((r) => (release = r));
  const first = h.engine.append("s", appendReq("x"));
  await tick();
  const fits = h.engine.append("s", appendReq("123456789"));
  const refused = await h.engine.append("s", appendReq("12"));
  assert.ok(!refused.ok && refused.error.kind === "overloaded");
  release();
  h.store.commitGate = undefined;
  assert.ok((await first).ok && (await fits).ok);
  await h.engine.close();
});

Deno.test("Engine commits at most commitBatchMax requests per transaction", async () => {
  const h = await open({ commitBatchMax: 3 });
  await h.engine.create("s", createReq());
  let release!: () => void;
  h.store.commitGate = new Promise((r) => (release = r));
  const first = h.engine.append("s", appendReq("0"));
  await tick();
  const commitsBefore = h.wal.commits;
  const rest = Array.from(
    { length: 7 },
    (_, i) => h.engine.append("s", appendReq(String(i + 1))),
  );
  release();
  h.store.commitGate = undefined;
  await first;
  await Promise.all(rest);
  assert.equal(
    h.wal.commits - commitsBefore,
    1 + 3,
    "the held commit, then 7 requests in batches of 3, 3, 1",
  );
  const read = await h.engine.read("s", "start");
  assert.ok(read.ok && dec(read.value.data) === "01234567");
  await h.engine.close();
});

Deno.test("Engine merges a batch's appends to one stream into one chunk", async () => {
  const h = await open();
  await h.engine.create("s", createReq());
  await Promise.all(
    ["a", "bb", "ccc"].map((b) => h.engine.append("s", appendReq(b))),
  );
  const chunks = h.wal.chunks.get(1)!;
  assert.equal(chunks.length, 1);
  assert.deepEqual([...chunks[0].lengths!], [1, 2, 3]);
  await h.engine.close();
});

Deno.test("Engine refuses live readers beyond waitersMax", async () => {
  const h = await open({ waitersMax: 1 });
  await h.engine.create("s", createReq());
  const waiting = h.engine.waitForData("s", 0, 10_000);
  const refused = await h.engine.waitForData("s", 0, 10_000);
  assert.ok(!refused.ok && refused.error.kind === "overloaded");
  await h.engine.append("s", appendReq("wake"));
  const woken = await waiting;
  assert.ok(woken.ok && woken.value === "changed");
  assert.equal(h.engine.waiting, 0);
  await h.engine.close();
});

Deno.test("Engine caps reads at readBytesMax on record boundaries", async () => {
  const h = await open({ readBytesMax: 4 });
  await h.engine.create("s", createReq());
  for (const b of ["aaa", "bbb", "ccc"]) {
    await h.engine.append("s", appendReq(b));
  }
  const first = await h.engine.read("s", "start");
  assert.ok(first.ok);
  assert.equal(dec(first.value.data), "aaa");
  assert.equal(first.value.upToDate, false);
  const rest = await h.engine.read("s", first.value.nextPos, 100);
  assert.ok(
    rest.ok && dec(rest.value.data) === "bbbccc" && rest.value.upToDate,
  );
  await h.engine.close();
});

Deno.test("Engine stops taking writes after a failed commit and reports it once", async () => {
  const h = await open();
  await h.engine.create("s", createReq());
  h.store.failNextCommit = new Error("disk on fire");
  await assert.rejects(
    h.engine.append("s", appendReq("lost")),
    (e: StreamError) => e.kind === "unavailable",
  );
  assert.equal(h.fatal.length, 1);
  const later = await h.engine.append("s", appendReq("later"));
  assert.ok(!later.ok && later.error.kind === "unavailable");
  const read = await h.engine.read("s", "start");
  assert.ok(
    read.ok && read.value.data.length === 0,
    "readers never saw the failed append",
  );
});

Deno.test("Engine recovers forks, soft deletes and producer state after a restart", async () => {
  const wal = new MemoryWal();
  let h = await open({}, wal);
  await h.engine.create("src", createReq({ body: enc("hello ") }));
  await h.engine.append(
    "src",
    appendReq("world", { producer: { id: "p", epoch: 1, seq: 0 } }),
  );
  await h.engine.create(
    "fork",
    createReq({ fork: { source: "src", position: 6, subOffset: undefined } }),
  );
  await h.engine.append("fork", appendReq("there"));
  const deleted = await h.engine.delete("src");
  assert.ok(deleted.ok);
  await h.engine.close();

  h = await open({}, wal);
  const gone = await h.engine.read("src", "start");
  assert.ok(!gone.ok && gone.error.kind === "stream_gone");
  const fork = await h.engine.read("fork", "start");
  assert.ok(fork.ok && dec(fork.value.data) === "hello there");
  const recreate = await h.engine.create("src", createReq());
  assert.ok(!recreate.ok && recreate.error.kind === "stream_exists");
  // Deleting the last fork cascades to the soft-deleted source.
  assert.ok((await h.engine.delete("fork")).ok);
  assert.equal(wal.streams.size, 0);
  const again = await h.engine.create("src", createReq());
  assert.ok(again.ok && again.value.created);
  await h.engine.close();

  const wal2 = new MemoryWal();
  h = await open({}, wal2);
  await h.engine.create("p", createReq());
  await h.engine.append(
    "p",
    appendReq("x", { producer: { id: "w", epoch: 3, seq: 0 } }),
  );
  await h.engine.close();
  h = await open({}, wal2);
  const dup = await h.engine.append(
    "p",
    appendReq("x", { producer: { id: "w", epoch: 3, seq: 0 } }),
  );
  assert.ok(dup.ok && dup.value.kind === "duplicate");
  const stale = await h.engine.append(
    "p",
    appendReq("y", { producer: { id: "w", epoch: 2, seq: 0 } }),
  );
  assert.ok(!stale.ok && stale.error.kind === "producer_stale_epoch");
  await h.engine.close();
});

Deno.test("Engine expires streams by sliding TTL and absolute expiry", async () => {
  const clock = { now: 1_000_000 };
  const h = await open({}, new MemoryWal(), clock);
  await h.engine.create("ttl", createReq({ ttlSeconds: 10 }));
  await h.engine.create("abs", createReq({ expiresAtMs: clock.now + 15_000 }));
  clock.now += 8_000;
  assert.ok(
    (await h.engine.read("ttl", "start")).ok,
    "a read resets the sliding TTL",
  );
  clock.now += 8_000;
  assert.ok(
    h.engine.head("ttl").ok,
    "16 s after creation but 8 s after the read",
  );
  const abs = h.engine.head("abs");
  assert.ok(!abs.ok && abs.error.kind === "stream_not_found");
  clock.now += 10_001;
  const ttl = h.engine.head("ttl");
  assert.ok(!ttl.ok && ttl.error.kind === "stream_not_found");
  const recreated = await h.engine.create("ttl", createReq());
  assert.ok(recreated.ok && recreated.value.created);
  await h.engine.close();
});

Deno.test("Engine resolves JSON fork sub-offsets in messages", async () => {
  const h = await open();
  await h.engine.create(
    "j",
    createReq({ contentType: "application/json", body: enc("[1,2,3,4]") }),
  );
  const request = createReq({
    contentType: "application/json",
    fork: { source: "j", position: 0, subOffset: 2 },
  });
  const resolved = await h.engine.resolveForkSubOffset(request);
  assert.ok(resolved.ok);
  assert.ok((await h.engine.create("f", resolved.value)).ok);
  const read = await h.engine.read("f", "start");
  assert.ok(read.ok && dec(read.value.data) === "1,2,");
  const beyond = await h.engine.resolveForkSubOffset(
    createReq({ fork: { source: "j", position: 0, subOffset: 5 } }),
  );
  assert.ok(!beyond.ok && beyond.error.kind === "bad_request");
  await h.engine.close();
});

Deno.test("Engine compacts small committed chunks in the background", async () => {
  const wal = new MemoryWal();
  const store = new MemoryStore(wal);
  const engine = await Engine.open(store, {
    limits: defaultConfig().limits,
    log: createLogger("error"),
    onFatal: () => {},
    compaction: {
      chunkBytesTarget: 8,
      tickBytesMax: 1 << 20,
      intervalMs: 5,
      tickStreamsMax: 1,
    },
  });
  await engine.create("s", createReq());
  for (const piece of ["aaaa", "bbbb", "cccc", "dddd", "eeee", "ff"]) {
    await engine.append("s", appendReq(piece)); // one commit, one chunk each
  }
  // The loop may already have merged some of the six chunks (it runs every
  // 5 ms); whatever it merged so far, the end state is the same.
  for (let i = 0; i < 200 && wal.chunks.get(1)!.length > 4; i++) await tick();
  // Runs that reach 8 bytes merge; the 6-byte tail waits for more data.
  assert.deepEqual(
    wal.chunks.get(1)!.map((c) => dec(c.data)),
    ["aaaabbbb", "ccccdddd", "eeee", "ff"],
  );
  const read = await engine.read("s", "start");
  assert.ok(read.ok && dec(read.value.data) === "aaaabbbbccccddddeeeeff");
  await engine.close();
});

Deno.test("Engine serves readers woken together with one WAL read", async () => {
  const h = await open();
  await h.engine.create("s", createReq());
  await h.engine.append("s", appendReq("first"));
  const tail = await h.engine.read("s", "start");
  assert.ok(tail.ok);
  const waits = Array.from(
    { length: 50 },
    () => h.engine.waitForData("s", tail.value.nextPos, 10_000),
  );
  await tick();
  let storeReads = 0;
  const readChunks = h.store.readChunks.bind(h.store);
  h.store.readChunks = (...args) => {
    storeReads++;
    return readChunks(...args);
  };
  await h.engine.append("s", appendReq("second"));
  await Promise.all(waits);
  const reads = await Promise.all(
    waits.map(() => h.engine.read("s", tail.value.nextPos)),
  );
  for (const read of reads) {
    assert.ok(read.ok && dec(read.value.data) === "second");
  }
  assert.equal(storeReads, 1, "50 concurrent identical reads share one");
  await h.engine.close();
});

Deno.test("Engine's sweep deletes expired streams nobody asks for and writes read streams' access times", async () => {
  const clock = { now: 1_000_000 };
  const h = await open({}, new MemoryWal(), clock);
  await h.engine.create("ttl", createReq({ ttlSeconds: 10 }));
  await h.engine.create("plain", createReq());
  const idOf = (name: string) =>
    [...h.wal.streams.values()].find((row) => row.name === name)?.id;
  const ttlId = idOf("ttl")!;
  const plainId = idOf("plain")!;
  clock.now += 5_000;
  assert.ok((await h.engine.read("plain", "start")).ok);
  await waitFor(() => h.wal.streams.get(plainId)?.accessedAtMs === clock.now);
  clock.now += 6_000; // 11 s after "ttl" was created; no request touches it
  await waitFor(() => !h.wal.streams.has(ttlId));
  assert.ok(h.wal.streams.has(plainId), "a stream without TTL stays");
  assert.equal(h.engine.list("", undefined, 10).streams.length, 1);
  await h.engine.close();
});

/** Polls `done` every 20 ms for up to 5 s (the sweep runs once a second). */
async function waitFor(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error("condition not reached in 5 s");
    await tick(20);
  }
}

Deno.test("After a restart, compaction looks only at streams with enough bytes to merge", async () => {
  const wal = new MemoryWal();
  const compaction = {
    chunkBytesTarget: 8,
    tickBytesMax: 1 << 20,
    intervalMs: 5,
    tickStreamsMax: 100,
  };
  const options = {
    limits: defaultConfig().limits,
    log: createLogger("error"),
    onFatal: () => {},
    compaction: { ...compaction, chunkBytesTarget: 0 }, // off while writing
  };
  const first = await Engine.open(new MemoryStore(wal), options);
  await first.create("small", createReq());
  await first.create("big", createReq());
  for (const piece of ["aa", "bb", "cc"]) {
    await first.append("small", appendReq(piece)); // 6 bytes: below 8
    await first.append("big", appendReq(piece + piece)); // 12 bytes
  }
  await first.close();
  const store = new MemoryStore(wal);
  const compacted: number[] = [];
  const compact = store.compact.bind(store);
  store.compact = (id, ...rest) => {
    compacted.push(id);
    return compact(id, ...rest);
  };
  const engine = await Engine.open(store, { ...options, compaction });
  for (let i = 0; i < 200 && compacted.length === 0; i++) await tick();
  await tick(50);
  assert.deepEqual([...new Set(compacted)], [2]);
  await engine.close();
});

Deno.test("Delete listeners get the ids a delete changed: the soft-deleted source, then the fork and the source removed with it", async () => {
  const h = await open();
  const deleted: [string, number[]][] = [];
  h.engine.addListener({ deleted: (name, ids) => deleted.push([name, ids]) });
  await h.engine.create("src", createReq({ body: enc("abc") }));
  const fork = await h.engine.create(
    "f",
    createReq({ fork: { source: "src", position: 3, subOffset: undefined } }),
  );
  assert.ok(fork.ok);
  assert.ok((await h.engine.delete("src")).ok); // soft: the fork reads it
  assert.ok((await h.engine.delete("f")).ok); // the source goes with it
  assert.deepEqual(deleted, [["src", [1]], ["f", [2, 1]]]);
  await h.engine.close();
});

Deno.test("A stream whose create has not committed is not found by reads, HEAD or waits; appends see it", async () => {
  const h = await open();
  const e = h.engine;
  let release!: () => void;
  h.store.commitGate = new Promise((r) => (release = r));
  const created = e.create("s", createReq({ body: enc("hello") }));
  // Started in the create's turn: assigned, not committed.
  const sameTurn = await e.read("s", "start");
  assert.ok(!sameTurn.ok && sameTurn.error.kind === "stream_not_found");
  await tick(); // the commit has begun and waits at the gate
  const positions = { splitPos: 0, publishedPos: 0 };
  const answers = [
    await e.read("s", "start"),
    await e.read("s", "now"),
    await e.read("s", 3),
    await e.readKeyed("s", "start", enc("k")),
    await e.readFiltered("s", "start", "x:1", undefined),
    await e.search("s", { q: "x" }, positions),
    await e.aggregate("s", { rollup: "r" }, positions),
    await e.routingKeys("s", { after: undefined, limit: 10, splitPos: 0 }),
    await e.positionAtTime("s", 0),
    await e.waitForData("s", 0, 60_000),
    e.head("s"),
    await e.headFresh("s"),
    e.schemaRegistry("s"),
    e.profile("s"),
  ];
  assert.deepEqual(
    answers.map((r) => r.ok ? "found" : r.error.kind),
    answers.map(() => "stream_not_found"),
  );
  assert.equal(e.view("s"), undefined);
  assert.deepEqual(e.list("", undefined, 10).streams, []);
  assert.deepEqual([...e.streamInfos()], []);
  assert.equal(e.waiting, 0);
  // Writes are checked against the assigned state: this append follows the
  // create in the queue.
  const appended = e.append("s", appendReq(" world"));
  release();
  h.store.commitGate = undefined;
  assert.ok((await created).ok);
  assert.ok((await appended).ok);
  const read = await e.read("s", "start");
  assert.ok(read.ok && dec(read.value.data) === "hello world");
  await e.close();
});

Deno.test("A read of a stream whose create failed to commit answers 404", async () => {
  const h = await open();
  let release!: () => void;
  h.store.commitGate = new Promise((r) => (release = r));
  h.store.failNextCommit = new Error("lost connection");
  const created = h.engine.create("s", createReq({ body: enc("hello") }));
  await tick();
  const before = await h.engine.read("s", "start");
  assert.ok(!before.ok && before.error.kind === "stream_not_found");
  release();
  h.store.commitGate = undefined;
  const failed = await created.catch((error) => error);
  assert.ok(!("ok" in failed) || !failed.ok, "the create did not commit");
  await tick(20); // the roll-back reloads the WAL
  const after = await h.engine.read("s", "start");
  assert.ok(!after.ok && after.error.kind === "stream_not_found");
  assert.equal(h.engine.head("s").ok, false);
  await h.engine.close();
});

Deno.test("A create's commit publishes the stream as created, not the appends and close queued behind it", async () => {
  const h = await open({ commitBatchMax: 1 });
  const e = h.engine;
  const created = e.create(
    "s",
    createReq({ contentType: "application/json", body: enc("[1]") }),
  );
  const closing = e.append(
    "s",
    appendReq("[2]", { contentType: "application/json", close: true }),
  );
  assert.ok((await created).ok);
  let release!: () => void;
  h.store.commitGate = new Promise((r) => (release = r));
  await tick(); // the append's commit waits at the gate
  const head = e.head("s");
  assert.ok(head.ok);
  assert.equal(head.value.closed, false);
  const read = await e.read("s", "start");
  assert.ok(read.ok, "the committed bytes are readable");
  assert.equal(dec(read.value.data), "1,"); // stored JSON framing
  assert.equal(read.value.nextPos, head.value.tailPos);
  assert.equal(read.value.closed, false);
  release();
  h.store.commitGate = undefined;
  assert.ok((await closing).ok);
  const done = await e.read("s", "start");
  assert.ok(done.ok && dec(done.value.data) === "1,2," && done.value.closed);
  await e.close();
});

Deno.test("A fork of a stream whose create has not committed is refused as a fork of a missing stream", async () => {
  const h = await open();
  const e = h.engine;
  let release!: () => void;
  h.store.commitGate = new Promise((r) => (release = r));
  const json = "application/json";
  const created = e.create(
    "src",
    createReq({ contentType: json, body: enc("[1,2,3]") }),
  );
  // Started in the source's create turn, and again while it commits.
  const sameTurn = e.create(
    "f1",
    createReq({
      fork: { source: "src", position: undefined, subOffset: undefined },
    }),
  );
  await tick();
  const subOffset = createReq({
    contentType: json,
    fork: { source: "src", position: 0, subOffset: 2 },
  });
  const resolved = await e.resolveForkSubOffset(subOffset);
  assert.ok(resolved.ok);
  const later = e.create("f2", resolved.value);
  release();
  h.store.commitGate = undefined;
  for (const fork of [await sameTurn, await later]) {
    assert.ok(!fork.ok && fork.error.kind === "stream_not_found");
  }
  assert.ok((await created).ok);
  assert.equal(e.head("f1").ok, false);
  // Once the source committed, the same fork is taken.
  const again = await e.resolveForkSubOffset(subOffset);
  assert.ok(again.ok);
  assert.ok((await e.create("f2", again.value)).ok);
  const read = await e.read("f2", "start");
  assert.ok(read.ok && dec(read.value.data) === "1,2,");
  await e.close();
});
