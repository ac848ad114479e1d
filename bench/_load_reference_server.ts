/**
 * @module
 * Starts the upstream reference server (npm `@durable-streams/server` 0.3.7,
 * in-memory mode) on loopback for bench/compare.ts and prints
 * `listening on http://HOST:PORT` on stdout, the same contract as main.ts.
 * Stops cleanly on SIGTERM or SIGINT.
 *
 * ```sh
 * deno run -A --no-lock bench/_load_reference_server.ts --port 0
 * ```
 */

import { parseArgs } from "node:util";
// Pinned inline on purpose: this benchmark-only dependency stays out of the
// package's import map (and deno.json); compare.ts runs this file with --no-lock.
// deno-lint-ignore no-import-prefix
import { DurableStreamTestServer } from "npm:@durable-streams/server@0.3.7";

/** Options accepted on the command line. */
export interface ReferenceServerOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Loopback address to bind. */
  host: string;
  /** Long-poll wait before a 204 (the package's default is 30,000 ms). */
  longPollTimeoutMs: number;
  /** gzip/deflate responses >= 1 KiB when the client accepts it (package default: on). */
  compression: boolean;
}

/** Parses `--port`, `--host`, `--long-poll-timeout-ms`, `--no-compression`. */
export function parseReferenceArgs(
  args: readonly string[],
): ReferenceServerOptions {
  const { values } = parseArgs({
    args: [...args],
    options: {
      port: { type: "string", default: "0" },
      host: { type: "string", default: "127.0.0.1" },
      "long-poll-timeout-ms": { type: "string", default: "30000" },
      "no-compression": { type: "boolean", default: false },
    },
    strict: true,
  });
  const host = values.host;
  if (host !== "127.0.0.1" && host !== "localhost" && host !== "::1") {
    throw new Error(
      `Invalid --host "${host}": the benchmark binds loopback only`,
    );
  }
  return {
    port: Number(values.port),
    host,
    longPollTimeoutMs: Number(values["long-poll-timeout-ms"]),
    compression: !values["no-compression"],
  };
}

async function main(): Promise<void> {
  const options = parseReferenceArgs(Deno.args);
  const server = new DurableStreamTestServer({
    port: options.port,
    host: options.host,
    longPollTimeout: options.longPollTimeoutMs,
    compression: options.compression,
  });
  const url = await server.start();
  console.log(`listening on ${url}`);
  const stop = async (): Promise<void> => {
    await server.stop().catch(() => {});
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
}

if (import.meta.main) await main();
