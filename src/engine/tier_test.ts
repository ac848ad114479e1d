import assert from "node:assert/strict";
import { createNodeZstdCodec } from "../_wasm/codec.ts";
import { backoff } from "../backoff.ts";
import { defaultConfig, type SegmentConfig } from "../config.ts";
import { StreamError } from "../errors.ts";
import { createLogger } from "../log.ts";
import { FaultyObjectStore } from "../objectstore/faulty.ts";
import { MemoryObjectStore } from "../objectstore/memory.ts";
import { MemoryStore } from "../storage/memory_store.ts";
import type { Sealer } from "./_seal.ts";
import { type StreamInfo, Tier, type TierClock } from "./tier.ts";

/**
 * A clock the test moves by hand. The tier's two loops sleep on it between
 * passes; `advance()` moves time, wakes them and waits until both sleep
 * again, so every advance runs exactly one pass of each loop.
 */
class ManualClock implements TierClock {
  nowMs = 0;
  #sleeping: (() => void)[] = [];

  now = (): number => this.nowMs;

  sleep(_ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      this.#sleeping.push(resolve);
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
  }

  /** Waits until both loops finished their pass and sleep. */
  async settle(): Promise<void> {
    for (let i = 0; i < 100_000 && this.#sleeping.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(this.#sleeping.length, 2, "both loops sleep");
  }

  async advance(ms: number): Promise<void> {
    this.nowMs += ms;
    for (const wake of this.#sleeping.splice(0)) wake();
    await this.settle();
  }
}

/** A sealer whose every call fails, as on a full or read-only disk. */
function failingSealer(): Sealer & { calls: number } {
  const sealer = {
    calls: 0,
    seal(): Promise<undefined> {
      sealer.calls++;
      return Promise.reject(
        new StreamError("unavailable", "Cannot write segment: disk is full"),
      );
    },
    close() {},
  };
  return sealer;
}

/** Times (from 0) of the attempts a retry loop makes with no jitter, up to `endMs`. */
function attemptTimes(minMs: number, maxMs: number, endMs: number): number[] {
  const times = [0];
  for (let n = 1; n < 1000; n++) {
    const next = times[n - 1] + backoff(n, minMs, maxMs, () => 0);
    if (next > endMs) break;
    times.push(next);
  }
  return times;
}

const STREAM: StreamInfo = {
  id: 1,
  name: "s",
  contentType: "application/octet-stream",
  createdAtMs: 0,
  ttlSeconds: null,
  expiresAtMs: null,
  tailPos: 3000,
  closed: false,
  softDeleted: false,
  fork: null,
};

Deno.test("seal retries follow their own backoff, and seal failures never delay uploads (nor uploads seals)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-tier-" });
  const clock = new ManualClock();
  const sealer = failingSealer();
  const objects = new FaultyObjectStore(new MemoryObjectStore(), {
    failureRate: 1,
  });
  const config: SegmentConfig = {
    ...defaultConfig().segment,
    segmentBytes: 1024, // 3000 unsealed bytes: a seal is due on every pass
    segmentAgeMs: 0,
    sealRetryMinMs: 1000,
    sealRetryMaxMs: 60_000,
    uploadRetryMinMs: 100,
    uploadRetryMaxMs: 400,
  };
  const tier = await Tier.open({
    store: new MemoryStore(),
    objects,
    codec: createNodeZstdCodec(),
    segmentDir: dir,
    config,
    streams: () => [STREAM],
    log: createLogger("error"),
    clock,
    random: () => 0,
    sealer,
  });
  try {
    await clock.settle(); // the first pass of each loop, at time 0
    const seals = attemptTimes(1000, 60_000, 3000); // 0, 1000, 3000
    const uploads = attemptTimes(100, 400, 3000); // 0, 100, 300, 700, 1100, ...
    for (let t = 0; t <= 3000; t += 100) {
      if (t > 0) await clock.advance(100);
      const at = `at ${t} ms`;
      assert.equal(sealer.calls, seals.filter((s) => s <= t).length, at);
      // Each upload attempt fails on its first put (the manifest).
      assert.equal(objects.calls.put, uploads.filter((u) => u <= t).length, at);
    }
    assert.equal(sealer.calls, 3);
    assert.equal(objects.calls.put, 9);
  } finally {
    await tier.close();
    await Deno.remove(dir, { recursive: true });
  }
});
