/**
 * Search companions over HTTP, on an fs object store with small segments:
 * once every uploaded segment has its companion, `filter=`, `_search` and
 * `_aggregate` answer exactly what a brute-force evaluation here answers
 * while skipping segments; damaged and missing companion objects are
 * rebuilt after a restart with the same answers meanwhile; a changed
 * `search` config never reads the companions of the old one.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { testConfig } from "../src/config.ts";
import { MemoryObjectStore } from "../src/objectstore/memory.ts";
import { startServer } from "../src/server.ts";
import { startTestServer } from "./_server.ts";
import { sendJson as send } from "./_json_http.ts";

const BASE_MS = Date.UTC(2026, 11, 1, 10, 0, 0);

interface Rec {
  ts: string;
  service: string;
  status: number;
  message: string;
  host?: string;
}

/** Errors are rare and clustered, so whole segments can be skipped. */
function record(i: number): Rec {
  const burst = i >= 300 && i < 320;
  return {
    ts: new Date(BASE_MS + i * 1000).toISOString(),
    service: i >= 500 ? "billing" : ["api", "web"][i % 2],
    status: burst ? 503 : i % 97 === 0 ? 404 : 200,
    message: burst ? "db timeout while reading" : `served request ${i % 10}`,
    host: `h${Math.floor(i / 100)}`,
  };
}

const RECORDS = Array.from({ length: 800 }, (_, i) => record(i));

const SEARCH = {
  primaryTimestampField: "ts",
  defaultFields: [{ field: "message" }],
  fields: {
    ts: {
      kind: "date",
      bindings: [{ version: 1, jsonPointer: "/ts" }],
      column: true,
      sortable: true,
    },
    service: {
      kind: "keyword",
      bindings: [{ version: 1, jsonPointer: "/service" }],
      exact: true,
      prefix: true,
    },
    status: {
      kind: "integer",
      bindings: [{ version: 1, jsonPointer: "/status" }],
      exact: true,
      column: true,
    },
    message: {
      kind: "text",
      bindings: [{ version: 1, jsonPointer: "/message" }],
      analyzer: "unicode_word_v1",
      positions: true,
    },
  },
  rollups: {
    requests: {
      dimensions: ["service"],
      intervals: ["1m"],
      measures: { n: { kind: "count" } },
    },
  },
};

/** Filters and what they keep, evaluated here. */
const FILTERS: [string, (r: Rec) => boolean][] = [
  ["status:503", (r) => r.status === 503],
  ["status:>=400", (r) => r.status >= 400],
  ["service:billing", (r) => r.service === "billing"],
  ["service:api status:404", (r) => r.service === "api" && r.status === 404],
  ["(status:503 OR status:404)", (r) => r.status !== 200],
  ["-status:200", (r) => r.status !== 200],
  ["-service:api has:status", (r) => r.service !== "api"],
  [
    'ts:>="2026-12-01T10:12:00Z" ts:<"2026-12-01T10:12:10Z"',
    (r) => r.ts >= "2026-12-01T10:12:00" && r.ts < "2026-12-01T10:12:10",
  ],
];

async function filterAll(base: string, filter: string): Promise<Rec[]> {
  const out: Rec[] = [];
  let offset = "-1";
  for (let i = 0; i < 10_000; i++) {
    const r = await send(`${base}?${new URLSearchParams({ offset, filter })}`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    out.push(...r.json);
    offset = r.headers.get("stream-next-offset")!;
    if (r.headers.get("stream-up-to-date") === "true") return out;
  }
  throw new Error("filter never reached the tail");
}

/** Every answer equals the brute-force one; returns indexed segments seen. */
async function checkAnswers(base: string): Promise<number> {
  for (const [filter, keep] of FILTERS) {
    assert.deepEqual(
      await filterAll(base, filter),
      RECORDS.filter(keep),
      filter,
    );
  }
  const search = await send(`${base}/_search`, "POST", {
    q: "timeout",
    size: 100,
    sort: ["offset:asc"],
  });
  assert.equal(search.status, 200, JSON.stringify(search.json));
  assert.deepEqual(
    search.json.hits.map((h: { source: Rec }) => h.source),
    RECORDS.filter((r) => r.message.includes("timeout")),
  );
  const agg = await send(`${base}/_aggregate`, "POST", {
    rollup: "requests",
    from: BASE_MS + 290_000,
    to: BASE_MS + 330_000,
    interval: "1m",
  });
  assert.equal(agg.status, 200, JSON.stringify(agg.json));
  const n = agg.json.buckets.reduce(
    (sum: number, b: { groups: { measures: { n: { count: number } } }[] }) =>
      sum + b.groups.reduce((s, g) => s + g.measures.n.count, 0),
    0,
  );
  assert.equal(n, 40);
  // Whole minutes: the rows of the rollup sections answer where built.
  const minutes = await send(`${base}/_aggregate`, "POST", {
    rollup: "requests",
    from: BASE_MS,
    to: BASE_MS + 14 * 60_000,
    interval: "1m",
    group_by: ["service"],
  });
  assert.equal(minutes.status, 200, JSON.stringify(minutes.json));
  const want = new Map<string, number>();
  for (const r of RECORDS) {
    const key = `${r.ts.slice(0, 16)}|${r.service}`;
    want.set(key, (want.get(key) ?? 0) + 1);
  }
  const got = new Map<string, number>();
  for (const b of minutes.json.buckets) {
    for (const g of b.groups) {
      got.set(`${b.start.slice(0, 16)}|${g.key.service}`, g.measures.n.count);
    }
  }
  assert.deepEqual(got, want);
  usedRollups = minutes.json.coverage.used_rollups;
  return search.json.coverage.indexed_segments;
}

let usedRollups = false;

async function companionCount(base: string): Promise<[number, number]> {
  const s = (await send(`${base}/_index_status`)).json;
  return [s.bundled_companions.object_count, s.segments.uploaded_count];
}

async function waitIndexed(base: string, min: number): Promise<void> {
  for (let i = 0; i < 800; i++) {
    const [indexed, uploaded] = await companionCount(base);
    if (uploaded >= min && indexed === uploaded) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const d = (await send(base.replace(/\/logs$/, "/logs/_details"))).json;
  throw new Error(
    `companions never caught up: ${await companionCount(base)} ${
      JSON.stringify(d)
    }`,
  );
}

async function companionFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) out.push(...await companionFiles(path));
    else if (e.name.endsWith(".cmp.o")) out.push(path);
  }
  return out.sort();
}

