/**
 * @module
 * Wiring: lock the data dir, open the WAL, load the engine, serve HTTP, and
 * shut down in order. Every resource is pushed onto one close stack as it
 * opens, so a failed start releases what had opened (in reverse) and
 * shutdown does the same after quiescing (stop background work, drain
 * queued appends, wake live readers).
 */

import { join } from "node:path";
import { BrowserPolicy, isLoopbackHost } from "./auth/browser.ts";
import { AccessGate } from "./auth/gate.ts";
import { KeyStore } from "./auth/key_store.ts";
import type { Config } from "./config.ts";
import { compactionOptions } from "./engine/compactor.ts";
import { Engine } from "./engine/engine.ts";
import type { StreamInfo, StreamView } from "./engine/types.ts";
import { StartupError, type StreamError } from "./errors.ts";
import { BodyBudget } from "./http/body.ts";
import type { OpsContext } from "./http/context.ts";
import { createHandler } from "./http/handler.ts";
import { observeRequests, routeMeters } from "./http/observe.ts";
import { sseConnections } from "./http/sse.ts";
import { createMetrics } from "./metrics/families.ts";
import type { HttpMeters } from "./metrics/http_meters.ts";
import { MetricsStreamFeed } from "./metrics/metrics_stream.ts";
import { profileFor } from "./profiles/registry.ts";
import { largest, LargestStreams } from "./metrics/largest_streams.ts";
import { SERVER_DETAILS_TOP_STREAMS } from "./limits.ts";
import {
  type DetailsParts,
  serverDetails,
  type SizedStream,
} from "./metrics/server_details.ts";
import { MeteredObjectStore } from "./objectstore/metered.ts";
import { listen, probeAddress } from "./listen.ts";
import { createLogger, type LineWriter, type Logger } from "./log.ts";
import {
  openSqliteSubscriptionStore,
  type SubscriptionStore,
} from "./storage/subscription_store.ts";
import { PgSyncClient } from "./storage/pg_sync.ts";
import { PgSubscriptionStore } from "./storage/pg_subscription_store.ts";
import {
  PgManifestGenerations,
  PgStreamLeases,
} from "./storage/manifest_generations.ts";
import {
  type ManagerOptions,
  SubscriptionManager,
} from "./subscriptions/manager.ts";
import { lockDataDir } from "./storage/data_dir_lock.ts";
import { openSqliteStore } from "./storage/sqlite_store.ts";
import { openThreadedSqliteStore } from "./storage/threaded_sqlite_store.ts";
import type { WalSnapshot, WalStore } from "./storage/wal_store.ts";
import { createNodeZstdCodec } from "./_wasm/codec.ts";
import { bootstrapFromObjects } from "./tier/bootstrap.ts";
import type { RunCatalog } from "./index/catalog.ts";
import { openSqliteRunCatalog } from "./index/sqlite_catalog.ts";
import { PgRunCatalog } from "./index/pg_catalog.ts";
import type { PgStoreOptions } from "./storage/pg_store.ts";
import { streamDetails, streamIndexStatus } from "./tier/details.ts";
import { Tier } from "./tier/tier.ts";
import { TouchService } from "./live/touch_service.ts";
import { SqliteLiveTemplateStore } from "./storage/live_template_store.ts";
import { PgLiveTemplateStore } from "./storage/pg_live_template_store.ts";
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
  /**
   * Retires the webhook signing key and signs with a new one (the old key
   * stays in the JWKS for a while); with several nodes the others follow.
   * Present when subscriptions are enabled. Resolves to the new key's id.
   */
  rotateSigningKey?: () => Promise<string>;
}

/** Extra hooks for embedders. */
export interface StartOptions {
  /** Logger; defaults to stderr at `config.log.level`. */
  log?: Logger;
  /**
   * Called if the WAL fails in a way the server cannot recover from (not a
   * full disk); defaults to logging. `main.ts` drains and exits.
   */
  onFatal?: (error: StreamError) => void;
  /**
   * Used instead of the store `config.objectStore` names (tests inject a
   * fault-wrapped store here); ignored with `--object-store none`.
   */
  objectStore?: ObjectStore;
  /** Wraps the WAL store once opened (tests inject faults here). */
  wrapWal?: (store: WalStore) => WalStore;
  /** Where access-log lines go; defaults to stderr. */
  accessLog?: LineWriter;
}

