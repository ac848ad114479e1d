/**
 * @module
 * The one typed configuration. Only this module reads argv and env; every
 * other module receives its own section. The section interfaces give each
 * field its type and meaning; `OPTION_TABLE` gives each field exactly one
 * row (flag, `DS_*` env var, range, default, doc line), and its type makes
 * the compiler refuse a field without a row, a row without a field, or a
 * default or choice of the wrong type. Parsing, defaults, `--help` and the
 * README table (checked by a test) all come from that table. The file is
 * long because the table is: one row per option, kept in one place.
 */

import { join } from "node:path";
import {
  COMPACTION_CHUNK_BYTES_DEFAULT,
  COMPANION_MEMORY_BYTES_MAX,
} from "./limits.ts";

/** Log verbosity, most to least. */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** `fsync`: commit waits for the disk. `os`: commit waits for the OS only. */
export type Durability = "fsync" | "os";
/** `none`: no credentials (loopback only by default). `api-key`: bearer keys. */
export type AuthMode = "none" | "api-key";
/** How log lines are written: plain text or one JSON object per line. */
export type LogFormat = "text" | "json";
/**
 * Which requests get an access-log line: none, every one, or every error
 * and every success except on the hot routes, where one in
 * `accessLogSampleEvery`.
 */
export type AccessLogMode = "off" | "on" | "sampled";

/** HTTP listener and live-read behaviour. */
export interface HttpConfig {
  /** Interface to bind. */
  host: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** How long a long-poll waits for data before 204, in ms. */
  longPollTimeoutMs: number;
  /** SSE connections are closed after this long, in ms (§5.8). */
  sseConnectionMs: number;
  /**
   * An SSE reader that takes nothing from its full queue for this long (it
   * stopped reading) is disconnected, in ms.
   */
  liveStallMs: number;
  /** PEM certificate chain file; with `tlsKey`, the server speaks HTTPS. */
  tlsCert: string;
  /** PEM private key file of `tlsCert`. */
  tlsKey: string;
  /** Serve the browser console at `/console` (docs/console.md). */
  console: boolean;
  /** The otel-traces stream `POST /v1/traces` writes to; "" turns it off. */
  otlpTracesStream: string;
  /**
   * `POST /v1/traces` creates a missing `otlpTracesStream` (JSON, with the
   * otel-traces profile) instead of answering 404.
   */
  otlpAutoCreate: boolean;
  /**
   * A JSON stream (created with the metrics profile) that gets the server's
   * own request and commit timings as interval records; "" turns it off.
   */
  metricsStream: string;
  /** How often `metricsStream` gets a window of records, in ms. */
  metricsStreamIntervalMs: number;
}

/** Who may call the API, and from which browsers and hosts (README: Security). */
export interface AuthConfig {
  /** `none` or `api-key`. */
  mode: AuthMode;
  /** JSON file of API keys (id, SHA-256 of the secret, scopes, streams). */
  keysFile: string;
  /** Env only (`API_KEY`): one admin key on every stream; never printed. */
  apiKey: string;
  /** Allow `--auth none` on a non-loopback `--host`. */
  allowUnauthenticated: boolean;
  /** Comma-separated browser origins allowed by CORS; `*` for any. */
  corsOrigins: string;
  /** Comma-separated extra `Host` names accepted with `--auth none`. */
  allowedHosts: string;
  /** `GET /health` without a key (answers only the status). */
  publicHealth: boolean;
  /** `GET /metrics` without a key (under `api-key`; with `none` it is open). */
  publicMetrics: boolean;
}

/** Which database holds the WAL. */
export type StorageBackend = "sqlite" | "postgres";
/**
 * What PostgreSQL holds: `wal` everything (no object store); `full` the
 * tail and metadata beside an object store (not implemented yet).
 */
export type PostgresMode = "wal" | "full";

/** Where and how data is kept. */
export interface StorageConfig {
  /** Directory for the SQLite WAL (and later segments). */
  dataDir: string;
  /** The WAL's database: a SQLite file in the data dir, or PostgreSQL. */
  backend: StorageBackend;
  /** PostgreSQL connection URL (`postgres://user:password@host:port/db`). */
  postgresUrl: string;
  /** What PostgreSQL holds (`wal` only, for now). */
  postgresMode: PostgresMode;
  /** PostgreSQL schema for the tables, so one database can host several. */
  postgresSchema: string;
  /** PostgreSQL connections per server at most. */
  postgresPoolSize: number;
  /** Longest PostgreSQL statement, in ms. */
  postgresStatementTimeoutMs: number;
  /**
   * Longest wait for a PostgreSQL connection, in ms; also how long the
   * outcome of a commit whose connection dropped during COMMIT is sought.
   */
  postgresConnectTimeoutMs: number;
  /** Other servers share the PostgreSQL schema (several nodes). */
  postgresMultiNode: boolean;
  /** With several nodes: how often live readers re-check PostgreSQL, in ms. */
  postgresWakePollMs: number;
  /**
   * Full mode: how long a stream lease (who seals, uploads and publishes
   * the stream) lasts without renewal, in ms; renewed after a third of it.
   */
  postgresLeaseMs: number;
  /** Commit durability. */
  durability: Durability;
  /**
   * Run WAL commits on a Worker so fsync never blocks the event loop. Off by
   * default: on local disks the inline writer measured faster (the Worker
   * hop adds latency to every commit); worth it where fsync takes
   * milliseconds.
   */
  walWorker: boolean;
  /**
   * WAL compaction merges runs of small chunks into chunks of about this
   * many bytes, so catch-up reads fetch few rows; 0 turns it off.
   */
  compactChunkBytes: number;
}

