/**
 * @module
 * Wiring: open the WAL, load the engine, serve HTTP, and shut down in order
 * (stop accepting, drain queued appends, close the WAL).
 */

import type { Config } from "./config.ts";
import { Engine } from "./engine/engine.ts";
import type { StreamError } from "./errors.ts";
import { createHandler } from "./http/handler.ts";
import { createLogger, type Logger } from "./log.ts";
import { openThreadedSqliteStore } from "./storage/threaded_sqlite_store.ts";

/** A running server. */
export interface ServerHandle {
  /** Base URL, e.g. `http://127.0.0.1:4437`. */
  url: string;
  /** The bound port. */
  port: number;
  /** Stops accepting, drains in-flight appends, closes storage. */
  close(): Promise<void>;
  /** Resolves when the server has stopped. */
  finished: Promise<void>;
}

/** Extra hooks for embedders. */
export interface StartOptions {
  /** Logger; defaults to stderr at `config.log.level`. */
  log?: Logger;
  /** Called if the WAL fails; defaults to logging. `main.ts` exits. */
  onFatal?: (error: StreamError) => void;
}

/** Starts a server with `config`. */
export async function startServer(
  config: Config,
  options: StartOptions = {},
): Promise<ServerHandle> {
  const log = options.log ?? createLogger(config.log.level);
  await Deno.mkdir(config.storage.dataDir, { recursive: true });
  const store = await openThreadedSqliteStore(
    `${config.storage.dataDir}/wal.sqlite`,
    config.storage.durability,
  );
  let engine: Engine;
  try {
    engine = await Engine.open(store, {
      limits: config.limits,
      log,
      onFatal: (error) => {
        log.error("write-ahead log failed", error.cause ?? error);
        options.onFatal?.(error);
      },
    });
  } catch (error) {
    await store.close();
    throw error;
  }
  const handler = createHandler({
    engine,
    http: config.http,
    limits: config.limits,
    log,
  });
  const abort = new AbortController();
  let bound!: Deno.NetAddr;
  const server = Deno.serve({
    hostname: config.http.host,
    port: config.http.port,
    signal: abort.signal,
    onListen: (addr) => {
      bound = addr as Deno.NetAddr;
    },
    onError: (error) => {
      log.error("unhandled request error", error);
      return new Response("Internal server error", { status: 500 });
    },
  }, handler);
  const host = bound.hostname.includes(":")
    ? `[${bound.hostname}]`
    : bound.hostname;
  const url = `http://${host}:${bound.port}`;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await engine.close(); // drain queued appends first: they were accepted
      abort.abort();
      await server.finished;
      await store.close();
    })();
    return closing;
  };
  return {
    url,
    port: bound.port,
    close,
    finished: server.finished.then(() => closing),
  };
}
