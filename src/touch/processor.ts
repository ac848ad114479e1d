/**
 * @module
 * The processor step (touch-live.md §4, §8): State Protocol change records
 * to touches. Every change touches its entity's table key (coalesced per
 * `coarseIntervalMs`, deferred, never dropped); each active template of the
 * entity adds fine touches from the before and after field tuples, or its
 * template key when the runtime is not in fine mode. A fine touch that is
 * over budget, out of tokens or cold (no waiter asked for it lately) becomes
 * its template's key instead of vanishing, so a wait that names its
 * templates is woken either way: coarser, never missed. Pure: state in,
 * state and touches out, time passed in.
 */

import type { JsonObject } from "../profiles/profile.ts";
import { checkStateRecord } from "../profiles/state_protocol.ts";
import type { JournalOptions } from "./journal.ts";
import { encodeArg, type KeyHasher, type Template } from "./keys.ts";

/** Per-stream runtime mode. */
export type RuntimeMode = "idle" | "fine" | "restricted" | "coarseOnly";
/** What to do with an update that has no before image. */
export type MissingBefore = "coarse" | "skipBefore" | "error";

/** The processor's part of `profile.touch`. */
export interface ProcessorOptions {
  onMissingBefore: MissingBefore;
  coarseIntervalMs: number;
  lagDegradeFineTouchesAtSourceOffsets: number;
  lagRecoverFineTouchesAtSourceOffsets: number;
  fineTouchBudgetPerBatch: number;
  fineTokensPerSecond: number;
  fineBurstTokens: number;
  lagReservedFineTouchBudgetPerBatch: number;
}

/** The processor options of a validated `profile.touch` object. */
export function processorOptions(touch: JsonObject): ProcessorOptions {
  const n = (key: string) => touch[key] as number;
  return {
    onMissingBefore: touch.onMissingBefore as MissingBefore,
    coarseIntervalMs: n("coarseIntervalMs"),
    lagDegradeFineTouchesAtSourceOffsets: n(
      "lagDegradeFineTouchesAtSourceOffsets",
    ),
    lagRecoverFineTouchesAtSourceOffsets: n(
      "lagRecoverFineTouchesAtSourceOffsets",
    ),
    fineTouchBudgetPerBatch: n("fineTouchBudgetPerBatch"),
    fineTokensPerSecond: n("fineTokensPerSecond"),
    fineBurstTokens: n("fineBurstTokens"),
    lagReservedFineTouchBudgetPerBatch: n("lagReservedFineTouchBudgetPerBatch"),
  };
}

/** The journal options of a validated `profile.touch` object. */
export function journalOptions(touch: JsonObject): JournalOptions {
  const m = touch.memory as Record<string, number>;
  return {
    bucketMs: m.bucketMs,
    filterPow2: m.filterPow2,
    k: m.k,
    pendingMaxKeys: m.pendingMaxKeys,
    hotKeyTtlMs: m.hotKeyTtlMs,
    hotTemplateTtlMs: m.hotTemplateTtlMs,
    hotMaxKeys: m.hotMaxKeys,
    hotMaxTemplates: m.hotMaxTemplates,
  };
}

type Row = Record<string, unknown>;

/** A canonical change: `seq` counts records of the stream. */
export interface Change {
  seq: number;
  entity: string;
  op: "insert" | "update" | "delete";
  before: Row | null;
  after: Row | null;
}

/** A change from a State Protocol record; null for controls and bad records. */
export function changeFromRecord(record: unknown, seq: number): Change | null {
  if (!checkStateRecord(record).ok) return null;
  const r = record as Row;
  const headers = r.headers as Row;
  if (headers.operation === undefined) return null;
  const row = (v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v) ? v as Row : null;
  const op = headers.operation as Change["op"];
  return {
    seq,
    entity: r.type as string,
    op,
    before: op === "insert" ? null : row(
      op === "delete" && r.old_value === undefined ? r.value : r.old_value,
    ),
    after: op === "delete" ? null : row(r.value),
  };
}

/** A template that is active from record `activeFromSeq` on. */
export interface ActiveTemplate extends Template {
  activeFromSeq: number;
}

/** A touch to queue in the journal. */
export interface Touch {
  key: string;
  keyId: number;
  kind: "table" | "template" | "fine";
}

/** Monotonic counters of one processor. */
export interface ProcessorCounters {
  changes: number;
  tableTouches: number;
  templateTouches: number;
  fineTouches: number;
  fineDroppedBudget: number;
  fineDroppedCold: number;
  missingBeforeErrors: number;
}

