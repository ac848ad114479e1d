/**
 * @module
 * What the tier's tests share: a clock they move by hand.
 */

import assert from "node:assert/strict";
import type { TierClock } from "./clock.ts";

/**
 * A clock the test moves by hand. The tier's two loops sleep on it between
 * passes; `advance()` moves time, wakes them and waits until both sleep
 * again, so every advance runs exactly one pass of each loop.
 */
export class ManualClock implements TierClock {
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
