import assert from "node:assert/strict";
import {
  type JournalOptions,
  parseCursor,
  randomEpoch,
  TouchJournal,
} from "./journal.ts";

const OPTS: JournalOptions = {
  bucketMs: 100,
  filterPow2: 22,
  k: 4,
  pendingMaxKeys: 100_000,
  hotKeyTtlMs: 10_000,
  hotTemplateTtlMs: 10_000,
  hotMaxKeys: 1_000_000,
  hotMaxTemplates: 4096,
};

function setup(opts: Partial<JournalOptions> = {}) {
  const clock = { now: 1_000 };
  const journal = new TouchJournal(
    { ...OPTS, ...opts },
    () => clock.now,
    "00000000000000aa",
  );
  return { clock, journal };
}

const ids = (...n: number[]) => Uint32Array.from(n);

Deno.test("touch journal: cursor format, parse, stale epoch, clamp ahead", () => {
  const { journal } = setup();
  assert.equal(journal.cursor(), "00000000000000aa:0");
  assert.match(randomEpoch(), /^[0-9a-f]{16}$/);
  assert.notEqual(randomEpoch(), randomEpoch());
  for (
    const bad of [
      "abc",
      "00000000000000aa",
      "0000000000000AAA:1",
      "x:1",
      "00000000000000aa:-1",
      "00000000000000aa:1.5",
    ]
  ) {
    assert.equal(parseCursor(bad), null, bad);
  }
  const c = parseCursor("00000000000000aa:7")!;
  assert.deepEqual(c, { epoch: "00000000000000aa", generation: 7 });
  assert.deepEqual(journal.checkCursor(c), { kind: "ok", generation: 0 });
  assert.deepEqual(
    journal.checkCursor({ epoch: "00000000000000bb", generation: 0 }),
    { kind: "stale" },
  );
  // A restarted journal has a new epoch: old cursors are stale.
  const again = new TouchJournal(OPTS, () => 0);
  assert.deepEqual(again.checkCursor(c), { kind: "stale" });
});

Deno.test("touch journal: flush makes a generation; waits match touches after their cursor", () => {
  const { clock, journal } = setup();
  assert.equal(journal.flush(), null);
  journal.touch(5, null);
  journal.touch(5, null);
  assert.equal(journal.pendingKeys, 1);
  assert.equal(journal.flushDue(), false);
  clock.now += 100;
  assert.equal(journal.flushDue(), true);
  const info = journal.flush()!;
  assert.deepEqual(info, {
    generation: 1,
    keys: 1,
    overflow: false,
    bucketStartMs: 1_000,
    flushAtMs: 1_100,
    touched: new Map([[5, null]]),
  });
  assert.equal(journal.pendingKeys, 0);
  assert.equal(journal.matches({ generation: 0, keyIds: ids(5) }), true);
  assert.equal(journal.matches({ generation: 1, keyIds: ids(5) }), false);
  assert.equal(journal.matches({ generation: 0, keyIds: ids(6) }), false);
  journal.touch(6);
  journal.flush();
  assert.equal(journal.matches({ generation: 1, keyIds: ids(5, 6) }), true);
  assert.equal(journal.matches({ generation: 1, keyIds: ids(5) }), false);
});

Deno.test("touch journal: pending overflow wakes every waiter, pending stays bounded", () => {
  const { journal } = setup({ pendingMaxKeys: 3 });
  for (let i = 0; i < 10; i++) journal.touch(i);
  assert.equal(journal.pendingKeys, 3);
  const info = journal.flush()!;
  assert.equal(info.overflow, true);
  assert.equal(journal.overflowBuckets, 1);
  assert.equal(journal.matches({ generation: 0, keyIds: ids(999) }), true);
  assert.equal(journal.matches({ generation: 1, keyIds: ids(999) }), false);
});

Deno.test("touch journal: exact lane matches full keys, falls back past its window", () => {
  const { clock, journal } = setup();
  journal.touch(0x5778dc36, "39accd125778dc36");
  journal.flush();
  // Same key id, other full key: the key-id path over-reports, exact does not.
  const sameId = "ffffffff5778dc36";
  assert.equal(
    journal.matches({ generation: 0, keyIds: ids(0x5778dc36) }),
    true,
  );
  assert.equal(
    journal.matches({
      generation: 0,
      keyIds: ids(0x5778dc36),
      exactKeys: [sameId],
    }),
    false,
  );
  assert.equal(
    journal.matches({
      generation: 0,
      keyIds: ids(0x5778dc36),
      exactKeys: ["39accd125778dc36"],
    }),
    true,
  );
  // After the lane window the old generation is gone: fall back to key ids.
  clock.now += 20_000;
  journal.touch(1, "0000000000000001");
  journal.flush();
  assert.equal(
    journal.matches({
      generation: 0,
      keyIds: ids(0x5778dc36),
      exactKeys: [sameId],
    }),
    true,
  );
  // A touch without a full key also ends exact matching before it.
  journal.touch(2, null);
  journal.flush();
  assert.equal(
    journal.matches({
      generation: 2,
      keyIds: ids(2),
      exactKeys: ["0000000000000009"],
    }),
    true,
  );
});

Deno.test("touch journal: the table starts small and grows without losing touches", () => {
  const { journal } = setup({ filterPow2: 20, k: 2 });
  assert.equal(journal.filterSlots, 1 << 18);
  const touched: number[] = [];
  for (let g = 0; g < 8; g++) {
    for (let i = 0; i < 40_000; i++) {
      const id = Math.imul(g * 40_000 + i, 2654435761) >>> 0;
      journal.touch(id);
      if (i % 997 === 0) touched.push(id);
    }
    journal.flush();
  }
  assert.equal(journal.filterSlots, 1 << 20);
  for (const id of touched) {
    assert.equal(journal.matches({ generation: 0, keyIds: ids(id) }), true);
  }
});

Deno.test("touch journal: hot keys and templates expire and respect their caps", () => {
  const { clock, journal } = setup({ hotMaxKeys: 2, hotKeyTtlMs: 50 });
  journal.noteKeys([1, 2, 3]);
  assert.equal(journal.isHotKey(1), true);
  assert.equal(journal.isHotKey(3), false);
  assert.deepEqual(journal.hotCounts(), { keys: 2, templates: 0 });
  journal.noteTemplates(["ddd2330fdab379da"]);
  assert.equal(journal.isHotTemplate("ddd2330fdab379da"), true);
  clock.now += 51;
  assert.equal(journal.isHotKey(1), false);
  journal.noteKeys([3]);
  assert.equal(journal.isHotKey(3), true);
  assert.equal(journal.isHotTemplate("ddd2330fdab379da"), true);
  clock.now += 10_000;
  assert.deepEqual(journal.hotCounts(), { keys: 0, templates: 0 });
});

Deno.test("touch journal: random touches never miss (key-id path vs a model)", () => {
  const { journal } = setup({ filterPow2: 10, k: 3 });
  const last = new Map<number, number>();
  let seed = 42;
  const rnd = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let g = 1; g <= 200; g++) {
    for (let i = 0; i < 20; i++) {
      const id = rnd(5000);
      journal.touch(id);
      last.set(id, g);
    }
    journal.flush();
  }
  for (const [id, gen] of last) {
    assert.equal(
      journal.matches({ generation: gen - 1, keyIds: ids(id) }),
      true,
    );
  }
});
