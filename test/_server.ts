/**
 * @module
 * Test helpers: temp data dirs, in-process servers, and server subprocesses
 * (for crash tests) that report the URL from their `listening on` line.
 */

import { type ConfigOverrides, testConfig } from "../src/config.ts";
import { type ServerHandle, startServer } from "../src/server.ts";

/** Starts an in-process server on port 0 with `testConfig`. */
export async function startTestServer(
  overrides: ConfigOverrides = {},
  dataDir?: string,
): Promise<ServerHandle & { dataDir: string }> {
  const dir = dataDir ?? await Deno.makeTempDir({ prefix: "streambed-test-" });
  const server = await startServer(testConfig(dir, overrides));
  return { ...server, dataDir: dir };
}

/** A server running as a child process. */
export interface ServerProcess {
  /** Base URL. */
  url: string;
  /** The child. */
  child: Deno.ChildProcess;
  /** Everything it printed to stderr so far. */
  stderr: () => string;
}

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/**
 * Spawns `deno run -A main.ts` on port 0 and waits for its listening line;
 * `env` adds variables (for example `DS_TEST_CRASH_POINT`); `entry` runs
 * another script taking main.ts's flags instead.
 */
export async function spawnServer(
  dataDir: string,
  extraArgs: string[] = [],
  env: Record<string, string> = {},
  entry: string = MAIN,
): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      entry,
      "--port",
      "0",
      "--data-dir",
      dataDir,
      "--log-level",
      "warn",
      ...extraArgs,
    ],
    stdout: "piped",
    stderr: "piped",
    env,
  }).spawn();
  let errText = "";
  (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) errText += decoder.decode(chunk);
  })();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const { done, value } = await reader.read();
    if (done) break;
    out += value;
    const match = /listening on (https?:\/\/\S+)/.exec(out);
    if (match) {
      // Keep draining stdout so the child never blocks on a full pipe.
      (async () => {
        while (!(await reader.read()).done) { /* discard */ }
      })().catch(() => {});
      return { url: match[1], child, stderr: () => errText };
    }
  }
  child.kill("SIGKILL");
  throw new Error(`server did not start: ${out}\n${errText}`);
}

/** Kills `server` with SIGKILL (if it still runs) and waits for it to exit. */
export async function killServer(server: ServerProcess): Promise<void> {
  try {
    server.child.kill("SIGKILL");
  } catch { /* already gone */ }
  await server.child.status;
}
