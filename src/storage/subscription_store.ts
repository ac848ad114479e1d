/**
 * @module
 * Durable subscription state (PROTOCOL.md §6-7): subscriptions with their
 * cursors, generations, leases and retry metadata; webhook signing keys; and
 * the token secret. `SqliteSubscriptionStore` keeps it in the WAL file
 * (`<dataDir>/wal.sqlite`) through its own connection and its own tables.
 * Both connections live on one thread, so every transaction here is fully
 * synchronous (BEGIN..COMMIT with no await in between).
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Durability } from "../config.ts";
import { StreamError } from "../errors.ts";
import { SYNCHRONOUS } from "./_sqlite_schema.ts";

/** One subscription row, live or tombstoned. */
export interface SubscriptionRow {
  /** Client-chosen id. */
  id: string;
  /** Normalised config as JSON (what the hash covers). */
  config: string;
  /** SHA-256 of `config`, hex. */
  configHash: string;
  /** Creation time, epoch ms. */
  createdAtMs: number;
  /** Tombstoned by DELETE. */
  deleted: boolean;
  /** `active`, or `failed` while a webhook retry is scheduled. */
  status: "active" | "failed";
  /** Fencing counter; grows by one per wake, never reset. */
  generation: number;
  /** Current wake, if one is in flight. */
  wakeId: string | null;
  /** Stream tails captured when the wake was issued or claimed, JSON `{path: pos}`. */
  wakeSnapshot: string | null;
  /** Pull-wake worker holding the lease. */
  holder: string | null;
  /** Lease expiry, epoch ms. */
  leaseExpiresAtMs: number | null;
  /** Failed webhook attempts since the last success. */
  retryCount: number;
  /** Next webhook attempt, epoch ms; null when nothing is to be sent. */
  nextAttemptAtMs: number | null;
}

/** One cursor: a stream linked to a subscription. */
export interface LinkRow {
  /** Subscription id. */
  subscriptionId: string;
  /** Stream-root-relative stream path. */
  path: string;
  /** Linked through `streams[]` or POST .../streams. */
  explicit: boolean;
  /** Linked through `pattern`. */
  glob: boolean;
  /** Acked byte position (the offset a reader resumes from). */
  ackedPos: number;
}

/** A stored signing key (private part included: never serve it). */
export interface KeyRow {
  /** Key id. */
  kid: string;
  /** Private JWK, JSON. */
  privateJwk: string;
  /** Creation, epoch ms. */
  createdAtMs: number;
  /** Retirement, epoch ms, or null while it signs. */
  retiredAtMs: number | null;
}

/**
 * One change; a `commit` applies a list of them atomically. A
 * `put_subscription` with `expectGeneration` is a compare-and-set: unless
 * the stored row exists with that generation the whole commit fails with
 * `fenced` (another node moved the subscription on). `put_secret` keeps a
 * secret already stored (the first writer wins; reload to learn it), and
 * so does a `put_link` with `ifAbsent` keep a link already stored (a node
 * linking a stream it just learned of must not reset a cursor another node
 * has moved since).
 */
export type SubscriptionOp =
  | {
    op: "put_subscription";
    row: SubscriptionRow;
    expectGeneration?: number;
  }
  | { op: "purge_subscription"; id: string }
  | { op: "put_link"; row: LinkRow; ifAbsent?: boolean }
  | { op: "delete_link"; subscriptionId: string; path: string }
  | { op: "delete_links"; subscriptionId: string }
  | { op: "put_key"; row: KeyRow }
  | { op: "put_secret"; name: string; value: Uint8Array };

/** The ids of the subscriptions `ops` change. */
export function changedSubscriptions(ops: SubscriptionOp[]): string[] {
  const ids = new Set<string>();
  for (const op of ops) {
    if (op.op === "put_subscription") ids.add(op.row.id);
    else if (op.op === "purge_subscription") ids.add(op.id);
    else if (op.op === "put_link") ids.add(op.row.subscriptionId);
    else if (op.op === "delete_link" || op.op === "delete_links") {
      ids.add(op.subscriptionId);
    }
  }
  return [...ids];
}

/** Everything stored, as loaded at startup. */
export interface SubscriptionSnapshot {
  /** Every subscription, tombstones included. */
  subscriptions: SubscriptionRow[];
  /** Every link. */
  links: LinkRow[];
  /** Every signing key, oldest first. */
  keys: KeyRow[];
  /** Named secrets. */
  secrets: Map<string, Uint8Array>;
}

/**
 * Durable subscription state: SQLite here, PostgreSQL in
 * `pg_subscription_store.ts`; `_subscription_contract.ts` holds both to one
 * behaviour.
 */
