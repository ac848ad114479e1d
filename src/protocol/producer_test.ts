import assert from "node:assert/strict";
import fc from "fast-check";
import { decideProducer, type ProducerState } from "./producer.ts";

Deno.test("decideProducer() accepts a new producer only at seq 0", () => {
  assert.deepEqual(decideProducer(undefined, 3, 0), {
    kind: "accept",
    next: { epoch: 3, seq: 0 },
  });
  assert.deepEqual(decideProducer(undefined, 0, 2), {
    kind: "gap",
    expectedSeq: 0,
    receivedSeq: 2,
  });
});

Deno.test("decideProducer() orders epochs then seqs", () => {
  const state = { epoch: 2, seq: 5 };
  assert.deepEqual(decideProducer(state, 1, 6), {
    kind: "stale_epoch",
    currentEpoch: 2,
  });
  assert.deepEqual(decideProducer(state, 3, 1), {
    kind: "new_epoch_seq_not_zero",
  });
  assert.deepEqual(decideProducer(state, 3, 0), {
    kind: "accept",
    next: { epoch: 3, seq: 0 },
  });
  assert.equal(decideProducer(state, 2, 5).kind, "duplicate");
  assert.equal(decideProducer(state, 2, 0).kind, "duplicate");
  assert.deepEqual(decideProducer(state, 2, 6), {
    kind: "accept",
    next: { epoch: 2, seq: 6 },
  });
  assert.deepEqual(decideProducer(state, 2, 8), {
    kind: "gap",
    expectedSeq: 6,
    receivedSeq: 8,
  });
});

Deno.test("decideProducer() accepts each seq exactly once under retries (property)", () => {
  // A producer sends seqs 0..n-1, each possibly retried; exactly n accepts.
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 50 }),
      (tries) => {
        let state: ProducerState | undefined;
        let accepted = 0;
        tries.forEach((count, seq) => {
          for (let i = 0; i < count; i++) {
            const decision = decideProducer(state, 0, seq);
            if (decision.kind === "accept") {
              state = decision.next;
              accepted++;
            } else if (decision.kind !== "duplicate") return;
          }
        });
        return accepted === tries.length && state?.seq === tries.length - 1;
      },
    ),
  );
});
