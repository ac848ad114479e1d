/**
 * A full disk and a failed WAL, as clients see them. With the disk full the
 * server stays up: appends in flight and new ones get 503 JSON with
 * `Retry-After`, reads go on, and appends succeed again once space returns;
 * nothing acknowledged is lost across a restart. Shown in-process with an
 * injected ENOSPC and, where this user may mount a tmpfs, against a real
 * process on a really full disk. Any other WAL failure is fatal: the
 * process answers every request in flight with 503 JSON, then exits 1.
 */

import assert from "node:assert/strict";
import { testConfig } from "../src/config.ts";
import { startServer } from "../src/server.ts";
import { FaultyWal } from "./_faulty_wal.ts";
import { killServer, spawnServer } from "./_server.ts";

const FAULTY_MAIN = new URL("./_faulty_main.ts", import.meta.url).pathname;
/** Retries of an append while the server still refuses writes. */
const RETRIES_MAX = 200;
const RETRY_GAP_MS = 100;

interface Reply {
  status: number;
  contentType: string | null;
  retryAfter: string | null;
  code: string | undefined;
}

/** POSTs one JSON message; any network error fails the test. */
async function append(url: string, message: string): Promise<Reply> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([message]),
  });
  const text = await response.text();
  const contentType = response.headers.get("content-type");
  return {
    status: response.status,
    contentType,
    retryAfter: response.headers.get("retry-after"),
    code: response.status >= 400 ? JSON.parse(text).error.code : undefined,
  };
}

function assertRefused(reply: Reply): void {
  assert.equal(reply.status, 503);
  assert.equal(reply.contentType, "application/json");
  assert.equal(reply.code, "unavailable");
  assert.equal(reply.retryAfter, "1");
}

/** Retries `message` until the server takes it; returns the attempts. */
async function appendUntilTaken(url: string, message: string): Promise<number> {
  for (let attempt = 1; attempt <= RETRIES_MAX; attempt++) {
    const reply = await append(url, message);
    if (reply.status === 204 || reply.status === 200) return attempt;
    assertRefused(reply);
    await new Promise((resolve) => setTimeout(resolve, RETRY_GAP_MS));
  }
  throw new Error(`"${message}" was never taken`);
}

async function readMessages(url: string): Promise<string[]> {
  const response = await fetch(`${url}?offset=-1`);
  assert.equal(response.status, 200);
  return await response.json();
}

