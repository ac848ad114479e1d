/**
 * @module
 * `SubscriptionStore` on PostgreSQL (`--storage postgres`): the tables of
 * subscription migration in `_pg_schema.ts`, written through the synchronous client of
 * `pg_sync.ts`, so nothing of subscriptions lands in the data dir. A commit
 * is one transaction. A `put_subscription` with `expectGeneration` is an
 * `UPDATE … WHERE generation = $expected` that must touch its row, so of
 * two nodes moving one subscription on from the same generation exactly one
 * wins and the other gets `fenced`; the token secret is inserted only when
 * missing, so nodes starting together agree on it.
 *
 * Shared by several nodes, every commit that changes subscriptions or keys
 * also moves the subscription version (`meta` key `subs_version`, one more
 * per commit, so versions are consecutive) and names it in its
 * announcement. Each node notes the versions it has applied (its own
 * commits, announcements, full loads); `behind()` compares the stored
 * version with them, so a lost announcement is found by one small query.
 * The version row is written last, just before COMMIT: it serialises the
 * cluster's subscription commits for the length of a commit.
 */

import { StreamError } from "../errors.ts";
import { SUBSCRIPTION_VERSIONS_AHEAD_MAX } from "../limits.ts";
import {
  type PgSyncClient,
  type SyncRow,
  UnmetExpectation,
} from "./pg_sync.ts";
import type { SyncStatement } from "./_pg_sync_wire.ts";
import { NOTIFY_BYTES_MAX, SUBS_CHANNEL } from "./_pg_node.ts";
import {
  changedSubscriptions,
  fencedSubscription,
  type KeyRow,
  type LinkRow,
  subscriptionFromRow,
  type SubscriptionOp,
  type SubscriptionSnapshot,
  type SubscriptionStore,
} from "./subscription_store.ts";

/** The `meta` key of the shared subscription version. */
const VERSION_KEY = "subs_version";
const VERSION_QUERY = `SELECT value FROM meta WHERE key = '${VERSION_KEY}'`;

const COLUMNS = `config, config_hash, created_at_ms, deleted, status,
  generation, wake_id, wake_snapshot, holder, lease_expires_at_ms,
  retry_count, next_attempt_at_ms`;

/** Options for a store that several nodes share. */
export interface PgSubscriptionShare {
  /**
   * `<schema>/<node id>`: each commit sends
   * `NOTIFY streambed_subs, '<prefix>|<id>,<id>...'` naming the
   * subscriptions it changed, inside its transaction.
   */
  prefix: string;
}

/** See the module doc. The client is the caller's to close. */
export class PgSubscriptionStore implements SubscriptionStore {
  #client: PgSyncClient;
  #share: PgSubscriptionShare | undefined;
  #versions = new AppliedVersions();
  #closed = false;

  /**
   * Uses `client`, whose schema has been migrated by `openPgStore`. With
   * `share` (several nodes), commits announce what they changed, and a new
   * subscription row is only inserted where none is stored (one another
   * node stored meanwhile fences the commit instead of being overwritten).
   */
  constructor(client: PgSyncClient, share?: PgSubscriptionShare) {
    this.#client = client;
    this.#share = share;
    if (share !== undefined) {
      this.loadSome = (ids) => this.#loadSome(ids);
      this.loadKeys = () => this.#loadKeys();
      this.applied = (version) => this.#versions.note(version);
      this.behind = () => this.#behind();
    }
  }

  /** See `SubscriptionStore.loadKeys`; only with `share`. */
  loadKeys?: () => KeyRow[];
  /** See `SubscriptionStore.applied`; only with `share`. */
  applied?: (version: number) => void;
  /** See `SubscriptionStore.behind`; only with `share`. */
  behind?: () => boolean;

