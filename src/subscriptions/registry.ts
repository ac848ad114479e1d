/**
 * @module
 * The subscriptions in memory (PROTOCOL.md §6): each one's row, config,
 * glob and links, the tombstones of deleted ones, and an index from stream
 * path to the subscriptions linking it. Callers commit a change to the
 * `SubscriptionStore` first and apply it here after, so memory never shows
 * what a crash could lose. It also answers for linked streams' tails.
 */

import type {
  AppendOutcome,
  AppendRequest,
  StreamView,
} from "../engine/types.ts";
import { fail, type Result, StreamError } from "../errors.ts";
import {
  changedSubscriptions,
  type LinkRow,
  type SubscriptionOp,
  type SubscriptionRow,
  type SubscriptionSnapshot,
  type SubscriptionStore,
} from "../storage/subscription_store.ts";
import { globMatch, type GlobPattern, parseGlob } from "../glob.ts";
import type { LinkInfo, SubscriptionConfig } from "./types.ts";
import { configFromCanonical } from "./wire.ts";

/** The parts of the engine subscriptions use. */
export interface StreamSource {
  /** Committed view of a stream. */
  view(name: string): StreamView | undefined;
  /** Sorted page of live streams. */
  list(
    prefix: string,
    after: string | undefined,
    limit: number,
  ): { streams: StreamView[]; more: boolean };
  /** Appends (pull-wake events). */
  append(name: string, request: AppendRequest): Promise<Result<AppendOutcome>>;
  /**
   * With several nodes: applies the creates and deletes other nodes made
   * (before a pattern is matched against the streams).
   */
  syncStreamSet?(): Promise<void>;
  /**
   * With several nodes: stream `name` after applying what other nodes
   * committed to it (a create or appends not announced here yet).
   */
  headFresh?(name: string): Promise<Result<StreamView>>;
  /** Observes committed changes. */
  addListener(listener: {
    created?(stream: StreamView): void;
    appended?(stream: StreamView): void;
    deleted?(name: string): void;
  }): void;
}

/** A cursor: one stream linked to one subscription. */
export interface Link {
  /** Stream path. */
  path: string;
  /** Linked through `streams`. */
  explicit: boolean;
  /** Linked through the pattern. */
  glob: boolean;
  /** Acked byte position. */
  ackedPos: number;
}

/** A live subscription. */
export interface Sub {
  /** Its stored row (wake, lease, retry state); mutated, then persisted. */
  row: SubscriptionRow;
  /** Its config. */
  config: SubscriptionConfig;
  /** Its parsed pattern, if any. */
  glob: GlobPattern | undefined;
  /** Its links by path. */
  links: Map<string, Link>;
  /**
   * The wake this node read from the store after another node issued it
   * (several nodes only): the issuer delivers it, this node only takes
   * over once that is overdue.
   */
  foreignWakeId?: string;
}

/** A subscription as new in memory, with no links yet. */
export function newSub(row: SubscriptionRow, config: SubscriptionConfig): Sub {
  let glob: GlobPattern | undefined;
  if (config.pattern !== null) {
    const parsed = parseGlob(config.pattern);
    if (!parsed.ok) {
      throw new StreamError(
        "corrupt",
        `Subscription "${row.id}" has a bad pattern`,
      );
    }
    glob = parsed.value;
  }
  return { row, config, glob, links: new Map() };
}

/** The 404 for a missing subscription. */
export function subscriptionNotFound(
  id: string,
): { ok: false; error: StreamError } {
  return fail("subscription_not_found", `Subscription "${id}" not found`);
}

/** A subscription never links its own wake stream: its events would wake it forever. */
export function mayLink(sub: Sub, path: string): boolean {
  return path !== sub.config.wakeStream;
}

/** The stream tails a wake captured, by path. */
export function snapshotOf(row: SubscriptionRow): Record<string, number> {
  return row.wakeSnapshot === null ? {} : JSON.parse(row.wakeSnapshot);
}