/** Limits on every body, queue, batch and scan. */
export interface LimitsConfig {
  /** Largest request body, in bytes. */
  bodyBytesMax: number;
  /**
   * Bytes of request bodies held in memory at once, reserved from
   * `Content-Length` before a body is read (as it arrives when chunked) and
   * released once its append commits or fails; never below `bodyBytesMax`.
   * Bodies that do not fit get 503.
   */
  bodyInflightBytesMax: number;
  /** Soft cap on bytes returned by one read (at least one message is returned). */
  readBytesMax: number;
  /** Appends waiting for the writer before new ones get 503. */
  appendQueueMax: number;
  /** Bytes waiting for the writer before new appends get 503. */
  appendQueueBytesMax: number;
  /** Operations committed in one transaction at most. */
  commitBatchMax: number;
  /** Longest stream name, in UTF-8 bytes. */
  streamNameBytesMax: number;
  /** Live readers (long-poll and SSE) waiting at once before 503. */
  waitersMax: number;
  /** Bytes all touch journals may hold before the least recently waited goes. */
  touchMemoryBytes: number;
  /**
   * Bytes of producer states held in memory (the stream cache); past it the
   * least recently used streams' states are dropped and loaded again from
   * the WAL on their next producer append.
   */
  streamCacheBytes: number;
  /** Streams per page of `GET /v1/streams`. */
  listPageMax: number;
  /** Longest routing key (`Stream-Key`, `?key=`), in UTF-8 bytes. */
  routingKeyBytesMax: number;
  /**
   * Stored bytes one keyed read response examines at most; past it the
   * response ends early with `Stream-Scan-Limit-Reached: true`.
   */
  keyedScanBytesMax: number;
  /**
   * Stored bytes one `filter=` read response examines at most; past it the
   * response ends early with `Stream-Filter-Scan-Limit-Reached: true`.
   */
  filterScanBytesMax: number;
  /**
   * `_search` and `_aggregate` requests running at once; up to 64 more wait,
   * past that they get 503.
   */
  searchConcurrency: number;
  /** Largest `POST .../_schema` body, in bytes (the body cap applies first). */
  schemaBytesMax: number;
}

/** Subscriptions: webhook and pull-wake delivery (PROTOCOL.md §6-7). */
export interface SubscriptionsConfig {
  /** Serve the `__ds` subscription APIs. */
  enabled: boolean;
  /** Development only: allow `http://localhost` and `127.0.0.x` webhooks. */
  webhookAllowLocalhost: boolean;
  /** Base URL put into callback and JWKS URLs; "" uses the bound address. */
  publicUrl: string;
  /** Live subscriptions at most (and as many tombstones). */
  subscriptionsMax: number;
  /** Streams linked to one subscription at most. */
  linksMax: number;
  /** First webhook retry delay, in ms (doubles per failure, 20% jitter). */
  retryDelayMinMs: number;
  /** Longest webhook retry delay, in ms. */
  retryDelayMaxMs: number;
  /** Webhook request timeout, in ms. */
  deliveryTimeoutMs: number;
  /** Webhook requests in flight at once; more wait their turn. */
  deliveriesMax: number;
  /** Pull-wake events waiting to be appended before new ones are dropped. */
  wakeQueueMax: number;
}

/** Sealing WAL ranges into segments, the segment cache and uploads. */
export interface SegmentConfig {
  /** Seal once a stream has this many unsealed bytes. */
  segmentBytes: number;
  /** Seal unsealed data older than this, in ms (unless it is small). */
  segmentAgeMs: number;
  /** Seal a small unsealed range once its stream is idle this long, in ms. */
  segmentIdleMs: number;
  /**
   * Hold manifests that name no segments (empty streams) this long, in ms,
   * to publish many of them in one batch object.
   */
  manifestBatchMs: number;
  /** In-memory cache of published segments, in bytes (LRU). */
  cacheBytes: number;
  /** Sealed bytes awaiting upload before sealing pauses. */
  uploadBacklogBytesMax: number;
  /**
   * Local backlog (WAL bytes not yet published plus sealed bytes not yet
   * uploaded) above which appends get 503.
   */
  backlogBytesMax: number;
  /** First upload retry delay, in ms (doubles per failure). */
  uploadRetryMinMs: number;
  /** Longest upload retry delay, in ms. */
  uploadRetryMaxMs: number;
  /**
   * How long `POST .../_schema` waits for the new registry to be published
   * to the object store before answering 503 (the change stays and is
   * published later), in ms.
   */
  schemaPublishWaitMs: number;
  /** First retry delay after a stream's seal failed, in ms (doubles per failure). */
  sealRetryMinMs: number;
  /** Longest seal retry delay, in ms. */
  sealRetryMaxMs: number;
  /**
   * Deleted streams whose objects wait for deletion in memory, at most (the
   * rest wait in the WAL's release log).
   */
  releaseQueueMax: number;
  /**
   * Build the routing-key index of uploaded segments (keyed reads and
   * `_routing_keys` use it); off, they read every segment.
   */
  routingIndex: boolean;
  /** Routing-key index builds running at once, each on its own Worker. */
  indexConcurrency: number;
  /** Decoded routing-key runs and key lexicons kept in memory, in bytes (LRU). */
  indexCacheBytes: number;
  /** Decoded search companions kept in memory, in bytes (LRU). */
  companionCacheBytes: number;
  /** Test only (`DS_TEST_CRASH_POINT`, not a flag): SIGKILL self there. */
  testCrashPoint: string;
}

/** Where segments and manifests are published. */
export interface ObjectStoreConfig {
  /** `fs` (a folder), `s3`, or `none` (WAL only). */
  kind: "fs" | "s3" | "none";
  /**
   * Folder of the fs store; "" means `<data-dir>/objects` (`parseConfig`
   * resolves it).
   */
  dir: string;
  /** S3 bucket. */
  s3Bucket: string;
  /** S3 endpoint URL (path-style addressing when set). */
  s3Endpoint: string;
  /** S3 region. */
  s3Region: string;
  /** Prefix of every key in the bucket. */
  s3Prefix: string;
  /** On an empty WAL, restore every stream from the manifests. */
  bootstrap: boolean;
}

/** Logging. */
export interface LogConfig {
  /** Lowest level printed. */
  level: LogLevel;
  /** Text lines or JSON lines (log and access log alike). */
  format: LogFormat;
  /** Which requests get an access-log line. */
  accessLog: AccessLogMode;
  /** `sampled`: one successful hot-route request in this many is logged. */
  accessLogSampleEvery: number;
  /**
   * Add the request path (stream names included, query left out) to
   * access-log lines; off, lines name the route only.
   */
  accessLogPaths: boolean;
}

/** Everything the server needs to start. */
export interface Config {
  /** HTTP listener and live reads. */
  http: HttpConfig;
  /** Credentials, CORS and the Host guard. */
  auth: AuthConfig;
  /** Data directory and durability. */
  storage: StorageConfig;
  /** Limits. */
  limits: LimitsConfig;
  /** Subscriptions. */
  subscriptions: SubscriptionsConfig;
  /** Segments, cache and uploads. */
  segment: SegmentConfig;
  /** The object store. */
  objectStore: ObjectStoreConfig;
  /** Logging. */
  log: LogConfig;
}

/** The name of one config section. */
export type Section = keyof Config;

/**
 * One option's row, typed by the field it fills: `bool` fields take a
 * boolean default, `int` fields a number and a range, free `string` fields
 * a string, and fields of a string union an `enum` of exactly its members.
 */
export type OptionRow<T> = OptionRowBase<T> & OptionKindOf<T>;

