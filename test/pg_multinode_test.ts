/**
 * Several servers on one PostgreSQL schema (`--postgres-multi-node`), as
 * clients see them: concurrent appends through two nodes land exactly once
 * and in order, producers and `Stream-Seq` hold across nodes, live readers
 * on one node wake on appends through another (also when announcements are
 * lost), and creates, closes and deletes are seen everywhere.
 */

import assert from "node:assert/strict";
import { type ConfigOverrides, testConfig } from "../src/config.ts";
import { type ServerHandle, startServer } from "../src/server.ts";
import { freshSchema, sharedPgCluster } from "../src/storage/_pg_testing.ts";
import {
  isStale,
  type SharedWal,
  type WalOp,
  type WalStore,
} from "../src/storage/wal_store.ts";

interface Node extends ServerHandle {
  dataDir: string;
}

/** Starts a node on `schema`; `wrapWal` lets a test drop announcements. */
async function startNode(
  schema: string,
  overrides: ConfigOverrides = {},
  wrapWal?: (store: WalStore) => WalStore,
): Promise<Node> {
  const cluster = await sharedPgCluster();
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-node-" });
  const config = testConfig(dataDir, {
    ...overrides,
    http: { longPollTimeoutMs: 30_000, ...overrides.http },
    storage: {
      backend: "postgres",
      postgresUrl: cluster.url,
      postgresSchema: schema,
      postgresMultiNode: true,
      ...overrides.storage,
    },
  });
  const server = await startServer(config, { wrapWal });
  return { ...server, dataDir };
}

async function withNodes(
  count: number,
  fn: (nodes: Node[], schema: string) => Promise<void>,
  overrides: ConfigOverrides = {},
  wrapWal?: (index: number) => ((store: WalStore) => WalStore) | undefined,
): Promise<void> {
  const schema = freshSchema("multi");
  const nodes: Node[] = [];
  try {
    for (let i = 0; i < count; i++) {
      nodes.push(await startNode(schema, overrides, wrapWal?.(i)));
    }
    await fn(nodes, schema);
  } finally {
    for (const node of nodes) {
      await node.close();
      await Deno.remove(node.dataDir, { recursive: true });
    }
  }
}

async function call(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(url, { method, headers, body });
  return {
    status: response.status,
    headers: response.headers,
    text: await response.text(),
  };
}

const JSON_TYPE = { "content-type": "application/json" };

async function create(url: string, type = JSON_TYPE): Promise<void> {
  const created = await call(url, "PUT", type);
  assert.equal(created.status, 201, created.text);
}

async function readAll(url: string): Promise<unknown[]> {
  const got = await call(`${url}?offset=-1`, "GET");
  assert.equal(got.status, 200, got.text);
  return JSON.parse(got.text);
}

async function waiting(node: Node): Promise<number> {
  return (await (await fetch(`${node.url}/health`)).json()).waiting;
}