/** Live subscriptions, tombstones and the stream index. */
export class SubscriptionRegistry {
  #store: SubscriptionStore;
  #streams: StreamSource;
  #listPageMax: number;
  #streamsScanned = 0;
  #subs = new Map<string, Sub>();
  #tombstones = new Map<string, SubscriptionRow>();
  #byStream = new Map<string, Set<string>>();
  /** Generation of each stored row, as last loaded or committed here. */
  #stored = new Map<string, number>();

  #onFenced: (ids: string[]) => void = (ids) => void this.reload(ids);

  /**
   * Sets what a fenced commit does (the manager reloads the subscriptions
   * and resets their timers); by default it reloads them.
   */
  onFenced(handler: (ids: string[]) => void): void {
    this.#onFenced = handler;
  }

  /** A registry over `store`; `listPageMax` bounds each page of a stream scan. */
  constructor(
    store: SubscriptionStore,
    streams: StreamSource,
    listPageMax: number,
  ) {
    this.#store = store;
    this.#streams = streams;
    this.#listPageMax = listPageMax;
  }

  /** Loads every subscription, tombstone and link from the store. */
  load(): void {
    this.#apply(this.#store.load());
  }

  /** Whether the store can reload single subscriptions (several nodes). */
  get shared(): boolean {
    return this.#store.loadSome !== undefined;
  }

  /**
   * Replaces subscriptions `ids` (every one without `ids`) with what the
   * store holds now, where that differs from this node's copy: another
   * node changed them. Returns the ids replaced; their old `Sub` objects
   * are dropped (timers and deliveries holding them stop).
   */
  reload(ids?: string[]): string[] {
    const snapshot = ids === undefined
      ? this.#store.load()
      : this.#store.loadSome!(ids);
    const rows = new Map(snapshot.subscriptions.map((r) => [r.id, r]));
    const links = linksById(snapshot.links);
    const asked = new Set(
      ids ?? [...this.#subs.keys(), ...this.#tombstones.keys()],
    );
    for (const id of rows.keys()) asked.add(id);
    const replaced: string[] = [];
    for (const id of asked) {
      const row = rows.get(id);
      const sub = this.#subs.get(id);
      const mine = sub?.row ?? this.#tombstones.get(id);
      if (
        row !== undefined && mine !== undefined && sameRow(row, mine) &&
        (row.deleted || sameLinks(links.get(id) ?? [], sub!.links))
      ) continue;
      if (row === undefined && mine === undefined) continue;
      for (const path of sub?.links.keys() ?? []) this.#unindex(id, path);
      this.#subs.delete(id);
      this.#tombstones.delete(id);
      this.#stored.delete(id);
      replaced.push(id);
      if (row === undefined) continue;
      const kept = sub?.row.wakeId === row.wakeId
        ? sub?.foreignWakeId
        : undefined;
      const foreign = row.wakeId === null || sub?.row.wakeId === row.wakeId
        ? kept
        : row.wakeId;
      this.#put(row, links.get(id) ?? [], foreign);
    }
    return replaced;
  }

  #apply(snapshot: SubscriptionSnapshot): void {
    const links = linksById(snapshot.links);
    for (const row of snapshot.subscriptions) {
      this.#put(row, links.get(row.id) ?? [], undefined);
    }
  }

