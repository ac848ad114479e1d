/**
 * @module
 * Where the JS heap of an idle stream goes, in process: N streams with one
 * 100-byte JSON message each are written to a SQLite WAL, then measured
 * piece by piece after a full GC each time: the start-up snapshot's rows,
 * the engine after `Engine.open` (with and without the snapshot it keeps
 * for tiering), the sorted name array the first listing builds, and, built
 * alone from the same rows, the `StreamState` objects, the maps by name
 * and id, and the name strings.
 *
 *   deno run -A --v8-flags=--expose-gc bench/stream_heap_breakdown.ts [--n 100000]
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { defaultConfig } from "../src/config.ts";
import { Engine } from "../src/engine/engine.ts";
import { StreamState } from "../src/engine/stream_state.ts";
import { createLogger } from "../src/log.ts";
import { parseConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { openSqliteStore } from "../src/storage/sqlite_store.ts";
import type { StreamRow } from "../src/storage/wal_store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { n: { type: "string", default: "100000" } },
});
const n = Number(values.n);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

function heap(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

const engineOptions = {
  limits: defaultConfig().limits,
  log: createLogger("error"),
  onFatal: (e: unknown) => {
    throw e;
  },
};

async function seed(path: string): Promise<void> {
  const store = openSqliteStore(path, "os");
  const engine = await Engine.open(store, engineOptions);
  const enc = new TextEncoder();
  for (let i = 0; i < n; i += 1000) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 1000); j++) {
      const head = `[{"stream":${j},"pad":"`;
      const body = enc.encode(head + "x".repeat(96 - head.length) + `"}]`);
      batch.push(engine.create(`s/${j}`, {
        contentType: "application/json",
        ttlSeconds: undefined,
        expiresAtMs: undefined,
        closed: false,
        body,
        fork: undefined,
        routingKey: undefined,
        timestampMs: undefined,
      }));
    }
    for (const r of await Promise.all(batch)) {
      if (!r.ok) throw new Error(r.error.message);
    }
  }
  await engine.close();
  await store.close();
}

/** Heap after a full GC with a server up on `dataDir`. */
async function serverHeap(dataDir: string, objectStore: string) {
  const parsed = parseConfig({
    env: {},
    args: [
      "--data-dir",
      dataDir,
      "--port",
      "0",
      "--access-log",
      "off",
      "--log-level",
      "error",
      "--object-store",
      objectStore,
    ],
  });
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  const base = heap();
  const server = await startServer(parsed.value);
  const r = await fetch(`${server.url}/v1/stream/s/1?offset=-1`);
  await r.body?.cancel();
  // Let the tier's first passes over every stream run.
  await new Promise((r) => setTimeout(r, 5000));
  const used = heap() - base;
  await server.close();
  return used;
}

const per = (bytes: number) => Math.round(bytes / n);
const dir = await Deno.makeTempDir({ prefix: "streambed-heap-" });
const path = join(dir, "wal.sqlite");
try {
  await seed(path);
  const figures: Record<string, number> = {};
  const store = openSqliteStore(path, "os");

  let base = heap();
  let rows: StreamRow[] | undefined = (await store.load()).streams;
  figures.snapshotRows = per(heap() - base);

  // The same rows, built alone into the pieces the registry keeps.
  base = heap();
  let states: StreamState[] | undefined = rows.map((row) =>
    new StreamState(row, undefined, true)
  );
  figures.streamStates = per(heap() - base);
  base = heap();
  let byName: Map<string, StreamState> | undefined = new Map(
    states.map((s) => [s.name, s]),
  );
  figures.mapByName = per(heap() - base);
  base = heap();
  let byId: Map<number, StreamState> | undefined = new Map(
    states.map((s) => [s.id, s]),
  );
  figures.mapById = per(heap() - base);
  base = heap();
  let sorted: string[] | undefined = [...byName.keys()].sort();
  figures.sortedNames = per(heap() - base);
  base = heap();
  let names: string[] | undefined = rows.map((r) => `${r.name} `.slice(0, -1));
  figures.nameStrings = per(heap() - base);
  names = sorted = byId = byName = states = rows = undefined;

  // The engine as start-up builds it.
  base = heap();
  const engine = await Engine.open(store, engineOptions);
  figures.engineWithSnapshot = per(heap() - base);
  let snapshot = engine.takeStartupSnapshot();
  snapshot = undefined;
  figures.engineAfterSnapshot = per(heap() - base);
  engine.list("", undefined, 1);
  figures.engineAfterListing = per(heap() - base);
  await engine.close();
  await store.close();

  // The whole server (tiering on an fs object store, the default), and
  // without tiering, each above its own empty data dir.
  for (const objectStore of ["fs", "none"]) {
    const key = `server_${objectStore}`;
    const empty = await serverHeap(await Deno.makeTempDir(), objectStore);
    figures[key] = per(await serverHeap(dir, objectStore) - empty);
  }
  console.log(JSON.stringify({ n, bytesPerStream: figures }));
  void names;
  void snapshot;
} finally {
  await Deno.remove(dir, { recursive: true });
}
