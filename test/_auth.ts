/**
 * @module
 * Test helpers for servers under `--auth api-key`: a keys file in a temp
 * dir, an in-process server using it, and requests carrying a bearer key.
 */

import { join } from "node:path";
import { keysFileText, type TestKey } from "../src/auth/_testing.ts";
import type { ConfigOverrides } from "../src/config.ts";
import type { Logger } from "../src/log.ts";
import { startServer } from "../src/server.ts";
import { testConfig } from "../src/config.ts";

/** A running keyed server, its keys file, and a way to call it. */
export interface KeyedServer {
  /** Base URL. */
  url: string;
  /** The keys file (rewrite it to rotate keys). */
  keysFile: string;
  /** Sends `method path` with `Authorization: Bearer <secret>` when given. */
  call(
    method: string,
    path: string,
    secret?: string,
    init?: { body?: string; headers?: Record<string, string> },
  ): Promise<Response>;
}

/** Runs `fn` against a server whose keys file lists `keys`. */
export async function withKeyedServer(
  keys: TestKey[],
  overrides: ConfigOverrides,
  fn: (server: KeyedServer) => Promise<void>,
  log?: Logger,
  accessLog?: (line: string) => void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-auth-" });
  const keysFile = join(dir, "keys.json");
  await Deno.writeTextFile(keysFile, keysFileText(keys));
  const config = testConfig(join(dir, "data"), {
    ...overrides,
    auth: { mode: "api-key", keysFile, ...overrides.auth },
  });
  const server = await startServer(config, { log, accessLog });
  try {
    await fn({
      url: server.url,
      keysFile,
      call: (method, path, secret, init = {}) =>
        fetch(server.url + path, {
          method,
          body: init.body,
          headers: {
            ...(secret === undefined
              ? {}
              : { authorization: `Bearer ${secret}` }),
            ...init.headers,
          },
        }),
    });
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** The body of `response` as text ("" for HEAD), consumed. */
export async function text(response: Response): Promise<string> {
  return await response.text();
}