  #put(row: SubscriptionRow, links: LinkRow[], foreignWakeId?: string): void {
    this.#stored.set(row.id, row.generation);
    if (row.deleted) {
      this.#tombstones.set(row.id, row);
      return;
    }
    const sub = newSub(row, configFromCanonical(row.config));
    if (foreignWakeId !== undefined) sub.foreignWakeId = foreignWakeId;
    for (const { path, explicit, glob, ackedPos } of links) {
      sub.links.set(path, { path, explicit, glob, ackedPos });
    }
    this.add(sub);
  }

  /** Live subscription `id`. */
  get(id: string): Sub | undefined {
    return this.#subs.get(id);
  }

  /** Number of live subscriptions. */
  get size(): number {
    return this.#subs.size;
  }

  /** Live subscriptions. */
  values(): IterableIterator<Sub> {
    return this.#subs.values();
  }

  /** The tombstone of deleted subscription `id`. */
  tombstone(id: string): SubscriptionRow | undefined {
    return this.#tombstones.get(id);
  }

  /** Tombstoned ids, oldest first. */
  tombstoneIds(): string[] {
    return [...this.#tombstones.keys()];
  }

  /** Ids of the subscriptions linking stream `path`. */
  subscribersOf(path: string): ReadonlySet<string> {
    return this.#byStream.get(path) ?? EMPTY;
  }

  // ---- durable changes (commit first, then apply) --------------------------

  /**
   * Commits `ops` in one transaction. Each row written over one this
   * registry loaded or wrote is a compare-and-set on the generation it saw
   * last, so a change made elsewhere meanwhile (another node on the same
   * database) fails the commit with `fenced` instead of being overwritten.
   */
  commit(ops: SubscriptionOp[]): void {
    const seen = new Map(this.#stored);
    const fenced = ops.map((op): SubscriptionOp => {
      if (op.op === "purge_subscription") seen.delete(op.id);
      if (op.op !== "put_subscription") return op;
      const expected = seen.get(op.row.id);
      seen.set(op.row.id, op.row.generation);
      return expected === undefined || op.expectGeneration !== undefined
        ? op
        : { ...op, expectGeneration: expected };
    });
    try {
      this.#store.commit(fenced);
    } catch (error) {
      // Another node moved these subscriptions on: take its state, so the
      // next try plans from it (and this node's copy is not left changed).
      if (isFenced(error) && this.shared) {
        this.#onFenced(changedSubscriptions(ops));
      }
      throw error;
    }
    this.#stored = seen;
  }

  /** Commits `sub`'s row. */
  persist(sub: Sub): void {
    this.commit([{ op: "put_subscription", row: { ...sub.row } }]);
  }

  /** The op that stores `link` of `sub`. */
  linkOp(sub: Sub, link: Link): SubscriptionOp {
    return { op: "put_link", row: { subscriptionId: sub.row.id, ...link } };
  }

  // ---- in-memory changes ---------------------------------------------------

  /** Adds `sub` (and indexes its links); a tombstone of its id goes. */
  add(sub: Sub): void {
    this.#tombstones.delete(sub.row.id);
    this.#subs.set(sub.row.id, sub);
    for (const link of sub.links.values()) this.#index(sub.row.id, link.path);
  }

  /** Replaces live `id` with tombstone `row`, and drops tombstones `purged`. */
  remove(id: string, row: SubscriptionRow, purged: readonly string[]): void {
    for (const old of purged) this.#tombstones.delete(old);
    const sub = this.#subs.get(id);
    for (const path of sub?.links.keys() ?? []) this.#unindex(id, path);
    this.#subs.delete(id);
    this.#tombstones.set(id, row);
  }

  /**
   * Sets `link` on `sub`. Only a registered subscription's links enter the
   * stream index; a new one's are indexed by `add`, once it is committed.
   */
  setLink(sub: Sub, link: Link): void {
    sub.links.set(link.path, link);
    if (this.#subs.get(sub.row.id) === sub) this.#index(sub.row.id, link.path);
  }

  /** Removes the link of `sub` to `path`. */
  dropLink(sub: Sub, path: string): void {
    sub.links.delete(path);
    this.#unindex(sub.row.id, path);
  }

  #index(id: string, path: string): void {
    let ids = this.#byStream.get(path);
    if (ids === undefined) this.#byStream.set(path, ids = new Set());
    ids.add(id);
  }

  #unindex(id: string, path: string): void {
    const ids = this.#byStream.get(path);
    ids?.delete(id);
    if (ids?.size === 0) this.#byStream.delete(path);
  }

  // ---- streams -------------------------------------------------------------

  /** Committed tail of stream `path` (0 when it does not exist). */
  tail(path: string): number {
    return this.#streams.view(path)?.tailPos ?? 0;
  }

  /** Tails of every stream `sub` links. */
  tails(sub: Sub): Record<string, number> {
    const out: Record<string, number> = {};
    for (const path of sub.links.keys()) out[path] = this.tail(path);
    return out;
  }

  /** A linked stream with data past its cursor, if any. */
  firstPending(sub: Sub): string | undefined {
    for (const link of sub.links.values()) {
      if (this.tail(link.path) > link.ackedPos) return link.path;
    }
    return undefined;
  }

  /** `sub`'s links sorted by path; inside a wake, tails are the wake's. */
  links(sub: Sub): LinkInfo[] {
    const snapshot = sub.row.wakeId === null ? {} : snapshotOf(sub.row);
    return [...sub.links.values()]
      .sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
      .map((link) => ({
        path: link.path,
        explicit: link.explicit,
        ackedPos: link.ackedPos,
        tailPos: Math.max(
          snapshot[link.path] ?? this.tail(link.path),
          link.ackedPos,
        ),
      }));
  }

  /** Calls `visit` for every live stream `glob` matches, page by page. */
  scanMatching(glob: GlobPattern, visit: (view: StreamView) => void): void {
    this.#scanPrefix(glob.literalPrefix, (view) => {
      if (globMatch(glob, view.name)) visit(view);
    });
  }

  /**
   * Calls `visit` for every live stream and each of `globs` it matches, in
   * one walk: a stream is listed once however many patterns cover it, and
   * tested only against the patterns whose literal prefix it starts with.
   */
  scanMatchingAll(
    globs: GlobPattern[],
    visit: (view: StreamView, glob: GlobPattern) => void,
  ): void {
    const byPrefix = new Map<string, GlobPattern[]>();
    for (const glob of globs) {
      const list = byPrefix.get(glob.literalPrefix) ?? [];
      list.push(glob);
      byPrefix.set(glob.literalPrefix, list);
    }
    const lengths = [...new Set([...byPrefix.keys()].map((p) => p.length))];
    // Walk only the prefixes no shorter one covers: their ranges are disjoint.
    const roots = [...byPrefix.keys()].filter((prefix) =>
      !lengths.some((l) =>
        l < prefix.length && byPrefix.has(prefix.slice(0, l))
      )
    );
    for (const root of roots) {
      this.#scanPrefix(root, (view) => {
        for (const l of lengths) {
          if (l > view.name.length) continue;
          for (const glob of byPrefix.get(view.name.slice(0, l)) ?? []) {
            if (globMatch(glob, view.name)) visit(view, glob);
          }
        }
      });
    }
  }

  /** Streams listed by scans so far (for tests and figures). */
  get streamsScanned(): number {
    return this.#streamsScanned;
  }

  #scanPrefix(prefix: string, visit: (view: StreamView) => void): void {
    let after: string | undefined;
    while (true) {
      const page = this.#streams.list(prefix, after, this.#listPageMax);
      this.#streamsScanned += page.streams.length;
      for (const view of page.streams) visit(view);
      if (!page.more || page.streams.length === 0) return;
      after = page.streams[page.streams.length - 1].name;
    }
  }

  /** Whether stream `path` exists. */
  exists(path: string): boolean {
    return this.#streams.view(path) !== undefined;
  }
}

