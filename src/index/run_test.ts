import assert from "node:assert/strict";
import fc from "fast-check";
import { StreamError } from "../errors.ts";
import { crc32c } from "../_wasm/checksum.ts";
import { AssertionError } from "../assert.ts";
import { buildL0Run, compactRuns } from "./build.ts";
import {
  fingerprintKeys,
  fingerprintOf,
  seedFromHex,
  seedToHex,
  segmentKeys,
  SegmentKeysBuilder,
} from "./fingerprint.ts";
import { readVarint, type RoutingRun, writeVarint } from "./run.ts";
import { decodeRun, encodeRun, RUN_HEADER_BYTES } from "./run_format.ts";

/** Keys of each segment: small alphabets so keys repeat across segments. */
const layoutArb = (segmentsMax: number) =>
  fc.array(
    fc.array(
      fc.string({ minLength: 1, maxLength: 6, unit: "grapheme-ascii" }),
      {
        maxLength: 30,
      },
    ),
    { minLength: 1, maxLength: segmentsMax },
  );

/** Which segments (absolute ordinals) hold each key. */
function model(first: number, layout: string[][]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  layout.forEach((keys, i) => {
    for (const k of new Set(keys)) {
      const list = m.get(k) ?? [];
      list.push(first + i);
      m.set(k, list);
    }
  });
  return m;
}

function l0(first: number, layout: string[][], seed: bigint): RoutingRun {
  return buildL0Run(
    first,
    layout.map((keys) => fingerprintKeys(segmentKeys(keys), seed)),
  );
}

function assertAnswers(
  run: RoutingRun,
  want: Map<string, number[]>,
  seed: bigint,
  absent: string[],
): void {
  for (const [key, segments] of want) {
    // 64-bit fingerprints: equality unless two keys collide (never seen).
    assert.deepEqual(run.lookup(fingerprintOf(key, seed)), segments, key);
  }
  for (const key of absent) {
    if (!want.has(key)) {
      assert.deepEqual(run.lookup(fingerprintOf(key, seed)), [], key);
    }
  }
}

Deno.test("fingerprints depend on the seed, and seeds round-trip as hex", () => {
  assert.notEqual(fingerprintOf("k", 1n), fingerprintOf("k", 2n));
  assert.equal(
    fingerprintOf("k", 7n),
    fingerprintOf(new TextEncoder().encode("k"), 7n),
  );
  const seed = 0xfedcba9876543210n;
  assert.equal(seedToHex(seed), "fedcba9876543210");
  assert.equal(seedFromHex(seedToHex(seed)), seed);
  assert.equal(seedFromHex("xyz"), undefined);
  assert.equal(seedFromHex("FEDCBA9876543210"), undefined);
});

Deno.test("fingerprints keep their 4 tag bits clear; builds refuse ones that do not", () => {
  fc.assert(
    fc.property(
      fc.array(fc.string()),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      (keys, seed) => {
        for (const fp of fingerprintKeys(segmentKeys(keys), seed)) {
          assert
            .equal(fp & 15n, 0n);
        }
      },
    ),
  );
  assert.throws(
    () => buildL0Run(0, [BigUint64Array.of(0x10n, 0x21n)]),
    AssertionError,
  );
});

