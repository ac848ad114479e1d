/**
 * @module
 * Subscription benchmark: N streams under one pattern subscription, appends
 * spread across them at a steady bounded rate; reports wake-to-delivery
 * latency (p50/p99), deliveries/s, appends/s and the server's RSS per linked
 * stream.
 *
 *   deno run -A bench/subscriptions_bench.ts [--streams 1000]
 *     [--duration-ms 10000] [--mode webhook|pull-wake] [--rate 200]
 *     [--concurrency 4]
 *
 * The server runs as a child process (`main.ts --port 0 --object-store none
 * --webhook-allow-localhost`) so its VmRSS can be read from /proc. All
 * traffic goes to 127.0.0.1. Every loop is bounded and the child is stopped
 * by its own pid.
 *
 * Latency attribution: every append records the time its POST response
 * arrived (its "ack") and the `Stream-Next-Offset` it produced. A delivery is
 * a webhook request fully received by the receiver (webhook mode) or a
 * successful claim response (pull-wake mode, after reading a wake event).
 * For each stream a delivery reports with `has_pending`, the earliest append
 * of that stream not yet covered by an earlier delivery and with an offset
 * at or below the delivery's `tail_offset` gives one sample: arrival time -
 * that append's ack time. All appends it covers are then marked delivered.
 * A second, per-append distribution (every covered append, not only the
 * earliest) is reported too.
 */

import { startServer, streambedCommand } from "./_load_process.ts";

type Json = Record<string, unknown>;

interface Args {
  streams: number;
  durationMs: number;
  mode: "webhook" | "pull-wake";
  rate: number;
  concurrency: number;
}

interface AppendRec {
  offset: string;
  sentAt: number;
  ackAt: number;
}

interface Delivery {
  arrival: number;
  bytes: number;
  pending: [string, string][]; // [path, tail_offset] for has_pending streams
}

const DRAIN_MAX_MS = 5_000;
const enc = new TextEncoder();

function parseArgs(argv: string[]): Args {
  const out: Args = {
    streams: 1000,
    durationMs: 10_000,
    mode: "webhook",
    rate: 200,
    concurrency: 4,
  };
  for (let i = 0; i < argv.length; i++) {
    let key = argv[i];
    let value: string | undefined;
    const eq = key.indexOf("=");
    if (eq >= 0) {
      value = key.slice(eq + 1);
      key = key.slice(0, eq);
    } else {
      value = argv[++i];
    }
    if (value === undefined) throw new Error(`${key} needs a value`);
    switch (key) {
      case "--streams":
        out.streams = positiveInt(key, value);
        break;
      case "--duration-ms":
        out.durationMs = positiveInt(key, value);
        break;
      case "--rate":
        out.rate = positiveInt(key, value);
        break;
      case "--concurrency":
        out.concurrency = positiveInt(key, value);
        break;
      case "--mode":
        if (value !== "webhook" && value !== "pull-wake") {
          throw new Error("--mode is webhook or pull-wake");
        }
        out.mode = value;
        break;
      default:
        throw new Error(`unknown flag ${key}`);
    }
  }
  return out;
}

function positiveInt(key: string, value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new Error(`${key} must be a positive integer`);
  }
  return n;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

async function rssKiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (m === null) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** RSS sampled a few times after a pause; the minimum damps allocator noise. */
async function settledRss(pid: number): Promise<number> {
  await sleep(500);
  let min = Infinity;
  for (let i = 0; i < 3; i++) {
    min = Math.min(min, await rssKiB(pid));
    await sleep(100);
  }
  return min;
}

async function call(
  url: string,
  method: string,
  body?: unknown,
  token?: string,
): Promise<{ status: number; json: Json; headers: Headers }> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
  };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let json: Json = {};
  if (text !== "") {
    try {
      json = JSON.parse(text);
    } catch {
      json = { raw: text };
    }
  }
  return { status: res.status, json, headers: res.headers };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "n/a";
}

