/**
 * Property: a keyed read is the full read filtered by key, and a `since=`
 * read is the full read from the first record appended at or after the
 * time, whatever the keys, batch sizes and timestamps, with records sealed
 * into uploaded segments (block blooms in play), a restart, a fork, a tiny
 * read cap and a tiny scan budget (so answers page and scans stop early).
 * `KEYS_PROPERTY_RUNS` sets the runs (default 5; each starts two servers).
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { testConfig } from "../src/config.ts";
import { MemoryObjectStore } from "../src/objectstore/memory.ts";
import { type ServerHandle, startServer } from "../src/server.ts";

const RUNS = Number(Deno.env.get("KEYS_PROPERTY_RUNS") ?? "5");
const KEYS = ["a", "b", "c/d", "é"];

interface Batch {
  key: string | null;
  count: number;
  /** Offset of `Stream-Timestamp` from a base time, or none. */
  timeStep: number | null;
  /** Padding per message, so segments fill. */
  pad: number;
}

interface Sent {
  n: number;
  key: string | null;
  timeMs: number;
}

const BASE_MS = Date.parse("2030-01-01T00:00:00Z"); // after the test's clock

function start(dir: string, objects: MemoryObjectStore): Promise<ServerHandle> {
  return startServer(
    testConfig(dir, {
      objectStore: { kind: "fs" },
      segment: { segmentBytes: 2048, segmentAgeMs: 20 },
      limits: { readBytesMax: 700, keyedScanBytesMax: 3000 },
    }),
    { objectStore: objects },
  );
}

/** Appends `batches` to `url`, returning what the model says was stored. */
async function appendAll(
  url: string,
  batches: readonly Batch[],
  first: number,
  model: { lastTimeMs: number },
): Promise<Sent[]> {
  const sent: Sent[] = [];
  let n = first;
  for (const b of batches) {
    const messages = Array.from({ length: b.count }, () => ({
      n: n++,
      pad: "p".repeat(b.pad),
    }));
    const headers: Record<string, string> = {
      "content-type": "application/json",
    };
    if (b.key !== null) {
      headers["stream-key"] = String.fromCharCode(
        ...new TextEncoder().encode(b.key),
      );
    }
    if (b.timeStep !== null) {
      headers["stream-timestamp"] = new Date(BASE_MS + b.timeStep * 1000)
        .toISOString();
    }
    const response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify(messages),
    });
    await response.body?.cancel();
    assert.equal(response.status, 204);
    // The model of append times: the asked time raised past the last one.
    // Without one the server takes its clock (before BASE_MS): known only
    // once a timed append has pushed times past the clock.
    let timeMs: number;
    if (b.timeStep !== null) {
      timeMs = Math.max(BASE_MS + b.timeStep * 1000, model.lastTimeMs + 1);
    } else if (model.lastTimeMs >= BASE_MS) timeMs = model.lastTimeMs + 1;
    else timeMs = -1; // the clock: some time before BASE_MS
    model.lastTimeMs = Math.max(model.lastTimeMs, timeMs);
    for (const m of messages) sent.push({ n: m.n, key: b.key, timeMs });
  }
  return sent;
}

/** Reads `query` from the start, page by page, until up to date. */
async function readAll(url: string, query: string): Promise<number[]> {
  const got: number[] = [];
  let offset = "-1";
  for (let page = 0; page < 10_000; page++) {
    const response = await fetch(`${url}?offset=${offset}${query}`);
    assert.equal(response.status, 200);
    const body = await response.json() as { n: number }[];
    got.push(...body.map((m) => m.n));
    const next = response.headers.get("stream-next-offset")!;
    if (response.headers.get("stream-up-to-date") === "true") return got;
    assert.notEqual(next, offset, "a read always moves on");
    offset = next;
  }
  throw new Error("too many pages");
}

async function sinceRead(url: string, timeMs: number): Promise<number[]> {
  const response = await fetch(
    `${url}?since=${new Date(timeMs).toISOString()}`,
  );
  assert.equal(response.status, 200);
  const body = await response.json() as { n: number }[];
  return body.map((m) => m.n);
}

