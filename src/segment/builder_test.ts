import assert from "node:assert/strict";
import { join } from "node:path";
import { StreamError } from "../errors.ts";
import { createNodeZstdCodec } from "../_wasm/codec.ts";
import {
  buildSegmentFile,
  openSegmentFile,
  writeFileDurably,
} from "./builder.ts";
import { openSegment } from "./format.ts";

const codec = createNodeZstdCodec();
const enc = new TextEncoder();

function logRecords(count: number, startPos = 0) {
  const out = [];
  let pos = startPos;
  for (let i = 0; i < count; i++) {
    const data = enc.encode(JSON.stringify({ i, msg: `event ${i}` }) + ",");
    out.push({ pos, data, key: enc.encode(`k${i % 7}`) });
    pos += data.length;
  }
  return out;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-segment-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("buildSegmentFile() writes a readable segment and no temp file", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "0000000000000001.seg");
    const recs = logRecords(500, 4096);
    const built = await buildSegmentFile(path, recs, {
      streamId: "s",
      codec,
      blockBytesTarget: 1024,
    });
    assert.equal(built.sizeBytes, (await Deno.stat(path)).size);
    const names = await Array.fromAsync(Deno.readDir(dir), (e) => e.name);
    assert.deepEqual(names, ["0000000000000001.seg"]);
    using file = await openSegmentFile(path);
    const reader = await openSegment(file, { codec });
    await reader.verify();
    const mid = recs[250];
    // Concurrent reads share one handle and must not interleave seeks.
    const [a, b] = await Promise.all([
      reader.readFrom(mid.pos, 1),
      reader.readFrom(recs[3].pos + 1, 1),
    ]);
    assert.deepEqual(a.records[0].data, mid.data);
    assert.deepEqual(b.records[0].data, recs[3].data); // the record holding it
  });
});

Deno.test("buildSegmentFile() replaces an existing file whole", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "seg");
    await Deno.writeFile(path, enc.encode("old contents"));
    await buildSegmentFile(path, logRecords(3), { streamId: "s", codec: null });
    const reader = await openSegment(await Deno.readFile(path), {
      codec: null,
    });
    assert.equal(reader.recordCount, 3);
  });
});

Deno.test("writeFileDurably() fails as unavailable and leaves nothing", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "missing-dir", "seg");
    await assert.rejects(
      writeFileDurably(path, new Uint8Array(10)),
      (e) => e instanceof StreamError && e.kind === "unavailable",
    );
    // Renaming onto a directory fails after the temp file was written.
    await Deno.mkdir(join(dir, "taken"));
    await assert.rejects(
      writeFileDurably(join(dir, "taken"), new Uint8Array(10)),
      (e) => e instanceof StreamError && e.kind === "unavailable",
    );
    const names = await Array.fromAsync(Deno.readDir(dir), (e) => e.name);
    assert.deepEqual(names, ["taken"]);
  });
});