/** The processor's state between batches. */
export interface ProcessorState {
  mode: RuntimeMode;
  degraded: boolean;
  errorLatched: boolean;
  lastError: string | null;
  tokens: number;
  tokensAtMs: number;
  coarsePending: Map<string, number>;
  coarseReleasedAtMs: number;
  counters: ProcessorCounters;
}

/** A fresh state (a new profile or a new journal). */
export function initialState(
  opts: ProcessorOptions,
  nowMs: number,
): ProcessorState {
  return {
    mode: "idle",
    degraded: false,
    errorLatched: false,
    lastError: null,
    tokens: opts.fineBurstTokens,
    tokensAtMs: nowMs,
    coarsePending: new Map(),
    coarseReleasedAtMs: -Infinity,
    counters: {
      changes: 0,
      tableTouches: 0,
      templateTouches: 0,
      fineTouches: 0,
      fineDroppedBudget: 0,
      fineDroppedCold: 0,
      missingBeforeErrors: 0,
    },
  };
}

/**
 * The mode for the next batch: `coarseOnly` after a before-image error,
 * `idle` with no waiters, `restricted` once lag passes the degrade mark and
 * until it falls to the recover mark, else `fine`.
 */
export function nextMode(
  state: ProcessorState,
  lagRecords: number,
  activeWaiters: number,
  opts: ProcessorOptions,
): { mode: RuntimeMode; degraded: boolean } {
  let degraded = state.degraded;
  if (lagRecords > opts.lagDegradeFineTouchesAtSourceOffsets) degraded = true;
  else if (lagRecords <= opts.lagRecoverFineTouchesAtSourceOffsets) {
    degraded = false;
  }
  if (state.errorLatched) return { mode: "coarseOnly", degraded };
  if (activeWaiters === 0) return { mode: "idle", degraded };
  return { mode: degraded ? "restricted" : "fine", degraded };
}

/** One batch of work. */
export interface BatchInput {
  changes: Change[];
  nowMs: number;
  /** Records behind the tail after this batch. */
  lagRecords: number;
  activeWaiters: number;
  /** Active templates by entity. */
  templates: ReadonlyMap<string, ActiveTemplate[]>;
  /** Whether a waiter asked for this key id lately; absent = all hot. */
  isHotKey?: (keyId: number) => boolean;
}

/** The result of a batch. */
export interface BatchOutput {
  state: ProcessorState;
  touches: Touch[];
}

interface FinePlan {
  template: ActiveTemplate;
  keys: string[];
}

/** Runs one batch: changes to touches, with budgets and coalescing. */
export function processBatch(
  hasher: KeyHasher,
  opts: ProcessorOptions,
  prev: ProcessorState,
  input: BatchInput,
): BatchOutput {
  const state: ProcessorState = {
    ...prev,
    coarsePending: new Map(prev.coarsePending),
    counters: { ...prev.counters },
  };
  const { mode, degraded } = nextMode(
    state,
    input.lagRecords,
    input.activeWaiters,
    opts,
  );
  state.mode = mode;
  state.degraded = degraded;
  const out = new Map<string, Touch>();
  const add = (touch: Touch) => {
    if (out.has(touch.key)) return;
    out.set(touch.key, touch);
    if (touch.kind === "template") state.counters.templateTouches++;
    else if (touch.kind === "fine") state.counters.fineTouches++;
  };
  const templateKeys = new Map<string, string>();
  const templateTouch = (t: Template) => {
    let key = templateKeys.get(t.id);
    if (key === undefined) {
      key = hasher.templateKey(t.id);
      templateKeys.set(t.id, key);
    }
    add({ key, keyId: hasher.keyId(key), kind: "template" });
  };
  const plans: FinePlan[] = [];
  for (const change of input.changes) {
    state.counters.changes++;
    if (!state.coarsePending.has(change.entity)) {
      state.coarsePending.set(change.entity, change.seq);
    }
    for (const template of input.templates.get(change.entity) ?? []) {
      if (template.activeFromSeq > change.seq) continue;
      if (state.mode !== "fine") {
        templateTouch(template);
        continue;
      }
      const fine = fineKeys(hasher, template, change, opts);
      if (fine === "error") {
        state.counters.missingBeforeErrors++;
        state.errorLatched = true;
        state.lastError =
          `update of ${change.entity} at record ${change.seq} has no before image`;
        state.mode = "coarseOnly";
        templateTouch(template);
        continue;
      }
      if (fine.length > 0) plans.push({ template, keys: fine });
    }
  }
  const budget = input.lagRecords > opts.lagRecoverFineTouchesAtSourceOffsets
    ? Math.min(
      opts.fineTouchBudgetPerBatch,
      opts.lagReservedFineTouchBudgetPerBatch,
    )
    : opts.fineTouchBudgetPerBatch;
  refill(state, input.nowMs, opts);
  let used = 0;
  for (const plan of plans) {
    for (const key of plan.keys) {
      if (out.has(key)) continue;
      const keyId = hasher.keyId(key);
      if (input.isHotKey !== undefined && !input.isHotKey(keyId)) {
        state.counters.fineDroppedCold++;
        templateTouch(plan.template);
        continue;
      }
      if (used >= budget || state.tokens < 1) {
        state.counters.fineDroppedBudget++;
        templateTouch(plan.template);
        continue;
      }
      used++;
      state.tokens--;
      add({ key, keyId, kind: "fine" });
    }
  }
  for (const touch of releaseCoarse(hasher, opts, state, input.nowMs)) {
    out.set(touch.key, touch);
  }
  return { state, touches: [...out.values()] };
}