/**
 * Starts a server with `config`. Rejects with a `StartupError` when the
 * port or the data dir cannot be used; nothing stays open then.
 */
export async function startServer(
  config: Config,
  options: StartOptions = {},
): Promise<ServerHandle> {
  const log = options.log ??
    createLogger(config.log.level, config.log.format);
  const stack = new AsyncDisposableStack();
  try {
    return await open(config, options, log, stack);
  } catch (error) {
    await stack.disposeAsync().catch((closeError) =>
      log.error("closing after a failed start failed", closeError)
    );
    throw error;
  }
}

async function open(
  config: Config,
  options: StartOptions,
  log: Logger,
  stack: AsyncDisposableStack,
): Promise<ServerHandle> {
  const browser = browserPolicy(config); // before anything is opened
  probeAddress(config.http); // before the data dir is created or locked
  const gate = await openGate(config, browser, log, stack); // reads the keys
  const paths = dataPaths(config);
  const lock = await lockDataDir(config.storage.dataDir);
  stack.defer(() => lock.release());
  const { store: opened, health: walHealth, sync } = await openWal(
    config,
    paths.wal,
    log,
  );
  stack.defer(() => opened.close());
  // With PostgreSQL, subscriptions and index catalogs live there too.
  if (sync !== undefined) stack.defer(() => sync.close());
  const store = options.wrapWal?.(opened) ?? opened;
  const objects = config.objectStore.kind === "none"
    ? undefined
    : options.objectStore !== undefined
    ? { store: options.objectStore, close: () => {} }
    : await openObjectStore(config.objectStore, config.storage.dataDir);
  if (objects !== undefined) stack.defer(() => objects.close());
  const metered = objects === undefined
    ? undefined
    : new MeteredObjectStore(objects.store);
  // The routing-key index catalog: in PostgreSQL with a shared store, else
  // in the data dir's local SQLite file.
  const indexCatalog = metered === undefined || !config.segment.routingIndex
    ? undefined
    : sync !== undefined
    ? new PgRunCatalog(sync)
    : openSqliteRunCatalog(paths.subscriptions, config.storage.durability);
  if (indexCatalog !== undefined) stack.defer(() => indexCatalog.close());
  if (metered !== undefined && config.objectStore.bootstrap) {
    await bootstrapFromObjects(store, metered, log, Date.now(), indexCatalog);
  }
  const engine = await openEngine(config, store, options, log);
  stack.defer(() => engine.close());
  const snapshot = engine.takeStartupSnapshot();
  const tier = metered === undefined
    ? undefined
    : await openTier(config, paths, store, metered, engine, log, {
      indexCatalog,
      snapshot,
      sync,
    });
  if (tier !== undefined) stack.defer(() => tier.close());
  const subscriptions = config.subscriptions.enabled
    ? await openSubscriptions(
      config,
      sync !== undefined
        ? new PgSubscriptionStore(
          sync,
          opened.shared?.announcePrefix === undefined
            ? undefined
            : { prefix: opened.shared.announcePrefix },
        )
        : openSqliteSubscriptionStore(
          paths.subscriptions,
          config.storage.durability,
        ),
      engine,
      log,
      stack,
      store.shared?.watchSubscriptions?.bind(store.shared),
      opened.shared === undefined
        ? undefined
        : config.storage.postgresWakePollMs,
    )
    : undefined;
  const touch = await openTouch(config, paths, sync, engine, log, stack);
  const bodyBudget = new BodyBudget(
    Math.max(config.limits.bodyInflightBytesMax, config.limits.bodyBytesMax),
  );
  const meters = routeMeters();
  const handler = createHandler({
    gate,
    engine,
    http: config.http,
    limits: config.limits,
    log,
    details: (name) => streamDetails(engine, tier, name),
    indexStatus: (name) => {
      const schema = engine.schemaRegistry(name);
      const rule = schema.ok && schema.value.registry.routingKey !== null;
      return streamIndexStatus(engine, tier, name, rule);
    },
    indexStatusWait: tier === undefined
      ? undefined
      : (timeoutMs, signal) => tier.waitForPass(timeoutMs, signal),
    health: tier === undefined ? walHealth : tierHealth(tier),
    schemaPublished: tier === undefined
      ? undefined
      : schemaPublication(engine, tier, config.segment.schemaPublishWaitMs),
    subscriptions: subscriptions === undefined
      ? undefined
      : { manager: subscriptions, config: config.subscriptions },
    bodyBudget,
    touch,
    ops: operatorView({
      http: meters,
      engine,
      tier,
      objects: metered,
      subscriptions: subscriptions && (() => subscriptions.size),
      bodyBytesInFlight: () => bodyBudget.reservedBytes,
      sseConnections,
      config,
      topStreams: largestStreams(engine, opened.shared !== undefined),
      authFailures: () => gate.counts,
      touch: () => touch.figures(),
    }),
  });
  const http = listen(
    config.http,
    observeRequests(handler, {
      meters,
      log: config.log,
      write: options.accessLog,
    }),
    log,
  );
  // Shutdown waits for in-flight responses; nothing below closes before.
  stack.defer(() => http.server.shutdown());
  subscriptions?.setBaseUrl(config.subscriptions.publicUrl || http.url);
  const metricsFeed = config.http.metricsStream === ""
    ? undefined
    : await startMetricsStream(config, engine, meters, http.url, log);
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      // Quiesce first (each close is idempotent; the stack repeats it):
      metricsFeed?.stop(); // no more records once the engine drains
      await subscriptions?.close(); // stop timers and webhook requests
      await tier?.close(); // stop sealing and uploads between steps
      touch.close(); // end touch waits, write template last-seen times
      await engine.close(); // drain accepted appends, wake live readers
      await stack.disposeAsync(); // HTTP server, then storage, then the lock
    })();
    return closing;
  };
  return {
    url: http.url,
    port: http.port,
    close,
    finished: http.server.finished.then(() => closing),
    rotateSigningKey: subscriptions &&
      (() => subscriptions.rotateSigningKey()),
  };
}

