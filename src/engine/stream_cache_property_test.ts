/**
 * Random producer appends, plain appends, closes, forks, TTLs, deletes,
 * reads and restarts over many streams, run on two engines: one whose
 * stream cache holds a few streams' producer states (so they are evicted
 * and loaded again all the time) and one that never evicts. Every answer
 * must be the same. Reads start in the same turn as the writes around
 * them, creates with an initial body included: a read never fails for
 * any other reason than a missing or deleted stream.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { defaultConfig } from "../config.ts";
import type { Result } from "../errors.ts";
import { createLogger } from "../log.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import type { ProducerRow } from "../storage/wal_store.ts";
import { Engine } from "./engine.ts";
import type { AppendRequest, CreateRequest } from "./types.ts";

const NAMES = 12;
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

type Op =
  | {
    kind: "create";
    name: number;
    ttl: boolean;
    forkOf: number | null;
    /** A read of the new stream follows in the same turn. */
    thenRead: boolean;
  }
  | {
    kind: "append";
    name: number;
    producer: { id: number; epoch: number; seq: number } | null;
    close: boolean;
  }
  | { kind: "delete"; name: number }
  | { kind: "read"; name: number }
  | { kind: "advance"; ms: number }
  | { kind: "restart" };

const name = fc.nat(NAMES - 1);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("create" as const),
      name,
      ttl: fc.boolean(),
      forkOf: fc.option(name, { nil: null }),
      thenRead: fc.boolean(),
    }),
  },
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("append" as const),
      name,
      producer: fc.option(
        fc.record({
          id: fc.nat(2),
          epoch: fc.nat(1),
          // Mostly the seq a well-behaved producer sends next.
          seq: fc.oneof(
            { weight: 3, arbitrary: fc.constant(-1) },
            { weight: 1, arbitrary: fc.nat(4) },
          ),
        }),
        { nil: null, freq: 4 },
      ),
      close: fc.nat(19).map((n) => n === 0),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("delete" as const), name }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("read" as const), name }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("advance" as const),
      ms: fc.integer({ min: 100, max: 4000 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "restart" as const }) },
);

/**
 * A memory store whose commits and producer loads take a moment, so that
 * commits are in flight while other streams' producer states load and
 * evict.
 */
class SlowStore extends MemoryStore {
  override async commit(
    ...args: Parameters<MemoryStore["commit"]>
  ): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 0));
    return await super.commit(...args);
  }

  override async loadProducers(
    streamId: number,
  ): Promise<ProducerRow[]> {
    await Promise.resolve();
    return await super.loadProducers(streamId);
  }
}

/** One engine on its own WAL, with its own clock. */
class Node {
  readonly wal = new MemoryWal();
  readonly clock = { now: 1_000_000 };
  engine!: Engine;
  evictions = 0;
  misses = 0;

  constructor(readonly cacheBytes: number) {}

  async open(): Promise<void> {
    this.engine = await Engine.open(new SlowStore(this.wal), {
      limits: {
        ...defaultConfig().limits,
        streamCacheBytes: this.cacheBytes,
      },
      log: createLogger("error"),
      onFatal: (e) => {
        throw e;
      },
      now: () => this.clock.now,
    });
  }

  async restart(): Promise<void> {
    this.#count();
    await this.engine.close();
    await this.open();
  }

  #count(): void {
    const stats = this.engine.streamCacheStats();
    this.evictions += stats.evictions;
    this.misses += stats.misses;
  }

  async finish(): Promise<void> {
    this.#count();
    await this.engine.close();
  }

  /** Runs `op`; returns its answer as text. */
  run(op: Op): Promise<string> {
    const e = this.engine;
    const stream = (n: number) => `s${n}`;
    switch (op.kind) {
      case "create":
        return e.create(stream(op.name), createReq(op, stream)).then(show);
      case "append":
        return e.append(stream(op.name), appendReq(op)).then(show);
      case "delete":
        return e.delete(stream(op.name)).then(show);
      case "read":
        return e.read(stream(op.name), "start").then(show);
      case "advance":
        this.clock.now += op.ms;
        return Promise.resolve("advanced");
      case "restart":
        return this.restart().then(() => "restarted");
    }
  }
}

function createReq(
  op: Extract<Op, { kind: "create" }>,
  stream: (n: number) => string,
): CreateRequest {
  return {
    contentType: "text/plain",
    ttlSeconds: op.ttl ? 5 : undefined,
    expiresAtMs: undefined,
    closed: false,
    body: enc("init"),
    fork: op.forkOf === null || op.forkOf === op.name ? undefined : {
      source: stream(op.forkOf),
      position: undefined,
      subOffset: undefined,
    },
    routingKey: undefined,
    timestampMs: undefined,
  };
}

function appendReq(op: Extract<Op, { kind: "append" }>): AppendRequest {
  return {
    contentType: "text/plain",
    body: enc(`<${op.producer?.seq ?? "-"}>`),
    close: op.close,
    streamSeq: undefined,
    producer: op.producer === null ? undefined : {
      id: `producer-${op.producer.id}`,
      epoch: op.producer.epoch,
      seq: op.producer.seq,
    },
    routingKey: undefined,
    timestampMs: undefined,
  };
}

