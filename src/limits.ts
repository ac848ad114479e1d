/**
 * @module
 * Every fixed limit, interval and budget that is not a configuration option,
 * in one place, one name each (units last). What an operator should tune is
 * an option in `config.ts` instead. Facts of an outside system (S3's
 * 1024-byte keys and 1000-key pages, a file name's 255 bytes), protocol
 * rules (`protocol/`) and the parameters of a format or kernel (segment
 * layout and block target, zstd block bound, bloom and fuse sizing) stay
 * beside the code that encodes them. Leaves may import this module.
 */

const KIB = 1024;
const MIB = 1024 * KIB;

// ---- retries (src/backoff.ts) -----------------------------------------------

/** Largest share of a retry delay that jitter takes off. */
export const BACKOFF_JITTER = 0.2;

// ---- the data dir (src/storage/data_dir_lock.ts) ------------------------------

/** How long start-up waits for a data-dir lock found held before failing. */
export const DATA_DIR_LOCK_WAIT_MS = 1000;
/** Wait between two tries of a held data-dir lock. */
export const DATA_DIR_LOCK_RETRY_MS = 25;

// ---- tiering (src/tier/) ---------------------------------------------------

/** Wait between two passes of each tiering loop (sealing, uploading). */
export const TIER_TICK_MS = 50;
/** WAL bytes one seal pass turns into segments at most, over all streams. */
export const SEAL_PASS_BYTES_MAX = 64 * MIB;
/**
 * A stream whose own bytes are under `--segment-bytes` / this (64 KiB of the
 * default 16 MiB) is tiny: while open, its unsealed bytes are sealed only
 * once it has been idle for `--segment-idle-ms`, not by `--segment-age-ms`
 * alone.
 */
export const SEAL_SMALL_DIVISOR = 256;
/** Small ranges held for idleness that one seal pass takes under backlog pressure. */
export const SEAL_PRESSED_STREAMS = 10_000;
/** A stream whose seal waits for uploads is looked at again after this. */
export const SEAL_BLOCKED_RECHECK_MS = 1000;
/** A tiering pass yields to requests after looking at this many streams. */
export const TIER_PASS_YIELD_STREAMS = 512;
/** A failed routing-key index step is retried after this. */
export const INDEX_STEP_RETRY_MS = 1000;
/**
 * Segments one upload pass puts per stream at most before it publishes the
 * manifest (and truncates the WAL): a stream whose tiny segments are sealed
 * faster than they upload still publishes, and other streams get a turn.
 */
export const UPLOAD_PASS_SEGMENTS_MAX = 32;
/** Segment bytes one upload pass puts per stream at most (one segment at least). */
export const UPLOAD_PASS_BYTES_MAX = 64 * MIB;
/** WAL bytes read per query while sealing. */
export const SEAL_READ_SLICE_BYTES = 256 * KIB;
/** Record bytes encoded between two yields to the event loop while sealing. */
export const SEAL_YIELD_BYTES = 64 * KIB;
/** `list` pages read per released stream at most (a guard, not a budget). */
export const RELEASE_LIST_PAGES_MAX = 1_000_000;
/**
 * How soon a node asks again whether a deleted stream's objects are
 * released, in ms, while another live node holds the stream's lease.
 */
export const RELEASE_WAIT_MS = 1000;
/**
 * How often the release queue reads the release log again, in ms: deletes
 * on other nodes, and releases that did not fit the queue, are found this
 * late at most (a restart reads it on the first pass).
 */
export const RELEASE_LOG_READ_MS = 1000;
/** `list` pages of manifests read by `--bootstrap` at most. */
export const BOOTSTRAP_LIST_PAGES_MAX = 1_000_000;
/** Manifests queued for one batch object before it is published at once. */
export const MANIFEST_BATCH_ENTRIES_MAX = 4096;
/** Batch objects kept before they are merged. */
export const MANIFEST_BATCH_OBJECTS_MAX = 32;
/** Entries per merged batch object at most. */
export const MANIFEST_BATCH_OBJECT_ENTRIES_MAX = 100_000;
/** `list` pages of batch objects read at most (a guard, not a budget). */
export const MANIFEST_BATCH_LIST_PAGES_MAX = 10_000;
/**
 * A sealed segment of a tiny stream (every segment of it so far packed) at
 * most this big (encoded) is put into a shared pack object with others
 * instead of an object of its own (docs/segments.md "Packed segments").
 */