/**
 * `--metrics-stream`: makes sure the stream exists as a JSON stream with the
 * metrics profile, then appends a window of interval records from the
 * route meters and the WAL writer every `--metrics-stream-interval-ms`. A
 * stream that cannot take the profile (another content type, or records
 * under another profile) is logged and left alone.
 */
async function startMetricsStream(
  config: Config,
  engine: Engine,
  meters: HttpMeters,
  url: string,
  log: Logger,
): Promise<{ stop(): void } | undefined> {
  const name = config.http.metricsStream;
  const created = await engine.create(name, {
    contentType: "application/json",
    ttlSeconds: undefined,
    expiresAtMs: undefined,
    closed: false,
    body: new Uint8Array(0),
    fork: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  });
  const options = profileFor("metrics")!.validate({ kind: "metrics" });
  const current = engine.profile(name);
  const installed = !created.ok || !options.ok || !current.ok
    ? undefined
    : current.value.options.kind === options.value.kind
    ? current
    : await engine.installProfile(name, options.value);
  if (installed === undefined || !installed.ok) {
    const why = !created.ok
      ? created.error.message
      : installed?.ok === false
      ? installed.error.message
      : "the stream is not usable";
    log.error(`--metrics-stream "${name}" is off: ${why}`);
    return undefined;
  }
  const feed = new MetricsStreamFeed(
    {
      http: meters,
      commitSeconds: () => engine.writerStats().commitSeconds,
    },
    url,
    Date.now(),
  );
  const timer = setInterval(() => {
    const records = feed.next(Date.now());
    if (records.length === 0) return;
    engine.append(name, {
      contentType: "application/json",
      body: new Uint8Array(0),
      close: false,
      streamSeq: undefined,
      producer: undefined,
      routingKey: undefined,
      timestampMs: undefined,
      records,
    }).then(
      (result) => {
        if (!result.ok) {
          log.warn(`--metrics-stream "${name}": ${result.error.message}`);
        }
      },
      (error) => log.warn(`--metrics-stream "${name}": ${error.message}`),
    );
  }, config.http.metricsStreamIntervalMs);
  return { stop: () => clearInterval(timer) };
}

