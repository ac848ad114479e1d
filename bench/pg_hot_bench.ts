/**
 * @module
 * One hot stream written through two nodes on one PostgreSQL
 * (`--postgres-multi-node`), next to many idle streams: what a stale
 * commit (a node planning from a tail the other node has moved) costs.
 * Runs a pair of nodes per server tree (`--base` names a second tree's
 * `main.ts`, to compare before and after in one run), alternates measured
 * phases between the pairs, and reports per acknowledged append: the
 * transactions PostgreSQL rolled back (each stale commit is one), the rows
 * PostgreSQL read from the pair's tables (`seq_tup_read + idx_tup_fetch`,
 * measured after a pause; the idle pair's polls count too), and each node's
 * CPU from
 * `/proc/PID/stat`.
 *
 * ```sh
 * deno run -A bench/pg_hot_bench.ts [--idle 1000] [--writers 8] \
 *   [--phase-ms 4000] [--rounds 2] [--base /path/to/other/main.ts]
 * ```
 *
 * With `HOT_BENCH_TABLES=1` it also prints PostgreSQL's per-table scan
 * counters of both pairs at the end.
 */

import { parseArgs } from "node:util";
import { serverCpuUs } from "./_load_server_cpu.ts";
import type { PgTestCluster } from "../src/storage/_pg_testing.ts";
import {
  type BenchNode,
  postgresArgs,
  startNode,
  stopNode,
  withPgCluster,
} from "./_pg.ts";

const HERE = new URL("../main.ts", import.meta.url).pathname;

async function put(url: string): Promise<void> {
  const res = await fetch(url, {
    method: "PUT",
    headers: { "content-type": "application/json" },
  });
  await res.body?.cancel();
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`create ${url}: ${res.status}`);
  }
}

/** Rolled-back transactions, and rows read from `schema`'s tables. */
async function pgStats(
  cluster: PgTestCluster,
  schema: string,
): Promise<number[]> {
  const out = await cluster.psql(
    `SELECT (SELECT sum(xact_rollback) FROM pg_stat_database) || ' ' ||
       (SELECT coalesce(sum(seq_tup_read), 0) + coalesce(sum(idx_tup_fetch), 0)
          FROM pg_stat_user_tables WHERE schemaname = '${schema}')`,
  );
  return out.trim().split(" ").map(Number);
}

interface Totals {
  appends: number;
  errors: number;
  rollbacks: number;
  rows: number;
  cpuUs: [number, number];
  ms: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      idle: { type: "string", default: "1000" },
      writers: { type: "string", default: "8" },
      "phase-ms": { type: "string", default: "4000" },
      rounds: { type: "string", default: "2" },
      base: { type: "string" },
    },
  });
  const idle = Number(values.idle);
  const writers = Number(values.writers);
  const phaseMs = Number(values["phase-ms"]);
  const rounds = Number(values.rounds);
  const trees: [string, string][] = values.base === undefined
    ? [["this tree", HERE]]
    : [["base", values.base], ["this tree", HERE]];
  await withPgCluster((cluster) =>
    measurePairs(cluster, trees, { idle, writers, phaseMs, rounds })
  );
}

/** Starts a pair of nodes per tree, then runs and reports the phases. */
async function measurePairs(
  cluster: PgTestCluster,
  trees: [string, string][],
  { idle, writers, phaseMs, rounds }: {
    idle: number;
    writers: number;
    phaseMs: number;
    rounds: number;
  },
): Promise<void> {
  const pairs: {
    label: string;
    schema: string;
    nodes: BenchNode[];
    totals: Totals;
  }[] = [];
  const errorSamples = new Set<string>();
  try {
    for (const [i, [label, main]] of trees.entries()) {
      const args = postgresArgs(cluster, {
        schema: `hot${i}`,
        multiNode: true,
      });
      const nodes = [await startNode(args, main), await startNode(args, main)];
      for (let s = 0; s < idle; s += 50) {
        await Promise.all(
          Array.from(
            { length: Math.min(50, idle - s) },
            (_, j) => put(`${nodes[0].url}/v1/stream/idle-${s + j}`),
          ),
        );
      }
      await put(`${nodes[0].url}/v1/stream/hot`);
      pairs.push({
        label,
        schema: `hot${i}`,
        nodes,
        totals: {
          appends: 0,
          errors: 0,
          rollbacks: 0,
          rows: 0,
          cpuUs: [0, 0],
          ms: 0,
        },
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const loadStart = Deno.loadavg()[0];
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? pairs : [...pairs].reverse();
      for (const pair of order) {
        const t = pair.totals;
        const cpu0 = pair.nodes.map((n) => serverCpuUs(n.child.pid) ?? 0);
        const [rb0, rows0] = await pgStats(cluster, pair.schema);
        const start = performance.now();
        const until = start + phaseMs;
        await Promise.all(
          Array.from({ length: writers }, async (_, w) => {
            const node = pair.nodes[w % 2];
            let i = 0;
            while (performance.now() < until) {
              const res = await fetch(`${node.url}/v1/stream/hot`, {
                method: "POST",
                headers: { "content-type": "application/json" },
                body: JSON.stringify({ w, i: i++ }),
              });
              const text = await res.text();
              if (res.status === 204) t.appends++;
              else {
                t.errors++;
                errorSamples.add(`${res.status} ${text.slice(0, 160)}`);
              }
            }
          }),
        );
        t.ms += performance.now() - start;
        // Table statistics reach the views within a second.
        await new Promise((resolve) => setTimeout(resolve, 1500));
        const [rb1, rows1] = await pgStats(cluster, pair.schema);
        t.rollbacks += rb1 - rb0;
        t.rows += rows1 - rows0;
        pair.nodes.forEach((n, k) => {
          t.cpuUs[k] += (serverCpuUs(n.child.pid) ?? 0) - cpu0[k];
        });
      }
    }
    console.log(
      `hot stream through 2 nodes, ${idle} idle streams, ${writers} writers, ` +
        `${rounds} x ${phaseMs} ms per tree (alternating); Deno ${Deno.version.deno}, ` +
        `${navigator.hardwareConcurrency} CPUs, 1-min load ${
          loadStart.toFixed(1)
        } at start, ${Deno.loadavg()[0].toFixed(1)} at end`,
    );
    console.log(
      "| tree | appends/s | errors | rollbacks/append | PG rows read/append | CPU µs/append node A | node B |",
    );
    console.log("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const sample of errorSamples) console.log(`error: ${sample}`);
    if (Deno.env.get("HOT_BENCH_TABLES") !== undefined) {
      console.log(
        await cluster.psql(
          `SELECT schemaname, relname, seq_scan, seq_tup_read, idx_scan, idx_tup_fetch
             FROM pg_stat_user_tables WHERE schemaname LIKE 'hot%' ORDER BY 1, 2`,
        ),
      );
    }
    for (const { label, totals: t } of pairs) {
      const per = (x: number) => (x / Math.max(1, t.appends));
      console.log(
        `| ${label} | ${
          (t.appends / (t.ms / 1000)).toFixed(0)
        } | ${t.errors} | ${per(t.rollbacks).toFixed(2)} | ${
          per(t.rows).toFixed(0)
        } | ${per(t.cpuUs[0]).toFixed(0)} | ${per(t.cpuUs[1]).toFixed(0)} |`,
      );
    }
  } finally {
    for (const { nodes } of pairs) {
      for (const node of nodes) await stopNode(node);
    }
  }
}

if (import.meta.main) await main();
