/**
 * @module
 * The run catalog: per stream, the fingerprint seed, how many leading
 * segments the runs cover (`indexedThrough`), and which run objects cover
 * which segment ranges. The active runs always tile `[0, indexedThrough)`
 * exactly; a compaction retires the runs it merged in the same change that
 * adds the merged one, and retired objects are deleted later, once no
 * published manifest can still name them. `RunCatalog` is the seam (an
 * in-memory store here, SQLite in `sqlite_catalog.ts`); its JSON form is the
 * `routingIndex` section of a stream's manifest, so `--bootstrap` restores it.
 */

import { StreamError } from "../errors.ts";
import { seedFromHex, seedToHex } from "./fingerprint.ts";
import { RUN_LEVEL_MAX } from "./run.ts";

/** Index state of one stream. */
export interface RoutingState {
  /** Fingerprint seed, drawn once per stream. */
  seed: bigint;
  /** Segments `[0, indexedThrough)` are covered by active runs. */
  indexedThrough: number;
  /** Time of the last change, epoch ms. */
  updatedAtMs: number;
}

/** A run object the catalog knows. */
export interface RunRow {
  /** Run level (0: built from segments). */
  level: number;
  /** First segment ordinal covered. */
  firstSegment: number;
  /** Last segment ordinal covered (inclusive). */
  lastSegment: number;
  /** Object-store key of the run file. */
  objectKey: string;
  /** Size of the run file. */
  bytes: number;
  /** When a compaction replaced it, epoch ms; null while active. */
  retiredAtMs: number | null;
}

/** One atomic catalog change: runs added, runs retired, new coverage. */
export interface CatalogChange {
  /** New active runs. */
  add: Omit<RunRow, "retiredAtMs">[];
  /** Object keys of active runs to retire. */
  retire: string[];
  /** Coverage after the change. */
  indexedThrough: number;
  /** Time of the change, epoch ms. */
  nowMs: number;
}

/** Where run catalogs are kept. Methods are synchronous and atomic. */
export interface RunCatalog {
  /** The stream's state, or undefined before `init`. */
  state(streamId: number): RoutingState | undefined;
  /** Creates the state with `seed` unless it exists; returns the state. */
  init(streamId: number, seed: bigint, nowMs: number): RoutingState;
  /** Every run row of the stream, ordered by first segment then level. */
  runs(streamId: number): RunRow[];
  /** Applies `change` after `checkChange`; throws if it breaks the tiling. */
  commit(streamId: number, change: CatalogChange): void;
  /** Drops rows of retired runs whose objects are gone. */
  forget(streamId: number, objectKeys: string[]): void;
  /** Drops the stream's state and rows (its objects go with the stream). */
  drop(streamId: number): void;
  /** Replaces the stream's state and rows (bootstrap from a manifest). */
  replace(streamId: number, state: RoutingState, rows: RunRow[]): void;
  /** Releases the store. */
  close(): void;
}

/** Active runs of `rows`, ascending by first segment. */
export function activeRuns(rows: readonly RunRow[]): RunRow[] {
  return rows.filter((r) => r.retiredAtMs === null)
    .sort((a, b) => a.firstSegment - b.firstSegment);
}

/** Throws (an internal error) unless active runs tile `[0, through)`. */
export function checkTiling(active: readonly RunRow[], through: number): void {
  let next = 0;
  for (const r of active) {
    if (r.firstSegment !== next || r.lastSegment < r.firstSegment) {
      throw new StreamError(
        "internal",
        `Routing-key runs do not tile the indexed segments at ordinal ${next}`,
        { objectKey: r.objectKey },
      );
    }
    next = r.lastSegment + 1;
  }
  if (next !== through) {
    throw new StreamError(
      "internal",
      `Routing-key runs cover ${next} segments, catalog says ${through}`,
    );
  }
}

/**
 * The rows after `change`, checked: retired keys must be active, added
 * keys not active (after the retirements), coverage may only grow, and
 * the result must tile.
 */
export function applyChange(
  state: RoutingState,
  rows: readonly RunRow[],
  change: CatalogChange,
): RunRow[] {
  const byKey = new Map(rows.map((r) => [r.objectKey, { ...r }]));
  for (const key of change.retire) {
    const row = byKey.get(key);
    if (row === undefined || row.retiredAtMs !== null) {
      throw new StreamError(
        "internal",
        `Cannot retire run "${key}": not active`,
      );
    }
    row.retiredAtMs = change.nowMs;
  }
  for (const add of change.add) {
    // A retired key may come back: a repair rebuilds an L0 run that a
    // compaction retired, under the same key and with the same bytes.
    if (byKey.get(add.objectKey)?.retiredAtMs === null) {
      throw new StreamError(
        "internal",
        `Run "${add.objectKey}" is already cataloged`,
      );
    }
    byKey.set(add.objectKey, { ...add, retiredAtMs: null });
  }
  if (change.indexedThrough < state.indexedThrough) {
    throw new StreamError("internal", "Routing-key coverage cannot shrink");
  }
  const out = [...byKey.values()];
  checkTiling(activeRuns(out), change.indexedThrough);
  return out.sort(compareRows);
}

/** Orders rows by first segment, then level. */
export function compareRows(a: RunRow, b: RunRow): number {
  return a.firstSegment - b.firstSegment || a.level - b.level;
}

