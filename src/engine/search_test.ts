import assert from "node:assert/strict";
import { defaultConfig, type LimitsConfig } from "../config.ts";
import { createLogger } from "../log.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import { Engine } from "./engine.ts";
import type { FilteredReadOutcome } from "./filtered_reader.ts";
import { scanRecords } from "./record_scan.ts";
import type { AppendRequest, CreateRequest } from "./types.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function createReq(contentType = "application/json"): CreateRequest {
  return {
    contentType,
    ttlSeconds: undefined,
    expiresAtMs: undefined,
    closed: false,
    body: new Uint8Array(),
    fork: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  };
}

function appendReq(values: unknown[], routingKey?: string): AppendRequest {
  return {
    contentType: "application/json",
    body: enc(JSON.stringify(values)),
    close: false,
    streamSeq: undefined,
    producer: undefined,
    routingKey: routingKey === undefined ? undefined : enc(routingKey),
    timestampMs: undefined,
  };
}

async function open(
  wal = new MemoryWal(),
  limits: Partial<LimitsConfig> = {},
) {
  const engine = await Engine.open(new MemoryStore(wal), {
    limits: { ...defaultConfig().limits, ...limits },
    log: createLogger("error"),
    onFatal: (e) => {
      throw e;
    },
  });
  return { engine, wal };
}

const SCHEMA = { type: "object" };

function searchOf(extra: Record<string, unknown> = {}) {
  return {
    fields: {
      status: {
        kind: "integer",
        bindings: [{ version: 1, jsonPointer: "/status" }],
        exact: true,
        column: true,
      },
      service: {
        kind: "keyword",
        bindings: [{ version: 1, jsonPointer: "/service" }],
        exact: true,
      },
      message: {
        kind: "text",
        bindings: [{ version: 1, jsonPointer: "/message" }],
        analyzer: "unicode_word_v1",
        positions: true,
      },
      ...extra,
    },
  };
}

const ALL = { splitPos: 0, publishedPos: Infinity };

function unwrap<T>(r: { ok: true; value: T } | { ok: false; error: Error }): T {
  if (!r.ok) throw r.error;
  return r.value;
}

Deno.test("Engine validates search on POST _schema and bumps the plan generation only on change", async () => {
  const wal = new MemoryWal();
  const { engine } = await open(wal);
  unwrap(await engine.create("s", createReq()));
  const bad = await engine.updateSchema("s", {
    schema: SCHEMA,
    search: { fields: { status: { kind: "number", bindings: [] } } },
  });
  assert.ok(!bad.ok);
  assert.equal(bad.error.kind, "bad_request");
  assert.match(bad.error.message, /search\.fields\.status/);
  const first = unwrap(
    await engine.updateSchema("s", { schema: SCHEMA, search: searchOf() }),
  );
  assert.deepEqual(first.searchPlan?.generation, 1);
  const same = unwrap(await engine.updateSchema("s", { search: searchOf() }));
  assert.equal(same.searchPlan?.generation, 1);
  const changed = unwrap(
    await engine.updateSchema("s", {
      search: searchOf({
        ok: {
          kind: "bool",
          bindings: [{ version: 1, jsonPointer: "/ok" }],
          exact: true,
        },
      }),
    }),
  );
  assert.equal(changed.searchPlan?.generation, 2);
  assert.notEqual(changed.searchPlan?.hash, first.searchPlan?.hash);
  await engine.close();
  const again = await open(wal);
  const kept = unwrap(again.engine.schemaRegistry("s")).registry;
  assert.equal(kept.searchPlan?.generation, 2);
  assert.ok((kept.search as { fields: object }).fields !== undefined);
  await again.engine.close();
});

Deno.test("Engine.readFiltered() refuses byte streams, streams without search, bad filters", async () => {
  const { engine } = await open();
  unwrap(await engine.create("bytes", createReq("application/octet-stream")));
  unwrap(await engine.create("plain", createReq()));
  unwrap(await engine.create("s", createReq()));
  unwrap(
    await engine.updateSchema("s", { schema: SCHEMA, search: searchOf() }),
  );
  for (
    const [name, filter] of [
      ["bytes", "status:1"],
      ["plain", "status:1"],
      ["s", "message:x"],
      ["s", "status:>abc"],
      ["s", "nope:1"],
      ["s", ""],
    ]
  ) {
    const r = await engine.readFiltered(name, "start", filter, undefined);
    assert.ok(!r.ok, `${name} ${filter}`);
    assert.equal(r.error.kind, "bad_request");
  }
  const missing = await engine.readFiltered("nope", "start", "a:1", undefined);
  assert.ok(!missing.ok && missing.error.kind === "stream_not_found");
  await engine.close();
});

