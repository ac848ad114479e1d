import assert from "node:assert/strict";
import { join } from "node:path";
import { StartupError } from "../errors.ts";
import { KeyStore } from "./key_store.ts";
import { keysFileText, recordingLogger } from "./_testing.ts";

const A = "secret-a-0123456789";
const B = "secret-b-0123456789";

async function withKeysFile(
  fn: (path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-keys-" });
  try {
    await fn(join(dir, "keys.json"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("KeyStore authenticates listed secrets and the API_KEY one", async () => {
  await withKeysFile(async (file) => {
    await Deno.writeTextFile(
      file,
      keysFileText([{ id: "a", secret: A, scopes: ["read"] }]),
    );
    const store = await KeyStore.open(
      { file, apiKey: "env-secret-1" },
      recordingLogger(),
    );
    assert.equal(store.authenticate(A)?.id, "a");
    assert.equal(store.authenticate("env-secret-1")?.id, "API_KEY");
    assert.equal(store.authenticate(B), undefined);
    assert.equal(store.authenticate(A.slice(0, -1) + "x"), undefined);
    assert.equal(store.authenticate("short"), undefined);
    assert.equal(store.authenticate(A + " "), undefined);
    assert.deepEqual(store.ids(), new Set(["a", "API_KEY"]));
  });
});

Deno.test("KeyStore.reload() rotates keys; an invalid file keeps the old ones", async () => {
  await withKeysFile(async (file) => {
    await Deno.writeTextFile(
      file,
      keysFileText([{ id: "a", secret: A, scopes: ["read"] }]),
    );
    const log = recordingLogger();
    const store = await KeyStore.open({ file, apiKey: "" }, log);
    await Deno.writeTextFile(
      file,
      keysFileText([{ id: "b", secret: B, scopes: ["read"] }]),
    );
    assert.equal(await store.reload(), true);
    assert.equal(store.authenticate(A), undefined);
    assert.equal(store.authenticate(B)?.id, "b");
    await Deno.writeTextFile(file, '{"keys": [{"id": "c"}]}');
    assert.equal(await store.reload(), false);
    assert.equal(store.authenticate(B)?.id, "b");
    const errors = log.lines.filter((l) => l.startsWith("error"));
    assert.equal(errors.length, 1);
    assert.match(errors[0], /keeping the 1 keys in force: keys\[0\]/);
    await Deno.remove(file);
    assert.equal(await store.reload(), false);
    assert.equal(store.authenticate(B)?.id, "b");
  });
});

Deno.test("KeyStore.watch() picks up a changed file without a signal", async () => {
  await withKeysFile(async (file) => {
    await Deno.writeTextFile(
      file,
      keysFileText([{ id: "a", secret: A, scopes: ["read"] }]),
    );
    const log = recordingLogger();
    const store = await KeyStore.open({ file, apiKey: "" }, log);
    store.watch(10);
    try {
      await Deno.writeTextFile(
        file,
        keysFileText([
          { id: "a", secret: A, scopes: ["read"] },
          { id: "b", secret: B, scopes: ["write"] },
        ]),
      );
      while (store.authenticate(B) === undefined) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(store.authenticate(A)?.id, "a");
      await Deno.writeTextFile(file, "not json at all");
      while (!log.lines.some((l) => l.startsWith("error"))) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(store.authenticate(B)?.id, "b");
    } finally {
      store.close();
    }
  });
});

Deno.test("KeyStore.open() fails with one line for a bad or missing file", async () => {
  await withKeysFile(async (file) => {
    await assert.rejects(
      KeyStore.open({ file, apiKey: "" }, recordingLogger()),
      (e) => e instanceof StartupError && e.message.includes(file),
    );
    await Deno.writeTextFile(file, '{"keys": [{"id": "x", "sha256": "1"}]}');
    await assert.rejects(
      KeyStore.open({ file, apiKey: "" }, recordingLogger()),
      (e) =>
        e instanceof StartupError && /64 hex/.test(e.message) &&
        !e.message.includes("\n"),
    );
  });
});