/** In-memory `RunCatalog` (tests, and the in-memory WAL store). */
export class MemoryRunCatalog implements RunCatalog {
  #streams = new Map<number, { state: RoutingState; rows: RunRow[] }>();

  state(streamId: number): RoutingState | undefined {
    const s = this.#streams.get(streamId)?.state;
    return s === undefined ? undefined : { ...s };
  }

  init(streamId: number, seed: bigint, nowMs: number): RoutingState {
    let s = this.#streams.get(streamId);
    if (s === undefined) {
      s = { state: { seed, indexedThrough: 0, updatedAtMs: nowMs }, rows: [] };
      this.#streams.set(streamId, s);
    }
    return { ...s.state };
  }

  runs(streamId: number): RunRow[] {
    return (this.#streams.get(streamId)?.rows ?? []).map((r) => ({ ...r }));
  }

  commit(streamId: number, change: CatalogChange): void {
    const s = this.#streams.get(streamId);
    if (s === undefined) throw noState(streamId);
    s.rows = applyChange(s.state, s.rows, change);
    s.state = {
      ...s.state,
      indexedThrough: change.indexedThrough,
      updatedAtMs: change.nowMs,
    };
  }

  forget(streamId: number, objectKeys: string[]): void {
    const s = this.#streams.get(streamId);
    if (s === undefined) return;
    const gone = new Set(objectKeys);
    s.rows = s.rows.filter((r) =>
      r.retiredAtMs === null || !gone.has(r.objectKey)
    );
  }

  drop(streamId: number): void {
    this.#streams.delete(streamId);
  }

  replace(streamId: number, state: RoutingState, rows: RunRow[]): void {
    checkTiling(activeRuns(rows), state.indexedThrough);
    this.#streams.set(streamId, {
      state: { ...state },
      rows: rows.map((r) => ({ ...r })).sort(compareRows),
    });
  }

  close(): void {}
}

/** The error for a change to a stream the catalog has no state for. */
export function noState(streamId: number): StreamError {
  return new StreamError(
    "internal",
    `No routing-key index state for stream ${streamId}`,
  );
}

/** One run in the manifest's `routingIndex.runs`. */
export interface ManifestRun {
  /** Run level. */
  level: number;
  /** First segment ordinal covered. */
  firstSegment: number;
  /** Last segment ordinal covered (inclusive). */
  lastSegment: number;
  /** Object-store key of the run file. */
  objectKey: string;
  /** Size of the run file. */
  bytes: number;
}

/** The `routingIndex` section of a stream's manifest (JSON-ready). */
export interface RoutingIndexManifest {
  /** The fingerprint seed, 16 lowercase hex digits. */
  seed: string;
  /** Segments `[0, indexedThrough)` are covered by `runs`. */
  indexedThrough: number;
  /** The active runs, ascending by first segment. */
  runs: ManifestRun[];
}

/** The manifest section for a stream's catalog state (active runs only). */
export function routingIndexManifest(
  state: RoutingState,
  rows: readonly RunRow[],
): RoutingIndexManifest {
  return {
    seed: seedToHex(state.seed),
    indexedThrough: state.indexedThrough,
    runs: activeRuns(rows).map((r) => ({
      level: r.level,
      firstSegment: r.firstSegment,
      lastSegment: r.lastSegment,
      objectKey: r.objectKey,
      bytes: r.bytes,
    })),
  };
}

function bad(reason: string): never {
  throw new StreamError(
    "corrupt",
    `Cannot read manifest routingIndex: ${reason}`,
  );
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

/**
 * Validates a parsed manifest section (bytes from the object store are
 * input: anything malformed is `corrupt`) and returns catalog state and
 * rows to `replace` with.
 */
export function parseRoutingIndexManifest(
  value: unknown,
  nowMs: number,
): { state: RoutingState; rows: RunRow[] } {
  if (typeof value !== "object" || value === null) bad("not an object");
  const v = value as Record<string, unknown>;
  const seed = seedFromHex(v.seed);
  if (seed === undefined) bad("seed is not 16 hex digits");
  if (!isCount(v.indexedThrough)) bad("indexedThrough is not a count");
  if (!Array.isArray(v.runs)) bad("runs is not an array");
  const rows: RunRow[] = v.runs.map((run: unknown, i: number) => {
    const r = (typeof run === "object" && run !== null ? run : {}) as Record<
      string,
      unknown
    >;
    if (
      !isCount(r.level) || r.level > RUN_LEVEL_MAX ||
      !isCount(r.firstSegment) ||
      !isCount(r.lastSegment) || !isCount(r.bytes) ||
      typeof r.objectKey !== "string" || r.objectKey === ""
    ) {
      bad(`run ${i} is malformed`);
    }
    return {
      level: r.level,
      firstSegment: r.firstSegment,
      lastSegment: r.lastSegment,
      objectKey: r.objectKey,
      bytes: r.bytes,
      retiredAtMs: null,
    };
  });
  const state = { seed, indexedThrough: v.indexedThrough, updatedAtMs: nowMs };
  try {
    checkTiling(activeRuns(rows), state.indexedThrough);
  } catch (error) {
    bad(`runs do not tile: ${(error as Error).message}`);
  }
  return { state, rows };
}
