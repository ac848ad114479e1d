/**
 * @module
 * Create planning (PROTOCOL.md §5.1, forks §5.5): pure functions that check
 * a fork request against its source, build the new stream's state and WAL
 * operations, and compare a repeated create with the stream that exists.
 * Nothing here registers anything; the engine does that right after
 * planning, with no `await` between.
 */

import { fail, ok, type Result } from "../errors.ts";
import {
  DEFAULT_CONTENT_TYPE,
  isJsonContentType,
  mediaType,
} from "../protocol/headers.ts";
import type { StreamRow, WalOp } from "../storage/wal_store.ts";
import { appendTime, chunkAt, frameBody, type Framed, tailOf } from "./ops.ts";
import { checkMessages, forkRegistry, registryOp } from "./schemas.ts";
import { GENERIC_PROFILE, normalizeFramed } from "./stream_profiles.ts";
import type { ActiveRegistry } from "../schema/registry.ts";
import { StreamState } from "./stream_state.ts";
import type { CreateRequest, StreamView } from "./types.ts";

/** Where a fork branches off. */
export interface ForkPoint {
  /** The source stream. */
  parent: StreamState;
  /** Byte position in the source. */
  position: number;
}

/** A create turned into the new stream and its WAL operations. */
export interface CreatePlan {
  /** The new stream (not yet visible). */
  state: StreamState;
  /** WAL operations: the create, and an append for an initial body. */
  ops: WalOp[];
  /** Bytes it adds to the WAL. */
  bytes: number;
}

/**
 * Checks a fork of `parent` (the stream named by `request.fork.source`,
 * live or soft-deleted, if any); `undefined` when the request is no fork.
 */
export function checkFork(
  request: CreateRequest,
  parent: StreamState | undefined,
  now: number,
): Result<ForkPoint | undefined> {
  const fork = request.fork;
  if (fork === undefined) return ok(undefined);
  if (
    parent === undefined || !parent.visible ||
    (!parent.softDeleted && parent.isExpired(now))
  ) {
    return fail(
      "stream_not_found",
      `Cannot fork: source stream "${fork.source}" not found`,
    );
  }
  if (parent.softDeleted) {
    return fail(
      "stream_exists",
      `Cannot fork: source stream "${fork.source}" was deleted`,
    );
  }
  if (
    request.contentType !== undefined &&
    mediaType(request.contentType) !== mediaType(parent.contentType)
  ) {
    return fail(
      "content_type_mismatch",
      `Cannot fork "${fork.source}": content type ${request.contentType} differs from the source's ${parent.contentType}`,
    );
  }
  const base = fork.position ?? parent.visibleTailPos;
  if (base > parent.visibleTailPos) {
    return fail(
      "bad_request",
      `Cannot fork "${fork.source}": Stream-Fork-Offset is beyond the source tail`,
    );
  }
  return ok({ parent, position: base });
}

/** Plans stream `id` named `name`; changes nothing. */
export function planCreate(
  name: string,
  request: CreateRequest,
  fork: ForkPoint | undefined,
  id: number,
  now: number,
  keysOf: (
    view: StreamView,
    json: boolean,
    framed: Framed,
    schema: ActiveRegistry | null,
  ) => Result<(Uint8Array | null)[] | undefined>,
): Result<CreatePlan> {
  const contentType = request.contentType ?? fork?.parent.contentType ??
    DEFAULT_CONTENT_TYPE;
  const json = isJsonContentType(contentType);
  const parsed = frameBody(request.body, json, true);
  if (!parsed.ok) return parsed;
  // A fork keeps its source's profile: its initial body is normalized too.
  const profile = fork?.parent.profile ?? GENERIC_PROFILE;
  const framed = fork === undefined
    ? parsed
    : normalizeFramed(profile, parsed.value, now);
  if (!framed.ok) return framed;
  const startPos = fork?.position ?? 0;
  const forkSchema = fork === undefined
    ? null
    : forkRegistry(fork.parent.schema, startPos);
  const keyed = keysOf(
    {
      id,
      name,
      contentType,
      tailPos: startPos,
      closed: false,
      ttlSeconds: null,
      expiresAtMs: null,
      createdAtMs: now,
    },
    json,
    framed.value,
    forkSchema,
  );
  if (!keyed.ok) return keyed;
  const keys = keyed.value;
  // A fork's own records come after the source's: its times start above
  // the source's last one, so times never decrease along the fork's view.
  const floorMs = fork?.parent.lastTimeMs ?? 0;
  const writes = framed.value.bytes.length > 0;
  const timeMs = writes
    ? appendTime(floorMs, request.timestampMs, now)
    : floorMs;
  const inherit = fork !== undefined && request.ttlSeconds === undefined &&
    request.expiresAtMs === undefined;
  const row: StreamRow = {
    id,
    name,
    contentType,
    createdAtMs: now,
    accessedAtMs: now,
    ttlSeconds: (inherit ? fork.parent.ttlSeconds : request.ttlSeconds) ??
      null,
    expiresAtMs: (inherit ? fork.parent.expiresAtMs : request.expiresAtMs) ??
      null,
    tailPos: startPos + framed.value.bytes.length,
    closed: request.closed,
    closedBy: null,
    streamSeq: null,
    forkedFrom: fork?.parent.id ?? null,
    forkPos: fork === undefined ? null : startPos,
    softDeleted: false,
    lastTimeMs: timeMs,
  };
  const state = new StreamState(row, fork?.parent, json);
  state.producersLoaded = true; // a new stream has no producer states yet
  const ops: WalOp[] = [{ op: "create", stream: row }];
  if (fork !== undefined) {
    // A fork starts with its source's registry as of the fork position.
    state.schema = forkSchema;
    if (state.schema !== null) ops.push(registryOp(row.id, state.schema));
    state.profile = profile;
    if (profile !== GENERIC_PROFILE) {
      ops.push({
        op: "profile",
        streamId: row.id,
        kind: profile.options.kind,
        options: JSON.stringify(profile.options),
      });
    }
    const valid = checkMessages(state, framed.value);
    if (!valid.ok) return valid;
  }
  if (writes) {
    ops.push({
      op: "append",
      streamId: row.id,
      chunk: chunkAt(startPos, framed.value, keys, timeMs),
      tail: tailOf(state, now),
    });
  }
  return ok({ state, ops, bytes: framed.value.bytes.length });
}

/** Names the first config field that differs, or `undefined` when all match. */
export function configMismatch(
  state: StreamState,
  request: CreateRequest,
  forkSource: StreamState | undefined,
): string | undefined {
  const contentType = request.contentType ??
    (state.parent?.contentType ?? DEFAULT_CONTENT_TYPE);
  if (mediaType(contentType) !== mediaType(state.contentType)) {
    return "content type";
  }
  if (request.fork === undefined) {
    if ((request.ttlSeconds ?? null) !== state.ttlSeconds) return "Stream-TTL";
    if ((request.expiresAtMs ?? null) !== state.expiresAtMs) {
      return "Stream-Expires-At";
    }
  } else {
    if (
      request.ttlSeconds !== undefined &&
      request.ttlSeconds !== state.ttlSeconds
    ) return "Stream-TTL";
    if (
      request.expiresAtMs !== undefined &&
      request.expiresAtMs !== state.expiresAtMs
    ) return "Stream-Expires-At";
  }
  if (request.closed !== state.closed) return "closed state";
  if ((forkSource ?? undefined) !== state.parent) return "fork source";
  if (
    request.fork !== undefined && request.fork.position !== undefined &&
    request.fork.position !== state.forkPos
  ) {
    return "fork offset";
  }
  return undefined;
}