/** Resolves once `node` has `want` live readers parked (bounded). */
async function waitingBecomes(node: Node, want: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (await waiting(node) !== want) {
    assert.ok(Date.now() < deadline, `never ${want} waiting`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("two nodes appending to one stream: every acknowledged record once, offsets increasing", async () => {
  await withNodes(2, async ([a, b]) => {
    const path = "/v1/stream/shared";
    await create(a.url + path);
    const writers = 4;
    const perWriter = 40;
    const acks: { writer: number; i: number; offset: string }[] = [];
    await Promise.all(
      Array.from({ length: writers }, async (_, writer) => {
        const node = writer % 2 === 0 ? a : b;
        for (let i = 0; i < perWriter; i++) {
          const res = await call(
            node.url + path,
            "POST",
            JSON_TYPE,
            JSON.stringify({ writer, i }),
          );
          assert.equal(res.status, 204, res.text);
          acks.push({
            writer,
            i,
            offset: res.headers.get("stream-next-offset")!,
          });
        }
      }),
    );
    const offsets = acks.map((x) => x.offset);
    assert.equal(new Set(offsets).size, offsets.length, "offsets are unique");
    for (const node of [a, b]) {
      const records = await readAll(node.url + path) as {
        writer: number;
        i: number;
      }[];
      assert.equal(records.length, writers * perWriter);
      const seen = new Set(records.map((r) => `${r.writer}/${r.i}`));
      assert.equal(seen.size, writers * perWriter, "no duplicates");
      for (let w = 0; w < writers; w++) {
        const mine = records.filter((r) => r.writer === w).map((r) => r.i);
        assert.deepEqual(mine, [...mine].sort((x, y) => x - y), "in order");
      }
    }
    // Each writer's acknowledged offsets increase, and in the stream its
    // records sit in the order of their offsets.
    for (let w = 0; w < writers; w++) {
      const mine = acks.filter((x) => x.writer === w).map((x) => x.offset);
      assert.deepEqual(mine, [...mine].sort());
    }
  });
});

Deno.test("two nodes: producers with their own ids never lose or duplicate, and one producer id dedupes across nodes", async () => {
  await withNodes(2, async ([a, b]) => {
    const path = "/v1/stream/producers";
    await create(a.url + path);
    const producers = 4;
    const perProducer = 30;
    await Promise.all(
      Array.from({ length: producers }, async (_, p) => {
        for (let seq = 0; seq < perProducer; seq++) {
          // Every record is sent twice, through both nodes: one is a duplicate.
          const headers = {
            ...JSON_TYPE,
            "producer-id": `p${p}`,
            "producer-epoch": "0",
            "producer-seq": String(seq),
          };
          const body = JSON.stringify({ p, seq });
          const first = await call(
            (seq % 2 === 0 ? a : b).url + path,
            "POST",
            headers,
            body,
          );
          assert.equal(first.status, 200, first.text);
          const again = await call(
            (seq % 2 === 0 ? b : a).url + path,
            "POST",
            headers,
            body,
          );
          assert.equal(again.status, 204, `duplicate: ${again.text}`);
        }
      }),
    );
    const records = await readAll(b.url + path) as { p: number; seq: number }[];
    assert.equal(records.length, producers * perProducer);
    for (let p = 0; p < producers; p++) {
      assert.deepEqual(
        records.filter((r) => r.p === p).map((r) => r.seq),
        Array.from({ length: perProducer }, (_, i) => i),
      );
    }
    // One more record through A; a late duplicate through B (whose copy of
    // the producer is behind) answers with the highest seq A accepted.
    const next = await call(a.url + path, "POST", {
      ...JSON_TYPE,
      "producer-id": "p1",
      "producer-epoch": "0",
      "producer-seq": String(perProducer),
    }, "{}");
    assert.equal(next.status, 200, next.text);
    const late = await call(b.url + path, "POST", {
      ...JSON_TYPE,
      "producer-id": "p1",
      "producer-epoch": "0",
      "producer-seq": "0",
    }, "{}");
    assert.equal(late.status, 204, late.text);
    assert.equal(late.headers.get("producer-seq"), String(perProducer));
    // A gap is refused on the other node exactly as on one node.
    const gap = await call(a.url + path, "POST", {
      ...JSON_TYPE,
      "producer-id": "p0",
      "producer-epoch": "0",
      "producer-seq": String(perProducer + 2),
    }, "{}");
    assert.equal(gap.status, 409, gap.text);
  });
});

Deno.test("two nodes: Stream-Seq conflicts across nodes", async () => {
  await withNodes(2, async ([a, b]) => {
    const path = "/v1/stream/seq";
    await create(a.url + path);
    const first = await call(
      a.url + path,
      "POST",
      { ...JSON_TYPE, "stream-seq": "b" },
      "1",
    );
    assert.equal(first.status, 204, first.text);
    const behind = await call(
      b.url + path,
      "POST",
      { ...JSON_TYPE, "stream-seq": "a" },
      "2",
    );
    assert.equal(behind.status, 409, behind.text);
    const ahead = await call(
      b.url + path,
      "POST",
      { ...JSON_TYPE, "stream-seq": "c" },
      "3",
    );
    assert.equal(ahead.status, 204, ahead.text);
    const stale = await call(
      a.url + path,
      "POST",
      { ...JSON_TYPE, "stream-seq": "c" },
      "4",
    );
    assert.equal(stale.status, 409, stale.text);
    assert.deepEqual(await readAll(a.url + path), [1, 3]);
  });
});

Deno.test("two nodes: a create, a close and a delete on one node are seen by the other", async () => {
  await withNodes(2, async ([a, b]) => {
    const path = "/v1/stream/life";
    assert.equal((await call(b.url + path, "HEAD")).status, 404);
    await create(a.url + path);
    assert.equal((await call(b.url + path, "HEAD")).status, 200);
    // A second create through B sees the stream (same config: 200).
    assert.equal((await call(b.url + path, "PUT", JSON_TYPE)).status, 200);
    const appended = await call(b.url + path, "POST", JSON_TYPE, '"x"');
    assert.equal(appended.status, 204, appended.text);
    const closed = await call(a.url + path, "POST", {
      ...JSON_TYPE,
      "stream-closed": "true",
    });
    assert.equal(closed.status, 204, closed.text);
    const head = await call(b.url + path, "HEAD");
    assert.equal(head.headers.get("stream-closed"), "true");
    const refused = await call(b.url + path, "POST", JSON_TYPE, '"y"');
    assert.equal(refused.status, 409, refused.text);
    assert.equal((await call(a.url + path, "DELETE")).status, 204);
    assert.equal((await call(b.url + path, "GET")).status, 404);
    assert.equal((await call(b.url + path, "HEAD")).status, 404);
    // The name can be taken again through B, and A sees the new stream.
    await create(b.url + path, { "content-type": "text/plain" });
    const again = await call(a.url + path, "HEAD");
    assert.equal(again.status, 200);
    assert.equal(again.headers.get("content-type"), "text/plain");
  });
});

async function longPollWakes(a: Node, b: Node, path: string): Promise<void> {
  await create(a.url + path);
  const tail = (await call(b.url + path, "HEAD")).headers.get(
    "stream-next-offset",
  )!;
  const polled = call(`${b.url}${path}?offset=${tail}&live=long-poll`, "GET");
  await waitingBecomes(b, 1);
  const appended = await call(a.url + path, "POST", JSON_TYPE, '"hello"');
  assert.equal(appended.status, 204);
  const got = await polled;
  assert.equal(got.status, 200, got.text);
  assert.deepEqual(JSON.parse(got.text), ["hello"]);
}

async function sseReceives(a: Node, b: Node, path: string): Promise<void> {
  await create(a.url + path);
  const abort = new AbortController();
  const response = await fetch(`${b.url}${path}?offset=-1&live=sse`, {
    signal: abort.signal,
  });
  assert.equal(response.status, 200);
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  await waitingBecomes(b, 1);
  for (let i = 0; i < 3; i++) {
    const res = await call(a.url + path, "POST", JSON_TYPE, String(i));
    assert.equal(res.status, 204);
  }
  const data = () =>
    [...text.matchAll(/event: data\ndata:\s?(.*)\n/g)].flatMap((m) =>
      JSON.parse(m[1])
    );
  while (data().length < 3) {
    const { value, done } = await reader.read();
    assert.ok(!done, "SSE ended early");
    text += value;
  }
  assert.deepEqual(data(), [0, 1, 2]);
  abort.abort();
  await reader.cancel().catch(() => {});
}

Deno.test("two nodes: a long-poll and an SSE reader on B wake on appends through A", async () => {
  await withNodes(2, async ([a, b]) => {
    await longPollWakes(a, b, "/v1/stream/lp");
    await sseReceives(a, b, "/v1/stream/sse");
  });
});

/** A store whose tail announcements never reach this node (lost NOTIFYs). */
function deaf(store: WalStore): WalStore {
  const shared = store.shared!;
  const wrapped = Object.create(store) as WalStore;
  Object.defineProperty(wrapped, "shared", {
    value: {
      nodeId: shared.nodeId,
      watch: () => {},
      current: (ids, names) => shared.current(ids, names),
      poll: (ids, names) => shared.poll(ids, names),
      loadSome: (scope) => shared.loadSome(scope),
    } satisfies SharedWal,
  });
  for (
    const method of [
      "load",
      "loadProducers",
      "commit",
      "readChunks",
      "seekTime",
      "compact",
      "addSegment",
      "truncate",
      "close",
    ] as const
  ) {
    // deno-lint-ignore no-explicit-any
    (wrapped as any)[method] = (store as any)[method].bind(store);
  }
  return wrapped;
}

Deno.test("two nodes: with every announcement lost, live readers on B still wake through the poll safety net", async () => {
  await withNodes(
    2,
    async ([a, b]) => {
      await longPollWakes(a, b, "/v1/stream/lp-lost");
      await sseReceives(a, b, "/v1/stream/sse-lost");
    },
    { storage: { postgresWakePollMs: 200 } },
    (i) => i === 1 ? deaf : undefined,
  );
});

Deno.test("two nodes: after their LISTEN connections are cut, the nodes reconnect and readers on B still wake", async () => {
  await withNodes(2, async ([a, b]) => {
    const cluster = await sharedPgCluster();
    const cut = await cluster.psql(
      `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
       WHERE application_name = 'streambed-listen'`,
    );
    assert.ok(Number(cut) >= 2, `listeners cut: ${cut}`);
    await longPollWakes(a, b, "/v1/stream/after-cut");
    // Reconnected: the listeners are back.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const back = await cluster.psql(
        `SELECT count(*) FROM pg_stat_activity WHERE application_name = 'streambed-listen'`,
      );
      if (Number(back) >= 2) break;
      assert.ok(Date.now() < deadline, "listeners never came back");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await sseReceives(a, b, "/v1/stream/sse-after-cut");
  }, { storage: { postgresWakePollMs: 60_000 } });
});

/** Counts what a node's store loads, and its commits refused as stale. */
interface LoadCounts {
  fullLoads: number;
  fullRows: number;
  partialLoads: number;
  partialRows: number;
  staleCommits: number;
}

function counting(counts: LoadCounts): (store: WalStore) => WalStore {
  return (store) => {
    const shared = store.shared!;
    const countedShared: SharedWal = {
      nodeId: shared.nodeId,
      watch: (events) => shared.watch(events),
      current: (ids, names) => shared.current(ids, names),
      poll: (ids, names) => shared.poll(ids, names),
      loadSome: async (scope) => {
        const part = await shared.loadSome(scope);
        counts.partialLoads++;
        counts.partialRows += part.streams.length;
        return part;
      },
    };
    return new Proxy(store, {
      get(target, key) {
        if (key === "shared") return countedShared;
        if (key === "load") {
          return async () => {
            const snapshot = await target.load();
            counts.fullLoads++;
            counts.fullRows += snapshot.streams.length;
            return snapshot;
          };
        }
        if (key === "commit") {
          return async (ops: WalOp[], nextStreamId: number) => {
            try {
              await target.commit(ops, nextStreamId);
            } catch (error) {
              if (isStale(error)) counts.staleCommits++;
              throw error;
            }
          };
        }
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  };
}

Deno.test("two nodes, 1,000 idle streams and one hot one: a stale retry reloads the hot stream only, and nothing is lost or duplicated", async () => {
  const zero = (): LoadCounts => ({
    fullLoads: 0,
    fullRows: 0,
    partialLoads: 0,
    partialRows: 0,
    staleCommits: 0,
  });
  const counts = [zero(), zero()];
  await withNodes(
    2,
    async ([a, b]) => {
      const idle = 1000;
      for (let i = 0; i < idle; i += 50) {
        await Promise.all(
          Array.from(
            { length: 50 },
            (_, j) => create(`${a.url}/v1/stream/idle-${i + j}`),
          ),
        );
      }
      const path = "/v1/stream/hot";
      await create(a.url + path);
      // B sees the creates through meta announcements naming them.
      const deadline = Date.now() + 10_000;
      while ((await call(b.url + path, "HEAD")).status !== 200) {
        assert.ok(Date.now() < deadline, "B never saw the hot stream");
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // Announcements still on their way would reload idle streams below.
      let settled = -1;
      while (settled !== counts[1].partialLoads) {
        settled = counts[1].partialLoads;
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
      const before = structuredClone(counts);
      // A appends, then B (planned from a tail A has moved: stale at least
      // once), then both at once.
      const post = (node: Node, body: unknown) =>
        call(node.url + path, "POST", JSON_TYPE, JSON.stringify(body));
      assert.equal((await post(a, { writer: -1, i: 0 })).status, 204);
      assert.equal((await post(b, { writer: -2, i: 0 })).status, 204);
      const writers = 4;
      const perWriter = 30;
      await Promise.all(
        Array.from({ length: writers }, async (_, writer) => {
          const node = writer % 2 === 0 ? a : b;
          for (let i = 0; i < perWriter; i++) {
            const res = await post(node, { writer, i });
            assert.equal(res.status, 204, res.text);
          }
        }),
      );
      const stale = counts[1].staleCommits - before[1].staleCommits +
        counts[0].staleCommits - before[0].staleCommits;
      assert.ok(stale >= 1, "B's first append was planned from a stale tail");
      for (const [n, now] of counts.entries()) {
        assert.equal(now.fullLoads, before[n].fullLoads, "no full reload");
        const loads = now.partialLoads - before[n].partialLoads;
        const rows = now.partialRows - before[n].partialRows;
        // Each reload reads the hot stream's row (and none of the idle ones).
        assert.ok(rows <= loads, `${rows} rows in ${loads} reloads`);
      }
      assert.ok(
        counts[1].partialLoads > before[1].partialLoads,
        "B reloaded the hot stream",
      );
      for (const node of [a, b]) {
        const records = await readAll(node.url + path) as {
          writer: number;
          i: number;
        }[];
        assert.equal(records.length, writers * perWriter + 2);
        const seen = new Set(records.map((r) => `${r.writer}/${r.i}`));
        assert.equal(seen.size, records.length, "no duplicates");
      }
    },
    {},
    (index) => counting(counts[index]),
  );
});