async function machine(): Promise<string[]> {
  let cpu = "unknown";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpu = /^model name\s*:\s*(.+)$/m.exec(info)?.[1] ?? cpu;
  } catch { /* not Linux */ }
  const load = Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  return [
    `nproc ${navigator.hardwareConcurrency}`,
    `CPU ${cpu}`,
    `deno ${Deno.version.deno} (v8 ${Deno.version.v8})`,
    `load average ${load}`,
  ];
}

async function main(): Promise<void> {
  const args = parseArgs(Deno.args);
  const loadBefore = Deno.loadavg();
  const root = new URL("..", import.meta.url).pathname;
  const dataDir = await Deno.makeTempDir({ prefix: "subs_bench_" });
  const run = crypto.randomUUID().slice(0, 8);
  const prefix = `bench/${run}`;
  const wakeStream = `benchwake/${run}`;
  const subId = `bench-${run}`;
  const deliveries: Delivery[] = [];
  const appends = new Map<string, AppendRec[]>();
  const abort = new AbortController();
  let receiver: Deno.HttpServer<Deno.NetAddr> | undefined;
  let worker: Promise<void> | undefined;
  let workerErrors = 0;
  let appendErrors = 0;

  const server = await startServer(
    streambedCommand(
      root,
      dataDir,
      ["--webhook-allow-localhost", "--object-store", "none"],
      20_000,
    ),
  );
  const base = server.url.replace("://localhost", "://127.0.0.1");
  const streamUrl = (p: string) => `${base}/v1/stream/${p}`;
  const subUrl = `${base}/v1/stream/__ds/subscriptions/${subId}`;

  try {
    // 1. Create N streams (bounded concurrency).
    const paths = Array.from(
      { length: args.streams },
      (_, i) => `${prefix}/s${i}`,
    );
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < paths.length) {
        const p = paths[next++];
        const res = await fetch(streamUrl(p), {
          method: "PUT",
          headers: { "content-type": "application/octet-stream" },
          signal: AbortSignal.timeout(15_000),
        });
        await res.body?.cancel();
        if (res.status !== 201 && res.status !== 200) {
          throw new Error(`create ${p}: HTTP ${res.status}`);
        }
      }
    }));
    const createMs = performance.now() - t0;

    // 2. Delivery side: webhook receiver or pull-wake worker.
    let subBody: Json;
    if (args.mode === "webhook") {
      receiver = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        async (req) => {
          const raw = await req.text();
          const arrival = performance.now();
          const body = JSON.parse(raw) as Json;
          deliveries.push({
            arrival,
            bytes: raw.length,
            pending: (body.streams as Json[])
              .filter((s) => s.has_pending === true)
              .map((s) => [s.path as string, s.tail_offset as string]),
          });
          return Response.json({ done: true });
        },
      );
      subBody = {
        type: "webhook",
        pattern: `${prefix}/**`,
        webhook: { url: `http://127.0.0.1:${receiver.addr.port}/hook` },
        lease_ttl_ms: 60_000,
      };
    } else {
      const made = await fetch(streamUrl(wakeStream), {
        method: "PUT",
        headers: { "content-type": "application/json" },
        signal: AbortSignal.timeout(15_000),
      });
      await made.body?.cancel();
      if (made.status !== 201 && made.status !== 200) {
        throw new Error(`create wake stream: HTTP ${made.status}`);
      }
      let offset = made.headers.get("stream-next-offset") ?? "-1";
      subBody = {
        type: "pull-wake",
        pattern: `${prefix}/**`,
        wake_stream: wakeStream,
        lease_ttl_ms: 60_000,
      };
      worker = (async () => {
        while (!abort.signal.aborted) {
          try {
            const res = await fetch(
              `${
                streamUrl(wakeStream)
              }?offset=${offset}&live=long-poll&timeout=1`,
              { signal: abort.signal },
            );
            const text = await res.text();
            offset = res.headers.get("stream-next-offset") ?? offset;
            if (res.status === 204 || text === "" || text === "[]") continue;
            if (res.status !== 200) {
              workerErrors++;
              await sleep(50);
              continue;
            }
            // One claim handles everything pending, however many events arrived.
            const claim = await call(`${subUrl}/claim`, "POST", {
              worker: "bench",
            });
            if (claim.status !== 200) continue; // no pending work / claimed
            const arrival = performance.now();
            const pending = (claim.json.streams as Json[])
              .filter((s) => s.has_pending === true)
              .map((s) =>
                [s.path as string, s.tail_offset as string] as [string, string]
              );
            deliveries.push({
              arrival,
              bytes: JSON.stringify(claim.json).length,
              pending,
            });
            const ack = await call(
              `${subUrl}/ack`,
              "POST",
              {
                wake_id: claim.json.wake_id,
                generation: claim.json.generation,
                acks: pending.map(([stream, off]) => ({ stream, offset: off })),
                done: true,
              },
              claim.json.token as string,
            );
            if (ack.status !== 200) workerErrors++;
          } catch (error) {
            if (abort.signal.aborted) return;
            workerErrors++;
            console.error(`worker: ${(error as Error).message}`);
            await sleep(50);
          }
        }
      })();
    }

    // 3. RSS before/after the subscription links all N streams (backfill).
    const rssBefore = await settledRss(server.pid);
    const put = await call(subUrl, "PUT", subBody);
    if (put.status !== 201 && put.status !== 200) {
      throw new Error(
        `PUT subscription: ${put.status} ${JSON.stringify(put.json)}`,
      );
    }
    const got = await call(subUrl, "GET");
    const linked = (got.json.streams as Json[] | undefined)?.length ?? 0;
    if (linked !== args.streams) {
      throw new Error(`expected ${args.streams} links, got ${linked}`);
    }
    const rssAfter = await settledRss(server.pid);

    // 4. Appends at a steady bounded rate to random streams.
    const total = Math.round((args.rate * args.durationMs) / 1000);
    const payload = enc.encode("x".repeat(64));
    let issued = 0;
    const start = performance.now();
    const hardStop = start + args.durationMs + 10_000;
    await Promise.all(
      Array.from({ length: args.concurrency }, async () => {
        while (issued < total && performance.now() < hardStop) {
          const i = issued++;
          await sleep(start + (i * 1000) / args.rate - performance.now());
          const p = paths[Math.floor(Math.random() * paths.length)];
          const sentAt = performance.now();
          try {
            const res = await fetch(streamUrl(p), {
              method: "POST",
              headers: { "content-type": "application/octet-stream" },
              body: payload,
              signal: AbortSignal.timeout(10_000),
            });
            await res.body?.cancel();
            const ackAt = performance.now();
            const offset = res.headers.get("stream-next-offset");
            if ((res.status !== 200 && res.status !== 204) || offset === null) {
              appendErrors++;
              continue;
            }
            let list = appends.get(p);
            if (list === undefined) appends.set(p, list = []);
            list.push({ offset, sentAt, ackAt });
          } catch {
            appendErrors++;
          }
        }
      }),
    );
    const appendEnd = performance.now();
    const deliveriesInWindow = deliveries.filter((d) =>
      d.arrival >= start && d.arrival <= appendEnd
    ).length;

    // 5. Drain: wait until every stream's last append has been delivered.
    const lastAppended = new Map<string, string>();
    for (const [p, list] of appends) {
      lastAppended.set(
        p,
        list.reduce((m, a) => (a.offset > m ? a.offset : m), ""),
      );
    }
    const drainDeadline = performance.now() + DRAIN_MAX_MS;
    let undelivered = lastAppended.size;
    while (performance.now() < drainDeadline) {
      const seen = new Map<string, string>();
      for (const d of deliveries) {
        for (const [p, tail] of d.pending) {
          if ((seen.get(p) ?? "") < tail) seen.set(p, tail);
        }
      }
      undelivered = 0;
      for (const [p, last] of lastAppended) {
        if ((seen.get(p) ?? "") < last) undelivered++;
      }
      if (undelivered === 0) break;
      await sleep(50);
    }
    const rssEnd = await rssKiB(server.pid);

    // 6. Attribute latencies.
    for (const list of appends.values()) {
      list.sort((a, b) => (a.offset < b.offset ? -1 : 1));
    }
    const ptr = new Map<string, number>();
    const perWake: number[] = [];
    const perAppend: number[] = [];
    let negative = 0;
    let emptyPairs = 0;
    const ordered = [...deliveries].sort((a, b) => a.arrival - b.arrival);
    for (const d of ordered) {
      for (const [p, tail] of d.pending) {
        const list = appends.get(p) ?? [];
        let j = ptr.get(p) ?? 0;
        if (j >= list.length || list[j].offset > tail) {
          emptyPairs++;
          continue;
        }
        const first = d.arrival - list[j].ackAt;
        if (first < 0) negative++;
        perWake.push(first);
        while (j < list.length && list[j].offset <= tail) {
          perAppend.push(d.arrival - list[j].ackAt);
          j++;
        }
        ptr.set(p, j);
      }
    }
    perWake.sort((a, b) => a - b);
    perAppend.sort((a, b) => a - b);
    const appendCount = [...appends.values()].reduce((n, l) => n + l.length, 0);
    const appendSecs = (appendEnd - start) / 1000;
    const avgBytes = deliveries.length === 0
      ? NaN
      : deliveries.reduce((n, d) => n + d.bytes, 0) / deliveries.length;
    const avgPending = deliveries.length === 0
      ? NaN
      : deliveries.reduce((n, d) => n + d.pending.length, 0) /
        deliveries.length;

    // 7. Report.
    const lines = [
      `## Subscriptions benchmark (${args.mode})`,
      "",
      `${args.streams} streams under pattern \`${prefix}/**\`, one ${args.mode} subscription, ` +
      `target ${args.rate} appends/s for ${args.durationMs} ms with ${args.concurrency} appenders, 64-byte bodies.`,
      "",
      "| metric | value |",
      "| --- | --- |",
      `| streams linked | ${linked} (created in ${fmt(createMs, 0)} ms) |`,
      `| appends acked / errors | ${appendCount} / ${appendErrors} |`,
      `| appends/s (achieved) | ${fmt(appendCount / appendSecs)} |`,
      `| deliveries total (incl. drain) | ${deliveries.length} |`,
      `| deliveries/s (during append window) | ${
        fmt(deliveriesInWindow / appendSecs)
      } |`,
      `| avg streams pending per delivery | ${fmt(avgPending)} |`,
      `| avg delivery body bytes | ${fmt(avgBytes, 0)} |`,
      `| wake-to-delivery p50 (earliest undelivered append per stream per delivery) | ${
        fmt(percentile(perWake, 50))
      } ms |`,
      `| wake-to-delivery p99 | ${fmt(percentile(perWake, 99))} ms |`,
      `| wake-to-delivery max | ${fmt(perWake.at(-1) ?? NaN)} ms |`,
      `| samples (negative: delivery before append ack) | ${perWake.length} (${negative}) |`,
      `| per-append delivery p50 / p99 (all ${perAppend.length} covered appends) | ${
        fmt(percentile(perAppend, 50))
      } / ${fmt(percentile(perAppend, 99))} ms |`,
      `| streams still undelivered after ${DRAIN_MAX_MS} ms drain | ${undelivered} |`,
      `| delivery pairs with no matching append | ${emptyPairs} |`,
      `| server RSS before subscription | ${fmt(rssBefore / 1024)} MiB |`,
      `| server RSS after backfill linked ${linked} | ${
        fmt(rssAfter / 1024)
      } MiB |`,
      `| RSS per linked stream (approx.) | ${
        fmt(((rssAfter - rssBefore) * 1024) / linked, 0)
      } bytes |`,
      `| server RSS at end of run | ${fmt(rssEnd / 1024)} MiB |`,
      ...(args.mode === "pull-wake"
        ? [`| worker errors | ${workerErrors} |`]
        : []),
      "",
      "Machine:",
      ...(await machine()).map((l) => `- ${l}`),
      `- load average at start ${
        loadBefore.map((x) => x.toFixed(2)).join(" ")
      }`,
    ];
    console.log(lines.join("\n"));
  } finally {
    abort.abort();
    if (worker !== undefined) await worker.catch(() => {});
    if (receiver !== undefined) await receiver.shutdown();
    await server.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  await main();
}
