import assert from "node:assert/strict";
import { openSqliteSubscriptionStore } from "../storage/subscription_store.ts";
import { FakeStreams, openTestManager, pullWake } from "./_testing.ts";

Deno.test("a pattern links existing streams at their tails and new ones at 0", async () => {
  const t = await openTestManager();
  try {
    t.streams.create("g/old", 7);
    t.streams.create("h/x", 1);
    assert.ok((await t.manager.put("s", pullWake([], "g/*"))).ok);
    t.streams.create("g/new", 5);
    const view = t.manager.get("s");
    assert.ok(view.ok);
    assert.deepEqual(view.value.links.map((l) => [l.path, l.ackedPos]), [
      ["g/new", 0],
      ["g/old", 7],
    ]);
  } finally {
    await t.close();
  }
});

Deno.test("a deleted stream drops its glob link and resets its explicit one", async () => {
  const t = await openTestManager();
  try {
    t.streams.create("g/a", 7);
    t.streams.create("x", 3);
    assert.ok((await t.manager.put("s", pullWake(["x"], "g/*"))).ok);
    t.streams.remove("g/a");
    t.streams.remove("x");
    const view = t.manager.get("s");
    assert.ok(view.ok);
    assert.deepEqual(view.value.links.map((l) => [l.path, l.ackedPos]), [
      ["x", 0],
    ]);
    assert.deepEqual(
      t.store.load().links.map((l) => [l.path, l.ackedPos]),
      [["x", 0]],
    );
  } finally {
    await t.close();
  }
});

Deno.test("a pattern stops linking at linksMax", async () => {
  const t = await openTestManager({ config: { linksMax: 2 } });
  try {
    for (const name of ["g/1", "g/2", "g/3"]) t.streams.create(name);
    assert.ok((await t.manager.put("s", pullWake([], "g/*"))).ok);
    t.streams.create("g/4");
    const view = t.manager.get("s");
    assert.ok(view.ok);
    assert.deepEqual(view.value.links.map((l) => l.path), ["g/1", "g/2"]);
  } finally {
    await t.close();
  }
});

Deno.test("after a restart, shrunk streams restart at 0 and missed matches are linked at 0", async () => {
  const store = openSqliteSubscriptionStore(":memory:", "os");
  try {
    const streams = new FakeStreams();
    streams.create("x", 10);
    let t = await openTestManager({ store, streams });
    assert.ok((await t.manager.put("s", pullWake(["x"], "g/*"))).ok);
    await t.close();
    // While it was down: x was recreated shorter, g/1 appeared unseen.
    const later = new FakeStreams();
    later.create("x", 4);
    later.create("g/1", 9);
    t = await openTestManager({ store, streams: later });
    const view = t.manager.get("s");
    assert.ok(view.ok);
    assert.deepEqual(view.value.links.map((l) => [l.path, l.ackedPos]), [
      ["g/1", 0],
      ["x", 0],
    ]);
    await t.close();
  } finally {
    store.close();
  }
});

Deno.test("after a restart, every pattern is matched in one walk over the streams, not one walk per subscription", async () => {
  const store = openSqliteSubscriptionStore(":memory:", "os");
  try {
    let t = await openTestManager({ store });
    for (let i = 0; i < 20; i++) {
      assert.ok((await t.manager.put(`any-${i}`, pullWake([], "*/7"))).ok);
    }
    for (let i = 0; i < 10; i++) {
      assert.ok((await t.manager.put(`a-${i}`, pullWake([], "a/*"))).ok);
    }
    assert.ok((await t.manager.put("ab", pullWake([], "a/b/**"))).ok);
    await t.close();
    const later = new FakeStreams();
    for (let i = 0; i < 300; i++) {
      later.create(`a/${i}`, 1);
      later.create(`b/${i}`, 1);
    }
    later.create("a/b/c", 1);
    t = await openTestManager({ store, streams: later });
    try {
      // One walk lists each of the 601 streams once; a walk per
      // subscription listed 20 * 601 + 10 * 301 + 1.
      assert.equal(later.listed, 601);
      const paths = (id: string) => {
        const view = t.manager.get(id);
        assert.ok(view.ok);
        return view.value.links.map((l) => l.path);
      };
      assert.deepEqual(paths("any-19"), ["a/7", "b/7"]);
      assert.equal(paths("a-3").length, 300);
      assert.deepEqual(paths("ab"), ["a/b/c"]);
    } finally {
      await t.close();
    }
  } finally {
    store.close();
  }
});
