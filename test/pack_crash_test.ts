/**
 * Crash cases for packed segments: a server writing one small message to
 * each of many streams (short idle and age times, so they are sealed and
 * packed within a second) kills itself with SIGKILL (test-only
 * `DS_TEST_CRASH_POINT`) right after a pack object is put, before the batch
 * naming its ranges, and right after such a batch is put, before the WAL
 * is truncated. A restart on the same data dir serves every acknowledged
 * message unchanged and packs what is left; a fresh node with
 * `--bootstrap` on the same object store then reads the same bytes.
 */

import assert from "node:assert/strict";
import { FsObjectStore } from "../src/objectstore/fs.ts";
import { killServer, spawnServer } from "./_server.ts";

const ARGS = [
  "--segment-age-ms",
  "50",
  "--segment-idle-ms",
  "50",
  "--manifest-batch-ms",
  "100",
];

function body(i: number): string {
  return JSON.stringify({ stream: i, text: "x".repeat(60 + (i % 40)) });
}

/** Creates streams with one message each until the server dies. */
async function writeUntilDeath(url: string): Promise<Set<number>> {
  const acked = new Set<number>();
  for (let i = 0; i < 100_000; i++) {
    try {
      // Spread the writes over many tiering passes: several packs.
      if (i % 25 === 0) await new Promise((r) => setTimeout(r, 150));
      const response = await fetch(`${url}/v1/stream/p/${i}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: body(i),
      });
      await response.body?.cancel();
      if (response.status !== 201) return acked;
      acked.add(i);
    } catch {
      return acked; // died with this one in flight: neither outcome promised
    }
  }
  return acked;
}

async function readStream(url: string, i: number): Promise<string> {
  const response = await fetch(`${url}/v1/stream/p/${i}?offset=-1`);
  const text = await response.text();
  assert.equal(response.status, 200, `p/${i}: ${text}`);
  return text;
}

async function checkAll(url: string, acked: Set<number>, what: string) {
  for (const i of acked) {
    assert.equal(await readStream(url, i), `[${body(i)}]`, `${what}: p/${i}`);
  }
}

/** Waits until nothing waits for the object store (everything packed). */
async function drained(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const health = await (await fetch(`${url}/health`)).json();
    if (health.tier.backlogBytes === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the tier never drained");
}

async function crashCase(point: string): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-pcrash-" });
  const objectsDir = `${dir}/objects`;
  const args = [...ARGS, "--object-dir", objectsDir];
  const first = await spawnServer(`${dir}/a`, args, {
    DS_TEST_CRASH_POINT: `${point}:2`,
  });
  let acked: Set<number>;
  try {
    acked = await writeUntilDeath(first.url);
    const status = await first.child.status;
    assert.equal(status.signal, "SIGKILL", `${point}: died by its crash point`);
  } finally {
    await killServer(first);
  }
  assert.ok(acked.size > 0, `${point}: some writes acknowledged`);
  const objects = new FsObjectStore({ root: objectsDir });
  const packs = (await objects.list("packs/")).keys;
  assert.ok(packs.length >= 2, `${point}: packs put before the crash`);
  const second = await spawnServer(`${dir}/a`, args);
  try {
    await checkAll(second.url, acked, `${point}, restarted`);
    await drained(second.url);
    await checkAll(second.url, acked, `${point}, packed`);
  } finally {
    second.child.kill("SIGTERM");
    await second.child.status;
  }
  // Every stream is in a pack: no segment objects of their own.
  const own = (await objects.list("streams/")).keys;
  assert.deepEqual(own, [], `${point}: no per-stream objects`);
  const third = await spawnServer(`${dir}/b`, [...args, "--bootstrap"]);
  try {
    await checkAll(third.url, acked, `${point}, bootstrapped`);
  } finally {
    await killServer(third);
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("packed segments survive SIGKILL between the pack put and the batch naming it", () =>
  crashCase("after_pack_put"));

Deno.test("packed segments survive SIGKILL right after the batch naming them is put", () =>
  crashCase("after_manifest_batch_publish"));
