/**
 * @module
 * The `RunCatalog` contract: one suite the in-memory, SQLite and PostgreSQL
 * catalogs pass. `make()` gives a fresh catalog; `reopen`, when given, a
 * second one on the same data.
 */

import assert from "node:assert/strict";
import { StreamError } from "../errors.ts";
import {
  parseRoutingIndexManifest,
  routingIndexManifest,
  type RunCatalog,
} from "./catalog.ts";

/** A run row for tests. */
export function run(level: number, first: number, last: number) {
  return {
    level,
    firstSegment: first,
    lastSegment: last,
    objectKey: `L${level}-${first}`,
    bytes: 100 + first,
  };
}

function isInternal(e: unknown): boolean {
  return e instanceof StreamError && e.kind === "internal";
}

/** A catalog under test and how to release it. */
export interface MadeCatalog {
  /** The catalog. */
  catalog: RunCatalog;
  /** Another catalog on the same data. */
  reopen?: () => RunCatalog;
  /** Closes everything and removes the data. */
  [Symbol.dispose](): void;
}

/** Registers the suite for the catalogs `make` gives. */
export function runCatalogContract(
  name: string,
  make: () => MadeCatalog | Promise<MadeCatalog>,
): void {
  Deno.test(`${name} catalog: init keeps the first seed; L0 commits and a compaction tile the segments`, async () => {
    using made = await make();
    const { catalog, reopen } = made;
    assert.equal(catalog.state(1), undefined);
    assert.equal(catalog.init(1, 0xabcn, 5).seed, 0xabcn);
    assert.equal(catalog.init(1, 0xdefn, 6).seed, 0xabcn);
    catalog.commit(1, {
      add: [run(0, 0, 1)],
      retire: [],
      indexedThrough: 2,
      nowMs: 10,
    });
    catalog.commit(1, {
      add: [run(0, 2, 3)],
      retire: [],
      indexedThrough: 4,
      nowMs: 11,
    });
    catalog.commit(1, {
      add: [run(1, 0, 3)],
      retire: ["L0-0", "L0-2"],
      indexedThrough: 4,
      nowMs: 12,
    });
    const rows = catalog.runs(1);
    assert.deepEqual(rows.map((r) => [r.objectKey, r.retiredAtMs]), [
      ["L0-0", 12],
      ["L1-0", null],
      ["L0-2", 12],
    ]);
    assert.deepEqual(catalog.state(1), {
      seed: 0xabcn,
      indexedThrough: 4,
      updatedAtMs: 12,
    });
    const m = routingIndexManifest(catalog.state(1)!, rows);
    assert.deepEqual(JSON.parse(JSON.stringify(m)), {
      seed: "0000000000000abc",
      indexedThrough: 4,
      runs: [{
        level: 1,
        firstSegment: 0,
        lastSegment: 3,
        objectKey: "L1-0",
        bytes: 100,
      }],
    });
    catalog.forget(1, ["L0-0", "L1-0"]); // active runs are never forgotten
    assert.deepEqual(catalog.runs(1).map((r) => r.objectKey), ["L1-0", "L0-2"]);
    if (reopen !== undefined) {
      catalog.close();
      const again = reopen();
      assert.deepEqual(again.runs(1).map((r) => r.objectKey), ["L1-0", "L0-2"]);
      assert.equal(again.state(1)?.indexedThrough, 4);
      again.close();
    } else catalog.close();
  });

  Deno.test(`${name} catalog: changes that break the tiling are refused whole`, async () => {
    using made = await make();
    const { catalog } = made;
    assert.throws(
      () =>
        catalog.commit(2, { add: [], retire: [], indexedThrough: 0, nowMs: 1 }),
      isInternal,
    );
    catalog.init(2, 1n, 1);
    catalog.commit(2, {
      add: [run(0, 0, 3)],
      retire: [],
      indexedThrough: 4,
      nowMs: 1,
    });
    const bad = [
      { add: [run(0, 5, 6)], retire: [], indexedThrough: 7, nowMs: 2 }, // gap
      { add: [run(0, 4, 5)], retire: [], indexedThrough: 5, nowMs: 2 }, // wrong coverage
      { add: [run(1, 0, 3)], retire: [], indexedThrough: 4, nowMs: 2 }, // overlap
      { add: [], retire: ["nope"], indexedThrough: 4, nowMs: 2 }, // unknown run
      { add: [run(0, 0, 3)], retire: [], indexedThrough: 4, nowMs: 2 }, // key active
      { add: [], retire: ["L0-0"], indexedThrough: 0, nowMs: 2 }, // shrink
    ];
    for (const change of bad) {
      assert.throws(
        () => catalog.commit(2, change),
        isInternal,
        JSON.stringify(change),
      );
    }
    assert.deepEqual(catalog.runs(2).map((r) => [r.objectKey, r.retiredAtMs]), [
      ["L0-0", null],
    ]);
    assert.equal(catalog.state(2)?.indexedThrough, 4);
    // A repair retires a run and adds one under the same key: it is active
    // again, with the new size.
    catalog.commit(2, {
      add: [{ ...run(0, 0, 3), bytes: 7 }],
      retire: ["L0-0"],
      indexedThrough: 4,
      nowMs: 3,
    });
    assert.deepEqual(
      catalog.runs(2).map((r) => [r.objectKey, r.bytes, r.retiredAtMs]),
      [
        ["L0-0", 7, null],
      ],
    );
    catalog.close();
  });

  Deno.test(`${name} catalog: a manifest section restores the state; drop forgets it`, async () => {
    using made = await make();
    const { catalog } = made;
    const section = {
      seed: "00000000000000ff",
      indexedThrough: 32,
      runs: [
        {
          level: 1,
          firstSegment: 0,
          lastSegment: 15,
          objectKey: "a",
          bytes: 1,
        },
        {
          level: 0,
          firstSegment: 16,
          lastSegment: 31,
          objectKey: "b",
          bytes: 2,
        },
      ],
    };
    const { state, rows } = parseRoutingIndexManifest(
      JSON.parse(JSON.stringify(section)),
      7,
    );
    catalog.replace(3, state, rows);
    assert.deepEqual(
      routingIndexManifest(catalog.state(3)!, catalog.runs(3)),
      section,
    );
    catalog.drop(3);
    assert.equal(catalog.state(3), undefined);
    assert.deepEqual(catalog.runs(3), []);
    catalog.close();
  });
}