Deno.test("a full disk refuses appends with 503 JSON, keeps serving reads, and recovers when space returns", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-full-" });
  let wal!: FaultyWal;
  let server = await startServer(
    testConfig(dataDir, { limits: { commitBatchMax: 1024 } }),
    { wrapWal: (store) => (wal = new FaultyWal(store)) },
  );
  const stream = () => `${server.url}/v1/stream/full`;
  try {
    const created = await fetch(stream(), {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    assert.equal(created.status, 201);
    await created.body?.cancel();
    const acked: string[] = [];
    for (let i = 0; i < 10; i++) {
      assert.equal((await append(stream(), `before-${i}`)).status, 204);
      acked.push(`before-${i}`);
    }
    wal.fault = "full";
    const inFlight = await Promise.all(
      Array.from({ length: 40 }, (_, i) => append(stream(), `lost-${i}`)),
    );
    for (const reply of inFlight) assertRefused(reply);
    assert.ok(wal.failedCommits >= 1);
    assert.deepEqual(await readMessages(stream()), acked);
    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 200);
    await health.body?.cancel();

    wal.fault = "none"; // space returns
    await appendUntilTaken(stream(), "after-0");
    acked.push("after-0");
    for (let i = 1; i < 5; i++) {
      assert.equal((await append(stream(), `after-${i}`)).status, 204);
      acked.push(`after-${i}`);
    }
    assert.deepEqual(await readMessages(stream()), acked);
    await server.close();
    server = await startServer(testConfig(dataDir));
    assert.deepEqual(await readMessages(stream()), acked);
  } finally {
    await server.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

/**
 * Polls `/health` until `count` requests wait for the writer and the server
 * holds `bodyBytes` of request bodies (the queue also takes the sweep's
 * access-time writes, so the count alone does not prove every append is in).
 */
async function waitForQueued(
  url: string,
  count: number,
  bodyBytes = 0,
): Promise<void> {
  for (let attempt = 0; attempt < RETRIES_MAX; attempt++) {
    const health = await (await fetch(`${url}/health`)).json();
    if (
      health.writer.queued >= count && health.bodyBytesInFlight >= bodyBytes
    ) return;
    await new Promise((resolve) => setTimeout(resolve, RETRY_GAP_MS / 10));
  }
  throw new Error(`never saw ${count} queued requests`);
}

Deno.test("a fatal WAL failure answers every append in flight with 503 JSON before the process exits 1", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-fatal-" });
  // Commit 1 creates the stream; every later commit fails like an EIO.
  const server = await spawnServer(dataDir, [], {
    FAULTY_WAL_AFTER: "1",
    FAULTY_WAL_FAULT: "eio",
  }, FAULTY_MAIN);
  try {
    const url = `${server.url}/v1/stream/doomed`;
    const created = await fetch(url, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    assert.equal(created.status, 201);
    await created.body?.cancel();
    const messages = Array.from({ length: 40 }, (_, i) => `m-${i}`);
    const sent = messages.map((message) => append(url, message));
    // All 40 are in the server: one in the held commit, the rest queued.
    const bodyBytes = messages.reduce(
      (sum, message) => sum + JSON.stringify([message]).length,
      0,
    );
    await waitForQueued(server.url, 39, bodyBytes);
    server.child.kill("SIGUSR1"); // the held commit fails now
    const replies = await Promise.all(sent);
    for (const reply of replies) assertRefused(reply);
    const status = await server.child.status;
    assert.equal(status.code, 1);
    assert.match(server.stderr(), /fatal: the write-ahead log failed/);
  } finally {
    await killServer(server);
    await Deno.remove(dataDir, { recursive: true });
  }
});

/** Mounts a tmpfs of `sizeBytes` at `dir`; false where this user may not. */
async function mountTmpfs(dir: string, sizeBytes: number): Promise<boolean> {
  try {
    const mounted = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${sizeBytes}`, "tmpfs", dir],
      stdout: "null",
      stderr: "null",
    }).output();
    return mounted.success;
  } catch {
    return false; // no mount command
  }
}

async function unmount(dir: string): Promise<void> {
  await new Deno.Command("umount", { args: [dir] }).output();
}

/** Fills the file system holding `path` until a write fails. */
async function fill(path: string): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true });
  const block = new Uint8Array(64 * 1024).fill(1);
  try {
    for (;;) await file.write(block);
  } catch (error) {
    assert.ok(
      error instanceof Error && /space/i.test(error.message),
      String(error),
    );
  } finally {
    file.close();
  }
}

const TMPFS_BYTES = 20 * 1024 * 1024;
const probeDir = await Deno.makeTempDir({ prefix: "streambed-tmpfs-" });
const canMount = await mountTmpfs(probeDir, TMPFS_BYTES);
if (canMount) await unmount(probeDir);
await Deno.remove(probeDir);

Deno.test({
  name:
    "a real server on a full tmpfs answers 503 JSON, stays up, and loses nothing acknowledged (needs mount: root)",
  ignore: !canMount,
  fn: async () => {
    const mnt = await Deno.makeTempDir({ prefix: "streambed-tmpfs-" });
    assert.ok(await mountTmpfs(mnt, TMPFS_BYTES));
    const dataDir = `${mnt}/data`;
    let server = await spawnServer(dataDir);
    try {
      const stream = () => `${server.url}/v1/stream/full`;
      const created = await fetch(stream(), {
        method: "PUT",
        headers: { "content-type": "application/json" },
      });
      assert.equal(created.status, 201);
      await created.body?.cancel();
      const pad = "x".repeat(1000);
      const acked: string[] = [];
      for (let i = 0; i < 50; i++) {
        assert.equal((await append(stream(), `a${i} ${pad}`)).status, 204);
        acked.push(`a${i} ${pad}`);
      }
      await fill(`${mnt}/filler`);
      // Eight writers append until each has been refused once.
      const refusals: Reply[] = [];
      await Promise.all(Array.from({ length: 8 }, async (_, w) => {
        for (let i = 0; i < 2000; i++) {
          const message = `w${w}-${i} ${pad}`;
          const reply = await append(stream(), message);
          if (reply.status === 204) {
            acked.push(message);
            continue;
          }
          refusals.push(reply);
          return;
        }
      }));
      assert.equal(refusals.length, 8, "every writer met the full disk");
      for (const reply of refusals) assertRefused(reply);
      const read = await readMessages(stream());
      assert.deepEqual(new Set(read), new Set(acked)); // still serving reads

      await Deno.remove(`${mnt}/filler`); // space returns
      await appendUntilTaken(stream(), `after ${pad}`);
      acked.push(`after ${pad}`);
      server.child.kill("SIGTERM");
      assert.equal((await server.child.status).code, 0);
      server = await spawnServer(dataDir);
      const recovered = await readMessages(stream());
      assert.equal(recovered.length, acked.length);
      assert.deepEqual(new Set(recovered), new Set(acked));
    } finally {
      await killServer(server);
      await unmount(mnt);
      await Deno.remove(mnt, { recursive: true });
    }
  },
});
