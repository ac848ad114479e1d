/**
 * @module
 * The work a run build does, in whichever thread runs it: fingerprint each
 * segment's keys, build the L0 run and encode it; or decode runs, compact
 * them and encode the result; or decode and check a run file. An L0 build
 * also writes the key lexicon of its segments, and a compaction merges the
 * lexicons of its inputs when it has all of them. Shared by the in-thread
 * builder and the Worker, along with the messages they exchange.
 */

import { buildL0Run, compactRuns } from "./build.ts";
import { fingerprintKeys, type SegmentKeys } from "./fingerprint.ts";
import type { RunParts } from "./run.ts";
import { decodeRun, encodeRun } from "./run_format.ts";
import {
  buildLexicon,
  decodeLexicon,
  encodeLexicon,
  mergeLexicons,
} from "./lexicon.ts";

/** A request to the index Worker. */
export type BuildRequest =
  | {
    id: number;
    kind: "l0";
    seed: bigint;
    firstSegment: number;
    keys: SegmentKeys[];
  }
  | {
    id: number;
    kind: "compact";
    runs: Uint8Array[];
    lexicons: Uint8Array[] | undefined;
  }
  | { id: number; kind: "decode"; bytes: Uint8Array };

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
 * The encoded L0 run over `keys[i]` = keys of segment `firstSegment + i`,
 * and the lexicon of those keys.
 */
export function buildL0Bytes(
  seed: bigint,
  firstSegment: number,
  keys: readonly SegmentKeys[],
): BuiltBytes {
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
