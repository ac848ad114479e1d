/**
 * @module
 * One to three Streambed nodes on one PostgreSQL (`--postgres-multi-node`):
 * appends per second to distinct streams (each node driven by its own load
 * process, `append-json-64`, the writers split over the nodes), and per
 * node the requests per commit, server CPU per append (`/proc/PID/stat`),
 * plus PostgreSQL's committed transactions per flush
 * (`pg_stat_database.xact_commit`). Starts a throwaway PostgreSQL cluster
 * (fsync on). Needs Debian's `postgresql` package.
 *
 * ```sh
 * deno run -A bench/pg_nodes_bench.ts [--duration-ms 5000] [--writers 16] [--nodes 3]
 * ```
 */

import { parseArgs } from "node:util";
import type { LoadReport } from "./load.ts";
import { serverCpuUs } from "./_load_server_cpu.ts";
import {
  type BenchNode,
  postgresArgs,
  startNode,
  stopNode,
  withPgCluster,
} from "./_pg.ts";

const LOAD = new URL("./load.ts", import.meta.url).pathname;

async function writer(
  url: string,
): Promise<{ commits: number; requests: number }> {
  const body = await (await fetch(`${url}/health`)).json();
  return { commits: body.writer.commits, requests: body.writer.requests };
}

interface Row {
  nodes: number;
  rate: number;
  perNodeRate: number[];
  requestsPerCommit: number;
  cpuUsPerAppend: (number | null)[];
  pgXactsPerFlush: number;
  pgXactsPerS: number;
  errors: number;
}

async function measure(
  count: number,
  args: string[],
  writers: number,
  durationMs: string,
  xacts: () => Promise<number>,
): Promise<Row> {
  const nodes: BenchNode[] = [];
  try {
    for (let i = 0; i < count; i++) nodes.push(await startNode(args));
    const before = await Promise.all(nodes.map((n) => writer(n.url)));
    const cpuBefore = nodes.map((n) => serverCpuUs(n.child.pid));
    const xactBefore = await xacts();
    const startedAt = performance.now();
    const reports = await Promise.all(nodes.map(async (n, i) => {
      const share = Math.floor(writers / count) +
        (i < writers % count ? 1 : 0);
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          LOAD,
          "--url",
          n.url,
          "--json",
          "--duration-ms",
          durationMs,
          "--writers",
          String(share),
          "--only",
          "append-json-64",
        ],
        stdout: "piped",
        stderr: "null",
      }).output();
      const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
      return JSON.parse(lines[lines.length - 1]) as LoadReport;
    }));
    const seconds = (performance.now() - startedAt) / 1000;
    const xactAfter = await xacts();
    const cpuAfter = nodes.map((n) => serverCpuUs(n.child.pid));
    const after = await Promise.all(nodes.map((n) => writer(n.url)));
    const rates = reports.map((r) =>
      r.results.find((x) => x.id === "append-json-64")?.rate ?? 0
    );
    let commits = 0;
    let requests = 0;
    const cpu = nodes.map((_, i) => {
      const c = after[i].commits - before[i].commits;
      const q = after[i].requests - before[i].requests;
      commits += c;
      requests += q;
      const b = cpuBefore[i];
      const a = cpuAfter[i];
      return b === null || a === null || q === 0 ? null : (a - b) / q;
    });
    return {
      nodes: count,
      rate: rates.reduce((x, y) => x + y, 0),
      perNodeRate: rates,
      requestsPerCommit: commits === 0 ? 0 : requests / commits,
      cpuUsPerAppend: cpu,
      pgXactsPerFlush: commits === 0 ? 0 : (xactAfter - xactBefore) / commits,
      pgXactsPerS: (xactAfter - xactBefore) / seconds,
      errors: reports.reduce(
        (n, r) => n + r.results.reduce((m, x) => m + x.errors, 0),
        0,
      ),
    };
  } finally {
    for (const node of nodes) await stopNode(node);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "duration-ms": { type: "string", default: "5000" },
      writers: { type: "string", default: "16" },
      nodes: { type: "string", default: "3" },
    },
  });
  await withPgCluster(async (cluster) => {
    const xacts = async () =>
      Number(
        (await cluster.psql(
          "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
        )).trim(),
      );
    const loadStart = Deno.loadavg()[0];
    const rows: Row[] = [];
    for (let n = 1; n <= Number(values.nodes); n++) {
      rows.push(
        await measure(
          n,
          postgresArgs(cluster, { schema: `nodes${n}`, multiNode: true }),
          Number(values.writers),
          values["duration-ms"]!,
          xacts,
        ),
      );
    }
    console.log(
      `1..${values.nodes} nodes on one PostgreSQL, ${values.writers} writers in all, append-json-64, ${
        values["duration-ms"]
      } ms; Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs, ` +
        `1-min load ${loadStart.toFixed(2)} at start, ${
          Deno.loadavg()[0].toFixed(2)
        } at end`,
    );
    console.log(
      "| nodes | appends/s (per node) | requests/commit | CPU µs/append per node | PG xacts/flush | PG xacts/s | errors |",
    );
    console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (const r of rows) {
      const cpu = r.cpuUsPerAppend.map((x) => x === null ? "-" : x.toFixed(0))
        .join(" / ");
      console.log(
        `| ${r.nodes} | ${r.rate.toFixed(0)} (${
          r.perNodeRate.map((x) => x.toFixed(0)).join(" / ")
        }) | ${r.requestsPerCommit.toFixed(1)} | ${cpu} | ${
          r.pgXactsPerFlush.toFixed(2)
        } | ${r.pgXactsPerS.toFixed(0)} | ${r.errors} |`,
      );
    }
  });
}

if (import.meta.main) await main();
