import assert from "node:assert/strict";
import fc from "fast-check";
import { AssertionError } from "../assert.ts";
import { StreamError } from "../errors.ts";
import {
  type Codec,
  createNodeZstdCodec,
  createZstdWasmCodec,
} from "../_wasm/codec.ts";
import {
  type ChunkInput,
  encodeSegment,
  openSegment,
  type RangeSource,
  routingKeyHash,
  type SegmentReader,
  type SegmentRecordInput,
} from "./format.ts";

const wasm = await createZstdWasmCodec();
const native = createNodeZstdCodec();
const codecs: (Codec | null)[] = [null, wasm, native];

type Rec = { pos: number; data: Uint8Array; key: Uint8Array | null };

function isCorrupt(e: unknown): boolean {
  return e instanceof StreamError && e.kind === "corrupt";
}

/** Records of `sizes` from `startPos`, with text-like bytes and some keys. */
function makeRecords(
  startPos: number,
  sizes: number[],
  keyed: (i: number) => Uint8Array | null,
): Rec[] {
  const out: Rec[] = [];
  let pos = startPos;
  sizes.forEach((size, i) => {
    const data = new Uint8Array(size);
    for (let j = 0; j < size; j++) data[j] = 97 + ((i * 7 + j * 13) % 23);
    out.push({ pos, data, key: keyed(i) });
    pos += size;
  });
  return out;
}

const enc = new TextEncoder();

function sampleSegment(codec: Codec | null = wasm): Uint8Array {
  const recs = makeRecords(
    1000,
    Array.from({ length: 40 }, (_, i) => 5 + (i * 37) % 90),
    (i) => i % 3 === 0 ? null : enc.encode(`key-${i % 5}`),
  );
  return encodeSegment(recs, {
    streamId: "s/1",
    codec,
    blockBytesTarget: 400,
  });
}

async function readAll(reader: SegmentReader): Promise<Rec[]> {
  const { records, nextPos } = await reader.readFrom(
    reader.startPos,
    Number.MAX_SAFE_INTEGER,
  );
  assert.equal(nextPos, reader.endPos);
  return records;
}

function sameRecords(actual: Rec[], expected: Rec[]): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.equal(actual[i].pos, expected[i].pos);
    assert.deepEqual(actual[i].data, expected[i].data);
    assert.deepEqual(actual[i].key, expected[i].key);
  }
}

const recordSet = fc.record({
  startPos: fc.integer({ min: 0, max: 2 ** 40 }),
  sizes: fc.array(fc.integer({ min: 1, max: 300 }), {
    minLength: 1,
    maxLength: 60,
  }),
  keys: fc.array(fc.option(fc.uint8Array({ maxLength: 12 })), {
    minLength: 60,
    maxLength: 60,
  }),
  target: fc.integer({ min: 1, max: 2000 }),
  codec: fc.constantFrom(...codecs),
  seed: fc.integer({ min: 0, max: 255 }),
});

Deno.test("encodeSegment() round-trips random record sets", async () => {
  await fc.assert(
    fc.asyncProperty(recordSet, async (p) => {
      const recs = makeRecords(p.startPos, p.sizes, (i) => p.keys[i]);
      recs.forEach((r) => r.data[0] ^= p.seed);
      const bytes = encodeSegment(recs, {
        streamId: "a/b",
        codec: p.codec,
        blockBytesTarget: p.target,
      });
      const reader = await openSegment(bytes, { codec: p.codec });
      assert.equal(reader.streamId, "a/b");
      assert.equal(reader.startPos, p.startPos);
      assert.equal(reader.endPos, recs.at(-1)!.pos + recs.at(-1)!.data.length);
      assert.equal(reader.recordCount, recs.length);
      sameRecords(await readAll(reader), recs);
      await reader.verify();
    }),
    { numRuns: 60 },
  );
});

