/**
 * @module
 * Every fixed limit, interval and budget that is not a configuration option,
 * in one place, one name each (units last). What an operator should tune is
 * an option in `config.ts` instead; facts of a format or of an outside
 * system (S3's 1024-byte keys, a file name's 255 bytes, the segment layout)
 * stay beside the code that encodes them.
 */

const KIB = 1024;
const MIB = 1024 * KIB;

// ---- tiering (src/tier/) ---------------------------------------------------

/** Wait between two passes of each tiering loop (sealing, uploading). */
export const TIER_TICK_MS = 50;
/** WAL bytes one seal pass turns into segments at most, over all streams. */
export const SEAL_PASS_BYTES_MAX = 64 * MIB;
/** WAL bytes read per query while sealing. */
export const SEAL_READ_SLICE_BYTES = 256 * KIB;
/** Record bytes encoded between two yields to the event loop while sealing. */
export const SEAL_YIELD_BYTES = 64 * KIB;
/** `list` pages read per released stream at most (a guard, not a budget). */
export const RELEASE_LIST_PAGES_MAX = 1_000_000;
/** `list` pages of manifests read by `--bootstrap` at most. */
export const BOOTSTRAP_LIST_PAGES_MAX = 1_000_000;
/** `Retry-After` of a write refused while the local backlog is over budget. */
export const BACKLOG_RETRY_AFTER_SECONDS = 5;