Deno.test("companions: answers equal brute force, damaged ones are rebuilt, a config change reads none of the old", async () => {
  const objects = await Deno.makeTempDir({ prefix: "streambed-cmp-obj-" });
  const tiered = {
    objectStore: { kind: "fs" as const, dir: objects },
    segment: { segmentBytes: 4096, segmentAgeMs: 50 },
  };
  let server = await startTestServer(tiered);
  const dataDir = server.dataDir;
  try {
    const base = `${server.url}/v1/stream/logs`;
    assert.equal((await send(base, "PUT")).status, 201);
    const schema = await send(`${base}/_schema`, "POST", {
      schema: { type: "object" },
      search: SEARCH,
    });
    assert.equal(schema.status, 200, JSON.stringify(schema.json));
    for (let i = 0; i < RECORDS.length; i += 50) {
      assert.equal(
        (await send(base, "POST", RECORDS.slice(i, i + 50))).status,
        204,
      );
    }
    await waitIndexed(base, 4);
    assert.ok(await checkAnswers(base) >= 4);
    assert.equal(usedRollups, true);

    // Damage one companion, delete another, restart: answers stay exact,
    // and the next passes rebuild both.
    const files = await companionFiles(objects);
    assert.ok(files.length >= 4);
    const damaged = await Deno.readFile(files[1]);
    damaged[damaged.length >> 1] ^= 0xff;
    await Deno.writeFile(files[1], damaged);
    await Deno.remove(files[3]);
    await server.close();
    server = await startTestServer(tiered, dataDir);
    const again = `${server.url}/v1/stream/logs`;
    await checkAnswers(again);
    await waitIndexed(again, 4);
    await checkAnswers(again);
    assert.notDeepEqual(await Deno.readFile(files[1]), damaged);
    await Deno.stat(files[3]); // put again

    // A new config: the old companions are never read (the new field
    // would be missing from them), new ones are built.
    const changed = await send(`${again}/_schema`, "POST", {
      search: {
        ...SEARCH,
        fields: {
          ...SEARCH.fields,
          host: {
            kind: "keyword",
            bindings: [{ version: 1, jsonPointer: "/host" }],
            exact: true,
          },
        },
      },
    });
    assert.equal(changed.status, 200, JSON.stringify(changed.json));
    assert.deepEqual(
      await filterAll(again, "host:h3"),
      RECORDS.filter((r) => r.host === "h3"),
    );
    await waitIndexed(again, 4);
    assert.deepEqual(
      await filterAll(again, "host:h3 -status:503"),
      RECORDS.filter((r) => r.host === "h3" && r.status !== 503),
    );
    await checkAnswers(again);
  } finally {
    await server.close().catch(() => {});
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(objects, { recursive: true });
  }
});