const EMPTY: ReadonlySet<string> = new Set();

/** Link rows grouped by subscription id. */
function linksById(rows: LinkRow[]): Map<string, LinkRow[]> {
  const out = new Map<string, LinkRow[]>();
  for (const link of rows) {
    const list = out.get(link.subscriptionId) ?? [];
    list.push(link);
    out.set(link.subscriptionId, list);
  }
  return out;
}

/** Whether two rows of one subscription hold the same state. */
function sameRow(a: SubscriptionRow, b: SubscriptionRow): boolean {
  return a.config === b.config && a.deleted === b.deleted &&
    a.status === b.status && a.generation === b.generation &&
    a.wakeId === b.wakeId && a.wakeSnapshot === b.wakeSnapshot &&
    a.holder === b.holder && a.leaseExpiresAtMs === b.leaseExpiresAtMs &&
    a.retryCount === b.retryCount && a.nextAttemptAtMs === b.nextAttemptAtMs &&
    a.createdAtMs === b.createdAtMs;
}

/** Whether stored `rows` are the links `links` holds. */
function sameLinks(rows: LinkRow[], links: Map<string, Link>): boolean {
  return rows.length === links.size && rows.every((r) => {
    const l = links.get(r.path);
    return l !== undefined && l.explicit === r.explicit &&
      l.glob === r.glob && l.ackedPos === r.ackedPos;
  });
}

function isFenced(error: unknown): boolean {
  return error instanceof StreamError && error.kind === "fenced";
}
