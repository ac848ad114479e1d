/**
 * Tiered storage through the HTTP API, in process: sealed segments are
 * uploaded with manifests, WAL rows below them go, reads (catch-up, long-poll,
 * forks) stay seamless across the WAL, the segment cache and the object
 * store, and the tier's limits hold.
 */

import assert from "node:assert/strict";
import type { ConfigOverrides, SegmentConfig } from "../src/config.ts";
import type { ObjectStore } from "../src/objectstore/object_store.ts";
import { FaultyObjectStore, seededRandom } from "../src/objectstore/faulty.ts";
import { MemoryObjectStore } from "../src/objectstore/memory.ts";
import { startTestServer } from "./_server.ts";
import { type ServerHandle, startServer } from "../src/server.ts";
import { testConfig } from "../src/config.ts";
import { DatabaseSync } from "node:sqlite";

const TIERED: ConfigOverrides = {
  objectStore: { kind: "fs" },
  segment: { segmentBytes: 4096, segmentAgeMs: 50 },
};

/**
 * Runs `fn` against an in-process tiered server on `objects` (TIERED plus
 * `segment` overrides), then stops it and removes its data dir.
 */
async function withTieredServer(
  objects: ObjectStore,
  segment: Partial<SegmentConfig>,
  fn: (server: ServerHandle) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-test-" });
  const server = await startServer(
    testConfig(dir, { ...TIERED, segment: { ...TIERED.segment, ...segment } }),
    { objectStore: objects },
  );
  try {
    await fn(server);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Appends `count` JSON messages of ~100 bytes; returns them. */
export async function appendMessages(
  url: string,
  stream: string,
  count: number,
  tag = "m",
): Promise<string[]> {
  const sent: string[] = [];
  for (let i = 0; i < count; i += 10) {
    const batch = Array.from(
      { length: 10 },
      (_, j) => `${tag}-${i + j}-${"x".repeat(80)}`,
    );
    const response = await fetch(`${url}/v1/stream/${stream}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(batch),
    });
    await response.body?.cancel();
    assert.equal(response.status, 204, `append got ${response.status}`);
    sent.push(...batch);
  }
  return sent;
}

/** Reads a whole JSON stream by catch-up reads. */
export async function readJson(url: string, stream: string): Promise<string[]> {
  const out: string[] = [];
  let offset = "-1";
  for (let guard = 0; guard < 100_000; guard++) {
    const response = await fetch(`${url}/v1/stream/${stream}?offset=${offset}`);
    assert.equal(response.status, 200, await response.clone().text());
    out.push(...await response.json() as string[]);
    offset = response.headers.get("stream-next-offset")!;
    if (response.headers.get("stream-up-to-date") === "true") break;
  }
  return out;
}

/** `_details` of a stream. */
export async function details(
  url: string,
  stream: string,
): Promise<Record<string, unknown>> {
  const response = await fetch(`${url}/v1/stream/${stream}/_details`);
  assert.equal(response.status, 200);
  return await response.json();
}

/** Polls `_details` until `done` holds (at most ~20 s). */
export async function waitDetails(
  url: string,
  stream: string,
  done: (d: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  for (let i = 0; i < 400; i++) {
    const d = await details(url, stream);
    if (done(d)) return d;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `details never matched: ${JSON.stringify(await details(url, stream))}`,
  );
}

const fullyUploaded = (d: Record<string, unknown>) =>
  d.uploadedThroughOffset === d.tailOffset && d.walStartOffset === d.tailOffset;

async function createJson(url: string, stream: string, headers = {}) {
  const response = await fetch(`${url}/v1/stream/${stream}`, {
    method: "PUT",
    headers: { "content-type": "application/json", ...headers },
  });
  await response.body?.cancel();
  assert.equal(response.status, 201);
}

function walChunkCount(dataDir: string, streamId?: number): number {
  const db = new DatabaseSync(`${dataDir}/wal.sqlite`, { readOnly: true });
  try {
    const row = streamId === undefined
      ? db.prepare("SELECT count(*) AS n FROM chunks").get()
      : db.prepare("SELECT count(*) AS n FROM chunks WHERE stream_id = ?").get(
        streamId,
      );
    return Number((row as { n: number }).n);
  } finally {
    db.close();
  }
}

Deno.test("tiering seals, uploads, truncates the WAL and reads back across tiers (and after a restart with a cold cache)", async () => {
  const server = await startTestServer(TIERED);
  try {
    await createJson(server.url, "t/a");
    const sent = await appendMessages(server.url, "t/a", 400);
    const d = await waitDetails(server.url, "t/a", fullyUploaded);
    assert.ok((d.segmentCount as number) >= 5, `segments: ${d.segmentCount}`);
    assert.equal(d.uploadedSegmentCount, d.segmentCount);
    assert.equal(walChunkCount(server.dataDir), 0, "WAL rows are gone");
    assert.deepEqual(await readJson(server.url, "t/a"), sent);
    // A fork at a position inside published data reads the source's segments.
    const forkResponse = await fetch(`${server.url}/v1/stream/t/fork`, {
      method: "PUT",
      headers: {
        "content-type": "application/json",
        "stream-forked-from": "/v1/stream/t/a",
        "stream-fork-offset": d.uploadedThroughOffset as string,
      },
    });
    await forkResponse.body?.cancel();
    assert.equal(forkResponse.status, 201);
    const more = await appendMessages(server.url, "t/fork", 50, "f");
    assert.deepEqual(await readJson(server.url, "t/fork"), [...sent, ...more]);
    // Appends continue after the published range, readable seamlessly.
    const tail = await appendMessages(server.url, "t/a", 30, "tail");
    assert.deepEqual(await readJson(server.url, "t/a"), [...sent, ...tail]);
  } finally {
    await server.close();
  }
  // Restart: empty cache, reads go through to the object store.
  const again = await startTestServer(TIERED, server.dataDir);
  try {
    const all = await readJson(again.url, "t/a");
    assert.equal(all.length, 430);
    const d = await details(again.url, "t/a");
    assert.ok((d.tier as { cache: { misses: number } }).cache.misses > 0);
  } finally {
    await again.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("a long-poll reader crosses from segments into the WAL tail", async () => {
  const server = await startTestServer(TIERED);
  try {
    await createJson(server.url, "lp");
    const sent = await appendMessages(server.url, "lp", 200);
    await waitDetails(server.url, "lp", fullyUploaded);
    const out: string[] = [];
    let offset = "-1";
    const late = appendMessages(server.url, "lp", 10, "late");
    while (out.length < 210) {
      const response = await fetch(
        `${server.url}/v1/stream/lp?offset=${offset}&live=long-poll`,
      );
      if (response.status === 204) {
        await response.body?.cancel();
        continue;
      }
      assert.equal(response.status, 200);
      out.push(...await response.json() as string[]);
      offset = response.headers.get("stream-next-offset")!;
    }
    assert.deepEqual(out, [...sent, ...await late]);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("offsets inside records read from the record's start in sealed segments and through a fork", async () => {
  const server = await startTestServer(TIERED);
  try {
    await createJson(server.url, "in");
    const sent = await appendMessages(server.url, "in", 120);
    const d = await waitDetails(server.url, "in", fullyUploaded);
    assert.equal(
      walChunkCount(server.dataDir),
      0,
      "every read is from segments",
    );
    // Stored as `"<text>",`: positions of each message.
    const starts: number[] = [];
    let pos = 0;
    for (const m of sent) {
      starts.push(pos);
      pos += JSON.stringify(m).length + 1;
    }
    assert.equal(offsetPos(d.tailOffset as string), pos);
    for (const k of [0, 1, 37, 64, 119]) {
      const at = starts[k] + 1 + (k % 5);
      const response = await fetch(
        `${server.url}/v1/stream/in?offset=${offsetOf(at)}`,
      );
      const got = await response.json() as string[];
      assert.equal(got[0], sent[k], `message ${k}`);
      assert.deepEqual(got, sent.slice(k, k + got.length));
    }
    // A fork at message 50: inside message 49 (the source's segments) and
    // inside the fork's second own message, reads start at that message.
    const fork = await fetch(`${server.url}/v1/stream/in-fork`, {
      method: "PUT",
      headers: {
        "content-type": "application/json",
        "stream-forked-from": "/v1/stream/in",
        "stream-fork-offset": offsetOf(starts[50]),
      },
    });
    await fork.body?.cancel();
    assert.equal(fork.status, 201);
    const own = await appendMessages(server.url, "in-fork", 10, "own");
    const inherited = await fetch(
      `${server.url}/v1/stream/in-fork?offset=${offsetOf(starts[49] + 3)}`,
    );
    assert.deepEqual(await inherited.json(), [sent[49], ...own]);
    const ownStart = starts[50] + JSON.stringify(own[0]).length + 1;
    const inOwn = await fetch(
      `${server.url}/v1/stream/in-fork?offset=${offsetOf(ownStart + 2)}`,
    );
    assert.deepEqual(await inOwn.json(), own.slice(1));
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

const offsetOf = (pos: number) =>
  `0000000000000000_${String(pos).padStart(16, "0")}`;
const offsetPos = (offset: string) => Number(offset.split("_")[1]);

Deno.test("_details names are reserved: creating one is a 400", async () => {
  const server = await startTestServer();
  try {
    const response = await fetch(`${server.url}/v1/stream/a/_details`, {
      method: "PUT",
    });
    await response.body?.cancel();
    assert.equal(response.status, 400);
    const missing = await fetch(`${server.url}/v1/stream/nope/_details`);
    await missing.body?.cancel();
    assert.equal(missing.status, 404);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});

Deno.test("deleting a stream releases its objects", async () => {
  const objects = new MemoryObjectStore();
  await withTieredServer(objects, {}, async (server) => {
    await createJson(server.url, "gone");
    await appendMessages(server.url, "gone", 100);
    await waitDetails(server.url, "gone", fullyUploaded);
    assert.ok((await objects.list("streams/")).keys.length > 1);
    const response = await fetch(`${server.url}/v1/stream/gone`, {
      method: "DELETE",
    });
    await response.body?.cancel();
    assert.equal(response.status, 204);
    for (let i = 0; i < 200; i++) {
      if ((await objects.list("streams/")).keys.length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.deepEqual((await objects.list("streams/")).keys, []);
  });
});

Deno.test("a soft-deleted source keeps its objects while a fork reads them; the last fork's delete releases both", async () => {
  const objects = new MemoryObjectStore();
  await withTieredServer(objects, {}, async (server) => {
    const del = async (name: string) => {
      const response = await fetch(`${server.url}/v1/stream/${name}`, {
        method: "DELETE",
      });
      await response.body?.cancel();
      assert.equal(response.status, 204);
    };
    const keys = async (id: number) =>
      (await objects.list(`streams/${String(id).padStart(16, "0")}/`)).keys;
    await createJson(server.url, "src");
    const sent = await appendMessages(server.url, "src", 100);
    await waitDetails(server.url, "src", fullyUploaded);
    const response = await fetch(`${server.url}/v1/stream/fk`, {
      method: "PUT",
      headers: {
        "content-type": "application/json",
        "stream-forked-from": "/v1/stream/src",
      },
    });
    await response.body?.cancel();
    assert.equal(response.status, 201);
    await del("src");
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok((await keys(1)).length > 1, "the source's objects stay");
    assert.deepEqual(await readJson(server.url, "fk"), sent);
    await del("fk");
    for (let i = 0; i < 200 && (await keys(1)).length > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.deepEqual(await keys(1), []);
    assert.deepEqual(await keys(2), []);
  });
});

Deno.test("TTL expiry releases a stream's objects", async () => {
  const objects = new MemoryObjectStore();
  await withTieredServer(objects, {}, async (server) => {
    await createJson(server.url, "ttl", { "stream-ttl": "3" });
    await appendMessages(server.url, "ttl", 60);
    let seen = 0;
    for (let i = 0; i < 400; i++) {
      const n = (await objects.list("streams/")).keys.length;
      seen = Math.max(seen, n);
      if (seen > 1 && n === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.ok(seen > 1, "segments and a manifest were published");
    assert.deepEqual((await objects.list("streams/")).keys, []);
  });
});

Deno.test("object-store faults: appends stay acknowledged, nothing is lost, uploads catch up", async () => {
  const objects = new FaultyObjectStore(new MemoryObjectStore(), {
    failureRate: 0.5,
    random: seededRandom(7),
  });
  await withTieredServer(
    objects,
    { uploadRetryMinMs: 5, uploadRetryMaxMs: 20 },
    async (server) => {
      await createJson(server.url, "f");
      const sent = await appendMessages(server.url, "f", 300);
      assert.deepEqual(await readJson(server.url, "f"), sent);
      objects.setFaults({ failureRate: 0 });
      await waitDetails(server.url, "f", fullyUploaded);
      assert.deepEqual(await readJson(server.url, "f"), sent);
    },
  );
});

Deno.test("the upload backlog limit pauses sealing while uploads fail", async () => {
  const objects = new FaultyObjectStore(new MemoryObjectStore(), {
    failureRate: 1,
  });
  await withTieredServer(objects, {
    uploadBacklogBytesMax: 512,
    uploadRetryMinMs: 5,
    uploadRetryMaxMs: 10,
  }, async (server) => {
    await createJson(server.url, "b");
    const sent = await appendMessages(server.url, "b", 300);
    const d = await waitDetails(
      server.url,
      "b",
      (d) =>
        (d.tier as { uploadBacklogBytes: number }).uploadBacklogBytes >= 512,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = await details(server.url, "b");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await details(server.url, "b");
    // Sealing stops once the 512-byte backlog limit is reached, with data left.
    assert.equal(after.segmentCount, before.segmentCount);
    assert.ok(after.sealedThroughOffset! < after.tailOffset!);
    const backlog =
      (after.tier as { uploadBacklogBytes: number }).uploadBacklogBytes;
    assert.ok(backlog >= 512, `backlog ${backlog}`);
    assert.equal(d.uploadedSegmentCount, 0);
    assert.deepEqual(await readJson(server.url, "b"), sent);
    objects.setFaults({ failureRate: 0 });
    await waitDetails(server.url, "b", fullyUploaded);
  });
});

Deno.test("the release queue limit drops releases beyond it", async () => {
  const objects = new FaultyObjectStore(new MemoryObjectStore(), {});
  await withTieredServer(objects, {
    releaseQueueMax: 2,
    uploadRetryMinMs: 1000,
  }, async (server) => {
    for (const name of ["r1", "r2", "r3", "r4"]) {
      await createJson(server.url, name);
      await waitDetails(server.url, name, (d) => d.tier !== null);
    }
    await createJson(server.url, "keep");
    await new Promise((resolve) => setTimeout(resolve, 200));
    objects.setFaults({ failureRate: 1 });
    for (const name of ["r1", "r2", "r3", "r4"]) {
      const response = await fetch(`${server.url}/v1/stream/${name}`, {
        method: "DELETE",
      });
      await response.body?.cancel();
    }
    const d = await waitDetails(
      server.url,
      "keep",
      (d) => (d.tier as { releasesDropped: number }).releasesDropped >= 2,
    );
    assert.equal((d.tier as { releaseQueue: number }).releaseQueue, 2);
    objects.setFaults({ failureRate: 0 });
  });
});

/** Bytes of stream data in the WAL's chunk rows. */
function walDataBytes(dataDir: string): number {
  const db = new DatabaseSync(`${dataDir}/wal.sqlite`, { readOnly: true });
  try {
    const row = db.prepare(
      "SELECT coalesce(sum(length(data)), 0) AS n FROM chunks",
    ).get();
    return Number((row as { n: number }).n);
  } finally {
    db.close();
  }
}

interface TierHealth {
  backlogBytes: number;
  backlogBytesMax: number;
  uploadsPending: number;
}

async function tierHealth(url: string): Promise<TierHealth> {
  const response = await fetch(`${url}/health`);
  assert.equal(response.status, 200);
  return (await response.json()).tier as TierHealth;
}

/** POSTs one JSON message; returns the response with its body read. */
async function postMessage(
  url: string,
  stream: string,
  message: string,
): Promise<{ status: number; retryAfter: string | null; code?: string }> {
  const response = await fetch(`${url}/v1/stream/${stream}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([message]),
  });
  const text = await response.text();
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    code: text === "" ? undefined : JSON.parse(text).error?.code,
  };
}

Deno.test("with the object store down, appends past --backlog-bytes-max get 503 overloaded; once it returns, uploads drain and appends succeed", async () => {
  const MIB = 1024 * 1024;
  const queueBytesMax = 64 * 1024;
  const objects = new FaultyObjectStore(new MemoryObjectStore(), {
    failureRate: 1, // the store is down from the start
  });
  const dir = await Deno.makeTempDir({ prefix: "streambed-test-" });
  const server = await startServer(
    testConfig(dir, {
      ...TIERED,
      segment: {
        ...TIERED.segment,
        backlogBytesMax: MIB,
        uploadRetryMinMs: 5,
        uploadRetryMaxMs: 50,
      },
      limits: { appendQueueBytesMax: queueBytesMax },
    }),
    { objectStore: objects },
  );
  try {
    await createJson(server.url, "o");
    const accepted: string[] = [];
    let refused: Awaited<ReturnType<typeof postMessage>> | undefined;
    for (let i = 0; i < 1000 && refused === undefined; i++) {
      const message = `o-${i}-${"x".repeat(8000)}`;
      const result = await postMessage(server.url, "o", message);
      if (result.status === 204) accepted.push(message);
      else refused = result;
    }
    assert.ok(refused !== undefined, "an append was refused");
    assert.deepEqual(refused, {
      status: 503,
      retryAfter: "5",
      code: "overloaded",
    });
    const over = await tierHealth(server.url);
    assert.equal(over.backlogBytesMax, MIB);
    assert.ok(over.backlogBytes > MIB, `backlog ${over.backlogBytes}`);
    // A create with a body is refused too; one without a body is not.
    const withBody = await fetch(`${server.url}/v1/stream/o2`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(["y"]),
    });
    await withBody.body?.cancel();
    assert.equal(withBody.status, 503);
    await createJson(server.url, "o3");
    // Still refused while the store is down; the WAL stays within budget.
    assert.equal((await postMessage(server.url, "o", "z")).status, 503);
    const walBytes = walDataBytes(dir);
    assert.ok(walBytes <= MIB + queueBytesMax, `WAL holds ${walBytes} bytes`);

    objects.setFaults({ failureRate: 0 });
    let drained = over;
    for (let i = 0; i < 400 && drained.backlogBytes > MIB; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      drained = await tierHealth(server.url);
    }
    assert.ok(drained.backlogBytes <= MIB, `backlog ${drained.backlogBytes}`);
    const again = await postMessage(server.url, "o", "after");
    assert.equal(again.status, 204);
    accepted.push("after");
    assert.deepEqual(await readJson(server.url, "o"), accepted);
    assert.ok(walDataBytes(dir) < walBytes, "uploaded rows left the WAL");
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A memory object store that records the keys put into it. */
class RecordingObjectStore extends MemoryObjectStore {
  puts: string[] = [];
  override async put(key: string, bytes: Uint8Array): Promise<void> {
    this.puts.push(key);
    await super.put(key, bytes);
  }
}

Deno.test("a restart publishes no manifest again for open streams whose segments are all uploaded", async () => {
  const objects = new RecordingObjectStore();
  const dir = await Deno.makeTempDir({ prefix: "streambed-test-" });
  const config = testConfig(dir, TIERED);
  const first = await startServer(config, { objectStore: objects });
  let openKey: string;
  try {
    await createJson(first.url, "r/open");
    await appendMessages(first.url, "r/open", 100);
    await waitDetails(first.url, "r/open", fullyUploaded);
    // r/open is the only stream, so the manifests put are all its own.
    const manifests = new Set(
      objects.puts.filter((key) => key.endsWith("manifest.json")),
    );
    assert.equal(manifests.size, 1, [...manifests].join(", "));
    openKey = [...manifests][0];
  } finally {
    await first.close();
  }
  objects.puts = [];
  const again = await startServer(config, { objectStore: objects });
  try {
    // A new stream published after the restart shows the upload loop ran.
    await createJson(again.url, "r/probe");
    await appendMessages(again.url, "r/probe", 100);
    await waitDetails(again.url, "r/probe", fullyUploaded);
    assert.ok(objects.puts.some((key) => key.endsWith("manifest.json")));
    assert.ok(!objects.puts.includes(openKey), "no republish of r/open");
    // Its data still reads back after the restart.
    assert.equal((await readJson(again.url, "r/open")).length, 100);
  } finally {
    await again.close();
    await Deno.remove(dir, { recursive: true });
  }
});