Deno.test("companions: decoded ones stay under --companion-cache-bytes and answers stay exact", async () => {
  const objects = await Deno.makeTempDir({ prefix: "streambed-cmp-obj-" });
  const server = await startTestServer({
    objectStore: { kind: "fs" as const, dir: objects },
    segment: {
      segmentBytes: 4096,
      segmentAgeMs: 50,
      companionCacheBytes: 8000,
    },
  });
  try {
    const base = `${server.url}/v1/stream/logs`;
    assert.equal((await send(base, "PUT")).status, 201);
    const schema = await send(`${base}/_schema`, "POST", {
      schema: { type: "object" },
      search: SEARCH,
    });
    assert.equal(schema.status, 200, JSON.stringify(schema.json));
    for (let i = 0; i < RECORDS.length; i += 50) {
      assert.equal(
        (await send(base, "POST", RECORDS.slice(i, i + 50))).status,
        204,
      );
    }
    await waitIndexed(base, 4);
    await checkAnswers(base);
    const details = await send(`${server.url}/v1/server/_details`);
    assert.equal(details.status, 200);
    const cache = details.json.tier.companions;
    assert.equal(cache.bytesMax, 8000);
    assert.ok(cache.bytes <= 8000, JSON.stringify(cache));
    assert.ok(cache.evictions > 0, JSON.stringify(cache));
    const [indexed, uploaded] = await companionCount(base);
    assert.ok(cache.entries < indexed, JSON.stringify({ cache, indexed }));
    assert.equal(indexed, uploaded);
  } finally {
    await server.close().catch(() => {});
    await Deno.remove(server.dataDir, { recursive: true });
    await Deno.remove(objects, { recursive: true });
  }
});

/** A memory store that counts the companion objects asked for and missing. */
class CountingStore extends MemoryObjectStore {
  companionMisses = 0;
  listings: string[] = [];
  override async get(key: string): Promise<Uint8Array | undefined> {
    const bytes = await super.get(key);
    if (key.endsWith(".cmp") && bytes === undefined) this.companionMisses++;
    return bytes;
  }
  override list(prefix: string, continuation?: string) {
    this.listings.push(prefix);
    return super.list(prefix, continuation);
  }
}

Deno.test("companions: the manifest lists them, and --bootstrap on an empty node loads the listed objects instead of building", async () => {
  const objects = new CountingStore();
  const tiered = (dir: string, bootstrap: boolean) =>
    startServer(
      testConfig(dir, {
        objectStore: { kind: "fs", bootstrap },
        segment: { segmentBytes: 4096, segmentAgeMs: 50 },
      }),
      { objectStore: objects },
    );
  const first = await Deno.makeTempDir({ prefix: "streambed-test-" });
  const second = await Deno.makeTempDir({ prefix: "streambed-test-" });
  let server = await tiered(first, false);
  try {
    const base = `${server.url}/v1/stream/logs`;
    assert.equal((await send(base, "PUT")).status, 201);
    const schema = await send(`${base}/_schema`, "POST", {
      schema: { type: "object" },
      search: SEARCH,
    });
    assert.equal(schema.status, 200, JSON.stringify(schema.json));
    for (let i = 0; i < RECORDS.length; i += 50) {
      assert.equal(
        (await send(base, "POST", RECORDS.slice(i, i + 50))).status,
        204,
      );
    }
    await waitIndexed(base, 4);
    const manifestKey = "streams/0000000000000001/manifest.json";
    // The manifest catches up with the companions on a later pass.
    let manifest: {
      segments: unknown[];
      companions?: { hash: string; objects: { key: string }[] };
    } = { segments: [] };
    for (let i = 0; i < 400; i++) {
      const bytes = await objects.get(manifestKey);
      if (bytes !== undefined) {
        manifest = JSON.parse(new TextDecoder().decode(bytes));
        const listed = manifest.companions?.objects.length ?? 0;
        if (listed > 0 && listed === manifest.segments.length) break;
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.ok(manifest.segments.length >= 4);
    assert.equal(manifest.companions?.objects.length, manifest.segments.length);
    await server.close();

    // Move every companion to a key only the manifest knows: a node that
    // guessed keys would build them all again.
    for (const o of manifest.companions!.objects) {
      const moved = o.key.replace(/\.cmp$/, ".moved.cmp");
      await objects.put(moved, (await objects.get(o.key))!);
      await objects.delete(o.key);
      o.key = moved;
    }
    await objects.put(
      manifestKey,
      new TextEncoder().encode(JSON.stringify(manifest)),
    );
    objects.companionMisses = 0;
    objects.listings = [];
    server = await tiered(second, true);
    const restored = `${server.url}/v1/stream/logs`;
    await waitIndexed(restored, 4);
    await checkAnswers(restored);
    const details = (await send(`${server.url}/v1/server/_details`)).json;
    assert.equal(details.tier.companions.builds, 0);
    assert.equal(objects.companionMisses, 0);
    assert.ok(
      objects.listings.every((p) => !p.includes("/segments/")),
      JSON.stringify(objects.listings),
    );
  } finally {
    await server.close().catch(() => {});
    await Deno.remove(first, { recursive: true });
    await Deno.remove(second, { recursive: true });
  }
});