/** What every row has, whatever its kind. */
export interface OptionRowBase<T> {
  /** Long flag without dashes, e.g. `port`; none for test-only fields (env only). */
  flag?: string;
  /** Environment variable, e.g. `DS_PORT`. */
  env: string;
  /** The embedded default. */
  default: T;
  /** How `--help` and the README show the default when the value says little. */
  defaultDoc?: string;
  /** One-line description for `--help` and the README. */
  doc: string;
}

/** The kind-specific part of a row for a field of type `T`. */
export type OptionKindOf<T> = [T] extends [boolean] ? { kind: "bool" }
  : [T] extends [number] ? {
      kind: "int";
      /** Inclusive range. */
      min: number;
      /** Inclusive range. */
      max: number;
    }
  : string extends T ? { kind: "string" }
  : {
    kind: "enum";
    /** Allowed values. */
    choices: readonly T[];
  };

/** A row for every field of every section: the compiler checks both ways. */
export type OptionTable = {
  readonly [S in Section]: {
    readonly [F in keyof Config[S]]-?: OptionRow<Config[S][F]>;
  };
};

const MIB = 1024 * 1024;

/**
 * Every option, once: flag, env var, kind, range, default and doc line.
 * Parsing, `--help`, `defaultConfig()` and the README table (checked by
 * `config_test.ts`) all come from here, in this order.
 */
