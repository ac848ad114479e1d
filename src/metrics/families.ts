/**
 * @module
 * Streambed's metric families (docs: README "Operating"), read at scrape
 * time from the counters each part keeps: the HTTP meters, the group-commit
 * writer, the tier, the object store wrapper, the segment cache, and the
 * process. Labels are bounded sets (route names, status classes, object
 * store operations, subsystems); no stream name or key is ever a label.
 */

import { cpuUsage } from "node:process";
import { type OpenMetricsContentType, Registry } from "prom-client";
import type { Config } from "../config.ts";
import type { TierReadBytes } from "../engine/reader.ts";
import type { WriterStats } from "../engine/writer.ts";
import type { StreamCacheStats } from "../engine/stream_cache.ts";
import { OVERLOAD_REASONS } from "../errors.ts";
import { LIVE_READER_BYTES_ESTIMATE } from "../limits.ts";
import type { OpMeter } from "../objectstore/metered.ts";
import { OBJECT_ARTIFACTS, OBJECT_OUTCOMES } from "../objectstore/metered.ts";
import type { TierStats } from "../tier/tier.ts";
import { type HttpMeters, STATUS_CLASSES } from "./http_meters.ts";
import {
  counterFamily,
  gaugeFamily,
  histogramFamily,
  type Sample,
} from "./prom.ts";

/** What the families read. */
export interface MetricParts {
  /** Per-route request meters. */
  http: HttpMeters;
  /** The engine's figures. */
  engine: {
    writerStats(): WriterStats;
    streamCacheStats(): StreamCacheStats;
    readonly readBytes: TierReadBytes;
    readonly streamCount: number;
    readonly waiting: number;
  };
  /** The tier, when an object store is configured. */
  tier?: { stats(): TierStats };
  /** The object store's call counters, when one is configured. */
  objects?: { stats(): OpMeter[] };
  /** Live subscriptions, when the subscription APIs are on. */
  subscriptions?: () => number;
  /** Request body bytes held in memory now. */
  bodyBytesInFlight: () => number;
  /** SSE connections open now. */
  sseConnections: () => number;
  /** The resolved config (budgets). */
  config: Config;
  /** Requests the access gate refused so far, by reason. */
  authFailures?: () => AuthFailureCounts;
  /** The touch runtimes' figures, when the server runs them. */
  touch?: () => TouchFigures;
}

/**
 * The node's touch runtimes (live query invalidation): gauges now, and
 * counters over the server's life (runtimes that were dropped included).
 */
export interface TouchFigures {
  /** Journals in memory. */
  readonly journals: number;
  /** Their bytes, roughly. */
  readonly journalBytes: number;
  /** Touch waits waiting. */
  readonly waiters: number;
  /** Active templates over all streams. */
  readonly templatesActive: number;
  /** Change records processed. */
  readonly changes: number;
  /** Touches queued, by kind. */
  readonly touches: Readonly<Record<"table" | "template" | "fine", number>>;
  /** Waits answered, by outcome. */
  readonly waits: Readonly<
    Record<"touched" | "timeout" | "stale" | "aborted", number>
  >;
  /** Template lifecycle events. */
  readonly templates: Readonly<Record<"activated" | "retired", number>>;
}

/** The access gate's refusal counters (the gate's `counts`). */
export interface AuthFailureCounts {
  /** No credential. */
  readonly missing: number;
  /** A malformed or unknown credential. */
  readonly invalid: number;
  /** A valid key without the scope or stream. */
  readonly forbidden: number;
  /** A key over its rate. */
  readonly rateLimited: number;
  /** A Host or Origin the browser guards refused. */
  readonly browser: number;
}

/** The `reason` label of `auth_failures_total`, and the counter behind it. */
export const AUTH_FAILURE_REASONS: readonly [
  string,
  keyof AuthFailureCounts,
][] = [
  ["missing", "missing"],
  ["invalid", "invalid"],
  ["forbidden", "forbidden"],
  ["rate_limited", "rateLimited"],
  ["browser", "browser"],
];

