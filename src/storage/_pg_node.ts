/**
 * @module
 * One node's link to the others through PostgreSQL: its row in `nodes`
 * (heartbeats), and the dedicated connection that `LISTEN`s for other
 * nodes' announcements (tails on `streambed_tail`, creates, deletes, closes
 * and schema changes on `streambed_meta`). Payloads start with
 * `<schema>/<node id>|`, so a node skips its own and those of other
 * clusters sharing the database. A meta announcement goes on with
 * `<meta_version>|{"ids":[..],"names":[..]}`, the streams to reload; one
 * without them (too many to name) makes the engine reload every stream. When the listening connection drops it
 * reconnects with backoff and reports `changed`, since announcements may
 * have been missed meanwhile.
 */

// @ts-types="@types/pg"
import pg from "pg";
import { backoff } from "../backoff.ts";
import {
  PG_HEARTBEAT_MS,
  PG_LISTEN_RETRY_MAX_MS,
  PG_LISTEN_RETRY_MIN_MS,
} from "../limits.ts";
import type { Logger } from "../log.ts";
import { describe } from "./_pg_schema.ts";
import type {
  AnnouncedTail,
  ReloadScope,
  SharedWalEvents,
  SubscriptionChange,
} from "./wal_store.ts";

/** Channel of the tail announcements. */
export const TAIL_CHANNEL = "streambed_tail";
/** Channel of creates, deletes, closes and schema changes. */
export const META_CHANNEL = "streambed_meta";

/** NOTIFY payloads stay below PostgreSQL's 8000-byte limit. */
export const NOTIFY_BYTES_MAX = 7900;

/** Channel of subscription changes (`pg_subscription_store.ts`). */
export const SUBS_CHANNEL = "streambed_subs";

/**
 * Told which subscriptions another node changed (URL-decoded ids), or
 * `undefined` when announcements may have been missed: reload them all;
 * `change` carries the version the commit moved to and whether it changed
 * the signing keys.
 */
export type SubscriptionsChanged = (
  ids: string[] | undefined,
  change?: SubscriptionChange,
) => void;

/** What the link needs. */
export interface PgNodeOptions {
  /** Connection URL (its password is never logged). */
  url: string;
  /** Schema of the tables (also scopes the announcements). */
  schema: string;
  /** This node's id. */
  nodeId: string;
  /** The store's pool, for heartbeats. */
  pool: pg.Pool;
  /** Longest wait for a connection. */
  connectTimeoutMs: number;
  /** Where failures are reported. */
  log?: Logger;
}

/** A node's registry row and its listening connection. */
export class PgNodeLink {
  readonly nodeId: string;
  /** `<schema>/<node id>`, the start of every payload this node sends. */
  readonly prefix: string;
  readonly #options: PgNodeOptions;
  #events: SharedWalEvents | undefined;
  #subscriptions: SubscriptionsChanged | undefined;
  #client: pg.Client | undefined;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #attempt = 0;
  #closed = false;

  /** Nothing connects until `join` or `watch`. */
  constructor(options: PgNodeOptions) {
    this.#options = options;
    this.nodeId = options.nodeId;
    this.prefix = `${options.schema}/${options.nodeId}`;
  }

