/**
 * @module
 * The work a run build does, in whichever thread runs it: fingerprint each
 * segment's keys, build the L0 run and encode it; or decode runs, compact
 * them and encode the result; or decode and check a run file. An L0 build
 * also writes the key lexicon of its segments, and a compaction merges the
 * lexicons of its inputs when it has all of them. Shared by the in-thread
 * builder and the Worker, along with the messages they exchange.
 */

import type { Codec } from "../_wasm/codec.ts";
import { openSegment } from "../segment/reader.ts";
import { buildL0Run, compactRuns } from "./build.ts";
import {
  fingerprintKeys,
  type SegmentKeys,
  SegmentKeysBuilder,
} from "./fingerprint.ts";
import type { RunParts } from "./run.ts";
import { decodeRun, encodeRun } from "./run_format.ts";
import {
  buildLexicon,
  decodeLexicon,
  encodeLexicon,
  mergeLexicons,
} from "./lexicon.ts";

/**
 * One segment's keys for an L0 build: already decoded, or the segment file
 * itself, whose blocks the build decompresses and reads keys from (on the
 * Worker, so that work stays off the thread serving requests).
 */
export type SegmentKeySource = SegmentKeys | { segment: Uint8Array };

/** The keys of `source` (records without a key left out). */
export async function keysOfSource(
  source: SegmentKeySource,
  codec: Codec | null,
): Promise<SegmentKeys> {
  if (!("segment" in source)) return source;
  const reader = await openSegment(source.segment, { codec });
  const keys = new SegmentKeysBuilder();
  for (let b = 0; b < reader.blocks.length; b++) {
    for (const record of await reader.readBlock(b)) keys.add(record.key);
  }
  return keys.finish();
}

/** A request to the index Worker. */
export type BuildRequest =
  | {
    id: number;
    kind: "l0";
    seed: bigint;
    firstSegment: number;
    keys: SegmentKeySource[];
  }
  | {
    id: number;
    kind: "compact";
    runs: Uint8Array[];
    lexicons: Uint8Array[] | undefined;
  }
  | { id: number; kind: "decode"; bytes: Uint8Array }
  | { id: number; kind: "lexicon"; bytes: Uint8Array };

/** The index Worker's reply (`ready` once it listens). */
export type BuildReply =
  | { ready: true }
  | {
    id: number;
    ok: true;
    bytes: Uint8Array;
    entryCount: number;
    lexicon: Uint8Array | undefined;
  }
  | { id: number; ok: true; parts: RunParts }
  | { id: number; ok: true; keys: Uint8Array; offsets: Uint32Array }
  | { id: number; ok: false; kind: string; message: string };

/** An encoded run, its distinct fingerprints, and its encoded lexicon. */
export interface BuiltBytes {
  /** The run file. */
  bytes: Uint8Array;
  /** Distinct fingerprints in it. */
  entryCount: number;
  /** The lexicon file, when the build could make one. */
  lexicon: Uint8Array | undefined;
}

/**
 * The encoded L0 run over `sources[i]` = keys of segment `firstSegment + i`,
 * and the lexicon of those keys; segment files among `sources` are decoded
 * with `codec`.
 */
export async function buildL0Bytes(
  seed: bigint,
  firstSegment: number,
  sources: readonly SegmentKeySource[],
  codec: Codec | null,
): Promise<BuiltBytes> {
  const keys: SegmentKeys[] = [];
  for (const source of sources) keys.push(await keysOfSource(source, codec));
  const run = buildL0Run(
    firstSegment,
    keys.map((k) => fingerprintKeys(k, seed)),
  );
  return {
    bytes: encodeRun(run),
    entryCount: run.entryCount,
    lexicon: encodeLexicon(buildLexicon(keys)),
  };
}

/**
 * The encoded run merging the encoded `runs` (checked as they decode), and
 * the merge of their `lexicons` when given (one per run; a bad one is
 * `corrupt`, as a bad run is).
 */
export function compactBytes(
  runs: readonly Uint8Array[],
  lexicons?: readonly Uint8Array[],
): BuiltBytes {
  const run = compactRuns(runs.map(decodeRun));
  return {
    bytes: encodeRun(run),
    entryCount: run.entryCount,
    lexicon: lexicons === undefined
      ? undefined
      : encodeLexicon(mergeLexicons(lexicons.map(decodeLexicon))),
  };
}