async function waitUploaded(url: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const d = await (await fetch(`${url}/_details`)).json();
    if (d.uploadedSegmentCount >= 1) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("no segment was uploaded");
}

async function check(url: string, model: Sent[]): Promise<void> {
  for (const key of KEYS) {
    const keyed = await readAll(url, `&key=${encodeURIComponent(key)}`);
    assert.deepEqual(
      keyed,
      model.filter((s) => s.key === key).map((s) => s.n),
      `key ${key}`,
    );
  }
  const path = await (await fetch(`${url}/pk/${encodeURIComponent("c/d")}`))
    .json() as { n: number }[];
  const expected = model.filter((s) => s.key === "c/d").map((s) => s.n);
  assert.deepEqual(path.map((m) => m.n), expected.slice(0, path.length));
  // _routing_keys pages through the distinct keys in byte order (all of
  // them when its scan, bounded like keyed reads, reached the tail).
  const listed: string[] = [];
  let after: string | null = null;
  let complete = true;
  do {
    const query: string = after === null
      ? ""
      : `&after=${encodeURIComponent(after)}`;
    const page = await (await fetch(`${url}/_routing_keys?limit=2${query}`))
      .json();
    complete &&= page.coverage.complete;
    listed.push(...page.keys);
    after = page.next_after;
  } while (after !== null);
  const bytes = (k: string) =>
    String.fromCharCode(...new TextEncoder().encode(k));
  const distinct = [...new Set(model.flatMap((m) => m.key ?? []))]
    .sort((a, b) => bytes(a) < bytes(b) ? -1 : 1);
  if (complete) assert.deepEqual(listed, distinct);
  else assert.deepEqual(listed, distinct.filter((k) => listed.includes(k)));
  // since: the first record at or after each record's time (and between).
  for (const s of model.filter((m, i) => i % 5 === 0 && m.timeMs >= 0)) {
    for (const t of [s.timeMs, s.timeMs + 1]) {
      const first = model.findIndex((m) => m.timeMs >= t);
      const got = await sinceRead(url, t);
      if (first < 0) assert.deepEqual(got, []);
      else assert.equal(got[0], model[first].n, `since ${t}`);
    }
  }
}

const batch: fc.Arbitrary<Batch> = fc.record({
  key: fc.option(fc.constantFrom(...KEYS), { freq: 4 }),
  count: fc.integer({ min: 1, max: 4 }),
  timeStep: fc.option(fc.integer({ min: 0, max: 50 }), { freq: 3 }),
  pad: fc.integer({ min: 10, max: 120 }),
});

Deno.test("keyed reads equal the filtered full read, and since= finds the first record at a time, across segments, a restart and a fork", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(batch, { minLength: 10, maxLength: 40 }),
      fc.array(batch, { minLength: 1, maxLength: 10 }),
      async (batches, forkBatches) => {
        const dir = await Deno.makeTempDir({ prefix: "streambed-test-" });
        const objects = new MemoryObjectStore();
        let server = await start(dir, objects);
        try {
          const url = `${server.url}/v1/stream/p`;
          const created = await fetch(url, {
            method: "PUT",
            headers: { "content-type": "application/json" },
          });
          assert.equal(created.status, 201);
          const times = { lastTimeMs: 0 };
          const model = await appendAll(url, batches, 0, times);
          await waitUploaded(url);
          await check(url, model);
          await server.close();
          server = await start(dir, objects);
          const again = `${server.url}/v1/stream/p`;
          await check(again, model);
          // A fork reads the source's records (and keys) below its fork point.
          const forkUrl = `${server.url}/v1/stream/p-fork`;
          const forked = await fetch(forkUrl, {
            method: "PUT",
            headers: { "stream-forked-from": "/v1/stream/p" },
          });
          assert.equal(forked.status, 201);
          const forkTimes = { lastTimeMs: times.lastTimeMs };
          const own = await appendAll(forkUrl, forkBatches, 10_000, forkTimes);
          await check(forkUrl, [...model, ...own]);
        } finally {
          await server.close();
          await Deno.remove(dir, { recursive: true });
        }
      },
    ),
    { numRuns: RUNS },
  );
});
