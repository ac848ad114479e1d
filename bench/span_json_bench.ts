/**
 * @module
 * Framing canonical span records as stored JSON messages: `JSON.stringify`
 * plus one UTF-8 encode (the generic framing) against the byte writer
 * and the canonical span writer of `_span_json_writer.ts` (an experiment the
 * server does not use), on the 512 spans of `otlp_bench.ts`. The
 * variants alternate round by round in one process; each round's process
 * CPU time (user + system, `process.cpuUsage()`) per span is kept, and the
 * median and the fastest round of each are printed, with the ratio of the
 * medians to `JSON.stringify`.
 *
 * ```sh
 * deno run -A bench/span_json_bench.ts [rounds] [batches per round]
 * ```
 */

import process from "node:process";
import { BATCH, protobufBody, spanJson } from "./otlp_bench.ts";
import { otelTracesProfile } from "../src/profiles/otel_traces.ts";
import { readTraceRequest } from "../src/profiles/otlp/span_reader.ts";
import { frameJsonValues } from "../src/protocol/json.ts";
import { frameCanonicalSpans, scratchWriter } from "./_span_json_writer.ts";
import type { JsonObject } from "../src/profiles/profile.ts";

const encoder = new TextEncoder();

/** The framing before the writer: one string per record, encoded into one buffer. */
function stringifyFrame(values: readonly unknown[]): Uint8Array {
  const texts = values.map((v) => JSON.stringify(v) + ",");
  let units = 0;
  for (const t of texts) units += t.length;
  const bytes = new Uint8Array(units * 3);
  let at = 0;
  for (const t of texts) {
    at += encoder.encodeInto(t, bytes.subarray(at)).written;
  }
  return bytes.slice(0, at);
}

function genericWriter(values: readonly unknown[]): Uint8Array {
  const w = scratchWriter();
  for (const v of values) {
    w.value(v);
    w.byte(0x2c);
  }
  return w.take();
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
  const rounds = Number(Deno.args[0] ?? 30);
  const perRound = Number(Deno.args[1] ?? 20);
  const options = otelTracesProfile.validate({ kind: "otel-traces" });
  if (!options.ok) throw new Error(options.error.message);
  const proto = protobufBody(
    Array.from({ length: BATCH }, (_, i) => spanJson(i)),
  );
  const batch = readTraceRequest(proto, options.value);
  if (!batch.ok) throw new Error(batch.error.message);
  const values = batch.value.records.map((r) => r.value as JsonObject);
  const expected = new TextDecoder().decode(stringifyFrame(values));
  const variants: [string, () => unknown][] = [
    ["JSON.stringify + encodeInto", () => stringifyFrame(values)],
    ["frameJsonValues()", () => frameJsonValues(values)],
    ["generic byte writer", () => genericWriter(values)],
    ["canonical span writer", () => frameCanonicalSpans(values)],
  ];
  const check = new TextDecoder().decode(frameCanonicalSpans(values).bytes);
  if (check !== expected) throw new Error("span writer output differs");
  const samples = variants.map(() => [] as number[]);
  for (let round = 0; round < rounds + 3; round++) {
    for (let v = 0; v < variants.length; v++) {
      const index = (v + round) % variants.length;
      const started = cpuUs();
      for (let i = 0; i < perRound; i++) variants[index][1]();
      const us = (cpuUs() - started) / perRound / BATCH;
      if (round >= 3) samples[index].push(us); // the first rounds warm up
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
  const base = median(samples[0]);
  console.log(
    `${BATCH} spans, ${
      expected.length / BATCH
    } bytes each; ${rounds} rounds of ${perRound} batches (load ${
      Deno.loadavg()[0].toFixed(1)
    })`,
  );
  console.log(
    "variant                      median cpu µs/span  fastest  vs stringify",
  );
  for (let v = 0; v < variants.length; v++) {
    const m = median(samples[v]);
    console.log(
      `${variants[v][0].padEnd(28)} ${m.toFixed(2).padStart(18)} ${
        Math.min(...samples[v]).toFixed(2).padStart(8)
      } ${(m / base).toFixed(2).padStart(12)}x`,
    );
  }
}

if (import.meta.main) await main();
