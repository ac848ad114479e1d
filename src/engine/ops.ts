/**
 * @module
 * Building blocks of the WAL operations the engine plans: a request body
 * framed into records, a chunk of those records at a position, and a
 * stream's tail as the WAL stores it. Pure.
 */

import { assert } from "../assert.ts";
import { fail, ok, type Result } from "../errors.ts";
import { encodeKeys } from "../record_meta.ts";
import { frameJsonMessages } from "../protocol/json.ts";
import type { Chunk, StreamTail } from "../storage/wal_store.ts";
import type { StreamState } from "./stream_state.ts";
import type { KeyExtractor, StreamView } from "./types.ts";
import type { ActiveRegistry } from "../schema/registry.ts";
import { routingKeys } from "../schema/routing_key.ts";

const encoder = new TextEncoder();
const utf8 = new TextDecoder();

/** A body as stored: its bytes and the length of each record. */
export interface Framed {
  /** Stored bytes (JSON: messages each followed by a comma). */
  bytes: Uint8Array;
  /** Record lengths, in order. */
  lengths: number[];
  /** JSON: the messages as parsed, one per record. */
  values?: readonly unknown[];
  /**
   * JSON: the routing key the stream's profile chose for each record (null
   * for none), or `undefined` when it chose none.
   */
  profileKeys?: (Uint8Array | null)[];
}

/**
 * Frames a body into records: one record for bytes, one per message for
 * JSON (an empty array is allowed only where `allowEmptyArray`).
 */
export function frameBody(
  body: Uint8Array,
  json: boolean,
  allowEmptyArray: boolean,
): Result<Framed> {
  if (!json) {
    return ok({ bytes: body, lengths: body.length === 0 ? [] : [body.length] });
  }
  if (body.length === 0) return ok({ bytes: body, lengths: [] });
  return frameJsonMessages(body, allowEmptyArray);
}

/**
 * The chunk holding `framed` at `startPos`, each record with its key
 * (`keys`, one per record, or none) and the append time `timeMs`.
 */
export function chunkAt(
  startPos: number,
  framed: Framed,
  keys: readonly (Uint8Array | null)[] | undefined,
  timeMs: number,
): Chunk {
  const { bytes, lengths } = framed;
  assert(
    keys === undefined || keys.length === lengths.length,
    "one key per record",
  );
  return {
    startPos,
    endPos: startPos + bytes.length,
    data: bytes,
    lengths: lengths.length > 1 ? Uint32Array.from(lengths) : null,
    keys: keys === undefined ? null : encodeKeys(keys),
    times: new Float64Array(lengths.length).fill(timeMs),
  };
}

/**
 * The routing key of each record of `framed`, appended to `stream`: from
 * the pointer of the stream's schema registry (`schema.routingKey`) for
 * JSON, else the keys the stream's profile chose (`framed.profileKeys`,
 * `headerKey` where it chose none), else from the key rule `extractor` for
 * JSON, else `headerKey` for every record, else none (`undefined`). `Stream-Key` beside a pointer, a
 * missing required key, a key that is not a string or is empty or over
 * `keyBytesMax` bytes, or an error from the rule rejects the request.
 */
export function recordKeys(
  stream: StreamView,
  json: boolean,
  framed: Framed,
  headerKey: Uint8Array | undefined,
  extractor: KeyExtractor | undefined,
  keyBytesMax: number,
  schema: ActiveRegistry | null,
): Result<(Uint8Array | null)[] | undefined> {
  if (framed.lengths.length === 0) return ok(undefined);
  if (json && schema !== null && schema.routingKey !== null) {
    assert(framed.values !== undefined, "JSON records come parsed");
    const pointed = routingKeys(
      schema,
      framed.values,
      headerKey === undefined ? undefined : utf8.decode(headerKey),
      keyBytesMax,
    );
    if (!pointed.ok) return pointed;
    if (pointed.value !== null) {
      return ok(
        pointed.value.map((key) =>
          key === undefined ? null : encoder.encode(key)
        ),
      );
    }
  }
  if (framed.profileKeys !== undefined) {
    const keys = framed.profileKeys;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] ?? headerKey ?? null;
      if (key !== null && (key.length === 0 || key.length > keyBytesMax)) {
        return fail(
          "bad_request",
          `element ${i}: routing key must be 1..${keyBytesMax} bytes`,
        );
      }
    }
    return ok(keys.map((key) => key ?? headerKey ?? null));
  }
  if (json && extractor !== undefined) {
    assert(framed.values !== undefined, "JSON records come parsed");
    const extracted = extractor.keysFor(stream, framed.values, headerKey);
    if (!extracted.ok) return extracted;
    if (extracted.value !== undefined) {
      const keys = extracted.value;
      assert(keys.length === framed.lengths.length, "one key per element");
      for (let i = 0; i < keys.length; i++) {
        const key = keys[i];
        if (key !== null && (key.length === 0 || key.length > keyBytesMax)) {
          return fail(
            "bad_request",
            `element ${i}: routing key must be 1..${keyBytesMax} bytes`,
          );
        }
      }
      return ok(keys);
    }
  }
  if (headerKey === undefined) return ok(undefined);
  return ok(new Array(framed.lengths.length).fill(headerKey));
}

/**
 * The append time of a request to a stream whose last record has time
 * `lastTimeMs`: the time asked for (`Stream-Timestamp`) or the server's
 * clock, raised to one millisecond past the last one, so times strictly
 * increase from request to request.
 */
export function appendTime(
  lastTimeMs: number,
  askedMs: number | undefined,
  now: number,
): number {
  return Math.max(askedMs ?? now, lastTimeMs + 1);
}

/** The assigned tail of `state`, as an append op writes it. */
export function tailOf(
  state: Pick<
    StreamState,
    "tailPos" | "closed" | "closedBy" | "streamSeq" | "lastTimeMs"
  >,
  now: number,
): StreamTail {
  return {
    tailPos: state.tailPos,
    closed: state.closed,
    closedBy: state.closedBy,
    streamSeq: state.streamSeq,
    accessedAtMs: now,
    lastTimeMs: state.lastTimeMs,
  };
}
