import assert from "node:assert/strict";
import fc from "fast-check";
import { StreamError } from "../errors.ts";
import {
  type FingerprintBits,
  FUSE_HEADER_BYTES,
  FuseFilter,
  fuseMemoryBytes,
  fuseMix,
  fuseParams,
  serializeFuse,
} from "./fuse.ts";
import { dedupRef, fuseBuildRef, fuseHasRef } from "./fuse_ref.ts";
import { sealChecksum } from "./_format.ts";
import { countOnes, randomHashes } from "./_testing.ts";

const BITS: FingerprintBits[] = [8, 16];

// Small values make duplicates likely; big ones cover the full 64 bits.
const hashArray = fc.array(
  fc.oneof(
    fc.bigInt({ min: 0n, max: 40n }),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  ),
  { maxLength: 400, size: "max" },
).map((a) => BigUint64Array.from(a));

function assertCorrupt(fn: () => unknown, why: string): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof StreamError && e.kind === "corrupt",
    why,
  );
}

Deno.test("fuseParams() follows the paper's sizing", () => {
  assert.deepEqual(fuseParams(1_000_000), {
    segmentLength: 8192,
    segmentCount: 136,
    arrayLength: 1_130_496,
  });
  assert.deepEqual(fuseParams(0), {
    segmentLength: 4,
    segmentCount: 1,
    arrayLength: 12,
  });
  assert.equal(fuseParams(1e9).segmentLength, 262144);
  for (const n of [2, 3, 10, 100, 1000, 12345, 10 ** 7]) {
    const p = fuseParams(n);
    assert.equal(p.arrayLength, (p.segmentCount + 2) * p.segmentLength);
    assert.ok(p.arrayLength >= n, `n=${n}`);
  }
});

for (const bits of BITS) {
  Deno.test(`FuseFilter.build(${bits}) serializes identically to the reference`, () => {
    fc.assert(
      fc.property(hashArray, (hashes) => {
        const wasm = FuseFilter.build(hashes, bits);
        const ref = fuseBuildRef(hashes, bits);
        assert.ok(ref !== null);
        assert.deepEqual(wasm.serialize(), serializeFuse(ref));
        assert.equal(wasm.data.keyCount, new Set(hashes).size);
      }),
      { numRuns: 150 },
    );
  });

  Deno.test(`FuseFilter.build(${bits}) matches the reference on larger sets`, () => {
    for (const [n, seed] of [[3000, 30], [40_000, 31]]) {
      const hashes = randomHashes(n, seed + bits);
      const ref = fuseBuildRef(hashes, bits);
      assert.ok(ref !== null);
      assert.deepEqual(
        FuseFilter.build(hashes, bits).serialize(),
        serializeFuse(ref),
      );
    }
  });

  Deno.test(`FuseFilter(${bits}) never misses a member and agrees with the reference`, () => {
    fc.assert(
      fc.property(hashArray, hashArray, (members, probes) => {
        const filter = FuseFilter.build(members, bits);
        const ref = fuseBuildRef(members, bits)!;
        assert.equal(countOnes(filter.hasMany(members)), members.length);
        const got = filter.hasMany(probes);
        probes.forEach((h, i) => {
          assert.equal(got[i], fuseHasRef(ref, h) ? 1 : 0);
          assert.equal(filter.has(h), got[i] === 1);
        });
      }),
      { numRuns: 40 },
    );
  });
}

Deno.test("dedup keeps each distinct hash once", () => {
  fc.assert(
    fc.property(hashArray, (hashes) => {
      const unique = dedupRef(hashes);
      assert.equal(unique.length, new Set(hashes).size);
      assert.deepEqual(new Set(unique), new Set(hashes));
    }),
    { numRuns: 100 },
  );
  const keys = randomHashes(3000, 11);
  const doubled = new BigUint64Array([...keys, ...keys.slice(0, 1500)]);
  const filter = FuseFilter.build(doubled);
  assert.equal(filter.data.keyCount, 3000);
  assert.deepEqual(filter.serialize(), FuseFilter.build(keys).serialize());
});

/** Inverse of fuseMix(key, 0n), to craft keys whose mixes share top bits. */
function unmix(m: bigint): bigint {
  const M = (1n << 64n) - 1n;
  const inverse = (c: bigint) => {
    let x = c;
    for (let i = 0; i < 6; i++) x = (x * (2n - c * x)) & M;
    return x;
  };
  let h = m ^ (m >> 33n);
  h = (h * inverse(0xc4ceb9fe1a85ec53n)) & M;
  h ^= h >> 33n;
  h = (h * inverse(0xff51afd7ed558ccdn)) & M;
  return h ^ (h >> 33n);
}

Deno.test("FuseFilter.build() handles keys that all land in one dedup bucket", () => {
  const mixed = randomHashes(10_000, 23).map((h) => h >> 12n); // top 12 bits 0
  const keys = mixed.map(unmix);
  assert.equal(fuseMix(keys[0], 0n), mixed[0]);
  const withDups = new BigUint64Array([...keys, ...keys.subarray(0, 777)]);
  const filter = FuseFilter.build(withDups, 8);
  assert.equal(filter.data.keyCount, 10_000);
  assert.equal(countOnes(filter.hasMany(withDups)), withDups.length);
  assert.deepEqual(
    filter.serialize(),
    serializeFuse(fuseBuildRef(withDups, 8)!),
  );
});