export const OPTION_TABLE: OptionTable = {
  http: {
    host: {
      flag: "host",
      env: "DS_HOST",
      kind: "string",
      default: "127.0.0.1",
      doc: "interface to bind",
    },
    port: {
      flag: "port",
      env: "DS_PORT",
      kind: "int",
      min: 0,
      max: 65535,
      default: 4437,
      doc: "TCP port (0 = any free port)",
    },
    longPollTimeoutMs: {
      flag: "long-poll-timeout-ms",
      env: "DS_LONG_POLL_TIMEOUT_MS",
      kind: "int",
      min: 10,
      max: 300_000,
      default: 30_000,
      doc: "long-poll wait before 204",
    },
    sseConnectionMs: {
      flag: "sse-connection-ms",
      env: "DS_SSE_CONNECTION_MS",
      kind: "int",
      min: 100,
      max: 3_600_000,
      default: 60_000,
      doc: "SSE connections close after this long; clients reconnect",
    },
    liveStallMs: {
      flag: "live-stall-ms",
      env: "DS_LIVE_STALL_MS",
      kind: "int",
      min: 10,
      max: 3_600_000,
      default: 30_000,
      doc: "disconnect an SSE reader that has read nothing for this long",
    },
    tlsCert: {
      flag: "tls-cert",
      env: "DS_TLS_CERT",
      kind: "string",
      default: "",
      defaultDoc: "none",
      doc: "PEM certificate chain file: serve HTTPS (needs --tls-key)",
    },
    tlsKey: {
      flag: "tls-key",
      env: "DS_TLS_KEY",
      kind: "string",
      default: "",
      defaultDoc: "none",
      doc: "PEM private key file for --tls-cert",
    },
    console: {
      flag: "console",
      env: "DS_CONSOLE",
      kind: "bool",
      default: true,
      doc: "serve the browser console at /console (false: 404)",
    },
    otlpTracesStream: {
      flag: "otlp-traces-stream",
      env: "DS_OTLP_TRACES_STREAM",
      kind: "string",
      default: "",
      defaultDoc: "none",
      doc:
        "otel-traces stream that POST /v1/traces (OTLP/HTTP) writes to; unset, that path answers 404",
    },
    otlpAutoCreate: {
      flag: "otlp-auto-create",
      env: "DS_OTLP_AUTO_CREATE",
      kind: "bool",
      default: false,
      doc:
        "POST /v1/traces creates a missing --otlp-traces-stream (JSON, otel-traces profile)",
    },
    metricsStream: {
      flag: "metrics-stream",
      env: "DS_METRICS_STREAM",
      kind: "string",
      default: "",
      defaultDoc: "none",
      doc:
        "stream (created with the metrics profile) that gets this server's request and WAL commit timings as interval records",
    },
    metricsStreamIntervalMs: {
      flag: "metrics-stream-interval-ms",
      env: "DS_METRICS_STREAM_INTERVAL_MS",
      kind: "int",
      min: 100,
      max: 3_600_000,
      default: 10_000,
      doc: "window of each --metrics-stream record",
    },
  },
  auth: {
    mode: {
      flag: "auth",
      env: "DS_AUTH",
      kind: "enum",
      choices: ["none", "api-key"],
      default: "none",
      doc:
        "none: no credentials (loopback only unless --allow-unauthenticated); api-key: Authorization: Bearer keys",
    },
    keysFile: {
      flag: "api-keys-file",
      env: "DS_API_KEYS_FILE",
      kind: "string",
      default: "",
      defaultDoc: "none",
      doc:
        "JSON file of API keys (id, sha256, scopes, streams, rate); reloaded on SIGHUP and on change",
    },
    apiKey: {
      env: "API_KEY",
      kind: "string",
      default: "",
      doc: "one admin key on every stream (environment only, never printed)",
    },
    allowUnauthenticated: {
      flag: "allow-unauthenticated",
      env: "DS_ALLOW_UNAUTHENTICATED",
      kind: "bool",
      default: false,
      doc: "allow --auth none on a non-loopback --host",
    },
    corsOrigins: {
      flag: "cors-origins",
      env: "DS_CORS_ORIGINS",
      kind: "string",
      default: "",
      defaultDoc: "loopback reads only",
      doc:
        "comma-separated browser origins allowed to call the API (* = any); by default, with --auth none, pages on localhost may read",
    },
    allowedHosts: {
      flag: "allowed-hosts",
      env: "DS_ALLOWED_HOSTS",
      kind: "string",
      default: "",
      defaultDoc: "loopback, IPs",
      doc:
        "comma-separated Host names accepted with --auth none (*.example.com for subdomains, * = any)",
    },
    publicMetrics: {
      flag: "public-metrics",
      env: "DS_PUBLIC_METRICS",
      kind: "bool",
      default: false,
      doc: "GET /metrics without a key under --auth api-key",
    },
    publicHealth: {
      flag: "public-health",
      env: "DS_PUBLIC_HEALTH",
      kind: "bool",
      default: false,
      doc: "GET /health without a key (status only) under --auth api-key",
    },
  },
  storage: {
    dataDir: {
      flag: "data-dir",
      env: "DS_DATA_DIR",
      kind: "string",
      default: "./data",
      doc:
        "directory for the SQLite WAL (with postgres: the lock, and segments waiting for upload)",
    },
    backend: {
      flag: "storage",
      env: "DS_STORAGE",
      kind: "enum",
      choices: ["sqlite", "postgres"],
      default: "sqlite",
      doc: "where the WAL lives: a SQLite file in the data dir, or PostgreSQL",
    },
    postgresUrl: {
      flag: "postgres-url",
      env: "DS_POSTGRES_URL",
      kind: "string",
      default: "",
      defaultDoc: "(none)",
      doc:
        "PostgreSQL URL, postgres://user:password@host:port/db (the password is never logged)",
    },
    postgresMode: {
      flag: "postgres-mode",
      env: "DS_POSTGRES_MODE",
      kind: "enum",
      choices: ["wal", "full"],
      default: "wal",
      doc:
        "wal: everything in PostgreSQL, no object store; full: metadata and the unpublished tail in PostgreSQL, segments in the object store",
    },
    postgresSchema: {
      flag: "postgres-schema",
      env: "DS_POSTGRES_SCHEMA",
      kind: "string",
      default: "streambed",
      doc: "PostgreSQL schema of the tables (created if missing)",
    },
    postgresPoolSize: {
      flag: "postgres-pool-size",
      env: "DS_POSTGRES_POOL_SIZE",
      kind: "int",
      min: 1,
      max: 1000,
      default: 10,
      doc: "PostgreSQL connections at most",
    },
    postgresStatementTimeoutMs: {
      flag: "postgres-statement-timeout-ms",
      env: "DS_POSTGRES_STATEMENT_TIMEOUT_MS",
      kind: "int",
      min: 100,
      max: 600_000,
      default: 5000,
      doc: "longest PostgreSQL statement (then 503)",
    },
    postgresConnectTimeoutMs: {
      flag: "postgres-connect-timeout-ms",
      env: "DS_POSTGRES_CONNECT_TIMEOUT_MS",
      kind: "int",
      min: 100,
      max: 600_000,
      default: 10_000,
      doc: "longest wait for a PostgreSQL connection",
    },
    postgresMultiNode: {
      flag: "postgres-multi-node",
      env: "DS_POSTGRES_MULTI_NODE",
      kind: "bool",
      default: false,
      doc:
        "other servers share this PostgreSQL schema: follow their commits (LISTEN/NOTIFY) and register in its nodes table",
    },
    postgresWakePollMs: {
      flag: "postgres-wake-poll-ms",
      env: "DS_POSTGRES_WAKE_POLL_MS",
      kind: "int",
      min: 50,
      max: 600_000,
      default: 2000,
      doc:
        "with --postgres-multi-node: how often live readers re-check PostgreSQL in case a notification was lost",
    },
    postgresLeaseMs: {
      flag: "postgres-lease-ms",
      env: "DS_POSTGRES_LEASE_MS",
      kind: "int",
      min: 1000,
      max: 600_000,
      default: 30_000,
      doc:
        "with --postgres-mode full: how long a node holds a stream's lease (it alone seals, uploads and publishes the stream) without renewing it; a dead node's streams move after this",
    },
    durability: {
      flag: "durability",
      env: "DS_DURABILITY",
      kind: "enum",
      choices: ["fsync", "os"],
      default: "fsync",
      doc:
        "fsync: ack after the disk has the commit; os: ack after the OS has it (faster, may lose the last moments on power loss)",
    },
    walWorker: {
      flag: "wal-worker",
      env: "DS_WAL_WORKER",
      kind: "bool",
      default: false,
      doc: "commit the WAL on a Worker thread (for disks with slow fsync)",
    },
    compactChunkBytes: {
      flag: "compact-chunk-bytes",
      env: "DS_COMPACT_CHUNK_BYTES",
      kind: "int",
      min: 0,
      max: 16 * MIB,
      default: COMPACTION_CHUNK_BYTES_DEFAULT,
      doc: "WAL compaction merges small chunks up to this size (0 = off)",
    },
  },
  limits: {
    bodyBytesMax: {
      flag: "body-bytes-max",
      env: "DS_BODY_BYTES_MAX",
      kind: "int",
      min: 1,
      max: 1024 * MIB,
      default: 16 * MIB,
      doc: "largest request body (413 above)",
    },
    bodyInflightBytesMax: {
      flag: "body-inflight-bytes-max",
      env: "DS_BODY_INFLIGHT_BYTES_MAX",
      kind: "int",
      min: 1,
      max: 16 * 1024 * MIB,
      default: 64 * MIB,
      doc:
        "request body bytes held in memory at once before 503 (at least body-bytes-max)",
    },
    readBytesMax: {
      flag: "read-bytes-max",
      env: "DS_READ_BYTES_MAX",
      kind: "int",
      min: 1,
      max: 256 * MIB,
      default: 1 * MIB,
      doc: "soft cap on bytes per read response",
    },
    appendQueueMax: {
      flag: "append-queue-max",
      env: "DS_APPEND_QUEUE_MAX",
      kind: "int",
      min: 1,
      max: 10_000_000,
      default: 10_000,
      doc: "appends queued for the writer before 503",
    },
    appendQueueBytesMax: {
      flag: "append-queue-bytes-max",
      env: "DS_APPEND_QUEUE_BYTES_MAX",
      kind: "int",
      min: 1,
      max: 16 * 1024 * MIB,
      default: 256 * MIB,
      doc: "bytes queued for the writer before 503 (a larger append: 413)",
    },
    commitBatchMax: {
      flag: "commit-batch-max",
      env: "DS_COMMIT_BATCH_MAX",
      kind: "int",
      min: 1,
      max: 1_000_000,
      default: 1024,
      doc: "operations per group commit",
    },
    routingKeyBytesMax: {
      flag: "routing-key-bytes-max",
      env: "DS_ROUTING_KEY_BYTES_MAX",
      kind: "int",
      min: 1,
      max: 65536,
      default: 1024,
      doc: "longest routing key (Stream-Key, key=) in UTF-8 bytes",
    },
    keyedScanBytesMax: {
      flag: "keyed-scan-bytes-max",
      env: "DS_KEYED_SCAN_BYTES_MAX",
      kind: "int",
      min: 1,
      max: 16 * 1024 * MIB,
      default: 64 * MIB,
      doc:
        "stored bytes one keyed read response examines before it stops early",
    },
    filterScanBytesMax: {
      flag: "filter-scan-bytes-max",
      env: "DS_FILTER_SCAN_BYTES_MAX",
      kind: "int",
      min: 1,
      max: 16 * 1024 * MIB,
      default: 100 * MIB,
      doc:
        "stored bytes one filter= read response examines before it stops early",
    },
    searchConcurrency: {
      flag: "search-concurrency",
      env: "DS_SEARCH_CONCURRENCY",
      kind: "int",
      min: 1,
      max: 256,
      default: 2,
      doc: "_search and _aggregate requests running at once (64 more may wait)",
    },
    streamNameBytesMax: {
      flag: "stream-name-bytes-max",
      env: "DS_STREAM_NAME_BYTES_MAX",
      kind: "int",
      min: 1,
      max: 65536,
      default: 1024,
      doc: "longest stream name in bytes",
    },
    waitersMax: {
      flag: "waiters-max",
      env: "DS_WAITERS_MAX",
      kind: "int",
      min: 1,
      max: 10_000_000,
      default: 10_000,
      doc: "live readers waiting at once before 503",
    },
    touchMemoryBytes: {
      flag: "touch-memory-bytes",
      env: "DS_TOUCH_MEMORY_BYTES",
      kind: "int",
      min: 1,
      max: 1024 * 1024 * MIB,
      default: 256 * MIB,
      doc:
        "bytes all touch journals may hold before the least recently waited is evicted",
    },
    streamCacheBytes: {
      flag: "stream-cache-bytes",
      env: "DS_STREAM_CACHE_BYTES",
      kind: "int",
      min: 1024,
      max: 1024 * 1024 * MIB,
      default: 64 * MIB,
      doc:
        "bytes of producer states held in memory; the least recently used are loaded again from the WAL when needed",
    },
    listPageMax: {
      flag: "list-page-max",
      env: "DS_LIST_PAGE_MAX",
      kind: "int",
      min: 1,
      max: 100_000,
      default: 1000,
      doc: "streams per page of GET /v1/streams",
    },
    schemaBytesMax: {
      flag: "schema-bytes-max",
      env: "DS_SCHEMA_BYTES_MAX",
      kind: "int",
      min: 1024,
      max: 64 * MIB,
      default: 4 * MIB,
      doc: "largest POST .../_schema body (413 above)",
    },
  },
  subscriptions: {
    enabled: {
      flag: "subscriptions",
      env: "DS_SUBSCRIPTIONS",
      kind: "bool",
      default: true,
      doc: "serve the __ds subscription APIs (webhook and pull-wake)",
    },
    webhookAllowLocalhost: {
      flag: "webhook-allow-localhost",
      env: "DS_WEBHOOK_ALLOW_LOCALHOST",
      kind: "bool",
      default: false,
      doc: "development only: allow http://localhost and 127.0.0.x webhooks",
    },
    publicUrl: {
      flag: "public-url",
      env: "DS_PUBLIC_URL",
      kind: "string",
      default: "",
      defaultDoc: "(bound address)",
      doc: "base URL for callback and JWKS URLs (empty: the bound address)",
    },
    subscriptionsMax: {
      flag: "subscriptions-max",
      env: "DS_SUBSCRIPTIONS_MAX",
      kind: "int",
      min: 1,
      max: 1_000_000,
      default: 10_000,
      doc: "live subscriptions at most",
    },
    linksMax: {
      flag: "subscription-links-max",
      env: "DS_SUBSCRIPTION_LINKS_MAX",
      kind: "int",
      min: 1,
      max: 1_000_000,
      default: 10_000,
      doc: "streams linked to one subscription at most",
    },
    retryDelayMinMs: {
      flag: "webhook-retry-min-ms",
      env: "DS_WEBHOOK_RETRY_MIN_MS",
      kind: "int",
      min: 1,
      max: 3_600_000,
      default: 1000,
      doc: "first webhook retry delay (doubles per failure)",
    },
    retryDelayMaxMs: {
      flag: "webhook-retry-max-ms",
      env: "DS_WEBHOOK_RETRY_MAX_MS",
      kind: "int",
      min: 1,
      max: 86_400_000,
      default: 60_000,
      doc: "longest webhook retry delay",
    },
    deliveryTimeoutMs: {
      flag: "webhook-timeout-ms",
      env: "DS_WEBHOOK_TIMEOUT_MS",
      kind: "int",
      min: 100,
      max: 600_000,
      default: 10_000,
      doc: "webhook request timeout",
    },
    deliveriesMax: {
      flag: "webhook-deliveries-max",
      env: "DS_WEBHOOK_DELIVERIES_MAX",
      kind: "int",
      min: 1,
      max: 100_000,
      default: 64,
      doc: "webhook requests in flight at once",
    },
    wakeQueueMax: {
      flag: "wake-queue-max",
      env: "DS_WAKE_QUEUE_MAX",
      kind: "int",
      min: 1,
      max: 10_000_000,
      default: 10_000,
      doc: "pull-wake events queued for appending before new ones are dropped",
    },
  },
  objectStore: {
    kind: {
      flag: "object-store",
      env: "DS_OBJECT_STORE",
      kind: "enum",
      choices: ["fs", "s3", "none"],
      default: "fs",
      doc: "where sealed segments are published (none: keep the WAL only)",
    },
    dir: {
      flag: "object-dir",
      env: "DS_OBJECT_DIR",
      kind: "string",
      default: "",
      defaultDoc: "(<data-dir>/objects)",
      doc: "folder of the fs object store (empty: <data-dir>/objects)",
    },
    s3Bucket: {
      flag: "s3-bucket",
      env: "DS_S3_BUCKET",
      kind: "string",
      default: "",
      defaultDoc: "(none)",
      doc:
        "S3 bucket (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
    },
    s3Endpoint: {
      flag: "s3-endpoint",
      env: "DS_S3_ENDPOINT",
      kind: "string",
      default: "",
      defaultDoc: "(AWS)",
      doc: "S3 endpoint URL, for MinIO/R2/fauxqs (path-style addressing)",
    },
    s3Region: {
      flag: "s3-region",
      env: "DS_S3_REGION",
      kind: "string",
      default: "us-east-1",
      doc: "S3 region",
    },
    s3Prefix: {
      flag: "s3-prefix",
      env: "DS_S3_PREFIX",
      kind: "string",
      default: "",
      defaultDoc: "(none)",
      doc: "prefix of every object key, e.g. streambed/",
    },
    bootstrap: {
      flag: "bootstrap",
      env: "DS_BOOTSTRAP",
      kind: "bool",
      default: false,
      doc:
        "on an empty data dir, restore every published stream from the object store",
    },
  },
  segment: {
    segmentBytes: {
      flag: "segment-bytes",
      env: "DS_SEGMENT_BYTES",
      kind: "int",
      min: 1024,
      max: 1024 * MIB,
      default: 16 * MIB,
      doc: "seal a segment once a stream has this many unsealed bytes",
    },
    segmentAgeMs: {
      flag: "segment-age-ms",
      env: "DS_SEGMENT_AGE_MS",
      kind: "int",
      min: 10,
      max: 86_400_000,
      default: 60_000,
      doc:
        "seal unsealed data older than this (open streams under 1/256 of --segment-bytes wait for --segment-idle-ms)",
    },
    segmentIdleMs: {
      flag: "segment-idle-ms",
      env: "DS_SEGMENT_IDLE_MS",
      kind: "int",
      min: 10,
      max: 604_800_000,
      default: 21_600_000,
      doc:
        "seal a tiny stream (under 1/256 of --segment-bytes) once no write reached it for this long",
    },
    manifestBatchMs: {
      flag: "manifest-batch-ms",
      env: "DS_MANIFEST_BATCH_MS",
      kind: "int",
      min: 0,
      max: 3_600_000,
      default: 5_000,
      doc:
        "publish manifests of streams with no segments (empty streams) in shared batch objects, at most this long after they change",
    },
    cacheBytes: {
      flag: "cache-bytes",
      env: "DS_CACHE_BYTES",
      kind: "int",
      min: 0,
      max: 1024 * 1024 * MIB,
      default: 256 * MIB,
      doc: "in-memory LRU cache of published segments, in bytes",
    },
    uploadBacklogBytesMax: {
      flag: "upload-backlog-bytes-max",
      env: "DS_UPLOAD_BACKLOG_BYTES_MAX",
      kind: "int",
      min: 1,
      max: 1024 * 1024 * MIB,
      default: 1024 * MIB,
      doc: "sealed bytes awaiting upload before sealing pauses",
    },
    backlogBytesMax: {
      flag: "backlog-bytes-max",
      env: "DS_BACKLOG_BYTES_MAX",
      kind: "int",
      min: 1,
      max: 1024 * 1024 * MIB,
      default: 10 * 1024 * MIB,
      doc:
        "WAL bytes not yet published plus sealed bytes not yet uploaded before appends get 503",
    },
    uploadRetryMinMs: {
      flag: "upload-retry-min-ms",
      env: "DS_UPLOAD_RETRY_MIN_MS",
      kind: "int",
      min: 1,
      max: 3_600_000,
      default: 100,
      doc: "first upload retry delay (doubles per failure)",
    },
    uploadRetryMaxMs: {
      flag: "upload-retry-max-ms",
      env: "DS_UPLOAD_RETRY_MAX_MS",
      kind: "int",
      min: 1,
      max: 3_600_000,
      default: 30_000,
      doc: "longest upload retry delay",
    },
    schemaPublishWaitMs: {
      flag: "schema-publish-wait-ms",
      env: "DS_SCHEMA_PUBLISH_WAIT_MS",
      kind: "int",
      min: 0,
      max: 600_000,
      default: 10_000,
      doc: "POST .../_schema waits this long for the object store before 503",
    },
    sealRetryMinMs: {
      flag: "seal-retry-min-ms",
      env: "DS_SEAL_RETRY_MIN_MS",
      kind: "int",
      min: 1,
      max: 3_600_000,
      default: 1000,
      doc: "first retry delay after sealing failed (doubles per failure)",
    },
    sealRetryMaxMs: {
      flag: "seal-retry-max-ms",
      env: "DS_SEAL_RETRY_MAX_MS",
      kind: "int",
      min: 1,
      max: 3_600_000,
      default: 60_000,
      doc: "longest seal retry delay",
    },
    releaseQueueMax: {
      flag: "release-queue-max",
      env: "DS_RELEASE_QUEUE_MAX",
      kind: "int",
      min: 1,
      max: 10_000_000,
      default: 10_000,
      doc:
        "deleted streams whose objects wait for deletion in memory, at most (the rest wait in the WAL's release log)",
    },
    routingIndex: {
      flag: "routing-index",
      env: "DS_ROUTING_INDEX",
      kind: "bool",
      default: true,
      doc:
        "build the routing-key index of uploaded segments (false: keyed reads and _routing_keys read every segment)",
    },
    indexConcurrency: {
      flag: "index-concurrency",
      env: "DS_INDEX_CONCURRENCY",
      kind: "int",
      min: 1,
      max: 16,
      default: 1,
      doc: "routing-key index builds at once (streams), each on its own Worker",
    },
    indexCacheBytes: {
      flag: "index-cache-bytes",
      env: "DS_INDEX_CACHE_BYTES",
      kind: "int",
      min: 0,
      max: 1024 * 1024 * MIB,
      default: 64 * MIB,
      doc:
        "decoded routing-key runs and key lexicons kept in memory (LRU), in bytes",
    },
    companionCacheBytes: {
      flag: "companion-cache-bytes",
      env: "DS_COMPANION_CACHE_BYTES",
      kind: "int",
      min: 0,
      max: 1024 * 1024 * MIB,
      default: COMPANION_MEMORY_BYTES_MAX,
      doc:
        "decoded search companions kept in memory (LRU), in bytes; an evicted one's segment is read until it is loaded again",
    },
    testCrashPoint: {
      env: "DS_TEST_CRASH_POINT",
      kind: "string",
      default: "",
      doc: "test only: SIGKILL self at this tiering step (docs/segments.md)",
    },
  },
  log: {
    level: {
      flag: "log-level",
      env: "DS_LOG_LEVEL",
      kind: "enum",
      choices: ["debug", "info", "warn", "error"],
      default: "info",
      doc: "lowest log level printed",
    },
    format: {
      flag: "log-format",
      env: "DS_LOG_FORMAT",
      kind: "enum",
      choices: ["text", "json"],
      default: "text",
      doc: "log and access-log lines as text or as JSON objects",
    },
    accessLog: {
      flag: "access-log",
      env: "DS_ACCESS_LOG",
      kind: "enum",
      choices: ["off", "on", "sampled"],
      default: "sampled",
      doc:
        "access-log lines: none, all, or errors and cold routes always, hot-route successes sampled",
    },
    accessLogSampleEvery: {
      flag: "access-log-sample-every",
      env: "DS_ACCESS_LOG_SAMPLE_EVERY",
      kind: "int",
      min: 1,
      max: 1_000_000,
      default: 100,
      doc:
        "sampled: log one successful read or append in this many (per route)",
    },
    accessLogPaths: {
      flag: "access-log-paths",
      env: "DS_ACCESS_LOG_PATHS",
      kind: "bool",
      default: false,
      doc: "add the request path (with stream names) to access-log lines",
    },
  },
};