Deno.test("Engine.readFiltered() stops at the scan cap with a next offset that reaches the tail", async () => {
  const { engine } = await open(new MemoryWal(), { filterScanBytesMax: 1024 });
  unwrap(await engine.create("s", createReq()));
  unwrap(
    await engine.updateSchema("s", { schema: SCHEMA, search: searchOf() }),
  );
  for (let i = 0; i < 20; i++) {
    const batch = Array.from({ length: 10 }, (_, k) => ({
      status: 200,
      service: "api",
      message: `request ${i * 10 + k} served`,
    }));
    unwrap(await engine.append("s", appendReq(batch)));
  }
  let position: number | "start" = "start";
  let rounds = 0;
  for (;;) {
    const r: FilteredReadOutcome = unwrap(
      await engine.readFiltered("s", position, "status:500", undefined),
    );
    rounds++;
    assert.equal(r.data.length, 0);
    if (r.upToDate) break;
    assert.equal(r.scanLimitReached, true);
    assert.ok(r.scannedBytes >= 1024 && r.scannedBytes < 1200);
    assert.ok(r.nextPos > (position === "start" ? 0 : position));
    position = r.nextPos;
  }
  assert.ok(rounds > 3);
  await engine.close();
});

Deno.test("Engine.readFiltered() with a key keeps records matching both", async () => {
  const { engine } = await open();
  unwrap(await engine.create("s", createReq()));
  unwrap(
    await engine.updateSchema("s", { schema: SCHEMA, search: searchOf() }),
  );
  unwrap(await engine.append("s", appendReq([{ status: 500, n: 1 }], "a")));
  unwrap(await engine.append("s", appendReq([{ status: 500, n: 2 }], "b")));
  unwrap(await engine.append("s", appendReq([{ status: 200, n: 3 }], "a")));
  const r = unwrap(
    await engine.readFiltered("s", "start", "status:500", enc("a")),
  );
  assert.deepEqual(JSON.parse(`[${dec(r.data).slice(0, -1)}]`), [
    { status: 500, n: 1 },
  ]);
  assert.equal(r.upToDate, true);
  await engine.close();
});

Deno.test("_search finds records across a lens rename and returns them in the current shape", async () => {
  const { engine } = await open();
  unwrap(await engine.create("logs", createReq()));
  const v1 = {
    type: "object",
    properties: { message: { type: "string" } },
    required: ["message"],
  };
  const v2 = {
    type: "object",
    properties: { msg: { type: "string" } },
    required: ["msg"],
  };
  const search = (bindings: unknown[]) => ({
    fields: {
      message: {
        kind: "text",
        bindings,
        analyzer: "unicode_word_v1",
        positions: true,
      },
    },
  });
  unwrap(
    await engine.updateSchema("logs", {
      schema: v1,
      search: search([{ version: 1, jsonPointer: "/message" }]),
    }),
  );
  unwrap(
    await engine.append("logs", appendReq([{ message: "db timeout old" }])),
  );
  unwrap(
    await engine.updateSchema("logs", {
      schema: v2,
      lens: {
        apiVersion: "durable.lens/v1",
        schema: "logs",
        from: 1,
        to: 2,
        ops: [{ op: "rename", from: "/message", to: "/msg" }],
      },
      search: search([
        { version: 1, jsonPointer: "/message" },
        { version: 2, jsonPointer: "/msg" },
      ]),
    }),
  );
  unwrap(await engine.append("logs", appendReq([{ msg: "db timeout new" }])));
  unwrap(await engine.append("logs", appendReq([{ msg: "all fine" }])));
  const r = unwrap(await engine.search("logs", { q: "timeout" }, ALL));
  assert.deepEqual(
    r.hits.map((h) => h.source).sort(),
    [
      { msg: "db timeout new" },
      { msg: "db timeout old" },
    ].sort(),
  );
  assert.equal(r.timedOut, false);
  await engine.close();
});

