import assert from "node:assert/strict";
import { freshSchema, sharedPgCluster } from "./_pg_testing.ts";
import {
  PgManifestGenerations,
  PgStreamLeases,
  preferredNode,
} from "./manifest_generations.ts";
import { openPgStore } from "./pg_store.ts";
import { PgSyncClient } from "./pg_sync.ts";
import { LEASE_SWEEP_MOVES_MAX } from "../limits.ts";
import { streamRow } from "./_contract.ts";

Deno.test("PgManifestGenerations: of two publishers from one generation, one moves it", async () => {
  const cluster = await sharedPgCluster();
  const schema = freshSchema("gen");
  const options = {
    url: cluster.url,
    schema,
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync" as const,
  };
  const wal = await openPgStore(options);
  const clients = [0, 1].map(() => new PgSyncClient(options));
  try {
    const [a, b] = clients.map((c) => new PgManifestGenerations(c));
    assert.equal(a.current(1), 0);
    assert.ok(a.advance(1, 0, 10));
    assert.equal(b.advance(1, 0, 11), false);
    assert.equal(b.current(1), 1);
    assert.ok(b.advance(1, 1, 12));
    assert.equal(a.advance(1, 1, 13), false);
    assert.ok(a.advance(1, a.current(1), 14));
    assert.equal(b.current(1), 3);
  } finally {
    for (const c of clients) c.close();
    await wal.close();
  }
});

Deno.test("PgStreamLeases: one holder at a time; a new holder's token fences the old one's publications", async () => {
  const cluster = await sharedPgCluster();
  const options = {
    url: cluster.url,
    schema: freshSchema("lease"),
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync" as const,
  };
  await (await openPgStore(options)).close();
  const clients = [0, 1].map(() => new PgSyncClient(options));
  try {
    const [a, b] = clients.map((c, i) => new PgStreamLeases(c, `n${i}`, 900));
    const generations = new PgManifestGenerations(clients[0]);
    const tokenA = a.hold(7, 1000)!;
    assert.equal(typeof tokenA, "number");
    assert.equal(b.hold(7, 1500), undefined, "held by a");
    assert.equal(a.hold(7, 1100), tokenA, "a keeps it");
    assert.equal(a.hold(7, 1400), tokenA, "a renews it, same token");
    assert.equal(b.hold(7, 2200), undefined, "renewed until 2300");
    const tokenB = b.hold(7, 2400)!; // expired: b takes it
    assert.equal(tokenB, tokenA + 1);
    assert.ok(a.hold(7, 2401) === undefined, "a lost it");
    assert.equal(generations.advance(7, 0, 2500, tokenA), false);
    assert.ok(generations.advance(7, 0, 2500, tokenB));
    assert.equal(generations.advance(7, 1, 2600, tokenA), false);
    assert.ok(generations.advance(7, 1, 2600, tokenB));
    assert.equal(generations.current(7), 2);
  } finally {
    for (const c of clients) c.close();
  }
});

Deno.test("PgStreamLeases.claimRelease: a gone stream is released by its holder, or once its lease expired by the first node to ask, and only once", async () => {
  const cluster = await sharedPgCluster();
  const options = {
    url: cluster.url,
    schema: freshSchema("release"),
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync" as const,
  };
  await (await openPgStore(options)).close();
  const clients = [0, 1].map(() => new PgSyncClient(options));
  try {
    const [a, b] = clients.map((c, i) => new PgStreamLeases(c, `n${i}`, 900));
    const generations = new PgManifestGenerations(clients[0]);
    // Held by a: b waits, a releases, then b finds it done.
    const token = a.hold(3, 1000)!;
    assert.equal(b.claimRelease(3, 1100), "wait");
    assert.equal(a.claimRelease(3, 1200), "release");
    assert.equal(b.claimRelease(3, 1300), "done");
    assert.equal(a.claimRelease(3, 1300), "done");
    // Retired: the old token is fenced, and nobody takes it again.
    assert.equal(generations.advance(3, 0, 1400, token), false);
    assert.equal(a.hold(3, 10_000_000), undefined);
    assert.equal(b.hold(3, 10_000_000), undefined);
    // Held by a whose lease expired: b releases it.
    a.hold(4, 1000);
    assert.equal(b.claimRelease(4, 1500), "wait");
    assert.equal(b.claimRelease(4, 2000), "release");
    assert.equal(a.claimRelease(4, 2000), "done");
    // Never leased: the first to ask releases it.
    assert.equal(b.claimRelease(5, 1000), "release");
    assert.equal(a.claimRelease(5, 1000), "done");
  } finally {
    for (const c of clients) c.close();
  }
});

