import assert from "node:assert/strict";
import * as zlib from "node:zlib";
import fc from "fast-check";
import { AssertionError } from "../assert.ts";
import { StreamError } from "../errors.ts";
import {
  type Codec,
  createNodeZstdCodec,
  createZstdWasmCodec,
  zstdFrames,
} from "./codec.ts";
import { concatBytes } from "../bytes.ts";

const codecs: Codec[] = [await createZstdWasmCodec(), createNodeZstdCodec()];

function isCorrupt(e: unknown): boolean {
  return e instanceof StreamError && e.kind === "corrupt";
}

function jsonLines(count: number): Uint8Array {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(JSON.stringify({
      ts: 1_700_000_000_000 + i * 17,
      level: ["info", "warn", "error"][i % 3],
      path: `/v1/stream/s${i % 97}`,
      status: 200 + (i % 5),
      bytes: (i * 7919) % 65536,
    }));
  }
  return new TextEncoder().encode(lines.join("\n"));
}

/** A zstd frame of raw (and RLE) blocks with no content size in its header. */
function frameWithoutContentSize(
  chunks: Uint8Array[],
  rle?: [number, number],
): Uint8Array {
  const parts: Uint8Array[] = [
    new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38]),
  ]; // window 128 KiB
  const blocks: [number, Uint8Array][] = chunks.map((c) => [0, c]);
  if (rle) blocks.push([1, new Uint8Array([rle[1]])]);
  blocks.forEach(([type, body], i) => {
    const last = i === blocks.length - 1 ? 1 : 0;
    const size = type === 1 ? rle![0] : body.length;
    const header = (size << 3) | (type << 1) | last;
    parts.push(
      new Uint8Array([header & 0xff, (header >> 8) & 0xff, header >> 16]),
      body,
    );
  });
  return concat(...parts);
}

const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(parts);

Deno.test("frames from either codec decode with both", () => {
  const inputs = [new Uint8Array(0), jsonLines(1), jsonLines(5000)];
  for (const input of inputs) {
    for (const from of codecs) {
      for (const level of [1, 3, 9]) {
        const frame = from.compress(input, level);
        assert.equal(zstdFrames(frame)[0].contentSize, input.length);
        for (const to of codecs) {
          assert.deepEqual(
            to.decompress(frame),
            input,
            `${from.name} -> ${to.name}`,
          );
        }
      }
    }
  }
});

Deno.test("codecs round-trip random bytes across each other", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 3000, size: "max" }),
      fc.integer({ min: -3, max: 6 }),
      (input, level) => {
        for (const from of codecs) {
          const frame = from.compress(input, level);
          for (const to of codecs) {
            assert.deepEqual(to.decompress(frame), input);
          }
        }
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("frames without a content size decode with both codecs", () => {
  const chunk = (seed: number) =>
    new Uint8Array(128 * 1024).map((_, i) => (i * seed) >> 3);
  const chunks = Array.from({ length: 12 }, (_, i) => chunk(i + 1)); // 1.5 MiB
  const frame = frameWithoutContentSize(chunks, [100_000, 0x7a]);
  const want = concat(...chunks, new Uint8Array(100_000).fill(0x7a));
  assert.equal(zstdFrames(frame)[0].contentSize, null);
  for (const codec of codecs) {
    assert.deepEqual(codec.decompress(frame), want, codec.name);
  }
});

Deno.test("node:zlib streaming frames (no content size, > 1 MiB) decode with both", async () => {
  const input = jsonLines(40_000);
  assert.ok(input.length > 2 ** 20);
  const chunks: Uint8Array[] = [];
  const stream = zlib.createZstdCompress();
  const done = new Promise<void>((resolve, reject) => {
    stream.on("data", (c: Uint8Array) => chunks.push(new Uint8Array(c)));
    stream.on("end", () => resolve());
    stream.on("error", reject);
  });
  stream.end(input);
  await done;
  const frame = concat(...chunks);
  assert.equal(zstdFrames(frame)[0].contentSize, null);
  for (const codec of codecs) {
    assert.deepEqual(codec.decompress(frame), input, codec.name);
  }
});

Deno.test("concatenated and skippable frames decode to the concatenation", () => {
  const a = jsonLines(50);
  const b = new TextEncoder().encode("second frame");
  const skippable = new Uint8Array([
    0x5a,
    0x2a,
    0x4d,
    0x18,
    3,
    0,
    0,
    0,
    9,
    9,
    9,
  ]);
  const frames = concat(
    codecs[0].compress(a, 1),
    skippable,
    frameWithoutContentSize([b]),
    codecs[1].compress(b, 1),
  );
  for (const codec of codecs) {
    assert.deepEqual(codec.decompress(frames), concat(a, b, b), codec.name);
  }
});

Deno.test("truncated frames are corrupt for both codecs", () => {
  const frame = codecs[0].compress(jsonLines(200), 3);
  const raw = frameWithoutContentSize([new Uint8Array(500).fill(1)]);
  for (const bytes of [frame, raw]) {
    for (let len = 0; len < bytes.length; len++) {
      for (const codec of codecs) {
        assert.throws(
          () => codec.decompress(bytes.subarray(0, len)),
          isCorrupt,
          `${codec.name} len ${len}`,
        );
      }
    }
  }
});

Deno.test("damaged or random input never crashes a codec", () => {
  const frame = codecs[1].compress(jsonLines(300), 3);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: frame.length - 1 }),
      fc.integer({ min: 1, max: 255 }),
      fc.uint8Array({ maxLength: 200, size: "max" }),
      (at, xor, garbage) => {
        const flipped = frame.slice();
        flipped[at] ^= xor;
        for (
          const bytes of [
            flipped,
            garbage,
            concat(frame.subarray(0, 4), garbage),
          ]
        ) {
          for (const codec of codecs) {
            try {
              const out = codec.decompress(bytes);
              assert.ok(out instanceof Uint8Array);
            } catch (e) {
              assert.ok(isCorrupt(e), `${codec.name}: ${e}`);
            }
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("decompressedBytesMax caps output with or without a content size", async () => {
  const small = [
    await createZstdWasmCodec({ decompressedBytesMax: 1000 }),
    createNodeZstdCodec({ decompressedBytesMax: 1000 }),
  ];
  const declared = codecs[0].compress(new Uint8Array(5000), 1);
  const undeclared = frameWithoutContentSize([new Uint8Array(3000).fill(2)]);
  for (const codec of small) {
    assert.throws(() => codec.decompress(declared), isCorrupt, codec.name);
    assert.throws(() => codec.decompress(undeclared), isCorrupt, codec.name);
    assert.deepEqual(
      codec.decompress(codecs[1].compress(new Uint8Array(900), 1)).length,
      900,
    );
  }
});

Deno.test("compress() rejects levels outside -7..22", () => {
  for (const codec of codecs) {
    for (const level of [23, -8, 1.5, NaN]) {
      assert.throws(
        () => codec.compress(new Uint8Array(1), level),
        AssertionError,
      );
    }
  }
});
