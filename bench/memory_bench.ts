/**
 * @module
 * Server memory under slow readers and large bodies: the resident set of a
 * real server process (`/proc/PID/status`), for one or more checkouts in one
 * run, so a change can be compared with the code before it.
 *
 *   deno run -A bench/memory_bench.ts [--root DIR]... [--scenario NAME]...
 *
 * Scenarios (each starts a fresh server per checkout, `--durability os`,
 * `--object-store none` so sealing does not mix into the figures):
 *
 * - `sse-stalled`: SSE readers (plain TCP connections that never read) follow
 *   a stream while 256 MiB (`--sse-mib`) is appended in 256 KiB appends; 0, 1 and 2
 *   readers. A reader's cost is the peak minus the peak with no reader.
 * - `body-flood`: 32 clients post 8 MiB bodies at once, once with defaults
 *   and once with `--append-queue-bytes-max 1048576` (every append is larger
 *   than the queue).
 * - `big-append`: one 200 MiB append (`--body-bytes-max` and the queue
 *   raised to take it).
 * - `waiters`: 2,000 (`--waiters`) idle long-poll reads, then as many idle SSE
 *   connections, each a plain TCP client on a JSON stream with nothing
 *   appended; the resident set with them open minus the set before, per
 *   connection (each figure is the lower of two readings 3 s apart, so a
 *   collection can land). Not in the default list; name it.
 *
 * `--root` defaults to this checkout; pass another worktree (e.g. an older
 * commit checked out with `git worktree add --detach`) to compare.
 */

import { parseArgs } from "node:util";
import { startServer, streambedCommand } from "./_load_process.ts";

const MIB = 1024 * 1024;
const here = new URL("..", import.meta.url).pathname;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    root: { type: "string", multiple: true },
    scenario: { type: "string", multiple: true },
    "sse-mib": { type: "string", default: "256" },
    waiters: { type: "string", default: "2000" },
  },
});
const roots = values.root ?? [here];
const sseMiB = Number(values["sse-mib"]);
const waiterCount = Number(values.waiters);
const scenarios = values.scenario ??
  ["sse-stalled", "body-flood", "big-append"];

/** A field of `/proc/PID/status` in MiB (`VmRSS` now, `VmHWM` peak). */
function memMiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const line = Deno.readTextFileSync(`/proc/${pid}/status`)
    .split("\n").find((l) => l.startsWith(field + ":"));
  return Math.round(Number(line!.split(/\s+/)[1]) / 1024);
}

async function withServer<T>(
  root: string,
  args: string[],
  run: (url: string, pid: number) => Promise<T>,
): Promise<T> {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-mem-" });
  const server = await startServer(streambedCommand(
    root,
    dataDir,
    ["--durability", "os", "--object-store", "none", ...args],
    120_000,
  ));
  try {
    return await run(server.url, server.pid);
  } finally {
    await server.stop();
    await Deno.remove(dataDir, { recursive: true });
  }
}

const BINARY = { "content-type": "application/octet-stream" };

async function put(url: string, name: string): Promise<void> {
  const r = await fetch(`${url}/v1/stream/${name}`, {
    method: "PUT",
    headers: BINARY,
  });
  await r.body?.cancel();
  if (r.status !== 201) throw new Error(`PUT ${name}: ${r.status}`);
}

async function post(
  url: string,
  name: string,
  body: Uint8Array,
): Promise<number> {
  const r = await fetch(`${url}/v1/stream/${name}`, {
    method: "POST",
    headers: BINARY,
    body: body as Uint8Array<ArrayBuffer>,
  });
  await r.body?.cancel();
  return r.status;
}

/** An SSE reader that sends its request and never reads a byte. */
async function stalledReader(url: string, name: string): Promise<Deno.TcpConn> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port) });
  const request = `GET /v1/stream/${name}?offset=-1&live=sse HTTP/1.1\r\n` +
    `Host: ${hostname}:${port}\r\n\r\n`;
  await conn.write(new TextEncoder().encode(request));
  return conn;
}

async function sseStalled(root: string): Promise<string[]> {
  const out: string[] = [];
  const chunk = new Uint8Array(256 * 1024);
  crypto.getRandomValues(chunk.subarray(0, 65536));
  for (const readers of [0, 1, 2]) {
    // No stall disconnect: the readers stay for the whole run.
    const args = await knowsFlag(root, "--live-stall-ms")
      ? ["--live-stall-ms", "3600000"]
      : [];
    const line = await withServer(root, args, async (url, pid) => {
      await put(url, "s");
      const before = memMiB(pid, "VmRSS");
      const conns = [];
      for (let i = 0; i < readers; i++) {
        conns.push(await stalledReader(url, "s"));
      }
      const trace: number[] = [];
      const appends = sseMiB * 4;
      for (let i = 1; i <= appends; i++) {
        const status = await post(url, "s", chunk);
        if (status !== 204 && status !== 200) {
          throw new Error(`append ${status}`);
        }
        if (i % Math.ceil(appends / 8) === 0) trace.push(memMiB(pid, "VmRSS"));
      }
      const peak = memMiB(pid, "VmHWM");
      for (const c of conns) c.close();
      return `sse-stalled readers=${readers}: RSS ${before} MiB before, peak ${peak} MiB after ${sseMiB} MiB appended; RSS every eighth: ${
        trace.join(" ")
      }`;
    });
    out.push(line);
  }
  return out;
}

