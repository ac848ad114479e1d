import assert from "node:assert/strict";
import { encodeKeys } from "../record_meta.ts";
import type { Chunk } from "../storage/wal_store.ts";
import { gatherKeyed, type KeyedChunkReader } from "./keyed_reader.ts";
import type { ReadSource } from "./reader.ts";

const enc = new TextEncoder();
const dec = (pieces: Uint8Array[]) =>
  pieces.map((p) => new TextDecoder().decode(p)).join("");

/** One chunk per entry of `records` ([text, key]), from `startPos`. */
function chunks(startPos: number, records: [string, string | null][][]) {
  const out: Chunk[] = [];
  let pos = startPos;
  for (const run of records) {
    const data = enc.encode(run.map(([t]) => t).join(""));
    out.push({
      startPos: pos,
      endPos: pos + data.length,
      data,
      lengths: run.length > 1 ? Uint32Array.from(run, ([t]) => t.length) : null,
      keys: encodeKeys(run.map(([, k]) => k === null ? null : enc.encode(k))),
      times: null,
    });
    pos += data.length;
  }
  return out;
}

function readerOf(
  byId: Map<number, Chunk[]>,
  skip: (c: Chunk) => boolean = () => false,
): KeyedChunkReader {
  return (id, from, end) =>
    Promise.resolve(
      (byId.get(id) ?? []).filter((c) => c.endPos > from && c.startPos < end)
        .map((c) =>
          skip(c)
            ? { skipped: true as const, startPos: c.startPos, endPos: c.endPos }
            : c
        ),
    );
}

const LIMITS = { bytesMax: 1 << 20, scanBytesMax: 1 << 20, sliceBytes: 64 };

Deno.test("gatherKeyed() keeps the key's records only, byte for byte, and ends after the last record examined", async () => {
  const stream = chunks(0, [
    [["aa", "k"], ["bb", "kk"], ["cc", null]],
    [["dd", "k"]],
    [["ee", "K"], ["ff", "k"]],
  ]);
  const source: ReadSource = { id: 1, parent: undefined, forkPos: 0 };
  const got = await gatherKeyed(
    readerOf(new Map([[1, stream]])),
    source,
    0,
    12,
    enc.encode("k"),
    LIMITS,
  );
  assert.equal(dec(got.pieces), "aaddff");
  assert.equal(got.endPos, 12);
  assert.equal(got.scannedBytes, 12);
  assert.equal(got.scanLimitReached, false);
  // From inside a record: that record is examined whole.
  const mid = await gatherKeyed(
    readerOf(new Map([[1, stream]])),
    source,
    7,
    12,
    enc.encode("k"),
    LIMITS,
  );
  assert.equal(dec(mid.pieces), "dd" + "ff");
});

Deno.test("gatherKeyed() counts skipped ranges as scanned, stops at the scan budget and at the answer cap", async () => {
  const stream = chunks(0, [
    [["aa", "x"], ["bb", "x"]],
    [["cc", "k"], ["dd", "k"]],
    [["ee", "x"]],
    [["ff", "k"]],
  ]);
  const skipX = (c: Chunk) => c.startPos === 0 || c.startPos === 8;
  const source: ReadSource = { id: 1, parent: undefined, forkPos: 0 };
  const read = readerOf(new Map([[1, stream]]), skipX);
  const all = await gatherKeyed(read, source, 0, 12, enc.encode("k"), LIMITS);
  assert.equal(dec(all.pieces), "ccddff");
  assert.equal(all.scannedBytes, 12);
  const budget = await gatherKeyed(read, source, 0, 12, enc.encode("k"), {
    ...LIMITS,
    scanBytesMax: 5,
  });
  assert.equal(dec(budget.pieces), "cc");
  assert.equal(budget.endPos, 6);
  assert.equal(budget.scanLimitReached, true);
  const capped = await gatherKeyed(read, source, 0, 12, enc.encode("k"), {
    ...LIMITS,
    bytesMax: 3,
  });
  assert.equal(dec(capped.pieces), "cc"); // "dd" would pass the cap
  assert.equal(capped.endPos, 6); // ... so it is examined again next time
  assert.equal(capped.scanLimitReached, false);
});

Deno.test("gatherKeyed() reads a fork's source below the fork point, clipped there", async () => {
  const source = chunks(0, [[["aaa", "k"], ["bbb", "k"], ["ccc", "k"]]]);
  const fork = chunks(5, [[["dd", "k"], ["ee", "j"]]]);
  const parent: ReadSource = { id: 1, parent: undefined, forkPos: 0 };
  const child: ReadSource = { id: 2, parent, forkPos: 5 };
  const got = await gatherKeyed(
    readerOf(new Map([[1, source], [2, fork]])),
    child,
    0,
    9,
    enc.encode("k"),
    LIMITS,
  );
  assert.equal(dec(got.pieces), "aaabbdd"); // "bbb" cut at the fork point
  assert.equal(got.endPos, 9);
});
