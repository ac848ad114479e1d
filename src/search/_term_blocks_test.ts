import assert from "node:assert/strict";
import fc from "fast-check";
import { bitmapBytes, TermBlocksBuilder } from "./_term_blocks.ts";

/** Ascending, distinct block numbers below `n`. */
function listArb(n: number) {
  return fc.uniqueArray(fc.nat(n - 1), { maxLength: Math.min(n, 80) }).map(
    (xs) => xs.sort((a, b) => a - b),
  );
}

const caseArb = fc.integer({ min: 1, max: 70_000 }).chain((n) =>
  fc.tuple(
    fc.constant(n),
    fc.array(fc.tuple(listArb(n), fc.boolean()), { maxLength: 12 }),
  )
);

Deno.test("TermBlocks: lists and bitmaps give back the blocks added, in the smaller form (property)", () => {
  fc.assert(
    fc.property(caseArb, ([n, terms]) => {
      const built = new TermBlocksBuilder(n);
      for (const [list, asBitmap] of terms) {
        if (!asBitmap) {
          built.addList(list);
          continue;
        }
        const bits = new Uint8Array(bitmapBytes(n));
        for (const b of list) bits[b >> 3] |= 1 << (b & 7);
        built.addBitmap(bits);
      }
      const blocks = built.finish();
      assert.equal(blocks.length, terms.length);
      const idBytes = n <= 1 << 16 ? 2 : 4;
      const union = new Uint8Array(bitmapBytes(n));
      const expected = new Uint8Array(bitmapBytes(n));
      terms.forEach(([list], i) => {
        assert.deepEqual(blocks.blocksOf(i), list);
        // The form is chosen by size alone, whichever way the term came.
        const isList = blocks.bitsAt[i] < 0;
        assert.equal(isList, list.length * idBytes <= bitmapBytes(n));
        blocks.orInto(i, union);
        for (const b of list) expected[b >> 3] |= 1 << (b & 7);
      });
      assert.deepEqual(union, expected);
      // Memory per term: at most a bitmap, plus its two offsets.
      assert.ok(
        blocks.byteLength <=
          4 + terms.length * (bitmapBytes(n) + 8),
      );
    }),
    { numRuns: 300 },
  );
});

Deno.test("TermBlocks: a term in one block of 1,024 keeps 2 bytes of blocks, not a 128-byte bitmap", () => {
  const built = new TermBlocksBuilder(1024);
  for (let t = 0; t < 1000; t++) built.addList([t]);
  built.addList(Array.from({ length: 1024 }, (_, i) => i));
  const blocks = built.finish();
  assert.equal(blocks.ids.byteLength, 2000);
  assert.equal(blocks.bits.byteLength, 128);
  assert.deepEqual(blocks.blocksOf(999), [999]);
  assert.equal(blocks.blocksOf(1000).length, 1024);
});