async function bodyFlood(root: string): Promise<string[]> {
  const out: string[] = [];
  const body = new Uint8Array(8 * MIB);
  crypto.getRandomValues(body.subarray(0, 65536));
  for (const args of [[], ["--append-queue-bytes-max", String(MIB)]]) {
    out.push(
      await withServer(root, args, async (url, pid) => {
        await put(url, "f");
        const before = memMiB(pid, "VmRSS");
        const statuses = await Promise.all(
          Array.from({ length: 32 }, () => post(url, "f", body).catch(() => 0)),
        );
        const counts = new Map<number, number>();
        for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
        const seen = [...counts].map(([s, n]) => `${n}x${s}`).join(" ");
        return `body-flood ${
          args.join(" ") || "(defaults)"
        }: RSS ${before} MiB before, peak ${
          memMiB(pid, "VmHWM")
        } MiB; statuses ${seen}`;
      }),
    );
  }
  return out;
}

/** Whether the server in `root` knows `flag` (older checkouts may not). */
async function knowsFlag(root: string, flag: string): Promise<boolean> {
  const help = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "--help"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(help.stdout) +
    new TextDecoder().decode(help.stderr);
  return text.includes(flag);
}

async function bigAppend(root: string): Promise<string[]> {
  const size = 200 * MIB;
  const args = [
    "--body-bytes-max",
    String(256 * MIB),
    "--append-queue-bytes-max",
    String(512 * MIB),
  ];
  if (await knowsFlag(root, "--body-inflight-bytes-max")) {
    args.push("--body-inflight-bytes-max", String(256 * MIB));
  }
  return [
    await withServer(root, args, async (url, pid) => {
      await put(url, "b");
      const before = memMiB(pid, "VmRSS");
      const body = new Uint8Array(size);
      crypto.getRandomValues(body.subarray(0, 65536));
      const status = await post(url, "b", body);
      const peak = memMiB(pid, "VmHWM");
      return `big-append 200 MiB: RSS ${before} MiB before, peak ${peak} MiB (${
        ((peak - before) / 200).toFixed(2)
      }x the body above the start); status ${status}`;
    }),
  ];
}

/** The lower of two `VmRSS` readings 3 s apart (lets a collection land). */
async function settledRssKiB(pid: number): Promise<number> {
  const read = () =>
    Number(
      Deno.readTextFileSync(`/proc/${pid}/status`).split("\n")
        .find((l) => l.startsWith("VmRSS:"))!.split(/\s+/)[1],
    );
  const first = read();
  await new Promise((r) => setTimeout(r, 3000));
  return Math.min(first, read());
}

/** Opens `n` idle live reads (raw TCP) and waits until the server counts them. */
async function openLive(
  url: string,
  n: number,
  query: string,
): Promise<Deno.TcpConn[]> {
  const { hostname, port } = new URL(url);
  const conns: Deno.TcpConn[] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < n; i++) {
    const conn = await Deno.connect({ hostname, port: Number(port) });
    await conn.write(encoder.encode(
      `GET /v1/stream/w?${query} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n\r\n`,
    ));
    conns.push(conn);
  }
  for (let tries = 0; tries < 200; tries++) {
    const health = await (await fetch(`${url}/health`)).json();
    if (health.waiting >= n) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return conns;
}

async function waiters(root: string): Promise<string[]> {
  const n = waiterCount;
  return [
    await withServer(root, [
      "--waiters-max",
      String(n * 2),
      "--long-poll-timeout-ms",
      "300000",
      "--sse-connection-ms",
      "600000",
    ], async (url, pid) => {
      const r = await fetch(`${url}/v1/stream/w`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
      });
      await r.body?.cancel();
      const base = await settledRssKiB(pid);
      const polls = await openLive(url, n, "offset=now&live=long-poll");
      const withPolls = await settledRssKiB(pid);
      for (const c of polls) c.close();
      await new Promise((r) => setTimeout(r, 1000));
      const afterPolls = await settledRssKiB(pid);
      const sse = await openLive(url, n, "offset=now&live=sse");
      const withSse = await settledRssKiB(pid);
      for (const c of sse) c.close();
      const perPoll = (withPolls - base) / n;
      const perSse = (withSse - afterPolls) / n;
      return `waiters ${n}: RSS ${Math.round(base / 1024)} MiB idle; ` +
        `+${Math.round((withPolls - base) / 1024)} MiB with ${n} long-polls ` +
        `(${perPoll.toFixed(1)} KiB each); +${
          Math.round((withSse - afterPolls) / 1024)
        } MiB with ${n} SSE connections (${perSse.toFixed(1)} KiB each)`;
    }),
  ];
}

const SCENARIOS: Record<string, (root: string) => Promise<string[]>> = {
  "sse-stalled": sseStalled,
  waiters,
  "body-flood": bodyFlood,
  "big-append": bigAppend,
};

for (const name of scenarios) {
  const scenario = SCENARIOS[name];
  if (scenario === undefined) throw new Error(`unknown scenario ${name}`);
  for (const root of roots) {
    for (const line of await scenario(root)) console.log(`${root}: ${line}`);
  }
}
