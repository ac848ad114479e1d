/**
 * @module
 * Benchmarks of the touch core (src/touch/): the processor step turning
 * batches of 500 inserts into touches (fine mode, one template of three
 * fields, two fine keys and a table key per change), and the same plus
 * queueing into the journal and flushing a generation.
 * Run: deno bench -A bench/touch_bench.ts (results in bench/README.md).
 */

import { validateTouch } from "../src/profiles/_touch_options.ts";
import { TouchJournal } from "../src/touch/journal.ts";
import { KeyHasher } from "../src/touch/keys.ts";
import {
  type Change,
  initialState,
  journalOptions,
  processBatch,
  processorOptions,
} from "../src/touch/processor.ts";

const BATCH = 500;
const hasher = await KeyHasher.create();
const touch = validateTouch({
  enabled: true,
  fineTouchBudgetPerBatch: 1_000_000,
  fineBurstTokens: 1_000_000_000,
  fineTokensPerSecond: 1_000_000_000,
});
if (!touch.ok) throw touch.error;
const opts = processorOptions(touch.value);
const template = {
  ...hasher.template("public.todos", [
    { name: "status", encoding: "string" },
    { name: "tenantId", encoding: "string" },
    { name: "userId", encoding: "string" },
  ]),
  activeFromSeq: 0,
};
const templates = new Map([["public.todos", [template]]]);

let seq = 0;
function batch(): Change[] {
  const out: Change[] = [];
  for (let i = 0; i < BATCH; i++, seq++) {
    out.push({
      seq,
      entity: "public.todos",
      op: "insert",
      before: null,
      after: { status: "open", tenantId: `t${seq % 100}`, userId: `u${seq}` },
    });
  }
  return out;
}

let state = initialState(opts, 0);
let now = 0;

Deno.bench(`touch processor: ${BATCH} inserts to touches`, () => {
  const out = processBatch(hasher, opts, state, {
    changes: batch(),
    nowMs: now++,
    lagRecords: 0,
    activeWaiters: 1,
    templates,
  });
  state = out.state;
});

const journal = new TouchJournal(journalOptions(touch.value), () => now);
Deno.bench(`touch processor + journal: ${BATCH} inserts, one flush`, () => {
  const out = processBatch(hasher, opts, state, {
    changes: batch(),
    nowMs: now++,
    lagRecords: 0,
    activeWaiters: 1,
    templates,
  });
  state = out.state;
  for (const t of out.touches) journal.touch(t.keyId, t.key);
  journal.flush();
});
