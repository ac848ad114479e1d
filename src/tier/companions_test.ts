import assert from "node:assert/strict";
import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { decodeCompanion } from "../search/companion.ts";
import { encodeSegment } from "../segment/format.ts";
import { openSegment } from "../segment/reader.ts";
import { compileQuery } from "../search/compile.ts";
import { validateSearchConfig } from "../search/config.ts";
import { parseQuery } from "../search/query.ts";
import type { CompanionBuildInput } from "./_companion_build.ts";
import {
  checkedSearch,
  type CompanionEntry,
  companionPruner,
  hashOf,
  inThreadCompanionBuilder,
  workerCompanionBuilder,
} from "./companions.ts";

const SEARCH = {
  fields: {
    status: {
      kind: "integer",
      bindings: [{ version: 1, jsonPointer: "/status" }],
      exact: true,
    },
    // Version 2 moved the field: records keep the pointer of their version.
    service: {
      kind: "keyword",
      bindings: [
        { version: 1, jsonPointer: "/svc" },
        { version: 2, jsonPointer: "/service" },
      ],
      exact: true,
    },
  },
};
const enc = new TextEncoder();

/** 60 records in two chunks, status 500 only in records 40-44. */
function input(): CompanionBuildInput {
  const chunks = [];
  let pos = 100;
  let boundary = 0;
  for (let c = 0; c < 2; c++) {
    const parts: Uint8Array[] = [];
    const lengths: number[] = [];
    const startPos = pos;
    for (let i = c * 30; i < c * 30 + 30; i++) {
      if (i === 20) boundary = pos;
      const value = i < 20
        ? { svc: "old", status: 200 }
        : { service: "new", status: i >= 40 && i < 45 ? 500 : 200 };
      const bytes = enc.encode(JSON.stringify(value) + ",");
      parts.push(bytes);
      lengths.push(bytes.length);
      pos += bytes.length;
    }
    const data = new Uint8Array(pos - startPos);
    let at = 0;
    for (const p of parts) {
      data.set(p, at);
      at += p.length;
    }
    chunks.push({ startPos, data, lengths: Uint32Array.from(lengths) });
  }
  return {
    search: SEARCH,
    generation: 2,
    boundaries: [{ position: 0, version: 1 }, {
      position: boundary,
      version: 2,
    }],
    segment: { startPos: 100, endPos: pos },
    chunks,
    blockBytes: 100,
  };
}

function plan(q: string) {
  const checked = validateSearchConfig(SEARCH);
  if (!checked.ok) throw checked.error;
  const parsed = parseQuery(q);
  if (!parsed.ok) throw parsed.error;
  const compiled = compileQuery(checked.value, parsed.value, "filter");
  if (!compiled.ok) throw compiled.error;
  return { config: checked.value, plan: compiled.value };
}

/** The records of `input()` as a segment file (zstd blocks of 256 bytes). */
function fileInput(): CompanionBuildInput {
  const chunked = input();
  const records = [];
  for (
    const c of chunked.chunks as {
      startPos: number;
      data: Uint8Array;
      lengths: Uint32Array;
    }[]
  ) {
    let at = 0;
    for (const length of c.lengths) {
      records.push({
        pos: c.startPos + at,
        data: c.data.subarray(at, at + length),
      });
      at += length;
    }
  }
  const file = encodeSegment(records, {
    streamId: "t",
    codec: createNodeZstdCodec(),
    blockBytesTarget: 256,
  });
  return { ...chunked, chunks: { file } };
}

Deno.test("companion builds: a segment file gives the bytes its decoded blocks give", async () => {
  const worker = workerCompanionBuilder();
  try {
    const fromChunks = await inThreadCompanionBuilder().build(input());
    const file = fileInput();
    const opened = await openSegment(
      (file.chunks as { file: Uint8Array }).file,
      {
        codec: createNodeZstdCodec(),
      },
    );
    assert.ok(opened.blocks.length > 2, "several blocks");
    assert.deepEqual(await worker.build(file), fromChunks);
    assert.deepEqual(await inThreadCompanionBuilder().build(file), fromChunks);
    // A damaged file is refused, not built into a short companion.
    const damaged = (file.chunks as { file: Uint8Array }).file.slice();
    damaged[40] ^= 0xff;
    await assert.rejects(() =>
      worker.build({ ...file, chunks: { file: damaged } })
    );
  } finally {
    worker.close();
  }
});

Deno.test("companion builds: the Worker and this thread give the same bytes", async () => {
  const worker = workerCompanionBuilder();
  try {
    const here = await inThreadCompanionBuilder().build(input());
    const there = await worker.build(input());
    assert.deepEqual(there, here);
    const c = decodeCompanion(there);
    assert.equal(c.generation, 2);
    assert.equal(c.blocks[0].startPos, 100);
    assert.deepEqual(c.exact.get("service")!.terms, ["new", "old"]);
    // Every record has a service under its own version's pointer.
    const present = c.exact.get("service")!.present;
    assert.ok(c.blocks.every((_, i) => (present[i >> 3] >> (i & 7)) & 1));
    await assert.rejects(
      () => worker.build({ ...input(), search: { fields: 3 } }),
    );
  } finally {
    worker.close();
  }
});

Deno.test("companion pruner: ranges ahead, only the stream's own records and its config", async () => {
  const bytes = await inThreadCompanionBuilder().build(input());
  const companion = decodeCompanion(bytes);
  const { config, plan: p } = plan("status:500");
  const entry: CompanionEntry = {
    hash: hashOf(config),
    startPos: companion.startPos,
    endPos: companion.endPos,
    companion,
    bytes: bytes.length,
  };
  const pruner = companionPruner((id) => id === 7 ? [entry] : undefined);
  const pruning = pruner(7, config, p)!;
  const first = pruning.skip(7, 100)!;
  assert.equal(first.from, 100); // the records before the 500s go
  assert.ok(first.to > 100 && first.to <= 100 + 40 * 40);
  const after = pruning.skip(7, first.to);
  assert.ok(after === undefined || after.from > first.to);
  assert.equal(pruning.skip(8, 100), undefined); // a fork source's records
  assert.equal(pruning.indexedSegments(), 1);
  assert.equal(pruner(9, config, p), undefined);
  // Another config (a field more): its hash differs, nothing is consulted.
  const other = validateSearchConfig({
    fields: {
      ...SEARCH.fields,
      host: {
        kind: "keyword",
        bindings: [{ version: 1, jsonPointer: "/host" }],
        exact: true,
      },
    },
  });
  if (!other.ok) throw other.error;
  assert.equal(pruner(7, other.value, p), undefined);
});

Deno.test("checkedSearch() validates and hashes a search section once per section object", () => {
  const section = structuredClone(SEARCH);
  const first = checkedSearch(section);
  assert.ok(first !== null);
  const checked = validateSearchConfig(section);
  assert.ok(checked.ok);
  assert.equal(first.hash, hashOf(checked.value));
  // The same object: the same answer, not a second validation.
  assert.equal(checkedSearch(section), first);
  // An equal section in another object is checked again, to the same hash.
  const copy = structuredClone(SEARCH);
  const again = checkedSearch(copy);
  assert.ok(again !== null && again !== first);
  assert.equal(again.hash, first.hash);
  assert.equal(checkedSearch({ fields: 3 }), null);
  assert.equal(checkedSearch(null), null);
});
