import assert from "node:assert/strict";
import { defaultConfig } from "../config.ts";
import { createLogger } from "../log.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import {
  activate,
  emptyRegistry,
  planSchemaUpdate,
} from "../schema/registry.ts";
import { Engine } from "./engine.ts";
import { promoteStored } from "./schemas.ts";
import type { AppendRequest, CreateRequest } from "./types.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function createReq(extra: Partial<CreateRequest> = {}): CreateRequest {
  return {
    contentType: "application/json",
    ttlSeconds: undefined,
    expiresAtMs: undefined,
    closed: false,
    body: new Uint8Array(),
    fork: undefined,
    routingKey: undefined,
    timestampMs: undefined,
    ...extra,
  };
}

function appendReq(body: string): AppendRequest {
  return {
    contentType: "application/json",
    body: enc(body),
    close: false,
    streamSeq: undefined,
    producer: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  };
}

async function open(wal = new MemoryWal()) {
  const store = new MemoryStore(wal);
  const engine = await Engine.open(store, {
    limits: defaultConfig().limits,
    log: createLogger("error"),
    onFatal: (e) => {
      throw e;
    },
  });
  return { engine, store, wal };
}

const V1 = { type: "object", required: ["id"] };
const V2 = {
  type: "object",
  required: ["id", "n"],
  properties: { n: { type: "integer" } },
};
const LENS = {
  apiVersion: "durable.lens/v1",
  schema: "s",
  from: 1,
  to: 2,
  ops: [{ op: "add", path: "/n", schema: { type: "integer" }, default: 0 }],
};

async function readAll(engine: Engine, name: string): Promise<string> {
  const read = await engine.read(name, "start");
  assert.ok(read.ok);
  return dec(read.value.data);
}

Deno.test("Engine validates appends against the schema; nothing written on failure", async () => {
  const { engine } = await open();
  assert.ok((await engine.create("s", createReq())).ok);
  const updated = await engine.updateSchema("s", { schema: V1 });
  assert.ok(updated.ok);
  assert.equal(updated.value.currentVersion, 1);
  const bad = await engine.append("s", appendReq('[{"id":"a"},{"x":1}]'));
  assert.equal(bad.ok, false);
  if (!bad.ok) {
    assert.equal(bad.error.kind, "validation_failed");
    assert.match(
      bad.error.message,
      /element 1: must have required property 'id'/,
    );
  }
  assert.equal(engine.view("s")!.tailPos, 0);
  assert.ok((await engine.append("s", appendReq('[{"id":"a"}]'))).ok);
  const first = await engine.updateSchema("s", { schema: V1 });
  assert.equal(first.ok, false); // a second schema needs a lens
  await engine.close();
});

Deno.test("Engine assigns a schema change between appends with no gap (atomic with appends)", async () => {
  const { engine, store } = await open();
  assert.ok((await engine.create("s", createReq())).ok);
  assert.ok((await engine.updateSchema("s", { schema: V1 })).ok);
  let release!: () => void;
  store.commitGate = new Promise((r) => (release = r));
  // All three are assigned before anything commits.
  const before = engine.append("s", appendReq('{"id":"old"}'));
  const change = engine.updateSchema("s", { schema: V2, lens: LENS });
  const after = engine.append("s", appendReq('{"id":"new"}'));
  const valid = engine.append("s", appendReq('{"id":"new","n":2}'));
  release();
  assert.ok((await before).ok);
  const changed = await change;
  assert.ok(changed.ok);
  assert.deepEqual(changed.value.boundaries, [
    { position: 0, version: 1 },
    { position: '{"id":"old"},'.length, version: 2 },
  ]);
  const refused = await after;
  assert.equal(refused.ok, false);
  if (!refused.ok) assert.equal(refused.error.kind, "validation_failed");
  assert.ok((await valid).ok);
  // The record written under v1 reads back promoted; the v2 one as written.
  assert.equal(
    await readAll(engine, "s"),
    '{"id":"old","n":0},{"id":"new","n":2},',
  );
  await engine.close();
});

