/**
 * @module
 * Prints the JS heap bytes one idle `StreamState` holds (its own fields,
 * boxed numbers and anything it does not share with other streams), after
 * full GCs. Run with `--v8-flags=--expose-gc`; `stream_state_test.ts`
 * spawns it and checks the figure against a bound.
 */

import { StreamState } from "./stream_state.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error("run with --v8-flags=--expose-gc");
const n = 20_000;
const now = Date.now();

function heap(): number {
  gc!();
  gc!();
  return Deno.memoryUsage().heapUsed;
}

const names = Array.from({ length: n }, (_, i) => `s/${i}`);
const base = heap();
const states: StreamState[] = [];
for (let i = 0; i < n; i++) {
  const row = {
    id: i + 1,
    name: names[i],
    // Each row with its own copy, as rows read from a database come.
    contentType: ["application", "json"].join("/"),
    createdAtMs: now + i,
    accessedAtMs: now + i,
    ttlSeconds: null,
    expiresAtMs: null,
    tailPos: 100,
    closed: false,
    closedBy: null,
    streamSeq: null,
    forkedFrom: null,
    forkPos: null,
    softDeleted: false,
    lastTimeMs: now + i,
  };
  states.push(new StreamState(row, undefined, true));
}
const used = heap() - base;
// Uses `states` after measuring: else V8 may collect them before it.
console.log(
  JSON.stringify({
    bytesPerState: Math.round(used / n),
    states: states.length,
  }),
);
