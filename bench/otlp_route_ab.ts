/**
 * @module
 * The OTLP route's in-process work (protobuf read into canonical records,
 * JSON framing, the canonical schema check) of this checkout against
 * another checkout's, loaded side by side in one process and alternated
 * round by round, so both see the same machine. Prints per piece the median
 * process CPU (user + system, GC threads included) per span of each tree
 * and the ratio; one batch of 512 spans (the one `otlp_bench.ts` sends).
 *
 * ```sh
 * deno run -A bench/otlp_route_ab.ts --base ../other-checkout [--rounds 30]
 * ```
 */

import process from "node:process";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { BATCH, protobufBody, spanJson } from "./otlp_bench.ts";

interface Tree {
  name: string;
  read: (bytes: Uint8Array, options: unknown) => {
    ok: boolean;
    value?: { records: { value: unknown }[] };
  };
  frame: (values: readonly unknown[]) => unknown;
  options: unknown;
  check: (values: readonly unknown[]) => unknown;
}

async function load(name: string, root: string): Promise<Tree> {
  const at = (path: string) => pathToFileURL(`${root}/${path}`).href;
  const reader = await import(at("src/profiles/otlp/span_reader.ts"));
  const json = await import(at("src/protocol/json.ts"));
  const otel = await import(at("src/profiles/otel_traces.ts"));
  const validate = await import(at("src/schema/validate.ts"));
  const options = otel.otelTracesProfile.validate({ kind: "otel-traces" });
  const registry = otel.otelTracesProfile.canonicalRegistry(options.value);
  const schema = validate.compileSchema(registry.schema);
  return {
    name,
    read: reader.readTraceRequest,
    frame: json.frameJsonValues,
    options: options.value,
    check: (values) => validate.validateElements(schema.value, values),
  };
}

function cpuUs(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

function median(list: number[]): number {
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    args: Deno.args,
    options: {
      base: { type: "string" },
      rounds: { type: "string", default: "30" },
      batches: { type: "string", default: "10" },
    },
  });
  if (args.base === undefined) throw new Error("--base CHECKOUT is required");
  const here = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const trees = [
    await load("base", Deno.realPathSync(args.base)),
    await load("this", here),
  ];
  const proto = protobufBody(
    Array.from({ length: BATCH }, (_, i) => spanJson(i)),
  );
  const pieces: [string, (t: Tree, records: unknown[]) => unknown][] = [
    ["read (protobuf to records)", (t) => t.read(proto, t.options)],
    ["frame the read records", (t, r) => t.frame(r)],
    ["schema check", (t, r) => t.check(r)],
    ["all three", (t) => {
      const batch = t.read(proto, t.options);
      const records = batch.value!.records.map((r) => r.value);
      t.frame(records);
      t.check(records);
    }],
  ];
  const records = trees.map((t) =>
    t.read(proto, t.options).value!.records.map((r) => r.value)
  );
  const samples = pieces.map(() => trees.map(() => [] as number[]));
  const perRound = Number(args.batches);
  for (let round = 0; round < Number(args.rounds) + 2; round++) {
    for (let p = 0; p < pieces.length; p++) {
      for (let k = 0; k < trees.length; k++) {
        const t = (k + round) % trees.length; // alternate who goes first
        const started = cpuUs();
        for (let i = 0; i < perRound; i++) pieces[p][1](trees[t], records[t]);
        if (round >= 2) {
          samples[p][t].push((cpuUs() - started) / perRound / BATCH);
        }
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  console.log(
    `process CPU µs/span, median of ${args.rounds} rounds of ${perRound} batches (load ${
      Deno.loadavg()[0].toFixed(1)
    })`,
  );
  console.log("| piece | base | this | this / base |");
  console.log("| --- | ---: | ---: | ---: |");
  for (let p = 0; p < pieces.length; p++) {
    const [base, mine] = samples[p].map(median);
    console.log(
      `| ${pieces[p][0]} | ${base.toFixed(2)} | ${mine.toFixed(2)} | ${
        (mine / base).toFixed(2)
      }x |`,
    );
  }
}

if (import.meta.main) await main();