/** An exposition of every family and its `Content-Type`. */
export interface Exposition {
  /** `Content-Type` of `body`. */
  contentType: string;
  /** The text. */
  body: string;
}

/** What renders the families. */
export interface Metrics {
  /**
   * Every family as OpenMetrics 1.0 text when `openMetrics`, else as
   * Prometheus text 0.0.4.
   */
  render(openMetrics: boolean): Promise<Exposition>;
}

const P = "streambed_";

/**
 * Registers every family over `parts`, twice: prom-client renders a
 * registry in one format, and rendering OpenMetrics renames its counters
 * for good (it drops their `_total`, which it then adds per sample), so each
 * format has a registry of its own.
 */
export function createMetrics(parts: MetricParts): Metrics {
  const text = new Registry();
  const open = new Registry();
  // The typings bind a registry to the format it was made with; the
  // runtime switches it (and renders by `contentType` at each call).
  (open as unknown as Registry<OpenMetricsContentType>).setContentType(
    Registry.OPENMETRICS_CONTENT_TYPE,
  );
  register(text, parts);
  register(open, parts);
  return {
    render: async (openMetrics) => {
      const registry = openMetrics ? open : text;
      return {
        contentType: registry.contentType,
        body: await registry.metrics(),
      };
    },
  };
}

function register(registry: Registry, parts: MetricParts): void {
  httpFamilies(registry, parts.http);
  readFamilies(registry, parts.engine.readBytes);
  appendFamilies(registry, () => parts.engine.writerStats());
  liveFamilies(registry, parts);
  streamCacheFamilies(registry, () => parts.engine.streamCacheStats());
  if (parts.touch !== undefined) touchFamilies(registry, parts.touch);
  if (parts.tier !== undefined) tierFamilies(registry, parts.tier);
  if (parts.objects !== undefined) objectFamilies(registry, parts.objects);
  memoryFamilies(registry, parts);
  if (parts.authFailures !== undefined) {
    authFamilies(registry, parts.authFailures);
  }
}

function authFamilies(
  registry: Registry,
  counts: () => AuthFailureCounts,
): void {
  counterFamily(registry, {
    name: `${P}auth_failures_total`,
    help:
      "Requests refused by the access gate, by reason (missing or invalid credential, forbidden scope, rate limit, browser Host or Origin guard)",
    labelNames: ["reason"],
  }, function* () {
    const now = counts();
    for (const [reason, field] of AUTH_FAILURE_REASONS) {
      yield [{ reason }, now[field]];
    }
  });
}

function one(value: number): Sample[] {
  return [[{}, value]];
}

function httpFamilies(registry: Registry, http: HttpMeters): void {
  counterFamily(registry, {
    name: `${P}http_requests_total`,
    help: "HTTP requests answered, by route name, method and status class",
    labelNames: ["route", "method", "status"],
  }, function* () {
    for (const m of http.all()) {
      for (let i = 0; i < STATUS_CLASSES.length; i++) {
        if (m.statuses[i] === 0) continue;
        const labels = { route: m.route, method: m.method };
        yield [{ ...labels, status: STATUS_CLASSES[i] }, m.statuses[i]];
      }
    }
  });
  counterFamily(registry, {
    name: `${P}overload_rejections_total`,
    help:
      "Requests refused with 503 or 429 (busy, over a budget or rate, disk full, unavailable), by reason",
    labelNames: ["reason"],
  }, function* () {
    for (let i = 0; i < OVERLOAD_REASONS.length; i++) {
      yield [{ reason: OVERLOAD_REASONS[i] }, http.rejections[i]];
    }
  });
  histogramFamily(registry, {
    name: `${P}http_request_duration_seconds`,
    help: "Time from request to response head, by route name and method",
  }, function* () {
    for (const m of http.all()) {
      if (m.seconds.count > 0) {
        yield [{ route: m.route, method: m.method }, m.seconds];
      }
    }
  });
}

