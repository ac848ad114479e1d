/**
 * Schema registries across tiers: the registry is published to the object
 * store beside the manifest that names it, and `--bootstrap` on an empty
 * data dir restores it, so promotion and validation continue identically.
 */

import assert from "node:assert/strict";
import { testConfig } from "../src/config.ts";
import { FaultyObjectStore } from "../src/objectstore/faulty.ts";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { MemoryObjectStore } from "../src/objectstore/memory.ts";
import { startServer } from "../src/server.ts";
import { decodeManifest } from "../src/objectstore/manifest.ts";
import { startTestServer } from "./_server.ts";
import { JSON_HEADERS, sendJson as send } from "./_json_http.ts";

async function waitPublished(base: string, schemaVersion: number) {
  for (let i = 0; i < 400; i++) {
    const d = (await send(`${base}/_details`, "GET")).json;
    if (
      d.uploadedThroughOffset === d.tailOffset && d.segmentCount >= 2 &&
      d.schema.currentVersion === schemaVersion
    ) return d;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("never published");
}

Deno.test("the schema registry is published with the manifest and restored by --bootstrap", async () => {
  const objects = await Deno.makeTempDir({
    prefix: "streambed-schema-objects-",
  });
  const tiered = {
    objectStore: { kind: "fs" as const, dir: objects },
    segment: { segmentBytes: 4096, segmentAgeMs: 50 },
  };
  const first = await startTestServer(tiered);
  let second: Awaited<ReturnType<typeof startTestServer>> | undefined;
  try {
    const base = `${first.url}/v1/stream/orders`;
    assert.equal((await send(base, "PUT")).status, 201);
    const v1 = {
      type: "object",
      required: ["id"],
      properties: { id: { type: "integer" } },
    };
    assert.equal(
      (await send(`${base}/_schema`, "POST", { schema: v1 })).status,
      200,
    );
    for (let i = 0; i < 100; i += 10) {
      const batch = Array.from(
        { length: 10 },
        (_, k) => ({ id: i + k, pad: "p".repeat(60) }),
      );
      assert.equal((await send(base, "POST", batch)).status, 204);
    }
    const v2 = {
      type: "object",
      required: ["id", "qty"],
      properties: { id: { type: "integer" }, qty: { type: "integer" } },
    };
    const lens = {
      apiVersion: "durable.lens/v1",
      schema: "orders",
      from: 1,
      to: 2,
      ops: [{
        op: "add",
        path: "/qty",
        schema: { type: "integer" },
        default: 1,
      }],
    };
    assert.equal(
      (await send(`${base}/_schema`, "POST", { schema: v2, lens })).status,
      200,
    );
    assert.equal((await send(base, "POST", [{ id: 100, qty: 5 }])).status, 204);
    await waitPublished(base, 2);
    const registry = (await send(`${base}/_schema`, "GET")).json;
    const all = (await send(`${base}?offset=-1`, "GET")).json;
    assert.deepEqual(all[0], { id: 0, pad: "p".repeat(60), qty: 1 });
    // The manifest names the registry object by content hash, and only the
    // current registry object is kept.
    const store = new FsObjectStore({ root: objects });
    const keys = (await store.list("streams/")).keys;
    const manifestKeys = keys.filter((k) => k.endsWith("/manifest.json"));
    assert.equal(manifestKeys.length, 1);
    const manifest = decodeManifest(
      (await store.get(manifestKeys[0]))!,
      manifestKeys[0],
    );
    assert.ok(manifest.schemaRegistry !== undefined);
    assert.deepEqual(keys.filter((k) => k.includes("/schema-registry/")), [
      manifest.schemaRegistry.key,
    ]);
    const stored = JSON.parse(
      new TextDecoder().decode((await store.get(manifest.schemaRegistry.key))!),
    );
    assert.equal(stored.currentVersion, 2);
    await first.close();

    second = await startTestServer({
      ...tiered,
      objectStore: { ...tiered.objectStore, bootstrap: true },
    });
    const again = `${second.url}/v1/stream/orders`;
    assert.deepEqual((await send(`${again}/_schema`, "GET")).json, registry);
    assert.deepEqual((await send(`${again}?offset=-1`, "GET")).json, all);
    assert.equal((await send(again, "POST", [{ id: 101 }])).status, 400);
    assert.equal(
      (await send(again, "POST", [{ id: 101, qty: 2 }])).status,
      204,
    );
  } finally {
    await first.close().catch(() => {});
    await second?.close();
    await Deno.remove(first.dataDir, { recursive: true });
    if (second) await Deno.remove(second.dataDir, { recursive: true });
    await Deno.remove(objects, { recursive: true });
  }
});

Deno.test("POST _schema answers once the object store has the registry, 503 while it cannot take it", async () => {
  const objects = new FaultyObjectStore(new MemoryObjectStore());
  const dir = await Deno.makeTempDir({ prefix: "streambed-schema-pub-" });
  const server = await startServer(
    testConfig(dir, {
      objectStore: { kind: "fs" },
      segment: {
        segmentBytes: 4096,
        segmentAgeMs: 50,
        schemaPublishWaitMs: 300,
        uploadRetryMinMs: 20,
        uploadRetryMaxMs: 100,
      },
    }),
    { objectStore: objects },
  );
  try {
    const base = `${server.url}/v1/stream/pub`;
    assert.equal((await send(base, "PUT")).status, 201);
    const first = await send(`${base}/_schema`, "POST", {
      schema: { type: "object" },
    });
    assert.equal(first.status, 200);
    // Already named by the published manifest when the 200 arrives.
    const named = async () => {
      const keys = (await objects.list("streams/")).keys;
      const manifestKey = keys.find((k) => k.endsWith("/manifest.json"))!;
      const manifest = decodeManifest(
        (await objects.get(manifestKey))!,
        manifestKey,
      );
      const text = new TextDecoder().decode(
        (await objects.get(manifest.schemaRegistry!.key))!,
      );
      return JSON.parse(text) as {
        currentVersion: number;
        routingKey: unknown;
      };
    };
    assert.equal((await named()).currentVersion, 1);
    // The object store refuses everything: the change is kept locally, the
    // request gets 503 with Retry-After, and publication happens later.
    objects.setFaults({ failureRate: 1 });
    const refused = await fetch(`${base}/_schema`, {
      method: "POST",
      headers: JSON_HEADERS,
      body: JSON.stringify({ routingKey: { jsonPointer: "/k" } }),
    });
    assert.equal(refused.status, 503);
    assert.ok(refused.headers.get("retry-after") !== null);
    assert.equal((await refused.json()).error.code, "unavailable");
    const local = await send(`${base}/_schema`, "GET");
    assert.deepEqual(local.json.routingKey, {
      jsonPointer: "/k",
      required: false,
    });
    objects.setFaults({ failureRate: 0 });
    for (let i = 0; i < 400; i++) {
      const published = await named().catch(() => undefined);
      if (
        published?.routingKey !== undefined && published.routingKey !== null
      ) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.deepEqual((await named()).routingKey, {
      jsonPointer: "/k",
      required: false,
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