/**
 * Table touches held for coalescing, released once `coarseIntervalMs` has
 * passed since the last release (mutates `state`). Call it on a timer too,
 * so a quiet stream still releases its last table touches.
 */
export function releaseCoarse(
  hasher: KeyHasher,
  opts: ProcessorOptions,
  state: ProcessorState,
  nowMs: number,
): Touch[] {
  if (state.coarsePending.size === 0) return [];
  if (nowMs - state.coarseReleasedAtMs < opts.coarseIntervalMs) return [];
  const touches: Touch[] = [];
  for (const entity of state.coarsePending.keys()) {
    const key = hasher.tableKey(entity);
    touches.push({ key, keyId: hasher.keyId(key), kind: "table" });
  }
  state.counters.tableTouches += touches.length;
  state.coarsePending.clear();
  state.coarseReleasedAtMs = nowMs;
  return touches;
}

function refill(state: ProcessorState, nowMs: number, opts: ProcessorOptions) {
  const elapsed = Math.max(0, nowMs - state.tokensAtMs);
  state.tokens = Math.min(
    opts.fineBurstTokens,
    state.tokens + elapsed * opts.fineTokensPerSecond / 1000,
  );
  state.tokensAtMs = nowMs;
}

/** The args of `row` for a template's fields; null when one is unusable. */
export function tupleOf(template: Template, row: Row | null): string[] | null {
  if (row === null) return null;
  const args: string[] = [];
  for (const field of template.fields) {
    const arg = encodeArg(row[field.name], field.encoding);
    if (arg === null) return null;
    args.push(arg);
  }
  return args;
}

/**
 * The fine keys of one change for one template, or `"error"` for an update
 * without a before image under `onMissingBefore: error`.
 */
export function fineKeys(
  hasher: KeyHasher,
  template: Template,
  change: Change,
  opts: Pick<ProcessorOptions, "onMissingBefore">,
): string[] | "error" {
  const id = template.id;
  const watch = (a: string[]) => hasher.fineKey("key", id, null, a);
  const member = (a: string[]) => hasher.fineKey("mem", id, null, a);
  const field = (f: string, a: string[]) => hasher.fineKey("fld", id, f, a);
  const before = tupleOf(template, change.before);
  const after = tupleOf(template, change.after);
  const out: string[] = [];
  if (change.op === "insert") {
    if (after) out.push(watch(after), member(after));
    return out;
  }
  if (change.op === "delete") {
    if (before) out.push(watch(before), member(before));
    return out;
  }
  if (change.before === null) {
    if (opts.onMissingBefore === "coarse") return out;
    if (opts.onMissingBefore === "error") return "error";
    if (after) {
      out.push(watch(after), member(after));
      for (const name of Object.keys(change.after ?? {})) {
        out.push(field(name, after));
      }
    }
    return out;
  }
  if (before) out.push(watch(before));
  if (after) out.push(watch(after));
  const same = before !== null && after !== null &&
    before.every((arg, i) => arg === after[i]);
  if (!same) {
    if (before) out.push(member(before));
    if (after) out.push(member(after));
    return out;
  }
  const inTemplate = new Set(template.fields.map((f) => f.name));
  const names = new Set([
    ...Object.keys(change.before),
    ...Object.keys(change.after ?? {}),
  ]);
  for (const name of names) {
    if (inTemplate.has(name)) continue;
    const a = JSON.stringify(change.before[name] ?? null);
    const b = JSON.stringify(change.after?.[name] ?? null);
    if (a !== b) out.push(field(name, after!));
  }
  return out;
}
