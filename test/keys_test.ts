/**
 * Routing keys, append times and keyed reads against a real server on port
 * 0: `Stream-Key` on appends, `?key=` and `pk/{key}` reads (catch-up,
 * long-poll, SSE) with their offsets and scan budget, `Stream-Timestamp`
 * and `since=`, and keys read through forks and across a restart
 * (acceptance tests 1-7 of the keys-and-schemas spec, and more).
 */

import assert from "node:assert/strict";
import { type ConfigOverrides, testConfig } from "../src/config.ts";
import { MemoryObjectStore } from "../src/objectstore/memory.ts";
import { startServer } from "../src/server.ts";
import { startTestServer } from "./_server.ts";

type Server = Awaited<ReturnType<typeof startTestServer>>;

async function withServer(
  overrides: ConfigOverrides,
  fn: (server: Server, base: string) => Promise<void>,
): Promise<void> {
  const server = await startTestServer(overrides);
  try {
    await fn(server, `${server.url}/v1/stream`);
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
}

async function put(url: string, contentType = "application/octet-stream") {
  const response = await fetch(url, {
    method: "PUT",
    headers: { "content-type": contentType },
  });
  await response.body?.cancel();
  assert.equal(response.status, 201);
}

async function post(
  url: string,
  body: string,
  headers: Record<string, string> = {},
  contentType = "application/octet-stream",
): Promise<Response> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": contentType, ...headers },
    body,
  });
  await response.body?.cancel();
  return response;
}

async function tail(url: string): Promise<string> {
  const response = await fetch(url, { method: "HEAD" });
  return response.headers.get("stream-next-offset")!;
}

async function waiting(server: Server): Promise<number> {
  return (await (await fetch(`${server.url}/health`)).json()).waiting;
}

