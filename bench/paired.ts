/**
 * @module
 * Paired load runs: the load benchmark against servers started from two or
 * more checkouts (or the floor server, or the reference server), alternated
 * round by round (ABBA order) with a fresh server and data directory per run.
 * Prints, per scenario and metric, each server's median and the median of the
 * per-round ratios to the first server. On a shared machine only ratios within
 * one such run mean anything; server CPU per append (from `/proc`) is the
 * steadiest figure.
 *
 * ```sh
 * deno run -A bench/paired.ts --tree old=/path/to/old/checkout --tree new=. \
 *   --rounds 4 --only append-json-1,single-append --server-arg=--durability --server-arg=os
 * ```
 */

import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LOAD_FLAGS, LOAD_USAGE, loadOptionsFrom } from "./_load_args.ts";
import {
  type ServerCommand,
  type ServerProcess,
  startServer,
  streambedCommand,
} from "./_load_process.ts";
import { formatNumber, renderTable } from "./_load_report.ts";
import { type LoadReport, logProgress, runLoad } from "./load.ts";

const USAGE =
  `Usage: deno run -A bench/paired.ts --tree NAME=WHERE --tree NAME=WHERE [flags]
  --tree NAME=WHERE      a server to measure (repeatable, 2 or more; the first is the
                         baseline of the ratios). WHERE is a checkout directory (its
                         main.ts is started), "floor" (bench/floor_server.ts) or
                         "reference" (@durable-streams/server in memory, under Deno);
                         words after WHERE are extra main.ts arguments of that
                         server only ("lean=. --object-store none")
  --rounds N             rounds; each runs every server once, order alternating (default 4)
  --server-arg=ARG       extra argument for every main.ts (repeatable)
  --json                 also print every run's report as JSON
Load flags (passed through, except --url and --server-pid): see below.
${LOAD_USAGE}`;

const HERE = fileURLToPath(new URL("..", import.meta.url));
const START_TIMEOUT_MS = 120_000;

interface Tree {
  name: string;
  where: string;
  /** Extra main.ts arguments of this server only. */
  args: string[];
}

function parseTrees(specs: readonly string[]): Tree[] {
  const trees = specs.map((spec) => {
    const at = spec.indexOf("=");
    if (at <= 0 || at === spec.length - 1) {
      throw new Error(`Invalid --tree "${spec}": expected NAME=WHERE`);
    }
    const [where, ...args] = spec.slice(at + 1).trim().split(/\s+/);
    return { name: spec.slice(0, at), where, args };
  });
  if (trees.length < 2) throw new Error("Give at least two --tree flags");
  return trees;
}

function commandFor(
  tree: Tree,
  dataDir: string,
  serverArgs: string[],
): ServerCommand {
  const deno = Deno.execPath();
  if (tree.where === "floor") {
    return {
      name: tree.name,
      command: deno,
      args: ["run", "-A", "bench/floor_server.ts", "--port", "0"],
      cwd: HERE,
      startTimeoutMs: START_TIMEOUT_MS,
    };
  }
  if (tree.where === "reference") {
    return {
      name: tree.name,
      command: deno,
      args: [
        "run",
        "-A",
        "--no-lock",
        "--quiet",
        "bench/_load_reference_server.ts",
        "--port",
        "0",
      ],
      cwd: HERE,
      startTimeoutMs: START_TIMEOUT_MS,
    };
  }
  return {
    ...streambedCommand(
      tree.where,
      dataDir,
      [...serverArgs, ...tree.args],
      START_TIMEOUT_MS,
    ),
    name: tree.name,
  };
}

/** One figure of one run: `values[tree][round]`. */
type Figures = Map<string, Map<string, (number | null)[]>>;

const METRICS = [
  ["rate", (r: LoadReport["results"][number]) => r.rate],
  ["p50 ms", (r: LoadReport["results"][number]) => r.p50Ms],
  ["p99 ms", (r: LoadReport["results"][number]) => r.p99Ms],
  [
    "server CPU us",
    (r: LoadReport["results"][number]) => r.serverCpuUsPerOp ?? null,
  ],
] as const;

