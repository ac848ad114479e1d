import assert from "node:assert/strict";
import { join } from "node:path";
import { StreamError } from "../errors.ts";
import { objectStoreContract } from "./_contract.ts";
import { FsObjectStore, keyPath } from "./fs.ts";

objectStoreContract("FsObjectStore", async (listPageKeysMax) => {
  const root = await Deno.makeTempDir({ prefix: "streambed-fs-store-" });
  return {
    store: new FsObjectStore({ root, listPageKeysMax }),
    close: () => Deno.remove(root, { recursive: true }),
  };
});

Deno.test("keyPath() keeps every key inside the root", () => {
  assert.equal(keyPath("/r", "a/b"), join("/r", "a.d", "b.o"));
  assert.equal(keyPath("/r", "..x/%"), join("/r", "..x.d", "%25.o"));
  assert.throws(
    () => keyPath("/r", "a/../../etc/passwd"),
    (e) => e instanceof StreamError && e.kind === "bad_request",
  );
});

Deno.test("FsObjectStore put() leaves no temp file behind", async () => {
  const root = await Deno.makeTempDir({ prefix: "streambed-fs-store-" });
  try {
    const store = new FsObjectStore({ root });
    await store.put("s/1", new Uint8Array([1, 2, 3]));
    await store.put("s/1", new Uint8Array([4]));
    const tmp = await Array.fromAsync(Deno.readDir(join(root, ".tmp")));
    assert.deepEqual(tmp, []);
    assert.deepEqual(
      await Deno.readFile(join(root, "s.d", "1.o")),
      new Uint8Array([4]),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("FsObjectStore reports an unusable root as unavailable", async () => {
  const root = await Deno.makeTempDir({ prefix: "streambed-fs-store-" });
  try {
    const file = join(root, "not-a-dir");
    await Deno.writeFile(file, new Uint8Array(1));
    const store = new FsObjectStore({ root: file });
    await assert.rejects(
      store.put("k", new Uint8Array(1)),
      (e) => e instanceof StreamError && e.kind === "unavailable",
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
