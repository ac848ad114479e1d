/**
 * @module
 * One reader process of `--reader-processes` (see _load_live_processes.ts).
 * Its argument is a `ChildSpec` as JSON. Not meant to be run by hand.
 */

import { startReadersHere } from "./_load_live.ts";
import type { ChildResult, ChildSpec } from "./_load_live_processes.ts";

const spec = JSON.parse(Deno.args[0]) as ChildSpec;
const target = { baseUrl: spec.baseUrl, runId: "", client: spec.client };
const group = startReadersHere(
  target,
  spec.url,
  spec.startOffset,
  spec.mode,
  spec.count,
  spec,
);
await group.ready();
console.log("ready");
group.drained(spec.count * spec.iterations, 600_000).then(() =>
  console.log("done")
);
await waitForStop();
const { readers, stats } = await group.collect();
const result: ChildResult = {
  origin: performance.timeOrigin,
  seen: readers.map((r) =>
    Array.from(r.seenMs, (ms) => Number.isNaN(ms) ? null : ms)
  ),
  stats,
};
console.log(`result ${JSON.stringify(result)}`);
Deno.exit(0);

async function waitForStop(): Promise<void> {
  let text = "";
  for await (const chunk of Deno.stdin.readable) {
    text += new TextDecoder().decode(chunk);
    if (text.includes("stop")) return;
  }
}
