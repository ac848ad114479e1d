/**
 * @module
 * A `touch/wait` body (touch-live.md §6.2): its validation, the keys the
 * wait listens on for the runtime mode, and its cursor checked against the
 * journal. The effective wait kind is diagnostic; the key set is chosen so
 * that no mode switch between taking a cursor and waiting loses a wake: a
 * wait that names templates always listens on their template keys too, and
 * on their table keys once the stream is `coarseOnly`.
 */

import { fail, ok, type Result } from "../errors.ts";
import {
  type Cursor,
  EXACT_MAX_KEYS,
  parseCursor,
  type TouchJournal,
  type WaitQuery,
} from "./journal.ts";
import { isHex16, type KeyHasher } from "./keys.ts";
import type { RuntimeMode } from "./processor.ts";

/** Most keys, and most key ids, in one wait. */
export const WAIT_MAX_KEYS = 1024;
/** Default and upper bound of a wait's timeout. */
export const WAIT_DEFAULT_TIMEOUT_MS = 30_000;
export const WAIT_MAX_TIMEOUT_MS = 120_000;

/** A validated wait body. */
export interface WaitRequest {
  cursor: Cursor | "now";
  timeoutMs: number;
  keys: string[];
  keyIds: number[];
  interestMode: "fine" | "coarse";
  exact: boolean;
  templateIdsUsed: string[];
  /** Inline activation, validated with the activate route's rules. */
  declareTemplates?: unknown;
  inactivityTtlMs?: unknown;
}

/** How a wait is matched. */
export type WaitKind = "fineKey" | "templateKey" | "tableKey";

const FIELDS = [
  "cursor",
  "timeoutMs",
  "keys",
  "keyIds",
  "interestMode",
  "exact",
  "templateIdsUsed",
  "declareTemplates",
  "inactivityTtlMs",
];

function bad(message: string, field: string) {
  return fail("bad_request", message, { field });
}

/** Checks a parsed JSON wait body. */
export function parseWaitBody(body: unknown): Result<WaitRequest> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return fail("bad_request", "the wait body must be a JSON object");
  }
  const b = body as Record<string, unknown>;
  for (const key of Object.keys(b)) {
    if (!FIELDS.includes(key)) return bad(`unknown field "${key}"`, key);
  }
  let cursor: Cursor | "now";
  if (b.cursor === "now") cursor = "now";
  else {
    const parsed = typeof b.cursor === "string" ? parseCursor(b.cursor) : null;
    if (parsed === null) {
      return bad(
        '"cursor" must be "now" or "<epoch hex16>:<generation>"',
        "cursor",
      );
    }
    cursor = parsed;
  }
  let timeoutMs = WAIT_DEFAULT_TIMEOUT_MS;
  if (b.timeoutMs !== undefined) {
    if (typeof b.timeoutMs !== "number" || !Number.isFinite(b.timeoutMs)) {
      return bad('"timeoutMs" must be a number', "timeoutMs");
    }
    timeoutMs = Math.min(
      WAIT_MAX_TIMEOUT_MS,
      Math.max(0, Math.floor(b.timeoutMs)),
    );
  }
  const keys = b.keys;
  if (
    keys !== undefined &&
    (!Array.isArray(keys) || keys.length === 0 ||
      keys.some((k) => typeof k !== "string" || k === ""))
  ) {
    return bad('"keys" must be a non-empty array of non-empty strings', "keys");
  }
  if (Array.isArray(keys) && keys.length > WAIT_MAX_KEYS) {
    return bad(`"keys" holds at most ${WAIT_MAX_KEYS} keys`, "keys");
  }
  const keyIds = b.keyIds;
  if (
    keyIds !== undefined &&
    (!Array.isArray(keyIds) || keyIds.length === 0 ||
      keyIds.some((k) => !Number.isInteger(k) || k < 0 || k > 0xffffffff))
  ) {
    return bad('"keyIds" must be a non-empty array of uint32', "keyIds");
  }
  if (Array.isArray(keyIds) && keyIds.length > WAIT_MAX_KEYS) {
    return bad(`"keyIds" holds at most ${WAIT_MAX_KEYS} ids`, "keyIds");
  }
  if (keys === undefined && keyIds === undefined) {
    return bad('a wait needs "keys" or "keyIds"', "keys");
  }
  const mode = b.interestMode ?? "fine";
  if (mode !== "fine" && mode !== "coarse") {
    return bad('"interestMode" must be "fine" or "coarse"', "interestMode");
  }
  const exact = b.exact ?? false;
  if (typeof exact !== "boolean") {
    return bad('"exact" must be a boolean', "exact");
  }
  const sentKeys = (keys ?? []) as string[];
  if (exact) {
    if (
      mode !== "fine" || sentKeys.length < 1 ||
      sentKeys.length > EXACT_MAX_KEYS || keyIds !== undefined ||
      !sentKeys.every(isHex16)
    ) {
      return bad(
        `"exact" needs interestMode fine and 1..${EXACT_MAX_KEYS} hex16 keys`,
        "exact",
      );
    }
  }
  const used = b.templateIdsUsed ?? [];
  if (
    !Array.isArray(used) || used.length > WAIT_MAX_KEYS ||
    used.some((t) => typeof t !== "string" || t === "")
  ) {
    return bad(
      '"templateIdsUsed" must be an array of non-empty strings',
      "templateIdsUsed",
    );
  }
  return ok({
    cursor,
    timeoutMs,
    keys: sentKeys,
    keyIds: (keyIds ?? []) as number[],
    interestMode: mode,
    exact,
    templateIdsUsed: used as string[],
    declareTemplates: b.declareTemplates,
    inactivityTtlMs: b.inactivityTtlMs,
  });
}