export const PACK_SEGMENT_BYTES_MAX = 64 * KIB;
/** Segments one pack object holds at most (one batch of manifests' worth). */
export const PACK_SEGMENTS_MAX = 4096;
/** Bytes of one pack object at most (one segment at least). */
export const PACK_BYTES_MAX = 16 * MIB;
/** `list` pages of pack objects read at most (a guard, not a budget). */
export const PACK_LIST_PAGES_MAX = 100_000;
/** `Retry-After` of a write refused while the local backlog is over budget. */
export const BACKLOG_RETRY_AFTER_SECONDS = 5;

// ---- the engine (src/engine/) ----------------------------------------------

/** Time between sweeps for expired streams and unwritten access times. */
export const SWEEP_INTERVAL_MS = 1000;
/** Reads up to this size are shared by live readers woken together. */
export const READ_MEMO_BYTES_MAX = 64 * KIB;
/** Stored bytes a keyed read asks of the chunk reader per call. */
export const KEYED_READ_SLICE_BYTES = 1 * MIB;
/** Largest chunk the writer builds by merging one flush's appends. */
export const MERGED_CHUNK_BYTES_MAX = 1 * MIB;
/**
 * After a full-disk failure, writes are refused this long before one commit
 * tries again, so a full disk costs one failed commit (and one roll-back)
 * per interval, not one per request.
 */
export const DISK_FULL_PAUSE_MS = 1000;
/** Default size WAL compaction merges chunks to (`--compact-chunk-bytes`). */
export const COMPACTION_CHUNK_BYTES_DEFAULT = 64 * KIB;
/** Bytes WAL compaction merges per tick at most. */
export const COMPACTION_TICK_BYTES_MAX = 8 * MIB;
/** Time between WAL compaction ticks. */
export const COMPACTION_INTERVAL_MS = 100;
/**
 * Streams WAL compaction examines per tick at most: after a restart every
 * stream is a candidate, and each costs a WAL query even when nothing merges.
 */
export const COMPACTION_TICK_STREAMS_MAX = 256;

// ---- the routing-key index (src/index/) ---------------------------------------

/** Default segments per L0 run (at most 16: one bit each in a run's mask). */
export const ROUTING_INDEX_SPAN_DEFAULT = 16;
/** Default runs of one level merged into one run of the next. */
export const ROUTING_INDEX_FANOUT_DEFAULT = 16;
/** Default highest level compaction builds (L4 = 16 * 16^4 segments). */
export const ROUTING_INDEX_LEVEL_MAX_DEFAULT = 4;
/** Default bytes of decoded runs kept in the run cache. */
export const ROUTING_RUN_CACHE_BYTES_DEFAULT = 64 * MIB;
/** A retired run's object is deleted no sooner than this after retirement. */
export const ROUTING_RUN_RETIRED_GRACE_MS = 5 * 60_000;

/** Stored bytes per search companion block (a block closes past this). */
export const COMPANION_BLOCK_BYTES = 4 * 1024;
/** A companion section decompresses to at most this many bytes (else it is damaged). */
export const COMPANION_SECTION_BYTES_MAX = 256 * MIB;
/**
 * Bytes of decoded search companions kept in memory (an LRU over all
 * streams); an evicted companion's segment is read until it is loaded again.
 */
export const COMPANION_MEMORY_BYTES_MAX = 64 * MIB;
/**
 * Estimated heap bytes of one stream's producer states in the stream cache
 * (`--stream-cache-bytes`): the `Map` with room for a few entries...
 */
export const STREAM_CACHE_ENTRY_BYTES = 200;
/**
 * ...plus, per producer, its state object, table entry and id string header
 * (each character of the id counts 2 bytes more).
 */
export const STREAM_CACHE_PRODUCER_BYTES = 64;
/**
 * Times a producer request loads its stream's producer states while the
 * stream keeps being reloaded or replaced meanwhile, before a 503.
 */
export const STREAM_CACHE_LOAD_ATTEMPTS_MAX = 8;
/** Index steps (and Worker requests) waiting at most. */
export const ROUTING_BUILD_PENDING_MAX = 16;

// ---- Retry-After (seconds) of the engine's refusals --------------------------

/** The append queue is full (`--append-queue-max`, `--append-queue-bytes-max`). */
export const QUEUE_FULL_RETRY_AFTER_SECONDS = 1;
/** Too many live readers wait (`--waiters-max`). */
export const WAITERS_RETRY_AFTER_SECONDS = 1;
/**
 * Long-polls of `_index_status` waiting at once; beyond it they get 503
 * with `WAITERS_RETRY_AFTER_SECONDS`.
 */
export const INDEX_STATUS_WAITERS_MAX = 1024;
/** The disk is full (matches `DISK_FULL_PAUSE_MS`). */
export const DISK_FULL_RETRY_AFTER_SECONDS = 1;

