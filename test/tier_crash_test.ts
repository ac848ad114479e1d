/**
 * Crash matrix for tiered storage: a server process with tiny thresholds
 * kills itself with SIGKILL (test-only `DS_TEST_CRASH_POINT`) while sealing,
 * between a segment upload and the manifest naming it, right after a
 * manifest is published (before WAL cleanup), and during WAL cleanup (rows
 * deleted, local files and in-memory state not yet updated). After a
 * restart every acknowledged append is readable exactly once, in order, and
 * no manifest in the object store names a missing segment.
 */

import assert from "node:assert/strict";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { decodeManifest } from "../src/objectstore/manifest.ts";
import { killServer, spawnServer } from "./_server.ts";

const TINY = ["--segment-bytes", "4096", "--segment-age-ms", "50"];
const POINTS = [
  "after_segment_write", // during sealing: file written, not recorded
  "after_segment_seal", // sealed and recorded, before its upload
  "after_segment_upload", // between segment upload and manifest publication
  "after_manifest_publish", // published, before WAL cleanup
  "after_wal_truncate", // during WAL cleanup
];

async function writeUntilDeath(url: string, writer: string): Promise<string[]> {
  const acked: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    const message = `${writer}-${i}-${"z".repeat(60)}`;
    try {
      const response = await fetch(`${url}/v1/stream/s`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([message]),
      });
      await response.body?.cancel();
      if (response.status !== 204) return acked;
    } catch {
      return acked; // the server died with this one in flight
    }
    acked.push(message);
  }
  return acked;
}

async function readAll(url: string): Promise<string[]> {
  const out: string[] = [];
  let offset = "-1";
  for (let guard = 0; guard < 100_000; guard++) {
    const response = await fetch(`${url}/v1/stream/s?offset=${offset}`);
    assert.equal(response.status, 200);
    out.push(...await response.json() as string[]);
    offset = response.headers.get("stream-next-offset")!;
    if (response.headers.get("stream-up-to-date") === "true") return out;
  }
  throw new Error("never caught up");
}

async function checkManifests(objectsDir: string): Promise<number> {
  const store = new FsObjectStore({ root: objectsDir });
  let named = 0;
  let next: string | undefined;
  do {
    const page = await store.list("streams/", next);
    for (const key of page.keys.filter((k) => k.endsWith("/manifest.json"))) {
      const manifest = decodeManifest((await store.get(key))!, key);
      for (const segment of manifest.segments) {
        assert.ok(
          (await store.head(segment.key)) !== undefined,
          `${key} names missing ${segment.key}`,
        );
        named++;
      }
    }
    next = page.next;
  } while (next !== undefined);
  return named;
}

async function crashCase(point: string): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tcrash-" });
  const objects = `${dir}/objects`;
  const args = [...TINY, "--object-dir", objects];
  // Crash at the third time the point is reached, so earlier segments and
  // manifests are already published when the process dies.
  const first = await spawnServer(dir, args, {
    DS_TEST_CRASH_POINT: `${point}:3`,
  });
  let acked: string[][];
  try {
    const response = await fetch(`${first.url}/v1/stream/s`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    await response.body?.cancel();
    acked = await Promise.all(
      ["a", "b"].map((w) => writeUntilDeath(first.url, w)),
    );
    assert.ok(acked.flat().length > 0, `${point}: appends were acknowledged`);
    const status = await first.child.status;
    assert.equal(status.signal, "SIGKILL", `${point}: died by its crash point`);
  } finally {
    try {
      first.child.kill("SIGKILL");
    } catch { /* already dead */ }
  }
  assert.ok(
    await checkManifests(objects) > 0 || point.includes("segment"),
    `${point}: earlier segments were published before the crash`,
  );
  const second = await spawnServer(dir, args);
  try {
    for (let i = 0; i < 400; i++) {
      const d = await (await fetch(`${second.url}/v1/stream/s/_details`))
        .json();
      if (d.uploadedThroughOffset === d.tailOffset && d.segmentCount > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const all = await readAll(second.url);
    assert.equal(new Set(all).size, all.length, `${point}: no duplicates`);
    for (const writer of acked) {
      const mine = all.filter((m) =>
        m.startsWith(writer[0]?.split("-")[0] + "-")
      );
      assert.deepEqual(
        mine.slice(0, writer.length),
        writer,
        `${point}: acked in order`,
      );
      assert.ok(
        mine.length <= writer.length + 1,
        `${point}: at most the in-flight one extra`,
      );
    }
    assert.ok(
      await checkManifests(objects) > 0,
      `${point}: segments published`,
    );
  } finally {
    await killServer(second);
    await Deno.remove(dir, { recursive: true });
  }
}

for (const point of POINTS) {
  Deno.test(`tiering survives SIGKILL at ${point}`, () => crashCase(point));
}
