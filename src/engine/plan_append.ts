/**
 * @module
 * Append and close planning (PROTOCOL.md §5.2, §5.3): pure functions that
 * check a request against a stream's assigned state (content type,
 * producer epoch and seq, `Stream-Seq`, closure) and turn an accepted one
 * into WAL operations plus the assigned fields it moves. `assign` is the
 * only step that changes the stream; the engine calls it right after
 * planning, with no `await` between.
 */

import { fail, ok, type Result } from "../errors.ts";
import { compareStreamSeq, mediaType } from "../protocol/headers.ts";
import { decideProducer, type ProducerState } from "../protocol/producer.ts";
import type { ClosedBy, WalOp } from "../storage/wal_store.ts";
import { appendTime, chunkAt, frameBody, type Framed, tailOf } from "./ops.ts";
import { checkMessages } from "./schemas.ts";
import { keyFramed, normalizeFramed } from "./stream_profiles.ts";
import { frameJsonValues } from "../protocol/json.ts";
import type { StreamState } from "./stream_state.ts";
import type { AppendOutcome, AppendRequest } from "./types.ts";

/** A request that writes: its framed body and producer step. */
export interface AppendWrite {
  /** The body as stored (empty for close-only). */
  framed: Framed;
  /** The producer's state after this request, if producer headers were sent. */
  producerNext: ProducerState | undefined;
  /** True when the request opened a new producer or epoch. */
  producerNew: boolean;
  /** Routing key per record, or `undefined` when no record has one. */
  keys: (Uint8Array | null)[] | undefined;
}

/**
 * What to do with an append: `write` it, or `echo` an answer computed once
 * everything queued has committed (a producer retry, a repeated close).
 */
export type AppendCheck =
  | { kind: "write"; write: AppendWrite }
  | { kind: "echo"; answer: () => AppendOutcome };

/**
 * Checks `request` against the assigned state of `state`; `now` stamps
 * what the stream's profile fills in (a missing event time).
 */
export function checkAppend(
  state: StreamState,
  request: AppendRequest,
  now: number,
): Result<AppendCheck> {
  if (state.closed) return checkClosed(state, request);
  const shape = checkShape(state, request);
  if (!shape.ok) return shape;
  let producerNext: ProducerState | undefined;
  let producerNew = false;
  if (request.producer !== undefined) {
    const p = request.producer;
    const current = state.producers.get(p.id);
    const decision = decideProducer(current, p.epoch, p.seq);
    switch (decision.kind) {
      case "stale_epoch":
        return fail(
          "producer_stale_epoch",
          `Producer "${p.id}" epoch ${p.epoch} is stale; current epoch is ${decision.currentEpoch}`,
          { currentEpoch: decision.currentEpoch },
        );
      case "new_epoch_seq_not_zero":
        return fail(
          "bad_request",
          `Producer "${p.id}" must start epoch ${p.epoch} at seq 0`,
        );
      case "gap":
        return fail(
          "producer_seq_gap",
          `Producer "${p.id}" sent seq ${p.seq}; expected ${decision.expectedSeq}`,
          {
            expectedSeq: decision.expectedSeq,
            receivedSeq: decision.receivedSeq,
          },
        );
      case "duplicate":
        return ok({
          kind: "echo",
          answer: () => ({
            kind: "duplicate",
            nextPos: state.visibleTailPos,
            closed: state.visibleClosed,
            producer: { ...decision.state },
            producerNew: false,
          }),
        });
      case "accept":
        producerNext = decision.next;
        producerNew = current === undefined ||
          current.epoch !== decision.next.epoch;
    }
  }
  const framed = checkSeqAndFrame(state, request, now);
  if (!framed.ok) return framed;
  return ok({
    kind: "write",
    write: {
      framed: framed.value,
      producerNext,
      producerNew,
      keys: undefined,
    },
  });
}

/** Body, content type: what an append must have whoever sends it. */
function checkShape(
  state: StreamState,
  request: AppendRequest,
): Result<void> {
  const hasBody = request.records === undefined
    ? request.body.length > 0
    : request.records.length > 0;
  if (!hasBody && !request.close) {
    return fail(
      "bad_request",
      "Append body must not be empty unless Stream-Closed: true",
    );
  }
  if (hasBody && request.contentType === undefined) {
    return fail("bad_request", "Append with a body needs a Content-Type");
  }
  if (
    hasBody && request.contentType !== undefined &&
    mediaType(request.contentType) !== mediaType(state.contentType)
  ) {
    return fail(
      "content_type_mismatch",
      `Cannot append ${request.contentType} to stream "${state.name}" of type ${state.contentType}`,
    );
  }
  return ok(undefined);
}

/**
 * `Stream-Seq` must grow; then the body is framed into records, normalized
 * by the stream's profile, and checked against its schema.
 */
