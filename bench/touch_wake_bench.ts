/**
 * @module
 * Touch wake latency inside the server, without HTTP or a client process:
 * an engine on a SQLite WAL (`--durability os`, so the fsync does not
 * dominate) with the touch service, one touch-enabled stream with a
 * one-field template, `--waiters` waits on distinct watch keys. Each round
 * appends an insert for one waiting user and times, from the moment the
 * append's commit is acknowledged (its promise resolves) and from the
 * moment the append was sent, until that wait's promise resolves (negative:
 * the wake came first, as the commit's listener runs before the ack). Also
 * the CPU the process spent per round (user + system, from /proc/self/stat).
 * Run: deno run -A bench/touch_wake_bench.ts [--waiters 1000] [--rounds 500]
 * (results in bench/README.md).
 */

import { parseArgs } from "node:util";
import { defaultConfig } from "../src/config.ts";
import { Engine } from "../src/engine/engine.ts";
import { TouchService } from "../src/live/touch_service.ts";
import { createLogger } from "../src/log.ts";
import { validateTouch } from "../src/profiles/_touch_options.ts";
import { MemoryLiveTemplateStore } from "../src/storage/live_template_store.ts";
import { openSqliteStore } from "../src/storage/sqlite_store.ts";
import { KeyHasher } from "../src/touch/keys.ts";

const { values } = parseArgs({
  options: {
    waiters: { type: "string", default: "1000" },
    rounds: { type: "string", default: "500" },
  },
});
const WAITERS = Number(values.waiters);
const ROUNDS = Number(values.rounds);

const enc = new TextEncoder();
const hasher = await KeyHasher.create();
const dir = await Deno.makeTempDir({ prefix: "streambed-wake-" });
const log = createLogger("error");
const engine = await Engine.open(
  openSqliteStore(`${dir}/wal.sqlite`, "os"),
  {
    limits: { ...defaultConfig().limits, waitersMax: WAITERS * 2 },
    log,
    onFatal: () => {},
  },
);
const touch = validateTouch({ enabled: true });
if (!touch.ok) throw touch.error;
const service = await TouchService.open({
  engine,
  touchOptionsOf: () => touch.value,
  store: new MemoryLiveTemplateStore(),
  log,
  memoryBytesMax: 256 * 1024 * 1024,
});
engine.addListener(service.listener());

function cpuMs(): number {
  const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1]
    .split(" ");
  // utime and stime, fields 14 and 15 of stat (12 and 13 after the name).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function append(value: unknown): Promise<void> {
  const r = await engine.append("app", {
    contentType: "application/json",
    body: enc.encode(JSON.stringify([value])),
    close: false,
    streamSeq: undefined,
    producer: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  });
  if (!r.ok) throw r.error;
}

try {
  const created = await engine.create("app", {
    contentType: "application/json",
    ttlSeconds: undefined,
    expiresAtMs: undefined,
    closed: false,
    body: new Uint8Array(),
    fork: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  });
  if (!created.ok) throw created.error;
  const act = service.activate("app", {
    templates: [{
      entity: "public.users",
      fields: [{ name: "userId", encoding: "string" }],
    }],
  });
  if (!act.ok) throw act.error;
  const tid = (act.value.activated as { templateId: string }[])[0].templateId;
  const meta = await service.meta(
    "app",
    new URLSearchParams(),
    new AbortController().signal,
  );
  if (!meta.ok) throw meta.error;
  const waits = new Map<number, Promise<unknown>>();
  const wait = (i: number, cursor: string) => {
    // One signal per wait, as each HTTP request has its own.
    const p = service.wait("app", {
      cursor,
      keys: [hasher.watchKey(tid, [`u${i}`])],
      timeoutMs: 120_000,
    }, new AbortController().signal).then((r) => {
      if (!r.ok || r.value === null) throw new Error("wait failed");
      return { at: performance.now(), body: r.value };
    });
    waits.set(i, p);
  };
  for (let i = 0; i < WAITERS; i++) wait(i, meta.value.cursor as string);
  const afterAck: number[] = [];
  const afterSend: number[] = [];
  const cpuStart = cpuMs();
  const wallStart = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    const i = Math.floor(Math.random() * WAITERS);
    const woken = waits.get(i)! as Promise<
      { at: number; body: Record<string, unknown> }
    >;
    const sentAt = performance.now();
    await append({
      type: "public.users",
      key: `k${round}`,
      value: { userId: `u${i}`, round },
      headers: { operation: "insert" },
    });
    const ackAt = performance.now();
    const { at, body } = await woken;
    if (body.touched !== true) throw new Error("not touched");
    afterAck.push(at - ackAt);
    afterSend.push(at - sentAt);
    wait(i, body.cursor as string);
    // Apart by more than bucketMs: each wake is a quiet stream's.
    await new Promise((resolve) => setTimeout(resolve, 110));
  }
  const cpu = cpuMs() - cpuStart;
  const wall = performance.now() - wallStart;
  afterAck.sort((a, b) => a - b);
  afterSend.sort((a, b) => a - b);
  console.log(JSON.stringify(
    {
      waiters: WAITERS,
      rounds: ROUNDS,
      wakeAfterCommitAckMs: {
        p50: percentile(afterAck, 0.5).toFixed(3),
        p99: percentile(afterAck, 0.99).toFixed(3),
        max: afterAck[afterAck.length - 1].toFixed(3),
      },
      wakeAfterAppendSentMs: {
        p50: percentile(afterSend, 0.5).toFixed(3),
        p99: percentile(afterSend, 0.99).toFixed(3),
        max: afterSend[afterSend.length - 1].toFixed(3),
      },
      cpuMsPerRound: (cpu / ROUNDS).toFixed(3),
      wallMs: Math.round(wall),
      loadAverage: Deno.readTextFileSync("/proc/loadavg").split(" ")[0],
    },
    null,
    2,
  ));
} finally {
  service.close();
  await engine.close();
  await Deno.remove(dir, { recursive: true });
}