export interface SubscriptionStore {
  /** Reads everything. */
  load(): SubscriptionSnapshot;
  /**
   * Applies `ops` in one synchronous transaction; throws `fenced` when a
   * compare-and-set fails (nothing applied), `unavailable` on other failures.
   */
  commit(ops: SubscriptionOp[]): void;
  /**
   * Reads the rows and links of subscriptions `ids` only (those stored; no
   * keys or secrets), in one snapshot. Present where several nodes share
   * the store, so a node can pick up what another changed.
   */
  loadSome?(ids: string[]): SubscriptionSnapshot;
  /**
   * The signing keys only, oldest first (several nodes: one node's rotation
   * is read by the others).
   */
  loadKeys?(): KeyRow[];
  /**
   * Several nodes: notes that the change another node announced as
   * `version` has been applied here.
   */
  applied?(version: number): void;
  /**
   * Several nodes: whether this node has missed a change, so its copies
   * must be reloaded from `load()`. One small query: true when a change
   * committed before the previous check is still neither loaded here nor
   * announced (its notification was lost).
   */
  behind?(): boolean;
  /** Closes the connection. */
  close(): void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS subscriptions (
  id TEXT PRIMARY KEY,
  config TEXT NOT NULL,
  config_hash TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  status TEXT NOT NULL,
  generation INTEGER NOT NULL,
  wake_id TEXT,
  wake_snapshot TEXT,
  holder TEXT,
  lease_expires_at_ms INTEGER,
  retry_count INTEGER NOT NULL,
  next_attempt_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS subscription_links (
  subscription_id TEXT NOT NULL,
  path TEXT NOT NULL,
  explicit INTEGER NOT NULL,
  glob INTEGER NOT NULL,
  acked_pos INTEGER NOT NULL,
  PRIMARY KEY (subscription_id, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscription_keys (
  kid TEXT PRIMARY KEY,
  private_jwk TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  retired_at_ms INTEGER
);
CREATE TABLE IF NOT EXISTS subscription_secrets (
  name TEXT PRIMARY KEY,
  value BLOB NOT NULL
);
`;

type Row = Record<string, unknown>;

/** Opens the subscription tables in the SQLite file at `path`. */
export function openSqliteSubscriptionStore(
  path: string,
  durability: Durability,
): SqliteSubscriptionStore {
  return new SqliteSubscriptionStore(path, durability);
}

/** `SubscriptionStore` on `node:sqlite`. Use `openSqliteSubscriptionStore`. */
export class SqliteSubscriptionStore implements SubscriptionStore {
  #db: DatabaseSync;
  #putSubscription: StatementSync;
  #purgeSubscription: StatementSync;
  #putLink: StatementSync;
  #insertLink: StatementSync;
  #deleteLink: StatementSync;
  #deleteLinks: StatementSync;
  #putKey: StatementSync;
  #putSecret: StatementSync;
  #generation: StatementSync;
  #closed = false;

  /** Opens the connection and creates the tables. */
  constructor(path: string, durability: Durability) {
    this.#db = new DatabaseSync(path);
    this.#db.exec(`PRAGMA busy_timeout=5000; PRAGMA journal_mode=WAL;
      PRAGMA synchronous=${SYNCHRONOUS[durability]};`);
    this.#db.exec(SCHEMA);
    const db = this.#db;
    this.#putSubscription = db.prepare(
      `INSERT OR REPLACE INTO subscriptions (id, config, config_hash, created_at_ms,
       deleted, status, generation, wake_id, wake_snapshot, holder,
       lease_expires_at_ms, retry_count, next_attempt_at_ms)
       VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
    );
    this.#generation = db.prepare(
      "SELECT generation FROM subscriptions WHERE id=?",
    );
    this.#purgeSubscription = db.prepare(
      "DELETE FROM subscriptions WHERE id=?",
    );
    this.#putLink = db.prepare(
      `INSERT OR REPLACE INTO subscription_links
       (subscription_id, path, explicit, glob, acked_pos) VALUES (?,?,?,?,?)`,
    );
    this.#insertLink = db.prepare(
      `INSERT OR IGNORE INTO subscription_links
       (subscription_id, path, explicit, glob, acked_pos) VALUES (?,?,?,?,?)`,
    );
    this.#deleteLink = db.prepare(
      "DELETE FROM subscription_links WHERE subscription_id=? AND path=?",
    );
    this.#deleteLinks = db.prepare(
      "DELETE FROM subscription_links WHERE subscription_id=?",
    );
    this.#putKey = db.prepare(
      `INSERT OR REPLACE INTO subscription_keys (kid, private_jwk, created_at_ms,
       retired_at_ms) VALUES (?,?,?,?)`,
    );
    this.#putSecret = db.prepare(
      "INSERT OR IGNORE INTO subscription_secrets (name, value) VALUES (?,?)",
    );
  }

  /** Reads everything. */
  load(): SubscriptionSnapshot {
    const db = this.#db;
    const subscriptions = (db.prepare("SELECT * FROM subscriptions ORDER BY id")
      .all() as Row[]).map(subscriptionFromRow);
    const links = (db.prepare(
      "SELECT * FROM subscription_links ORDER BY subscription_id, path",
    ).all() as Row[]).map((r): LinkRow => ({
      subscriptionId: String(r.subscription_id),
      path: String(r.path),
      explicit: Number(r.explicit) === 1,
      glob: Number(r.glob) === 1,
      ackedPos: Number(r.acked_pos),
    }));
    const keys = (db.prepare(
      "SELECT * FROM subscription_keys ORDER BY created_at_ms, kid",
    ).all() as Row[]).map((r): KeyRow => ({
      kid: String(r.kid),
      privateJwk: String(r.private_jwk),
      createdAtMs: Number(r.created_at_ms),
      retiredAtMs: r.retired_at_ms === null ? null : Number(r.retired_at_ms),
    }));
    const secrets = new Map<string, Uint8Array>();
    for (
      const r of db.prepare("SELECT * FROM subscription_secrets").all() as Row[]
    ) {
      secrets.set(String(r.name), new Uint8Array(r.value as Uint8Array));
    }
    return { subscriptions, links, keys, secrets };
  }

  /** Applies `ops` in one synchronous transaction. */
  commit(ops: SubscriptionOp[]): void {
    if (this.#closed) {
      throw new StreamError("unavailable", "Subscription store is closed");
    }
    if (ops.length === 0) return;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      for (const op of ops) this.#apply(op);
      this.#db.exec("COMMIT");
    } catch (cause) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      if (cause instanceof StreamError && cause.kind === "fenced") throw cause;
      throw new StreamError(
        "unavailable",
        "Subscription store commit failed",
        undefined,
        { cause },
      );
    }
  }

  #apply(op: SubscriptionOp): void {
    switch (op.op) {
      case "put_subscription": {
        const s = op.row;
        if (op.expectGeneration !== undefined) {
          const stored = this.#generation.get(s.id) as Row | undefined;
          if (
            stored === undefined ||
            Number(stored.generation) !== op.expectGeneration
          ) {
            throw fencedSubscription(s.id);
          }
        }
        this.#putSubscription.run(
          s.id,
          s.config,
          s.configHash,
          s.createdAtMs,
          s.deleted ? 1 : 0,
          s.status,
          s.generation,
          s.wakeId,
          s.wakeSnapshot,
          s.holder,
          s.leaseExpiresAtMs,
          s.retryCount,
          s.nextAttemptAtMs,
        );
        return;
      }
      case "purge_subscription":
        this.#deleteLinks.run(op.id);
        this.#purgeSubscription.run(op.id);
        return;
      case "put_link": {
        const l = op.row;
        (op.ifAbsent ? this.#insertLink : this.#putLink).run(
          l.subscriptionId,
          l.path,
          l.explicit ? 1 : 0,
          l.glob ? 1 : 0,
          l.ackedPos,
        );
        return;
      }
      case "delete_link":
        this.#deleteLink.run(op.subscriptionId, op.path);
        return;
      case "delete_links":
        this.#deleteLinks.run(op.subscriptionId);
        return;
      case "put_key": {
        const k = op.row;
        this.#putKey.run(k.kid, k.privateJwk, k.createdAtMs, k.retiredAtMs);
        return;
      }
      case "put_secret":
        this.#putSecret.run(op.name, op.value);
        return;
    }
  }

  /** Closes the connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }
}

/** The error of a failed compare-and-set on subscription `id`. */
export function fencedSubscription(id: string): StreamError {
  return new StreamError(
    "fenced",
    `Subscription "${id}" was changed elsewhere; retry`,
  );
}

/** A stored row as a `SubscriptionRow` (any driver's value types). */
export function subscriptionFromRow(r: Row): SubscriptionRow {
  const nullableNumber = (v: unknown) => v === null ? null : Number(v);
  const nullableString = (v: unknown) => v === null ? null : String(v);
  const status = String(r.status);
  if (status !== "active" && status !== "failed") {
    throw new StreamError(
      "corrupt",
      `Subscription "${r.id}" has unknown status "${status}"`,
    );
  }
  return {
    id: String(r.id),
    config: String(r.config),
    configHash: String(r.config_hash),
    createdAtMs: Number(r.created_at_ms),
    deleted: r.deleted === true || Number(r.deleted) === 1,
    status,
    generation: Number(r.generation),
    wakeId: nullableString(r.wake_id),
    wakeSnapshot: nullableString(r.wake_snapshot),
    holder: nullableString(r.holder),
    leaseExpiresAtMs: nullableNumber(r.lease_expires_at_ms),
    retryCount: Number(r.retry_count),
    nextAttemptAtMs: nullableNumber(r.next_attempt_at_ms),
  };
}