/**
 * The browser policy of `config`; refuses `--auth none` on a non-loopback
 * host unless `--allow-unauthenticated`, and malformed origin or host lists.
 */
function browserPolicy(config: Config): BrowserPolicy {
  const { auth, http } = config;
  if (
    auth.mode === "none" && !auth.allowUnauthenticated &&
    !isLoopbackHost(http.host)
  ) {
    throw new StartupError(
      "auth_config",
      `refusing to serve ${http.host} without authentication: use --auth api-key, or --allow-unauthenticated if a proxy in front authenticates`,
    );
  }
  const parsed = BrowserPolicy.parse({
    open: auth.mode === "none",
    corsOrigins: auth.corsOrigins,
    allowedHosts: auth.allowedHosts,
  });
  if (!parsed.ok) throw new StartupError("auth_config", parsed.error.message);
  return parsed.value;
}

/**
 * The access gate: under `--auth api-key`, the keys (followed on SIGHUP and
 * when the keys file changes) and the routes `--public-health` and
 * `--public-metrics` open.
 */
async function openGate(
  config: Config,
  browser: BrowserPolicy,
  log: Logger,
  stack: AsyncDisposableStack,
): Promise<AccessGate> {
  const { auth } = config;
  if (auth.mode === "none") {
    return new AccessGate({ mode: "none", browser, log });
  }
  const keys = await KeyStore.open(
    { file: auth.keysFile, apiKey: auth.apiKey },
    log,
  );
  keys.watch();
  stack.defer(() => keys.close());
  if (auth.keysFile !== "" && Deno.build.os !== "windows") {
    const reload = () => void keys.reload();
    Deno.addSignalListener("SIGHUP", reload);
    stack.defer(() => Deno.removeSignalListener("SIGHUP", reload));
  }
  return new AccessGate({
    mode: "api-key",
    keys,
    browser,
    publicOperations: publicOperations(config),
    log,
  });
}

/**
 * Operations `--public-health` and `--public-metrics` open to requests
 * without a key. `GET /v1/server/_details` is never among them.
 */
export function publicOperations(config: Config): Set<string> {
  const open = new Set<string>();
  if (config.auth.publicHealth) open.add("health_get").add("health_head");
  if (config.auth.publicMetrics) open.add("metrics_get").add("metrics_head");
  return open;
}

/** The files the server keeps under the data dir, named in one place. */
interface DataPaths {
  /** The SQLite WAL. */
  wal: string;
  /**
   * The subscription tables and index catalog: in the SQLite WAL's file
   * (with PostgreSQL they are tables there, nothing in the data dir).
   */
  subscriptions: string;
  /** Sealed segments waiting for upload. */
  segments: string;
}

function dataPaths(config: Config): DataPaths {
  const dataDir = config.storage.dataDir;
  const wal = join(dataDir, "wal.sqlite");
  return {
    wal,
    subscriptions: wal,
    segments: join(dataDir, "segments"),
  };
}

/** How to reach PostgreSQL, from `config.storage`. */
function pgOptions(config: Config): Omit<PgStoreOptions, "log"> {
  const storage = config.storage;
  return {
    url: storage.postgresUrl,
    schema: storage.postgresSchema,
    poolSize: storage.postgresPoolSize,
    statementTimeoutMs: storage.postgresStatementTimeoutMs,
    connectTimeoutMs: storage.postgresConnectTimeoutMs,
    durability: storage.durability,
    multiNode: storage.postgresMultiNode,
    // Without an object store there is nothing to release.
    releaseLog: config.objectStore.kind !== "none",
  };
}

/** The WAL, and what it adds to `GET /health` (PostgreSQL's reachability). */
interface OpenedWal {
  store: WalStore;
  health?: () => Record<string, unknown>;
  /** With PostgreSQL: the synchronous client for subscriptions and catalogs. */
  sync?: PgSyncClient;
}

