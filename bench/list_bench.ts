/**
 * @module
 * `GET /v1/streams` paging cost at 100k and 1M live streams, in process:
 * the first page after one create, with the name spliced into the sorted
 * copy (`StreamsByName`, now) against sorting every name again (before);
 * the first page after 1,000 creates (merged into the copy); and a page
 * with no create since the last.
 *
 *   deno run -A bench/list_bench.ts [--n 100000,1000000] [--rounds 20]
 */

import { parseArgs } from "node:util";
import { streamRow } from "../src/storage/_contract.ts";
import { StreamsByName, StreamState } from "../src/engine/stream_state.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "100000,1000000" },
    rounds: { type: "string", default: "20" },
  },
});
const rounds = Number(values.rounds);

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

for (const n of values.n.split(",").map(Number)) {
  const map = new StreamsByName();
  const state = new StreamState(streamRow(1, "x"), undefined, false);
  for (let i = 0; i < n; i++) map.set(`user/${i}/events`, state);
  [...map.namesFrom("", undefined)].length; // the first sort
  const merged: number[] = [];
  const resorted: number[] = [];
  const page = (after: string) => {
    const out: string[] = [];
    for (const name of map.namesFrom("", after)) {
      if (out.push(name) === 1000) break;
    }
    return out;
  };
  for (let r = 0; r < rounds; r++) {
    map.set(`user/new${r}/events`, state);
    let t = performance.now();
    page(`user/${r * 997}`);
    merged.push(performance.now() - t);
    t = performance.now();
    [...map.keys()].sort(); // what every such page cost before
    resorted.push(performance.now() - t);
  }
  const many: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < 1000; i++) map.set(`user/many${r}-${i}/events`, state);
    const t = performance.now();
    page(`user/${r * 997}`);
    many.push(performance.now() - t);
  }
  const warm: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t = performance.now();
    page(`user/${r * 997}`);
    warm.push(performance.now() - t);
  }
  console.log(JSON.stringify({
    streams: n,
    pageAfterCreateMs: Math.round(median(merged) * 100) / 100,
    pageAfterCreateBeforeMs: Math.round(median(resorted) * 100) / 100,
    pageAfter1000CreatesMs: Math.round(median(many) * 100) / 100,
    pageNoCreateMs: Math.round(median(warm) * 100) / 100,
  }));
}