/**
 * First retry delay of reloading the WAL after a failed commit, while the
 * WAL cannot be read (its database is away), in ms; doubles per failure.
 */
export const ROLLBACK_RETRY_MIN_MS = 100;
/** Longest retry delay of that reload, in ms. */
export const ROLLBACK_RETRY_MAX_MS = 2000;

// ---- PostgreSQL (src/storage/pg_store.ts) ------------------------------------

/** PostgreSQL is unreachable or timed out; retry after this long. */
export const DATABASE_RETRY_AFTER_SECONDS = 1;
/** Tries of one commit that hits a deadlock or serialization failure. */
export const PG_CONFLICT_RETRIES_MAX = 3;
/**
 * Interval between asks of `txid_status` after the connection dropped
 * during `COMMIT` (up to `--postgres-connect-timeout-ms` in all).
 */
export const PG_OUTCOME_POLL_MS = 100;
/**
 * How much longer than `--postgres-statement-timeout-ms` our side waits for
 * an answer (and an idle transaction may live) before the connection is
 * taken for lost.
 */
export const QUERY_TIMEOUT_MARGIN_MS = 1000;
/** Chunk rows fetched per query of a read (a read stops at its byte cap). */
export const PG_READ_PAGE_ROWS = 32;
/**
 * Characters per simple-query message of a commit, about: a group commit
 * is sent as one message unless its records are larger (hex doubles them).
 */
export const PG_MESSAGE_BYTES_MAX = 8 * 1024 * 1024;
/**
 * Rows per multi-row statement of a commit at most, so no one statement's
 * text or plan grows with the batch.
 */
export const PG_ROWS_PER_STATEMENT_MAX = 1000;
/** A node's heartbeat in the `nodes` table, this often. */
export const PG_HEARTBEAT_MS = 5000;
/** First and longest retry delay of a lost LISTEN connection, in ms. */
export const PG_LISTEN_RETRY_MIN_MS = 100;
/** Longest retry delay of a lost LISTEN connection, in ms. */
export const PG_LISTEN_RETRY_MAX_MS = 2000;
/**
 * How long another node's create, delete, close or schema change may stay
 * unapplied here (its announcement missed, say while the listener was
 * connecting) before a poll reloads every stream, in ms.
 */
export const PG_META_GAP_MS = 1000;
/**
 * How long a listing on one node waits, in ms, for the announcements of
 * creates and deletes committed elsewhere (the stored `meta_version` is
 * ahead) before it reloads every stream instead.
 */
export const META_ANNOUNCE_WAIT_MS = 200;
/** How often, in ms, that wait looks at the stored `meta_version` again. */
export const META_ANNOUNCE_POLL_MS = 10;
/**
 * Tries of one subscription request whose commit another node's change
 * fenced (each after reloading the subscription); then the `fenced` error.
 */
export const SUBSCRIPTION_FENCED_TRIES_MAX = 3;
/**
 * How long, in ms, past a webhook wake's attempt time (and the delivery
 * timeout) a node that did not issue the wake waits before delivering it
 * itself: the issuing node is then taken to be gone.
 */
export const WEBHOOK_TAKEOVER_GRACE_MS = 2000;
/**
 * Subscription versions a node notes as applied above the highest one up
 * to which it has applied every change (versions heard out of order); past
 * this the node reloads every subscription at its next freshness check.
 */
export const SUBSCRIPTION_VERSIONS_AHEAD_MAX = 4096;
/**
 * Tries of one write whose commit found its streams changed by another
 * node (each after reloading them); then 503.
 */
export const STALE_RETRIES_MAX = 30;
/**
 * Jitter before planning a stale write again, in ms (doubling per attempt,
 * up to 32 times), so nodes racing for one stream stop colliding.
 */
export const STALE_BACKOFF_MS = 5;
/**
 * With several nodes, a stream is deleted for its TTL only once its stored
 * access time is this much older than the TTL: other nodes write their
 * readers' access times once a sweep (1 s). Until then it answers 404 as
 * expired but its row stays.
 */
export const SHARED_EXPIRY_GRACE_MS = 2500;
/**
 * Longest wait for the Worker of the synchronous PostgreSQL client
 * (`src/storage/pg_sync.ts`) to load the driver, once, on the first call.
 */
export const PG_SYNC_START_MS = 60_000;

// ---- the HTTP edge (src/http/) -------------------------------------------------

/** An idle SSE connection gets a comment line this often. */
export const SSE_KEEP_ALIVE_MS = 15_000;
/**
 * Bytes an SSE body stream queues before it stops asking for events. One
 * event (one read, at most `--read-bytes-max` before framing) may cross it,
 * so a reader that stops reading holds at most one read plus this much.
 */
