import assert from "node:assert/strict";
import fc from "fast-check";
import { StreamError } from "../errors.ts";
import { segmentKeys } from "./fingerprint.ts";
import {
  buildLexicon,
  compareBytes,
  decodeLexicon,
  encodeLexicon,
  type Lexicon,
  lexiconObjectKey,
  mergeLexicons,
} from "./lexicon.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

function strings(l: Lexicon): string[] {
  return Array.from({ length: l.size }, (_, i) => dec.decode(l.at(i)));
}

function sortedDistinct(keys: string[]): string[] {
  return [...new Set(keys)].sort((a, b) =>
    compareBytes(enc.encode(a), enc.encode(b))
  );
}

const keyArb = fc.string({ unit: "binary", minLength: 1, maxLength: 12 });

Deno.test("lexicons hold the sorted distinct keys and survive encoding", () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(keyArb, { maxLength: 40 }), { maxLength: 5 }),
      (segments) => {
        const lexicon = buildLexicon(segments.map((s) => segmentKeys(s)));
        const expected = sortedDistinct(segments.flat());
        assert.deepEqual(strings(lexicon), expected);
        const back = decodeLexicon(encodeLexicon(lexicon));
        assert.deepEqual(strings(back), expected);
      },
    ),
  );
});

Deno.test("merged lexicons are the union; keysAfter pages in byte order", () => {
  fc.assert(
    fc.property(
      fc.array(fc.array(keyArb, { maxLength: 30 }), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.option(keyArb, { nil: undefined }),
      fc.integer({ min: 1, max: 10 }),
      (lists, after, limit) => {
        const merged = mergeLexicons(
          lists.map((l) =>
            decodeLexicon(encodeLexicon(buildLexicon([segmentKeys(l)])))
          ),
        );
        const all = sortedDistinct(lists.flat());
        assert.deepEqual(strings(merged), all);
        const a = after === undefined ? undefined : enc.encode(after);
        const expected = all.filter((k) =>
          a === undefined || compareBytes(enc.encode(k), a) > 0
        ).slice(0, limit);
        assert.deepEqual(
          merged.keysAfter(a, limit).map((k) => dec.decode(k)),
          expected,
        );
      },
    ),
  );
});

Deno.test("a damaged lexicon is corrupt, never a wrong list", () => {
  const bytes = encodeLexicon(
    buildLexicon([segmentKeys(["alpha", "alps", "beta", "b"])]),
  );
  for (let i = 0; i < bytes.length; i++) {
    const bad = bytes.slice();
    bad[i] ^= 0x41;
    assert.throws(
      () => decodeLexicon(bad),
      (e) => e instanceof StreamError && e.kind === "corrupt",
      `byte ${i}`,
    );
  }
  assert.throws(
    () => decodeLexicon(bytes.subarray(0, bytes.length - 1)),
    (e) => e instanceof StreamError && e.kind === "corrupt",
  );
  assert.equal(
    lexiconObjectKey("streams/0000000000000001/index/rk/L0-a-b.run"),
    "streams/0000000000000001/index/rk/L0-a-b.lex",
  );
});