function readFamilies(registry: Registry, bytes: TierReadBytes): void {
  counterFamily(registry, {
    name: `${P}read_bytes_total`,
    help:
      "Bytes read for readers, by tier (the WAL, the segment cache, the object store)",
    labelNames: ["tier"],
  }, () => [
    [{ tier: "wal" }, bytes.wal],
    [{ tier: "cache" }, bytes.cache],
    [{ tier: "object" }, bytes.object],
  ]);
}

function appendFamilies(
  registry: Registry,
  stats: () => WriterStats,
): void {
  const counters: [string, string, (s: WriterStats) => number][] = [
    [
      "append_records_total",
      "Records appended (committed)",
      (s) => s.appendRecords,
    ],
    [
      "append_bytes_total",
      "Record bytes appended (committed)",
      (s) => s.appendBytes,
    ],
    [
      "commits_total",
      "WAL transactions committed (group commits)",
      (s) => s.commits,
    ],
    [
      "commit_requests_total",
      "Requests acknowledged by group commits",
      (s) => s.requests,
    ],
  ];
  for (const [name, help, read] of counters) {
    counterFamily(
      registry,
      { name: P + name, help },
      () => one(read(stats())),
    );
  }
  histogramFamily(registry, {
    name: `${P}append_commit_duration_seconds`,
    help: "Time one group commit took",
  }, () => [[{}, stats().commitSeconds]]);
  gaugeFamily(registry, {
    name: `${P}append_queue_requests`,
    help: "Requests waiting for the writer",
  }, () => one(stats().queued));
  gaugeFamily(registry, {
    name: `${P}append_queue_bytes`,
    help: "Bytes of the requests waiting for the writer",
  }, () => one(stats().queuedBytes));
}

function liveFamilies(registry: Registry, parts: MetricParts): void {
  gaugeFamily(registry, {
    name: `${P}streams`,
    help: "Live streams",
  }, () => one(parts.engine.streamCount));
  gaugeFamily(registry, {
    name: `${P}live_waiters`,
    help: "Live readers (long-poll and SSE) waiting for data",
  }, () => one(parts.engine.waiting));
  gaugeFamily(registry, {
    name: `${P}sse_connections`,
    help: "SSE responses open",
  }, () => one(parts.sseConnections()));
  const subscriptions = parts.subscriptions;
  if (subscriptions !== undefined) {
    gaugeFamily(registry, {
      name: `${P}subscriptions`,
      help: "Live subscriptions",
    }, () => one(subscriptions()));
  }
}

function streamCacheFamilies(
  registry: Registry,
  stats: () => StreamCacheStats,
): void {
  const gauges: [string, string, (s: StreamCacheStats) => number][] = [
    [
      "stream_cache_entries",
      "Streams whose producer states the stream cache holds",
      (s) => s.entries,
    ],
    [
      "stream_cache_bytes",
      "Estimated bytes the stream cache holds (--stream-cache-bytes caps them)",
      (s) => s.bytes,
    ],
    [
      "stream_cache_pinned",
      "Streams pinned in the stream cache by producer requests in flight",
      (s) => s.pinned,
    ],
  ];
  for (const [name, help, read] of gauges) {
    gaugeFamily(registry, { name: P + name, help }, () => one(read(stats())));
  }
  const counters: [string, string, (s: StreamCacheStats) => number][] = [
    [
      "stream_cache_hits_total",
      "Producer requests whose stream's producer states were in memory",
      (s) => s.hits,
    ],
    [
      "stream_cache_misses_total",
      "Producer requests that loaded their stream's producer states from the WAL",
      (s) => s.misses,
    ],
    [
      "stream_cache_evictions_total",
      "Streams whose producer states were dropped to stay within the budget",
      (s) => s.evictions,
    ],
  ];
  for (const [name, help, read] of counters) {
    counterFamily(registry, { name: P + name, help }, () => one(read(stats())));
  }
}

