import assert from "node:assert/strict";
import { decodeKeys, encodeKeys } from "../record_meta.ts";
import { mergeChunks, seekTimeInChunk } from "./chunk.ts";
import type { Chunk } from "./wal_store.ts";

const enc = new TextEncoder();

function chunk(
  startPos: number,
  texts: string[],
  keys: (string | null)[] | null,
  times: number[] | null,
): Chunk {
  const data = enc.encode(texts.join(""));
  return {
    startPos,
    endPos: startPos + data.length,
    data,
    lengths: texts.length > 1 ? Uint32Array.from(texts, (t) => t.length) : null,
    keys: keys === null
      ? null
      : encodeKeys(keys.map((k) => k === null ? null : enc.encode(k))),
    times: times === null ? null : Float64Array.from(times),
  };
}

Deno.test("mergeChunks() keeps every record's key and time, untimed and unkeyed chunks included", () => {
  const merged = mergeChunks([
    chunk(0, ["ab", "c"], ["k1", null], [5, 5]),
    chunk(3, ["dd"], null, null),
    chunk(5, ["e", "ff"], ["k2", "k1"], [9, 9]),
  ]);
  assert.equal(new TextDecoder().decode(merged.data), "abcddeff");
  assert.deepEqual([...merged.lengths!], [2, 1, 2, 1, 2]);
  assert.deepEqual(
    decodeKeys(merged.keys, 5).map((k) =>
      k === null ? null : new TextDecoder().decode(k)
    ),
    ["k1", null, null, "k2", "k1"],
  );
  assert.deepEqual([...merged.times!], [5, 5, 0, 9, 9]);
  const plain = mergeChunks([
    chunk(0, ["a"], null, null),
    chunk(1, ["b"], null, null),
  ]);
  assert.equal(plain.keys, null);
  assert.equal(plain.times, null);
});

Deno.test("seekTimeInChunk() finds the first record at or after a time from a position", () => {
  const c = chunk(10, ["aa", "bb", "cc"], null, [1, 4, 4]);
  assert.equal(seekTimeInChunk(c, 10, 0), 10);
  assert.equal(seekTimeInChunk(c, 10, 2), 12);
  assert.equal(seekTimeInChunk(c, 13, 2), 12); // the record holding 13
  assert.equal(seekTimeInChunk(c, 14, 4), 14);
  assert.equal(seekTimeInChunk(c, 10, 5), undefined);
  assert.equal(seekTimeInChunk(chunk(0, ["x"], null, null), 0, 0), 0);
  assert.equal(seekTimeInChunk(chunk(0, ["x"], null, null), 0, 1), undefined);
});
