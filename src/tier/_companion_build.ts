/**
 * @module
 * The work of a companion build, in whichever thread runs it: the records
 * of a segment's decoded blocks parsed, their fields extracted with the
 * binding of their stored schema version, the companion built and encoded.
 * Shared by the in-thread builder and the Worker, with their messages.
 */

import type { Codec } from "../_wasm/codec.ts";
import { storedMessageEnds } from "../protocol/json.ts";
import { openSegment } from "../segment/reader.ts";
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
  /**
   * Its decoded blocks, in order; or the segment file itself, whose blocks
   * the build decompresses (on the Worker, off the thread serving requests).
   */
  chunks: BuildChunk[] | { file: Uint8Array };
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
export async function buildCompanionBytes(
  input: CompanionBuildInput,
  codec: Codec | null,
): Promise<Uint8Array> {
  const checked = validateSearchConfig(input.search);
  if (!checked.ok) throw new Error(checked.error.message);
  const chunks = "file" in input.chunks
    ? await chunksOfFile(input.chunks.file, codec)
    : input.chunks;
  return encodeCompanion(
    buildCompanion(
      checked.value,
      input.generation,
      input.segment,
      companionRecords(chunks, checked.value, input.boundaries),
      input.blockBytes,
    ),
  );
}

/** The decoded blocks of a segment file, in order (each checked). */
async function chunksOfFile(
  file: Uint8Array,
  codec: Codec | null,
): Promise<BuildChunk[]> {
  const reader = await openSegment(file, { codec });
  const chunks: BuildChunk[] = [];
  for (let b = 0; b < reader.blocks.length; b++) {
    const records = await reader.readBlock(b);
    if (records.length === 0) continue;
    const first = records[0];
    // Records of one block are contiguous in the decoded payload.
    const end = records[records.length - 1];
    chunks.push({
      startPos: first.pos,
      data: new Uint8Array(
        first.data.buffer,
        first.data.byteOffset,
        end.data.byteOffset + end.data.length - first.data.byteOffset,
      ),
      lengths: records.map((r) => r.data.length),
    });
  }
  return chunks;
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

/**
 * The records of `chunks` with their extracted fields, in order (text left
 * unanalyzed: the companion builder analyzes it as it adds the terms).
 */
export function* companionRecords(
  chunks: Iterable<BuildChunk>,
  config: SearchConfig,
  boundaries: readonly { position: number; version: number }[],
): Generator<CompanionRecord> {
  for (const chunk of chunks) {
    const lengths = chunk.lengths ?? [chunk.data.length];
    const values = parseRecords(chunk.data, lengths.length);
    let start = chunk.startPos;
    for (let i = 0; i < lengths.length; i++) {
      if (values !== undefined) {
        // One message per record, parsed with the rest of the chunk.
        yield {
          startPos: start,
          endPos: start + lengths[i],
          doc: extractFields(
            config,
            values[i],
            versionAt(boundaries, start),
            false,
          ),
          joinsPrevious: false,
          record: values[i],
        };
        start += lengths[i];
        continue;
      }
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
          doc: extractFields(
            config,
            value,
            versionAt(boundaries, position),
            false,
          ),
          joinsPrevious: at > 0,
          record: value,
        };
        at = end;
      }
      start += lengths[i];
    }
  }
}

/**
 * The values of a chunk's `count` records parsed in one call (several times
 * faster than a parse per message), when every record is one JSON message
 * followed by a comma; undefined otherwise (then each message is split out
 * and parsed on its own, as a record of several messages needs).
 */
function parseRecords(data: Uint8Array, count: number): unknown[] | undefined {
  if (data.length === 0 || data[data.length - 1] !== 0x2c) return undefined;
  try {
    const values = JSON.parse(
      `[${decoder.decode(data.subarray(0, data.length - 1))}]`,
    );
    return Array.isArray(values) && values.length === count
      ? values
      : undefined;
  } catch {
    return undefined;
  }
}
