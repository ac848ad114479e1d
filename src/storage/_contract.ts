/**
 * @module
 * The `WalStore` contract: one suite every implementation must pass
 * (SQLite now, PostgreSQL later). Call `walStoreContract(name, open)` from an
 * implementation's test file; `open(dir)` must reopen the same store when
 * given the same directory.
 */

import assert from "node:assert/strict";
import { decodeKeys, encodeKeys } from "../record_meta.ts";
import type { StreamRow, WalOp, WalStore } from "./wal_store.ts";

/** Opens a store keeping its data under `dir`. */
export type OpenStore = (dir: string) => WalStore | Promise<WalStore>;

/** A stream row with defaults, for contract tests and benchmarks. */
export function streamRow(
  id: number,
  name: string,
  extra: Partial<StreamRow> = {},
): StreamRow {
  return {
    id,
    name,
    contentType: "application/octet-stream",
    createdAtMs: 1000,
    accessedAtMs: 1000,
    ttlSeconds: null,
    expiresAtMs: null,
    tailPos: 0,
    closed: false,
    closedBy: null,
    streamSeq: null,
    forkedFrom: null,
    forkPos: null,
    softDeleted: false,
    lastTimeMs: 0,
    ...extra,
  };
}

/** An append of one record at `startPos` that leaves the stream open. */
export function appendRecord(
  streamId: number,
  startPos: number,
  data: Uint8Array,
): WalOp {
  const endPos = startPos + data.length;
  return {
    op: "append",
    streamId,
    chunk: { startPos, endPos, data, lengths: null, keys: null, times: null },
    tail: {
      tailPos: endPos,
      closed: false,
      closedBy: null,
      streamSeq: null,
      accessedAtMs: 0,
      lastTimeMs: 0,
    },
  };
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** Registers the contract tests for one implementation. */
export function walStoreContract(name: string, open: OpenStore): void {
  const withStore = (
    title: string,
    fn: (store: WalStore, dir: string) => Promise<void>,
  ) =>
    Deno.test(`${name}: ${title}`, async () => {
      const dir = await Deno.makeTempDir({ prefix: "walstore-" });
      const store = await open(dir);
      try {
        await fn(store, dir);
      } finally {
        await store.close();
        await Deno.remove(dir, { recursive: true });
      }
    });

  withStore("an empty store loads nothing", async (store) => {
    const snapshot = await store.load();
    assert.deepEqual(snapshot.streams, []);
    assert.equal("producers" in snapshot, false, "producers load on demand");
    assert.deepEqual(snapshot.schemaRegistries, []);
    assert.deepEqual(snapshot.profiles, []);
    assert.equal(snapshot.nextStreamId, 1);
  });

  withStore("commits survive a reopen exactly", async (store, dir) => {
    const row = streamRow(7, "a/b", {
      ttlSeconds: 60,
      contentType: "application/json",
    });
    await store.commit([
      { op: "create", stream: row },
      {
        op: "append",
        streamId: 7,
        chunk: {
          startPos: 0,
          endPos: 6,
          data: bytes("1,22,3"),
          lengths: Uint32Array.of(2, 3, 1),
          keys: null,
          times: null,
        },
        tail: {
          tailPos: 6,
          closed: true,
          closedBy: { producerId: "p", epoch: 2, seq: 9 },
          streamSeq: "s1",
          accessedAtMs: 5000,
          lastTimeMs: 0,
        },
      },
      {
        op: "producer",
        row: {
          streamId: 7,
          producerId: "p",
          epoch: 2,
          seq: 9,
          updatedAtMs: 5000,
        },
      },
    ], 8);
    await store.close();
    const again = await open(dir);
    try {
      const snapshot = await again.load();
      assert.equal(snapshot.nextStreamId, 8);
      assert.deepEqual(snapshot.streams, [{
        ...row,
        tailPos: 6,
        closed: true,
        closedBy: { producerId: "p", epoch: 2, seq: 9 },
        streamSeq: "s1",
        accessedAtMs: 5000,
      }]);
      assert.deepEqual(await again.loadProducers(7), [{
        streamId: 7,
        producerId: "p",
        epoch: 2,
        seq: 9,
        updatedAtMs: 5000,
      }]);
      assert.deepEqual(await again.loadProducers(8), []);
      const chunks = await again.readChunks(7, 0, 6, 1000);
      assert.equal(chunks.length, 1);
      assert.equal(text(chunks[0].data), "1,22,3");
      assert.deepEqual([...chunks[0].lengths!], [2, 3, 1]);
    } finally {
      await again.close();
    }
  });

  withStore(
    "readChunks() starts at the chunk holding the position and honours the byte cap",
    async (store) => {
      await store.commit([{ op: "create", stream: streamRow(1, "s") }], 2);
      let pos = 0;
      for (const piece of ["aaaa", "bbbb", "cccc", "dddd"]) {
        await store.commit([appendRecord(1, pos, bytes(piece))], 2);
        pos += 4;
      }
      const fromMiddle = await store.readChunks(1, 5, 16, 1000);
      assert.deepEqual(fromMiddle.map((c) => text(c.data)), [
        "bbbb",
        "cccc",
        "dddd",
      ]);
      const capped = await store.readChunks(1, 0, 16, 5);
      assert.deepEqual(capped.map((c) => text(c.data)), ["aaaa", "bbbb"]);
      const bounded = await store.readChunks(1, 0, 8, 1000);
      assert.deepEqual(bounded.map((c) => text(c.data)), ["aaaa", "bbbb"]);
      assert.deepEqual(await store.readChunks(1, 16, 16, 1000), []);
    },
  );

  withStore("a failed batch leaves nothing behind", async (store) => {
    await store.commit([{ op: "create", stream: streamRow(1, "dup") }], 2);
    await assert.rejects(
      store.commit([
        appendRecord(1, 0, bytes("x")),
        { op: "create", stream: streamRow(2, "dup") }, // unique name violated
      ], 3),
    );
    const snapshot = await store.load();
    assert.equal(snapshot.streams.length, 1);
    assert.equal(snapshot.streams[0].tailPos, 0);
    assert.deepEqual(await store.readChunks(1, 0, 1, 100), []);
  });

  withStore(
    "profiles commit with registries, survive a reopen, go with their stream",
    async (store, dir) => {
      await store.commit([
        {
          op: "create",
          stream: streamRow(1, "s", { contentType: "application/json" }),
        },
        { op: "create", stream: streamRow(2, "t") },
        { op: "profile", streamId: 1, kind: "evlog", options: '{"k":1}' },
        { op: "schema_registry", streamId: 1, registry: '{"v":1}' },
        { op: "profile", streamId: 2, kind: "generic", options: '{"k":2}' },
      ], 3);
      // A failed batch keeps neither its registry nor its profile.
      await assert.rejects(store.commit([
        { op: "profile", streamId: 1, kind: "metrics", options: '{"k":3}' },
        { op: "schema_registry", streamId: 1, registry: '{"v":3}' },
        { op: "create", stream: streamRow(3, "t") }, // unique name violated
      ], 4));
      await store.commit([
        { op: "profile", streamId: 2, kind: null, options: null },
      ], 3);
      await store.close();
      const again = await open(dir);
      try {
        let snapshot = await again.load();
        assert.deepEqual(snapshot.profiles, [
          { streamId: 1, kind: "evlog", options: '{"k":1}' },
        ]);
        assert.deepEqual(snapshot.schemaRegistries, [
          { streamId: 1, registry: '{"v":1}' },
        ]);
        await again.commit([{ op: "delete", streamId: 1 }], 3);
        snapshot = await again.load();
        assert.deepEqual(snapshot.profiles, []);
      } finally {
        await again.close();
      }
    },
  );

  withStore(
    "schema registries commit with appends, survive a reopen, go with their stream",
    async (store, dir) => {
      await store.commit([
        {
          op: "create",
          stream: streamRow(1, "s", { contentType: "application/json" }),
        },
        { op: "create", stream: streamRow(2, "t") },
        { op: "schema_registry", streamId: 1, registry: '{"v":1}' },
        { op: "schema_registry", streamId: 2, registry: '{"v":"t"}' },
      ], 3);
      await store.commit([
        appendRecord(1, 0, bytes("1,")),
        { op: "schema_registry", streamId: 1, registry: '{"v":2}' },
      ], 3);
      // A failed batch keeps neither its append nor its registry change.
      await assert.rejects(store.commit([
        appendRecord(1, 2, bytes("2,")),
        { op: "schema_registry", streamId: 1, registry: '{"v":3}' },
        { op: "create", stream: streamRow(3, "t") }, // unique name violated
      ], 4));
      await store.commit([{
        op: "schema_registry",
        streamId: 2,
        registry: null,
      }], 3);
      await store.close();
      const again = await open(dir);
      try {
        let snapshot = await again.load();
        assert.deepEqual(snapshot.schemaRegistries, [
          { streamId: 1, registry: '{"v":2}' },
        ]);
        assert.equal(snapshot.streams[0].tailPos, 2);
        await again.commit([{ op: "delete", streamId: 1 }], 3);
        snapshot = await again.load();
        assert.deepEqual(snapshot.schemaRegistries, []);
      } finally {
        await again.close();
      }
    },
  );

  withStore(
    "delete removes a stream's chunks and producers; soft delete keeps them",
    async (store) => {
      await store.commit([
        { op: "create", stream: streamRow(1, "gone") },
        { op: "create", stream: streamRow(2, "kept") },
        appendRecord(2, 0, bytes("hi")),
        {
          op: "producer",
          row: {
            streamId: 1,
            producerId: "p",
            epoch: 0,
            seq: 0,
            updatedAtMs: 0,
          },
        },
      ], 3);
      await store.commit([{ op: "delete", streamId: 1 }, {
        op: "soft_delete",
        streamId: 2,
      }], 3);
      const snapshot = await store.load();
      assert.deepEqual(snapshot.streams.map((s) => [s.name, s.softDeleted]), [[
        "kept",
        true,
      ]]);
      assert.deepEqual(await store.loadProducers(1), []);
      assert.deepEqual(await store.loadProducers(2), []);
      assert.equal((await store.readChunks(2, 0, 2, 100)).length, 1);
    },
  );
}

/** Registers the release log tests for one implementation. */
export function walStoreReleaseContract(name: string, open: OpenStore): void {
  Deno.test(`${name}: a delete records its stream in the release log, in its transaction; released() takes it out; the log survives a reopen`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "walstore-" });
    let store = await open(dir);
    try {
      assert.deepEqual(await store.pendingReleases(0, 10), []);
      await store.commit([
        { op: "create", stream: streamRow(1, "a") },
        { op: "create", stream: streamRow(2, "b") },
        { op: "create", stream: streamRow(3, "c") },
        { op: "create", stream: streamRow(4, "d") },
      ], 5);
      await store.commit([{ op: "soft_delete", streamId: 2 }], 5);
      // A batch that fails records nothing.
      await assert.rejects(store.commit([
        { op: "delete", streamId: 1 },
        { op: "create", stream: streamRow(5, "c") }, // unique name violated
      ], 6));
      assert.deepEqual(await store.pendingReleases(0, 10), []);
      await store.commit([
        { op: "delete", streamId: 3 },
        { op: "delete", streamId: 1 },
      ], 5);
      await store.commit([{ op: "delete", streamId: 4 }], 5);
      assert.deepEqual(await store.pendingReleases(0, 10), [1, 3, 4]);
      // Pages in id order.
      assert.deepEqual(await store.pendingReleases(0, 2), [1, 3]);
      assert.deepEqual(await store.pendingReleases(3, 2), [4]);
      await store.close();
      store = await open(dir);
      assert.deepEqual(await store.pendingReleases(0, 10), [1, 3, 4]);
      await store.released(3);
      await store.released(3); // gone already: nothing
      await store.released(99);
      assert.deepEqual(await store.pendingReleases(0, 10), [1, 4]);
      // A name deleted and created again gets a new id, never a logged one.
      const snapshot = await store.load();
      assert.ok(snapshot.nextStreamId > 4);
      assert.deepEqual(snapshot.streams.map((s) => s.id), [2]);
    } finally {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** Registers the segment-row and truncation tests for one implementation. */
export function walStoreSegmentContract(name: string, open: OpenStore): void {
  Deno.test(`${name}: segments are recorded, truncate() drops covered chunks only, delete drops rows`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "walstore-" });
    let store = await open(dir);
    try {
      await store.commit([{ op: "create", stream: streamRow(1, "s") }], 2);
      let pos = 0;
      for (const record of ["aaaa", "bbbb", "cccc"]) {
        await store.commit([appendRecord(1, pos, bytes(record))], 2);
        pos += 4;
      }
      const seg = {
        streamId: 1,
        startPos: 0,
        endPos: 8,
        sizeBytes: 99,
        uploaded: false,
      };
      await store.addSegment(seg);
      // A row for a stream that does not exist (deleted meanwhile) is ignored.
      await store.addSegment({ ...seg, streamId: 42 });
      assert.deepEqual((await store.load()).segments, [seg]);
      await store.truncate(1, 6); // chunk [4, 8) straddles 6: it stays
      assert.deepEqual(
        (await store.readChunks(1, 0, 12, 100)).map((c) => c.startPos),
        [4, 8],
      );
      assert.equal((await store.load()).segments[0].uploaded, false);
      await store.truncate(1, 8);
      assert.deepEqual(
        (await store.readChunks(1, 0, 12, 100)).map((c) => text(c.data)),
        ["cccc"],
      );
      await store.close();
      store = await open(dir);
      const snapshot = await store.load();
      assert.deepEqual(snapshot.segments, [{ ...seg, uploaded: true }]);
      assert.equal(snapshot.streams[0].tailPos, 12);
      // Bootstrap path: segment rows inside a commit, beside the create.
      await store.commit([
        { op: "create", stream: streamRow(5, "r", { tailPos: 10 }) },
        {
          op: "segment",
          streamId: 5,
          segment: {
            streamId: 5,
            startPos: 0,
            endPos: 10,
            sizeBytes: 50,
            uploaded: true,
          },
        },
        { op: "delete", streamId: 1 },
      ], 6);
      assert.deepEqual(
        (await store.load()).segments.map((s) => [s.streamId, s.endPos]),
        [[5, 10]],
      );
    } finally {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** Registers the compaction contract tests for one implementation. */
export function walStoreCompactionContract(
  name: string,
  open: OpenStore,
): void {
  Deno.test(`${name}: compact() merges small chunks without changing bytes or boundaries`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "walstore-" });
    const store = await open(dir);
    try {
      await store.commit([{ op: "create", stream: streamRow(1, "c") }], 2);
      let pos = 0;
      const records: string[] = [];
      for (let i = 0; i < 10; i++) {
        const record = `r${i};`.repeat(i % 3 + 1);
        records.push(record);
        await store.commit([appendRecord(1, pos, bytes(record))], 2);
        pos += record.length;
      }
      const compacted = await store.compact(1, 0, pos, 12, 1 << 20);
      assert.ok(compacted > 0 && compacted <= pos);
      const chunks = await store.readChunks(1, 0, pos, 1 << 20);
      assert.ok(chunks.length < 10, `merged into ${chunks.length} chunks`);
      assert.equal(chunks.map((c) => text(c.data)).join(""), records.join(""));
      const lengths = chunks.flatMap((c) =>
        c.lengths === null ? [c.data.length] : [...c.lengths]
      );
      assert.deepEqual(
        lengths,
        records.map((r) => r.length),
        "record boundaries kept",
      );
      for (let i = 1; i < chunks.length; i++) {
        assert.equal(chunks[i - 1].endPos, chunks[i].startPos);
      }
      // Everything below the returned position is full-size; calling again is a no-op there.
      assert.equal(
        await store.compact(1, compacted, pos, 12, 1 << 20),
        compacted,
      );
    } finally {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/** Records as the keys-and-times contract appends them. */
interface TimedRecord {
  text: string;
  key: string | null;
  timeMs: number;
}

function timedAppend(
  streamId: number,
  startPos: number,
  records: readonly TimedRecord[],
): WalOp {
  const data = bytes(records.map((r) => r.text).join(""));
  const endPos = startPos + data.length;
  return {
    op: "append",
    streamId,
    chunk: {
      startPos,
      endPos,
      data,
      lengths: records.length > 1
        ? Uint32Array.from(records, (r) => r.text.length)
        : null,
      keys: encodeKeys(
        records.map((r) => r.key === null ? null : bytes(r.key)),
      ),
      times: Float64Array.from(records, (r) => r.timeMs),
    },
    tail: {
      tailPos: endPos,
      closed: false,
      closedBy: null,
      streamSeq: null,
      accessedAtMs: 0,
      lastTimeMs: records[records.length - 1].timeMs,
    },
  };
}

/**
 * Registers the routing-key and append-time tests for one implementation:
 * keys and times come back exactly (after a reopen and a compaction), the
 * stream's last time is kept, and `seekTime` finds the first record at or
 * after a time.
 */
export function walStoreKeysContract(name: string, open: OpenStore): void {
  Deno.test(`${name}: keys and append times round-trip, survive compaction and reopening, and seekTime() finds records`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "walstore-" });
    let store = await open(dir);
    try {
      await store.commit([{ op: "create", stream: streamRow(1, "k") }], 2);
      const all: TimedRecord[] = [];
      let pos = 0;
      for (let i = 0; i < 12; i++) {
        const batch: TimedRecord[] = [];
        for (let j = 0; j <= i % 3; j++) {
          batch.push({
            text: `r${i}.${j};`,
            key: (i + j) % 4 === 0 ? null : `key-${(i + j) % 3}`,
            timeMs: 1000 + i * 10,
          });
        }
        await store.commit([timedAppend(1, pos, batch)], 2);
        pos += batch.reduce((n, r) => n + r.text.length, 0);
        all.push(...batch);
      }
      const check = async (what: string) => {
        const chunks = await store.readChunks(1, 0, pos, 1 << 20);
        const got: TimedRecord[] = [];
        for (const c of chunks) {
          const count = c.lengths?.length ?? 1;
          const keys = decodeKeys(c.keys, count);
          let at = 0;
          for (let i = 0; i < count; i++) {
            const length = c.lengths?.[i] ?? c.data.length;
            got.push({
              text: text(c.data.subarray(at, at + length)),
              key: keys[i] === null ? null : text(keys[i]!),
              timeMs: c.times?.[i] ?? 0,
            });
            at += length;
          }
        }
        assert.deepEqual(got, all, what);
      };
      await check("as written");
      await store.close();
      store = await open(dir);
      await check("after reopening");
      const snapshot = await store.load();
      assert.equal(snapshot.streams[0].lastTimeMs, 1110);
      await store.compact(1, 0, pos, 40, 1 << 20);
      await check("after compaction");
      // The first record with time >= t, for times on, between and past records.
      const starts: number[] = [];
      let at = 0;
      for (const r of all) {
        starts.push(at);
        at += r.text.length;
      }
      for (const t of [0, 1000, 1001, 1050, 1055, 1110, 1111]) {
        const first = all.findIndex((r) => r.timeMs >= t);
        const expected = first < 0 ? undefined : starts[first];
        assert.equal(await store.seekTime(1, 0, pos, t), expected, `t=${t}`);
      }
      // From a later position, and bounded above.
      assert.equal(await store.seekTime(1, starts[10], pos, 0), starts[10]);
      assert.equal(await store.seekTime(1, 0, starts[5], 1100), undefined);
    } finally {
      await store.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
