import assert from "node:assert/strict";
import { appendRecord, streamRow } from "./_contract.ts";
import { parseMetaScope, parseTails } from "./_pg_node.ts";
import { freshSchema, sharedPgCluster } from "./_pg_testing.ts";
import {
  metaScope,
  openPgStore,
  type PgStore,
  tailPayloads,
} from "./pg_store.ts";
import { type AnnouncedTail, isStale, type WalOp } from "./wal_store.ts";

async function open(schema: string, multiNode = true): Promise<PgStore> {
  const cluster = await sharedPgCluster();
  return await openPgStore({
    url: cluster.url,
    schema,
    poolSize: 4,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync",
    multiNode,
  });
}

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("PgStore: a commit planned from a stream another store changed since is stale, and nothing of it is kept", async () => {
  const schema = freshSchema("stale");
  const a = await open(schema);
  const b = await open(schema, false); // checks hold without the flag too
  try {
    await a.commit([{ op: "create", stream: streamRow(1, "s") }], 2);
    await b.load();
    await a.commit([appendRecord(1, 0, bytes("from-a"))], 2);
    // B still thinks the tail is 0: a different record at 0 is refused.
    await assert.rejects(
      b.commit([appendRecord(1, 0, bytes("from-b!"))], 2),
      (error) => isStale(error),
    );
    // A producer step or a registry change alone is checked the same way.
    await assert.rejects(
      b.commit([{ op: "schema_registry", streamId: 1, registry: "{}" }], 2),
      (error) => isStale(error),
    );
    // After a reload B's plan holds.
    const snapshot = await b.load();
    assert.equal(snapshot.streams[0].tailPos, 6);
    await b.commit([appendRecord(1, 6, bytes("from-b"))], 2);
    const chunks = await a.readChunks(1, 0, 12, 1000);
    assert.deepEqual(
      chunks.map((c) => new TextDecoder().decode(c.data)),
      ["from-a", "from-b"],
    );
    // A's view is stale now; its own commits had kept it current before.
    await assert.rejects(
      a.commit([appendRecord(1, 12, bytes("late"))], 2),
      (error) => isStale(error),
    );
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("PgStore: a create of an id or name another store took is stale", async () => {
  const schema = freshSchema("stale_create");
  const a = await open(schema);
  const b = await open(schema);
  try {
    await a.load();
    await b.load();
    await a.commit([{ op: "create", stream: streamRow(1, "one") }], 2);
    // Same id, other name: next_stream_id says id 1 is taken.
    await assert.rejects(
      b.commit([{ op: "create", stream: streamRow(1, "two") }], 2),
      (error) => isStale(error),
    );
    // Same name, fresh id: the unique name says no.
    await assert.rejects(
      b.commit([{ op: "create", stream: streamRow(2, "one") }], 3),
      (error) => isStale(error),
    );
    assert.deepEqual((await b.load()).streams.map((s) => s.name), ["one"]);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("PgStore: commits announce tails to other nodes' listeners, one notification per flush, and never to themselves", async () => {
  const schema = freshSchema("notify");
  const a = await open(schema);
  const b = await open(schema);
  const heardByB: AnnouncedTail[][] = [];
  const heardByA: AnnouncedTail[][] = [];
  let changes = 0;
  const listening = Promise.withResolvers<void>();
  await b.shared!.watch({
    tails: (tails) => {
      heardByB.push(tails);
      listening.resolve();
    },
    changed: () => changes++,
  });
  await a.shared!.watch({ tails: (t) => heardByA.push(t), changed: () => {} });
  try {
    await a.commit([
      { op: "create", stream: streamRow(1, "x") },
      { op: "create", stream: streamRow(2, "y") },
    ], 3);
    await a.commit([
      appendRecord(1, 0, bytes("ab")),
      appendRecord(2, 0, bytes("abc")),
      appendRecord(1, 2, bytes("c")),
    ], 3);
    await listening.promise;
    assert.deepEqual(heardByB, [[
      { streamId: 1, tailPos: 3 },
      { streamId: 2, tailPos: 3 },
    ]]);
    assert.equal(changes, 1, "the creates were one meta announcement");
    assert.deepEqual(heardByA, []);
    // The nodes table lists both while they run.
    const cluster = await sharedPgCluster();
    assert.equal(
      (await cluster.psql(`SELECT count(*) FROM ${schema}.nodes`)).trim(),
      "2",
    );
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("tail payloads stay under PostgreSQL's 8000-byte limit and parse back", () => {
  const ops: WalOp[] = [];
  for (let id = 1; id <= 2000; id++) {
    ops.push(appendRecord(id, 1_000_000_000 + id, bytes("x")));
  }
  const payloads = tailPayloads("streambed/node-1", ops);
  assert.ok(payloads.length > 1);
  const parsed: AnnouncedTail[] = [];
  for (const payload of payloads) {
    assert.ok(new TextEncoder().encode(payload).length < 8000);
    assert.ok(payload.startsWith("streambed/node-1|"));
    parsed.push(...parseTails(payload.slice(payload.indexOf("|") + 1))!);
  }
  assert.equal(parsed.length, 2000);
  assert.deepEqual(parsed[1999], {
    streamId: 2000,
    tailPos: 1_000_000_000 + 2001,
  });
  assert.equal(parseTails("1:2,x:3"), undefined);
});

Deno.test("PgStore: deleting a source another store forked meanwhile is stale", async () => {
  const schema = freshSchema("stale_fork");
  const a = await open(schema);
  const b = await open(schema);
  try {
    await a.commit([{ op: "create", stream: streamRow(1, "source") }], 2);
    await b.load();
    await a.commit([{
      op: "create",
      stream: { ...streamRow(2, "fork"), forkedFrom: 1, forkPos: 0 },
    }], 3);
    // B believes the source has no forks and deletes it for good.
    await assert.rejects(
      b.commit([{ op: "delete", streamId: 1 }], 2),
      (error) => isStale(error),
    );
    assert.deepEqual((await b.load()).streams.map((s) => s.name), [
      "source",
      "fork",
    ]);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("PgStore: deleting a fork whose source another store soft-deleted meanwhile is stale (the cascade was decided from stale state)", async () => {
  const schema = freshSchema("stale_cascade");
  const a = await open(schema);
  const b = await open(schema);
  try {
    await a.commit([
      { op: "create", stream: streamRow(1, "source") },
      {
        op: "create",
        stream: { ...streamRow(2, "fork"), forkedFrom: 1, forkPos: 0 },
      },
    ], 3);
    await b.load();
    await a.commit([{ op: "soft_delete", streamId: 1 }], 3);
    // B still sees a live source: deleting the fork alone would leave the
    // soft-deleted source with no fork, never collected.
    await assert.rejects(
      b.commit([{ op: "delete", streamId: 2 }], 3),
      (error) => isStale(error),
    );
    await b.load();
    await b.commit([{ op: "delete", streamId: 2 }, {
      op: "delete",
      streamId: 1,
    }], 3);
    assert.deepEqual((await a.load()).streams, []);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("PgStore: loadSome reads only the streams asked about (by id or name), their fork sources, producers and schemas", async () => {
  const schema = freshSchema("some");
  const a = await open(schema);
  const b = await open(schema);
  try {
    const ops: WalOp[] = [];
    for (let id = 1; id <= 50; id++) {
      ops.push({ op: "create", stream: streamRow(id, `s${id}`) });
    }
    ops.push({
      op: "create",
      stream: streamRow(51, "fork", { forkedFrom: 7, forkPos: 0 }),
    });
    await a.commit(ops, 52);
    await b.load();
    await a.commit([
      appendRecord(3, 0, bytes("abc")),
      {
        op: "producer",
        row: { streamId: 3, producerId: "p", epoch: 0, seq: 4, updatedAtMs: 1 },
      },
      { op: "schema_registry", streamId: 3, registry: '{"x":1}' },
      { op: "delete", streamId: 9 },
    ], 52);
    // B planned from the old version of stream 3: stale until it reloads it.
    assert.equal(await b.shared!.current([3]), false);
    const part = await b.shared!.loadSome({
      ids: [3, 9],
      names: ["fork", "nope"],
    });
    assert.deepEqual(part.streams.map((s) => s.id), [3, 7, 51]);
    assert.equal(part.streams[0].tailPos, 3);
    assert.deepEqual(
      (await b.loadProducers(3)).map((p) => [p.streamId, p.seq]),
      [[3, 4]],
    );
    assert.deepEqual(part.schemaRegistries, [
      { streamId: 3, registry: '{"x":1}' },
    ]);
    assert.equal(part.nextStreamId, 52);
    assert.equal(await b.shared!.current([3, 7, 51]), true);
    await b.commit([appendRecord(3, 3, bytes("def"))], 52);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("PgStore: a profile change is announced to other nodes as a meta change, and their plans from before it are stale", async () => {
  const schema = freshSchema("profile");
  const a = await open(schema);
  const b = await open(schema);
  let changes = 0;
  await b.shared!.watch({ tails: () => {}, changed: () => changes++ });
  try {
    await a.commit([{ op: "create", stream: streamRow(1, "s") }], 2);
    await b.load();
    changes = 0;
    await a.commit([
      {
        op: "profile",
        streamId: 1,
        kind: "evlog",
        options: '{"kind":"evlog"}',
      },
    ], 2);
    for (let i = 0; changes === 0; i++) {
      assert.ok(i < 200, "B never heard of the profile change");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // B planned an append before it: stale, so B reloads and sees the profile.
    await assert.rejects(
      b.commit([appendRecord(1, 0, bytes("x"))], 2),
      (error) => isStale(error),
    );
    const snapshot = await b.load();
    assert.deepEqual(snapshot.profiles, [
      { streamId: 1, kind: "evlog", options: '{"kind":"evlog"}' },
    ]);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("meta announcements name their streams and parse back; too many names mean a full reload", () => {
  const ops: WalOp[] = [
    { op: "create", stream: streamRow(5, "a|b,'c'", { forkedFrom: 2 }) },
    { op: "delete", streamId: 3 },
    { op: "schema_registry", streamId: 4, registry: null },
  ];
  const text = metaScope(ops);
  assert.deepEqual(parseMetaScope(`17|${text}`), {
    ids: [5, 2, 3, 4],
    names: ["a|b,'c'"],
    metaVersions: ["17"],
  });
  const many: WalOp[] = Array.from({ length: 2000 }, (_, i) => ({
    op: "delete",
    streamId: i + 1,
  }));
  assert.equal(metaScope(many), "");
  assert.equal(parseMetaScope("18|"), undefined);
  assert.equal(parseMetaScope("18|{bad"), undefined);
});