/** One flag option, flattened from `OPTION_TABLE` (what `--help` lists). */
export interface OptionSpec {
  /** Long flag without dashes, e.g. `port`. */
  flag: string;
  /** Environment variable, e.g. `DS_PORT`. */
  env: string;
  /** Config section. */
  section: Section;
  /** Field name in the section. */
  field: string;
  /** Value type. */
  kind: "string" | "int" | "enum" | "bool";
  /** Allowed values for `enum`. */
  choices?: readonly string[];
  /** Inclusive range for `int`. */
  min?: number;
  /** Inclusive range for `int`. */
  max?: number;
  /** The embedded default. */
  default: string | number | boolean;
  /** How `--help` shows the default, when set. */
  defaultDoc?: string;
  /** One-line description for `--help` and the README. */
  doc: string;
}

/** A row of any kind, with its section and field. */
type AnyRow = Omit<OptionSpec, "flag"> & { flag?: string };

/** Every row, in table order. */
const ROWS: readonly AnyRow[] = Object.entries(OPTION_TABLE).flatMap((
  [section, fields],
) =>
  Object.entries(fields).map(([field, row]) => ({
    ...(row as Omit<AnyRow, "section" | "field">),
    section: section as Section,
    field,
  }))
);

/** Every flag option, in `--help` order. */
export const OPTIONS: readonly OptionSpec[] = ROWS.filter(
  (row): row is OptionSpec => row.flag !== undefined,
);

