/**
 * @module
 * Test support: an independent webhook-signature verifier that uses only Web
 * Crypto and a published JWK Set, never our signing code; a manual clock;
 * an in-memory stream source; and a manager (or its parts) over both.
 */

import { defaultConfig, type SubscriptionsConfig } from "../config.ts";
import type { StreamView } from "../engine/types.ts";
import { fail, ok, type Result } from "../errors.ts";
import { createLogger } from "../log.ts";
import {
  openSqliteSubscriptionStore,
  type SqliteSubscriptionStore,
} from "../storage/subscription_store.ts";
import type { AppendOutcome, AppendRequest } from "../engine/types.ts";
import type { Clock } from "./clock.ts";
import { SubscriptionManager } from "./manager.ts";
import type { StreamSource } from "./registry.ts";
import type { SubscriptionConfig } from "./types.ts";
import type { AttemptOptions, AttemptOutcome } from "./webhook_attempt.ts";

/**
 * True when `header` (`t=..,kid=..,ed25519=..`) signs `raw` with the key of
 * that `kid` in `jwks`, and its timestamp is within 5 minutes of now.
 */
export async function verifyWebhookSignature(
  raw: string,
  header: string | null,
  jwks: { keys: JsonWebKey[] },
): Promise<boolean> {
  const match = /^t=(\d+),kid=([^,]+),ed25519=([A-Za-z0-9_-]+)$/.exec(
    header ?? "",
  );
  if (match === null) return false;
  if (Math.abs(Date.now() / 1000 - Number(match[1])) > 300) return false;
  const jwk = jwks.keys.find((k) => (k as { kid?: string }).kid === match[2]);
  if (jwk === undefined) return false;
  const key = await crypto.subtle.importKey(
    "jwk",
    jwk,
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  const b64 = match[3].replaceAll("-", "+").replaceAll("_", "/");
  const sig = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return await crypto.subtle.verify(
    "Ed25519",
    key,
    sig,
    new TextEncoder().encode(`${match[1]}.${raw}`),
  );
}

/** A clock that moves only when told; due timers run in time order. */
export class ManualClock implements Clock {
  #nowMs: number;
  #timers: { atMs: number; seq: number; fn: () => void }[] = [];
  #seq = 0;

  /** Starts at `nowMs`. */
  constructor(nowMs = 1_000_000) {
    this.#nowMs = nowMs;
  }

  /** Current time. */
  now(): number {
    return this.#nowMs;
  }

  /** Registers a timer; returns its cancel function. */
  setTimer(fn: () => void, ms: number): () => void {
    const timer = { atMs: this.#nowMs + ms, seq: this.#seq++, fn };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  }

  /** Timers not yet run. */
  get pending(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, running each timer that falls due. */
  advance(ms: number): void {
    const targetMs = this.#nowMs + ms;
    while (true) {
      const due = this.#timers
        .filter((t) => t.atMs <= targetMs)
        .sort((a, b) => a.atMs - b.atMs || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== due);
      this.#nowMs = Math.max(this.#nowMs, due.atMs);
      due.fn();
    }
    this.#nowMs = targetMs;
  }
}

type Listener = Parameters<StreamSource["addListener"]>[0];

/** Streams in memory: create, write and delete them, and see the wake events. */
export class FakeStreams implements StreamSource {
  #streams = new Map<string, StreamView>();
  #listeners: Listener[] = [];
  #nextId = 1;
  /** Bodies appended through `append` (wake events), by stream. */
  readonly appended: { name: string; body: unknown }[] = [];

  /** The view of `name`. */
  view(name: string): StreamView | undefined {
    return this.#streams.get(name);
  }

  /** Streams returned by `list` so far. */
  listed = 0;

  /** A sorted page of streams named with `prefix`. */
  list(
    prefix: string,
    after: string | undefined,
    limit: number,
  ): { streams: StreamView[]; more: boolean } {
    const names = [...this.#streams.keys()].sort().filter((n) =>
      n.startsWith(prefix) && (after === undefined || n > after)
    );
    const page = names.slice(0, limit).map((n) => this.#streams.get(n)!);
    this.listed += page.length;
    return { streams: page, more: names.length > limit };
  }

  /** Appends `request.body` (parsed as JSON) to an existing stream. */
  append(
    name: string,
    request: AppendRequest,
  ): Promise<Result<AppendOutcome>> {
    const view = this.#streams.get(name);
    if (view === undefined) {
      return Promise.resolve(fail("stream_not_found", `No stream ${name}`));
    }
    const text = new TextDecoder().decode(request.body);
    this.appended.push({ name, body: JSON.parse(text) });
    this.write(name, request.body.length);
    return Promise.resolve(ok({
      kind: "accepted",
      nextPos: view.tailPos,
      closed: false,
      producer: undefined,
      producerNew: false,
    }));
  }

  /** Registers a listener. */
  addListener(listener: Listener): void {
    this.#listeners.push(listener);
  }

  /** Creates stream `name` with `bytes` of data. */
  create(name: string, bytes = 0): void {
    const view: StreamView = {
      id: this.#nextId++,
      name,
      contentType: "application/json",
      tailPos: bytes,
      closed: false,
      ttlSeconds: null,
      expiresAtMs: null,
      createdAtMs: 0,
    };
    this.#streams.set(name, view);
    for (const l of this.#listeners) l.created?.({ ...view });
  }

  /** Appends `bytes` of data to stream `name`. */
  write(name: string, bytes: number): void {
    const view = this.#streams.get(name)!;
    view.tailPos += bytes;
    for (const l of this.#listeners) l.appended?.({ ...view });
  }

  /** Deletes stream `name`. */
  remove(name: string): void {
    this.#streams.delete(name);
    for (const l of this.#listeners) l.deleted?.(name);
  }
}

/** A subscription manager over fakes, for unit tests. */
export interface TestManager {
  /** The manager. */
  manager: SubscriptionManager;
  /** Its streams. */
  streams: FakeStreams;
  /** Its clock. */
  clock: ManualClock;
  /** Its store (in memory). */
  store: SqliteSubscriptionStore;
  /** Webhook attempts made, in order. */
  attempts: AttemptOptions[];
  /** Closes the manager and the store. */
  close(): Promise<void>;
}

/** Options for `openTestManager`. */
export interface TestManagerOptions {
  /** Subscription settings to change. */
  config?: Partial<SubscriptionsConfig>;
  /** Streams to start from. */
  streams?: FakeStreams;
  /** Clock to start from. */
  clock?: ManualClock;
  /** Store to start from (a restart); in memory when absent. */
  store?: SqliteSubscriptionStore;
  /** Answers webhook attempts (default: success, not done). */
  answer?: (
    options: AttemptOptions,
  ) => AttemptOutcome | Promise<AttemptOutcome>;
}

/** Opens a manager over fakes, with jitter-free retry delays. */
export async function openTestManager(
  options: TestManagerOptions = {},
): Promise<TestManager> {
  const defaults = defaultConfig();
  const streams = options.streams ?? new FakeStreams();
  const clock = options.clock ?? new ManualClock();
  const store = options.store ??
    openSqliteSubscriptionStore(":memory:", "os");
  const attempts: AttemptOptions[] = [];
  const answer = options.answer ?? (() => ({ ok: true, done: false }));
  const manager = await SubscriptionManager.open({
    engine: streams,
    store,
    config: {
      ...defaults.subscriptions,
      webhookAllowLocalhost: true,
      ...options.config,
    },
    limits: defaults.limits,
    log: createLogger("error"),
    baseUrl: "http://127.0.0.1:1",
    clock,
    attempt: async (o) => {
      attempts.push(o);
      return await answer(o);
    },
    random: () => 0,
  });
  return {
    manager,
    streams,
    clock,
    store,
    attempts,
    close: async () => {
      await manager.close();
      if (options.store === undefined) store.close();
    },
  };
}

/** A pull-wake config over `streams` (and `pattern`), waking `wakeStream`. */
export function pullWake(
  streams: string[],
  pattern: string | null = null,
  wakeStream = "wake",
): SubscriptionConfig {
  return {
    type: "pull-wake",
    pattern,
    streams: [...streams].sort(),
    webhookUrl: null,
    wakeStream,
    leaseTtlMs: 10_000,
    description: null,
  };
}

/** A webhook config over `streams` (and `pattern`). */
export function webhook(
  streams: string[],
  pattern: string | null = null,
): SubscriptionConfig {
  return {
    type: "webhook",
    pattern,
    streams: [...streams].sort(),
    webhookUrl: "http://127.0.0.1:9/hook",
    wakeStream: null,
    leaseTtlMs: 10_000,
    description: null,
  };
}

/** Lets queued microtasks and zero-delay timers (the wake-event pump) run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0));
}
