/**
 * @module
 * The work a run build does, in whichever thread runs it: fingerprint each
 * segment's keys, build the L0 run and encode it; or decode runs, compact
 * them and encode the result; or decode and check a run file. Shared by the in-thread builder and the
 * Worker, along with the messages they exchange.
 */

import { buildL0Run, compactRuns } from "./build.ts";
import { fingerprintKeys, type SegmentKeys } from "./fingerprint.ts";
import type { RunParts } from "./run.ts";
import { decodeRun, encodeRun } from "./run_format.ts";

/** A request to the index Worker. */
export type BuildRequest =
  | {
    id: number;
    kind: "l0";
    seed: bigint;
    firstSegment: number;
    keys: SegmentKeys[];
  }
  | { id: number; kind: "compact"; runs: Uint8Array[] }
  | { id: number; kind: "decode"; bytes: Uint8Array };

/** The index Worker's reply (`ready` once it listens). */
export type BuildReply =
  | { ready: true }
  | { id: number; ok: true; bytes: Uint8Array; entryCount: number }
  | { id: number; ok: true; parts: RunParts }
  | { id: number; ok: false; kind: string; message: string };

/** The encoded L0 run over `keys[i]` = keys of segment `firstSegment + i`. */
export function buildL0Bytes(
  seed: bigint,
  firstSegment: number,
  keys: readonly SegmentKeys[],
): { bytes: Uint8Array; entryCount: number } {
  const run = buildL0Run(
    firstSegment,
    keys.map((k) => fingerprintKeys(k, seed)),
  );
  return { bytes: encodeRun(run), entryCount: run.entryCount };
}

/** The encoded run merging the encoded `runs` (checked as they decode). */
export function compactBytes(
  runs: readonly Uint8Array[],
): { bytes: Uint8Array; entryCount: number } {
  const run = compactRuns(runs.map(decodeRun));
  return { bytes: encodeRun(run), entryCount: run.entryCount };
}