/**
 * Fields set from the environment only: test hooks (`DS_TEST_CRASH_POINT`)
 * and the `API_KEY` secret, which must show in neither `ps` nor
 * `--print-config`.
 */
const ENV_ONLY_ROWS = ROWS.filter((row) => row.flag === undefined);

/** The embedded defaults `deno run -A main.ts` uses. */
export function defaultConfig(): Config {
  const config: Record<string, Record<string, unknown>> = {};
  for (const row of ROWS) {
    config[row.section] ??= {};
    config[row.section][row.field] = row.default;
  }
  // Every field has a row (`OptionTable`), so every field is filled.
  return config as unknown as Config;
}

/** A deeply partial config, for overrides. */
export type ConfigOverrides = { [S in Section]?: Partial<Config[S]> };

/**
 * A config for tests: port 0, a short long-poll timeout, small limits so
 * tests cross batch and read boundaries. `dataDir` must be given.
 */
export function testConfig(
  dataDir: string,
  overrides: ConfigOverrides = {},
): Config {
  const base = defaultConfig();
  base.http.port = 0;
  base.http.longPollTimeoutMs = 500;
  base.http.sseConnectionMs = 5_000;
  base.storage.dataDir = dataDir;
  base.limits.readBytesMax = 64 * 1024;
  base.limits.commitBatchMax = 3;
  // A few streams' producer states: evicted and loaded again all the time.
  base.limits.streamCacheBytes = 2048;
  // Tiering is opt-in for in-process tests (set objectStore.kind).
  base.objectStore.kind = "none";
  base.log.level = "warn";
  base.log.accessLog = "off";
  return mergeConfig(base, overrides);
}

