/**
 * @module
 * Streambed: a Durable Streams server for Deno. Embed it with
 * `startServer(config)`:
 *
 * ```ts
 * import { defaultConfig, startServer } from "@streambed/server";
 * const config = defaultConfig();
 * config.http.port = 0;
 * const server = await startServer(config);
 * console.log(server.url);
 * await server.close();
 * ```
 */

export { startServer } from "./src/server.ts";
export type { ServerHandle, StartOptions } from "./src/server.ts";
export {
  defaultConfig,
  mergeConfig,
  parseConfig,
  testConfig,
} from "./src/config.ts";
export type {
  AccessLogMode,
  AuthConfig,
  AuthMode,
  Config,
  ConfigOverrides,
  Durability,
  HttpConfig,
  LimitsConfig,
  LogConfig,
  LogFormat,
  LogLevel,
  ObjectStoreConfig,
  ParsedConfig,
  PostgresMode,
  Section,
  SegmentConfig,
  StorageBackend,
  StorageConfig,
  SubscriptionsConfig,
} from "./src/config.ts";
export { StartupError, STATUS, StreamError } from "./src/errors.ts";
export type { ErrorKind, Result, StartupProblem } from "./src/errors.ts";
export type { Logger } from "./src/log.ts";
export type {
  ListPage,
  ObjectHead,
  ObjectStore,
} from "./src/objectstore/object_store.ts";
export type {
  Chunk,
  ClosedBy,
  ProducerRow,
  SegmentRow,
  StreamRow,
  StreamTail,
  WalOp,
  WalSnapshot,
  WalStore,
} from "./src/storage/wal_store.ts";
