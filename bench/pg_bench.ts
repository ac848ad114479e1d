/**
 * @module
 * Appends per second on the PostgreSQL WAL against the SQLite WAL, in the
 * same run: starts a throwaway PostgreSQL cluster (fsync on, like SQLite's
 * default durability), then for each backend a server process, and drives
 * each with the load benchmark's append scenarios (16 writers by default).
 * Also reads the writer's figures from `/health` (requests per commit,
 * time per commit). Needs Debian's `postgresql` package.
 *
 * ```sh
 * deno run -A bench/pg_bench.ts [--duration-ms 5000] [--writers 16]
 * ```
 */

import { parseArgs } from "node:util";
import type { LoadReport } from "./load.ts";
import { postgresArgs, startNode, stopNode, withPgCluster } from "./_pg.ts";

const LOAD = new URL("./load.ts", import.meta.url).pathname;

interface Row {
  backend: string;
  scenario: string;
  rate: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
  errors: number;
  batchAvg: number;
  commitMsAvg: number;
}

async function health(
  url: string,
): Promise<{ commits: number; requests: number; commitMs: number }> {
  const body = await (await fetch(`${url}/health`)).json();
  return {
    commits: body.writer.commits,
    requests: body.writer.requests,
    commitMs: body.writer.commitMsAvg * body.writer.commits,
  };
}

async function measure(
  backend: string,
  args: string[],
  loadArgs: string[],
): Promise<Row[]> {
  const server = await startNode(args);
  try {
    const before = await health(server.url);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", LOAD, "--url", server.url, "--json", ...loadArgs],
      stdout: "piped",
      stderr: "null",
    }).output();
    const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
    const report = JSON.parse(lines[lines.length - 1]) as LoadReport;
    const after = await health(server.url);
    const commits = after.commits - before.commits;
    const requests = after.requests - before.requests;
    return report.results.map((r) => ({
      backend,
      scenario: r.id,
      rate: r.rate,
      p50Ms: r.p50Ms,
      p99Ms: r.p99Ms,
      errors: r.errors,
      // Over the whole run of this backend (all its scenarios).
      batchAvg: commits === 0 ? 0 : requests / commits,
      commitMsAvg: commits === 0
        ? 0
        : (after.commitMs - before.commitMs) / commits,
    }));
  } finally {
    await stopNode(server);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "duration-ms": { type: "string", default: "5000" },
      writers: { type: "string", default: "16" },
      only: { type: "string", default: "append-json-1,append-json-64" },
    },
  });
  const loadArgs = [
    "--duration-ms",
    values["duration-ms"]!,
    "--writers",
    values.writers!,
    "--only",
    values.only!,
  ];
  await withPgCluster(async (cluster) => {
    const loadStart = Deno.loadavg()[0];
    const rows = [
      ...await measure("sqlite", [], loadArgs),
      ...await measure("postgres", postgresArgs(cluster), loadArgs),
    ];
    console.log(
      `PostgreSQL vs SQLite WAL, ${values.writers} writers, ${
        values["duration-ms"]
      } ms per scenario; Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs, ` +
        `1-min load ${loadStart.toFixed(2)} at start, ${
          Deno.loadavg()[0].toFixed(2)
        } at end`,
    );
    console.log(
      "| backend | scenario | appends/s | p50 ms | p99 ms | errors | requests/commit | ms/commit |",
    );
    console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    const fmt = (n: number | null, digits = 1) =>
      n === null ? "-" : n.toFixed(digits);
    for (const r of rows) {
      console.log(
        `| ${r.backend} | ${r.scenario} | ${fmt(r.rate, 0)} | ${
          fmt(r.p50Ms, 2)
        } | ${fmt(r.p99Ms, 2)} | ${r.errors} | ${fmt(r.batchAvg)} | ${
          fmt(r.commitMsAvg, 2)
        } |`,
      );
    }
    for (const scenario of new Set(rows.map((r) => r.scenario))) {
      const sqlite = rows.find((r) =>
        r.backend === "sqlite" && r.scenario === scenario
      );
      const pg = rows.find((r) =>
        r.backend === "postgres" && r.scenario === scenario
      );
      if (sqlite?.rate && pg?.rate) {
        console.log(
          `${scenario}: postgres/sqlite = ${
            (pg.rate / sqlite.rate).toFixed(2)
          }`,
        );
      }
    }
  });
}

if (import.meta.main) await main();
