/**
 * @module
 * The `SubscriptionStore` contract: one suite the SQLite and PostgreSQL
 * stores both pass. `open(dir)` opens a store on the data kept for `dir`;
 * called twice with one `dir` it gives two stores on the same data (two
 * nodes), which the compare-and-set tests use.
 */

import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import type {
  SubscriptionRow,
  SubscriptionStore,
} from "./subscription_store.ts";

/** Opens a store on the data kept for `dir`. */
export type OpenSubscriptionStore = (
  dir: string,
) => SubscriptionStore | Promise<SubscriptionStore>;

/** A subscription row with defaults. */
export function subscriptionRow(
  id: string,
  generation = 0,
  extra: Partial<SubscriptionRow> = {},
): SubscriptionRow {
  return {
    id,
    config: "{}",
    configHash: "h",
    createdAtMs: 1,
    deleted: false,
    status: "active",
    generation,
    wakeId: null,
    wakeSnapshot: null,
    holder: null,
    leaseExpiresAtMs: null,
    retryCount: 0,
    nextAttemptAtMs: null,
    ...extra,
  };
}

const isFenced = (e: unknown) =>
  e instanceof StreamError && e.kind === "fenced";

async function withDir(
  body: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-subs-" });
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Registers the suite for the store `open` makes. */
export function subscriptionStoreContract(
  name: string,
  open: OpenSubscriptionStore,
): void {
  Deno.test(`${name}: state round-trips across a reopen`, () =>
    withDir(async (dir) => {
      const store = await open(dir);
      store.commit([
        {
          op: "put_subscription",
          row: subscriptionRow("a", 4, {
            wakeId: "w_1",
            wakeSnapshot: '{"x/y":3}',
            holder: "me",
            leaseExpiresAtMs: 99,
            status: "failed",
            retryCount: 2,
            nextAttemptAtMs: 5,
          }),
        },
        { op: "put_subscription", row: subscriptionRow("b") },
        {
          op: "put_subscription",
          row: subscriptionRow("c", 2, { deleted: true }),
        },
        {
          op: "put_link",
          row: {
            subscriptionId: "a",
            path: "x/y",
            explicit: true,
            glob: false,
            ackedPos: 7,
          },
        },
        {
          op: "put_link",
          row: {
            subscriptionId: "a",
            path: "x/w",
            explicit: false,
            glob: true,
            ackedPos: 2 ** 40,
          },
        },
        {
          op: "put_link",
          row: {
            subscriptionId: "b",
            path: "x/z",
            explicit: false,
            glob: true,
            ackedPos: 0,
          },
        },
        {
          op: "put_key",
          row: {
            kid: "ds_k",
            privateJwk: "{}",
            createdAtMs: 3,
            retiredAtMs: null,
          },
        },
        { op: "put_secret", name: "token", value: new Uint8Array([1, 2, 3]) },
      ]);
      store.commit([
        { op: "purge_subscription", id: "b" },
        { op: "delete_link", subscriptionId: "a", path: "x/w" },
        {
          op: "put_key",
          row: {
            kid: "ds_k",
            privateJwk: "{}",
            createdAtMs: 3,
            retiredAtMs: 8,
          },
        },
      ]);
      store.close();
      const reopened = await open(dir);
      const snap = reopened.load();
      assert.deepEqual(snap.subscriptions, [
        subscriptionRow("a", 4, {
          wakeId: "w_1",
          wakeSnapshot: '{"x/y":3}',
          holder: "me",
          leaseExpiresAtMs: 99,
          status: "failed",
          retryCount: 2,
          nextAttemptAtMs: 5,
        }),
        subscriptionRow("c", 2, { deleted: true }),
      ]);
      assert.deepEqual(snap.links, [{
        subscriptionId: "a",
        path: "x/y",
        explicit: true,
        glob: false,
        ackedPos: 7,
      }]);
      assert.deepEqual(snap.keys, [{
        kid: "ds_k",
        privateJwk: "{}",
        createdAtMs: 3,
        retiredAtMs: 8,
      }]);
      assert.deepEqual([...snap.secrets.get("token")!], [1, 2, 3]);
      reopened.commit([{ op: "delete_links", subscriptionId: "a" }]);
      assert.deepEqual(reopened.load().links, []);
      reopened.close();
      assert.throws(
        () => reopened.commit([{ op: "delete_links", subscriptionId: "a" }]),
        (e: unknown) => e instanceof StreamError && e.kind === "unavailable",
      );
    }));

  Deno.test(`${name}: a compare-and-set on the generation fails whole`, () =>
    withDir(async (dir) => {
      const store = await open(dir);
      store.commit([{ op: "put_subscription", row: subscriptionRow("a", 1) }]);
      store.commit([{
        op: "put_subscription",
        row: subscriptionRow("a", 2, { wakeId: "w_2" }),
        expectGeneration: 1,
      }]);
      assert.throws(
        () =>
          store.commit([
            {
              op: "put_link",
              row: {
                subscriptionId: "a",
                path: "s",
                explicit: true,
                glob: false,
                ackedPos: 9,
              },
            },
            {
              op: "put_subscription",
              row: subscriptionRow("a", 3),
              expectGeneration: 1,
            },
          ]),
        isFenced,
      );
      assert.throws(
        () =>
          store.commit([{
            op: "put_subscription",
            row: subscriptionRow("missing", 1),
            expectGeneration: 0,
          }]),
        isFenced,
      );
      const snap = store.load();
      assert.deepEqual(snap.links, []); // the failed commit left nothing
      assert.deepEqual(snap.subscriptions, [
        subscriptionRow("a", 2, { wakeId: "w_2" }),
      ]);
      store.close();
    }));

  Deno.test(`${name}: of two stores moving one subscription on, one wins`, () =>
    withDir(async (dir) => {
      const a = await open(dir);
      a.commit([{ op: "put_subscription", row: subscriptionRow("s", 5) }]);
      const b = await open(dir);
      const claim = (store: SubscriptionStore, holder: string) => () =>
        store.commit([
          {
            op: "put_link",
            row: {
              subscriptionId: "s",
              path: "p",
              explicit: true,
              glob: false,
              ackedPos: holder === "a" ? 1 : 2,
            },
          },
          {
            op: "put_subscription",
            row: subscriptionRow("s", 6, { holder, wakeId: holder }),
            expectGeneration: 5,
          },
        ]);
      claim(a, "a")();
      assert.throws(claim(b, "b"), isFenced);
      const snap = b.load();
      assert.equal(snap.subscriptions[0].holder, "a");
      assert.equal(snap.links[0].ackedPos, 1);
      a.close();
      b.close();
    }));

  Deno.test(`${name}: a link put if absent keeps a stored link`, () =>
    withDir(async (dir) => {
      const store = await open(dir);
      const link = (ackedPos: number) => ({
        subscriptionId: "s",
        path: "p",
        explicit: false,
        glob: true,
        ackedPos,
      });
      store.commit([{ op: "put_link", row: link(0), ifAbsent: true }]);
      store.commit([{ op: "put_link", row: link(9) }]);
      store.commit([{ op: "put_link", row: link(0), ifAbsent: true }]);
      assert.deepEqual(store.load().links.map((l) => l.ackedPos), [9]);
      store.close();
    }));

  Deno.test(`${name}: the first stored secret stays`, () =>
    withDir(async (dir) => {
      const a = await open(dir);
      const b = await open(dir);
      a.commit([{ op: "put_secret", name: "t", value: new Uint8Array([1]) }]);
      b.commit([{ op: "put_secret", name: "t", value: new Uint8Array([2]) }]);
      assert.deepEqual([...b.load().secrets.get("t")!], [1]);
      a.close();
      b.close();
    }));
}