Deno.test("readFrom() starts at the record holding pos", async () => {
  await fc.assert(
    fc.asyncProperty(
      recordSet,
      fc.nat(),
      fc.integer({ min: 1, max: 700 }),
      async (p, where, bytesMax) => {
        const recs = makeRecords(p.startPos, p.sizes, (i) => p.keys[i]);
        const bytes = encodeSegment(recs, {
          streamId: "s",
          codec: p.codec,
          blockBytesTarget: p.target,
        });
        const reader = await openSegment(bytes, { codec: p.codec });
        const span = reader.endPos - reader.startPos;
        // Uniform over [startPos, endPos] (fast-check biases doubles to ends).
        const pos = reader.startPos + (where % (span + 1));
        const expected = recs.filter((r) => r.pos + r.data.length > pos);
        const got: Rec[] = [];
        let at = pos;
        while (at < reader.endPos) {
          const { records, nextPos } = await reader.readFrom(at, bytesMax);
          assert.ok(records.length >= 1 || nextPos === reader.endPos);
          const size = records.reduce((n, r) => n + r.data.length, 0);
          assert.ok(records.length <= 1 || size <= bytesMax);
          got.push(...records);
          assert.ok(nextPos > at || records.length === 0);
          at = nextPos;
        }
        sameRecords(got, expected);
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("blockFor() finds the block holding every position", async () => {
  const reader = await openSegment(sampleSegment(), { codec: wasm });
  assert.ok(reader.blocks.length > 3);
  assert.equal(reader.blockFor(reader.startPos - 1), -1);
  assert.equal(reader.blockFor(reader.endPos), -1);
  for (let pos = reader.startPos; pos < reader.endPos; pos++) {
    const b = reader.blocks[reader.blockFor(pos)];
    assert.ok(b.firstPos <= pos && pos < b.endPos);
  }
});

Deno.test("mayContainKey() is true for every key a block holds", async () => {
  const recs = makeRecords(
    0,
    Array.from({ length: 200 }, () => 50),
    (i) => i < 100 ? enc.encode(`user-${i}`) : null,
  );
  const reader = await openSegment(
    encodeSegment(recs, {
      streamId: "k",
      codec: native,
      blockBytesTarget: 500,
    }),
    { codec: native },
  );
  let falsePositives = 0;
  for (const r of recs.slice(0, 100)) {
    const block = reader.blockFor(r.pos);
    assert.ok(await reader.mayContainKey(block, routingKeyHash(r.key!)));
    const other = block === 0 ? 1 : 0;
    if (await reader.mayContainKey(other, routingKeyHash(r.key!))) {
      falsePositives++;
    }
  }
  assert.ok(falsePositives < 10, `${falsePositives} false positives`);
  const unkeyed = reader.blockFor(recs[150].pos);
  assert.equal(
    await reader.mayContainKey(unkeyed, routingKeyHash(enc.encode("user-1"))),
    false,
  );
});

Deno.test("encodeSegment() takes WAL chunks like records", async () => {
  const recs = makeRecords(64, [3, 9, 1, 20, 7, 7], () => null);
  const chunks: ChunkInput[] = [
    {
      startPos: 64,
      endPos: 64 + 13,
      data: cat(recs.slice(0, 3)),
      lengths: new Uint32Array([3, 9, 1]),
      keys: null,
      times: null,
    },
    {
      startPos: 77,
      endPos: 97,
      data: recs[3].data,
      lengths: null,
      keys: null,
      times: null,
    },
    {
      startPos: 97,
      endPos: 111,
      data: cat(recs.slice(4)),
      lengths: new Uint32Array([7, 7]),
      keys: null,
      times: null,
    },
  ];
  const options = { streamId: "c", codec: wasm, blockBytesTarget: 16 };
  assert.deepEqual(
    encodeSegment(chunks, options),
    encodeSegment(recs as SegmentRecordInput[], options),
  );
  sameRecords(
    await readAll(
      await openSegment(encodeSegment(chunks, options), { codec: wasm }),
    ),
    recs,
  );
});

function cat(recs: Rec[]): Uint8Array {
  const out = new Uint8Array(recs.reduce((n, r) => n + r.data.length, 0));
  let at = 0;
  for (const r of recs) {
    out.set(r.data, at);
    at += r.data.length;
  }
  return out;
}

Deno.test("encodeSegment() never splits a record and asserts its input", () => {
  const recs = makeRecords(0, [10, 10], () => null);
  assert.throws(
    () => encodeSegment([recs[1], recs[0]], { streamId: "x", codec: null }),
    AssertionError,
  );
  assert.throws(
    () => encodeSegment([], { streamId: "x", codec: null }),
    AssertionError,
  );
  assert.throws(
    () =>
      encodeSegment([{ pos: 0, data: new Uint8Array(0) }], {
        streamId: "x",
        codec: null,
      }),
    AssertionError,
  );
});

/** Opens and scrubs; returns normally only if nothing was detected. */
async function openAndScrub(bytes: Uint8Array): Promise<void> {
  const reader = await openSegment(bytes, { codec: wasm });
  await reader.verify();
  await readAll(reader);
}

async function assertCorrupt(bytes: Uint8Array, what: string): Promise<void> {
  try {
    await openAndScrub(bytes);
  } catch (e) {
    if (isCorrupt(e)) return;
    throw new Error(`${what}: expected corrupt, got ${e}`, { cause: e });
  }
  assert.fail(`${what}: corruption went undetected`);
}

Deno.test("a flipped byte anywhere is detected as corrupt", async () => {
  for (const codec of [wasm, null]) {
    const good = sampleSegment(codec);
    await openAndScrub(good);
    for (let i = 0; i < good.length; i++) {
      const bad = good.slice();
      bad[i] ^= 1 << (i % 8);
      await assertCorrupt(bad, `flip at ${i} of ${good.length}`);
    }
  }
});

Deno.test("random byte damage is detected as corrupt", async () => {
  await fc.assert(
    fc.asyncProperty(
      recordSet,
      fc.array(
        fc.tuple(
          fc.nat(),
          fc.integer({ min: 1, max: 255 }),
        ),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
      async (p, flips) => {
        const recs = makeRecords(p.startPos, p.sizes, (i) => p.keys[i]);
        const good = encodeSegment(recs, {
          streamId: "s",
          codec: p.codec,
          blockBytesTarget: p.target,
        });
        const bad = good.slice();
        for (const [where, mask] of flips) {
          bad[where % bad.length] ^= mask;
        }
        if (bad.every((b, i) => b === good[i])) return; // flips cancelled
        await assertCorrupt(bad, "random damage");
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("truncation at any length is detected as corrupt", async () => {
  const good = sampleSegment();
  for (let n = 0; n < good.length; n++) {
    await assertCorrupt(good.subarray(0, n), `truncated to ${n}`);
  }
  const longer = new Uint8Array(good.length + 5);
  longer.set(good, 5);
  await assertCorrupt(longer, "bytes in front");
});

Deno.test("wrong magic, version or trailer is corrupt", async () => {
  const good = sampleSegment();
  const cases: [string, (b: Uint8Array) => void][] = [
    ["magic", (b) => b[0] = 0x58],
    ["version", (b) => b[5] = 3],
    ["reserved", (b) => b[7] = 1],
    ["trailer magic", (b) => b[b.length - 8] = 0x58],
    ["trailer version", (b) => b[b.length - 3] = 9],
    ["footer offset", (b) => b[b.length - 24] ^= 0x10],
    ["footer length", (b) => b[b.length - 16] ^= 0x01],
    ["footer crc", (b) => b[b.length - 12] ^= 0x80],
    ["footer offset past 2^53", (b) => b[b.length - 17] = 0xff],
  ];
  for (const [name, damage] of cases) {
    const bad = good.slice();
    damage(bad);
    await assertCorrupt(bad, name);
  }
});

Deno.test("a ranged source reads only the trailer, footer and one block", async () => {
  const bytes = sampleSegment();
  const reads: [number, number][] = [];
  const source: RangeSource = {
    size: bytes.length,
    read(offset, length) {
      assert.ok(offset >= 0 && offset + length <= bytes.length);
      reads.push([offset, length]);
      return Promise.resolve(bytes.slice(offset, offset + length));
    },
  };
  const reader = await openSegment(source, { codec: wasm });
  assert.equal(reads.length, 3); // header tag, trailer, footer
  const last = reader.blocks.at(-1)!;
  const { records } = await reader.readFrom(last.firstPos, 1);
  assert.equal(records.length, 1);
  assert.deepEqual(reads.at(-1), [last.fileOffset, last.length]);
  assert.equal(reads.length, 4);
  await reader.mayContainKey(0, 1n);
  assert.equal(reads.length, 6); // block header, then bloom + crc
  await reader.mayContainKey(0, 2n);
  assert.equal(reads.length, 6);
});

Deno.test("a short read from a ranged source is corrupt", async () => {
  const bytes = sampleSegment();
  const source: RangeSource = {
    size: bytes.length,
    read: (offset, length) =>
      Promise.resolve(bytes.slice(offset, offset + Math.max(0, length - 1))),
  };
  await assert.rejects(openSegment(source, { codec: wasm }), isCorrupt);
});

Deno.test("incompressible blocks are stored raw", async () => {
  const data = crypto.getRandomValues(new Uint8Array(4000));
  const bytes = encodeSegment([{ pos: 0, data }], {
    streamId: "r",
    codec: wasm,
  });
  assert.ok(bytes.length < 4000 + 200);
  // Readable without a codec: no block needed one.
  const reader = await openSegment(bytes, { codec: null });
  assert.deepEqual((await readAll(reader))[0].data, data);
});

Deno.test("records keep their keys and append times; the index bounds each block's times", async () => {
  const records: SegmentRecordInput[] = [];
  let pos = 0;
  for (let i = 0; i < 60; i++) {
    const data = enc.encode(`rec-${i};`.repeat(1 + i % 3));
    records.push({
      pos,
      data,
      key: i % 4 === 0 ? null : enc.encode(`k${i % 5}`),
      timeMs: 1_700_000_000_000 + Math.floor(i / 3) * 7, // 3 records per time
    });
    pos += data.length;
  }
  for (const codec of codecs) {
    const reader = await openSegment(
      encodeSegment(records, { streamId: "t", codec, blockBytesTarget: 90 }),
      { codec },
    );
    assert.equal(reader.version, 2);
    assert.ok(reader.blocks.length > 5);
    const got = [];
    for (let b = 0; b < reader.blocks.length; b++) {
      const block = await reader.readBlock(b);
      assert.equal(reader.blocks[b].minTimeMs, block[0].timeMs);
      assert.equal(reader.blocks[b].maxTimeMs, block[block.length - 1].timeMs);
      got.push(...block);
    }
    assert.deepEqual(
      got.map((
        r,
      ) => [r.pos, r.key && new TextDecoder().decode(r.key), r.timeMs]),
      records.map((r) => [
        r.pos,
        r.key ? new TextDecoder().decode(r.key) : null,
        r.timeMs,
      ]),
    );
    for (
      const t of [0, 1_700_000_000_000, 1_700_000_000_050, 1_800_000_000_000]
    ) {
      const b = reader.blockAtTime(t);
      const first = records.findIndex((r) => r.timeMs! >= t);
      if (first < 0) assert.equal(b, -1);
      else {
        assert.equal(reader.blockFor(records[first].pos) >= b, true);
        assert.ok(reader.blocks[b].maxTimeMs >= t);
        if (b > 0) assert.ok(reader.blocks[b - 1].maxTimeMs < t);
      }
    }
  }
});

Deno.test("the encoder refuses append times that go backwards", () => {
  assert.throws(
    () =>
      encodeSegment([
        { pos: 0, data: enc.encode("a"), timeMs: 5 },
        { pos: 1, data: enc.encode("b"), timeMs: 4 },
      ], { streamId: "t", codec: null }),
    AssertionError,
  );
});

Deno.test("a version 1 segment (written before append times) still reads, its records at time 0", async () => {
  // test/fixtures/segment_v1.seg: 30 records from position 100, record i is
  // `record-${i};` repeated 1 + i % 4 times, keyed k0/k1 unless i % 3 == 0.
  const bytes = await Deno.readFile(
    new URL("../../test/fixtures/segment_v1.seg", import.meta.url),
  );
  const reader = await openSegment(bytes, { codec: native });
  assert.equal(reader.version, 1);
  await reader.verify();
  const got = [];
  for (let b = 0; b < reader.blocks.length; b++) {
    assert.equal(reader.blocks[b].maxTimeMs, 0);
    got.push(...await reader.readBlock(b));
  }
  assert.equal(got.length, 30);
  got.forEach((r, i) => {
    assert.equal(
      new TextDecoder().decode(r.data),
      `record-${i};`.repeat(1 + i % 4),
    );
    assert.equal(
      r.key === null ? null : new TextDecoder().decode(r.key),
      i % 3 === 0 ? null : `k${i % 2}`,
    );
    assert.equal(r.timeMs, 0);
  });
  assert.equal(reader.blockAtTime(0), 0);
  assert.equal(reader.blockAtTime(1), -1);
  const b = reader.blockFor(got[4].pos);
  assert.equal(
    await reader.mayContainKey(b, routingKeyHash(enc.encode("k0"))),
    true,
  );
});
