/**
 * @module
 * The one typed configuration. Only this module reads argv and env; every
 * other module receives its own section. Options are declared once in
 * `OPTIONS`, which drives flag parsing, `DS_*` env vars, range checks and
 * `--help` alike. Most of its length is that table and the typed sections it
 * fills: one declaration per option, kept together so none is documented,
 * parsed or defaulted in a second place.
 */

import { join } from "node:path";

/** Log verbosity, most to least. */
export type LogLevel = "debug" | "info" | "warn" | "error";
/** `fsync`: commit waits for the disk. `os`: commit waits for the OS only. */
export type Durability = "fsync" | "os";

/** HTTP listener and live-read behaviour. */
export interface HttpConfig {
  /** Interface to bind. @default "127.0.0.1" */
  host: string;
  /** TCP port; 0 picks a free one. @default 4437 */
  port: number;
  /** How long a long-poll waits for data before 204, in ms. @default 30000 */
  longPollTimeoutMs: number;
  /** SSE connections are closed after this long, in ms (§5.8). @default 60000 */
  sseConnectionMs: number;
  /**
   * An SSE reader that takes nothing from its full queue for this long (it
   * stopped reading) is disconnected, in ms. @default 30000
   */
  liveStallMs: number;
}

/** Where and how data is kept. */
export interface StorageConfig {
  /** Directory for the SQLite WAL (and later segments). @default "./data" */
  dataDir: string;
  /** Commit durability. @default "fsync" */
  durability: Durability;
  /**
   * Run WAL commits on a Worker so fsync never blocks the event loop. Off by
   * default: on local disks the inline writer measured faster (the Worker
   * hop adds latency to every commit); worth it where fsync takes
   * milliseconds. @default false
   */
  walWorker: boolean;
  /**
   * WAL compaction merges runs of small chunks into chunks of about this
   * many bytes, so catch-up reads fetch few rows; 0 turns it off.
   * @default 65536
   */
  compactChunkBytes: number;
}

/** Limits on every body, queue, batch and scan. */
export interface LimitsConfig {
  /** Largest request body, in bytes. @default 16 MiB */
  bodyBytesMax: number;
  /**
   * Bytes of request bodies held in memory at once, reserved from
   * `Content-Length` before a body is read (as it arrives when chunked) and
   * released once its append commits or fails; never below `bodyBytesMax`.
   * Bodies that do not fit get 503. @default 64 MiB
   */
  bodyInflightBytesMax: number;
  /** Soft cap on bytes returned by one read (at least one message is returned). @default 1 MiB */
  readBytesMax: number;
  /** Appends waiting for the writer before new ones get 503. @default 10000 */
  appendQueueMax: number;
  /** Bytes waiting for the writer before new appends get 503. @default 256 MiB */
  appendQueueBytesMax: number;
  /** Operations committed in one transaction at most. @default 1024 */
  commitBatchMax: number;
  /** Longest stream name, in UTF-8 bytes. @default 1024 */
  streamNameBytesMax: number;
  /** Live readers (long-poll and SSE) waiting at once before 503. @default 10000 */
  waitersMax: number;
  /** Streams per page of `GET /v1/streams`. @default 1000 */
  listPageMax: number;
}

/** Subscriptions: webhook and pull-wake delivery (PROTOCOL.md §6-7). */
export interface SubscriptionsConfig {
  /** Serve the `__ds` subscription APIs. @default true */
  enabled: boolean;
  /** Development only: allow `http://localhost` and `127.0.0.x` webhooks. @default false */
  webhookAllowLocalhost: boolean;
  /** Base URL put into callback and JWKS URLs; "" uses the bound address. @default "" */
  publicUrl: string;
  /** Live subscriptions at most (and as many tombstones). @default 10000 */
  subscriptionsMax: number;
  /** Streams linked to one subscription at most. @default 10000 */
  linksMax: number;
  /** First webhook retry delay, in ms (doubles per failure, 20% jitter). @default 1000 */
  retryDelayMinMs: number;
  /** Longest webhook retry delay, in ms. @default 60000 */
  retryDelayMaxMs: number;
  /** Webhook request timeout, in ms. @default 10000 */
  deliveryTimeoutMs: number;
  /** Webhook requests in flight at once; more wait their turn. @default 64 */
  deliveriesMax: number;
  /** Pull-wake events waiting to be appended before new ones are dropped. @default 10000 */
  wakeQueueMax: number;
}