function touchFamilies(registry: Registry, touch: () => TouchFigures): void {
  const gauges: [string, string, (f: TouchFigures) => number][] = [
    ["touch_journals", "Touch journals in memory", (f) => f.journals],
    [
      "touch_journal_bytes",
      "Bytes the touch journals hold (--touch-memory-bytes caps them)",
      (f) => f.journalBytes,
    ],
    ["touch_waiters", "Touch waits waiting", (f) => f.waiters],
    [
      "touch_templates_active",
      "Active touch templates over all streams",
      (f) => f.templatesActive,
    ],
  ];
  for (const [name, help, read] of gauges) {
    gaugeFamily(
      registry,
      { name: `${P}${name}`, help },
      () => one(read(touch())),
    );
  }
  counterFamily(registry, {
    name: `${P}touch_changes_total`,
    help: "State Protocol changes the touch processors read",
  }, () => one(touch().changes));
  const labelled: [string, string, string, (f: TouchFigures) => object][] = [
    [
      "touch_touches_total",
      "Touches queued, by kind",
      "kind",
      (f) => f.touches,
    ],
    [
      "touch_waits_total",
      "Touch waits answered, by outcome",
      "outcome",
      (f) => f.waits,
    ],
    [
      "touch_templates_total",
      "Touch template activations and retirements",
      "event",
      (f) => f.templates,
    ],
  ];
  for (const [name, help, label, read] of labelled) {
    counterFamily(registry, {
      name: `${P}${name}`,
      help,
      labelNames: [label],
    }, function* () {
      for (const [value, n] of Object.entries(read(touch()))) {
        yield [{ [label]: value }, n as number];
      }
    });
  }
}

function tierFamilies(registry: Registry, tier: { stats(): TierStats }) {
  const gauges: [string, string, (s: TierStats) => number][] = [
    [
      "tier_backlog_bytes",
      "Local bytes not yet in the object store",
      (s) => s.backlogBytes,
    ],
    [
      "tier_wal_backlog_bytes",
      "WAL bytes not yet published",
      (s) => s.walBacklogBytes,
    ],
    [
      "tier_upload_backlog_bytes",
      "Sealed bytes waiting for upload",
      (s) => s.uploadBacklogBytes,
    ],
    [
      "tier_uploads_pending",
      "Sealed segments waiting for upload",
      (s) => s.uploadsPending,
    ],
    [
      "tier_release_queue",
      "Deleted streams whose objects wait",
      (s) => s.releaseQueue,
    ],
    [
      "segment_cache_bytes",
      "Bytes held by the segment cache",
      (s) => s.cache.bytes,
    ],
  ];
  for (const [name, help, read] of gauges) {
    gaugeFamily(
      registry,
      { name: P + name, help },
      () => one(read(tier.stats())),
    );
  }
  const counters: [string, string, (s: TierStats) => number][] = [
    ["tier_segments_sealed_total", "Segments sealed", (s) => s.segmentsSealed],
    [
      "tier_segments_uploaded_total",
      "Segments uploaded and published",
      (s) => s.segmentsUploaded,
    ],
    ["segment_cache_hits_total", "Segment cache hits", (s) => s.cache.hits],
    [
      "segment_cache_misses_total",
      "Segment cache misses (loads)",
      (s) => s.cache.misses,
    ],
    [
      "segment_cache_evictions_total",
      "Segments evicted from the cache",
      (s) => s.cache.evictions,
    ],
  ];
  for (const [name, help, read] of counters) {
    counterFamily(
      registry,
      { name: P + name, help },
      () => one(read(tier.stats())),
    );
  }
  // Index families carry the index family as a label; only the routing-key
  // index exists so far.
  const family = { family: "routing_key" };
  gaugeFamily(registry, {
    name: `${P}index_lag_segments`,
    help:
      "Uploaded segments an index does not cover yet, the most over streams",
    labelNames: ["family"],
  }, () => [[family, tier.stats().indexLagSegmentsMax]]);
  counterFamily(registry, {
    name: `${P}index_builds_total`,
    help: "Index build steps that built or compacted a run",
    labelNames: ["family"],
  }, () => [[family, tier.stats().indexBuilds]]);
}

