/**
 * @module
 * The OTLP ingest route's CPU, piece by piece, in one process: protobuf
 * decoding, conversion to canonical span records, framing them as JSON
 * messages, and the schema check the engine runs on them; then the whole
 * route's work by the protobufjs message path and by the reader path. One batch of 512
 * spans (the one `otlp_bench.ts` sends), µs per span for each piece, in
 * wall time and in the process's CPU time (GC threads included).
 *
 * ```sh
 * deno run -A bench/otlp_pieces.ts
 * ```
 */

import process from "node:process";
import { BATCH, protobufBody, spanJson } from "./otlp_bench.ts";
import { decodeOtlpBody } from "../src/profiles/otlp/body.ts";
import {
  exportToSpans,
  otelTracesProfile,
} from "../src/profiles/otel_traces.ts";
import { readTraceRequest } from "../src/profiles/otlp/span_reader.ts";
import { frameJsonValues } from "../src/protocol/json.ts";
import { compileSchema, validateElements } from "../src/schema/validate.ts";

const options = otelTracesProfile.validate({ kind: "otel-traces" });
if (!options.ok) throw new Error(options.error.message);
const proto = protobufBody(
  Array.from({ length: BATCH }, (_, i) => spanJson(i)),
);
const gz = new Uint8Array(
  await new Response(
    new Blob([proto as BlobPart]).stream().pipeThrough(
      new CompressionStream("gzip"),
    ),
  ).arrayBuffer(),
);
const registry = otelTracesProfile.canonicalRegistry(options.value);
const schema = compileSchema(registry!.schema);
if (!schema.ok) throw new Error(schema.error.message);
const limits = options.value.otlpLimits;
const headers = {
  contentType: "application/x-protobuf",
  contentEncoding: null,
};
const gzHeaders = { ...headers, contentEncoding: "gzip" };

async function time(label: string, rounds: number, fn: () => unknown) {
  for (let i = 0; i < 5; i++) await fn();
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await fn();
  const cpu = process.cpuUsage(cpuStarted);
  const us = (performance.now() - started) * 1000 / rounds / BATCH;
  const cpuUs = (cpu.user + cpu.system) / rounds / BATCH;
  console.log(
    `${label.padEnd(28)} ${us.toFixed(2)} µs/span, process CPU ${
      cpuUs.toFixed(2)
    } µs/span`,
  );
}

const decoded = await decodeOtlpBody(headers, proto, limits);
if (!decoded.ok) throw new Error(decoded.error.message);
const batch = exportToSpans(decoded.value.request, options.value);
if (!batch.ok) throw new Error(batch.error.message);
const values = batch.value.records.map((r) => r.value);
const rounds = Number(Deno.args[0] ?? 40);
await time(
  "gunzip + decode",
  rounds,
  () => decodeOtlpBody(gzHeaders, gz, limits),
);
await time("decode", rounds, () => decodeOtlpBody(headers, proto, limits));
await time(
  "canonical records",
  rounds,
  () => exportToSpans(decoded.value.request, options.value),
);
await time(
  "read (protobuf to records)",
  rounds,
  () => readTraceRequest(proto, options.value),
);
await time("frame (JSON.stringify)", rounds, () => frameJsonValues(values));
await time(
  "schema check",
  rounds,
  () => validateElements(schema.value, values),
);
await time("all, message path", rounds, async () => {
  const d = await decodeOtlpBody(headers, proto, limits);
  if (!d.ok) throw new Error(d.error.message);
  const b = exportToSpans(d.value.request, options.value);
  if (!b.ok) throw new Error(b.error.message);
  const v = b.value.records.map((r) => r.value);
  frameJsonValues(v);
  validateElements(schema.value, v);
});
await time("all, reader path", rounds, () => {
  const b = readTraceRequest(proto, options.value);
  if (!b.ok) throw new Error(b.error.message);
  const v = b.value.records.map((r) => r.value);
  frameJsonValues(v);
  validateElements(schema.value, v);
});
