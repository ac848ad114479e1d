/**
 * @module
 * The one behaviour every `ObjectStore` must show, run by `memory_test.ts`,
 * `fs_test.ts` and `s3_test.ts` (as Litestream runs its replica clients).
 * Each case gets a fresh store whose `list` pages hold `LIST_PAGE_KEYS`
 * keys, so continuation is always exercised.
 */

import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import type { ObjectStore } from "./object_store.ts";

/** Keys per list page the contract asks `makeStore` for. */
export const LIST_PAGE_KEYS = 3;

/** A store under test and how to dispose of it. */
export interface StoreFixture {
  /** The store. */
  store: ObjectStore;
  /** Releases what `makeStore` opened (files, servers, clients). */
  close(): Promise<void>;
}

type Case = (store: ObjectStore) => Promise<void>;

const enc = new TextEncoder();

async function listAll(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let next: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const page = await store.list(prefix, next);
    assert.ok(page.keys.length <= LIST_PAGE_KEYS, "page within its size");
    keys.push(...page.keys);
    next = page.next;
    if (next === undefined) return keys;
  }
  throw new Error("list did not finish in 100 pages");
}

const cases: Record<string, Case> = {
  "put() then get() returns the bytes": async (s) => {
    await s.put("a/b/c.bin", enc.encode("hello"));
    assert.deepEqual(await s.get("a/b/c.bin"), enc.encode("hello"));
  },
  "get(), head() and getRange() of a missing key are undefined": async (s) => {
    assert.equal(await s.get("missing"), undefined);
    assert.equal(await s.head("missing/x"), undefined);
    assert.equal(await s.getRange("missing", 0, 4), undefined);
  },
  "binary data and every byte value survive": async (s) => {
    const bytes = new Uint8Array(256 * 4);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
    await s.put("bin", bytes);
    assert.deepEqual(await s.get("bin"), bytes);
  },
  "an empty object is stored and read back": async (s) => {
    await s.put("empty", new Uint8Array(0));
    assert.deepEqual(await s.get("empty"), new Uint8Array(0));
    assert.equal((await s.head("empty"))?.size, 0);
    assert.deepEqual(await s.getRange("empty", 0, 10), new Uint8Array(0));
  },
  "put() overwrites and changes the etag": async (s) => {
    await s.put("k", enc.encode("one"));
    const first = await s.head("k");
    await s.put("k", enc.encode("two!"));
    const second = await s.head("k");
    assert.deepEqual(await s.get("k"), enc.encode("two!"));
    assert.equal(second?.size, 4);
    assert.notEqual(first?.etag, second?.etag);
    assert.ok(typeof second?.etag === "string" && second.etag.length > 0);
  },
  "put() copies: changing the caller's array later changes nothing": async (
    s,
  ) => {
    const bytes = enc.encode("stable");
    await s.put("copy", bytes);
    bytes[0] = 0;
    assert.deepEqual(await s.get("copy"), enc.encode("stable"));
  },
  "getRange() returns the range, cut short at the end": async (s) => {
    const bytes = enc.encode("0123456789");
    await s.put("r", bytes);
    assert.deepEqual(await s.getRange("r", 0, 3), enc.encode("012"));
    assert.deepEqual(await s.getRange("r", 4, 2), enc.encode("45"));
    assert.deepEqual(await s.getRange("r", 8, 10), enc.encode("89"));
    assert.deepEqual(await s.getRange("r", 9, 1), enc.encode("9"));
    assert.deepEqual(await s.getRange("r", 10, 5), new Uint8Array(0));
    assert.deepEqual(await s.getRange("r", 50, 5), new Uint8Array(0));
    assert.deepEqual(await s.getRange("r", 3, 0), new Uint8Array(0));
  },
  "head() gives size and an etag": async (s) => {
    await s.put("h", new Uint8Array(1234));
    const h = await s.head("h");
    assert.equal(h?.size, 1234);
    assert.ok(h!.etag.length > 0);
  },
  "list() pages sorted keys under a prefix with continuation": async (s) => {
    const keys = [
      "streams/b/0002",
      "streams/a/0001",
      "streams/a/0000",
      "streams/a/0010",
      "streams/ab",
      "streams/a/0003/x",
      "other/z",
      "streamsx",
    ];
    for (const k of keys) await s.put(k, enc.encode(k));
    assert.deepEqual(await listAll(s, "streams/a/"), [
      "streams/a/0000",
      "streams/a/0001",
      "streams/a/0003/x",
      "streams/a/0010",
    ]);
    assert.deepEqual(await listAll(s, "streams/a"), [
      "streams/a/0000",
      "streams/a/0001",
      "streams/a/0003/x",
      "streams/a/0010",
      "streams/ab",
    ]);
    assert.deepEqual(await listAll(s, "streams/a/001"), ["streams/a/0010"]);
    assert.deepEqual(await listAll(s, ""), [...keys].sort());
    assert.deepEqual(await listAll(s, "nothing/"), []);
    const first = await s.list("streams/");
    assert.equal(first.keys.length, LIST_PAGE_KEYS);
    assert.ok(first.next !== undefined);
  },
  "list() continues correctly after keys are added": async (s) => {
    for (const k of ["p/1", "p/2", "p/3", "p/5", "p/6"]) {
      await s.put(k, enc.encode(k));
    }
    const first = await s.list("p/");
    assert.deepEqual(first.keys, ["p/1", "p/2", "p/3"]);
    await s.put("p/4", enc.encode("late"));
    const second = await s.list("p/", first.next);
    assert.deepEqual(second.keys, ["p/4", "p/5", "p/6"]);
  },
  "delete() removes, and deleting a missing key is fine": async (s) => {
    await s.put("d/1", enc.encode("x"));
    await s.put("d/2", enc.encode("y"));
    await s.delete("d/1");
    await s.delete("d/1");
    await s.delete("never/was");
    assert.equal(await s.get("d/1"), undefined);
    assert.equal(await s.head("d/1"), undefined);
    assert.deepEqual(await listAll(s, "d/"), ["d/2"]);
  },
  "keys with a file and a folder of the same name coexist": async (s) => {
    await s.put("x", enc.encode("file"));
    await s.put("x/y", enc.encode("child"));
    assert.deepEqual(await s.get("x"), enc.encode("file"));
    assert.deepEqual(await s.get("x/y"), enc.encode("child"));
    assert.deepEqual(await listAll(s, "x"), ["x", "x/y"]);
  },
  "unusual but valid key characters round-trip": async (s) => {
    const keys = ["sp ace", "pct%41", "uni/é/日本", "dots/a.b..c", "q?&=#+"];
    for (const k of keys) await s.put(k, enc.encode(k));
    for (const k of keys) assert.deepEqual(await s.get(k), enc.encode(k));
    assert.deepEqual(await listAll(s, ""), [...keys].sort());
  },
  "invalid keys are rejected as bad_request": async (s) => {
    for (const k of ["", "../x", "a/../b", "/abs", "a//b", "a/", ".", "a\\b"]) {
      await assert.rejects(
        s.put(k, new Uint8Array(1)),
        (e) => e instanceof StreamError && e.kind === "bad_request",
        `key ${JSON.stringify(k)}`,
      );
    }
  },
  "concurrent puts and gets of many keys all land": async (s) => {
    const keys = Array.from({ length: 24 }, (_, i) => `c/${i % 3}/${i}`);
    await Promise.all(keys.map((k) => s.put(k, enc.encode(k))));
    const got = await Promise.all(keys.map((k) => s.get(k)));
    got.forEach((g, i) => assert.deepEqual(g, enc.encode(keys[i])));
    assert.deepEqual(await listAll(s, "c/"), [...keys].sort());
  },
  "a 1 MiB object round-trips": async (s) => {
    const bytes = new Uint8Array(2 ** 20);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = i >> 12;
    await s.put("big", bytes);
    assert.deepEqual(await s.get("big"), bytes);
    assert.deepEqual(
      await s.getRange("big", 2 ** 20 - 4096, 4096),
      bytes.slice(2 ** 20 - 4096),
    );
  },
};

/**
 * Registers one `Deno.test` per contract case; `makeStore` must return a
 * fresh, empty store listing `listPageKeysMax` keys per page.
 */
export function objectStoreContract(
  name: string,
  makeStore: (listPageKeysMax: number) => Promise<StoreFixture>,
  options: { ignore?: boolean } = {},
): void {
  for (const [title, run] of Object.entries(cases)) {
    Deno.test({
      name: `${name}: ${title}`,
      ignore: options.ignore ?? false,
      fn: async () => {
        const fixture = await makeStore(LIST_PAGE_KEYS);
        try {
          await run(fixture.store);
        } finally {
          await fixture.close();
        }
      },
    });
  }
}
