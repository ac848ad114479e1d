/**
 * @module
 * Shared small reads: when a commit wakes many live readers at one offset,
 * they all ask for the same bytes at once, so a stream remembers its last
 * small read (as a promise, before it settles) and every identical request
 * shares that one WAL read. Bytes are immutable, so sharing is safe.
 */

import { concatBytes } from "../bytes.ts";
import { READ_MEMO_BYTES_MAX } from "../limits.ts";
import { type ChunkReader, gather } from "./reader.ts";
import type { StreamState } from "./stream_state.ts";

/** A read's bytes and where they start and end. */
export interface ReadBytes {
  /** Position of the first returned byte. */
  startPos: number;
  /** Where the next read continues. */
  endPos: number;
  /** The bytes. */
  data: Uint8Array;
}

/**
 * Gathers `[fromPos, tailPos)` of `state` up to `bytesMax`, reusing the
 * stream's previous read when position, tail and cap match. Results above
 * `READ_MEMO_BYTES_MAX` (and failures) are not kept.
 */
export function gatherShared(
  read: ChunkReader,
  state: StreamState,
  fromPos: number,
  tailPos: number,
  bytesMax: number,
): Promise<ReadBytes> {
  const memo = state.lastRead;
  if (
    memo !== undefined && memo.fromPos === fromPos &&
    memo.tailPos === tailPos && memo.bytesMax === bytesMax
  ) return memo.result;
  const result = gather(read, state, fromPos, tailPos, bytesMax).then((
    got,
  ) => ({
    startPos: got.startPos,
    endPos: got.endPos,
    data: concatBytes(got.pieces),
  }));
  // Memoised before it settles: live readers woken by one append all ask
  // at once, and must share one read, not start a hundred.
  const entry = { fromPos, tailPos, bytesMax, result };
  state.lastRead = entry;
  const forget = () => {
    if (state.lastRead === entry) state.lastRead = undefined;
  };
  result.then((got) => {
    if (got.data.length > READ_MEMO_BYTES_MAX) forget();
  }, forget);
  return result;
}
