/**
 * @module
 * Touch wake latency over HTTP: a server in a child process, one
 * touch-enabled stream with a template, 1,000 waits on distinct watch keys
 * (one per user). Each round appends an insert for one waiting user and
 * times until that waiter's 200; the woken
 * waiter then waits again from its new cursor. Timed from sending the
 * append (its commit included), beside the append's own round trip. Also reports the server's
 * RSS before and with the waits, and the journal bytes from `/metrics`.
 * Run: deno run -A bench/touch_wait_bench.ts [--waiters 1000] [--rounds 300]
 * (results in bench/README.md).
 */

import { parseArgs } from "node:util";
import { KeyHasher } from "../src/touch/keys.ts";
import { spawnServer } from "../test/_server.ts";

const { values } = parseArgs({
  options: {
    waiters: { type: "string", default: "1000" },
    rounds: { type: "string", default: "300" },
  },
});
const WAITERS = Number(values.waiters);
const ROUNDS = Number(values.rounds);

const hasher = await KeyHasher.create();
const dir = await Deno.makeTempDir({ prefix: "streambed-bench-" });
const server = await spawnServer(dir, ["--waiters-max", "100000"]);
const stream = `${server.url}/v1/stream/app`;

async function call(url: string, method: string, body?: unknown) {
  const res = await fetch(url, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === "" ? {} : JSON.parse(text) };
}

function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = /VmRSS:\s+(\d+) kB/.exec(status);
  return kb === null ? NaN : Number(kb[1]) * 1024;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

try {
  await call(stream, "PUT");
  await call(`${stream}/_profile`, "POST", {
    profile: { kind: "state-protocol", touch: { enabled: true } },
  });
  const act = await call(`${stream}/touch/templates/activate`, "POST", {
    templates: [{
      entity: "public.users",
      fields: [{ name: "userId", encoding: "string" }],
    }],
  });
  const tid = act.json.activated[0].templateId as string;
  const rssBefore = rssBytes(server.child.pid);
  const cursor = (await call(`${stream}/touch/meta`, "GET")).json.cursor;
  const woken = new Map<number, (at: number, cursor: string) => void>();
  let stopping = false;
  const wait = (i: number, from: string) => {
    if (stopping) return;
    call(`${stream}/touch/wait`, "POST", {
      cursor: from,
      keys: [hasher.watchKey(tid, [`u${i}`])],
      timeoutMs: 120_000,
    }).then((r) => {
      const at = performance.now();
      const done = woken.get(i);
      if (r.json.touched === true && done !== undefined) {
        woken.delete(i);
        done(at, r.json.cursor);
      } else wait(i, r.json.cursor);
    }).catch((error) => {
      if (!stopping) throw error;
    });
  };
  for (let i = 0; i < WAITERS; i++) wait(i, cursor);
  // Let every wait register before the first round.
  for (let tries = 0; tries < 500; tries++) {
    const m = await call(`${stream}/touch/meta`, "GET");
    if (m.json.activeWaiters >= WAITERS) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const rssWaiting = rssBytes(server.child.pid);
  const latencies: number[] = [];
  const appendRtts: number[] = [];
  const afterAck: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const i = Math.floor(Math.random() * WAITERS);
    const wake = new Promise<{ at: number; cursor: string }>((resolve) =>
      woken.set(i, (at, c) => resolve({ at, cursor: c }))
    );
    const sentAt = performance.now();
    const r = await call(stream, "POST", [{
      type: "public.users",
      key: `k${round}`,
      value: { userId: `u${i}`, round },
      headers: { operation: "insert" },
    }]);
    const ackAt = performance.now();
    appendRtts.push(ackAt - sentAt);
    if (r.status !== 204) throw new Error(`append: ${r.status}`);
    const { at, cursor: next } = await wake;
    // From sending the append: its commit plus the wake; the wake often
    // arrives before the append's own 204 is read.
    latencies.push(at - sentAt);
    afterAck.push(at - ackAt);
    wait(i, next);
    // Rounds apart by more than bucketMs, so each wake is a quiet stream's.
    await new Promise((resolve) => setTimeout(resolve, 120));
  }
  stopping = true;
  latencies.sort((a, b) => a - b);
  appendRtts.sort((a, b) => a - b);
  afterAck.sort((a, b) => a - b);
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  const journalBytes = /^streambed_touch_journal_bytes (\d+)/m.exec(metrics);
  console.log(JSON.stringify(
    {
      waiters: WAITERS,
      rounds: ROUNDS,
      wakeAfterAppendSentMs: {
        p50: percentile(latencies, 0.5).toFixed(2),
        p99: percentile(latencies, 0.99).toFixed(2),
        max: latencies[latencies.length - 1].toFixed(2),
      },
      // Negative: the wake arrived before the append's own 204.
      wakeMinusAppendAckMs: {
        p50: percentile(afterAck, 0.5).toFixed(2),
        p99: percentile(afterAck, 0.99).toFixed(2),
      },
      appendRoundTripMs: {
        p50: percentile(appendRtts, 0.5).toFixed(2),
        p99: percentile(appendRtts, 0.99).toFixed(2),
      },
      rssBeforeWaitsBytes: rssBefore,
      rssWithWaitsBytes: rssWaiting,
      rssPerWaiterBytes: Math.round((rssWaiting - rssBefore) / WAITERS),
      journalBytes: journalBytes === null ? null : Number(journalBytes[1]),
    },
    null,
    2,
  ));
} finally {
  server.child.kill("SIGTERM");
  await server.child.status;
  await Deno.remove(dir, { recursive: true });
}
