/**
 * Crash cases for batched manifests: a server creating (and deleting some)
 * empty streams kills itself with SIGKILL (test-only `DS_TEST_CRASH_POINT`)
 * right after a batch object is put, and between putting merged batch
 * objects and deleting the ones they replace. A restart on the same data
 * dir then publishes what is left, and a fresh node with `--bootstrap` on
 * the same object store restores exactly the streams that were created and
 * not deleted: none lost, none deleted coming back.
 */

import assert from "node:assert/strict";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { listBatches } from "../src/tier/manifest_batch.ts";
import { killServer, spawnServer } from "./_server.ts";

const ARGS = ["--manifest-batch-ms", "10"];

async function request(
  url: string,
  method: string,
  path: string,
): Promise<number> {
  const response = await fetch(`${url}/v1/stream/${path}`, { method });
  await response.body?.cancel();
  return response.status;
}

/**
 * Creates streams until the server dies, deleting every third one 30
 * creates later (once its batched manifest is likely published).
 */
async function churnUntilDeath(url: string): Promise<Set<string>> {
  const live = new Set<string>();
  for (let i = 0; i < 100_000; i++) {
    let name = `c/${i}`;
    try {
      // Spread the creates over many tiering passes: many batches.
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 60));
      if (await request(url, "PUT", name) !== 201) return live;
      live.add(name);
      if (i >= 30 && (i - 30) % 3 === 2) {
        name = `c/${i - 30}`;
        if (await request(url, "DELETE", name) !== 204) return live;
        live.delete(name);
      }
    } catch {
      // Died with this one in flight: neither outcome is promised.
      live.delete(name);
      return live;
    }
  }
  return live;
}

async function listNames(url: string): Promise<Set<string>> {
  const names = new Set<string>();
  let after = "";
  for (let guard = 0; guard < 10_000; guard++) {
    const response = await fetch(
      `${url}/v1/streams?limit=1000&after=${encodeURIComponent(after)}`,
    );
    const page = await response.json() as {
      streams: { name: string }[];
      next: string | null;
    };
    for (const s of page.streams) names.add(s.name);
    if (page.next === null) return names;
    after = page.next;
  }
  throw new Error("listing never ended");
}

async function crashCase(point: string): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-bcrash-" });
  const objectsDir = `${dir}/objects`;
  const args = [...ARGS, "--object-dir", objectsDir];
  const first = await spawnServer(`${dir}/a`, args, {
    DS_TEST_CRASH_POINT: `${point}:2`,
  });
  let live: Set<string>;
  try {
    live = await churnUntilDeath(first.url);
    const status = await first.child.status;
    assert.equal(status.signal, "SIGKILL", `${point}: died by its crash point`);
  } finally {
    await killServer(first);
  }
  const objects = new FsObjectStore({ root: objectsDir });
  assert.ok((await listBatches(objects)).length > 0, `${point}: batches`);
  // The restart publishes what the crash left queued, and stops cleanly.
  const second = await spawnServer(`${dir}/a`, args);
  try {
    const names = await listNames(second.url);
    for (const name of live) assert.ok(names.has(name), `${point}: ${name}`);
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    second.child.kill("SIGTERM");
    await second.child.status;
  }
  const third = await spawnServer(`${dir}/b`, [...args, "--bootstrap"]);
  try {
    const restored = await listNames(third.url);
    // The one in flight at the crash may or may not exist: compare the rest.
    const expected = [...live].sort();
    const got = [...restored].filter((n) => live.has(n) || !n.startsWith("c/"))
      .sort();
    assert.deepEqual(got, expected, `${point}: every live stream restored`);
    const extra = [...restored].filter((n) => !live.has(n));
    assert.ok(extra.length <= 1, `${point}: deleted streams stay deleted`);
  } finally {
    await killServer(third);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("batched manifests survive SIGKILL right after a batch is put", () =>
  crashCase("after_manifest_batch_publish"));

Deno.test("batched manifests survive SIGKILL between a merge's puts and deletes", () =>
  crashCase("after_manifest_batch_merge"));
