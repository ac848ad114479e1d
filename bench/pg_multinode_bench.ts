/**
 * @module
 * Cross-node delivery latency: two Streambed processes on one PostgreSQL
 * schema (`--postgres-multi-node`), a long-poll reader on node B parked at
 * the tail, an append through node A; measures the time from A's
 * acknowledgement (and from the send) to B's answer, over many trials.
 * Starts a throwaway PostgreSQL cluster (fsync on). Needs Debian's
 * `postgresql` package.
 *
 * ```sh
 * deno run -A bench/pg_multinode_bench.ts [--trials 200] [--server path/to/main.ts]
 * ```
 *
 * `--server` runs another checkout's `main.ts` (to compare two versions in
 * one run, alternating).
 */

import { parseArgs } from "node:util";
import type { PgTestCluster } from "../src/storage/_pg_testing.ts";
import { postgresArgs, startNode, stopNode, withPgCluster } from "./_pg.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function waiting(url: string): Promise<number> {
  return (await (await fetch(`${url}/health`)).json()).waiting;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      trials: { type: "string", default: "200" },
      server: { type: "string", default: MAIN },
    },
  });
  await withPgCluster((cluster) =>
    measure(cluster, values.server, Number(values.trials))
  );
}

/** Runs `trials` deliveries between two nodes of `server` and reports them. */
async function measure(
  cluster: PgTestCluster,
  server: string,
  trials: number,
): Promise<void> {
  const args = [
    ...postgresArgs(cluster, { multiNode: true }),
    "--long-poll-timeout-ms",
    "30000",
  ];
  const a = await startNode(args, server);
  const b = await startNode(args, server);
  try {
    const path = "/v1/stream/bench";
    const created = await fetch(a.url + path, {
      method: "PUT",
      headers: { "content-type": "application/json" },
    });
    await created.body?.cancel();
    const fromAck: number[] = [];
    const fromSend: number[] = [];
    const loadStart = Deno.loadavg()[0];
    for (let i = 0; i < trials; i++) {
      const head = await fetch(b.url + path, { method: "HEAD" });
      const offset = head.headers.get("stream-next-offset")!;
      let deliveredAt = 0;
      const poll = fetch(`${b.url}${path}?offset=${offset}&live=long-poll`)
        .then(async (r) => {
          const text = await r.text();
          deliveredAt = performance.now();
          if (r.status !== 200) throw new Error(`long-poll ${r.status}`);
          return text;
        });
      while (await waiting(b.url) < 1) {
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
      const sentAt = performance.now();
      const appended = await fetch(a.url + path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ i }),
      });
      await appended.body?.cancel();
      const ackAt = performance.now();
      const text = await poll;
      if (!text.includes(`"i":${i}`)) throw new Error(`wrong data: ${text}`);
      fromAck.push(Math.max(0, deliveredAt - ackAt));
      fromSend.push(deliveredAt - sentAt);
    }
    fromAck.sort((x, y) => x - y);
    fromSend.sort((x, y) => x - y);
    const fmt = (n: number) => n.toFixed(2);
    console.log(
      `cross-node long-poll delivery, ${server}, ${trials} trials; Deno ${Deno.version.deno}, ` +
        `${navigator.hardwareConcurrency} CPUs, 1-min load ${
          loadStart.toFixed(2)
        } at start, ${Deno.loadavg()[0].toFixed(2)} at end`,
    );
    console.log("| measured from | p50 ms | p99 ms | max ms |");
    console.log("| --- | ---: | ---: | ---: |");
    for (
      const [label, xs] of [["A's ack", fromAck], [
        "send to A",
        fromSend,
      ]] as const
    ) {
      console.log(
        `| ${label} | ${fmt(percentile(xs, 0.5))} | ${
          fmt(percentile(xs, 0.99))
        } | ${fmt(xs[xs.length - 1])} |`,
      );
    }
  } finally {
    await stopNode(a);
    await stopNode(b);
  }
}

if (import.meta.main) await main();
