/**
 * @module
 * Starts a server as a child process and waits for its stdout line
 * `listening on http://HOST:PORT` (the contract shared by main.ts and
 * bench/_load_reference_server.ts). Stopping signals only that child's pid:
 * SIGTERM, then SIGKILL after a grace period.
 */

import { isLoopbackHost, settlesWithin, sleep } from "./_load_client.ts";

/** A running server child process. */
export interface ServerProcess {
  /** Name used in log lines. */
  name: string;
  /** Base URL parsed from the `listening on` line. */
  url: string;
  /** Process id of the child. */
  pid: number;
  /** Stops the child (idempotent); resolves once it has exited or been killed. */
  stop(): Promise<void>;
}

/** How to start a server. */
export interface ServerCommand {
  /** Name used in log lines. */
  name: string;
  /** Executable, e.g. `Deno.execPath()`. */
  command: string;
  /** Arguments. */
  args: string[];
  /** Working directory. */
  cwd: string;
  /** Give up if no `listening on` line arrives in time. */
  startTimeoutMs: number;
}

/**
 * The command that starts Streambed from `main.ts` in `repoRoot` on a free
 * port with `dataDir`, plus `extraArgs`.
 */
export function streambedCommand(
  repoRoot: string,
  dataDir: string,
  extraArgs: string[],
  startTimeoutMs: number,
): ServerCommand {
  return {
    name: "streambed",
    command: Deno.execPath(),
    args: [
      "run",
      "-A",
      "main.ts",
      "--port",
      "0",
      "--data-dir",
      dataDir,
      "--log-level",
      "warn",
      ...extraArgs,
    ],
    cwd: repoRoot,
    startTimeoutMs,
  };
}

/** Grace period between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 5000;
const LISTENING = /listening on (http:\/\/\S+)/;

/** Spawns `spec` and resolves once it reports its URL; kills it on failure. */
export async function startServer(spec: ServerCommand): Promise<ServerProcess> {
  const child = new Deno.Command(spec.command, {
    args: spec.args,
    cwd: spec.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stop = once(() => stopChild(child));
  try {
    const url = await readListeningUrl(child, spec);
    const host = new URL(url).hostname;
    if (!isLoopbackHost(host)) {
      throw new Error(`${spec.name} listens on non-loopback ${url}`);
    }
    return { name: spec.name, url, pid: child.pid, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function readListeningUrl(
  child: Deno.ChildProcess,
  spec: ServerCommand,
): Promise<string> {
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const timer = new AbortController();
  const deadline = sleep(spec.startTimeoutMs, timer.signal).then(() => null);
  let pending = "";
  try {
    for (;;) {
      const next = await Promise.race([lines.read(), deadline]);
      if (next === null) {
        throw new Error(
          `${spec.name} printed no "listening on" line within ${spec.startTimeoutMs} ms`,
        );
      }
      if (next.done) {
        throw new Error(
          `${spec.name} exited before listening (exit code ${
            (await child.status).code
          })`,
        );
      }
      pending += next.value;
      const match = LISTENING.exec(pending);
      if (match !== null) {
        drainInBackground(lines);
        return match[1].replace(/\/+$/, "");
      }
      pending = pending.slice(-4096);
    }
  } finally {
    timer.abort();
  }
}

/** Keeps reading the child's stdout so a chatty server never blocks on a full pipe. */
function drainInBackground(lines: ReadableStreamDefaultReader<string>): void {
  (async () => {
    for (;;) if ((await lines.read()).done) return;
  })().catch(() => {});
}

async function stopChild(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    return; // Already exited.
  }
  if (await settlesWithin(child.status, STOP_GRACE_MS)) return;
  try {
    child.kill("SIGKILL");
  } catch {
    return;
  }
  await child.status;
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let promise: Promise<void> | null = null;
  return () => (promise ??= fn());
}
