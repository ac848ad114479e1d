import assert from "node:assert/strict";
import {
  type LiveTemplateRow,
  type LiveTemplateStore,
  MemoryLiveTemplateStore,
  SqliteLiveTemplateStore,
} from "./live_template_store.ts";
import { freshSchema, sharedPgCluster } from "./_pg_testing.ts";
import { openPgStore } from "./pg_store.ts";
import { PgLiveTemplateStore } from "./pg_live_template_store.ts";
import { PgSyncClient } from "./pg_sync.ts";

function row(extra: Partial<LiveTemplateRow> = {}): LiveTemplateRow {
  return {
    streamId: 1,
    templateId: "ddd2330fdab379da",
    entity: "public.todos",
    fields: ["status", "tenantId"],
    encodings: ["string", "int64"],
    state: "active",
    createdAtMs: 1000,
    lastSeenAtMs: 2000,
    inactivityTtlMs: 60_000,
    activeFromPos: 123,
    retiredAtMs: null,
    retiredReason: null,
    ...extra,
  };
}

async function contract(open: () => LiveTemplateStore, reopen = open) {
  const store = open();
  store.put([
    row(),
    row({ templateId: "0000000000000001", streamId: 2 }),
  ]);
  store.put([
    row({
      state: "retired",
      lastSeenAtMs: 3000,
      retiredAtMs: 4000,
      retiredReason: "inactivity",
    }),
  ]);
  store.putTouchState({
    streamId: 2,
    processedThroughPos: 77,
    epoch: "aaaaaaaaaaaaaaaa",
    updatedAtMs: 1,
  });
  store.close();
  const again = reopen();
  assert.equal(again.touchState(2)?.processedThroughPos, 77, "kept");
  try {
    assert.deepEqual(again.load(1), [
      row({
        state: "retired",
        lastSeenAtMs: 3000,
        retiredAtMs: 4000,
        retiredReason: "inactivity",
      }),
    ]);
    assert.deepEqual(again.streamIds().sort(), [1, 2]);
    again.deleteTemplates(2, ["0000000000000001", "ffffffffffffffff"]);
    assert.deepEqual(again.load(2), []);
    again.put([row({ templateId: "0000000000000001", streamId: 2 })]);
    // Checkpoints: one per stream, replaced; a stream with only a
    // checkpoint is listed; deleteStream drops it with the templates.
    assert.equal(again.touchState(1), null);
    const state = {
      streamId: 1,
      processedThroughPos: 4096,
      epoch: "00112233445566ff",
      updatedAtMs: 5000,
    };
    again.putTouchState(state);
    again.putTouchState({ ...state, processedThroughPos: 8192 });
    again.putTouchState({ ...state, streamId: 3 });
    assert.deepEqual(again.touchState(1), {
      ...state,
      processedThroughPos: 8192,
    });
    assert.deepEqual(again.streamIds().sort(), [1, 2, 3]);
    again.deleteStream(1);
    assert.deepEqual(again.load(1), []);
    assert.equal(again.touchState(1), null);
    again.deleteStream(3);
    assert.deepEqual(again.streamIds(), [2]);
    again.put([]);
  } finally {
    again.close();
  }
  await Promise.resolve();
}

Deno.test("MemoryLiveTemplateStore: put replaces, load, deleteStream", async () => {
  const store = new MemoryLiveTemplateStore();
  await contract(() => store);
});

Deno.test("SqliteLiveTemplateStore: rows survive reopening the file", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-live-" });
  try {
    await contract(() =>
      new SqliteLiveTemplateStore(`${dir}/wal.sqlite`, "os")
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PgLiveTemplateStore: rows survive a new client on the same schema", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("live");
  const options = {
    url: cluster.url,
    schema,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync" as const,
  };
  // The WAL store migrates the schema, as the server does.
  await (await openPgStore({ ...options, poolSize: 1 })).close();
  const clients: PgSyncClient[] = [];
  const open = () => {
    const client = new PgSyncClient(options);
    clients.push(client);
    return new PgLiveTemplateStore(client);
  };
  try {
    await contract(open);
  } finally {
    for (const client of clients) client.close();
  }
});
