/**
 * @module
 * The HTTP listener, with start-up failures turned into one-line
 * `StartupError`s that name the flags to change (`--port`/`--host`).
 * `probeAddress` checks the address before the data dir is touched, so a
 * taken port leaves nothing behind; `listen` still handles losing a race
 * for it.
 */

import { StartupError, StreamError } from "./errors.ts";
import type { HttpConfig } from "./config.ts";
import type { Logger } from "./log.ts";

/** A bound HTTP server. */
export interface Listener {
  /** The server. */
  server: Deno.HttpServer<Deno.NetAddr>;
  /** Base URL, e.g. `http://127.0.0.1:4437` (`https://` with TLS). */
  url: string;
  /** The bound port. */
  port: number;
}

/**
 * Throws a `StartupError` if `config.host:config.port` cannot be bound now
 * (with port 0 this still checks the host).
 */
export function probeAddress(config: HttpConfig): void {
  try {
    Deno.listen({ hostname: config.host, port: config.port }).close();
  } catch (cause) {
    throw listenError(config, cause);
  }
}

/** Serves `handler` on `config.host:config.port`. */
export function listen(
  config: HttpConfig,
  handler: Deno.ServeHandler<Deno.NetAddr>,
  log: Logger,
): Listener {
  const tls = readTls(config);
  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({
      ...tls,
      hostname: config.host,
      port: config.port,
      onListen: () => {}, // the command line prints its own line
      onError: (error) => {
        // The handler answers its own errors, so this sees streamed bodies
        // that failed; a typed one is expected (a stalled SSE reader is cut).
        if (error instanceof StreamError) log.warn(error.message);
        else log.error("unhandled request error", error);
        return new Response("Internal server error", { status: 500 });
      },
    }, handler);
  } catch (cause) {
    // The address was just probed: with TLS, a failure is most likely the PEM.
    if (tls !== undefined && !(cause instanceof Deno.errors.AddrInUse)) {
      throw new StartupError(
        "tls_config",
        `cannot serve HTTPS with --tls-cert ${config.tlsCert} and --tls-key ${config.tlsKey}: ${
          (cause as Error).message
        }`,
        { cause },
      );
    }
    throw listenError(config, cause);
  }
  const { hostname, port } = server.addr;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const scheme = tls === undefined ? "http" : "https";
  return { server, url: `${scheme}://${host}:${port}`, port };
}

/** The PEM certificate and key of `--tls-cert`/`--tls-key`, if given. */
function readTls(
  config: HttpConfig,
): { cert: string; key: string } | undefined {
  if (config.tlsCert === "") return undefined;
  const read = (path: string, flag: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch (cause) {
      throw new StartupError(
        "tls_config",
        `cannot read ${flag} ${path}: ${(cause as Error).message}`,
        { cause },
      );
    }
  };
  return {
    cert: read(config.tlsCert, "--tls-cert"),
    key: read(config.tlsKey, "--tls-key"),
  };
}

function listenError(config: HttpConfig, cause: unknown): StartupError {
  const reason = cause instanceof Deno.errors.AddrInUse
    ? "address in use"
    : cause instanceof Deno.errors.AddrNotAvailable
    ? "address not available on this machine"
    : cause instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : cause instanceof Error
    ? cause.message
    : String(cause);
  return new StartupError(
    "listen_failed",
    `cannot listen on ${config.host}:${config.port} (--port/--host): ${reason}`,
    { cause },
  );
}
