/**
 * @module
 * Schema registries in the engine: planning a registry change against a
 * stream's assigned state, checking appended messages against the current
 * schema, a fork's inherited registry, and promoting stored records to the
 * current version on read. The rules themselves live in `schema/`; this is
 * where they meet stream state and WAL operations.
 */

import { fail, ok, type Result } from "../errors.ts";
import { storedMessageEnds } from "../protocol/json.ts";
import { needsPromotion, promote, versionAt } from "../schema/promote.ts";
import {
  activate,
  type ActiveRegistry,
  emptyRegistry,
  isEmptyRegistry,
  parseStoredRegistry,
  planSchemaUpdate,
  type Registry,
} from "../schema/registry.ts";
import { validateElements } from "../schema/validate.ts";
import {
  nextSearchPlan,
  type SearchConfig,
  validateSearchConfig,
} from "../search/config.ts";
import type { SchemaRegistryRow, WalOp } from "../storage/wal_store.ts";
import type { Framed } from "./ops.ts";
import type { StreamState } from "./stream_state.ts";

/** The registry a stream shows: its own, or the empty one. */
export function registryOf(
  state: StreamState,
  active: ActiveRegistry | null,
): Registry {
  return active?.registry ?? emptyRegistry(state.name);
}

/** A registry change planned against the assigned state of `state`. */
export interface SchemaChange {
  /** The new registry, compiled. */
  active: ActiveRegistry;
  /** The WAL operation storing it. */
  op: WalOp;
}

/**
 * Plans `POST .../_schema` with `body`: the new version's boundary is the
 * assigned tail, so appends assigned before it are older records and every
 * append assigned after it is validated against the new schema.
 */
export function planSchemaChange(
  state: StreamState,
  body: unknown,
): Result<SchemaChange> {
  if (!state.json) {
    return fail(
      "bad_request",
      `Stream "${state.name}" is not an application/json stream; schemas apply to JSON streams only`,
    );
  }
  const next = planSchemaUpdate(registryOf(state, state.schema), body, {
    tail: state.tailPos,
    empty: state.tailPos === state.forkPos,
  });
  if (!next.ok) return next;
  const search = (body as Record<string, unknown>).search;
  if (search !== undefined) {
    // specs/search.md §1: the section is checked in full before it is stored;
    // a change bumps the plan generation (the same config keeps its plan).
    const checked = validateSearchConfig(search);
    if (!checked.ok) return checked;
    next.value.search = checked.value;
    next.value.searchPlan = nextSearchPlan(
      state.schema?.registry.searchPlan ?? undefined,
      checked.value,
    );
  }
  return ok({
    active: activate(next.value),
    op: {
      op: "schema_registry",
      streamId: state.id,
      registry: JSON.stringify(next.value),
    },
  });
}

/**
 * Checks each appended message against the stream's current schema (JSON
 * streams with a schema only): one invalid message refuses the request.
 */
export function checkMessages(
  state: StreamState,
  framed: Framed,
): Result<void> {
  const validator = state.schema?.validator;
  if (validator == null || framed.lengths.length === 0) return ok(undefined);
  const values = framed.values;
  if (values === undefined) {
    return fail("bad_request", "A stream with a schema takes JSON messages");
  }
  return validateElements(validator, values);
}

/**
 * The registry a fork starts with: the source's, as of the fork position
 * (versions whose boundary lies beyond it are dropped). `null` when that
 * leaves nothing.
 */
export function forkRegistry(
  source: ActiveRegistry | null,
  forkPos: number,
): ActiveRegistry | null {
  if (source === null) return null;
  const from = source.registry;
  const boundaries = from.boundaries.filter((b) => b.position <= forkPos);
  const version = boundaries.length === 0
    ? 0
    : boundaries[boundaries.length - 1].version;
  const registry: Registry = {
    schema: from.schema,
    currentVersion: version,
    routingKey: from.routingKey,
    boundaries,
    schemas: {},
    lenses: {},
    search: version === 0 ? null : from.search,
    searchPlan: version === 0 ? null : from.searchPlan ?? null,
    revision: from.revision,
  };
  for (let v = 1; v <= version; v++) {
    registry.schemas[v] = from.schemas[v];
    if (from.lenses[v - 1] !== undefined) {
      registry.lenses[v - 1] = from.lenses[v - 1];
    }
  }
  return isEmptyRegistry(registry) ? null : activate(registry);
}

/** The WAL op storing `active` for stream `streamId` (`null` removes it). */
export function registryOp(
  streamId: number,
  active: ActiveRegistry | null,
): WalOp {
  return {
    op: "schema_registry",
    streamId,
    registry: active === null ? null : JSON.stringify(active.registry),
  };
}

/** Compiles stored registries (startup, reset after a full disk). */
export function restoredRegistries(
  rows: readonly SchemaRegistryRow[],
): Result<Map<number, ActiveRegistry>> {
  const out = new Map<number, ActiveRegistry>();
  for (const row of rows) {
    const parsed = parseStoredRegistry(row.registry);
    if (!parsed.ok) return parsed;
    out.set(row.streamId, activate(parsed.value));
  }
  return ok(out);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Stored JSON messages read from `startPos`, each upgraded to the current
 * schema version; the same bytes when none needs it (records written under
 * the current version, or a registry without lenses). Offsets are unchanged:
 * they name stored positions. Fails with `internal` naming the position of a
 * record a lens could not upgrade.
 */
export function promoteStored(
  active: ActiveRegistry | null,
  startPos: number,
  data: Uint8Array,
): Result<Uint8Array> {
  if (!needsPromotion(active) || data.length === 0) return ok(data);
  const boundaries = active!.registry.boundaries;
  const current = boundaries[boundaries.length - 1];
  if (startPos >= current.position) return ok(data); // all current: fast path
  const parts: Uint8Array[] = [];
  let total = 0;
  let begin = 0;
  for (const end of storedMessageEnds(data)) {
    const position = startPos + begin;
    let part = data.subarray(begin, end);
    const version = versionAt(active!, position);
    if (version !== 0 && version < active!.registry.currentVersion) {
      const value = JSON.parse(decoder.decode(part.subarray(0, -1)));
      const promoted = promote(active!, position, value);
      if (!promoted.ok) {
        return fail(
          "internal",
          `Cannot upgrade the record at position ${position} from schema version ${version}: ${promoted.error.message}`,
          { position },
        );
      }
      part = encoder.encode(JSON.stringify(promoted.value) + ",");
    }
    parts.push(part);
    total += part.length;
    begin = end;
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return ok(out);
}

/**
 * Moves boundaries past `tailPos` back to it. A registry restored from an
 * object store may have been published with a version that began after the
 * last published record; on the restored stream that version begins at the
 * tail (there are no records between).
 */
export function clampBoundaries(active: ActiveRegistry, tailPos: number): void {
  for (const boundary of active.registry.boundaries) {
    if (boundary.position > tailPos) boundary.position = tailPos;
  }
}

const searchConfigs = new WeakMap<object, SearchConfig | null>();

/**
 * The search configuration of a registry, checked once per registry object;
 * `undefined` when it has none (or a stored one that no longer validates).
 */
export function searchConfigOf(
  active: ActiveRegistry | null,
): SearchConfig | undefined {
  if (active === null || active.registry.search === null) return undefined;
  const registry = active.registry;
  let config = searchConfigs.get(registry);
  if (config === undefined) {
    const checked = validateSearchConfig(registry.search);
    config = checked.ok ? checked.value : null;
    searchConfigs.set(registry, config);
  }
  return config ?? undefined;
}