Deno.test("preferredNode(): streams spread over the nodes, and a node joining takes only streams from the others", () => {
  const two = ["node-a", "node-b"];
  const three = [...two, "node-c"];
  const counts = new Map<string, number>();
  let moved = 0;
  for (let id = 1; id <= 3000; id++) {
    const before = preferredNode(two, id)!;
    const after = preferredNode(three, id)!;
    counts.set(after, (counts.get(after) ?? 0) + 1);
    if (before !== after) {
      moved++;
      assert.equal(after, "node-c", "a stream moves only to the new node");
    }
    assert.equal(preferredNode([...three].reverse(), id), after);
  }
  for (const node of three) {
    const n = counts.get(node) ?? 0;
    assert.ok(n > 800 && n < 1200, `${node}: ${n} of 3000`);
  }
  assert.ok(moved > 800 && moved < 1200, `moved ${moved} of 3000`);
  assert.equal(preferredNode([], 1), undefined);
});

Deno.test("PgStreamLeases: registered nodes take the leases of their preferred streams only; a joining node gets its share with new tokens", async () => {
  const cluster = await sharedPgCluster();
  const options = {
    url: cluster.url,
    schema: freshSchema("place"),
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync" as const,
  };
  await (await openPgStore(options)).close();
  const client = new PgSyncClient(options);
  const beat = (node: string, atMs: number) =>
    client.query(
      `INSERT INTO nodes VALUES ($1, $2, $2) ON CONFLICT (node_id)
        DO UPDATE SET heartbeat_at_ms = $2`,
      [node, atMs],
      "test heartbeat",
    );
  try {
    const ids = Array.from({ length: 30 }, (_, i) => i + 1);
    const names = ["n0", "n1", "n2"];
    const leases = names.map((n) => new PgStreamLeases(client, n, 60_000));
    const t0 = 100_000;
    beat("n0", t0);
    beat("n1", t0);
    const holders = (nowMs: number, count: number) =>
      ids.map((id) => {
        const held = leases.slice(0, count).map((l) => l.hold(id, nowMs));
        assert.ok(held.filter((t) => t !== undefined).length <= 1);
        const i = held.findIndex((t) => t !== undefined);
        return { node: i < 0 ? undefined : names[i], token: held[i] };
      });
    // n0 asks first for every stream, but takes only its own.
    const first = holders(t0, 2);
    for (const [i, id] of ids.entries()) {
      assert.equal(first[i].node, preferredNode(["n0", "n1"], id));
    }
    assert.ok(first.some((h) => h.node === "n0"));
    assert.ok(first.some((h) => h.node === "n1"));
    // n2 joins; once the others read the nodes again, they let its
    // streams go and it takes them with a new token.
    beat("n2", t0 + 6000);
    beat("n0", t0 + 6000);
    beat("n1", t0 + 6000);
    const released = holders(t0 + 6000, 2);
    const second = holders(t0 + 6001, 3);
    let moved = 0;
    for (const [i, id] of ids.entries()) {
      const want = preferredNode(names, id);
      assert.equal(second[i].node, want, `stream ${id}`);
      if (want === "n2") {
        moved++;
        assert.equal(released[i].node, undefined, "let go first");
        assert.equal(second[i].token, first[i].token! + 1, "a new token");
      } else {
        assert.equal(second[i].node, first[i].node, "only n2's streams move");
        assert.equal(second[i].token, first[i].token);
      }
    }
    assert.ok(moved > 0 && moved < ids.length, `moved ${moved}`);
  } finally {
    client.close();
  }
});

