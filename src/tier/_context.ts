/**
 * @module
 * What the tiering loops share: the stores, the per-stream state, the
 * segment cache, time, and the test-only crash points. `Tier` builds one
 * and hands it to the seal loop, the upload loop and the release queue.
 */

import type { Codec } from "../_wasm/codec.ts";
import type { SegmentConfig } from "../config.ts";
import type { Logger } from "../log.ts";
import type { ObjectStore } from "../objectstore/object_store.ts";
import type { SegmentCache } from "../segment/cache.ts";
import type { WalStore } from "../storage/wal_store.ts";
import type {
  ManifestGenerations,
  StreamLeases,
} from "../storage/manifest_generations.ts";
import type { TierClock } from "./clock.ts";
import type { TierStreams } from "./streams.ts";
import type { RoutingKeyIndex } from "../index/routing_index.ts";
import type { Companions } from "./companions.ts";
import type { ManifestBatcher } from "./manifest_batch.ts";
import type { Packer } from "./packs.ts";

/** Test-only crash points (`DS_TEST_CRASH_POINT`); see docs/segments.md. */
export const CRASH_POINTS = [
  "after_segment_write",
  "after_segment_seal",
  "after_segment_upload",
  "after_manifest_publish",
  "after_wal_truncate",
  "after_manifest_batch_publish",
  "after_manifest_batch_merge",
  "after_pack_put",
  "before_release_objects",
  "after_release_object",
] as const;

/** One of `CRASH_POINTS`. */
export type CrashPoint = (typeof CRASH_POINTS)[number];

/** Shared by the loops of one `Tier`. */
export interface TierContext {
  /** The WAL. */
  store: WalStore;
  /** Where segments and manifests are published. */
  objects: ObjectStore;
  /** Block codec. */
  codec: Codec;
  /** Folder of sealed files awaiting upload. */
  segmentDir: string;
  /** Thresholds and limits. */
  config: SegmentConfig;
  /** Logger. */
  log: Logger;
  /** Time. */
  clock: TierClock;
  /** Jitter source for retry delays, uniform in [0, 1). */
  random: () => number;
  /** Per-stream state and backlog counters. */
  streams: TierStreams;
  /** Published segments in memory. */
  cache: SegmentCache;
  /** Manifest generations to move on publication (PostgreSQL full mode). */
  generations?: ManifestGenerations;
  /** Stream leases: only streams this node holds are sealed and uploaded. */
  leases?: StreamLeases;
  /** The routing-key index, when configured (built after uploads). */
  routingIndex?: RoutingKeyIndex;
  /** Search companions of uploaded segments (built after uploads). */
  companions?: Companions;
  batches?: ManifestBatcher;
  /** Packs tiny streams' segments (single node, with `batches`). */
  packs?: Packer;
  /** Routing-key index steps that built or compacted a run, since start. */
  indexBuilds: { count: number };
  /** Streams whose uploaded segments the routing-key index does not cover yet. */
  indexLagging: Set<number>;
  /** Streams whose index steps one upload pass runs at once. */
  indexConcurrency: number;
  /** True once the tier is closing: loops stop between steps. */
  closed(): boolean;
  /** Tells waiters that stream `id`'s registry `revision` is published. */
  schemaPublished(id: number, revision: number): void;
  /**
   * This node took stream `id`'s segment rows from the database (a lease
   * taken or taken again): both loops look at it, whatever their view said.
   */
  adopted?(id: number): void;
  /** Test only: may kill the process here (`crashPointHook`). */
  crashPoint(point: CrashPoint): void;
}

/**
 * Test only (`DS_TEST_CRASH_POINT=<point>[:<n>]`, `spec` here): a hook that
 * dies like `kill -9` the n-th time (default 1st) a loop reaches `point`.
 */
export function crashPointHook(spec: string): (point: CrashPoint) => void {
  const [name, nth] = spec.split(":");
  let hits = 0;
  return (point) => {
    if (name !== point) return;
    hits++;
    if (hits >= Number(nth ?? "1")) Deno.kill(Deno.pid, "SIGKILL");
  };
}
