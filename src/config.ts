/**
 * @module
 * The one typed configuration. Only this module reads argv and env; every
 * other module receives its own section. Options are declared once in
 * `OPTIONS`, which drives flag parsing, `DS_*` env vars, range checks and
 * `--help` alike.
 */

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
}

/** Where and how data is kept. */
export interface StorageConfig {
  /** Directory for the SQLite WAL (and later segments). @default "./data" */
  dataDir: string;
  /** Commit durability. @default "fsync" */
  durability: Durability;
}

/** Limits on every body, queue, batch and scan. */
export interface LimitsConfig {
  /** Largest request body, in bytes. @default 16 MiB */
  bodyBytesMax: number;
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
  /** Logging. */
  log: LogConfig;
}

type Section = keyof Config;
type OptionKind = "string" | "int" | "enum";

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
    doc: "bytes queued for the writer before 503",
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
    },
    storage: { dataDir: "./data", durability: "fsync" },
    limits: {
      bodyBytesMax: 16 * MIB,
      readBytesMax: 1 * MIB,
      appendQueueMax: 10_000,
      appendQueueBytesMax: 256 * MIB,
      commitBatchMax: 1024,
      streamNameBytesMax: 1024,
      waitersMax: 10_000,
      listPageMax: 1000,
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
  base.log.level = "warn";
  return mergeConfig(base, overrides);
}

/** Returns `base` with each given section field replaced. */
export function mergeConfig(base: Config, overrides: ConfigOverrides): Config {
  return {
    http: { ...base.http, ...overrides.http },
    storage: { ...base.storage, ...overrides.storage },
    limits: { ...base.limits, ...overrides.limits },
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
    const option = OPTIONS.find((o) => o.flag === flag);
    if (option === undefined) errors.push(`Unknown flag --${flag}`);
    else applyOption(config, option, value, `--${flag}`, errors);
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
    else if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      if (eq > 0) values.push([arg.slice(2, eq), arg.slice(eq + 1)]);
      else if (i + 1 < args.length) values.push([arg.slice(2), args[++i]]);
      else errors.push(`Flag ${arg} needs a value`);
    } else errors.push(`Unexpected argument "${arg}"`);
  }
  return { values, help, printConfig };
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
