/**
 * Tiered-storage benchmarks.
 *
 * `deno bench -A bench/tier_bench.ts`: segment encoding (sealing) and reads
 * from a cached segment, in process, per 16 MiB.
 *
 * `deno run -A bench/tier_bench.ts [--mib 128]`: the end-to-end figures, each
 * against an in-process server on a temp dir (fs object store):
 * - append MB/s with tiering off vs while segmenting and uploading;
 * - sealing+uploading MB/s of a large backlog, and peak RSS meanwhile;
 * - catch-up read MB/s of one reader over a stream held in cached segments.
 */

import { createNodeZstdCodec } from "../src/_wasm/codec.ts";
import {
  type ConfigOverrides,
  defaultConfig,
  testConfig,
} from "../src/config.ts";
import { Engine } from "../src/engine/engine.ts";
import { Tier } from "../src/tier/tier.ts";
import { createLogger } from "../src/log.ts";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { openThreadedSqliteStore } from "../src/storage/threaded_sqlite_store.ts";
import { encodeSegment, openSegment } from "../src/segment/format.ts";
import { startServer } from "../src/server.ts";
import { spawnServer } from "../test/_server.ts";

const MIB = 1024 * 1024;
const codec = createNodeZstdCodec();

/** Text that compresses about like JSON logs (random base64 words). */
function sampleBytes(size: number): Uint8Array {
  const raw = new Uint8Array(Math.ceil(size * 0.6));
  for (let at = 0; at < raw.length; at += 65536) {
    crypto.getRandomValues(raw.subarray(at, at + 65536));
  }
  let text = "";
  for (let i = 0; i < raw.length; i += 48) {
    text += `{"k":${i},"v":"${
      btoa(String.fromCharCode(...raw.subarray(i, i + 48)))
    }"},`;
  }
  return new TextEncoder().encode(text).subarray(0, size);
}

function chunksOf(bytes: Uint8Array, chunkBytes: number, recordBytes: number) {
  const chunks = [];
  for (let at = 0; at < bytes.length; at += chunkBytes) {
    const data = bytes.subarray(at, Math.min(at + chunkBytes, bytes.length));
    const lengths: number[] = [];
    for (let r = 0; r < data.length; r += recordBytes) {
      lengths.push(Math.min(recordBytes, data.length - r));
    }
    chunks.push({
      startPos: at,
      endPos: at + data.length,
      data,
      lengths: Uint32Array.from(lengths),
      keys: null,
      times: null,
    });
  }
  return chunks;
}

const BENCH_BYTES = 16 * MIB;
const benchData = sampleBytes(BENCH_BYTES);
const benchChunks = chunksOf(benchData, 64 * 1024, 200);
const benchSegment = encodeSegment(benchChunks, {
  streamId: "1",
  codec,
  level: 1,
});

Deno.bench("seal 16 MiB of WAL chunks into a segment (zstd level 1)", {
  group: "tier",
}, () => {
  encodeSegment(benchChunks, { streamId: "1", codec, level: 1 });
});

Deno.bench("read 16 MiB back from an in-memory segment", {
  group: "tier",
}, async () => {
  const reader = await openSegment(benchSegment, { codec });
  for (let b = 0; b < reader.blocks.length; b++) await reader.readBlock(b);
});

// ---- end-to-end -------------------------------------------------------------

async function appendFor(
  url: string,
  ms: number,
  writers: number,
  body: Uint8Array,
): Promise<number> {
  let bytes = 0;
  const end = Date.now() + ms;
  await Promise.all(Array.from({ length: writers }, async (_, w) => {
    while (Date.now() < end) {
      const response = await fetch(`${url}/v1/stream/w${w}`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: body as Uint8Array<ArrayBuffer>,
      });
      await response.body?.cancel();
      if (response.status === 204) bytes += body.length;
    }
  }));
  return bytes / MIB / (ms / 1000);
}

/** Reads stream "big" from the start; returns its bytes. */
async function readAll(url: string): Promise<number> {
  let bytes = 0;
  let offset = "-1";
  for (;;) {
    const response = await fetch(`${url}/v1/stream/big?offset=${offset}`);
    bytes += (await response.arrayBuffer()).byteLength;
    offset = response.headers.get("stream-next-offset")!;
    if (response.headers.get("stream-up-to-date") === "true") return bytes;
  }
}

async function create(url: string, name: string): Promise<void> {
  const response = await fetch(`${url}/v1/stream/${name}`, {
    method: "PUT",
    headers: { "content-type": "application/octet-stream" },
  });
  await response.body?.cancel();
}

async function details(url: string, name: string) {
  return await (await fetch(`${url}/v1/stream/${name}/_details`)).json();
}

async function withServer<T>(
  overrides: ConfigOverrides,
  fn: (url: string, dir: string) => Promise<T>,
  dir?: string,
): Promise<T> {
  const dataDir = dir ?? await Deno.makeTempDir({ prefix: "tier-bench-" });
  const base: ConfigOverrides = {
    storage: { durability: "os" },
    limits: { commitBatchMax: 1024, readBytesMax: 4 * MIB },
    log: { level: "error" },
  };
  const server = await startServer(testConfig(dataDir, {
    ...base,
    ...overrides,
    limits: { ...base.limits, ...overrides.limits },
  }));
  try {
    return await fn(server.url, dataDir);
  } finally {
    await server.close();
  }
}