  /** Writes this node's row and starts heartbeats. */
  async join(): Promise<void> {
    const now = Date.now();
    await this.#options.pool.query(
      `INSERT INTO nodes (node_id, started_at_ms, heartbeat_at_ms) VALUES ($1, $2, $2)
       ON CONFLICT (node_id) DO UPDATE SET started_at_ms = $2, heartbeat_at_ms = $2`,
      [this.nodeId, now],
    );
    this.#heartbeat = setInterval(() => {
      this.#options.pool.query(
        "UPDATE nodes SET heartbeat_at_ms = $2 WHERE node_id = $1",
        [this.nodeId, Date.now()],
      ).catch(() => {/* unreachable: /health says so */});
    }, PG_HEARTBEAT_MS);
    Deno.unrefTimer(this.#heartbeat);
  }

  /**
   * Starts listening; announcements of other nodes go to `events`. Resolves
   * once the first attempt has ended: listening, or failed and retrying in
   * the background (a later success reports `changed()`).
   */
  watch(events: SharedWalEvents): Promise<void> {
    this.#events = events;
    return this.#listen();
  }

  /** Other nodes' subscription changes go to `listener`. */
  watchSubscriptions(listener: SubscriptionsChanged): void {
    this.#subscriptions = listener;
  }

  async #listen(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({
      connectionString: this.#options.url,
      connectionTimeoutMillis: this.#options.connectTimeoutMs,
      keepAlive: true,
      application_name: "streambed-listen",
    });
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => {});
      if (this.#closed) return;
      this.#options.log?.warn(
        `PostgreSQL listener lost${
          error ? `: ${describe(error, this.#options.url)}` : ""
        }; reconnecting`,
      );
      this.#reconnect();
    };
    client.on("error", onLost);
    client.on("end", () => onLost());
    client.on("notification", (message) => this.#deliver(message));
    try {
      await client.connect();
      await client.query(
        `LISTEN ${TAIL_CHANNEL}; LISTEN ${META_CHANNEL}; LISTEN ${SUBS_CHANNEL}`,
      );
    } catch (error) {
      onLost(error as Error);
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    const reconnected = this.#attempt > 0;
    this.#attempt = 0;
    // Whatever was announced while we were not listening is unknown.
    if (reconnected) {
      this.#events?.changed();
      this.#subscriptions?.(undefined);
    }
  }

  #reconnect(): void {
    this.#attempt++;
    this.#retry = setTimeout(
      () => void this.#listen(),
      backoff(
        this.#attempt,
        PG_LISTEN_RETRY_MIN_MS,
        PG_LISTEN_RETRY_MAX_MS,
        Math.random,
      ),
    );
  }

  #deliver(message: pg.Notification): void {
    const events = this.#events;
    const payload = message.payload ?? "";
    const bar = payload.indexOf("|");
    const from = bar < 0 ? payload : payload.slice(0, bar);
    if (events === undefined || from === this.prefix) return;
    if (!from.startsWith(`${this.#options.schema}/`)) return;
    if (message.channel === SUBS_CHANNEL) {
      const { ids, change } = parseSubsAnnouncement(payload.slice(bar + 1));
      this.#subscriptions?.(ids, change);
      return;
    }
    if (message.channel === META_CHANNEL) {
      events.changed(parseMetaScope(payload.slice(bar + 1)));
      return;
    }
    const tails = parseTails(payload.slice(bar + 1));
    if (tails === undefined) events.changed();
    else events.tails(tails);
  }

  /** Stops listening and heartbeats, and removes this node's row. */
  async leave(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#retry);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => {});
    if (this.#heartbeat !== undefined) {
      await this.#options.pool.query("DELETE FROM nodes WHERE node_id = $1", [
        this.nodeId,
      ]).catch(() => {});
    }
  }

  /** The backend pid of the listening connection (tests end it). */
  get listenerPid(): number | undefined {
    return (this.#client as unknown as { processID?: number } | undefined)
      ?.processID;
  }
}

/**
 * `<scope>[|<version>[|keys]]`: the ids (`parseSubsScope`), the version the
 * commit moved the subscriptions to, and `keys` when it changed the signing
 * keys.
 */
export function parseSubsAnnouncement(
  text: string,
): { ids: string[] | undefined; change: SubscriptionChange } {
  const [scope, version, ...flags] = text.split("|");
  const number = Number(version);
  return {
    ids: parseSubsScope(scope),
    change: {
      version: version !== undefined && Number.isSafeInteger(number) &&
          number > 0
        ? number
        : undefined,
      keys: flags.includes("keys"),
    },
  };
}

/**
 * `<id>,<id>...` (URL-encoded ids), `-` for none (only the keys changed),
 * or `undefined` for `*` or malformed.
 */
export function parseSubsScope(text: string): string[] | undefined {
  if (text === "-") return [];
  if (text === "*" || text === "") return undefined;
  try {
    return text.split(",").map(decodeURIComponent);
  } catch {
    return undefined;
  }
}

/** `<id>:<tail>,...`, or `undefined` when malformed. */
export function parseTails(text: string): AnnouncedTail[] | undefined {
  const out: AnnouncedTail[] = [];
  for (const entry of text.split(",")) {
    const colon = entry.indexOf(":");
    const streamId = Number(entry.slice(0, colon));
    const tailPos = Number(entry.slice(colon + 1));
    if (
      colon < 0 || !Number.isSafeInteger(streamId) ||
      !Number.isSafeInteger(tailPos)
    ) return undefined;
    out.push({ streamId, tailPos });
  }
  return out;
}

/**
 * `<meta_version>|{"ids":[..],"names":[..]}` as a reload scope, or
 * `undefined` (reload everything) when it names no streams or is malformed.
 */
export function parseMetaScope(text: string): ReloadScope | undefined {
  const bar = text.indexOf("|");
  if (bar < 0 || bar === text.length - 1) return undefined;
  const version = text.slice(0, bar);
  try {
    const { ids, names } = JSON.parse(text.slice(bar + 1));
    if (
      !Array.isArray(ids) || !ids.every(Number.isSafeInteger) ||
      !Array.isArray(names) || !names.every((n) => typeof n === "string")
    ) return undefined;
    return { ids, names, metaVersions: [version] };
  } catch {
    return undefined;
  }
}