/** Returns `base` with each given section field replaced. */
export function mergeConfig(base: Config, overrides: ConfigOverrides): Config {
  return {
    http: { ...base.http, ...overrides.http },
    auth: { ...base.auth, ...overrides.auth },
    storage: { ...base.storage, ...overrides.storage },
    limits: { ...base.limits, ...overrides.limits },
    subscriptions: { ...base.subscriptions, ...overrides.subscriptions },
    segment: { ...base.segment, ...overrides.segment },
    objectStore: { ...base.objectStore, ...overrides.objectStore },
    log: { ...base.log, ...overrides.log },
  };
}

/** Result of `parseConfig`. */
export type ParsedConfig =
  | {
    ok: true;
    value: Config;
    help: boolean;
    printConfig: boolean;
    warnings: string[];
  }
  | { ok: false; errors: string[] };

/**
 * Resolves a config from env (`DS_*`) and argv (`--flag value` or
 * `--flag=value`); argv wins. Unknown `DS_*` variables only warn.
 */
export function parseConfig(
  input: { env: Record<string, string>; args: string[] },
): ParsedConfig {
  const config = defaultConfig();
  const errors: string[] = [];
  const warnings: string[] = [];
  const known = new Set(ROWS.map((o) => o.env));
  // Deliberately not flags nor in --help (docs/segments.md, README
  // Security): taken as given, checked below where it matters.
  for (const row of ENV_ONLY_ROWS) {
    const value = input.env[row.env];
    const section = config[row.section] as unknown as Record<string, unknown>;
    if (value !== undefined) section[row.field] = value;
  }
  for (const name of Object.keys(input.env)) {
    if (name.startsWith("DS_") && !known.has(name)) {
      warnings.push(`Unknown environment variable ${name} ignored`);
    }
  }
  for (const option of OPTIONS) {
    const value = input.env[option.env];
    if (value !== undefined) {
      applyOption(config, option, value, option.env, errors);
    }
  }
  const flags = parseArgs(input.args, errors);
  for (const [flag, value] of flags.values) {
    const option = OPTIONS.find((o) => o.flag === flag)!; // parseArgs checked
    applyOption(config, option, value, `--${flag}`, errors);
  }
  if (config.segment.uploadRetryMinMs > config.segment.uploadRetryMaxMs) {
    errors.push("upload-retry-min-ms must not exceed upload-retry-max-ms");
  }
  if (config.segment.backlogBytesMax < config.segment.segmentBytes) {
    errors.push("backlog-bytes-max must be at least segment-bytes");
  }
  if (config.segment.sealRetryMinMs > config.segment.sealRetryMaxMs) {
    errors.push("seal-retry-min-ms must not exceed seal-retry-max-ms");
  }
  if (config.objectStore.kind === "s3" && config.objectStore.s3Bucket === "") {
    errors.push("--object-store s3 needs --s3-bucket");
  }
  const given = (flag: string, env: string) =>
    input.env[env] !== undefined || flags.values.some(([f]) => f === flag);
  checkPostgres(config, given, errors, warnings);
  if (config.objectStore.kind === "fs" && config.objectStore.dir === "") {
    config.objectStore.dir = join(config.storage.dataDir, "objects");
  }
  if (config.objectStore.bootstrap && config.objectStore.kind === "none") {
    errors.push("--bootstrap needs an object store");
  }
  if (
    config.subscriptions.retryDelayMinMs > config.subscriptions.retryDelayMaxMs
  ) {
    errors.push("webhook-retry-min-ms must not exceed webhook-retry-max-ms");
  }
  checkAuth(config, errors);
  if (config.limits.readBytesMax > config.limits.bodyBytesMax * 64) {
    warnings.push("read-bytes-max is far above body-bytes-max");
  }
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    value: config,
    help: flags.help,
    printConfig: flags.printConfig,
    warnings,
  };
}