export const SSE_QUEUE_HIGH_WATER_BYTES = 64 * KIB;
/**
 * Resident bytes one live reader (long-poll, SSE or touch wait) is counted at
 * in memory by subsystem: measured 30-31 KiB per idle long-poll and 53-54 KiB
 * per idle SSE connection (`bench/memory_bench.ts --scenario waiters`), so the
 * larger, rounded up.
 */
export const LIVE_READER_BYTES_ESTIMATE = 64 * KIB;
/** Subscription control request bodies are small JSON objects. */
export const CONTROL_BODY_BYTES_MAX = 1 * MIB;
/** `Host` values remembered as valid; cleared when full, so it stays small. */
export const VALID_AUTHORITIES_MAX = 64;

// ---- subscriptions (src/subscriptions/) -----------------------------------------

/** Subscriptions one page of `GET /v1/stream/__ds/subscriptions` lists at most. */
export const SUBSCRIPTION_LIST_PAGE_MAX = 100;
/** Streams with pending records one list item names at most (it counts all). */
export const SUBSCRIPTION_LIST_PENDING_SAMPLE_MAX = 10;
/** Longest subscription `description`. */
export const DESCRIPTION_CHARS_MAX = 1024;
/** Longest `worker` name of a claim. */
export const WORKER_CHARS_MAX = 256;
/** Callback and claim tokens expire after a day; fencing bounds them far sooner. */
export const TOKEN_TTL_S = 24 * 3600;
/** Retired signing keys stay published this long (2x the 5 min replay window). */
export const KEY_PUBLISH_AFTER_RETIRE_MS = 10 * 60_000;
/** Bytes of a webhook response body read at most. */
export const WEBHOOK_RESPONSE_BYTES_MAX = 64 * KIB;
/** Time a webhook target's DNS lookup may take. */
export const WEBHOOK_DNS_TIMEOUT_MS = 2000;

// ---- the command line (src/cli.ts) -------------------------------------------

/**
 * How long a fatal exit waits for in-flight responses (an SSE connection
 * may hold the HTTP server open until its own deadline).
 */
export const FATAL_DRAIN_MS = 5000;

// ---- access control (src/auth/) ---------------------------------------------

/** Largest API keys file read (`--api-keys-file`). */
export const KEYS_FILE_BYTES_MAX = 1 * MIB;
/** Keys one keys file may hold. */
export const KEYS_MAX = 10_000;
/** Stream globs one key may list. */
export const KEY_STREAMS_MAX = 256;
/** How often the keys file is checked for changes (besides SIGHUP). */
export const KEYS_FILE_POLL_MS = 1000;
/** Origins `--cors-origins` and names `--allowed-hosts` may list. */
export const ORIGINS_MAX = 256;
/**
 * Stream names one `GET /v1/streams` examines at most when the key may
 * read only some of them; past it the page ends early with `next` set.
 */
export const LIST_SCAN_NAMES_MAX = 10_000;

// ---- the operator's view (src/metrics/, src/http/observe.ts) ----------------

/** Streams listed by size in `GET /v1/server/_details` at most. */
export const SERVER_DETAILS_TOP_STREAMS = 20;
/** Longest `X-Request-Id` taken from a client; a longer one is replaced. */
export const REQUEST_ID_CHARS_MAX = 128;

// ---- search (src/search/) ----------------------------------------------------

