/**
 * `LiveStream` on a stand-in record source and a manual clock: a bucket on
 * a quiet stream flushes at once (the first wake after a commit does not
 * wait `bucketMs`), later ones at most every `bucketMs`.
 */

import assert from "node:assert/strict";
import { ok } from "../errors.ts";
import { createLogger } from "../log.ts";
import { validateTouch } from "../profiles/_touch_options.ts";
import { MemoryLiveTemplateStore } from "../storage/live_template_store.ts";
import { KeyHasher } from "../touch/keys.ts";
import { LiveStream } from "./live_stream.ts";

const enc = new TextEncoder();

/** Stored JSON messages, each followed by a comma, and their positions. */
class Source {
  bytes = new Uint8Array(0);
  append(records: unknown[]): void {
    const text = records.map((r) => JSON.stringify(r) + ",").join("");
    const next = new Uint8Array(this.bytes.length + text.length);
    next.set(this.bytes);
    next.set(enc.encode(text), this.bytes.length);
    this.bytes = next;
  }
}

const change = (id: number) => ({
  type: "public.todos",
  key: String(id),
  value: { id },
  headers: { operation: "insert" },
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.ok(cond());
}

Deno.test("LiveStream flushes a quiet stream's bucket at once, then at most every bucketMs", async () => {
  const touch = validateTouch({ enabled: true, memory: { bucketMs: 1000 } });
  if (!touch.ok) throw touch.error;
  const source = new Source();
  const clock = { now: 1_000_000 };
  const live = new LiveStream({
    hasher: await KeyHasher.create(),
    touch: touch.value,
    streamId: 1,
    name: "s",
    startPos: 0,
    read: (pos) =>
      Promise.resolve(ok({
        startPos: pos,
        nextPos: source.bytes.length,
        data: source.bytes.subarray(pos),
      })),
    tailPos: () => source.bytes.length,
    store: new MemoryLiveTemplateStore(),
    log: createLogger("error"),
    clock: () => clock.now,
  });
  try {
    source.append([change(1)]);
    live.kick();
    // The clock never moved: the first bucket did not wait for bucketMs.
    await until(() => live.journal.generation === 1);
    clock.now += 10;
    source.append([change(2)]);
    live.kick();
    await until(() => live.meta().changesTotal === 2);
    assert.equal(live.journal.generation, 1, "the next waits for bucketMs");
    clock.now += 1000;
    await until(() => live.journal.generation === 2);
  } finally {
    live.close();
  }
});