/** An answer as text: the error kind, or the value with bytes decoded. */
function show(result: Result<unknown>): string {
  if (!result.ok) return `error ${result.error.kind}`;
  return JSON.stringify(
    result.value ?? null,
    (_key, v) => v instanceof Uint8Array ? dec(v) : v,
  );
}

Deno.test("Engine with a stream cache of a few streams answers like one that never evicts, across producers, forks, TTLs, closes, deletes and restarts", async () => {
  let evictions = 0;
  let misses = 0;
  let raced = 0;
  // Batches of requests started in one turn, so loads overlap other writes.
  const batches = fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), {
    minLength: 20,
    maxLength: 80,
  });
  await fc.assert(
    fc.asyncProperty(batches, async (steps) => {
      const tiny = new Node(1024);
      const unbounded = new Node(1 << 30);
      await tiny.open();
      await unbounded.open();
      // The next seq per stream, producer and epoch, from the answers.
      const next = new Map<string, number>();
      const resolve = (o: Op): Op => {
        if (o.kind !== "append" || o.producer === null) return o;
        const key = `${o.name}/${o.producer.id}/${o.producer.epoch}`;
        const seq = o.producer.seq < 0 ? next.get(key) ?? 0 : o.producer.seq;
        return { ...o, producer: { ...o.producer, seq } };
      };
      const note = (o: Op, answer: string): void => {
        if (o.kind === "append" && o.producer !== null) {
          const key = `${o.name}/${o.producer.id}/${o.producer.epoch}`;
          if (!answer.startsWith("error")) next.set(key, o.producer.seq + 1);
        } else if (o.kind === "create" || o.kind === "delete") {
          for (const key of [...next.keys()]) {
            if (key.startsWith(`${o.name}/`)) next.delete(key);
          }
        }
      };
      try {
        const creates: Op[] = Array.from({ length: NAMES }, (_, i) => ({
          kind: "create",
          name: i,
          ttl: i % 4 === 0,
          forkOf: null,
          thenRead: true,
        }));
        for (const batch of [creates, ...steps]) {
          // Writes and reads start in one turn, in the batch's order: a
          // read may race an uncommitted create (with its initial body), an
          // append or a delete. The clock moves after them (a write waiting
          // for a load checks expiry when it goes on), and a restart comes
          // last.
          const requests = batch.flatMap((o): Op[] =>
            o.kind === "create" && o.thenRead
              ? [o, { kind: "read", name: o.name }]
              : o.kind === "advance" || o.kind === "restart"
              ? []
              : [o]
          ).map(resolve);
          const moves = batch.filter((o) => o.kind === "advance");
          for (const group of [requests, moves]) {
            const [a, b] = await Promise.all([
              Promise.all(group.map((o) => tiny.run(o))),
              Promise.all(group.map((o) => unbounded.run(o))),
            ]);
            raced += compareAnswers(group, a, b);
            group.forEach((o, i) => note(o, b[i]));
          }
          if (batch.some((o) => o.kind === "restart")) {
            await tiny.restart();
            await unbounded.restart();
          }
        }
      } finally {
        await tiny.finish();
        await unbounded.finish();
      }
      assert.equal(unbounded.evictions, 0);
      evictions += tiny.evictions;
      misses += tiny.misses;
    }),
    { numRuns: Number(Deno.env.get("FUZZ_RUNS") ?? 30) },
  );
  // The small cache did evict and load again, or the test proved nothing.
  assert.ok(evictions > 20, `${evictions} evictions`);
  assert.ok(misses > 20, `${misses} misses`);
  // Reads did start while their stream's create was in flight.
  assert.ok(raced > 20, `${raced} reads raced a create`);
});

/**
 * Checks the two engines' answers to `requests` (started in one turn):
 * the same, except that a read may find a stream that a delete started
 * before it in the turn already removed on one engine only (a delete waits
 * for producer loads in flight, which the engines run at different
 * times), and every read answers with data, 404 or 410. Returns how many
 * reads answered 404 for a stream a create before them in the turn made.
 */
function compareAnswers(requests: Op[], a: string[], b: string[]): number {
  let raced = 0;
  const context = JSON.stringify(requests);
  requests.forEach((o, i) => {
    if (o.kind !== "read") {
      assert.equal(a[i], b[i], context);
      return;
    }
    for (const answer of [a[i], b[i]]) {
      assert.ok(
        !answer.startsWith("error") ||
          answer === "error stream_not_found" ||
          answer === "error stream_gone",
        `read ${o.name}: ${answer} in ${context}`,
      );
    }
    const before = requests.slice(0, i);
    if (a[i] !== b[i]) {
      assert.ok(
        before.some((w) => w.kind === "delete") &&
          [a[i], b[i]].includes("error stream_not_found"),
        `read ${o.name}: ${a[i]} != ${b[i]} in ${context}`,
      );
    }
    const created = before.some((w, j) =>
      w.kind === "create" && w.name === o.name &&
      b[j].startsWith('{"created":true')
    );
    if (created && b[i] === "error stream_not_found") raced++;
  });
  return raced;
}