Deno.test("Engine keeps registries across a restart and copies them into forks", async () => {
  const wal = new MemoryWal();
  let { engine } = await open(wal);
  assert.ok((await engine.create("s", createReq())).ok);
  assert.ok(
    (await engine.updateSchema("s", {
      schema: V1,
      routingKey: { jsonPointer: "/id" },
    })).ok,
  );
  assert.ok((await engine.append("s", appendReq('{"id":"a"}'))).ok);
  assert.ok((await engine.updateSchema("s", { schema: V2, lens: LENS })).ok);
  await engine.close();
  ({ engine } = await open(wal));
  const restored = engine.schemaRegistry("s");
  assert.ok(restored.ok);
  assert.equal(restored.value.registry.currentVersion, 2);
  assert.deepEqual(restored.value.registry.routingKey, {
    jsonPointer: "/id",
    required: false,
  });
  assert.equal(await readAll(engine, "s"), '{"id":"a","n":0},');
  assert.equal((await engine.append("s", appendReq('{"id":"b"}'))).ok, false);
  // A fork at position 0 has only version 1 (v2 starts after the record).
  const fork = await engine.create(
    "f",
    createReq({ fork: { source: "s", position: 0, subOffset: undefined } }),
  );
  assert.ok(fork.ok);
  const forked = engine.schemaRegistry("f");
  assert.ok(forked.ok);
  assert.equal(forked.value.registry.currentVersion, 1);
  assert.ok((await engine.append("f", appendReq('{"id":"c"}'))).ok);
  assert.equal((await engine.append("f", appendReq('{"x":1}'))).ok, false);
  // A fork at the tail inherits both versions and the lens.
  const tail = await engine.create(
    "g",
    createReq({
      fork: { source: "s", position: undefined, subOffset: undefined },
    }),
  );
  assert.ok(tail.ok);
  assert.equal(await readAll(engine, "g"), '{"id":"a","n":0},');
  await engine.close();
});

Deno.test("Engine refuses schemas on byte streams and a first schema on a non-empty stream", async () => {
  const { engine } = await open();
  assert.ok(
    (await engine.create("b", createReq({ contentType: "text/plain" }))).ok,
  );
  const bytes = await engine.updateSchema("b", { schema: V1 });
  assert.equal(bytes.ok, false);
  if (!bytes.ok) assert.equal(bytes.error.kind, "bad_request");
  assert.ok((await engine.create("j", createReq())).ok);
  assert.ok((await engine.append("j", appendReq("1"))).ok);
  const late = await engine.updateSchema("j", { schema: V1 });
  assert.equal(late.ok, false);
  if (!late.ok) {
    assert.match(late.error.message, /first schema requires empty stream/);
  }
  const missing = await engine.updateSchema("nope", { schema: V1 });
  assert.equal(missing.ok, false);
  if (!missing.ok) assert.equal(missing.error.kind, "stream_not_found");
  await engine.close();
});

Deno.test("promoteStored() upgrades only records before the current boundary, and reports a failing lens", () => {
  const v1 = planSchemaUpdate(emptyRegistry("s"), { schema: V1 }, {
    tail: 0,
    empty: true,
  });
  assert.ok(v1.ok);
  const stored = '{"id":"a"},{"id":"b,\\"}"},';
  const boundary = '{"id":"a"},'.length;
  const v2 = planSchemaUpdate(v1.value, { schema: V2, lens: { ...LENS } }, {
    tail: boundary,
    empty: false,
  });
  assert.ok(v2.ok);
  const active = activate(v2.value);
  const out = promoteStored(active, 0, enc(stored));
  assert.ok(out.ok);
  assert.equal(dec(out.value), '{"id":"a","n":0},{"id":"b,\\"}"},');
  // A read starting at the boundary is returned as stored (same bytes).
  const tail = enc('{"id":"c","n":1},');
  const fast = promoteStored(active, boundary, tail);
  assert.ok(fast.ok);
  assert.equal(fast.value, tail);
  // A lens that cannot apply (the proof rules this out) is an internal error
  // naming the record's position, never a partial body.
  (active.lenses as Map<number, unknown>).set(1, [
    { op: "remove", path: ["missing"] },
  ]);
  const broken = promoteStored(active, 0, enc(stored));
  assert.equal(broken.ok, false);
  if (!broken.ok) {
    assert.equal(broken.error.kind, "internal");
    assert.match(broken.error.message, /position 0/);
  }
});
