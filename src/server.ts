/**
 * @module
 * Wiring: open the WAL, load the engine, serve HTTP, and shut down in order
 * (stop accepting, drain queued appends, close the WAL).
 */

import type { Config } from "./config.ts";
import { DEFAULT_COMPACTION } from "./engine/compactor.ts";
import { Engine } from "./engine/engine.ts";
import type { StreamError } from "./errors.ts";
import { createHandler } from "./http/handler.ts";
import { createLogger, type Logger } from "./log.ts";
import {
  openSqliteSubscriptionStore,
  type SubscriptionStore,
} from "./storage/subscription_store.ts";
import { SubscriptionManager } from "./subscriptions/manager.ts";
import { createSubscriptionRoutes } from "./subscriptions/routes.ts";
import { openSqliteStore } from "./storage/sqlite_store.ts";
import { openThreadedSqliteStore } from "./storage/threaded_sqlite_store.ts";
import { createNodeZstdCodec } from "./_wasm/codec.ts";
import { bootstrapFromObjects } from "./engine/bootstrap.ts";
import { streamDetails } from "./engine/details.ts";
import { Tier } from "./engine/tier.ts";
import type { ObjectStore } from "./objectstore/object_store.ts";
import { openObjectStore } from "./objectstore/open.ts";

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
  /**
   * Used instead of the store `config.objectStore` names (tests inject a
   * fault-wrapped store here); ignored with `--object-store none`.
   */
  objectStore?: ObjectStore;
}

/** Starts a server with `config`. */
export async function startServer(
  config: Config,
  options: StartOptions = {},
): Promise<ServerHandle> {
  const log = options.log ?? createLogger(config.log.level);
  await Deno.mkdir(config.storage.dataDir, { recursive: true });
  const walPath = `${config.storage.dataDir}/wal.sqlite`;
  const store = config.storage.walWorker
    ? await openThreadedSqliteStore(walPath, config.storage.durability)
    : openSqliteStore(walPath, config.storage.durability);
  const objects = config.objectStore.kind === "none"
    ? undefined
    : options.objectStore !== undefined
    ? { store: options.objectStore, close: () => {} }
    : await openObjectStore(config.objectStore, config.storage.dataDir);
  let engine: Engine;
  let tier: Tier | undefined;
  try {
    if (objects !== undefined && config.objectStore.bootstrap) {
      await bootstrapFromObjects(store, objects.store, log);
    }
    engine = await Engine.open(store, {
      compaction: {
        ...DEFAULT_COMPACTION,
        chunkBytesTarget: config.storage.compactChunkBytes,
      },
      limits: config.limits,
      log,
      onFatal: (error) => {
        log.error("write-ahead log failed", error.cause ?? error);
        options.onFatal?.(error);
      },
    });
    if (objects !== undefined) {
      tier = await Tier.open({
        store,
        objects: objects.store,
        codec: createNodeZstdCodec(),
        segmentDir: `${config.storage.dataDir}/segments`,
        walPath: `${config.storage.dataDir}/wal.sqlite`,
        config: config.segment,
        streams: () => engine.streamInfos(),
        log,
      });
      const t = tier;
      engine.wrapChunkReader((wal) => t.reader(wal));
    }
  } catch (error) {
    await tier?.close();
    await store.close();
    objects?.close();
    throw error;
  }
  let subscriptions: Awaited<ReturnType<typeof openSubscriptions>> | undefined;
  try {
    if (config.subscriptions.enabled) {
      subscriptions = await openSubscriptions(config, engine, log);
    }
  } catch (error) {
    await tier?.close();
    await engine.close();
    await store.close();
    objects?.close();
    throw error;
  }
  const handler = createHandler({
    engine,
    http: config.http,
    limits: config.limits,
    log,
    details: (name) => streamDetails(engine, tier, name),
    reservedRoutes: subscriptions === undefined
      ? undefined
      : createSubscriptionRoutes(
        subscriptions.manager,
        config.subscriptions,
        config.limits,
      ),
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
  subscriptions?.manager.setBaseUrl(config.subscriptions.publicUrl || url);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await subscriptions?.manager.close(); // stop timers and webhook requests
      await tier?.close(); // stop sealing and uploads between steps
      await engine.close(); // drain queued appends first: they were accepted
      abort.abort();
      await server.finished;
      subscriptions?.store.close();
      await store.close();
      objects?.close();
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

/** Opens the subscription tables beside the WAL and starts the manager. */
async function openSubscriptions(
  config: Config,
  engine: Engine,
  log: Logger,
): Promise<{ manager: SubscriptionManager; store: SubscriptionStore }> {
  const store = openSqliteSubscriptionStore(
    `${config.storage.dataDir}/wal.sqlite`,
    config.storage.durability,
  );
  try {
    const manager = await SubscriptionManager.open({
      engine,
      store,
      config: config.subscriptions,
      limits: config.limits,
      log,
    });
    return { manager, store };
  } catch (error) {
    store.close();
    throw error;
  }
}