async function appendComparison(): Promise<void> {
  const body = sampleBytes(16 * 1024);
  const writers = 8;
  const run = (tiering: boolean) =>
    withServer(
      tiering
        ? {
          objectStore: { kind: "fs" },
          segment: { segmentBytes: 1 * MIB, segmentAgeMs: 100 },
        }
        : { objectStore: { kind: "none" } },
      async (url) => {
        for (let w = 0; w < writers; w++) await create(url, `w${w}`);
        const rate = await appendFor(url, 3000, writers, body);
        if (tiering) {
          const d = await details(url, "w0");
          console.log(`  (w0: ${d.segmentCount} segments sealed in the run)`);
        }
        return rate;
      },
    );
  // Alternate, so drift on a shared machine hits both sides alike.
  const off: number[] = [];
  const on: number[] = [];
  for (let round = 0; round < 3; round++) {
    off.push(await run(false));
    on.push(await run(true));
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const f = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(", ");
  console.log(
    `append MB/s, 8 writers x 16 KiB, 3 s runs: tiering off ${
      f(off)
    }; while segmenting ${f(on)} (mean ratio ${
      (mean(on) / mean(off)).toFixed(2)
    }x)`,
  );
}

async function sealAndRead(mib: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tier-bench-" });
  const body = sampleBytes(1 * MIB);
  // Fill the WAL with tiering off, so the backlog is sealed all at once.
  await withServer({ objectStore: { kind: "none" } }, async (url) => {
    await create(url, "big");
    for (let i = 0; i < mib; i++) {
      const response = await fetch(`${url}/v1/stream/big`, {
        method: "POST",
        headers: { "content-type": "application/octet-stream" },
        body: body as Uint8Array<ArrayBuffer>,
      });
      await response.body?.cancel();
    }
  }, dir);
  await withServer({
    objectStore: { kind: "fs" },
    segment: {
      segmentBytes: 16 * MIB,
      segmentAgeMs: 10,
      cacheBytes: 256 * MIB, // the default
    },
  }, async (url) => {
    const rssBefore = Deno.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, Deno.memoryUsage().rss);
    }, 20);
    const start = performance.now();
    let sealS = 0;
    for (;;) {
      const d = await details(url, "big");
      if (sealS === 0 && d.sealedThroughOffset === d.tailOffset) {
        sealS = (performance.now() - start) / 1000;
      }
      if (d.uploadedThroughOffset === d.tailOffset) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const allS = (performance.now() - start) / 1000;
    clearInterval(sampler);
    console.log(
      `${mib} MiB backlog: sealed at ${(mib / sealS).toFixed(1)} MB/s, ` +
        `sealed+uploaded+WAL cleaned at ${(mib / allS).toFixed(1)} MB/s; RSS ${
          (rssBefore / MIB).toFixed(0)
        } MiB before, peak ${(rssPeak / MIB).toFixed(0)} MiB`,
    );
    const rates: string[] = [];
    for (let pass = 0; pass < 4; pass++) {
      const readStart = performance.now();
      const bytes = await readAll(url);
      rates.push(
        (bytes / MIB / ((performance.now() - readStart) / 1000)).toFixed(0),
      );
    }
    console.log(
      `HTTP catch-up read, 1 reader in process, 4 MiB responses, segments in cache, MB/s: ${
        rates.join(", ")
      } (first pass decodes blocks)`,
    );
  }, dir);
  await engineReads(dir);
  // Reads from a separate server process, so client and server do not share
  // one event loop: a cold pass (object store -> cache), then cached ones.
  const child = await spawnServer(dir, [
    "--cache-bytes",
    String(2048 * MIB),
    "--read-bytes-max",
    String(4 * MIB),
    "--durability",
    "os",
  ]);
  try {
    const rates: string[] = [];
    for (let pass = 0; pass < 4; pass++) {
      const readStart = performance.now();
      const bytes = await readAll(child.url);
      rates.push(
        (bytes / MIB / ((performance.now() - readStart) / 1000)).toFixed(0),
      );
    }
    console.log(
      `HTTP catch-up read, 1 reader in another process, 4 MiB responses, MB/s: cold ${
        rates[0]
      }, cached ${rates.slice(1).join(", ")}`,
    );
  } finally {
    child.child.kill("SIGTERM");
    await child.child.status;
  }
  await Deno.remove(dir, { recursive: true });
}

/** The tier's read path without HTTP: `Engine.read` over Tier.reader(). */
async function engineReads(dir: string): Promise<void> {
  const config = defaultConfig();
  const log = createLogger("warn");
  const store = await openThreadedSqliteStore(`${dir}/wal.sqlite`, "os");
  const engine = await Engine.open(store, {
    limits: config.limits,
    log,
    onFatal: () => {},
  });
  const tier = await Tier.open({
    store,
    objects: new FsObjectStore({ root: `${dir}/objects` }),
    codec,
    segmentDir: `${dir}/segments`,
    config: { ...config.segment, cacheBytes: 2048 * MIB },
    streams: () => engine.streamInfos(),
    streamInfo: (id) => engine.streamInfo(id),
    log,
  });
  engine.wrapChunkReader((wal) => tier.reader(wal, engine.readBytes));
  const rates: string[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const start = performance.now();
    let pos: number | "start" = "start";
    let bytes = 0;
    for (;;) {
      const read = await engine.read("big", pos, 4 * MIB);
      if (!read.ok) throw read.error;
      bytes += read.value.data.length;
      pos = read.value.nextPos;
      if (read.value.upToDate) break;
    }
    rates.push((bytes / MIB / ((performance.now() - start) / 1000)).toFixed(0));
  }
  console.log(
    `Engine.read over the tier (no HTTP), 4 MiB reads, MB/s: cold ${
      rates[0]
    }, cached ${rates.slice(1).join(", ")}`,
  );
  await tier.close();
  await engine.close();
  await store.close();
}

if (import.meta.main) {
  const at = Deno.args.indexOf("--mib");
  const mib = at >= 0 ? Number(Deno.args[at + 1]) : 128;
  await appendComparison();
  await sealAndRead(mib);
}
