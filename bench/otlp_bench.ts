/**
 * @module
 * OTLP/HTTP trace ingest against plain JSON appends of the same spans, in
 * one server process and one run (scenarios alternate per round): batches
 * of 512 spans as protobuf, as gzip protobuf, and as a JSON array appended
 * to a generic stream. Prints spans/s and the server's CPU per span (from
 * /proc/PID/stat), and the OTLP/raw ratios.
 *
 * ```sh
 * deno run -A bench/otlp_bench.ts --duration-ms 4000 --rounds 3
 * ```
 */

import { parseArgs } from "node:util";
import protobuf from "protobufjs";
import { TRACE_PROTO_JSON } from "../src/profiles/otlp/trace_proto.generated.ts";
import { startServer, streambedCommand } from "./_load_process.ts";
import { serverCpuUs } from "./_load_server_cpu.ts";

const REPO_ROOT = new URL("..", import.meta.url).pathname;
export const BATCH = 512;

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** One span in the OTLP JSON mapping: HTTP server-ish, 8 attributes, one event. */
export function spanJson(i: number): Record<string, unknown> {
  const start = 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000n;
  return {
    traceId: hex(Math.floor(i / 8) + 1, 32),
    spanId: hex(i + 1, 16),
    parentSpanId: i % 8 === 0 ? "" : hex(i, 16),
    name: `GET /api/items/${i % 50}`,
    kind: 2,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(start + 2_500_000n),
    attributes: [
      { key: "http.request.method", value: { stringValue: "GET" } },
      { key: "http.route", value: { stringValue: "/api/items/:id" } },
      { key: "http.response.status_code", value: { intValue: "200" } },
      {
        key: "url.full",
        value: { stringValue: `https://shop.test/api/items/${i}?q=x` },
      },
      { key: "user_agent.original", value: { stringValue: "bench/1.0" } },
      { key: "server.address", value: { stringValue: "shop.test" } },
      { key: "request.id", value: { stringValue: `req-${i}` } },
      { key: "retry.count", value: { intValue: "0" } },
    ],
    events: [{
      timeUnixNano: String(start + 1_000_000n),
      name: "cache.miss",
      attributes: [{ key: "key", value: { stringValue: `item:${i}` } }],
    }],
    status: { code: 1 },
  };
}

export function exportRequest(spans: Record<string, unknown>[]) {
  return {
    resourceSpans: [{
      resource: {
        attributes: [
          { key: "service.name", value: { stringValue: "shop" } },
          { key: "service.version", value: { stringValue: "1.0.0" } },
          {
            key: "deployment.environment.name",
            value: { stringValue: "prod" },
          },
        ],
      },
      scopeSpans: [{ scope: { name: "bench", version: "1" }, spans }],
    }],
  };
}

