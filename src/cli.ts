/**
 * @module
 * Command line: argv and env to a `Config`, then `startServer`, with signal
 * handling. `main.ts` calls `runCli`.
 */

import { helpText, parseConfig, printableConfig } from "./config.ts";
import { startServer } from "./server.ts";

/** Runs the server from the command line; resolves with the exit code. */
export async function runCli(args: string[]): Promise<number> {
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
  const server = await startServer(config, {
    onFatal: () => {
      console.error(
        "fatal: the write-ahead log failed; exiting so a restart can recover",
      );
      Deno.exit(1);
    },
  });
  console.log(
    `streambed listening on ${server.url} (data: ${config.storage.dataDir}, durability: ${config.storage.durability})`,
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
