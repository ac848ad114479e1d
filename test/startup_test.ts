/**
 * Start-up failures against real `main.ts` processes and in-process
 * servers: a data dir another server holds, a port in use, a data dir that
 * is a file. Each must fail with one line naming the problem and the flag,
 * exit 1, and leave nothing open behind it.
 */

import assert from "node:assert/strict";
import { testConfig } from "../src/config.ts";
import { StartupError } from "../src/errors.ts";
import { startServer } from "../src/server.ts";
import type { WalStore } from "../src/storage/wal_store.ts";
import { killServer, spawnServer } from "./_server.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
/** A start-up failure takes well under this; a server that starts never exits. */
const EXIT_GUARD_MS = 30_000;

interface Exit {
  code: number | "still running";
  stdout: string;
  stderr: string;
}

/** Runs main.ts with `args` until it exits (killing it past the guard). */
async function runMain(args: string[]): Promise<Exit> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--log-level", "warn", ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const guard = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, EXIT_GUARD_MS);
  const output = await child.output();
  clearTimeout(guard);
  const decoder = new TextDecoder();
  return {
    code: timedOut ? "still running" : output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** One line of stderr, without a stack trace. */
function assertOneLine(exit: Exit, pattern: RegExp): void {
  assert.equal(exit.code, 1, `stderr: ${exit.stderr}\nstdout: ${exit.stdout}`);
  const lines = exit.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, exit.stderr);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(exit.stderr, /\n\s+at /);
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

Deno.test("a second main.ts on a data dir another server holds exits 1 with one line", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-lock-" });
  const first = await spawnServer(dataDir);
  try {
    const second = await runMain(["--port", "0", "--data-dir", dataDir]);
    assertOneLine(
      second,
      new RegExp(
        `^error: cannot use data dir ${dataDir} \\(--data-dir\\): another server holds it \\(pid ${first.child.pid}\\)$`,
      ),
    );
    // The first server still owns the dir and still takes writes.
    const created = await fetch(`${first.url}/v1/stream/still-mine`, {
      method: "PUT",
    });
    assert.equal(created.status, 201);
    await created.body?.cancel();
    assert.equal(
      (await Deno.readTextFile(`${dataDir}/LOCK`)).trim(),
      String(first.child.pid),
    );
  } finally {
    await killServer(first);
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("startServer() on a data dir already open in this process rejects with data_dir_locked", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-lock-" });
  const first = await startServer(testConfig(dataDir));
  try {
    await assert.rejects(
      startServer(testConfig(dataDir)),
      (error) =>
        error instanceof StartupError && error.problem === "data_dir_locked" &&
        error.message.includes(dataDir),
    );
    const created = await fetch(`${first.url}/v1/stream/a`, { method: "PUT" });
    assert.equal(created.status, 201);
    await created.body?.cancel();
  } finally {
    await first.close();
  }
  // Released on close: the next server opens the dir and sees the stream.
  const again = await startServer(testConfig(dataDir));
  try {
    const head = await fetch(`${again.url}/v1/stream/a`, { method: "HEAD" });
    assert.equal(head.status, 200);
    await head.body?.cancel();
  } finally {
    await again.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("main.ts on a port in use exits 1 with one line and creates no data dir", async () => {
  const parent = await Deno.makeTempDir({ prefix: "streambed-port-" });
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (taken.addr as Deno.NetAddr).port;
    const exit = await runMain([
      "--port",
      String(port),
      "--data-dir",
      `${parent}/data`,
    ]);
    assertOneLine(
      exit,
      new RegExp(
        `^error: cannot listen on 127\\.0\\.0\\.1:${port} \\(--port/--host\\): address in use$`,
      ),
    );
    assert.equal(await exists(`${parent}/data`), false);
  } finally {
    taken.close();
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("main.ts with a data dir that is a file exits 1 with one line", async () => {
  const parent = await Deno.makeTempDir({ prefix: "streambed-file-" });
  try {
    await Deno.writeTextFile(`${parent}/file`, "not a dir");
    const exit = await runMain(["--port", "0", "--data-dir", `${parent}/file`]);
    assertOneLine(
      exit,
      /^error: cannot use data dir .*\/file \(--data-dir\): it is not a directory$/,
    );
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("main.ts --frobnicate says unknown flag", async () => {
  const exit = await runMain(["--frobnicate"]);
  assert.equal(exit.code, 2);
  assert.match(exit.stderr, /^error: Unknown flag --frobnicate$/m);
  assert.doesNotMatch(exit.stderr, /needs a value/);
});

Deno.test("main.ts --print-config shows the resolved object dir and no test fields", async () => {
  const exit = await runMain(["--data-dir", "/srv/ds", "--print-config"]);
  assert.equal(exit.code, 0, exit.stderr);
  const printed = JSON.parse(exit.stdout);
  assert.equal(printed.objectStore.dir, "/srv/ds/objects");
  assert.ok(!("testCrashPoint" in printed.segment));
});

Deno.test("startServer() that loses its port after opening the WAL closes the WAL and the lock", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-race-" });
  const free = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (free.addr as Deno.NetAddr).port;
  free.close();
  let taker: Deno.Listener | undefined;
  let wal: WalStore | undefined;
  try {
    await assert.rejects(
      startServer(testConfig(dataDir, { http: { port } }), {
        // Runs after the address check and after the WAL opened: another
        // process grabbing the port now is the race `listen` must survive.
        wrapWal: (store) => {
          wal = store;
          taker = Deno.listen({ hostname: "127.0.0.1", port });
          return store;
        },
      }),
      (error) =>
        error instanceof StartupError && error.problem === "listen_failed" &&
        /address in use/.test(error.message),
    );
    assert.ok(wal !== undefined && taker !== undefined);
    await assert.rejects(async () => await wal!.load()); // the WAL was closed
    const next = await startServer(testConfig(dataDir)); // the lock was released
    await next.close();
  } finally {
    taker?.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});
