/**
 * @module
 * One JSON stream under a `search` section on an in-process engine over the
 * in-memory WAL, for the search and companion tests and benchmarks: open
 * it, append values as JSON batches, and the companion record of each value
 * appended (its stored bytes are its JSON plus the separator).
 */

import { defaultConfig, type LimitsConfig } from "../src/config.ts";
import { Engine } from "../src/engine/engine.ts";
import { appendReq, createReq } from "../src/engine/_testing.ts";
import { createLogger } from "../src/log.ts";
import type { CompanionRecord } from "../src/search/companion.ts";
import type { SearchConfig } from "../src/search/config.ts";
import { extractFields } from "../src/search/extract.ts";
import { MemoryStore, MemoryWal } from "../src/storage/memory_store.ts";

const enc = new TextEncoder();

/**
 * An engine on the in-memory WAL holding the empty JSON stream `name` with
 * `search` in its schema registry; throws when either is refused.
 */
export async function openSearchStream(
  name: string,
  search: unknown,
  limits: LimitsConfig = defaultConfig().limits,
): Promise<Engine> {
  const engine = await Engine.open(new MemoryStore(new MemoryWal()), {
    limits,
    log: createLogger("error"),
    onFatal: (e) => {
      throw e;
    },
  });
  const created = await engine.create(
    name,
    createReq({ contentType: "application/json" }),
  );
  if (!created.ok) throw created.error;
  const schema = await engine.updateSchema(name, {
    schema: { type: "object" },
    search,
  });
  if (!schema.ok) throw schema.error;
  return engine;
}

/** Appends `values` to `name` as one JSON array; returns the next position. */
export async function appendJson(
  engine: Engine,
  name: string,
  values: unknown[],
): Promise<number> {
  const appended = await engine.append(
    name,
    appendReq(JSON.stringify(values), { contentType: "application/json" }),
  );
  if (!appended.ok) throw appended.error;
  return appended.value.nextPos;
}

/** How `jsonCompanionRecord` extracts a value. */
export interface JsonRecordOptions {
  /** Give text fields tokens (default true; the tier builds without). */
  analyze?: boolean;
  /** Keep the parsed value (rollup `summary_parts` measures read it). */
  keepRecord?: boolean;
}

/**
 * The companion record of `value` appended as JSON at `startPos`, at
 * schema version 1; its `endPos` is where the next value starts.
 */
export function jsonCompanionRecord(
  config: SearchConfig,
  value: unknown,
  startPos: number,
  options: JsonRecordOptions = {},
): CompanionRecord {
  const length = enc.encode(JSON.stringify(value)).length + 1;
  const record: CompanionRecord = {
    startPos,
    endPos: startPos + length,
    doc: extractFields(config, value, 1, options.analyze ?? true),
  };
  if (options.keepRecord) record.record = value;
  return record;
}
