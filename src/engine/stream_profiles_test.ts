import assert from "node:assert/strict";
import { defaultConfig } from "../config.ts";
import { createLogger } from "../log.ts";
import type { ProfileOptions } from "../profiles/profile.ts";
import { profileFor } from "../profiles/registry.ts";
import { MemoryStore, MemoryWal } from "../storage/memory_store.ts";
import { diskFullError } from "../storage/wal_store.ts";
import { DISK_FULL_PAUSE_MS } from "../limits.ts";
import { Engine } from "./engine.ts";
import type { AppendRequest, StreamListener } from "./types.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function options(raw: Record<string, unknown>): ProfileOptions {
  const parsed = profileFor(String(raw.kind))!.validate(raw);
  if (!parsed.ok) throw parsed.error;
  return parsed.value;
}

function jsonAppend(value: unknown): AppendRequest {
  return {
    contentType: "application/json",
    body: enc(JSON.stringify(value)),
    close: false,
    streamSeq: undefined,
    producer: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  };
}

async function open(wal = new MemoryWal(), clock = { now: 1_764_669_600_000 }) {
  const store = new MemoryStore(wal);
  const engine = await Engine.open(store, {
    limits: defaultConfig().limits,
    log: createLogger("error", "text"),
    onFatal: (e) => {
      throw e;
    },
    now: () => clock.now,
  });
  const created = await engine.create("s", {
    contentType: "application/json",
    ttlSeconds: undefined,
    expiresAtMs: undefined,
    closed: false,
    body: new Uint8Array(),
    fork: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  });
  assert.ok(created.ok);
  return { engine, store, wal };
}

Deno.test("installProfile sees appends still waiting for their commit: evlog on a stream with a queued append is 409", async () => {
  const { engine, store } = await open();
  let release!: () => void;
  store.commitGate = new Promise((resolve) => (release = resolve));
  const append = engine.append("s", jsonAppend({ a: 1 }));
  const install = engine.installProfile("s", options({ kind: "evlog" }));
  release();
  store.commitGate = undefined;
  assert.ok((await append).ok);
  const refused = await install;
  assert.ok(!refused.ok);
  assert.equal(refused.error.kind, "profile_conflict");
  await engine.close();
});

Deno.test("appends assigned after an install (before its commit) are normalized by the new profile; one commit holds profile and registry", async () => {
  const { engine, store } = await open();
  const changes: string[] = [];
  const listener: StreamListener = {
    profileChanged: (view, previous) =>
      changes.push(`${previous.kind}->${view.profile?.kind}`),
  };
  engine.addListener(listener);
  let release!: () => void;
  store.commitGate = new Promise((resolve) => (release = resolve));
  const install = engine.installProfile("s", options({ kind: "evlog" }));
  const append = engine.append("s", jsonAppend({ requestId: "r", token: "x" }));
  release();
  store.commitGate = undefined;
  const installed = await install;
  assert.ok(installed.ok);
  assert.equal(installed.value.registry?.currentVersion, 1);
  assert.deepEqual(installed.value.previous, { kind: "generic" });
  assert.ok((await append).ok);
  assert.deepEqual(changes, ["generic->evlog"]);
  // Both are in the WAL (the stores' contract: in one commit).
  const snapshot = await store.load();
  assert.equal(snapshot.profiles[0].kind, "evlog");
  assert.equal(snapshot.schemaRegistries.length, 1);
  const read = await engine.read("s", "start");
  assert.ok(read.ok);
  const [record] = JSON.parse(
    `[${new TextDecoder().decode(read.value.data).slice(0, -1)}]`,
  );
  assert.equal(record.requestId, "r");
  assert.equal(record.context.token, "[REDACTED]");
  await engine.close();
});

Deno.test("a stored profile the module refuses stops the engine from opening (corrupt)", async () => {
  const { engine, wal } = await open();
  await engine.close();
  wal.profiles.set(1, { kind: "evlog", options: '{"kind":"evlog","bad":1}' });
  await assert.rejects(
    open(wal),
    (error: Error) => /Stored profile "evlog"/.test(error.message),
  );
});

Deno.test("after a failed commit the assigned profile goes back to the WAL's", async () => {
  const clock = { now: 1_764_669_600_000 };
  const { engine, store } = await open(new MemoryWal(), clock);
  store.failNextCommit = diskFullError("WAL commit failed", new Error());
  const install = await engine.installProfile("s", options({ kind: "evlog" }))
    .catch((error) => error);
  assert.ok(install instanceof Error || !install.ok);
  // Once rolled back, a plain element is stored unchanged again.
  clock.now += DISK_FULL_PAUSE_MS;
  for (let i = 0; i < 100; i++) {
    const appended = await engine.append("s", jsonAppend({ plain: true }))
      .catch(() => undefined);
    if (appended?.ok) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const read = await engine.read("s", "start");
  assert.ok(read.ok);
  assert.equal(new TextDecoder().decode(read.value.data), '{"plain":true},');
  const profile = engine.profile("s");
  assert.ok(profile.ok);
  assert.equal(profile.value.options.kind, "generic");
  await engine.close();
});
