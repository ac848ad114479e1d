/**
 * @module
 * The work of a companion build, in whichever thread runs it: the records
 * of a segment's decoded blocks parsed, their fields extracted with the
 * binding of their stored schema version, the companion built and encoded.
 * Shared by the in-thread builder and the Worker, with their messages.
 */

import { storedMessageEnds } from "../protocol/json.ts";
import {
  buildCompanion,
  type CompanionRecord,
  encodeCompanion,
} from "../search/companion.ts";
import { type SearchConfig, validateSearchConfig } from "../search/config.ts";
import { extractFields } from "../search/extract.ts";

/** A decoded block of a segment, as much as a build reads of it. */
export interface BuildChunk {
  startPos: number;
  data: Uint8Array;
  lengths?: ArrayLike<number> | null;
}

/** What one companion build needs. */
export interface CompanionBuildInput {
  /** The stream's `search` section as stored. */
  search: unknown;
  /** Plan generation recorded in the companion. */
  generation: number;
  /** Schema version boundaries of the stream. */
  boundaries: { position: number; version: number }[];
  /** The segment's bounds. */
  segment: { startPos: number; endPos: number };
  /** Its decoded blocks, in order. */
  chunks: BuildChunk[];
  /** Stored bytes per companion block. */
  blockBytes: number;
}

/** A request to the companion Worker. */
export type CompanionBuildRequest = CompanionBuildInput & { id: number };

/** The companion Worker's reply (`ready` once it listens). */
export type CompanionBuildReply =
  | { ready: true }
  | { id: number; ok: true; bytes: Uint8Array }
  | { id: number; ok: false; message: string };

/** The encoded companion of `input`'s segment. */
export function buildCompanionBytes(input: CompanionBuildInput): Uint8Array {
  const checked = validateSearchConfig(input.search);
  if (!checked.ok) throw new Error(checked.error.message);
  return encodeCompanion(
    buildCompanion(
      checked.value,
      input.generation,
      input.segment,
      companionRecords(input.chunks, checked.value, input.boundaries),
      input.blockBytes,
    ),
  );
}

/** The schema version of the record at `position` under `boundaries`. */
function versionAt(
  boundaries: readonly { position: number; version: number }[],
  position: number,
): number {
  let version = 0;
  for (const b of boundaries) {
    if (b.position > position) break;
    version = b.version;
  }
  return version;
}

const decoder = new TextDecoder();

/** The records of `chunks` with their extracted fields, in order. */
export function* companionRecords(
  chunks: Iterable<BuildChunk>,
  config: SearchConfig,
  boundaries: readonly { position: number; version: number }[],
): Generator<CompanionRecord> {
  for (const chunk of chunks) {
    const lengths = chunk.lengths ?? [chunk.data.length];
    let start = chunk.startPos;
    for (let i = 0; i < lengths.length; i++) {
      const from = start - chunk.startPos;
      const bytes = chunk.data.subarray(from, from + lengths[i]);
      let at = 0;
      for (const end of storedMessageEnds(bytes)) {
        let value: unknown;
        try {
          value = JSON.parse(decoder.decode(bytes.subarray(at, end - 1)));
        } catch {
          value = undefined;
        }
        const position = start + at;
        yield {
          startPos: position,
          endPos: start + end,
          doc: extractFields(config, value, versionAt(boundaries, position)),
          joinsPrevious: at > 0,
          record: value,
        };
        at = end;
      }
      start += lengths[i];
    }
  }
}