/** Sealing WAL ranges into segments, the segment cache and uploads. */
export interface SegmentConfig {
  /** Seal once a stream has this many unsealed bytes. @default 16 MiB */
  segmentBytes: number;
  /** Seal unsealed data older than this, in ms. @default 60000 */
  segmentAgeMs: number;
  /** In-memory cache of published segments, in bytes (LRU). @default 256 MiB */
  cacheBytes: number;
  /** Sealed bytes awaiting upload before sealing pauses. @default 1 GiB */
  uploadBacklogBytesMax: number;
  /**
   * Local backlog (WAL bytes not yet published plus sealed bytes not yet
   * uploaded) above which appends get 503. @default 10 GiB
   */
  backlogBytesMax: number;
  /** First upload retry delay, in ms (doubles per failure). @default 100 */
  uploadRetryMinMs: number;
  /** Longest upload retry delay, in ms. @default 30000 */
  uploadRetryMaxMs: number;
  /** First retry delay after a stream's seal failed, in ms (doubles per failure). @default 1000 */
  sealRetryMinMs: number;
  /** Longest seal retry delay, in ms. @default 60000 */
  sealRetryMaxMs: number;
  /** Deleted streams whose objects wait for deletion, at most. @default 10000 */
  releaseQueueMax: number;
  /** Test only (`DS_TEST_CRASH_POINT`, not a flag): SIGKILL self there. @default "" */
  testCrashPoint: string;
}

/** Where segments and manifests are published. */
export interface ObjectStoreConfig {
  /** `fs` (a folder), `s3`, or `none` (WAL only). @default "fs" */
  kind: "fs" | "s3" | "none";
  /**
   * Folder of the fs store; "" means `<data-dir>/objects` (`parseConfig`
   * resolves it). @default ""
   */
  dir: string;
  /** S3 bucket. @default "" */
  s3Bucket: string;
  /** S3 endpoint URL (path-style addressing when set). @default "" */
  s3Endpoint: string;
  /** S3 region. @default "us-east-1" */
  s3Region: string;
  /** Prefix of every key in the bucket. @default "" */
  s3Prefix: string;
  /** On an empty WAL, restore every stream from the manifests. @default false */
  bootstrap: boolean;
}

/** Logging. */
export interface LogConfig {
  /** Lowest level printed. @default "info" */
  level: LogLevel;
}