/** Fields one `search` section may declare. */
export const SEARCH_FIELDS_MAX = 128;
/** Rollups one `search` section may declare. */
export const SEARCH_ROLLUPS_MAX = 16;
/** Dimensions one rollup may group by. */
export const SEARCH_ROLLUP_DIMENSIONS_MAX = 8;
/** Intervals one rollup may keep. */
export const SEARCH_ROLLUP_INTERVALS_MAX = 8;
/** Measures one rollup may compute. */
export const SEARCH_ROLLUP_MEASURES_MAX = 16;
/** Characters of a search field, alias, rollup or measure name. */
export const SEARCH_NAME_CHARS_MAX = 64;
/** Characters of a query (`filter=`, `q`, a rollup `include`). */
export const QUERY_CHARS_MAX = 4096;
/** Nesting of parentheses and negations in a query. */
export const QUERY_DEPTH_MAX = 32;
/** Clauses (field clauses, `has:`, bare terms) in a query. */
export const QUERY_CLAUSES_MAX = 128;
/** Tokens one text value keeps after analysis; the rest are ignored. */
export const TEXT_TOKENS_PER_VALUE_MAX = 65_536;
/** Windows (`(to - from) / interval`) one `_aggregate` may span. */
export const AGGREGATE_WINDOWS_MAX = 10_000;
/** Output groups (summed over buckets) one `_aggregate` may return. */
export const AGGREGATE_GROUPS_MAX = 100_000;
/** Hits one `_search` page may return (`size`). */
export const SEARCH_SIZE_MAX = 500;
/** Largest `_search` time budget (`timeout_ms` is clamped to it; also the default). */
export const SEARCH_TIMEOUT_MS_MAX = 3000;
/** Bindings (schema versions) one search field may list. */
export const SEARCH_FIELD_BINDINGS_MAX = 1024;
/** Time one `filter=` read response scans at most before it answers early. */
export const FILTER_READ_TIME_BUDGET_MS = 2000;
/** Time one `_aggregate` scans source records before it answers 408. */
export const AGGREGATE_TIMEOUT_MS = 3000;
/** `_search`/`_aggregate` requests waiting for the search gate before 503. */
export const SEARCH_QUEUE_MAX = 64;

// ---- request timelines (/v1/observe/request) ----------------------------------

/** Most events one lookup returns (`limits.events`; the default is 100). */
export const OBSERVE_EVENTS_MAX = 500;
/** Most spans one lookup returns (`limits.spans`; the default is 5000). */
export const OBSERVE_SPANS_MAX = 10_000;
/** Most padding around a lookup's time window (`time.paddingMs`). */
export const OBSERVE_PADDING_MS_MAX = 86_400_000;
/** `_search` page size a lookup pages with. */
export const OBSERVE_PAGE_SIZE = 500;
/** Most trace ids a request id's events lead a lookup to. */
export const OBSERVE_TRACE_IDS_MAX = 64;
/** Most characters of a looked-up id. */
export const OBSERVE_ID_CHARS_MAX = 256;
/** Time one lookup may take before it answers 408 with what it found. */
export const OBSERVE_REQUEST_BUDGET_MS = 5000;
// ---- stream profiles (src/profiles/) ----------------------------------------

/** Extra secret key names one profile's `redactKeys` may list. */
export const PROFILE_REDACT_KEYS_MAX = 64;
/** Dotted paths one evlog correlation field list may hold. */
export const PROFILE_FIELD_PATHS_MAX = 64;
/** Nesting depth of an appended element a profile walks (redaction). */
export const PROFILE_JSON_DEPTH_MAX = 64;

// ---- live query invalidation (src/live/) --------------------------------------

/** Largest `touch/wait` or `touch/templates/activate` body. */
export const TOUCH_BODY_BYTES_MAX = 256 * 1024;
/** Records the touch processor hands to one processor step (touch-live.md §4). */
export const TOUCH_BATCH_RECORDS_MAX = 500;
/** Bytes the touch processor reads from a stream per read (touch-live.md §4). */
export const TOUCH_BATCH_BYTES_MAX = 4 * MIB;
/** How often `touch/meta?settle=flush` looks again, ms (touch-live.md §6.1). */
export const TOUCH_SETTLE_POLL_MS = 25;
/** Default and largest `timeoutMs` of `touch/meta?settle=flush`. */
export const TOUCH_SETTLE_TIMEOUT_DEFAULT_MS = 30_000;
export const TOUCH_SETTLE_TIMEOUT_MAX_MS = 120_000;
/**
 * A stream's touch checkpoint (`touch_state`) is written at most this
 * often while its processor moves (and when its runtime stops).
 */
export const TOUCH_STATE_PERSIST_INTERVAL_MS = 1000;

// ---- stream leases across nodes (PostgreSQL full mode) ---------------------

/**
 * How often a node walks a page of the streams' leases (PostgreSQL full
 * mode): it takes the leases placement gives it, lets go of the others, and
 * reconciles with the database the streams it holds that have unpublished
 * records, also when it heard of no commit on them.
 */
export const LEASE_SWEEP_INTERVAL_MS = 5000;
/** Streams one lease sweep looks at, at most (a page, by stream id). */
export const LEASE_SWEEP_STREAMS_MAX = 256;
/** Leases one lease sweep takes or lets go of, at most. */
export const LEASE_SWEEP_MOVES_MAX = 32;

// ---- start-up -----------------------------------------------------------------

/**
 * `streams` rows the SQLite WAL reads per query at start-up: the raw rows
 * of one page are converted and dropped before the next is read, so the
 * load never holds every raw row, and a page is few enough native calls.
 */
export const WAL_LOAD_PAGE_ROWS = 4096;
