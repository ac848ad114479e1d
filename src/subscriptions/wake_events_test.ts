import assert from "node:assert/strict";
import { ok } from "../errors.ts";
import { createLogger } from "../log.ts";
import { WakeEventQueue } from "./wake_events.ts";

Deno.test("WakeEventQueue appends in order and drops events past its limit", async () => {
  const written: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const queue = new WakeEventQueue(
    async (name, request) => {
      await gate;
      written.push(`${name}:${new TextDecoder().decode(request.body)}`);
      return ok({
        kind: "accepted",
        nextPos: 0,
        closed: false,
        producer: undefined,
        producerNew: false,
      });
    },
    2,
    createLogger("error"),
  );
  const event = (generation: number) => ({
    type: "wake" as const,
    subscription_id: "s",
    stream: "x",
    generation,
    ts: 1,
  });
  assert.equal(queue.push("w", event(1)), true);
  assert.equal(queue.push("w", event(2)), true);
  assert.equal(
    queue.push("w", event(3)),
    false,
    "the third exceeds the limit of 2",
  );
  release();
  while (written.length < 2) await new Promise((r) => setTimeout(r, 1));
  assert.deepEqual(written.map((w) => JSON.parse(w.slice(2)).generation), [
    1,
    2,
  ]);
  await queue.close();
  assert.equal(queue.push("w", event(4)), false);
});
