/**
 * The processor after WAL truncation: with tiered storage wired as the
 * server wires it, records that were sealed, uploaded and dropped from the
 * WAL are read back from segments through `Engine.read`, so a runtime that
 * is behind the WAL's start still sees every change (touch-live.md §4: no
 * coupling between WAL GC and the processor).
 */

import assert from "node:assert/strict";
import { defaultConfig } from "../config.ts";
import { Engine } from "../engine/engine.ts";
import { createLogger } from "../log.ts";
import { MemoryObjectStore } from "../objectstore/memory.ts";
import { validateTouch } from "../profiles/_touch_options.ts";
import { MemoryLiveTemplateStore } from "../storage/live_template_store.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import { streamDetails } from "../tier/details.ts";
import { Tier } from "../tier/tier.ts";
import { KeyHasher } from "../touch/keys.ts";
import { parseWaitBody } from "../touch/wait.ts";
import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { LiveStream } from "./live_stream.ts";

const log = createLogger("error");
const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("LiveStream reads records the WAL no longer holds from segments", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-live-" });
  const store = new MemoryStore();
  const engine = await Engine.open(store, {
    limits: defaultConfig().limits,
    log,
    onFatal: () => {},
  });
  const tier = await Tier.open({
    store,
    objects: new MemoryObjectStore(),
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config: {
      ...defaultConfig().segment,
      segmentBytes: 4096,
      segmentAgeMs: 50,
    },
    streams: () => engine.streamInfos(),
    streamInfo: (id) => engine.streamInfo(id),
    log,
  });
  engine.wrapChunkReader((wal) => tier.reader(wal, engine.readBytes));
  const committed = (s: { id: number; tailPos: number }) =>
    tier.committed(s.id, s.tailPos);
  engine.addListener({ created: committed, appended: committed });
  let live: LiveStream | undefined;
  try {
    await engine.create("app", {
      contentType: "application/json",
      ttlSeconds: undefined,
      expiresAtMs: undefined,
      closed: false,
      body: new Uint8Array(),
      fork: undefined,
      routingKey: undefined,
      timestampMs: undefined,
    });
    for (let i = 0; i < 20; i++) {
      const records = Array.from({ length: 20 }, (_, j) => ({
        type: "public.todos",
        key: `${i}-${j}`,
        value: { status: "open", userId: `u${i}-${j}`, pad: "x".repeat(40) },
        headers: { operation: "insert" },
      }));
      const r = await engine.append("app", {
        contentType: "application/json",
        body: enc(JSON.stringify(records)),
        close: false,
        streamSeq: undefined,
        producer: undefined,
        routingKey: undefined,
        timestampMs: undefined,
      });
      assert.ok(r.ok);
    }
    const tail = engine.view("app")!.tailPos;
    let walStart = 0;
    for (let i = 0; i < 400 && walStart < tail; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      const d = streamDetails(engine, tier, "app");
      assert.ok(d.ok);
      walStart = d.value.walStartPos;
    }
    assert.ok(walStart > 0, "the WAL was truncated");
    const touch = validateTouch({ enabled: true });
    if (!touch.ok) throw touch.error;
    const view = engine.view("app")!;
    // A runtime far behind the WAL's start, as if it had lagged that much.
    live = new LiveStream({
      hasher: await KeyHasher.create(),
      touch: touch.value,
      streamId: view.id,
      name: "app",
      startPos: 0,
      read: async (pos, bytesMax) => {
        const got = await engine.read("app", pos, bytesMax);
        return got.ok ? { ok: true, value: got.value } : got;
      },
      tailPos: () => engine.view("app")?.tailPos,
      store: new MemoryLiveTemplateStore(),
      log,
      clock: Date.now,
    });
    const cursor = live.journal.cursor();
    live.kick();
    for (let i = 0; i < 400 && !live.settled; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const meta = live.meta();
    assert.equal(meta.changesTotal, 400);
    const fromSegments = engine.readBytes.cache + engine.readBytes.object;
    assert.ok(fromSegments > 0, "some records came from segments");
    const hasher = await KeyHasher.create();
    const req = parseWaitBody({
      cursor,
      interestMode: "coarse",
      keys: [hasher.tableKey("public.todos")],
      timeoutMs: 0,
    });
    assert.ok(req.ok);
    const woken = await live.wait(req.value, new AbortController().signal);
    assert.ok(woken.ok && woken.value !== null);
    assert.equal(woken.value.touched, true);
  } finally {
    live?.close();
    await tier.close();
    await engine.close();
    await Deno.remove(dir, { recursive: true });
  }
});
