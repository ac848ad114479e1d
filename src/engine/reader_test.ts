import assert from "node:assert/strict";
import fc from "fast-check";
import type { Chunk } from "../storage/wal_store.ts";
import { type ChunkReader, gather, type ReadSource } from "./reader.ts";

/** An in-memory chunk reader over per-stream chunk lists. */
function memoryReader(streams: Map<number, Chunk[]>): ChunkReader {
  return (id, fromPos, endPos) => {
    const chunks = (streams.get(id) ?? []).filter((c) =>
      c.endPos > fromPos && c.startPos < endPos
    );
    return Promise.resolve(chunks);
  };
}

function chunkOf(startPos: number, records: string[]): Chunk {
  const data = new TextEncoder().encode(records.join(""));
  return {
    startPos,
    endPos: startPos + data.length,
    data,
    lengths: records.length === 1
      ? null
      : Uint32Array.from(records.map((r) => r.length)),
    keys: null,
    times: null,
  };
}

const text = (g: { pieces: Uint8Array[] }) =>
  g.pieces.map((p) => new TextDecoder().decode(p)).join("");

Deno.test("gather() reads a position inside a record from that record's start", async () => {
  const read = memoryReader(
    new Map([[1, [chunkOf(0, ["aaa", "bbb"]), chunkOf(6, ["cc"])]]]),
  );
  const source: ReadSource = { id: 1, parent: undefined, forkPos: 0 };
  const g = await gather(read, source, 1, 8, 1000);
  assert.equal(text(g), "aaabbbcc");
  assert.equal(g.startPos, 0);
  assert.equal(g.endPos, 8);
  const second = await gather(read, source, 4, 8, 1000);
  assert.equal(text(second), "bbbcc");
  assert.equal(second.startPos, 3);
  const single = await gather(read, source, 7, 8, 1000);
  assert.equal(text(single), "cc");
  assert.equal(single.startPos, 6);
  assert.equal(single.endPos, 8);
  // The containing record is returned even when it alone exceeds the cap.
  const capped = await gather(read, source, 5, 8, 1);
  assert.equal(text(capped), "bbb");
  assert.equal(capped.endPos, 6);
});

Deno.test("gather() inside a fork's clipped source record reads the clipped part", async () => {
  const read = memoryReader(
    new Map([
      [1, [chunkOf(0, ["src1", "src2"])]],
      [2, [chunkOf(6, ["own"])]],
    ]),
  );
  const parent: ReadSource = { id: 1, parent: undefined, forkPos: 0 };
  const fork: ReadSource = { id: 2, parent, forkPos: 6 };
  const inSource = await gather(read, fork, 5, 9, 1000);
  assert.equal(text(inSource), "srown");
  assert.equal(inSource.startPos, 4);
  const inOwn = await gather(read, fork, 7, 9, 1000);
  assert.equal(text(inOwn), "own");
  assert.equal(inOwn.startPos, 6);
});

Deno.test("gather() stops at the byte cap on a record boundary but returns one record", async () => {
  const read = memoryReader(
    new Map([[1, [chunkOf(0, ["aaaa", "bbbb", "cccc"])]]]),
  );
  const source: ReadSource = { id: 1, parent: undefined, forkPos: 0 };
  assert.equal(text(await gather(read, source, 0, 12, 2)), "aaaa");
  assert.equal(text(await gather(read, source, 0, 12, 8)), "aaaabbbb");
  const rest = await gather(read, source, 8, 12, 8);
  assert.equal(text(rest), "cccc");
  assert.equal(rest.endPos, 12);
});

Deno.test("gather() stitches a fork's source (clipped) and its own records", async () => {
  const read = memoryReader(
    new Map([
      [1, [chunkOf(0, ["src1", "src2"]), chunkOf(8, ["src3"])]],
      [2, [chunkOf(6, ["own"])]],
    ]),
  );
  const parent: ReadSource = { id: 1, parent: undefined, forkPos: 0 };
  const fork: ReadSource = { id: 2, parent, forkPos: 6 };
  const g = await gather(read, fork, 0, 9, 1000);
  assert.equal(text(g), "src1srown");
  assert.equal(g.endPos, 9);
});

Deno.test("gather() returns every byte exactly once when paging (property)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.array(fc.string({ minLength: 1, maxLength: 5 }), {
          minLength: 1,
          maxLength: 4,
        }),
        {
          minLength: 1,
          maxLength: 8,
        },
      ),
      fc.integer({ min: 1, max: 12 }),
      async (chunkRecords, cap) => {
        const chunks: Chunk[] = [];
        let pos = 0;
        for (const records of chunkRecords) {
          const c = chunkOf(pos, records);
          chunks.push(c);
          pos = c.endPos;
        }
        const read = memoryReader(new Map([[1, chunks]]));
        const source: ReadSource = { id: 1, parent: undefined, forkPos: 0 };
        let at = 0;
        let all = "";
        for (let guard = 0; at < pos && guard < 1000; guard++) {
          const g = await gather(read, source, at, pos, cap);
          if (g.endPos <= at) return false;
          all += text(g);
          at = g.endPos;
        }
        return all === chunkRecords.flat().join("");
      },
    ),
  );
});

Deno.test("gather() from any position starts at the record holding it (property)", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.array(fc.string({ minLength: 1, maxLength: 5 }), {
          minLength: 1,
          maxLength: 4,
        }),
        { minLength: 1, maxLength: 6 },
      ),
      fc.nat(),
      async (chunkRecords, where) => {
        const chunks: Chunk[] = [];
        let pos = 0;
        for (const records of chunkRecords) {
          const c = chunkOf(pos, records);
          chunks.push(c);
          pos = c.endPos;
        }
        const read = memoryReader(new Map([[1, chunks]]));
        const source: ReadSource = { id: 1, parent: undefined, forkPos: 0 };
        const at = where % pos;
        let start = 0;
        const expected: string[] = [];
        for (const record of chunkRecords.flat()) {
          if (start + record.length > at) expected.push(record);
          start += record.length;
        }
        const g = await gather(read, source, at, pos, 1000);
        return text(g) === expected.join("") &&
          g.startPos === pos - text(g).length && g.endPos === pos;
      },
    ),
  );
});
