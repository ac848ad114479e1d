import assert from "node:assert/strict";
import fc from "fast-check";
import { streamRow } from "../storage/_contract.ts";
import { StreamsByName, StreamState } from "./stream_state.ts";

function stateNamed(name: string, id: number): StreamState {
  return new StreamState(streamRow(id, name), undefined, false);
}

Deno.test("StreamsByName.namesFrom matches filtering and sorting every name, across adds and removes", () => {
  const name = fc.stringMatching(/^[ab/é]{0,4}$/);
  const step = fc.oneof(
    fc.record({ add: name }),
    fc.record({ remove: name }),
    fc.record({ prefix: name, after: fc.option(name, { nil: undefined }) }),
  );
  fc.assert(fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
    const map = new StreamsByName();
    let id = 1;
    for (const s of steps) {
      if ("add" in s) map.set(s.add, stateNamed(s.add, id++));
      else if ("remove" in s) map.delete(s.remove);
      else {
        const expected = [...map.keys()]
          .filter((n) =>
            n.startsWith(s.prefix) && (s.after === undefined || n > s.after)
          )
          .sort();
        assert.deepEqual([...map.namesFrom(s.prefix, s.after)], expected);
      }
    }
  }));
});

Deno.test("StreamsByName keeps its sorted names when a name is replaced, and drops them on clear", () => {
  const map = new StreamsByName();
  map.set("b", stateNamed("b", 1));
  map.set("a", stateNamed("a", 2));
  assert.deepEqual([...map.namesFrom("", undefined)], ["a", "b"]);
  const replacement = stateNamed("a", 3);
  map.set("a", replacement);
  assert.deepEqual([...map.namesFrom("", "a")], ["b"]);
  assert.equal(map.get("a"), replacement);
  map.clear();
  assert.deepEqual([...map.namesFrom("", undefined)], []);
});

Deno.test("StreamsByName splices or merges the names changed since the last page instead of sorting every name", () => {
  const map = new StreamsByName();
  for (let i = 0; i < 1000; i++) map.set(`n/${i}`, stateNamed(`n/${i}`, i + 1));
  assert.equal([...map.namesFrom("", undefined)].length, 1000);
  map.set("n/0a", stateNamed("n/0a", 2000));
  map.delete("n/5");
  const sorted: number[] = [];
  const sort = Array.prototype.sort;
  Array.prototype.sort = function (this: unknown[], ...args) {
    sorted.push(this.length);
    return sort.apply(this, args as []);
  };
  let page: string[];
  try {
    page = [...map.namesFrom("n/", "n/0")].slice(0, 3);
  } finally {
    Array.prototype.sort = sort;
  }
  assert.deepEqual(page, ["n/0a", "n/1", "n/10"]);
  assert.deepEqual(sorted, []); // a few changes: spliced in, nothing sorted
  assert.equal([...map.namesFrom("", undefined)].length, 1000);
  // Many changes at once are merged: the same order as sorting every name.
  for (let i = 0; i < 200; i++) {
    map.set(`m/${i}`, stateNamed(`m/${i}`, 3000 + i));
  }
  for (let i = 0; i < 100; i++) map.delete(`n/${i * 3}`);
  map.set("n/3", stateNamed("n/3", 4000));
  assert.deepEqual(
    [...map.namesFrom("", undefined)],
    [...map.keys()].sort(),
  );
});

Deno.test("waiters and producers: added, removed, woken and cleared on demand", () => {
  const state = stateNamed("w", 1);
  assert.equal(state.waiters.size, 0);
  const woken: number[] = [];
  const a = () => woken.push(1);
  const b = () => woken.push(2);
  state.addWaiter(a);
  state.addWaiter(b);
  state.removeWaiter(a);
  state.removeWaiter(a); // twice: harmless
  assert.equal(state.waiters.size, 1);
  state.wakeAll();
  assert.deepEqual(woken, [2]);
  assert.equal(state.waiters.size, 0);
  state.wakeAll(); // nobody waits
  state.removeWaiter(b); // already woken
  assert.deepEqual(woken, [2]);

  state.producers.set("p", { epoch: 1, seq: 3 });
  assert.deepEqual(state.producers.get("p"), { epoch: 1, seq: 3 });
  state.unloadProducers();
  assert.equal(state.producersLoaded, false);
  assert.equal(state.producers.size, 0);
  state.loadProducers([
    { streamId: 1, producerId: "q", epoch: 2, seq: 5, updatedAtMs: 0 },
  ]);
  assert.equal(state.producersLoaded, true);
  assert.deepEqual([...state.producers], [["q", { epoch: 2, seq: 5 }]]);
});

Deno.test("an idle StreamState holds its rarely changed fields in one shared default, and a set value reads back", () => {
  const state = new StreamState(
    streamRow(3, "a", { forkPos: 7, closedBy: null, streamSeq: "s9" }),
    undefined,
    true,
  );
  assert.equal(state.json, true);
  assert.equal(state.streamSeq, "s9");
  assert.equal(state.closedBy, null);
  assert.equal(state.compactedPos, 7);
  assert.equal(state.forkCount, 0);
  assert.equal(state.producersLoaded, false);
  assert.equal(state.lastRead, undefined);
  assert.equal(state.schema, null);
  for (
    const flag of [
      "closed",
      "visibleClosed",
      "visible",
      "softDeleted",
      "deleted",
    ] as const
  ) {
    assert.equal(state[flag], false, flag);
    state[flag] = true;
    assert.equal(state[flag], true, flag);
  }
  state.deleted = false;
  assert.deepEqual(
    [
      state.closed,
      state.visibleClosed,
      state.visible,
      state.softDeleted,
      state.deleted,
      state.json,
    ],
    [true, true, true, true, false, true],
  );
  state.closedBy = { producerId: "p", epoch: 1, seq: 2 };
  state.forkCount = 2;
  state.compactedPos = 9;
  state.streamSeq = null;
  assert.deepEqual(state.closedBy, { producerId: "p", epoch: 1, seq: 2 });
  assert.deepEqual([state.forkCount, state.compactedPos, state.streamSeq], [
    2,
    9,
    null,
  ]);
  assert.equal(state.toRow().closedBy?.seq, 2);
});

Deno.test("an idle StreamState stays under 240 bytes of heap, its content type shared with other streams", async () => {
  // In a child process: measuring needs `--expose-gc`.
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--v8-flags=--expose-gc",
      new URL("./_stream_state_heap.ts", import.meta.url).pathname,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(out.code, 0);
  const { bytesPerState } = JSON.parse(new TextDecoder().decode(out.stdout));
  // One field per property (8 bytes each), four boxed times (16 each) and a
  // content type string per stream came to about 370 bytes.
  assert.ok(bytesPerState < 240, `${bytesPerState} bytes per idle stream`);
});
