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

Deno.test("lexicon order over long shared prefixes, keys that prefix others, and bytes 0x00 and 0xff", () => {
  const keys: Uint8Array[] = [];
  for (let i = 0; i < 3000; i++) {
    const n = (i * 7919) % 1300;
    keys.push(enc.encode(`customer/region-${n % 7}/id-${n}`));
    keys.push(enc.encode(`customer/region-${n % 7}`)); // a prefix of the above
  }
  for (let b = 0; b < 256; b += 51) {
    keys.push(Uint8Array.of(0x61, b, 0x62, 0xff, b));
    keys.push(Uint8Array.of(0x61, b));
  }
  const lexicon = buildLexicon([segmentKeys(keys)]);
  const hex = (k: Uint8Array) =>
    Array.from(k, (b) => b.toString(16).padStart(2, "0")).join("");
  const expected = [...new Set(keys.map(hex))]
    .map((h) => Uint8Array.from(h.match(/../g)!, (x) => parseInt(x, 16)))
    .sort(compareBytes);
  const got = Array.from({ length: lexicon.size }, (_, i) => lexicon.at(i));
  assert.deepEqual(got.map(hex), expected.map(hex));
});
