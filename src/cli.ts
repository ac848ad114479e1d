/**
 * @module
 * Command line: argv and env to a `Config`, then `startServer`, with signal
 * handling. `main.ts` calls `runCli`. Start-up failures print one line and
 * exit 1; a fatal WAL failure answers the requests in flight, then exits 1.
 */

import {
  type Config,
  helpText,
  parseConfig,
  printableConfig,
  redactUrlPassword,
} from "./config.ts";
import { StartupError, StreamError } from "./errors.ts";
import { FATAL_DRAIN_MS } from "./limits.ts";
import { type ServerHandle, type StartOptions, startServer } from "./server.ts";

/**
 * Runs the server from the command line; resolves with the exit code.
 * `options` reach `startServer` (tests inject WAL faults this way).
 */
export async function runCli(
  args: string[],
  options: StartOptions = {},
): Promise<number> {
  const parsed = parseConfig({ env: Deno.env.toObject(), args });
  if (!parsed.ok) {
    for (const error of parsed.errors) console.error(`error: ${error}`);
    console.error("Run with --help for the list of flags.");
    return 2;
  }
  for (const warning of parsed.warnings) console.error(`warning: ${warning}`);
  if (parsed.help) {
    console.log(helpText());
    return 0;
  }
  if (parsed.printConfig) {
    console.log(JSON.stringify(printableConfig(parsed.value), null, 2));
    return 0;
  }
  const config = parsed.value;
  let server: ServerHandle | undefined;
  try {
    server = await startServer(config, {
      ...options,
      onFatal: () => void exitAfterFatal(server),
    });
  } catch (error) {
    reportStartFailure(error);
    return 1;
  }
  console.log(
    `streambed listening on ${server.url} (data: ${
      describeStorage(config)
    }, durability: ${config.storage.durability})`,
  );
  const stop = async (signal: string) => {
    console.error(`${signal} received: draining appends and shutting down`);
    await server.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", () => void stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => void stop("SIGTERM"));
  await server.finished;
  return 0;
}

/** Where the data is, for the start-up line (never with a password). */
function describeStorage(config: Config): string {
  const storage = config.storage;
  if (storage.backend === "sqlite") return storage.dataDir;
  return `postgres ${
    redactUrlPassword(storage.postgresUrl)
  } schema ${storage.postgresSchema}, mode ${storage.postgresMode}`;
}

/** One line for the failures an operator can fix; a stack for the rest. */
function reportStartFailure(error: unknown): void {
  if (error instanceof StartupError || error instanceof StreamError) {
    console.error(`error: ${error.message}`);
  } else {
    console.error("error: the server failed to start:", error);
  }
}

/**
 * The WAL failed for good: every request in flight has been rejected with a
 * 503; let the HTTP server write those responses, then exit so a restart
 * recovers from the WAL.
 */
async function exitAfterFatal(server: ServerHandle | undefined): Promise<void> {
  console.error(
    "fatal: the write-ahead log failed; exiting so a restart can recover",
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, FATAL_DRAIN_MS);
  });
  await Promise.race([server?.close().catch(() => {}), timeout]);
  clearTimeout(timer);
  Deno.exit(1);
}