  #loadKeys(): KeyRow[] {
    this.#open();
    const [keys] = this.#client.transaction([
      { text: "SELECT * FROM subscription_keys ORDER BY created_at_ms, kid" },
    ], "Cannot load signing keys");
    return keys.map(keyFromRow);
  }

  #behind(): boolean {
    this.#open();
    const [rows] = this.#client.transaction(
      [{ text: VERSION_QUERY }],
      "Cannot read the subscription version",
    );
    return this.#versions.behind(versionOf(rows));
  }

  /**
   * The rows and links of subscriptions `ids`, in one snapshot; only with
   * `share` (a single server's copy is always current).
   */
  loadSome?: (ids: string[]) => SubscriptionSnapshot;

  #loadSome(ids: string[]): SubscriptionSnapshot {
    this.#open();
    const [subs, links] = this.#client.transaction([
      { text: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY" },
      {
        text: "SELECT * FROM subscriptions WHERE id = ANY($1) ORDER BY id",
        values: [ids],
      },
      {
        text: `SELECT * FROM subscription_links WHERE subscription_id = ANY($1)
          ORDER BY subscription_id, path`,
        values: [ids],
      },
    ], "Cannot load subscriptions").slice(1);
    return {
      subscriptions: subs.map(subscriptionFromRow),
      links: links.map(linkFromRow),
      keys: [],
      secrets: new Map(),
    };
  }

  /** Reads everything, in one snapshot. */
  load(): SubscriptionSnapshot {
    this.#open();
    const [subs, links, keys, secrets, version] = this.#client.transaction([
      { text: "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY" },
      { text: "SELECT * FROM subscriptions ORDER BY id" },
      {
        text: "SELECT * FROM subscription_links ORDER BY subscription_id, path",
      },
      {
        text: "SELECT * FROM subscription_keys ORDER BY created_at_ms, kid",
      },
      { text: "SELECT * FROM subscription_secrets" },
      { text: VERSION_QUERY },
    ], "Cannot load subscriptions").slice(1);
    // Everything up to the snapshot's version is in hand now.
    this.#versions.loaded(versionOf(version));
    return {
      subscriptions: subs.map(subscriptionFromRow),
      links: links.map(linkFromRow),
      keys: keys.map(keyFromRow),
      secrets: new Map(
        secrets.map((r) => [String(r.name), r.value as Uint8Array]),
      ),
    };
  }

  /** Applies `ops` in one transaction. */
  commit(ops: SubscriptionOp[]): void {
    this.#open();
    if (ops.length === 0) return;
    const statements = ops.map((op) => statementOf(op, this.#share));
    const changed = changedSubscriptions(ops).map(encodeURIComponent);
    const keys = ops.some((op) => op.op === "put_key");
    const announce = this.#share !== undefined &&
      (changed.length > 0 || keys);
    if (announce) {
      // Last, after every compare-and-set: a fenced commit takes no version.
      statements.push({
        text: `INSERT INTO meta (key, value) VALUES ('${VERSION_KEY}', '1')
          ON CONFLICT (key) DO UPDATE
          SET value = (meta.value::bigint + 1)::text RETURNING value`,
      });
      const scope = changed.length > 0 ? subsScope(changed) : "-";
      statements.push({
        text: `SELECT pg_notify($1, $2 || (${VERSION_QUERY}) || $3)`,
        values: [
          SUBS_CHANNEL,
          `${this.#share!.prefix}|${scope}|`,
          keys ? "|keys" : "",
        ],
      });
    }
    try {
      const results = this.#client.transaction(
        statements,
        "Subscription store commit failed",
      );
      if (announce) this.#versions.note(versionOf(results.at(-2)!));
    } catch (error) {
      if (error instanceof UnmetExpectation) {
        const op = ops[error.index];
        throw fencedSubscription(
          op.op === "put_subscription" ? op.row.id : "?",
        );
      }
      throw error;
    }
  }

  /** Stops using the client (it stays open for its owner). */
  close(): void {
    this.#closed = true;
  }

  #open(): void {
    if (this.#closed) {
      throw new StreamError("unavailable", "Subscription store is closed");
    }
  }
}

/**
 * The subscription versions one node has applied: every one up to
 * `#through`, and those above it noted out of order (bounded). A version
 * seen stored above `#through` by one check and still missing at the next
 * means its announcement was lost.
 */
class AppliedVersions {
  #through = 0;
  #ahead = new Set<number>();
  #overflow = false;
  #seen: number | undefined;

