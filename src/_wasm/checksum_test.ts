import assert from "node:assert/strict";
import fc from "fast-check";
import {
  crc32c,
  crc32cHashWasm,
  SMALL_INPUT_BYTES,
  xxhash64,
  xxhash64HashWasm,
} from "./checksum.ts";
import { crc32cRef, xxhash64Ref } from "./hash_ref.ts";

const enc = new TextEncoder();

Deno.test("crc32c() and xxhash64() match check values on both routes", () => {
  const small = enc.encode("123456789");
  assert.equal(crc32c(small), 0xe3069283);
  assert.equal(crc32cHashWasm(small), 0xe3069283);
  assert.equal(xxhash64(enc.encode("abc")), 0x44bc2cf5ad770999n);
  assert.equal(xxhash64HashWasm(enc.encode("abc")), 0x44bc2cf5ad770999n);
  assert.equal(xxhash64(new Uint8Array(0)), 0xef46db3751d8e999n);
});

Deno.test("crc32c() and xxhash64() agree with the references across the threshold", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: SMALL_INPUT_BYTES - 64, max: SMALL_INPUT_BYTES + 64 }),
      fc.integer(),
      (length, seed) => {
        const bytes = new Uint8Array(length);
        let x = seed | 1;
        for (let i = 0; i < length; i++) {
          x = Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i;
          bytes[i] = x >>> 24;
        }
        assert.equal(crc32c(bytes), crc32cRef(bytes));
        assert.equal(crc32c(bytes), crc32cHashWasm(bytes));
        assert.equal(xxhash64(bytes), xxhash64HashWasm(bytes));
      },
    ),
    { numRuns: 20 },
  );
  const big = new Uint8Array(100_000).map((_, i) => (i * 131) & 0xff);
  assert.equal(xxhash64(big), xxhash64Ref(big));
});