Deno.test("PgStreamLeases.sweep: a page takes the leases placement gives the node, idle streams too, lets go of the others, at most LEASE_SWEEP_MOVES_MAX moves, and reports held streams with unpublished records", async () => {
  const cluster = await sharedPgCluster();
  const options = {
    url: cluster.url,
    schema: freshSchema("sweep"),
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync" as const,
  };
  await (await openPgStore(options)).close();
  const client = new PgSyncClient(options);
  const sql = (text: string, values: unknown[] = []) =>
    client.query(text, values, "test");
  const beat = (node: string, atMs: number) =>
    sql(
      `INSERT INTO nodes VALUES ($1, $2, $2) ON CONFLICT (node_id)
        DO UPDATE SET heartbeat_at_ms = $2`,
      [node, atMs],
    );
  try {
    // 40 streams whose lease a dead node let lapse; the even ones have
    // published everything, the odd ones have 50 unpublished bytes.
    const ids = Array.from({ length: 40 }, (_, i) => i + 1);
    for (const id of ids) {
      sql(
        `INSERT INTO streams (id, name, content_type, created_at_ms,
          accessed_at_ms, tail_pos, closed) VALUES ($1, $2, 'x', 0, 0, 100, false)`,
        [id, `s${id}`],
      );
      sql(
        "INSERT INTO segments VALUES ($1, 0, $2, 10, true)",
        [id, id % 2 === 0 ? 100 : 50],
      );
      sql("INSERT INTO stream_leases VALUES ($1, 'gone', 4, 1)", [id]);
    }
    const t0 = 100_000;
    const [n0, n1] = ["n0", "n1"].map((n) =>
      new PgStreamLeases(client, n, 60_000, true)
    );
    // Not live yet (no heartbeat): it takes nothing.
    assert.deepEqual(n0.sweep(0, t0), { held: [], next: undefined });
    assert.equal(n0.hold(1, t0), undefined);
    beat("n0", t0 + 6000);
    // Alone: every stream is its own, at most LEASE_SWEEP_MOVES_MAX a page.
    const first = n0.sweep(0, t0 + 6000);
    assert.equal(first.next, LEASE_SWEEP_MOVES_MAX);
    assert.deepEqual(
      first.held.map((h) => h.streamId),
      ids.filter((id) => id % 2 === 1 && id <= LEASE_SWEEP_MOVES_MAX),
    );
    assert.deepEqual(first.held[0], {
      streamId: 1,
      tailPos: 100,
      sealedThrough: 50,
      uploadedThrough: 50,
    });
    const second = n0.sweep(first.next!, t0 + 6000);
    assert.equal(second.next, undefined);
    const holders = () =>
      new Map(
        sql("SELECT stream_id, node_id, token FROM stream_leases").map((
          r,
        ) => [Number(r.stream_id), `${r.node_id}:${r.token}`]),
      );
    for (const [, holder] of holders()) assert.equal(holder, "n0:5");
    // n1 joins: n0 lets its share go (idle ones too), n1 takes them.
    beat("n0", t0 + 12_000);
    beat("n1", t0 + 12_000);
    for (const leases of [n0, n1, n1]) {
      let next: number | undefined = 0;
      do next = leases.sweep(next, t0 + 12_000).next; while (
        next !== undefined
      );
    }
    const moved = holders();
    let n1Count = 0;
    for (const id of ids) {
      const want = preferredNode(["n0", "n1"], id);
      if (want === "n1") n1Count++;
      assert.equal(moved.get(id), want === "n1" ? "n1:6" : "n0:5", `${id}`);
    }
    assert.ok(n1Count > 0 && n1Count < ids.length);
  } finally {
    client.close();
  }
});

Deno.test("PgStreamLeases.claimRelease with the release log: one node at a time releases a logged stream until its row goes; a dead releaser's claim is taken over once it runs out", async () => {
  const cluster = await sharedPgCluster();
  const options = {
    url: cluster.url,
    schema: freshSchema("relog"),
    poolSize: 1,
    statementTimeoutMs: 5000,
    connectTimeoutMs: 2000,
    durability: "fsync" as const,
  };
  const wal = await openPgStore(options);
  const clients = [0, 1, 2].map(() => new PgSyncClient(options));
  try {
    const [a, b, c] = clients.map((cl, i) =>
      new PgStreamLeases(cl, `n${i}`, 900)
    );
    await wal.commit([
      { op: "create", stream: streamRow(1, "x") },
      { op: "create", stream: streamRow(2, "y") },
    ], 3);
    a.hold(1, 1000);
    a.hold(2, 1000);
    await wal.commit([
      { op: "delete", streamId: 1 },
      { op: "delete", streamId: 2 },
    ], 3);
    assert.deepEqual(await wal.pendingReleases(0, 10), [1, 2]);
    // Stream 1: a releases; while its row is there the others wait, then
    // they find it done.
    assert.equal(b.claimRelease(1, 1100), "wait");
    assert.equal(a.claimRelease(1, 1200), "release");
    assert.equal(b.claimRelease(1, 1300), "wait");
    assert.equal(a.claimRelease(1, 1400), "release", "a's own claim");
    await wal.released(1);
    assert.equal(b.claimRelease(1, 1500), "done");
    assert.equal(a.claimRelease(1, 1500), "done");
    // Stream 2: a claims it and dies mid-release. Its claim runs out 900
    // ms later; then exactly one other node takes the release over.
    assert.equal(a.claimRelease(2, 1200), "release");
    assert.equal(b.claimRelease(2, 2000), "wait", "a's claim holds");
    assert.equal(b.claimRelease(2, 2200), "release", "taken over");
    assert.equal(c.claimRelease(2, 2300), "wait", "b's claim holds");
    await wal.released(2);
    assert.equal(c.claimRelease(2, 9000), "done");
    assert.deepEqual(await wal.pendingReleases(0, 10), []);
  } finally {
    for (const cl of clients) cl.close();
    await wal.close();
  }
});
