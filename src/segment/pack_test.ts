import assert from "node:assert/strict";
import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { StreamError } from "../errors.ts";
import { encodeSegment } from "./format.ts";
import { openSegment } from "./reader.ts";
import { decodePackIndex, encodePack } from "./pack.ts";

const codec = createNodeZstdCodec();

function segment(streamId: number, text: string, startPos = 0): Uint8Array {
  const data = new TextEncoder().encode(text);
  return encodeSegment(
    [{ pos: startPos, data, key: null, timeMs: 1 }],
    { streamId: String(streamId), codec },
  );
}

Deno.test("encodePack() lays segment files end to end; each opens from its range and the index lists them", async () => {
  const inputs = [
    { streamId: 7, startPos: 0, endPos: 5, segment: segment(7, "hello") },
    { streamId: 9, startPos: 3, endPos: 8, segment: segment(9, "world", 3) },
  ];
  const { bytes, entries } = encodePack(inputs);
  assert.deepEqual(decodePackIndex(bytes, "p"), entries);
  for (const [i, e] of entries.entries()) {
    assert.equal(e.streamId, inputs[i].streamId);
    const file = bytes.subarray(e.offset, e.offset + e.length);
    assert.deepEqual(file, inputs[i].segment);
    const reader = await openSegment(file, { codec });
    const { records } = await reader.readFrom(e.startPos, 1000);
    assert.equal(
      new TextDecoder().decode(records[0].data),
      i === 0 ? "hello" : "world",
    );
  }
});

Deno.test("decodePackIndex() reports damage anywhere in the index or trailer as corrupt", () => {
  const { bytes } = encodePack([
    { streamId: 1, startPos: 0, endPos: 2, segment: segment(1, "ab") },
  ]);
  const indexStart = bytes.length - 24 - 8 - 40;
  for (let i = indexStart; i < bytes.length; i++) {
    const damaged = bytes.slice();
    damaged[i] ^= 0x40;
    assert.throws(
      () => decodePackIndex(damaged, "p"),
      (e) => e instanceof StreamError && e.kind === "corrupt",
      `byte ${i}`,
    );
  }
  for (let n = 0; n < bytes.length; n += 7) {
    assert.throws(
      () => decodePackIndex(bytes.subarray(0, n), "p"),
      (e) => e instanceof StreamError && e.kind === "corrupt",
      `truncated at ${n}`,
    );
  }
});