  /** Version `version` is applied here. */
  note(version: number): void {
    if (version <= this.#through) return;
    this.#ahead.add(version);
    while (this.#ahead.delete(this.#through + 1)) this.#through++;
    if (this.#ahead.size > SUBSCRIPTION_VERSIONS_AHEAD_MAX) {
      this.#ahead.clear();
      this.#overflow = true;
    }
  }

  /** Everything up to `version` is applied here (a full load). */
  loaded(version: number): void {
    this.#overflow = false;
    if (version <= this.#through) return;
    this.#through = version;
    for (const v of this.#ahead) if (v <= version) this.#ahead.delete(v);
    while (this.#ahead.delete(this.#through + 1)) this.#through++;
  }

  /** Whether a full load is due, given the stored version now. */
  behind(stored: number): boolean {
    const seen = this.#seen;
    if (stored <= this.#through && !this.#overflow) {
      this.#seen = undefined;
      return false;
    }
    this.#seen = stored;
    // Announcements of commits made before the last check had a whole
    // check interval to arrive.
    return this.#overflow || (seen !== undefined && this.#through < seen);
  }
}

/** The version a `VERSION_QUERY` or the version update returned (0: none). */
function versionOf(rows: SyncRow[]): number {
  return rows.length === 0 ? 0 : Number(rows[0].value);
}

/** A stored key row (any driver's value types). */
function keyFromRow(r: SyncRow): KeyRow {
  return {
    kid: String(r.kid),
    privateJwk: String(r.private_jwk),
    createdAtMs: Number(r.created_at_ms),
    retiredAtMs: r.retired_at_ms === null ? null : Number(r.retired_at_ms),
  };
}

/** A stored link row (any driver's value types). */
function linkFromRow(r: SyncRow): LinkRow {
  return {
    subscriptionId: String(r.subscription_id),
    path: String(r.path),
    explicit: r.explicit === true,
    glob: r.glob === true,
    ackedPos: Number(r.acked_pos),
  };
}

/** `<id>,<id>...`, or `*` (reload every one) when too long to announce. */
function subsScope(ids: string[]): string {
  const text = ids.join(",");
  return text.length > NOTIFY_BYTES_MAX - 200 ? "*" : text;
}

function statementOf(
  op: SubscriptionOp,
  share: PgSubscriptionShare | undefined,
): SyncStatement {
  switch (op.op) {
    case "put_subscription": {
      const s = op.row;
      const values = [
        s.id,
        s.config,
        s.configHash,
        s.createdAtMs,
        s.deleted,
        s.status,
        s.generation,
        s.wakeId,
        s.wakeSnapshot,
        s.holder,
        s.leaseExpiresAtMs,
        s.retryCount,
        s.nextAttemptAtMs,
      ];
      if (op.expectGeneration !== undefined) {
        return {
          text: `UPDATE subscriptions SET (${COLUMNS}) =
            ($2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
            WHERE id = $1 AND generation = $14`,
          values: [...values, op.expectGeneration],
          expectRows: true,
        };
      }
      if (share !== undefined) {
        // A row this node never saw: another node's must not be replaced.
        return {
          text: `INSERT INTO subscriptions (id, ${COLUMNS})
            VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
            ON CONFLICT (id) DO NOTHING`,
          values,
          expectRows: true,
        };
      }
      return {
        text: `INSERT INTO subscriptions (id, ${COLUMNS})
          VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)
          ON CONFLICT (id) DO UPDATE SET (${COLUMNS}) =
          ($2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)`,
        values,
      };
    }
    case "purge_subscription":
      return {
        text: `WITH l AS (DELETE FROM subscription_links
          WHERE subscription_id = $1) DELETE FROM subscriptions WHERE id = $1`,
        values: [op.id],
      };
    case "put_link": {
      const l = op.row;
      return {
        text: `INSERT INTO subscription_links
          (subscription_id, path, explicit, glob, acked_pos)
          VALUES ($1,$2,$3,$4,$5) ON CONFLICT (subscription_id, path)
          ${
          op.ifAbsent
            ? "DO NOTHING"
            : "DO UPDATE SET explicit = $3, glob = $4, acked_pos = $5"
        }`,
        values: [l.subscriptionId, l.path, l.explicit, l.glob, l.ackedPos],
      };
    }
    case "delete_link":
      return {
        text:
          "DELETE FROM subscription_links WHERE subscription_id = $1 AND path = $2",
        values: [op.subscriptionId, op.path],
      };
    case "delete_links":
      return {
        text: "DELETE FROM subscription_links WHERE subscription_id = $1",
        values: [op.subscriptionId],
      };
    case "put_key": {
      const k = op.row;
      return {
        text: `INSERT INTO subscription_keys
          (kid, private_jwk, created_at_ms, retired_at_ms) VALUES ($1,$2,$3,$4)
          ON CONFLICT (kid) DO UPDATE SET private_jwk = $2,
          created_at_ms = $3, retired_at_ms = $4`,
        values: [k.kid, k.privateJwk, k.createdAtMs, k.retiredAtMs],
      };
    }
    case "put_secret":
      return {
        text: `INSERT INTO subscription_secrets (name, value) VALUES ($1, $2)
          ON CONFLICT (name) DO NOTHING`,
        values: [op.name, op.value],
      };
  }
}