async function openWal(
  config: Config,
  walPath: string,
  log: Logger,
): Promise<OpenedWal> {
  const storage = config.storage;
  if (storage.backend === "postgres") {
    // Loaded only when used, so SQLite servers never fetch the driver.
    const { openPgStore } = await import("./storage/pg_store.ts");
    const store = await openPgStore({ ...pgOptions(config), log });
    const health = () => {
      const unreachable = store.unreachable;
      return unreachable === undefined
        ? { database: { kind: "postgres", reachable: true } }
        : {
          status: "unavailable",
          database: { kind: "postgres", reachable: false, error: unreachable },
        };
    };
    const sync = new PgSyncClient({
      url: storage.postgresUrl,
      schema: storage.postgresSchema,
      statementTimeoutMs: storage.postgresStatementTimeoutMs,
      connectTimeoutMs: storage.postgresConnectTimeoutMs,
      durability: storage.durability,
    });
    return { store, health, sync };
  }
  // Without an object store there is nothing to release.
  const releaseLog = config.objectStore.kind !== "none";
  return {
    store: storage.walWorker
      ? await openThreadedSqliteStore(walPath, storage.durability, {
        releaseLog,
      })
      : openSqliteStore(walPath, storage.durability, { releaseLog }),
  };
}

function openEngine(
  config: Config,
  store: WalStore,
  options: StartOptions,
  log: Logger,
): Promise<Engine> {
  return Engine.open(store, {
    compaction: compactionOptions(config.storage.compactChunkBytes),
    limits: config.limits,
    log,
    wakePollMs: config.storage.postgresWakePollMs,
    onFatal: (error) => {
      log.error("write-ahead log failed", error.cause ?? error);
      options.onFatal?.(error);
    },
  });
}

async function openTier(
  config: Config,
  paths: DataPaths,
  store: WalStore,
  objects: ObjectStore,
  engine: Engine,
  log: Logger,
  startup: {
    indexCatalog?: RunCatalog;
    snapshot?: WalSnapshot;
    sync?: PgSyncClient;
  },
): Promise<Tier> {
  const { indexCatalog, snapshot, sync } = startup;
  const tier = await Tier.open({
    store,
    snapshot,
    objects,
    codec: createNodeZstdCodec(),
    segmentDir: paths.segments,
    // Sealing reads the WAL on a Worker, through a connection of its own.
    walPath: config.storage.backend === "postgres"
      ? { postgres: { ...pgOptions(config), multiNode: false } }
      : paths.wal,
    config: config.segment,
    streams: () => engine.streamInfos(),
    streamInfo: (id) => engine.streamInfo(id),
    log,
    routingIndex: indexCatalog && {
      catalog: indexCatalog,
      cacheBytes: config.segment.indexCacheBytes,
      concurrency: config.segment.indexConcurrency,
    },
    companionMemoryBytesMax: config.segment.companionCacheBytes,
    // The SQLite WAL records pack ranges; PostgreSQL's does not yet.
    packs: config.storage.backend !== "postgres",
    manifestGenerations: sync && new PgManifestGenerations(sync),
    streamLeases: sync &&
      new PgStreamLeases(
        sync,
        store.shared?.nodeId ?? crypto.randomUUID(),
        config.storage.postgresLeaseMs,
        store.shared !== undefined,
      ),
    refreshStream: (id) => void engine.reloadStreams([id]),
  });
  wireTier(engine, tier);
  return tier;
}

/**
 * Reads below the WAL come from the tier; every commit updates its backlog
 * figure, and writes that add bytes pass its backlog budget.
 */
function wireTier(engine: Engine, tier: Tier): void {
  engine.wrapChunkReader((wal) => tier.reader(wal, engine.readBytes));
  engine.wrapKeyedReader((wal) => tier.keyedReader(wal, engine.readBytes));
  engine.wrapTimeSeeker((wal) => tier.timeSeeker(wal));
  engine.setKeyLexicon(tier.keyLexicon());
  const committed = (stream: { id: number; tailPos: number }) =>
    tier.committed(stream.id, stream.tailPos);
  engine.addListener({
    created: committed,
    appended: committed,
    schemaChanged: (stream) => tier.changed(stream.id),
    // A manifest carries the profile: publish it again.
    profileChanged: (stream) => tier.changed(stream.id),
    deleted: (_name, ids) => {
      for (const id of ids) tier.changed(id);
    },
  });
  engine.setAdmissionGate(tier);
  engine.setSearchPruner(tier.companions.pruner);
}

