/**
 * @module
 * Appends to a JSON stream with a 10-field schema against the same stream
 * without one: 16 writers, 100-byte JSON objects, one Streambed server
 * process, scenarios interleaved in one run so the ratio is fair. Optionally
 * also with a routing-key pointer in the registry (`--routing-key`). Prints
 * appends/s per round and the schema/plain ratio.
 *
 * ```sh
 * deno run -A bench/schema_bench.ts --duration-ms 4000 --rounds 3
 * ```
 */

import { parseArgs } from "node:util";
import { runAppendScenario } from "./_load_append.ts";
import { makeTarget } from "./_load_client.ts";
import { startServer, streambedCommand } from "./_load_process.ts";

const REPO_ROOT = new URL("..", import.meta.url).pathname;
const CLOCK_TICKS_PER_S = 100; // Linux USER_HZ

/** CPU seconds the process `pid` has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}
const FIELDS = [
  "id",
  "kind",
  "user",
  "qty",
  "price",
  "ok",
  "region",
  "ts",
  "ver",
  "note",
];

/** A 100-byte object with ten fields (`note` pads it to size). */
function body(writer: number, seq: number): string {
  const value = {
    id: `w${writer}-${seq}`,
    kind: "order",
    user: writer,
    qty: seq % 7,
    price: 12.5,
    ok: true,
    region: "eu",
    ts: "2026-12-01T10:00:00Z",
    ver: 1,
    note: "",
  };
  const base = JSON.stringify(value).length;
  value.note = "x".repeat(Math.max(0, 100 - base));
  return JSON.stringify(value);
}

const SCHEMA = {
  type: "object",
  additionalProperties: false,
  required: FIELDS,
  properties: {
    id: { type: "string", minLength: 1 },
    kind: { enum: ["order", "refund"] },
    user: { type: "integer", minimum: 0 },
    qty: { type: "integer", minimum: 0 },
    price: { type: "number" },
    ok: { type: "boolean" },
    region: { type: "string", maxLength: 8 },
    ts: { type: "string", format: "date-time" },
    ver: { type: "integer" },
    note: { type: "string" },
  },
};

async function installSchema(url: string, routingKey: boolean): Promise<void> {
  const update: Record<string, unknown> = { schema: SCHEMA };
  if (routingKey) update.routingKey = { jsonPointer: "/id", required: true };
  const response = await fetch(`${url}/_schema`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(update),
  });
  const text = await response.text();
  if (response.status !== 200) {
    throw new Error(`_schema: ${response.status} ${text}`);
  }
}

interface Row {
  round: number;
  plain: number;
  schema: number;
  plainUs: number;
  schemaUs: number;
}

function printTable(rows: readonly Row[]): void {
  const mean = (k: keyof Row) =>
    rows.reduce((n, r) => n + r[k], 0) / rows.length;
  const line = (label: string, r: Omit<Row, "round">) =>
    `| ${label} | ${r.plain.toFixed(0)} | ${r.schema.toFixed(0)} | ${
      (r.schema / r.plain).toFixed(2)
    }x | ${r.plainUs.toFixed(1)} | ${r.schemaUs.toFixed(1)} | ${
      (r.plainUs / r.schemaUs).toFixed(2)
    }x |`;
  console.log(
    "| round | no schema: appends/s | schema: appends/s | ratio | no schema: server µs/append | schema: server µs/append | plain/schema CPU |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) console.log(line(String(r.round), r));
  console.log(line("mean", {
    plain: mean("plain"),
    schema: mean("schema"),
    plainUs: mean("plainUs"),
    schemaUs: mean("schemaUs"),
  }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "duration-ms": { type: "string", default: "3000" },
      "warmup-ms": { type: "string", default: "500" },
      rounds: { type: "string", default: "3" },
      writers: { type: "string", default: "16" },
      "routing-key": { type: "boolean", default: false },
      "streambed-arg": { type: "string", multiple: true, default: [] },
    },
  });
  const timing = {
    durationMs: Number(values["duration-ms"]),
    warmupMs: Number(values["warmup-ms"]),
    serverPid: null, // this script reads the server's CPU itself
  };
  const writers = Number(values.writers);
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-schema-bench-" });
  const server = await startServer(
    streambedCommand(REPO_ROOT, dataDir, values["streambed-arg"] ?? [], 30_000),
  );
  try {
    const target = makeTarget(server.url, "raw");
    const rows: Row[] = [];
    for (let round = 0; round < Number(values.rounds); round++) {
      const rate = async (withSchema: boolean) => {
        const cpuBefore = cpuSeconds(server.pid);
        const result = await runAppendScenario(target, {
          id: `${withSchema ? "schema" : "plain"}-${round}`,
          label: withSchema ? "10-field schema" : "no schema",
          contentType: "application/json",
          streamCount: 1,
          writers,
          makeBody: body,
          prepare: withSchema
            ? (urls) => installSchema(urls[0], values["routing-key"]!)
            : undefined,
        }, timing);
        if (result.errors > 0) throw new Error(`${result.id}: ${result.notes}`);
        // Server CPU per append over warm-up and measurement together: what
        // decides throughput once the server is CPU-bound, and far steadier
        // than appends/s on a shared machine.
        const cpuUs = (cpuSeconds(server.pid) - cpuBefore) * 1e6;
        const appends = result.samples *
          (1 + timing.warmupMs / timing.durationMs);
        return { rate: result.rate ?? 0, us: cpuUs / appends };
      };
      // Alternate which goes first, so drift does not favour one side.
      const first = round % 2 === 0;
      const a = await rate(!first);
      const b = await rate(first);
      const [plain, schema] = first ? [a, b] : [b, a];
      rows.push({
        round,
        plain: plain.rate,
        schema: schema.rate,
        plainUs: plain.us,
        schemaUs: schema.us,
      });
      console.error(
        `round ${round}: plain ${plain.rate.toFixed(0)}/s ${
          plain.us.toFixed(1)
        } µs, schema ${schema.rate.toFixed(0)}/s ${schema.us.toFixed(1)} µs`,
      );
    }
    printTable(rows);
    console.log(
      `machine: ${navigator.hardwareConcurrency} CPUs, load ${
        Deno.loadavg()[0].toFixed(2)
      }, Deno ${Deno.version.deno}`,
    );
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

if (import.meta.main) await main();