function checkSeqAndFrame(
  state: StreamState,
  request: AppendRequest,
  now: number,
): Result<Framed> {
  if (
    request.streamSeq !== undefined && state.streamSeq !== null &&
    compareStreamSeq(request.streamSeq, state.streamSeq) <= 0
  ) {
    return fail(
      "seq_conflict",
      `Stream-Seq "${request.streamSeq}" is not greater than the last one, "${state.streamSeq}"`,
    );
  }
  if (request.records !== undefined) {
    if (request.records.length === 0) {
      return ok({ bytes: new Uint8Array(0), lengths: [] });
    }
    if (!state.json) {
      return fail("bad_request", "Records are appended to JSON streams only");
    }
  } else if (request.body.length === 0) {
    return ok({ bytes: request.body, lengths: [] });
  }
  const parsed = request.records === undefined
    ? frameBody(request.body, state.json, false)
    : ok({
      ...frameJsonValues(request.records),
      values: request.records,
    });
  if (!parsed.ok) return parsed;
  const framed = request.preparedFor === state.profile.options
    ? ok(keyFramed(state.profile, parsed.value))
    : normalizeFramed(state.profile, parsed.value, now);
  if (!framed.ok) return framed;
  const valid = checkMessages(state, framed.value);
  return valid.ok ? framed : valid;
}

/**
 * A closed stream takes only a retry of the request that closed it and
 * close-only requests; anything else is `stream_closed`.
 */
function checkClosed(
  state: StreamState,
  request: AppendRequest,
): Result<AppendCheck> {
  const p = request.producer;
  const by = state.closedBy;
  if (
    p !== undefined && by !== null && by.producerId === p.id &&
    by.epoch === p.epoch && by.seq === p.seq
  ) {
    return ok({
      kind: "echo",
      answer: () => ({
        kind: "duplicate",
        nextPos: state.tailPos,
        closed: true,
        producer: { epoch: p.epoch, seq: p.seq },
        producerNew: false,
      }),
    });
  }
  if (request.body.length === 0 && request.close) {
    return ok({
      kind: "echo",
      answer: () => ({
        kind: "close_only",
        nextPos: state.tailPos,
        closed: true,
        producer: undefined,
        producerNew: false,
      }),
    });
  }
  return fail(
    "stream_closed",
    `Cannot append to stream "${state.name}": stream is closed`,
    { nextPos: state.tailPos },
  );
}

/** The assigned fields of a stream after an append. */
export interface Assigned {
  /** New assigned tail. */
  tailPos: number;
  /** Closed after this request. */
  closed: boolean;
  /** Producer tuple of the closing request. */
  closedBy: ClosedBy | null;
  /** Last `Stream-Seq`. */
  streamSeq: string | null;
  /** Producer id and state to record, if any. */
  producer: { id: string; state: ProducerState } | undefined;
  /** The access time the WAL will hold. */
  persistedAccessMs: number;
  /** Append time of the stream's last record after this request. */
  lastTimeMs: number;
}

/** An append turned into WAL operations and the state it assigns. */
export interface AppendPlan {
  /** WAL operations of the request. */
  ops: WalOp[];
  /** Bytes it adds to the WAL. */
  bytes: number;
  /** Fields `assign` moves. */
  assigned: Assigned;
  /** The answer once it commits. */
  outcome: AppendOutcome;
}

/** Plans a checked write to `state` at time `now`; changes nothing. */
export function planAppend(
  state: StreamState,
  request: AppendRequest,
  write: AppendWrite,
  now: number,
): AppendPlan {
  const { framed, producerNext, producerNew } = write;
  const startPos = state.tailPos;
  const writes = framed.bytes.length > 0;
  const timeMs = writes
    ? appendTime(state.lastTimeMs, request.timestampMs, now)
    : state.lastTimeMs;
  const p = request.producer;
  const closing = request.close && !state.closed;
  const assigned: Assigned = {
    tailPos: startPos + framed.bytes.length,
    closed: state.closed || request.close,
    closedBy: closing && p !== undefined
      ? { producerId: p.id, epoch: p.epoch, seq: p.seq }
      : state.closedBy,
    streamSeq: request.streamSeq ?? state.streamSeq,
    producer: producerNext === undefined || p === undefined
      ? undefined
      : { id: p.id, state: producerNext },
    persistedAccessMs: now,
    lastTimeMs: timeMs,
  };
  const ops: WalOp[] = [{
    op: "append",
    streamId: state.id,
    chunk: writes ? chunkAt(startPos, framed, write.keys, timeMs) : null,
    tail: tailOf(assigned, now),
  }];
  if (assigned.producer !== undefined) {
    ops.push({
      op: "producer",
      row: {
        streamId: state.id,
        producerId: assigned.producer.id,
        ...assigned.producer.state,
        updatedAtMs: now,
      },
    });
  }
  return {
    ops,
    bytes: framed.bytes.length,
    assigned,
    outcome: {
      kind: framed.bytes.length === 0 ? "close_only" : "accepted",
      nextPos: assigned.tailPos,
      closed: assigned.closed,
      producer: producerNext,
      producerNew,
    },
  };
}

/** Moves the assigned fields of `state` as `assigned` says. */
export function assign(state: StreamState, assigned: Assigned): void {
  state.tailPos = assigned.tailPos;
  state.closed = assigned.closed;
  state.closedBy = assigned.closedBy;
  state.streamSeq = assigned.streamSeq;
  if (assigned.producer !== undefined) {
    state.producers.set(assigned.producer.id, assigned.producer.state);
  }
  state.persistedAccessMs = assigned.persistedAccessMs;
  state.lastTimeMs = assigned.lastTimeMs;
}
