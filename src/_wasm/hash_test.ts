import assert from "node:assert/strict";
import fc from "fast-check";
import { AssertionError } from "../assert.ts";
import {
  crc32cKernel,
  hashMemoryBytes,
  xxhash64Batch,
  xxhash64BatchSeeded,
  xxhash64Kernel,
  xxhash64Keys,
} from "./hash.ts";
import { crc32cRef, xxhash64BatchRef, xxhash64Ref } from "./hash_ref.ts";
import { xxhash64HashWasm } from "./checksum.ts";
import { createXXHash64 } from "hash-wasm";

const enc = new TextEncoder();

// Published XXH64 seed-0 vectors (xxHash reference implementation).
const XXH64_VECTORS: [string, bigint][] = [
  ["", 0xef46db3751d8e999n],
  ["a", 0xd24ec4f1a98c6e5bn],
  ["abc", 0x44bc2cf5ad770999n],
];

function concatKeys(keys: Uint8Array[]): [Uint8Array, Uint32Array] {
  const offsets = new Uint32Array(keys.length + 1);
  for (let i = 0; i < keys.length; i++) {
    offsets[i + 1] = offsets[i] + keys[i].length;
  }
  const data = new Uint8Array(offsets[keys.length]);
  keys.forEach((k, i) => data.set(k, offsets[i]));
  return [data, offsets];
}

Deno.test("xxhash64 kernel, reference and hash-wasm match published vectors", () => {
  for (const [text, want] of XXH64_VECTORS) {
    const bytes = enc.encode(text);
    assert.equal(xxhash64Kernel(bytes), want, `kernel "${text}"`);
    assert.equal(xxhash64Ref(bytes), want, `ref "${text}"`);
    assert.equal(xxhash64HashWasm(bytes), want, `hash-wasm "${text}"`);
  }
  const keys = XXH64_VECTORS.map(([t]) => enc.encode(t));
  assert.deepEqual(
    Array.from(xxhash64Keys(keys)),
    XXH64_VECTORS.map(([, h]) => h),
  );
});

Deno.test("crc32cKernel() matches the CRC32C check value and continues", () => {
  const bytes = enc.encode("123456789");
  assert.equal(crc32cKernel(bytes), 0xe3069283);
  assert.equal(crc32cRef(bytes), 0xe3069283);
  assert.equal(
    crc32cKernel(bytes.subarray(4), crc32cKernel(bytes.subarray(0, 4))),
    0xe3069283,
  );
  assert.equal(crc32cKernel(new Uint8Array(0)), 0);
});

Deno.test("xxhash64Batch() equals the reference on random key batches", () => {
  fc.assert(
    fc.property(
      fc.array(fc.uint8Array({ maxLength: 80 }), {
        maxLength: 60,
        size: "max",
      }),
      (keys) => {
        const [data, offsets] = concatKeys(keys);
        const want = xxhash64BatchRef(data, offsets);
        assert.deepEqual(xxhash64Batch(data, offsets), want);
        assert.deepEqual(xxhash64Keys(keys), want);
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("xxhash64BatchSeeded() equals the reference and hash-wasm for any seed", async () => {
  const seeds = fc.oneof(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.constantFrom(0n, 1n, 1n << 63n, (1n << 64n) - 1n),
  );
  const samples = fc.sample(
    fc.tuple(
      seeds,
      fc.array(fc.uint8Array({ maxLength: 80 }), { maxLength: 40 }),
    ),
    { numRuns: 100, seed: 1234 },
  );
  for (const [seed, keys] of samples) {
    const [data, offsets] = concatKeys(keys);
    const got = xxhash64BatchSeeded(data, offsets, seed);
    assert.deepEqual(got, xxhash64BatchRef(data, offsets, seed));
    const hasher = await createXXHash64(
      Number(seed & 0xffffffffn),
      Number(seed >> 32n),
    );
    keys.forEach((key, i) => {
      hasher.init();
      hasher.update(key);
      assert.equal(BigInt("0x" + hasher.digest("hex")), got[i], `key ${i}`);
    });
  }
  const one = enc.encode("same key");
  const [data, offsets] = concatKeys([one]);
  assert.notEqual(
    xxhash64BatchSeeded(data, offsets, 1n)[0],
    xxhash64BatchSeeded(data, offsets, 2n)[0],
  );
});

Deno.test("single-buffer kernels equal the references and hash-wasm", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600, size: "max" }), (bytes) => {
      const h = xxhash64Kernel(bytes);
      assert.equal(h, xxhash64Ref(bytes));
      assert.equal(h, xxhash64HashWasm(bytes));
      assert.equal(crc32cKernel(bytes), crc32cRef(bytes));
    }),
    { numRuns: 150 },
  );
});

Deno.test("xxhash64Batch() rejects offsets outside the data", () => {
  const data = enc.encode("abcd");
  for (const offsets of [[0, 5], [3, 2], [9], [0, 2, 1]]) {
    assert.throws(
      () => xxhash64Batch(data, new Uint32Array(offsets)),
      AssertionError,
      `offsets ${offsets}`,
    );
  }
  assert.deepEqual(xxhash64Batch(data, new Uint32Array([4])).length, 0);
});

Deno.test("hash kernel memory stays bounded over 10,000 batches", () => {
  const keys = Array.from({ length: 200 }, (_, i) => enc.encode(`key-${i}`));
  for (let i = 0; i < 5; i++) xxhash64Keys(keys);
  const settled = hashMemoryBytes();
  const first = xxhash64Keys(keys);
  for (let i = 0; i < 10_000; i++) xxhash64Keys(keys);
  assert.equal(hashMemoryBytes(), settled);
  assert.deepEqual(xxhash64Keys(keys), first);
});
