/**
 * Several in-process nodes on one schema of the throwaway PostgreSQL
 * cluster (`--postgres-multi-node`), for the multi-node tests: start and
 * stop them, send requests, and a store wrapper that drops every
 * announcement a node would receive (lost NOTIFYs).
 */

import { type ConfigOverrides, testConfig } from "../src/config.ts";
import { type ServerHandle, startServer } from "../src/server.ts";
import { freshSchema, sharedPgCluster } from "../src/storage/_pg_testing.ts";
import type { SharedWal, WalStore } from "../src/storage/wal_store.ts";

/** A running node and its data dir. */
export interface Node extends ServerHandle {
  dataDir: string;
}

/** Starts a node on `schema`; `wrapWal` lets a test drop announcements. */
export async function startNode(
  schema: string,
  overrides: ConfigOverrides = {},
  wrapWal?: (store: WalStore) => WalStore,
): Promise<Node> {
  const cluster = await sharedPgCluster();
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-node-" });
  const config = testConfig(dataDir, {
    ...overrides,
    http: { longPollTimeoutMs: 30_000, ...overrides.http },
    storage: {
      backend: "postgres",
      postgresUrl: cluster.url,
      postgresSchema: schema,
      postgresMultiNode: true,
      ...overrides.storage,
    },
  });
  const server = await startServer(config, { wrapWal });
  return { ...server, dataDir };
}

/** Runs `fn` with `count` nodes on a fresh schema, then stops them. */
export async function withNodes(
  count: number,
  fn: (nodes: Node[], schema: string) => Promise<void>,
  overrides: ConfigOverrides = {},
  wrapWal?: (index: number) => ((store: WalStore) => WalStore) | undefined,
): Promise<void> {
  const schema = freshSchema("multi");
  const nodes: Node[] = [];
  try {
    for (let i = 0; i < count; i++) {
      nodes.push(await startNode(schema, overrides, wrapWal?.(i)));
    }
    await fn(nodes, schema);
  } finally {
    for (const node of nodes) {
      await node.close();
      await Deno.remove(node.dataDir, { recursive: true });
    }
  }
}

/** A response, read whole. */
export interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

/** Sends one request and reads the whole answer. */
export async function call(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  const response = await fetch(url, { method, headers, body });
  return {
    status: response.status,
    headers: response.headers,
    text: await response.text(),
  };
}

/** A JSON object from a response body. */
export type Json = Record<string, unknown>;

/** Sends a JSON body (when given) and parses the answer (`{}` when empty). */
export async function callJson(
  url: string,
  method: string,
  body?: unknown,
): Promise<{ status: number; json: Json }> {
  const got = await call(
    url,
    method,
    { "content-type": "application/json" },
    body === undefined ? undefined : JSON.stringify(body),
  );
  return {
    status: got.status,
    json: got.text === "" ? {} : JSON.parse(got.text),
  };
}

/** A subscription's URL on `node`. */
export const subscriptionUrl = (node: Node, id: string): string =>
  `${node.url}/v1/stream/__ds/subscriptions/${id}`;

/** A stream's URL on `node`. */
export const streamUrl = (node: Node, path: string): string =>
  `${node.url}/v1/stream/${path}`;

/** Polls `probe` every 25 ms until it returns a value, `tries` times at most. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  tries = 400,
): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A store whose announcements never reach this node (lost NOTIFYs). */
export function deaf(store: WalStore): WalStore {
  const shared = store.shared!;
  const quiet: SharedWal = {
    nodeId: shared.nodeId,
    watch: () => Promise.resolve(),
    current: (ids, names) => shared.current(ids, names),
    poll: (ids, names) => shared.poll(ids, names),
    loadSome: (scope) => shared.loadSome(scope),
  };
  return new Proxy(store, {
    get(target, key) {
      if (key === "shared") return quiet;
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/**
 * Switches for the announcements one node hears: while `streams` is set,
 * other nodes' stream announcements (creates, deletes, tails) are dropped;
 * while `subscriptions` is set, their subscription announcements are. Unlike
 * `deaf`, the node keeps announcing its own commits. `wrap` is the store
 * wrapper to give the node.
 */
export class Earplugs {
  /** Drop stream announcements. */
  streams = false;
  /** Drop subscription announcements. */
  subscriptions = false;
  /** Subscription announcements of commits dropped so far. */
  droppedSubscriptions = 0;
  /** Subscription announcements of commits passed on so far. */
  heardSubscriptions = 0;

  /** Wraps a node's store so these switches apply to it. */
  wrap = (store: WalStore): WalStore => {
    const shared = store.shared!;
    const filtered: SharedWal = {
      nodeId: shared.nodeId,
      announcePrefix: shared.announcePrefix,
      watch: (events) =>
        shared.watch({
          tails: (tails) => this.streams || events.tails(tails),
          changed: (scope) => this.streams || events.changed(scope),
        }),
      watchSubscriptions: (listener) =>
        shared.watchSubscriptions?.((ids, ...rest) => {
          // Counted: announcements of commits (a reconnect names none).
          const counted = ids === undefined ? 0 : 1;
          if (!this.subscriptions) {
            this.heardSubscriptions += counted;
            return listener(ids, ...rest);
          }
          this.droppedSubscriptions += counted;
        }),
      current: (ids, names) => shared.current(ids, names),
      metaApplied: shared.metaApplied?.bind(shared),
      poll: (ids, names) => shared.poll(ids, names),
      loadSome: (scope) => shared.loadSome(scope),
    };
    return new Proxy(store, {
      get(target, key) {
        if (key === "shared") return filtered;
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  };
}
