/**
 * @module
 * Where the JS heap of an idle stream goes: N streams with one 100-byte
 * JSON message each are written to a SQLite WAL; a server is started in
 * process on that data dir and on an empty one, a heap snapshot is taken of
 * each after a full GC, and their live objects are summed by kind
 * (constructor for objects, `string`, `number`, `array`...). Prints the
 * bytes per stream of each kind above the empty server's.
 *
 *   deno run -A --v8-flags=--expose-gc bench/stream_heap_breakdown.ts \
 *     [--n 50000] [--arg FLAG]...
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import v8 from "node:v8";
import { defaultConfig, parseConfig } from "../src/config.ts";
import { Engine } from "../src/engine/engine.ts";
import { createLogger } from "../src/log.ts";
import { startServer } from "../src/server.ts";
import { openSqliteStore } from "../src/storage/sqlite_store.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "50000" },
    arg: { type: "string", multiple: true },
  },
});
const n = Number(values.n);
const extra = values.arg ?? [];
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");

async function seed(dataDir: string): Promise<void> {
  const store = openSqliteStore(join(dataDir, "wal.sqlite"), "os");
  const engine = await Engine.open(store, {
    limits: defaultConfig().limits,
    log: createLogger("error"),
    onFatal: (e) => {
      throw e;
    },
  });
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

interface HeapSnapshot {
  snapshot: {
    meta: { node_fields: string[]; node_types: [string[]] };
  };
  nodes: number[];
  strings: string[];
}

/** Live bytes by kind in a heap snapshot file. */
function bytesByKind(path: string): Map<string, number> {
  const snap = JSON.parse(Deno.readTextFileSync(path)) as HeapSnapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const nameAt = fields.indexOf("name");
  const sizeAt = fields.indexOf("self_size");
  const out = new Map<string, number>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]];
    const name = snap.strings[snap.nodes[i + nameAt]];
    const kind = type === "object" || type === "closure"
      ? `${type} ${name}`
      : type === "string" && name.startsWith("s/")
      ? "string (stream names)"
      : type === "string" && name === "application/json"
      ? "string (content types)"
      : type;
    out.set(kind, (out.get(kind) ?? 0) + snap.nodes[i + sizeAt]);
  }
  return out;
}

/** Heap by kind with a server up on `dataDir`. */
async function serverHeap(dataDir: string): Promise<Map<string, number>> {
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
      ...extra,
    ],
  });
  if (!parsed.ok) throw new Error(parsed.errors.join("; "));
  const server = await startServer(parsed.value);
  const path = join(dataDir, "heap.heapsnapshot");
  try {
    const r = await fetch(`${server.url}/v1/stream/s/1?offset=-1`);
    await r.body?.cancel();
    // Let the tier's first passes over every stream run.
    await new Promise((r) => setTimeout(r, 5000));
    gc!();
    v8.writeHeapSnapshot(path);
  } finally {
    await server.close();
  }
  const kinds = bytesByKind(path);
  await Deno.remove(path);
  return kinds;
}

const full = await Deno.makeTempDir({ prefix: "streambed-heap-" });
const empty = await Deno.makeTempDir({ prefix: "streambed-heap-empty-" });
try {
  await seed(full);

  const base = await serverHeap(empty);
  const kinds = await serverHeap(full);
  const rows = [...kinds].map(([kind, bytes]) => ({
    kind,
    bytesPerStream: Math.round((bytes - (base.get(kind) ?? 0)) / n),
  })).filter((r) => Math.abs(r.bytesPerStream) >= 4)
    .sort((a, b) => b.bytesPerStream - a.bytesPerStream);
  const total = rows.reduce((sum, r) => sum + r.bytesPerStream, 0);
  console.log(JSON.stringify({ n, args: extra, totalPerStream: total }));
  for (const r of rows) console.log(`${r.bytesPerStream}\t${r.kind}`);
} finally {
  await Deno.remove(full, { recursive: true });
  await Deno.remove(empty, { recursive: true });
}
