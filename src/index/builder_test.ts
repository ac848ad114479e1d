import assert from "node:assert/strict";
import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { encodeSegment } from "../segment/format.ts";
import { inThreadRunBuilder, workerRunBuilder } from "./builder.ts";
import { segmentKeys } from "./fingerprint.ts";
import { decodeLexicon } from "./lexicon.ts";
import { decodeRun } from "./run_format.ts";

const enc = new TextEncoder();

/** Segment `s`: records keyed k<i % 7>, every fifth without a key. */
function segmentOf(s: number, records: number): {
  file: Uint8Array;
  keys: string[];
} {
  const keys: string[] = [];
  const input = Array.from({ length: records }, (_, i) => {
    const key = i % 5 === 4 ? null : `k${s}-${i % 7}`;
    if (key !== null) keys.push(key);
    return {
      pos: 0,
      data: enc.encode(`record ${s}/${i} ` + "z".repeat(i % 50)),
      key: key === null ? null : enc.encode(key),
    };
  });
  let pos = 0;
  for (const r of input) {
    r.pos = pos;
    pos += r.data.length;
  }
  const file = encodeSegment(input, {
    streamId: "s",
    codec: createNodeZstdCodec(),
    blockBytesTarget: 512,
  });
  return { file, keys };
}

Deno.test("the build Worker reads keys out of segment files: same run and lexicon as from decoded keys", async () => {
  const segments = Array.from({ length: 5 }, (_, s) => segmentOf(s, 300));
  const worker = workerRunBuilder();
  try {
    const fromFiles = await worker.buildL0(
      7n,
      32,
      segments.map((s) => ({ segment: s.file })),
    );
    const fromKeys = await inThreadRunBuilder().buildL0(
      7n,
      32,
      segments.map((s) => segmentKeys(s.keys)),
    );
    const a = decodeRun(fromFiles.bytes);
    const b = decodeRun(fromKeys.bytes);
    assert.deepEqual(a.table, b.table);
    assert.equal(a.firstSegment, 32);
    assert.equal(a.lastSegment, 36);
    assert.equal(fromFiles.entryCount, 35);
    assert.deepEqual(
      decodeLexicon(fromFiles.lexicon!),
      decodeLexicon(fromKeys.lexicon!),
    );
    // Lexicons are decoded on the Worker too (listing's cache misses).
    const onWorker = await worker.decodeLexicon(fromFiles.lexicon!);
    assert.deepEqual(onWorker, decodeLexicon(fromFiles.lexicon!));
    await assert.rejects(
      worker.decodeLexicon(fromFiles.lexicon!.subarray(1)),
      (e: Error & { kind?: string }) => e.kind === "corrupt",
    );
    // A damaged file is `corrupt`, not a run missing keys.
    const bad = segments[0].file.slice();
    bad[bad.length >> 1] ^= 0xff;
    await assert.rejects(
      worker.buildL0(7n, 0, [{ segment: bad }]),
      (e: Error & { kind?: string }) => e.kind === "corrupt",
    );
  } finally {
    worker.close();
  }
});