/** Everything the server needs to start. */
export interface Config {
  /** HTTP listener and live reads. */
  http: HttpConfig;
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
type OptionKind = "string" | "int" | "enum" | "bool";

/** One configurable value: its flag, env var, type, range and doc line. */
export interface OptionSpec {
  /** Long flag without dashes, e.g. `port`. */
  flag: string;
  /** Environment variable, e.g. `DS_PORT`. */
  env: string;
  /** Config section and field. */
  section: Section;
  /** Field name in the section. */
  field: string;
  /** Value type. */
  kind: OptionKind;
  /** Allowed values for `enum`. */
  choices?: readonly string[];
  /** Inclusive range for `int`. */
  min?: number;
  /** Inclusive range for `int`. */
  max?: number;
  /** One-line description for `--help` and the README. */
  doc: string;
}

const MIB = 1024 * 1024;

/** Every option, in `--help` order. */
export const OPTIONS: readonly OptionSpec[] = [
  {
    flag: "host",
    env: "DS_HOST",
    section: "http",
    field: "host",
    kind: "string",
    doc: "interface to bind",
  },
  {
    flag: "port",
    env: "DS_PORT",
    section: "http",
    field: "port",
    kind: "int",
    min: 0,
    max: 65535,
    doc: "TCP port (0 = any free port)",
  },
  {
    flag: "data-dir",
    env: "DS_DATA_DIR",
    section: "storage",
    field: "dataDir",
    kind: "string",
    doc: "directory for the SQLite WAL",
  },
  {
    flag: "durability",
    env: "DS_DURABILITY",
    section: "storage",
    field: "durability",
    kind: "enum",
    choices: ["fsync", "os"],
    doc:
      "fsync: ack after the disk has the commit; os: ack after the OS has it (faster, may lose the last moments on power loss)",
  },
  {
    flag: "wal-worker",
    env: "DS_WAL_WORKER",
    section: "storage",
    field: "walWorker",
    kind: "bool",
    doc: "commit the WAL on a Worker thread (for disks with slow fsync)",
  },
  {
    flag: "compact-chunk-bytes",
    env: "DS_COMPACT_CHUNK_BYTES",
    section: "storage",
    field: "compactChunkBytes",
    kind: "int",
    min: 0,
    max: 16 * MIB,
    doc: "WAL compaction merges small chunks up to this size (0 = off)",
  },
  {
    flag: "long-poll-timeout-ms",
    env: "DS_LONG_POLL_TIMEOUT_MS",
    section: "http",
    field: "longPollTimeoutMs",
    kind: "int",
    min: 10,
    max: 300_000,
    doc: "long-poll wait before 204",
  },
  {
    flag: "sse-connection-ms",
    env: "DS_SSE_CONNECTION_MS",
    section: "http",
    field: "sseConnectionMs",
    kind: "int",
    min: 100,
    max: 3_600_000,
    doc: "SSE connections close after this long; clients reconnect",
  },
  {
    flag: "live-stall-ms",
    env: "DS_LIVE_STALL_MS",
    section: "http",
    field: "liveStallMs",
    kind: "int",
    min: 10,
    max: 3_600_000,
    doc: "disconnect an SSE reader that has read nothing for this long",
  },
  {
    flag: "body-bytes-max",
    env: "DS_BODY_BYTES_MAX",
    section: "limits",
    field: "bodyBytesMax",
    kind: "int",
    min: 1,
    max: 1024 * MIB,
    doc: "largest request body (413 above)",
  },
  {
    flag: "body-inflight-bytes-max",
    env: "DS_BODY_INFLIGHT_BYTES_MAX",
    section: "limits",
    field: "bodyInflightBytesMax",
    kind: "int",
    min: 1,
    max: 16 * 1024 * MIB,
    doc:
      "request body bytes held in memory at once before 503 (at least body-bytes-max)",
  },
  {
    flag: "read-bytes-max",
    env: "DS_READ_BYTES_MAX",
    section: "limits",
    field: "readBytesMax",
    kind: "int",
    min: 1,
    max: 256 * MIB,
    doc: "soft cap on bytes per read response",
  },
  {
    flag: "append-queue-max",
    env: "DS_APPEND_QUEUE_MAX",
    section: "limits",
    field: "appendQueueMax",
    kind: "int",
    min: 1,
    max: 10_000_000,
    doc: "appends queued for the writer before 503",
  },
  {
    flag: "append-queue-bytes-max",
    env: "DS_APPEND_QUEUE_BYTES_MAX",
    section: "limits",
    field: "appendQueueBytesMax",
    kind: "int",
    min: 1,
    max: 16 * 1024 * MIB,
    doc: "bytes queued for the writer before 503 (a larger append: 413)",
  },
  {
    flag: "commit-batch-max",
    env: "DS_COMMIT_BATCH_MAX",
    section: "limits",
    field: "commitBatchMax",
    kind: "int",
    min: 1,
    max: 1_000_000,
    doc: "operations per group commit",
  },
  {
    flag: "stream-name-bytes-max",
    env: "DS_STREAM_NAME_BYTES_MAX",
    section: "limits",
    field: "streamNameBytesMax",
    kind: "int",
    min: 1,
    max: 65536,
    doc: "longest stream name in bytes",
  },
  {
    flag: "waiters-max",
    env: "DS_WAITERS_MAX",
    section: "limits",
    field: "waitersMax",
    kind: "int",
    min: 1,
    max: 10_000_000,
    doc: "live readers waiting at once before 503",
  },
  {
    flag: "list-page-max",
    env: "DS_LIST_PAGE_MAX",
    section: "limits",
    field: "listPageMax",
    kind: "int",
    min: 1,
    max: 100_000,
    doc: "streams per page of GET /v1/streams",
  },
  {
    flag: "subscriptions",
    env: "DS_SUBSCRIPTIONS",
    section: "subscriptions",
    field: "enabled",
    kind: "bool",
    doc: "serve the __ds subscription APIs (webhook and pull-wake)",
  },
  {
    flag: "webhook-allow-localhost",
    env: "DS_WEBHOOK_ALLOW_LOCALHOST",
    section: "subscriptions",
    field: "webhookAllowLocalhost",
    kind: "bool",
    doc: "development only: allow http://localhost and 127.0.0.x webhooks",
  },
  {
    flag: "public-url",
    env: "DS_PUBLIC_URL",
    section: "subscriptions",
    field: "publicUrl",
    kind: "string",
    doc: "base URL for callback and JWKS URLs (empty: the bound address)",
  },
  {
    flag: "subscriptions-max",
    env: "DS_SUBSCRIPTIONS_MAX",
    section: "subscriptions",
    field: "subscriptionsMax",
    kind: "int",
    min: 1,
    max: 1_000_000,
    doc: "live subscriptions at most",
  },
  {
    flag: "subscription-links-max",
    env: "DS_SUBSCRIPTION_LINKS_MAX",
    section: "subscriptions",
    field: "linksMax",
    kind: "int",
    min: 1,
    max: 1_000_000,
    doc: "streams linked to one subscription at most",
  },
  {
    flag: "webhook-retry-min-ms",
    env: "DS_WEBHOOK_RETRY_MIN_MS",
    section: "subscriptions",
    field: "retryDelayMinMs",
    kind: "int",
    min: 1,
    max: 3_600_000,
    doc: "first webhook retry delay (doubles per failure)",
  },
  {
    flag: "webhook-retry-max-ms",
    env: "DS_WEBHOOK_RETRY_MAX_MS",
    section: "subscriptions",
    field: "retryDelayMaxMs",
    kind: "int",
    min: 1,
    max: 86_400_000,
    doc: "longest webhook retry delay",
  },
  {
    flag: "webhook-timeout-ms",
    env: "DS_WEBHOOK_TIMEOUT_MS",
    section: "subscriptions",
    field: "deliveryTimeoutMs",
    kind: "int",
    min: 100,
    max: 600_000,
    doc: "webhook request timeout",
  },
  {
    flag: "webhook-deliveries-max",
    env: "DS_WEBHOOK_DELIVERIES_MAX",
    section: "subscriptions",
    field: "deliveriesMax",
    kind: "int",
    min: 1,
    max: 100_000,
    doc: "webhook requests in flight at once",
  },
  {
    flag: "wake-queue-max",
    env: "DS_WAKE_QUEUE_MAX",
    section: "subscriptions",
    field: "wakeQueueMax",
    kind: "int",
    min: 1,
    max: 10_000_000,
    doc: "pull-wake events queued for appending before new ones are dropped",
  },
  {
    flag: "object-store",
    env: "DS_OBJECT_STORE",
    section: "objectStore",
    field: "kind",
    kind: "enum",
    choices: ["fs", "s3", "none"],
    doc: "where sealed segments are published (none: keep the WAL only)",
  },
  {
    flag: "object-dir",
    env: "DS_OBJECT_DIR",
    section: "objectStore",
    field: "dir",
    kind: "string",
    doc: "folder of the fs object store (empty: <data-dir>/objects)",
  },
  {
    flag: "s3-bucket",
    env: "DS_S3_BUCKET",
    section: "objectStore",
    field: "s3Bucket",
    kind: "string",
    doc: "S3 bucket (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)",
  },
  {
    flag: "s3-endpoint",
    env: "DS_S3_ENDPOINT",
    section: "objectStore",
    field: "s3Endpoint",
    kind: "string",
    doc: "S3 endpoint URL, for MinIO/R2/fauxqs (path-style addressing)",
  },
  {
    flag: "s3-region",
    env: "DS_S3_REGION",
    section: "objectStore",
    field: "s3Region",
    kind: "string",
    doc: "S3 region",
  },
  {
    flag: "s3-prefix",
    env: "DS_S3_PREFIX",
    section: "objectStore",
    field: "s3Prefix",
    kind: "string",
    doc: "prefix of every object key, e.g. streambed/",
  },
  {
    flag: "bootstrap",
    env: "DS_BOOTSTRAP",
    section: "objectStore",
    field: "bootstrap",
    kind: "bool",
    doc:
      "on an empty data dir, restore every published stream from the object store",
  },
  {
    flag: "segment-bytes",
    env: "DS_SEGMENT_BYTES",
    section: "segment",
    field: "segmentBytes",
    kind: "int",
    min: 1024,
    max: 1024 * MIB,
    doc: "seal a segment once a stream has this many unsealed bytes",
  },
  {
    flag: "segment-age-ms",
    env: "DS_SEGMENT_AGE_MS",
    section: "segment",
    field: "segmentAgeMs",
    kind: "int",
    min: 10,
    max: 86_400_000,
    doc: "seal unsealed data older than this",
  },
  {
    flag: "cache-bytes",
    env: "DS_CACHE_BYTES",
    section: "segment",
    field: "cacheBytes",
    kind: "int",
    min: 0,
    max: 1024 * 1024 * MIB,
    doc: "in-memory LRU cache of published segments, in bytes",
  },
  {
    flag: "upload-backlog-bytes-max",
    env: "DS_UPLOAD_BACKLOG_BYTES_MAX",
    section: "segment",
    field: "uploadBacklogBytesMax",
    kind: "int",
    min: 1,
    max: 1024 * 1024 * MIB,
    doc: "sealed bytes awaiting upload before sealing pauses",
  },
  {
    flag: "backlog-bytes-max",
    env: "DS_BACKLOG_BYTES_MAX",
    section: "segment",
    field: "backlogBytesMax",
    kind: "int",
    min: 1,
    max: 1024 * 1024 * MIB,
    doc:
      "WAL bytes not yet published plus sealed bytes not yet uploaded before appends get 503",
  },
  {
    flag: "upload-retry-min-ms",
    env: "DS_UPLOAD_RETRY_MIN_MS",
    section: "segment",
    field: "uploadRetryMinMs",
    kind: "int",
    min: 1,
    max: 3_600_000,
    doc: "first upload retry delay (doubles per failure)",
  },
  {
    flag: "upload-retry-max-ms",
    env: "DS_UPLOAD_RETRY_MAX_MS",
    section: "segment",
    field: "uploadRetryMaxMs",
    kind: "int",
    min: 1,
    max: 3_600_000,
    doc: "longest upload retry delay",
  },
  {
    flag: "seal-retry-min-ms",
    env: "DS_SEAL_RETRY_MIN_MS",
    section: "segment",
    field: "sealRetryMinMs",
    kind: "int",
    min: 1,
    max: 3_600_000,
    doc: "first retry delay after sealing failed (doubles per failure)",
  },
  {
    flag: "seal-retry-max-ms",
    env: "DS_SEAL_RETRY_MAX_MS",
    section: "segment",
    field: "sealRetryMaxMs",
    kind: "int",
    min: 1,
    max: 3_600_000,
    doc: "longest seal retry delay",
  },
  {
    flag: "release-queue-max",
    env: "DS_RELEASE_QUEUE_MAX",
    section: "segment",
    field: "releaseQueueMax",
    kind: "int",
    min: 1,
    max: 10_000_000,
    doc: "deleted streams whose objects wait for deletion, at most",
  },
  {
    flag: "log-level",
    env: "DS_LOG_LEVEL",
    section: "log",
    field: "level",
    kind: "enum",
    choices: ["debug", "info", "warn", "error"],
    doc: "lowest log level printed",
  },
];

/** The embedded defaults `deno run -A main.ts` uses. */
export function defaultConfig(): Config {
  return {
    http: {
      host: "127.0.0.1",
      port: 4437,
      longPollTimeoutMs: 30_000,
      sseConnectionMs: 60_000,
      liveStallMs: 30_000,
    },
    storage: {
      dataDir: "./data",
      durability: "fsync",
      walWorker: false,
      compactChunkBytes: 64 * 1024,
    },
    limits: {
      bodyBytesMax: 16 * MIB,
      bodyInflightBytesMax: 64 * MIB,
      readBytesMax: 1 * MIB,
      appendQueueMax: 10_000,
      appendQueueBytesMax: 256 * MIB,
      commitBatchMax: 1024,
      streamNameBytesMax: 1024,
      waitersMax: 10_000,
      listPageMax: 1000,
    },
    subscriptions: {
      enabled: true,
      webhookAllowLocalhost: false,
      publicUrl: "",
      subscriptionsMax: 10_000,
      linksMax: 10_000,
      retryDelayMinMs: 1000,
      retryDelayMaxMs: 60_000,
      deliveryTimeoutMs: 10_000,
      deliveriesMax: 64,
      wakeQueueMax: 10_000,
    },
    segment: {
      segmentBytes: 16 * MIB,
      segmentAgeMs: 60_000,
      cacheBytes: 256 * MIB,
      uploadBacklogBytesMax: 1024 * MIB,
      backlogBytesMax: 10 * 1024 * MIB,
      uploadRetryMinMs: 100,
      uploadRetryMaxMs: 30_000,
      sealRetryMinMs: 1000,
      sealRetryMaxMs: 60_000,
      releaseQueueMax: 10_000,
      testCrashPoint: "",
    },
    objectStore: {
      kind: "fs",
      dir: "",
      s3Bucket: "",
      s3Endpoint: "",
      s3Region: "us-east-1",
      s3Prefix: "",
      bootstrap: false,
    },
    log: { level: "info" },
  };
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
  // Tiering is opt-in for in-process tests (set objectStore.kind).
  base.objectStore.kind = "none";
  base.log.level = "warn";
  return mergeConfig(base, overrides);
}

/** Returns `base` with each given section field replaced. */
export function mergeConfig(base: Config, overrides: ConfigOverrides): Config {
  return {
    http: { ...base.http, ...overrides.http },
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
  const known = new Set(OPTIONS.map((o) => o.env));
  // Test only, deliberately not in OPTIONS or --help (docs/segments.md).
  known.add("DS_TEST_CRASH_POINT");
  config.segment.testCrashPoint = input.env.DS_TEST_CRASH_POINT ?? "";
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

/** Fields that exist for tests only (set from env, never from a flag). */
const TEST_ONLY_FIELDS: readonly [Section, string][] = [
  ["segment", "testCrashPoint"],
];

/** `config` as `--print-config` shows it: without its test-only fields. */
export function printableConfig(
  config: Config,
): Record<Section, Record<string, unknown>> {
  const copy = structuredClone(config) as unknown as Record<
    Section,
    Record<string, unknown>
  >;
  for (const [section, field] of TEST_ONLY_FIELDS) delete copy[section][field];
  return copy;
}

/** The `--help` text, generated from `OPTIONS`. */
export function helpText(): string {
  const defaults = defaultConfig();
  const lines = [
    "Streambed: a Durable Streams server.",
    "",
    "Usage: deno run -A main.ts [--flag value]...",
    "",
    "Every flag has an environment variable; flags win.",
    "",
  ];
  for (const o of OPTIONS) {
    const section = defaults[o.section] as unknown as Record<string, unknown>;
    const choices = o.choices ? ` (${o.choices.join("|")})` : "";
    lines.push(
      `  --${o.flag.padEnd(24)} ${
        o.env.padEnd(27)
      } ${o.doc}${choices} [default: ${section[o.field]}]`,
    );
  }
  lines.push(
    "  --print-config             print the resolved config as JSON and exit",
  );
  lines.push("  --help                     show this text");
  return lines.join("\n");
}
