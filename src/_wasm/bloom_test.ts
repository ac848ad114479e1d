import assert from "node:assert/strict";
import fc from "fast-check";
import { StreamError } from "../errors.ts";
import {
  BLOOM_HEADER_BYTES,
  BloomFilter,
  bloomMemoryBytes,
  serializeBloom,
} from "./bloom.ts";
import { bloomBuildRef, bloomHasRef } from "./bloom_ref.ts";
import { sealChecksum } from "./_format.ts";
import { bloomFprTheory, countOnes, randomHashes } from "./_testing.ts";

const hashArray = fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), {
  maxLength: 300,
  size: "max",
})
  .map((a) => BigUint64Array.from(a));

function assertCorrupt(fn: () => unknown, why: string): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof StreamError && e.kind === "corrupt",
    why,
  );
}

Deno.test("BloomFilter.build() serializes identically to the reference", () => {
  fc.assert(
    fc.property(hashArray, fc.integer({ min: 1, max: 24 }), (hashes, bpk) => {
      const wasm = BloomFilter.build(hashes, bpk);
      const ref = bloomBuildRef(hashes, bpk);
      assert.deepEqual(wasm.serialize(), serializeBloom(ref));
    }),
    { numRuns: 120 },
  );
});

Deno.test("BloomFilter queries agree with the reference and never miss", () => {
  fc.assert(
    fc.property(hashArray, hashArray, (members, probes) => {
      const filter = BloomFilter.build(members);
      const ref = bloomBuildRef(members);
      assert.equal(countOnes(filter.hasMany(members)), members.length);
      const got = filter.hasMany(probes);
      probes.forEach((h, i) => {
        assert.equal(got[i], bloomHasRef(ref, h) ? 1 : 0);
        assert.equal(filter.has(h), got[i] === 1);
      });
    }),
    { numRuns: 80 },
  );
});

Deno.test("BloomFilter false-positive rate is within theory at 10 bits/key", () => {
  const members = randomHashes(100_000, 1);
  const probes = randomHashes(500_000, 2);
  const filter = BloomFilter.build(members);
  assert.equal(countOnes(filter.hasMany(members)), members.length);
  const { blockCount, k } = filter.data;
  assert.equal(k, 7);
  const theory = bloomFprTheory(members.length, blockCount, k);
  const measured = countOnes(filter.hasMany(probes)) / probes.length;
  assert.ok(theory > 0.005 && theory < 0.015, `theory ${theory}`);
  assert.ok(measured < theory * 1.2, `fpr ${measured} vs theory ${theory}`);
  assert.ok(measured > theory * 0.8, `fpr ${measured} vs theory ${theory}`);
});

Deno.test("BloomFilter.deserialize() round-trips", () => {
  const members = randomHashes(5000, 3);
  const filter = BloomFilter.build(members, 12);
  const bytes = filter.serialize();
  const back = BloomFilter.deserialize(bytes);
  assert.deepEqual(back.serialize(), bytes);
  assert.equal(back.data.keyCount, 5000);
  assert.equal(countOnes(back.hasMany(members)), 5000);
  const probes = randomHashes(2000, 4);
  assert.deepEqual(back.hasMany(probes), filter.hasMany(probes));
});

Deno.test("BloomFilter.deserialize() rejects flipped bytes and truncation", () => {
  const bytes = BloomFilter.build(randomHashes(200, 5)).serialize();
  for (let i = 0; i < bytes.length; i++) {
    const bad = bytes.slice();
    bad[i] ^= 1 << (i % 8);
    assertCorrupt(() => BloomFilter.deserialize(bad), `flip at ${i}`);
  }
  for (let len = 0; len < bytes.length; len++) {
    assertCorrupt(
      () => BloomFilter.deserialize(bytes.subarray(0, len)),
      `len ${len}`,
    );
  }
  const longer = new Uint8Array(bytes.length + 64);
  longer.set(bytes);
  assertCorrupt(() => BloomFilter.deserialize(longer), "extra bytes");
});

Deno.test("BloomFilter.deserialize() rejects bad fields under a valid checksum", () => {
  const good = BloomFilter.build(randomHashes(100, 6)).serialize();
  const edits: [string, (b: Uint8Array, v: DataView) => void][] = [
    ["k = 0", (b) => (b[5] = 0)],
    ["k = 17", (b) => (b[5] = 17)],
    ["bitsPerKey = 0", (b) => (b[6] = 0)],
    ["reserved", (b) => (b[7] = 1)],
    ["blockCount = 0", (_, v) => v.setUint32(8, 0, true)],
    [
      "blockCount + 1",
      (_, v) => v.setUint32(8, v.getUint32(8, true) + 1, true),
    ],
    ["huge blockCount", (_, v) => v.setUint32(8, 0xffffffff, true)],
    ["version 2", (b) => (b[4] = 2)],
  ];
  for (const [why, edit] of edits) {
    const bad = good.slice();
    edit(bad, new DataView(bad.buffer));
    sealChecksum(bad);
    assertCorrupt(() => BloomFilter.deserialize(bad), why);
  }
});

Deno.test("BloomFilter.deserialize() never crashes on random bytes", () => {
  const header = serializeBloom(bloomBuildRef(randomHashes(10, 7)))
    .subarray(0, BLOOM_HEADER_BYTES);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 400, size: "max" }),
      fc.boolean(),
      (tail, keep) => {
        const bytes = keep ? new Uint8Array([...header, ...tail]) : tail;
        try {
          BloomFilter.deserialize(bytes);
        } catch (e) {
          assert.ok(
            e instanceof StreamError && e.kind === "corrupt",
            String(e),
          );
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("bloom kernel memory stays bounded over 10,000 build/query cycles", () => {
  const sets = [
    randomHashes(10, 8),
    randomHashes(1000, 9),
    randomHashes(300, 10),
  ];
  const cycle = (i: number) => {
    const f = BloomFilter.build(sets[i % 3]);
    assert.equal(countOnes(f.hasMany(sets[i % 3])), sets[i % 3].length);
  };
  for (let i = 0; i < 6; i++) cycle(i);
  const settled = bloomMemoryBytes();
  for (let i = 0; i < 10_000; i++) cycle(i);
  assert.equal(bloomMemoryBytes(), settled);
});
