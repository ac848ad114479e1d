import assert from "node:assert/strict";
import fc from "fast-check";
import { StreamError } from "./errors.ts";
import {
  decodeKeys,
  decodeTimes,
  encodeKeys,
  encodeTimes,
} from "./record_meta.ts";

Deno.test("key tables and time runs round-trip", () => {
  fc.assert(
    fc.property(
      fc.array(fc.option(fc.uint8Array({ maxLength: 20 }), { freq: 3 }), {
        minLength: 1,
        maxLength: 50,
      }),
      fc.array(fc.integer({ min: 0, max: 2 ** 50 }), {
        minLength: 1,
        maxLength: 50,
      }),
      (keys, times) => {
        const table = encodeKeys(keys);
        if (keys.every((k) => k === null)) assert.equal(table, null);
        assert.deepEqual(
          decodeKeys(table, keys.length).map((k) => k && [...k]),
          keys.map((k) => k && [...k]),
        );
        const sorted = Float64Array.from(times.sort((a, b) => a - b));
        assert.deepEqual(
          decodeTimes(encodeTimes(sorted), sorted.length),
          sorted,
        );
      },
    ),
  );
});

Deno.test("damaged key tables and time runs are corrupt", () => {
  const table = encodeKeys([new Uint8Array([1, 2]), null])!;
  const corrupt = (f: () => unknown) =>
    assert.throws(f, (e) => e instanceof StreamError && e.kind === "corrupt");
  corrupt(() => decodeKeys(table.subarray(0, 5), 2));
  corrupt(() => decodeKeys(table, 3));
  corrupt(() => decodeKeys(new Uint8Array([...table, 0]), 2));
  const runs = encodeTimes(Float64Array.of(7, 7, 8));
  corrupt(() => decodeTimes(runs, 2));
  corrupt(() => decodeTimes(runs, 4));
  corrupt(() => decodeTimes(runs.subarray(0, 11), 3));
});
