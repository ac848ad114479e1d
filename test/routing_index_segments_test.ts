/**
 * The routing-key index over real segment files: keys read from segments'
 * blocks, runs built and compacted, then a keyed read as the tier layer
 * will do it (run candidates, then block blooms, then every record's key)
 * returns exactly the records with that key, in order.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { inThreadRunBuilder } from "../src/index/builder.ts";
import { RunCache } from "../src/index/cache.ts";
import { MemoryRunCatalog } from "../src/index/catalog.ts";
import { SegmentKeysBuilder } from "../src/index/fingerprint.ts";
import { RoutingKeyIndex } from "../src/index/routing_index.ts";
import { MemoryObjectStore } from "../src/objectstore/memory.ts";
import { segmentKey } from "../src/objectstore/manifest.ts";
import { encodeSegment, routingKeyHash } from "../src/segment/format.ts";
import { openSegment } from "../src/segment/reader.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

interface Rec {
  pos: number;
  data: Uint8Array;
  key: Uint8Array | null;
}

/** Records of each segment, positions continuing across segments. */
function toSegments(shape: (string | null)[][]): Rec[][] {
  let pos = 0;
  return shape.map((keys) =>
    keys.map((key, i) => {
      const data = enc.encode(`r${pos}:${key ?? "-"}:${"x".repeat(i % 7)}`);
      const rec = { pos, data, key: key === null ? null : enc.encode(key) };
      pos += data.length;
      return rec;
    })
  );
}

Deno.test("keyed reads through runs, block blooms and record checks return exactly the keyed records", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.array(
          fc.option(
            fc.constantFrom("u1", "u2", "u3", "ü4", "a/b", "k".repeat(40)),
            { nil: null },
          ),
          {
            minLength: 1,
            maxLength: 25,
          },
        ),
        { minLength: 1, maxLength: 24 },
      ),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 16, max: 200 }),
      async (shape, span, blockBytesTarget) => {
        const segments = toSegments(shape);
        const objects = new MemoryObjectStore();
        const keys: string[] = [];
        for (const records of segments) {
          const first = records[0].pos;
          const last = records[records.length - 1];
          const key = segmentKey(9, first, last.pos + last.data.length);
          keys.push(key);
          await objects.put(
            key,
            encodeSegment(records, {
              streamId: "s",
              codec: null,
              blockBytesTarget,
            }),
          );
        }
        const readSegment = async (ordinal: number) =>
          await openSegment((await objects.get(keys[ordinal]))!, {
            codec: null,
          });
        const index = new RoutingKeyIndex({
          objects,
          catalog: new MemoryRunCatalog(),
          builder: inThreadRunBuilder(),
          cache: new RunCache(1 << 20),
          readKeys: async (_id, ordinal) => {
            const reader = await readSegment(ordinal);
            const builder = new SegmentKeysBuilder();
            for (let b = 0; b < reader.blocks.length; b++) {
              for (const r of await reader.readBlock(b)) builder.add(r.key);
            }
            return builder.finish();
          },
          shape: { span, fanout: 2, levelMax: 2 },
          now: () => 0,
        });
        while (
          await index.step(9, segments.length) !== undefined
        ) { /* catch up */ }
        for (
          const k of ["u1", "u2", "u3", "ü4", "a/b", "k".repeat(40), "absent"]
        ) {
          const want = segments.flat().filter((r) =>
            r.key !== null && dec.decode(r.key) === k
          )
            .map((r) => r.pos);
          const { segments: candidates } = await index.candidates(
            9,
            k,
            segments.length,
          );
          const got: number[] = [];
          const hash = routingKeyHash(enc.encode(k));
          for (const ordinal of candidates) {
            const reader = await readSegment(ordinal);
            for (let b = 0; b < reader.blocks.length; b++) {
              if (!await reader.mayContainKey(b, hash)) continue;
              for (const r of await reader.readBlock(b)) {
                if (r.key !== null && dec.decode(r.key) === k) got.push(r.pos);
              }
            }
          }
          assert.deepEqual(got, want, k);
          // Indexed segments without the key are never candidates.
          const holding = new Set(
            segments.flatMap((recs, s) =>
              recs.some((r) => r.key !== null && dec.decode(r.key) === k)
                ? [s]
                : []
            ),
          );
          const through =
            (await index.candidates(9, k, segments.length)).indexedThrough;
          for (const s of candidates) {
            assert.ok(s >= through || holding.has(s), `${k} segment ${s}`);
          }
        }
      },
    ),
    { numRuns: 40 },
  );
});
