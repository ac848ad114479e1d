/**
 * @module
 * One server per data dir. `lockDataDir` creates the dir and takes an
 * exclusive advisory lock (`flock`) on `<data-dir>/LOCK` before anything
 * opens the WAL; the lock lasts until `release()` or the process ends. A
 * second server on the same dir, in this process or another, then fails at
 * start instead of serving a stale view and dying on its first write. The
 * file holds the owner's pid, for the error message only.
 *
 * A lock found held is tried again for `DATA_DIR_LOCK_WAIT_MS`: a server
 * restarted in place (by a supervisor, or in the same process) may find its
 * predecessor's lock still held for a moment, for example while a child
 * process forked elsewhere in the process still shares the descriptor.
 */

import { join } from "node:path";
import { StartupError } from "../errors.ts";
import { DATA_DIR_LOCK_RETRY_MS, DATA_DIR_LOCK_WAIT_MS } from "../limits.ts";

/** A held data-dir lock. */
export interface DataDirLock {
  /** The lock file. */
  readonly path: string;
  /** Releases the lock; later calls do nothing. */
  release(): void;
}

/**
 * Creates `dataDir` if needed and locks it. Throws a `StartupError` when the
 * dir cannot be used or another server holds it.
 */
export async function lockDataDir(dataDir: string): Promise<DataDirLock> {
  await createDir(dataDir);
  const path = join(dataDir, "LOCK");
  let file: Deno.FsFile;
  try {
    // No truncate here: the file may belong to the server holding the lock.
    file = await Deno.open(path, { read: true, write: true, create: true });
  } catch (cause) {
    throw unusable(dataDir, describe(cause), cause);
  }
  if (!await tryLockFor(file, DATA_DIR_LOCK_WAIT_MS)) {
    file.close();
    const holder = await readHolder(path);
    throw new StartupError(
      "data_dir_locked",
      `cannot use data dir ${dataDir} (--data-dir): another server holds it${holder}`,
    );
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  let held = true;
  return {
    path,
    release() {
      if (!held) return;
      held = false;
      file.close(); // closing the only descriptor drops the flock
    },
  };
}

/** Tries the exclusive lock until it is taken or `waitMs` has passed. */
async function tryLockFor(file: Deno.FsFile, waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  while (!await file.tryLock(true)) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, DATA_DIR_LOCK_RETRY_MS));
  }
  return true;
}

async function createDir(dataDir: string): Promise<void> {
  try {
    await Deno.mkdir(dataDir, { recursive: true });
  } catch (cause) {
    throw unusable(dataDir, describe(cause), cause);
  }
}

/** ` (pid N)` from the lock file, or "" when it cannot be read. */
async function readHolder(path: string): Promise<string> {
  try {
    const pid = (await Deno.readTextFile(path)).trim();
    return /^\d+$/.test(pid) ? ` (pid ${pid})` : "";
  } catch {
    return "";
  }
}

function describe(cause: unknown): string {
  if (
    cause instanceof Deno.errors.AlreadyExists ||
    cause instanceof Deno.errors.NotADirectory
  ) return "it is not a directory";
  if (cause instanceof Deno.errors.PermissionDenied) return "permission denied";
  return cause instanceof Error ? cause.message : String(cause);
}

function unusable(
  dataDir: string,
  reason: string,
  cause: unknown,
): StartupError {
  return new StartupError(
    "data_dir_unusable",
    `cannot use data dir ${dataDir} (--data-dir): ${reason}`,
    { cause },
  );
}
