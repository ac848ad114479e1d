import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

// The import rules of docs/modules.md, checked on the source: each part of
// `src/` and the parts it may import. A leaf imports only leaves.
const LEAVES = [
  "assert.ts",
  "backoff.ts",
  "bytes.ts",
  "config.ts",
  "errors.ts",
  "glob.ts",
  "histogram.ts",
  "limits.ts",
  "log.ts",
  "record_meta.ts",
  "time_heap.ts",
  "worker_scope.ts",
];
const MAY_IMPORT: Record<string, string[]> = {
  "_wasm/": [],
  "auth/": [],
  "console/": [],
  "profiles/": [],
  "protocol/": [],
  "schema/": [],
  "search/": ["_wasm/"],
  "touch/": ["profiles/"],
  "live/": ["engine/", "touch/", "profiles/", "protocol/", "storage/"],
  "storage/": [],
  "segment/": ["_wasm/"],
  "objectstore/": ["_wasm/"],
  "index/": ["objectstore/", "storage/", "segment/", "_wasm/"],
  "engine/": ["protocol/", "storage/", "schema/", "profiles/", "search/"],
  "tier/": [
    "engine/",
    "protocol/",
    "storage/",
    "segment/",
    "objectstore/",
    "index/",
    "_wasm/",
    "search/",
  ],
  "http/": [
    "protocol/",
    "engine/",
    "subscriptions/",
    "tier/",
    "auth/",
    "metrics/",
    "schema/",
    "profiles/",
    "live/",
    "console/",
    "search/",
  ],
  "metrics/": ["engine/", "tier/", "objectstore/"],
  "subscriptions/": ["protocol/", "engine/", "storage/"],
  "listen.ts": [],
  "server.ts": ["*"],
  "cli.ts": ["server.ts"],
};
/** Parts that may take only types from a part they may import. */
const TYPES_ONLY: Record<string, string[]> = {
  "tier/": ["engine/"],
  "http/": ["tier/", "live/"],
  "live/": ["engine/", "storage/"],
  "index/": ["storage/"],
  "metrics/": ["engine/", "tier/"],
};

const SRC = dirname(fileURLToPath(import.meta.url));

/** The part of `src/` a path belongs to: its folder, or the file itself. */
function partOf(path: string): string {
  const rel = relative(SRC, path);
  const slash = rel.indexOf("/");
  return slash < 0 ? rel : rel.slice(0, slash + 1);
}

async function* sourceFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* sourceFiles(path);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) {
      yield path;
    }
  }
}

/** Relative imports and re-exports of `text`, with whether they take types only. */
function importsOf(text: string): { spec: string; typeOnly: boolean }[] {
  const found = [];
  const pattern =
    /^(import|export)\s+(type\s+)?(?:[^"';]*?\sfrom\s+)?"(\.[^"]+)"/gms;
  for (const match of text.matchAll(pattern)) {
    found.push({ spec: match[3], typeOnly: match[2] !== undefined });
  }
  return found;
}

Deno.test("module layering: every import in src/ points the way docs/modules.md allows", async () => {
  const broken: string[] = [];
  let checked = 0;
  for await (const file of sourceFiles(SRC)) {
    const from = partOf(file);
    const allowed = LEAVES.includes(from) ? LEAVES : [
      ...LEAVES,
      ...(MAY_IMPORT[from] ?? []),
    ];
    for (const { spec, typeOnly } of importsOf(await Deno.readTextFile(file))) {
      const to = partOf(join(dirname(file), spec));
      checked++;
      if (to === from || allowed.includes("*")) continue;
      const rel = relative(SRC, file);
      if (!allowed.includes(to)) broken.push(`${rel} imports ${spec}`);
      else if (TYPES_ONLY[from]?.includes(to) && !typeOnly) {
        broken.push(`${rel} imports values from ${spec} (types only)`);
      }
    }
  }
  assert.ok(checked > 200, `only ${checked} imports found`);
  assert.deepEqual(broken, []);
});