async function waitingBecomes(server: Server, want: number): Promise<void> {
  for (let i = 0; i < 500 && await waiting(server) !== want; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.equal(await waiting(server), want);
}

/** Test 1's stream: a, b, c with keys u1, u2, u1. */
async function keyedStream(base: string, name = "k1"): Promise<string> {
  const url = `${base}/${name}`;
  await put(url);
  for (const [body, key] of [["a", "u1"], ["b", "u2"], ["c", "u1"]]) {
    assert.equal((await post(url, body, { "stream-key": key })).status, 204);
  }
  return url;
}

Deno.test("keyed catch-up reads: key=, pk/{key}, the path form wins, and an unknown key reads empty to the tail (tests 1-3)", async () => {
  await withServer({}, async (_server, base) => {
    const url = await keyedStream(base);
    const end = await tail(url);
    const read = await fetch(`${url}?offset=-1&key=u1`);
    assert.equal(read.status, 200);
    assert.equal(await read.text(), "ac");
    assert.equal(read.headers.get("stream-next-offset"), end);
    assert.equal(read.headers.get("stream-up-to-date"), "true");
    assert.ok(read.headers.get("etag")!.includes("key=u1"));
    const pk = await fetch(`${url}/pk/u1`);
    assert.equal(await pk.text(), "ac");
    const wins = await fetch(`${url}/pk/u2?key=u1`);
    assert.equal(await wins.text(), "b");
    const none = await fetch(`${url}?offset=-1&key=zz`);
    assert.equal(none.status, 200);
    assert.equal(await none.text(), "");
    assert.equal(none.headers.get("stream-up-to-date"), "true");
    assert.equal(none.headers.get("stream-next-offset"), end);
    // The ETag of a keyed read differs from the plain read of the same range.
    const plain = await fetch(`${url}?offset=-1`);
    await plain.body?.cancel();
    assert.notEqual(plain.headers.get("etag"), read.headers.get("etag"));
    // A key holding "/" and non-ASCII text round-trips in both forms.
    const odd = "a/b é";
    assert.equal(
      (await post(url, "d", {
        "stream-key": String.fromCharCode(
          ...new TextEncoder().encode(odd),
        ),
      })).status,
      204,
    );
    const q = await fetch(`${url}?offset=-1&key=${encodeURIComponent(odd)}`);
    assert.equal(await q.text(), "d");
    const path = await fetch(`${url}/pk/${encodeURIComponent(odd)}`);
    assert.equal(await path.text(), "d");
  });
});

Deno.test("a bad Stream-Key (empty, too long, not UTF-8) is a 400 and appends nothing (test 4)", async () => {
  await withServer({}, async (_server, base) => {
    const url = await keyedStream(base);
    const before = await tail(url);
    const bad = [
      { "stream-key": "" },
      { "stream-key": "k".repeat(1025) },
      { "stream-key": "\xff\xfe" },
    ];
    for (const headers of bad) {
      const response = await post(url, "x", headers);
      assert.equal(response.status, 400, JSON.stringify(headers));
    }
    assert.equal(
      (await post(url, "y", { "stream-key": "k".repeat(1024) })).status,
      204,
    );
    const after = await tail(url);
    assert.notEqual(after, before);
    const read = await fetch(`${url}?offset=${before}`);
    assert.equal(await read.text(), "y"); // only the good append landed
    const emptyKey = await fetch(`${url}?offset=-1&key=`);
    assert.equal(emptyKey.status, 400);
    await emptyKey.body?.cancel();
    const longKey = await fetch(`${url}?offset=-1&key=${"k".repeat(1025)}`);
    assert.equal(longKey.status, 400);
    await longKey.body?.cancel();
  });
});

Deno.test("keyed long-poll waits past other keys' records, then answers 204 past them; a matching append answers 200 (test 5)", async () => {
  await withServer(
    { http: { longPollTimeoutMs: 2000 } },
    async (server, base) => {
      const url = await keyedStream(base);
      const start = await tail(url);
      const poll = fetch(
        `${url}?offset=${start}&key=u9&live=long-poll&timeout=2`,
      );
      await waitingBecomes(server, 1);
      assert.equal((await post(url, "x", { "stream-key": "u1" })).status, 204);
      const pastX = await tail(url);
      const answered = await poll;
      assert.equal(answered.status, 204);
      await answered.body?.cancel();
      assert.equal(answered.headers.get("stream-next-offset"), pastX);
      const again = fetch(
        `${url}?offset=${pastX}&key=u9&live=long-poll&timeout=2`,
      );
      await waitingBecomes(server, 1);
      assert.equal((await post(url, "y", { "stream-key": "u1" })).status, 204);
      assert.equal((await post(url, "z", { "stream-key": "u9" })).status, 204);
      const got = await again;
      assert.equal(got.status, 200);
      assert.equal(await got.text(), "z");
      assert.equal(got.headers.get("stream-next-offset"), await tail(url));
    },
  );
});

/** Reads SSE events until `done` says stop; returns them parsed. */
async function sseEvents(
  url: string,
  done: (events: { event: string; data: string }[]) => boolean,
): Promise<{ event: string; data: string }[]> {
  const abort = new AbortController();
  const response = await fetch(url, { signal: abort.signal });
  assert.equal(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  const events: { event: string; data: string }[] = [];
  let text = "";
  try {
    while (!done(events)) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      text += value;
      let split;
      while ((split = text.indexOf("\n\n")) >= 0) {
        const block = text.slice(0, split);
        text = text.slice(split + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? "";
        const data = [...block.matchAll(/^data:(.*)$/gm)].map((m) => m[1])
          .join("\n");
        if (event !== "") events.push({ event, data });
      }
    }
  } finally {
    abort.abort();
    await reader.cancel().catch(() => {});
  }
  return events;
}

Deno.test("keyed SSE delivers only the key's records, live too (test 6)", async () => {
  await withServer({}, async (server, base) => {
    const url = `${base}/k-sse`;
    await put(url, "text/plain");
    await post(url, "a", { "stream-key": "u1" }, "text/plain");
    await post(url, "b", { "stream-key": "u2" }, "text/plain");
    const seen = sseEvents(
      `${url}?offset=-1&key=u1&live=sse`,
      (events) => events.filter((e) => e.event === "data").length >= 2,
    );
    await waitingBecomes(server, 1);
    await post(url, "c", { "stream-key": "u2" }, "text/plain");
    await post(url, "d", { "stream-key": "u1" }, "text/plain");
    const events = await seen;
    assert.deepEqual(
      events.filter((e) => e.event === "data").map((e) => e.data),
      ["a", "d"],
    );
    const controls = events.filter((e) => e.event === "control");
    const last = JSON.parse(controls[controls.length - 1].data);
    assert.equal(last.streamNextOffset, await tail(url));
  });
});

Deno.test("pk/{key} names are reserved; PUT on a subresource creates nothing (test 7)", async () => {
  await withServer({}, async (_server, base) => {
    const reserved = await fetch(`${base}/a/pk/b`, { method: "PUT" });
    assert.equal(reserved.status, 400);
    await reserved.body?.cancel();
    // 405 once a `_schema` route takes GET/POST; a reserved name (400) before.
    const sub = await fetch(`${base}/x/_schema`, { method: "PUT" });
    assert.ok(sub.status === 405 || sub.status === 400, `got ${sub.status}`);
    await sub.body?.cancel();
    const plain = await fetch(`${base}/x`, { method: "HEAD" });
    assert.equal(plain.status, 404); // no stream was created
    await plain.body?.cancel();
    // A write under pk/ writes to a reserved name.
    const post = await fetch(`${base}/a/pk/b`, { method: "POST", body: "x" });
    assert.equal(post.status, 400);
    await post.body?.cancel();
  });
});

Deno.test("a keyed read stops at its scan budget with the scan headers, and the next offset is where it stopped", async () => {
  await withServer(
    { limits: { keyedScanBytesMax: 10 } },
    async (_server, base) => {
      const url = `${base}/scan`;
      await put(url);
      for (let i = 0; i < 12; i++) {
        await post(url, `r${i}..`, { "stream-key": i === 9 ? "hit" : "miss" });
      }
      let offset = "-1";
      let body = "";
      let pages = 0;
      while (true) {
        const response = await fetch(`${url}?offset=${offset}&key=hit`);
        assert.equal(response.status, 200);
        body += await response.text();
        pages++;
        const scanned = Number(response.headers.get("stream-scanned-bytes"));
        assert.ok(scanned >= 1 && scanned <= 10 + 4, `scanned ${scanned}`);
        offset = response.headers.get("stream-next-offset")!;
        if (response.headers.get("stream-up-to-date") === "true") {
          assert.equal(response.headers.get("stream-scan-limit-reached"), null);
          break;
        }
        assert.equal(response.headers.get("stream-scan-limit-reached"), "true");
      }
      assert.equal(body, "r9..");
      assert.ok(pages >= 4, `${pages} pages`);
      assert.equal(offset, await tail(url));
    },
  );
});

Deno.test("JSON streams: Stream-Key keys every element; keyed reads answer arrays", async () => {
  await withServer({}, async (_server, base) => {
    const url = `${base}/kj`;
    await put(url, "application/json");
    await post(
      url,
      '[{"n":1},{"n":2}]',
      { "stream-key": "a" },
      "application/json",
    );
    await post(url, '{"n":3}', { "stream-key": "b" }, "application/json");
    await post(url, '[{"n":4}]', {}, "application/json");
    assert.deepEqual(await (await fetch(`${url}?offset=-1&key=a`)).json(), [
      { n: 1 },
      { n: 2 },
    ]);
    assert.deepEqual(await (await fetch(`${url}/pk/b`)).json(), [{ n: 3 }]);
    assert.deepEqual(await (await fetch(`${url}/pk/c`)).json(), []);
  });
});

Deno.test("a fork reads its source's keys below the fork point, its own above", async () => {
  await withServer({}, async (_server, base) => {
    const source = await keyedStream(base, "src");
    const fork = `${base}/fork`;
    const created = await fetch(fork, {
      method: "PUT",
      headers: { "stream-forked-from": "/v1/stream/src" },
    });
    assert.equal(created.status, 201);
    await post(source, "s", { "stream-key": "u1" }); // after the fork point
    await post(fork, "f", { "stream-key": "u1" });
    assert.equal(await (await fetch(`${fork}/pk/u1`)).text(), "acf");
    assert.equal(await (await fetch(`${fork}/pk/u2`)).text(), "b");
    assert.equal(await (await fetch(`${source}/pk/u1`)).text(), "acs");
  });
});

Deno.test("Stream-Timestamp sets append times (clamped to increase), since= starts at the first record at or after a time", async () => {
  await withServer(
    { http: { longPollTimeoutMs: 2000 } },
    async (server, base) => {
      const url = `${base}/times`;
      await put(url, "application/json");
      const at = (body: string, time?: string) =>
        post(
          url,
          body,
          time === undefined ? {} : { "stream-timestamp": time },
          "application/json",
        );
      assert.equal(
        (await at('[{"n":1},{"n":2}]', "2026-01-01T00:00:00Z")).status,
        204,
      );
      // Earlier than the last time: clamped to one millisecond after it.
      assert.equal((await at('[{"n":3}]', "2025-06-01T00:00:00Z")).status, 204);
      // Unix nanoseconds: 2027-01-01T00:00:00Z.
      assert.equal((await at('[{"n":4}]', "1798761600000000000")).status, 204);
      for (const bad of ["yesterday", "-5", "2026-13-01T00:00:00Z", ""]) {
        assert.equal((await at('[{"n":0}]', bad)).status, 400, bad);
      }
      const since = async (time: string, extra = "") => {
        const response = await fetch(
          `${url}?since=${encodeURIComponent(time)}${extra}`,
        );
        assert.equal(response.status, 200, time);
        return (await response.json()).map((m: { n: number }) => m.n);
      };
      assert.deepEqual(await since("1970-01-01T00:00:00Z"), [1, 2, 3, 4]);
      assert.deepEqual(await since("2026-01-01T00:00:00Z"), [1, 2, 3, 4]);
      assert.deepEqual(await since("2026-01-01T00:00:00.0005Z"), [3, 4]);
      assert.deepEqual(await since("2026-01-01T00:00:00.001Z"), [3, 4]);
      assert.deepEqual(await since("2026-01-01T00:00:00.002+00:00"), [4]);
      assert.deepEqual(await since("1767225600001000000"), [3, 4]); // ns
      assert.deepEqual(await since("2030-01-01T00:00:00Z"), []);
      // With an offset, the offset wins.
      assert.deepEqual(await since("2030-01-01T00:00:00Z", "&offset=-1"), [
        1,
        2,
        3,
        4,
      ]);
      const bad = await fetch(`${url}?since=soon`);
      assert.equal(bad.status, 400);
      await bad.body?.cancel();
      // Keys and times together: the read starts at the time, then filters.
      await post(url, '[{"n":5}]', { "stream-key": "k" }, "application/json");
      await post(url, '[{"n":6}]', {}, "application/json");
      const keyed = await fetch(`${url}?since=2027-01-01T00:00:00Z&key=k`);
      assert.deepEqual(await keyed.json(), [{ n: 5 }]);
      // Long-poll from a time past the tail waits for the next append.
      const poll = fetch(`${url}?since=2100-01-01T00:00:00Z&live=long-poll`);
      await waitingBecomes(server, 1);
      await post(url, '[{"n":7}]', {}, "application/json");
      const got = await poll;
      assert.equal(got.status, 200);
      assert.deepEqual(await got.json(), [{ n: 7 }]);
    },
  );
});

Deno.test("keys and append times survive a restart; new appends stay after the old times", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-test-" });
  try {
    let server = await startTestServer({}, dir);
    let base = `${server.url}/v1/stream`;
    const url = await keyedStream(base);
    await post(url, "t", { "stream-timestamp": "2090-01-01T00:00:00Z" });
    await server.close();
    server = await startTestServer({}, dir);
    base = `${server.url}/v1/stream`;
    try {
      const k = `${base}/k1`;
      assert.equal(await (await fetch(`${k}/pk/u1`)).text(), "ac");
      // The clock is before 2090: the next append's time is clamped past it.
      await post(k, "n", { "stream-key": "u1" });
      const since = await fetch(`${k}?since=2090-01-01T00:00:00.001Z`);
      assert.equal(await since.text(), "n");
      assert.equal(await (await fetch(`${k}/pk/u1`)).text(), "acn");
    } finally {
      await server.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("_routing_keys lists distinct keys in byte order, paged, with coverage (test 21)", async () => {
  await withServer({}, async (_server, base) => {
    const url = `${base}/rk`;
    await put(url);
    for (const key of ["b", "a", "é", "b", "c", "a"]) {
      const header = String.fromCharCode(...new TextEncoder().encode(key));
      await post(url, "x", { "stream-key": header });
    }
    await post(url, "y"); // no key
    const page = async (query: string) => {
      const response = await fetch(`${url}/_routing_keys${query}`);
      assert.equal(response.status, 200, query);
      return await response.json();
    };
    const first = await page("?limit=2");
    assert.deepEqual(first.keys, ["a", "b"]);
    assert.equal(first.next_after, "b");
    assert.equal(first.stream, "rk");
    assert.deepEqual(first.coverage, {
      complete: true,
      indexed_segments: 0,
      scanned_segments: 0,
      scanned_wal_records: 7,
    });
    const second = await page("?limit=2&after=b");
    assert.deepEqual(second.keys, ["c", "é"]); // UTF-8 byte order
    assert.equal(second.next_after, null);
    assert.deepEqual((await page("")).keys, ["a", "b", "c", "é"]);
    assert.deepEqual((await page("?after=%C3%A9")).keys, []);
    for (
      const bad of [
        "?limit=0",
        "?limit=-1",
        "?limit=1.5",
        "?limit=501",
        "?after=",
      ]
    ) {
      const response = await fetch(`${url}/_routing_keys${bad}`);
      assert.equal(response.status, 400, bad);
      await response.body?.cancel();
    }
    const missing = await fetch(`${base}/nope/_routing_keys`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  });
});

Deno.test("_routing_keys reports an incomplete scan when the scan budget ends before the tail", async () => {
  await withServer(
    { limits: { keyedScanBytesMax: 4 } },
    async (_server, base) => {
      const url = `${base}/rk-budget`;
      await put(url);
      for (const key of ["z", "y", "x", "w", "v", "u"]) {
        await post(url, "12", { "stream-key": key });
      }
      const response = await fetch(`${url}/_routing_keys`);
      const body = await response.json();
      assert.deepEqual(body.keys, ["y", "z"]);
      assert.equal(body.coverage.complete, false);
      assert.equal(body.coverage.scanned_wal_records, 2);
    },
  );
});

Deno.test("--bootstrap restores keys and append times from the object store, and appends stay after the restored times", async () => {
  const objects = new MemoryObjectStore();
  const tiered = (dir: string, bootstrap: boolean) =>
    startServer(
      testConfig(dir, {
        objectStore: { kind: "fs", bootstrap },
        segment: { segmentBytes: 256, segmentAgeMs: 20 },
      }),
      { objectStore: objects },
    );
  const first = await Deno.makeTempDir({ prefix: "streambed-test-" });
  const second = await Deno.makeTempDir({ prefix: "streambed-test-" });
  let server = await tiered(first, false);
  try {
    const url = `${server.url}/v1/stream/boot`;
    await put(url);
    for (let i = 0; i < 40; i++) {
      const response = await post(url, `r${i};`.padEnd(20, "."), {
        "stream-key": `k${i % 3}`,
        "stream-timestamp": new Date(Date.UTC(2040, 0, 1, 0, 0, i))
          .toISOString(),
      });
      assert.equal(response.status, 204);
    }
    const end = await tail(url);
    for (let i = 0; i < 400; i++) {
      const d = await (await fetch(`${url}/_details`)).json();
      if (d.uploadedThroughOffset === end) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const before = await (await fetch(`${url}/pk/k1`)).text();
    await server.close();
    server = await tiered(second, true);
    const restored = `${server.url}/v1/stream/boot`;
    assert.equal(await tail(restored), end);
    assert.equal(await (await fetch(`${restored}/pk/k1`)).text(), before);
    const since = await fetch(
      `${restored}?since=2040-01-01T00:00:39Z&key=k0`,
    );
    assert.equal(await since.text(), "r39;".padEnd(20, "."));
    // The clock is before 2040: the next append is raised past the last time.
    await post(restored, "late", { "stream-key": "k0" });
    const late = await fetch(
      `${restored}?since=2040-01-01T00:00:39.001Z&key=k0`,
    );
    assert.equal(await late.text(), "late");
  } finally {
    await server.close();
    await Deno.remove(first, { recursive: true });
    await Deno.remove(second, { recursive: true });
  }
});

Deno.test("concurrent keyed appends committed together keep each record's key; PUT with a body takes Stream-Key", async () => {
  await withServer({}, async (_server, base) => {
    const url = `${base}/many`;
    await put(url, "application/json");
    const sends = Array.from(
      { length: 40 },
      (_, i) =>
        post(url, JSON.stringify([{ i }, { i: i + 1000 }]), {
          "stream-key": `k${i % 4}`,
        }, "application/json"),
    );
    for (const response of await Promise.all(sends)) {
      assert.equal(response.status, 204);
    }
    const all = await (await fetch(`${url}?offset=-1`)).json() as {
      i: number;
    }[];
    assert.equal(all.length, 80);
    for (let k = 0; k < 4; k++) {
      const keyed = await (await fetch(`${url}/pk/k${k}`)).json() as {
        i: number;
      }[];
      assert.deepEqual(
        keyed.map((m) => m.i),
        all.map((m) => m.i).filter((i) => (i % 1000) % 4 === k),
      );
    }
    const created = await fetch(`${base}/with-body`, {
      method: "PUT",
      headers: { "content-type": "text/plain", "stream-key": "first" },
      body: "hello",
    });
    assert.equal(created.status, 201);
    await created.body?.cancel();
    assert.equal(
      await (await fetch(`${base}/with-body/pk/first`)).text(),
      "hello",
    );
    const refused = await fetch(`${base}/bad-key`, {
      method: "PUT",
      headers: { "content-type": "text/plain", "stream-key": "" },
      body: "x",
    });
    assert.equal(refused.status, 400);
    await refused.body?.cancel();
    const head = await fetch(`${base}/bad-key`, { method: "HEAD" });
    assert.equal(head.status, 404);
    await head.body?.cancel();
  });
});

Deno.test("a server starts on a data dir written before keys and times (WAL version 2), serves it, and keys new appends", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-test-" });
  await Deno.copyFile(
    new URL("./fixtures/wal_v2.sqlite", import.meta.url),
    `${dir}/wal.sqlite`,
  );
  const server = await startTestServer({}, dir);
  try {
    const base = `${server.url}/v1/stream/legacy`;
    assert.equal(
      await (await fetch(`${base}/bytes?offset=-1`)).text(),
      "hello world",
    );
    assert.equal(
      await (await fetch(`${base}/fork?offset=-1`)).text(),
      "hello world!",
    );
    assert.deepEqual(await (await fetch(`${base}/json?offset=-1`)).json(), [
      { a: 1 },
      { a: 2 },
    ]);
    // Old records have no key and time 0.
    assert.equal(
      await (await fetch(`${base}/bytes?offset=-1&key=k`)).text(),
      "",
    );
    assert.equal(
      await (await fetch(`${base}/bytes?since=1970-01-01T00:00:00Z`)).text(),
      "hello world",
    );
    assert.equal(
      await (await fetch(`${base}/bytes?since=1970-01-01T00:00:00.001Z`))
        .text(),
      "",
    );
    await post(`${base}/bytes`, "!", { "stream-key": "k" }, "text/plain");
    assert.equal(await (await fetch(`${base}/bytes/pk/k`)).text(), "!");
    assert.equal(
      await (await fetch(`${base}/bytes?since=1970-01-01T00:00:00.001Z`))
        .text(),
      "!",
    );
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
