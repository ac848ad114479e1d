import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import { MemoryRunCatalog, parseRoutingIndexManifest } from "./catalog.ts";
import { type MadeCatalog, runCatalogContract } from "./_catalog_contract.ts";
import { openSqliteRunCatalog } from "./sqlite_catalog.ts";

runCatalogContract(
  "memory",
  () => ({ catalog: new MemoryRunCatalog(), [Symbol.dispose]() {} }),
);

runCatalogContract("sqlite", (): MadeCatalog => {
  const dir = Deno.makeTempDirSync();
  const path = `${dir}/wal.sqlite`;
  const opened: { close(): void }[] = [];
  const open = () => {
    const catalog = openSqliteRunCatalog(path, "os");
    opened.push(catalog);
    return catalog;
  };
  return {
    catalog: open(),
    reopen: open,
    [Symbol.dispose]() {
      for (const c of opened) c.close();
      Deno.removeSync(dir, { recursive: true });
    },
  };
});

Deno.test("parseRoutingIndexManifest() reports malformed sections as corrupt", () => {
  const good = {
    seed: "0000000000000001",
    indexedThrough: 2,
    runs: [{
      level: 0,
      firstSegment: 0,
      lastSegment: 1,
      objectKey: "k",
      bytes: 3,
    }],
  };
  parseRoutingIndexManifest(good, 0);
  const bads: unknown[] = [
    null,
    { ...good, seed: 1 },
    { ...good, indexedThrough: -1 },
    { ...good, indexedThrough: 3 },
    { ...good, runs: "x" },
    { ...good, runs: [{ ...good.runs[0], objectKey: "" }] },
    { ...good, runs: [{ ...good.runs[0], level: 99 }] },
    { ...good, runs: [{ ...good.runs[0], firstSegment: 1 }] },
  ];
  for (const b of bads) {
    assert.throws(
      () => parseRoutingIndexManifest(b, 0),
      (e) => e instanceof StreamError && e.kind === "corrupt",
      JSON.stringify(b),
    );
  }
});
