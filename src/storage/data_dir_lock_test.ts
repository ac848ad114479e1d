import assert from "node:assert/strict";
import { StartupError } from "../errors.ts";
import { DATA_DIR_LOCK_WAIT_MS } from "../limits.ts";
import { lockDataDir } from "./data_dir_lock.ts";

Deno.test("a lock released within the wait is taken by the next server", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-lock-" });
  try {
    const first = await lockDataDir(dir);
    const second = lockDataDir(dir); // finds it held, tries again
    setTimeout(() => first.release(), DATA_DIR_LOCK_WAIT_MS / 5);
    const lock = await second;
    assert.equal(
      (await Deno.readTextFile(lock.path)).trim(),
      String(Deno.pid),
    );
    lock.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lock held past the wait fails with data_dir_locked", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-lock-" });
  const first = await lockDataDir(dir);
  try {
    const started = Date.now();
    await assert.rejects(
      lockDataDir(dir),
      (error) =>
        error instanceof StartupError && error.problem === "data_dir_locked",
    );
    assert.ok(Date.now() - started >= DATA_DIR_LOCK_WAIT_MS - 50);
  } finally {
    first.release();
    await Deno.remove(dir, { recursive: true });
  }
});