Deno.test("_search in published mode omits the unpublished suffix and says how much", async () => {
  const { engine } = await open();
  unwrap(await engine.create("s", createReq()));
  unwrap(
    await engine.updateSchema("s", { schema: SCHEMA, search: searchOf() }),
  );
  const first = unwrap(
    await engine.append("s", appendReq([{ status: 500 }, { status: 500 }])),
  );
  unwrap(
    await engine.append("s", appendReq([{ status: 500 }, { status: 200 }])),
  );
  const positions = { splitPos: 0, publishedPos: first.nextPos };
  const published = unwrap(
    await engine.search(
      "s",
      { q: "status:500", coverage: "published" },
      positions,
    ),
  );
  assert.equal(published.hits.length, 2);
  assert.equal(published.omittedRecords, 2);
  const complete = unwrap(
    await engine.search("s", { q: "status:500" }, positions),
  );
  assert.equal(complete.hits.length, 3);
  assert.equal(complete.omittedRecords, 0);
  assert.equal(complete.scannedTailDocs, 4);
  await engine.close();
});

Deno.test("scanRecords() stops at its deadline before reading, and at a full answer before the record", async () => {
  const chunk = {
    startPos: 0,
    endPos: 9,
    data: enc("1,22,333,"),
    lengths: new Uint32Array([2, 3, 4]),
    keys: null,
    times: null,
  };
  const read = () => Promise.resolve([chunk]);
  const source = { id: 1, parent: undefined, forkPos: 0 };
  const late = await scanRecords(
    read,
    source,
    { fromPos: 0, tailPos: 9 },
    () => true,
    { scanBytesMax: 100, sliceBytes: 100, deadlineMs: 0 },
  );
  assert.deepEqual([late.stop, late.endPos, late.records], ["time", 0, 0]);
  const seen: string[] = [];
  const full = await scanRecords(
    read,
    source,
    { fromPos: 1, tailPos: 9, splitPos: 5 },
    (bytes) => {
      seen.push(dec(bytes));
      return seen.length < 2;
    },
    { scanBytesMax: 100, sliceBytes: 100, deadlineMs: Infinity },
  );
  // Position 1 lies inside the first record, which is examined whole.
  assert.deepEqual(seen, ["1,", "22,"]);
  assert.deepEqual([full.stop, full.endPos, full.records], ["full", 2, 1]);
  const all = await scanRecords(
    read,
    source,
    { fromPos: 0, tailPos: 9, splitPos: 5 },
    () => true,
    { scanBytesMax: 100, sliceBytes: 100, deadlineMs: Infinity },
  );
  assert.deepEqual(
    [all.stop, all.endPos, all.records, all.recordsFromSplit],
    ["tail", 9, 3, 1],
  );
});

Deno.test("_aggregate with q counts only matching records, text clauses included", async () => {
  const { engine } = await open();
  unwrap(await engine.create("s", createReq()));
  unwrap(
    await engine.updateSchema("s", {
      schema: SCHEMA,
      search: {
        ...searchOf({
          ts: {
            kind: "date",
            bindings: [{ version: 1, jsonPointer: "/ts" }],
            column: true,
          },
        }),
        defaultFields: [{ field: "message" }],
        rollups: {
          r: {
            timestampField: "ts",
            dimensions: ["service"],
            intervals: ["1h"],
            measures: { n: { kind: "count" } },
          },
        },
      },
    }),
  );
  const messages = ["db Timeout", "all fine", "timeout again", "TIMEOUT"];
  unwrap(
    await engine.append(
      "s",
      appendReq(messages.map((message, i) => ({
        ts: 3_600_000 + i,
        service: i % 2 === 0 ? "api" : "web",
        message,
      }))),
    ),
  );
  const r = unwrap(
    await engine.aggregate("s", {
      rollup: "r",
      from: 0,
      to: 7_200_000,
      interval: "1h",
      q: "timeout",
      group_by: ["service"],
    }, ALL),
  );
  assert.deepEqual(
    r.buckets.map((b) =>
      b.groups.map((g) => [g.key.service, g.measures.n.count])
    ),
    [[["api", 2], ["web", 1]]],
  );
  await engine.close();
});