export function protobufBody(spans: Record<string, unknown>[]): Uint8Array {
  const root = protobuf.Root.fromJSON(TRACE_PROTO_JSON as protobuf.INamespace);
  const type = root.lookupType(
    "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
  );
  const bytesOf = (h: string) =>
    Uint8Array.from((h.match(/../g) ?? []).map((b) => parseInt(b, 16)));
  const withBytes = spans.map((s) => ({
    ...s,
    traceId: bytesOf(s.traceId as string),
    spanId: bytesOf(s.spanId as string),
    parentSpanId: bytesOf(s.parentSpanId as string),
  }));
  return type.encode(type.fromObject(exportRequest(withBytes))).finish();
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

interface Scenario {
  label: string;
  url: string;
  headers: Record<string, string>;
  body: Uint8Array;
}

/** Sends `scenario`'s body from `senders` loops for `durationMs`; spans/s. */
async function run(
  scenario: Scenario,
  senders: number,
  durationMs: number,
): Promise<number> {
  let batches = 0;
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: senders }, async () => {
      while (performance.now() < deadline) {
        const response = await fetch(scenario.url, {
          method: "POST",
          headers: scenario.headers,
          body: scenario.body as BodyInit,
        });
        const text = await response.text();
        if (response.status !== 200 && response.status !== 204) {
          throw new Error(`${scenario.label}: ${response.status} ${text}`);
        }
        batches++;
      }
    }),
  );
  return (batches * BATCH) / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      "duration-ms": { type: "string", default: "3000" },
      rounds: { type: "string", default: "3" },
      senders: { type: "string", default: "4" },
      "streambed-arg": { type: "string", multiple: true, default: [] },
    },
  });
  const durationMs = Number(values["duration-ms"]);
  const senders = Number(values.senders);
  const spans = Array.from({ length: BATCH }, (_, i) => spanJson(i));
  const proto = protobufBody(spans);
  const protoGz = await gzip(proto);
  const raw = new TextEncoder().encode(JSON.stringify(spans));
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-otlp-bench-" });
  const server = await startServer(
    streambedCommand(REPO_ROOT, dataDir, values["streambed-arg"] ?? [], 30_000),
  );
  const json = { "content-type": "application/json" };
  try {
    const base = `${server.url}/v1/stream`;
    for (const name of ["otlp", "raw"]) {
      await (await fetch(`${base}/${name}`, { method: "PUT", headers: json }))
        .body?.cancel();
    }
    const installed = await fetch(`${base}/otlp/_profile`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ profile: { kind: "otel-traces" } }),
    });
    if (installed.status !== 200) throw new Error(await installed.text());
    await installed.body?.cancel();
    const otlpUrl = `${base}/otlp/_otlp/v1/traces`;
    const scenarios: Scenario[] = [
      {
        label: "OTLP protobuf",
        url: otlpUrl,
        headers: { "content-type": "application/x-protobuf" },
        body: proto,
      },
      {
        label: "OTLP protobuf, gzip",
        url: otlpUrl,
        headers: {
          "content-type": "application/x-protobuf",
          "content-encoding": "gzip",
        },
        body: protoGz,
      },
      {
        label: "plain JSON append",
        url: `${base}/raw`,
        headers: json,
        body: raw,
      },
    ];
    console.error(
      `bodies: protobuf ${proto.length} B, gzip ${protoGz.length} B, JSON ${raw.length} B per ${BATCH} spans`,
    );
    // Warm-up: one short pass of each.
    for (const s of scenarios) await run(s, senders, 300);
    const totals = new Map<string, { rate: number; cpuUs: number }[]>();
    for (let round = 0; round < Number(values.rounds); round++) {
      const order = round % 2 === 0 ? scenarios : [...scenarios].reverse();
      for (const s of order) {
        const before = serverCpuUs(server.pid);
        const rate = await run(s, senders, durationMs);
        const after = serverCpuUs(server.pid);
        const spansSent = rate * durationMs / 1000;
        const cpuUs = before === null || after === null
          ? NaN
          : (after - before) / spansSent;
        const list = totals.get(s.label) ?? [];
        list.push({ rate, cpuUs });
        totals.set(s.label, list);
        console.error(
          `round ${round} ${s.label}: ${rate.toFixed(0)} spans/s, ${
            cpuUs.toFixed(1)
          } server µs/span`,
        );
      }
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rawRate = mean(totals.get("plain JSON append")!.map((r) => r.rate));
    console.log(
      "| scenario | spans/s (mean) | server µs/span | rate vs plain JSON append |",
    );
    console.log("| --- | --- | --- | --- |");
    for (const s of scenarios) {
      const rows = totals.get(s.label)!;
      const rate = mean(rows.map((r) => r.rate));
      console.log(
        `| ${s.label} | ${rate.toFixed(0)} | ${
          mean(rows.map((r) => r.cpuUs)).toFixed(1)
        } | ${(rate / rawRate).toFixed(2)}x |`,
      );
    }
    console.log(
      `machine: ${navigator.hardwareConcurrency} CPUs, load ${
        Deno.loadavg()[0].toFixed(2)
      }, Deno ${Deno.version.deno}; ${senders} senders, batches of ${BATCH}`,
    );
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

if (import.meta.main) await main();
