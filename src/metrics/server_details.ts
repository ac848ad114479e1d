/**
 * @module
 * `GET /v1/server/_details`: what an operator asks when the server is slow
 * or large: the limits in force, memory by subsystem, the append queue,
 * live readers, the tier's backlog, and the largest streams (a bounded
 * list, kept up to date as commits happen: see `largest_streams.ts`).
 * Built on demand.
 */

import { SERVER_DETAILS_TOP_STREAMS } from "../limits.ts";
import { memoryBySubsystem, type MetricParts } from "./families.ts";

/** A stream as the size ranking sees it. */
export interface SizedStream {
  /** Stream name. */
  name: string;
  /** Committed tail position: the stream's length in bytes. */
  tailPos: number;
}

/** What the details read: the metric parts plus the largest streams. */
export interface DetailsParts extends MetricParts {
  /** The `max` longest live streams, longest first. */
  topStreams: (max: number) => SizedStream[];
}

/** The details body. */
export function serverDetails(
  parts: DetailsParts,
  topMax: number = SERVER_DETAILS_TOP_STREAMS,
): Record<string, unknown> {
  const { config } = parts;
  const writer = parts.engine.writerStats();
  const tier = parts.tier?.stats();
  return {
    uptimeSeconds: Math.round(performance.now() / 1000),
    limits: config.limits,
    segment: {
      segmentBytes: config.segment.segmentBytes,
      segmentAgeMs: config.segment.segmentAgeMs,
      cacheBytes: config.segment.cacheBytes,
      backlogBytesMax: config.segment.backlogBytesMax,
      uploadBacklogBytesMax: config.segment.uploadBacklogBytesMax,
    },
    memory: {
      process: Deno.memoryUsage(),
      subsystems: memoryBySubsystem(parts),
    },
    appendQueue: {
      requests: writer.queued,
      bytes: writer.queuedBytes,
      rejections: writer.queueRejections,
    },
    writer: {
      commits: writer.commits,
      requests: writer.requests,
      appendRecords: writer.appendRecords,
      appendBytes: writer.appendBytes,
    },
    live: {
      waiters: parts.engine.waiting,
      sseConnections: parts.sseConnections(),
    },
    streams: parts.engine.streamCount,
    streamCache: parts.engine.streamCacheStats(),
    subscriptions: parts.subscriptions?.() ?? null,
    tier: tier === undefined ? null : {
      backlogBytes: tier.backlogBytes,
      walBacklogBytes: tier.walBacklogBytes,
      uploadBacklogBytes: tier.uploadBacklogBytes,
      uploadsPending: tier.uploadsPending,
      releaseQueue: tier.releaseQueue,
      cache: tier.cache,
      companions: tier.companions,
    },
    topStreams: parts.topStreams(topMax).map((s) => ({
      name: s.name,
      bytes: s.tailPos,
    })),
  };
}