async function runOne(
  tree: Tree,
  serverArgs: string[],
  load: Record<string, string | boolean | string[] | undefined>,
): Promise<LoadReport> {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-paired-" });
  let server: ServerProcess | null = null;
  try {
    server = await startServer(commandFor(tree, dataDir, serverArgs));
    return await runLoad(
      loadOptionsFrom({
        ...load,
        url: server.url,
        "server-pid": String(server.pid),
      }),
      (line) => logProgress(`${tree.name}: ${line}`),
    );
  } finally {
    await server?.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? sorted[mid]
    : (sorted[mid - 1] + sorted[mid]) / 2;
}

function record(
  figures: Figures,
  labels: Map<string, string>,
  tree: string,
  round: number,
  report: LoadReport,
): void {
  for (const row of report.results) {
    labels.set(row.id, `${row.label} (${row.rateUnit || "-"})`);
    for (const [metric, pick] of METRICS) {
      const key = `${row.id}\u0000${metric}`;
      let byTree = figures.get(key);
      if (byTree === undefined) figures.set(key, byTree = new Map());
      let values = byTree.get(tree);
      if (values === undefined) byTree.set(tree, values = []);
      values[round] = pick(row);
    }
  }
}

function render(
  figures: Figures,
  labels: Map<string, string>,
  trees: Tree[],
): string {
  const base = trees[0].name;
  const rows: string[][] = [];
  for (const [key, byTree] of figures) {
    const [id, metric] = key.split("\u0000");
    const baseValues = byTree.get(base) ?? [];
    if (!baseValues.some((v) => v !== null && v !== undefined)) continue;
    const cells = [labels.get(id) ?? id, metric];
    for (const tree of trees) {
      const values = (byTree.get(tree.name) ?? []).filter((v): v is number =>
        typeof v === "number"
      );
      cells.push(formatNumber(median(values)));
    }
    for (const tree of trees.slice(1)) {
      const mine = byTree.get(tree.name) ?? [];
      const ratios: number[] = [];
      baseValues.forEach((b, round) => {
        const v = mine[round];
        if (typeof b === "number" && typeof v === "number" && b > 0 && v > 0) {
          ratios.push(v / b);
        }
      });
      const ratio = median(ratios);
      cells.push(
        ratio === null
          ? "-"
          : `${ratio.toFixed(2)} (${Math.min(...ratios).toFixed(2)}-${
            Math.max(...ratios).toFixed(2)
          })`,
      );
    }
    rows.push(cells);
  }
  return renderTable([
    "scenario",
    "metric",
    ...trees.map((t) => `${t.name} median`),
    ...trees.slice(1).map((t) => `${t.name}/${base} paired (range)`),
  ], rows);
}

async function main(): Promise<void> {
  if (Deno.args.includes("--help")) return console.log(USAGE);
  const { url: _u, "server-pid": _p, ...loadFlags } = LOAD_FLAGS;
  const { values } = parseArgs({
    args: Deno.args[0] === "--" ? Deno.args.slice(1) : [...Deno.args],
    options: {
      ...loadFlags,
      tree: { type: "string", multiple: true },
      rounds: { type: "string", default: "4" },
      "server-arg": { type: "string", multiple: true },
    },
    strict: true,
  });
  const trees = parseTrees(values.tree ?? []);
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100) {
    throw new Error(`Invalid --rounds "${values.rounds}"`);
  }
  const { tree: _t, rounds: _r, "server-arg": serverArgs, ...load } = values;
  loadOptionsFrom({ ...load, url: "http://127.0.0.1:1" });
  const figures: Figures = new Map();
  const labels = new Map<string, string>();
  const reports: { tree: string; round: number; report: LoadReport }[] = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? trees : [...trees].reverse();
    for (const tree of order) {
      logProgress(`round ${round + 1}/${rounds}: ${tree.name}`);
      const report = await runOne(tree, serverArgs ?? [], load);
      record(figures, labels, tree.name, round, report);
      reports.push({ tree: tree.name, round, report });
    }
  }
  console.log(
    `Paired run: ${rounds} rounds, order alternating; load average ${
      Deno.loadavg()[0].toFixed(2)
    } at the end. Medians per server; ratios per round, then their median.`,
  );
  console.log(render(figures, labels, trees));
  if (values.json === true) console.log(JSON.stringify(reports));
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`paired: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
