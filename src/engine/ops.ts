/**
 * @module
 * Building blocks of the WAL operations the engine plans: a request body
 * framed into records, a chunk of those records at a position, and a
 * stream's tail as the WAL stores it. Pure.
 */

import { ok, type Result } from "../errors.ts";
import { frameJsonMessages } from "../protocol/json.ts";
import type { Chunk, StreamTail } from "../storage/wal_store.ts";
import type { StreamState } from "./stream_state.ts";

/** A body as stored: its bytes and the length of each record. */
export interface Framed {
  /** Stored bytes (JSON: messages each followed by a comma). */
  bytes: Uint8Array;
  /** Record lengths, in order. */
  lengths: number[];
  /** The parsed messages of a JSON body (schema validation reads them). */
  values?: unknown[];
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

/** The chunk holding `framed` at `startPos`. */
export function chunkAt(startPos: number, framed: Framed): Chunk {
  const { bytes, lengths } = framed;
  return {
    startPos,
    endPos: startPos + bytes.length,
    data: bytes,
    lengths: lengths.length > 1 ? Uint32Array.from(lengths) : null,
  };
}

/** The assigned tail of `state`, as an append op writes it. */
export function tailOf(
  state: Pick<StreamState, "tailPos" | "closed" | "closedBy" | "streamSeq">,
  now: number,
): StreamTail {
  return {
    tailPos: state.tailPos,
    closed: state.closed,
    closedBy: state.closedBy,
    streamSeq: state.streamSeq,
    accessedAtMs: now,
  };
}