/** Cross-field rules of TLS and credentials; the secret is never echoed. */
function checkAuth(config: Config, errors: string[]): void {
  const { tlsCert, tlsKey } = config.http;
  if ((tlsCert === "") !== (tlsKey === "")) {
    errors.push("--tls-cert and --tls-key go together");
  }
  const { mode, keysFile, apiKey } = config.auth;
  if (apiKey !== "" && !/^[\x21-\x7e]{10,256}$/.test(apiKey)) {
    errors.push(
      "API_KEY must be 10-256 printable ASCII characters without spaces",
    );
  }
  if (mode === "api-key" && keysFile === "" && apiKey === "") {
    errors.push("--auth api-key needs --api-keys-file or the API_KEY variable");
  }
  if (mode === "none" && (keysFile !== "" || apiKey !== "")) {
    // Keys given but not enforced would leave the server open by mistake.
    errors.push(
      "API keys are configured but --auth is none: add --auth api-key",
    );
  }
}

/**
 * The PostgreSQL options' cross-checks. WAL mode keeps everything in the
 * database, so the object store defaults to `none` there and naming one is
 * an error.
 */
function checkPostgres(
  config: Config,
  given: (flag: string, env: string) => boolean,
  errors: string[],
  warnings: string[],
): void {
  const storage = config.storage;
  if (storage.backend !== "postgres") {
    if (storage.postgresUrl !== "") {
      warnings.push("--postgres-url is ignored without --storage postgres");
    }
    return;
  }
  if (storage.postgresUrl === "") {
    errors.push("--storage postgres needs --postgres-url");
  }
  if (storage.walWorker) {
    errors.push("--wal-worker applies to the SQLite WAL only");
  }
  if (storage.postgresMode === "full") {
    if (
      !given("object-store", "DS_OBJECT_STORE") ||
      config.objectStore.kind === "none"
    ) {
      errors.push(
        "--postgres-mode full keeps segments in an object store: give --object-store fs (a folder every node shares) or s3",
      );
    } else if (
      config.objectStore.kind === "fs" && !given("object-dir", "DS_OBJECT_DIR")
    ) {
      warnings.push(
        "--postgres-mode full with --object-store fs and no --object-dir keeps segments under the data dir, where no other node sees them",
      );
    }
    return;
  }
  if (given("object-store", "DS_OBJECT_STORE")) {
    if (config.objectStore.kind !== "none") {
      errors.push(
        "--postgres-mode wal keeps every record in PostgreSQL: --object-store must be none",
      );
    }
  } else config.objectStore.kind = "none";
}

/** `url` with the password (if any) replaced by `***`. */
export function redactUrlPassword(url: string): string {
  return url.replace(
    /^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^@/]*@/i,
    "$1***@",
  );
}

function parseArgs(
  args: string[],
  errors: string[],
): { values: [string, string][]; help: boolean; printConfig: boolean } {
  const values: [string, string][] = [];
  let help = false;
  let printConfig = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") help = true;
    else if (arg === "--print-config") printConfig = true;
    else if (arg.startsWith("--")) i += parseFlag(args, i, values, errors);
    else errors.push(`Unexpected argument "${arg}"`);
  }
  return { values, help, printConfig };
}

/** Parses the flag at `args[i]`; returns how many following args it took. */
function parseFlag(
  args: string[],
  i: number,
  values: [string, string][],
  errors: string[],
): number {
  const arg = args[i];
  const next = args[i + 1];
  const eq = arg.indexOf("=");
  const name = arg.slice(2, eq > 0 ? eq : undefined);
  const option = OPTIONS.find((o) => o.flag === name);
  if (option === undefined) {
    errors.push(`Unknown flag --${name}`);
    // Skip what looks like its value, so it is not reported a second time.
    return eq < 0 && next !== undefined && !next.startsWith("--") ? 1 : 0;
  }
  if (eq > 0) {
    values.push([name, arg.slice(eq + 1)]);
    return 0;
  }
  if (option.kind === "bool") {
    const spelled = next === "true" || next === "false"; // --flag false
    values.push([name, spelled ? next : "true"]); // or a bare flag
    return spelled ? 1 : 0;
  }
  if (next === undefined) {
    errors.push(`Flag ${arg} needs a value`);
    return 0;
  }
  values.push([name, next]);
  return 1;
}

function applyOption(
  config: Config,
  option: OptionSpec,
  raw: string,
  source: string,
  errors: string[],
): void {
  const section = config[option.section] as unknown as Record<string, unknown>;
  if (option.kind === "string") {
    if (raw.length === 0) errors.push(`${source} must not be empty`);
    else section[option.field] = raw;
    return;
  }
  if (option.kind === "bool") {
    if (raw !== "true" && raw !== "false") {
      errors.push(`${source} must be true or false; got "${raw}"`);
    } else section[option.field] = raw === "true";
    return;
  }
  if (option.kind === "enum") {
    if (!option.choices!.includes(raw)) {
      errors.push(
        `${source} must be one of ${option.choices!.join(", ")}; got "${raw}"`,
      );
    } else section[option.field] = raw;
    return;
  }
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < option.min! || n > option.max!) {
    errors.push(
      `${source} must be an integer in ${option.min}..${option.max}; got "${raw}"`,
    );
  } else section[option.field] = n;
}

/** `config` as `--print-config` shows it: without its env-only fields. */
export function printableConfig(
  config: Config,
): Record<Section, Record<string, unknown>> {
  const copy = structuredClone(config) as unknown as Record<
    Section,
    Record<string, unknown>
  >;
  for (const row of ENV_ONLY_ROWS) delete copy[row.section][row.field];
  copy.storage.postgresUrl = redactUrlPassword(config.storage.postgresUrl);
  return copy;
}

/** The `--help` text, generated from `OPTIONS`. */
export function helpText(): string {
  const lines = [
    "Streambed: a Durable Streams server.",
    "",
    "Usage: deno run -A main.ts [--flag value]...",
    "",
    "Every flag has an environment variable; flags win.",
    "",
  ];
  for (const o of OPTIONS) {
    const choices = o.choices ? ` (${o.choices.join("|")})` : "";
    lines.push(
      `  --${o.flag.padEnd(24)} ${
        o.env.padEnd(27)
      } ${o.doc}${choices} [default: ${o.defaultDoc ?? o.default}]`,
    );
  }
  lines.push(
    "  --print-config             print the resolved config as JSON and exit",
  );
  lines.push("  --help                     show this text");
  return lines.join("\n");
}