/** `/metrics` and `/v1/server/_details` over the running parts. */
function operatorView(parts: DetailsParts & { http: HttpMeters }): OpsContext {
  const metrics = createMetrics(parts);
  return {
    metrics: (openMetrics) => metrics.render(openMetrics),
    details: () => serverDetails(parts),
  };
}

/**
 * The longest live streams for `/v1/server/_details`, followed through the
 * engine's commits. With a shared store, streams another node changed are
 * reloaded without a commit event here: every request walks every stream.
 */
function largestStreams(
  engine: Engine,
  shared: boolean,
): (max: number) => SizedStream[] {
  if (shared) return (max) => largest(liveStreams(engine), max);
  const ranking = new LargestStreams(
    () => liveStreams(engine),
    SERVER_DETAILS_TOP_STREAMS * 4,
  );
  const noted = (stream: StreamView) =>
    ranking.noted(stream.name, stream.tailPos);
  engine.addListener({
    created: noted,
    appended: noted,
    deleted: (name) => ranking.deleted(name),
  });
  return (max) => ranking.top(max);
}

/** Every stream clients can see (soft-deleted ones left out). */
function* liveStreams(engine: Engine): Generator<StreamInfo> {
  for (const info of engine.streamInfos()) {
    if (!info.softDeleted) yield info;
  }
}

/**
 * Waits (at most `waitMs`) until the upload loop has
 * published a manifest naming stream `name`'s registry at `revision`.
 */
function schemaPublication(
  engine: Engine,
  tier: Tier,
  waitMs: number,
): (name: string, revision: number) => Promise<boolean> {
  return (name, revision) => {
    const view = engine.view(name);
    if (view === undefined) return Promise.resolve(true); // deleted meanwhile
    return tier.schemaPublishedWithin(
      view.id,
      revision,
      waitMs,
    );
  };
}

/** The tier's part of `GET /health`. */
function tierHealth(tier: Tier): () => Record<string, unknown> {
  return () => {
    const stats = tier.stats();
    return {
      tier: {
        backlogBytes: stats.backlogBytes,
        backlogBytesMax: stats.backlogBytesMax,
        uploadsPending: stats.uploadsPending,
      },
    };
  };
}

/**
 * The touch runtimes (live query invalidation), with their templates in
 * PostgreSQL when the WAL is there, else in the data dir's local SQLite
 * file; fed by committed appends.
 */
async function openTouch(
  config: Config,
  paths: DataPaths,
  sync: PgSyncClient | undefined,
  engine: Engine,
  log: Logger,
  stack: AsyncDisposableStack,
): Promise<TouchService> {
  const store = sync !== undefined
    ? new PgLiveTemplateStore(sync)
    : new SqliteLiveTemplateStore(
      paths.subscriptions,
      config.storage.durability,
    );
  stack.defer(() => store.close());
  const touch = await TouchService.open({
    engine,
    store,
    log,
    memoryBytesMax: config.limits.touchMemoryBytes,
  });
  stack.defer(() => touch.close());
  engine.addListener(touch.listener());
  return touch;
}

/** Starts the subscription manager over `store`. */
async function openSubscriptions(
  config: Config,
  store: SubscriptionStore,
  engine: Engine,
  log: Logger,
  stack: AsyncDisposableStack,
  announcements?: ManagerOptions["announcements"],
  freshnessCheckMs?: number,
): Promise<SubscriptionManager> {
  stack.defer(() => store.close());
  const manager = await SubscriptionManager.open({
    engine,
    store,
    config: config.subscriptions,
    limits: config.limits,
    log,
    announcements,
    freshnessCheckMs,
  });
  stack.defer(() => manager.close());
  return manager;
}
