/**
 * @module
 * Stream profiles in the engine (profiles.md §1, §2): a stream's profile as
 * the request path uses it, planning a `POST .../_profile` against the
 * assigned state (with the canonical registry it installs through the
 * schema registry's own update rules), normalizing the elements of a JSON
 * append, and profiles restored from the WAL. Which profile does what is
 * the profile modules' business: nothing here looks at the kind.
 */

import { fail, ok, type Result, type StreamError } from "../errors.ts";
import { nextSearchPlan, validateSearchConfig } from "../search/config.ts";
import { frameJsonValues } from "../protocol/json.ts";
import { canonicalSchemaBody } from "../profiles/canonical.ts";
import {
  isObject,
  type JsonObject,
  normalizeBatch,
  type Profile,
  type ProfileOptions,
} from "../profiles/profile.ts";
import { profileFor } from "../profiles/registry.ts";
import {
  GENERIC_OPTIONS,
  type InstallPlan,
  planProfileInstall,
} from "../profiles/resource.ts";
import {
  activate,
  type ActiveRegistry,
  emptyRegistry,
  planSchemaUpdate,
} from "../schema/registry.ts";
import type { ProfileRow, WalOp } from "../storage/wal_store.ts";
import type { Framed } from "./ops.ts";
import type { StreamState } from "./stream_state.ts";

/** A stream's profile: its stored options and the module that runs them. */
export interface ActiveProfile {
  /** The stored options (with `kind`), defaults filled in. */
  readonly options: ProfileOptions;
  /** The profile module of `options.kind`. */
  readonly profile: Profile;
}

/** The profile of a stream that never declared one. */
export const GENERIC_PROFILE: ActiveProfile = {
  options: GENERIC_OPTIONS,
  profile: profileFor("generic")!,
};

/** A profile change planned against the assigned state of a stream. */
export interface ProfileChange {
  /** The profile after the change. */
  active: ActiveProfile;
  /** The canonical registry it installs, or `undefined` to keep the current one. */
  schema: ActiveRegistry | undefined;
  /** What installing changes (touch state to delete, ...). */
  plan: InstallPlan;
  /** The WAL operations storing it, committed together. */
  ops: WalOp[];
}

/**
 * Plans `POST .../_profile` with the validated `options`: the profile
 * resource's preconditions against the assigned state (an empty stream is
 * one whose assigned tail is its own start), then the canonical registry, if
 * the profile has one, as version 1 beginning at the stream's start.
 */
export function planProfileChange(
  state: StreamState,
  options: ProfileOptions,
): Result<ProfileChange> {
  const planned = planProfileInstall({
    contentType: state.contentType,
    empty: state.tailPos === state.forkPos,
    current: state.profile.options,
  }, options);
  if (!planned.ok) return planned;
  const plan = planned.value;
  const profile = profileFor(plan.options.kind);
  if (profile === undefined) {
    return fail("bad_request", `Unsupported profile kind "${options.kind}"`);
  }
  const ops: WalOp[] = [];
  let schema: ActiveRegistry | undefined;
  if (plan.registry !== null) {
    const base = emptyRegistry(state.name);
    base.revision = state.schema?.registry.revision ?? 0;
    const body = canonicalSchemaBody(plan.registry);
    const next = planSchemaUpdate(base, body, {
      tail: state.forkPos,
      empty: true,
    });
    if (!next.ok) return refused(plan.options.kind, next.error.message);
    if (body.search !== undefined) {
      // As `POST _schema` does: the section checked in full, and a plan
      // generation bumped when it differs from the stream's current one.
      const checked = validateSearchConfig(body.search);
      if (!checked.ok) return refused(plan.options.kind, checked.error.message);
      next.value.search = checked.value;
      next.value.searchPlan = nextSearchPlan(
        state.schema?.registry.searchPlan ?? undefined,
        checked.value,
      );
    }
    schema = activate(next.value);
    ops.push({
      op: "schema_registry",
      streamId: state.id,
      registry: JSON.stringify(next.value),
    });
  }
  ops.push({
    op: "profile",
    streamId: state.id,
    kind: plan.options.kind,
    options: JSON.stringify(plan.options),
  });
  return ok({ active: { options: plan.options, profile }, schema, plan, ops });
}

function refused(kind: string, why: string): { ok: false; error: StreamError } {
  return fail(
    "internal",
    `Profile "${kind}" has a canonical registry the schema rules refuse: ${why}`,
  );
}

/**
 * A JSON append's elements through the stream's profile: the canonical
 * records framed for storage, each with the routing key the profile chose.
 * The first element the profile refuses fails the whole append (its index in
 * the message). When the profile leaves every element as it was and keys
 * none, the framing is returned unchanged.
 */
export function normalizeFramed(
  active: ActiveProfile,
  framed: Framed,
  nowMs: number,
): Result<Framed> {
  const values = framed.values;
  if (
    values === undefined || values.length === 0 ||
    active.profile.passThrough === true
  ) return ok(framed);
  const records = normalizeBatch(active.profile, active.options, values, {
    nowMs,
  });
  if (!records.ok) return records;
  const out = records.value;
  let same = out.length === values.length;
  let keyed = false;
  for (let i = 0; i < out.length; i++) {
    if (out[i].routingKey !== null) keyed = true;
    if (same && out[i].value !== values[i]) same = false;
  }
  if (same && !keyed) return ok(framed);
  const reframed = frameJsonValues(out.map((r) => r.value));
  const encoder = new TextEncoder();
  return ok({
    ...reframed,
    values: out.map((r) => r.value),
    profileKeys: keyed
      ? out.map((r) =>
        r.routingKey === null ? null : encoder.encode(r.routingKey)
      )
      : undefined,
  });
}

/**
 * Records already canonical for the stream's profile (an ingest route
 * normalized them): only the routing key each gets from the profile.
 */
export function keyFramed(active: ActiveProfile, framed: Framed): Framed {
  const values = framed.values;
  if (values === undefined || active.profile.passThrough === true) {
    return framed;
  }
  const encoder = new TextEncoder();
  let keyed = false;
  const keys = values.map((value) => {
    const key = isObject(value)
      ? active.profile.routingKey(value as JsonObject, active.options)
      : null;
    if (key !== null) keyed = true;
    return key === null ? null : encoder.encode(key);
  });
  return keyed ? { ...framed, profileKeys: keys } : framed;
}

/** Profiles stored in the WAL, checked by their modules (startup, reset). */
export function restoredProfiles(
  rows: readonly ProfileRow[],
): Result<Map<number, ActiveProfile>> {
  const out = new Map<number, ActiveProfile>();
  for (const row of rows) {
    const profile = profileFor(row.kind);
    let raw: unknown;
    try {
      raw = JSON.parse(row.options);
    } catch {
      raw = undefined;
    }
    const options = profile?.validate(raw);
    if (profile === undefined || options === undefined || !options.ok) {
      return fail(
        "corrupt",
        `Stored profile "${row.kind}" of stream id ${row.streamId} is not valid${
          options !== undefined && !options.ok
            ? `: ${options.error.message}`
            : ""
        }`,
      );
    }
    out.set(row.streamId, { options: options.value, profile });
  }
  return ok(out);
}