function objectFamilies(
  registry: Registry,
  objects: { stats(): OpMeter[] },
): void {
  counterFamily(registry, {
    name: `${P}objectstore_requests_total`,
    help: "Object store calls, by operation, artifact and outcome",
    labelNames: ["op", "artifact", "outcome"],
  }, function* () {
    for (const m of objects.stats()) {
      for (let a = 0; a < OBJECT_ARTIFACTS.length; a++) {
        for (let o = 0; o < OBJECT_OUTCOMES.length; o++) {
          const value = m.counts[a * OBJECT_OUTCOMES.length + o];
          if (value === 0) continue;
          const labels = {
            op: m.op,
            artifact: OBJECT_ARTIFACTS[a],
            outcome: OBJECT_OUTCOMES[o],
          };
          yield [labels, value];
        }
      }
    }
  });
  histogramFamily(registry, {
    name: `${P}objectstore_request_duration_seconds`,
    help: "Object store call durations, by operation",
  }, function* () {
    for (const m of objects.stats()) {
      if (m.seconds.count > 0) yield [{ op: m.op }, m.seconds];
    }
  });
}

/** What each subsystem holds now and may hold at most, in bytes. */
export function memoryBySubsystem(
  parts: MetricParts,
): { subsystem: string; usedBytes: number; budgetBytes: number }[] {
  const { limits, segment } = parts.config;
  const writer = parts.engine.writerStats();
  const rows = [
    {
      subsystem: "append_queue",
      usedBytes: writer.queuedBytes,
      budgetBytes: limits.appendQueueBytesMax,
    },
    {
      subsystem: "request_bodies",
      usedBytes: parts.bodyBytesInFlight(),
      budgetBytes: Math.max(limits.bodyInflightBytesMax, limits.bodyBytesMax),
    },
    {
      subsystem: "stream_cache",
      usedBytes: parts.engine.streamCacheStats().bytes,
      budgetBytes: limits.streamCacheBytes,
    },
    {
      // Estimated per connection: the bytes are the runtime's (sockets,
      // pending requests, response streams), not ours to count.
      subsystem: "live_readers",
      usedBytes: parts.engine.waiting * LIVE_READER_BYTES_ESTIMATE,
      budgetBytes: limits.waitersMax * LIVE_READER_BYTES_ESTIMATE,
    },
  ];
  if (parts.tier !== undefined) {
    rows.push({
      subsystem: "segment_cache",
      usedBytes: parts.tier.stats().cache.bytes,
      budgetBytes: segment.cacheBytes,
    });
  }
  return rows;
}

function memoryFamilies(registry: Registry, parts: MetricParts): void {
  gaugeFamily(registry, {
    name: `${P}memory_used_bytes`,
    help: "Bytes held now, by subsystem",
    labelNames: ["subsystem"],
  }, () =>
    memoryBySubsystem(parts).map((
      r,
    ) => [{ subsystem: r.subsystem }, r.usedBytes]));
  gaugeFamily(registry, {
    name: `${P}memory_budget_bytes`,
    help: "Bytes a subsystem may hold at most, by subsystem",
    labelNames: ["subsystem"],
  }, () =>
    memoryBySubsystem(parts).map((
      r,
    ) => [{ subsystem: r.subsystem }, r.budgetBytes]));
  gaugeFamily(registry, {
    name: "process_resident_memory_bytes",
    help: "Resident set size, in bytes",
  }, () => one(Deno.memoryUsage().rss));
  gaugeFamily(registry, {
    name: "process_heap_used_bytes",
    help: "JavaScript heap in use, in bytes",
  }, () => one(Deno.memoryUsage().heapUsed));
  const startSeconds = Date.now() / 1000 - performance.now() / 1000;
  gaugeFamily(registry, {
    name: "process_start_time_seconds",
    help: "Start time of the process, in seconds since the epoch",
  }, () => one(Math.round(startSeconds)));
  counterFamily(registry, {
    name: "process_cpu_seconds_total",
    help: "User and system CPU time, in seconds",
  }, () => {
    const cpu = cpuUsage();
    return one((cpu.user + cpu.system) / 1e6);
  });
}
