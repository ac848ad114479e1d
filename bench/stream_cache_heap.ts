/**
 * @module
 * JS heap held by producer states, in process: N streams on a memory WAL,
 * each created and then appended to once by a producer of its own, with the
 * stream cache at its default budget and at a small one. The memory WAL
 * holds the same producer rows in both runs, so the difference is what the
 * engine keeps.
 *
 *   deno run -A --v8-flags=--expose-gc bench/stream_cache_heap.ts [--n 50000]
 */

import { parseArgs } from "node:util";
import { defaultConfig } from "../src/config.ts";
import { Engine } from "../src/engine/engine.ts";
import { createLogger } from "../src/log.ts";
import { MemoryStore, MemoryWal } from "../src/storage/memory_store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { n: { type: "string", default: "50000" } },
});
const n = Number(values.n);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
const enc = new TextEncoder();

async function heapAfter(cacheBytes: number): Promise<Record<string, number>> {
  gc!();
  const before = Deno.memoryUsage().heapUsed;
  const engine = await Engine.open(new MemoryStore(new MemoryWal()), {
    limits: { ...defaultConfig().limits, streamCacheBytes: cacheBytes },
    log: createLogger("error"),
    onFatal: (e) => {
      throw e;
    },
  });
  const body = enc.encode('{"m":1}');
  for (let i = 0; i < n; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const name = `s/${j}`;
      batch.push(
        engine.create(name, {
          contentType: "text/plain",
          ttlSeconds: undefined,
          expiresAtMs: undefined,
          closed: false,
          body: new Uint8Array(),
          fork: undefined,
          routingKey: undefined,
          timestampMs: undefined,
        }).then(() =>
          engine.append(name, {
            contentType: "text/plain",
            body,
            close: false,
            streamSeq: undefined,
            producer: { id: `writer-${j}`, epoch: 0, seq: 0 },
            routingKey: undefined,
            timestampMs: undefined,
          })
        ),
      );
    }
    await Promise.all(batch);
  }
  gc!();
  const after = Deno.memoryUsage().heapUsed;
  const stats = engine.streamCacheStats();
  await engine.close();
  return {
    cacheBytes,
    heapPerStreamB: Math.round((after - before) / n),
    entries: stats.entries,
    estimatedBytes: stats.bytes,
    evictions: stats.evictions,
  };
}

// Each run twice, alternating, so a first run's warm-up shows as noise.
const small1 = await heapAfter(256 * 1024);
const large1 = await heapAfter(defaultConfig().limits.streamCacheBytes);
const large = await heapAfter(defaultConfig().limits.streamCacheBytes);
const small = await heapAfter(256 * 1024);
console.log(JSON.stringify({ n, small1, large1 }));
console.log(JSON.stringify({ n, large, small }));
console.log(
  `producer states held by the engine: ${
    large.heapPerStreamB - small.heapPerStreamB
  } B per stream`,
);
