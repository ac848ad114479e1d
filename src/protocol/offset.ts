/**
 * @module
 * Offsets: the opaque, sortable positions the server mints.
 *
 * An offset is two zero-padded 16-digit decimal fields joined by `_`:
 * `EEEEEEEEEEEEEEEE_PPPPPPPPPPPPPPPP`. `E` is a reserved epoch (always 0 in
 * this version) and `P` is the byte position in the stream's logical byte
 * sequence. Fixed width makes byte order equal stream order, and a byte
 * position lets every tier (WAL, segments, forks) seek to it directly.
 * See docs/offsets.md.
 */

import { assert } from "../assert.ts";

/** The largest byte position an offset can carry. */
export const POSITION_MAX: number = Number.MAX_SAFE_INTEGER;

const FIELD_WIDTH = 16;
const OFFSET_PATTERN = /^(\d{16})_(\d{16})$/;

/** A parsed `offset` query parameter. */
export type OffsetParam =
  | { kind: "start" }
  | { kind: "now" }
  | { kind: "position"; position: number };

/** Encodes a byte position as an offset string. */
export function encodeOffset(position: number): string {
  assert(
    Number.isSafeInteger(position) && position >= 0,
    "offset position must be a non-negative safe integer",
  );
  return "0".repeat(FIELD_WIDTH) + "_" +
    String(position).padStart(FIELD_WIDTH, "0");
}

/** Decodes an offset string minted by `encodeOffset`; `undefined` if malformed. */
export function decodeOffset(offset: string): number | undefined {
  const match = OFFSET_PATTERN.exec(offset);
  if (match === null) return undefined;
  if (Number(match[1]) !== 0) return undefined;
  const position = Number(match[2]);
  if (!Number.isSafeInteger(position)) return undefined;
  return position;
}

/**
 * Parses the `offset` query parameter: absent or `-1` is the start, `now` is
 * the tail, anything else must be an offset we could have minted.
 */
export function parseOffsetParam(
  value: string | null,
): OffsetParam | undefined {
  if (value === null || value === "-1") return { kind: "start" };
  if (value === "now") return { kind: "now" };
  const position = decodeOffset(value);
  if (position === undefined) return undefined;
  return { kind: "position", position };
}