Deno.test("fuse8 and fuse16 false-positive rates are within theory", () => {
  const members = randomHashes(200_000, 12);
  const probes = randomHashes(1_000_000, 13);
  const f8 = FuseFilter.build(members, 8);
  const f16 = FuseFilter.build(members, 16);
  assert.equal(countOnes(f8.hasMany(members)), members.length);
  assert.equal(countOnes(f16.hasMany(members)), members.length);
  // Theory: 2^-8 = 0.39% and 2^-16 = 0.0015% (15 per million).
  const fpr8 = countOnes(f8.hasMany(probes)) / probes.length;
  const fp16 = countOnes(f16.hasMany(probes));
  assert.ok(fpr8 < 0.006 && fpr8 > 0.002, `fuse8 fpr ${fpr8}`);
  assert.ok(fp16 < 50, `fuse16 false positives ${fp16} per million`);
  const bitsPerKey8 = (f8.data.fingerprints.length * 8) / members.length;
  assert.ok(bitsPerKey8 < 9.5, `fuse8 uses ${bitsPerKey8} bits/key`);
});

Deno.test("FuseFilter.build() gives up with a typed error after its attempts", () => {
  assert.throws(
    () => FuseFilter.build(randomHashes(100, 14), 8, 0),
    (e: unknown) => e instanceof StreamError && e.kind === "internal",
  );
});

Deno.test("FuseFilter.deserialize() round-trips both widths", () => {
  const members = randomHashes(4000, 15);
  for (const bits of BITS) {
    const filter = FuseFilter.build(members, bits);
    const bytes = filter.serialize();
    const back = FuseFilter.deserialize(bytes);
    assert.deepEqual(back.serialize(), bytes);
    assert.equal(countOnes(back.hasMany(members)), members.length);
    const probes = randomHashes(3000, 16);
    assert.deepEqual(back.hasMany(probes), filter.hasMany(probes));
  }
});

Deno.test("FuseFilter.deserialize() rejects flipped bytes and truncation", () => {
  for (const bits of BITS) {
    const bytes = FuseFilter.build(randomHashes(150, 17), bits).serialize();
    for (let i = 0; i < bytes.length; i++) {
      const bad = bytes.slice();
      bad[i] ^= 1 << (i % 8);
      assertCorrupt(() => FuseFilter.deserialize(bad), `flip at ${i}`);
    }
    for (let len = 0; len < bytes.length; len++) {
      assertCorrupt(
        () => FuseFilter.deserialize(bytes.subarray(0, len)),
        `len ${len}`,
      );
    }
  }
});

Deno.test("FuseFilter.deserialize() rejects bad fields under a valid checksum", () => {
  const good = FuseFilter.build(randomHashes(1000, 18), 8).serialize();
  const edits: [string, (b: Uint8Array, v: DataView) => void][] = [
    ["bits 12", (b) => (b[5] = 12)],
    ["bits 16 with 8-bit body", (b) => (b[5] = 16)],
    ["reserved", (b) => (b[6] = 1)],
    ["segment length 3", (_, v) => v.setUint32(16, 3, true)],
    ["segment length 2^19", (_, v) => v.setUint32(16, 2 ** 19, true)],
    ["segment count 0", (_, v) => v.setUint32(20, 0, true)],
    [
      "segment count + 1",
      (_, v) => v.setUint32(20, v.getUint32(20, true) + 1, true),
    ],
    [
      "array length + 1",
      (_, v) => v.setUint32(24, v.getUint32(24, true) + 1, true),
    ],
    ["huge array", (_, v) => {
      v.setUint32(16, 262144, true);
      v.setUint32(20, 16000, true);
      v.setUint32(24, 16002 * 262144, true);
    }],
    ["key count > slots", (_, v) => v.setUint32(28, 0xffffffff, true)],
  ];
  for (const [why, edit] of edits) {
    const bad = good.slice();
    edit(bad, new DataView(bad.buffer));
    sealChecksum(bad);
    assertCorrupt(() => FuseFilter.deserialize(bad), why);
  }
});

Deno.test("FuseFilter.deserialize() never crashes on random bytes", () => {
  const header = FuseFilter.build(randomHashes(10, 19)).serialize()
    .subarray(0, FUSE_HEADER_BYTES);
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 400, size: "max" }),
      fc.boolean(),
      (tail, keep) => {
        const bytes = keep ? new Uint8Array([...header, ...tail]) : tail;
        try {
          FuseFilter.deserialize(bytes);
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

Deno.test("fuse kernel memory stays bounded over 10,000 build/query cycles", () => {
  const sets = [
    randomHashes(10, 20),
    randomHashes(2000, 21),
    randomHashes(300, 22),
  ];
  const cycle = (i: number) => {
    const f = FuseFilter.build(sets[i % 3], BITS[i % 2]);
    assert.equal(countOnes(f.hasMany(sets[i % 3])), sets[i % 3].length);
  };
  for (let i = 0; i < 12; i++) cycle(i);
  const settled = fuseMemoryBytes();
  for (let i = 0; i < 10_000; i++) cycle(i);
  assert.equal(fuseMemoryBytes(), settled);
});