Deno.test("SegmentKeysBuilder collects keys, skipping records without one", () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.option(fc.uint8Array({ maxLength: 300, size: "max" }), {
          nil: null,
        }),
        {
          maxLength: 400,
          size: "max",
        },
      ),
      (keys) => {
        const b = new SegmentKeysBuilder();
        for (const k of keys) b.add(k);
        const present = keys.flatMap((k) => k === null ? [] : [k]);
        assert.equal(b.count, present.length);
        assert.deepEqual(b.finish(), segmentKeys(present));
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("varints round-trip and reject truncation", () => {
  fc.assert(
    fc.property(fc.nat({ max: 2 ** 48 }), (v) => {
      const out: number[] = [];
      writeVarint(out, v);
      assert.deepEqual(readVarint(Uint8Array.from(out), 0), [v, out.length]);
      if (out.length > 1) {
        assert.equal(readVarint(Uint8Array.from(out.slice(0, -1)), 0)[0], -1);
      }
    }),
  );
});

Deno.test("an L0 run names exactly the segments holding each key, through encode/decode", () => {
  fc.assert(
    fc.property(
      layoutArb(16),
      fc.nat({ max: 1000 }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 20 }),
      (layout, first, seed, probes) => {
        const run = l0(first, layout, seed);
        const want = model(first, layout);
        assert.equal(run.entryCount, want.size);
        assert.equal(run.level, 0);
        assertAnswers(run, want, seed, probes);
        const decoded = decodeRun(encodeRun(run));
        assert.equal(decoded.firstSegment, first);
        assert.equal(decoded.lastSegment, first + layout.length - 1);
        assertAnswers(decoded, want, seed, probes);
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("compaction keeps every key's segments, over two levels and encode/decode", () => {
  fc.assert(
    fc.property(
      fc.array(layoutArb(4), { minLength: 2, maxLength: 5 }),
      fc.integer({ min: 2, max: 3 }),
      fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      (groups, fanout, seed) => {
        // Runs of 4 segments each (the last may be shorter only at the end).
        const layouts = groups.map((
          g,
        ) => [...g, ...Array(4 - g.length).fill([])]);
        const l0s = layouts.map((g, i) => l0(4 * i, g, seed));
        const l1s: RoutingRun[] = [];
        for (let i = 0; i + fanout <= l0s.length; i += fanout) {
          l1s.push(decodeRun(encodeRun(compactRuns(l0s.slice(i, i + fanout)))));
        }
        const covered = l1s.length * fanout;
        for (const [i, run] of l1s.entries()) {
          const part = layouts.slice(i * fanout, (i + 1) * fanout).flat();
          assert.equal(run.level, 1);
          assertAnswers(run, model(4 * fanout * i, part), seed, []);
        }
        if (l1s.length >= 2) {
          const l2 = decodeRun(encodeRun(compactRuns(l1s)));
          assert.equal(l2.level, 2);
          assertAnswers(l2, model(0, layouts.slice(0, covered).flat()), seed, [
            "absent",
          ]);
        }
      },
    ),
    { numRuns: 40 },
  );
});

Deno.test("compactRuns() refuses gaps and mixed levels", () => {
  const seed = 1n;
  const a = l0(0, [["a"]], seed);
  const b = l0(2, [["b"]], seed);
  assert.throws(() => compactRuns([a, b]), /contiguous/);
  const c = l0(1, [["c"]], seed);
  const ac = compactRuns([a, c]);
  assert.throws(() => compactRuns([ac, l0(2, [["d"]], seed)]), /one level/);
});

Deno.test("an L0 run of segments without keys is valid and empty", () => {
  const run = decodeRun(encodeRun(l0(5, [[], []], 3n)));
  assert.equal(run.entryCount, 0);
  assert.deepEqual(run.lookup(fingerprintOf("a", 3n)), []);
});

Deno.test("decodeRun() reports every flipped byte or cut as corrupt", () => {
  const seed = 9n;
  const bytes = encodeRun(
    compactRuns([
      l0(0, [["a", "b"], ["b"]], seed),
      l0(2, [["c"], ["a"]], seed),
    ]),
  );
  for (let i = 0; i < bytes.length; i++) {
    const bad = bytes.slice();
    bad[i] ^= 0x41;
    assert.throws(
      () => decodeRun(bad),
      (e) => e instanceof StreamError && e.kind === "corrupt",
      `byte ${i}`,
    );
  }
  for (const cut of [0, 10, RUN_HEADER_BYTES, bytes.length - 1]) {
    assert.throws(
      () => decodeRun(bytes.subarray(0, cut)),
      (e) => e instanceof StreamError && e.kind === "corrupt",
    );
  }
});

/** `bytes` with its trailing CRC32C recomputed, as a careless writer would. */
function resealed(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  new DataView(out.buffer).setUint32(
    out.length - 4,
    crc32c(out.subarray(0, out.length - 4)),
    true,
  );
  return out;
}

Deno.test("decodeRun() checks the table itself, not only the checksum", () => {
  const seed = 4n;
  const l0run = l0(0, [["a", "b", "c"], ["c", "d"]], seed);
  const file = encodeRun(l0run);
  const view = new DataView(file.buffer);
  const tableAt = RUN_HEADER_BYTES + view.getUint32(28, true);
  const n = l0run.entryCount;
  const cases: [string, (b: Uint8Array) => void][] = [
    ["not ascending", (b) => {
      const first = b.slice(tableAt, tableAt + 8);
      b.copyWithin(tableAt, tableAt + 8, tableAt + 16);
      b.set(first, tableAt + 8);
    }],
    ["tag bits", (b) => b[tableAt] |= 1],
    ["mask", (b) => b[tableAt + 8 * n] = 0],
    ["mask", (b) => b[tableAt + 8 * n] = 0x04], // segment 2 of a 2-segment run
  ];
  for (const [what, damage] of cases) {
    const bad = file.slice();
    damage(bad);
    assert.throws(
      () => decodeRun(resealed(bad)),
      (e) =>
        e instanceof StreamError && e.kind === "corrupt" &&
        e.message.includes(what),
      what,
    );
  }
  const l1 = encodeRun(compactRuns([l0run, l0(2, [["a"], ["e"]], seed)]));
  const l1At = RUN_HEADER_BYTES + new DataView(l1.buffer).getUint32(28, true);
  const postingsAt = l1At + 8 * new DataView(l1.buffer).getUint32(24, true);
  for (const [byte, what] of [[0, "count"], [9, "count"]] as const) {
    const bad = l1.slice();
    bad[postingsAt] = byte;
    assert.throws(
      () => decodeRun(resealed(bad)),
      (e) =>
        e instanceof StreamError && e.kind === "corrupt" &&
        e.message.includes(what),
    );
  }
  const beyond = l1.slice();
  beyond[postingsAt + 1] = 9; // first segment 9 of a 0..3 run
  assert.throws(() => decodeRun(resealed(beyond)), /beyond|ascending|trailing/);
});