/** The keys a wait listens on. */
export interface WaitPlan {
  kind: WaitKind;
  keyIds: Uint32Array;
  /** Hex16 template ids the wait heartbeats. */
  templateIds: string[];
  exactKeys?: string[];
}

/**
 * The keys of a wait under the runtime mode. `entityOf` maps a registered
 * template id to its entity (unknown ids are ignored).
 */
export function planWait(
  hasher: KeyHasher,
  req: WaitRequest,
  mode: RuntimeMode,
  entityOf: (templateId: string) => string | undefined,
): Result<WaitPlan> {
  const templates = req.templateIdsUsed.filter(isHex16);
  const entities = new Set<string>();
  for (const id of templates) {
    const entity = entityOf(id);
    if (entity !== undefined) entities.add(entity);
  }
  const ids = new Set<number>(req.keyIds.map((id) => id >>> 0));
  const sent = () => {
    for (const key of req.keys) ids.add(hasher.keyId(key));
  };
  const tables = () => {
    for (const e of entities) ids.add(hasher.keyId(hasher.tableKey(e)));
  };
  const templateKeys = () => {
    for (const id of templates) ids.add(hasher.keyId(hasher.templateKey(id)));
  };
  if (req.interestMode === "coarse") {
    if (entities.size > 0) tables();
    else sent();
    return ok({
      kind: "tableKey",
      keyIds: Uint32Array.from(ids),
      templateIds: templates,
    });
  }
  if (req.exact && mode !== "fine" && mode !== "idle") {
    return bad(
      `"exact" needs the stream in fine-key mode, it is ${mode}`,
      "exact",
    );
  }
  sent();
  templateKeys();
  let kind: WaitKind = "fineKey";
  if (templates.length > 0 && mode === "restricted") kind = "templateKey";
  if (templates.length > 0 && mode === "coarseOnly") {
    kind = "tableKey";
    tables();
  }
  const plan: WaitPlan = {
    kind,
    keyIds: Uint32Array.from(ids),
    templateIds: templates,
  };
  if (req.exact) {
    plan.exactKeys = [
      ...req.keys,
      ...templates.map((id) => hasher.templateKey(id)),
    ];
    if (kind === "tableKey") {
      plan.exactKeys.push(...[...entities].map((e) => hasher.tableKey(e)));
    }
  }
  return ok(plan);
}

/** A wait's cursor against the journal. */
export type WaitStart =
  | { kind: "stale"; cursor: string; epoch: string; generation: number }
  | { kind: "wait"; query: WaitQuery };

/**
 * Resolves the cursor (`now`, clamped, or stale) into a journal query, and
 * marks the wait's key ids and templates hot.
 */
export function startWait(
  journal: TouchJournal,
  req: WaitRequest,
  plan: WaitPlan,
): WaitStart {
  let generation = journal.generation;
  if (req.cursor !== "now") {
    const checked = journal.checkCursor(req.cursor);
    if (checked.kind === "stale") {
      return {
        kind: "stale",
        cursor: journal.cursor(),
        epoch: journal.epoch,
        generation: journal.generation,
      };
    }
    generation = checked.generation;
  }
  journal.noteKeys(plan.keyIds);
  journal.noteTemplates(plan.templateIds);
  const query: WaitQuery = { generation, keyIds: plan.keyIds };
  if (plan.exactKeys !== undefined) query.exactKeys = plan.exactKeys;
  return { kind: "wait", query };
}
