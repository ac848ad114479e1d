/**
 * @module
 * The JSON log records of the search benchmarks: `ts`, `service`, `status`
 * and `message`, about `recordBytes` stored bytes each, with a known share
 * of selective values (`status` 500 in one record of 997, "timeout" in the
 * message of one of 1,009), and the `search` section they are indexed with
 * (specs/search.md §1).
 */

const BASE_MS = Date.UTC(2026, 11, 1, 0, 0, 0);
const SERVICES = ["api", "web", "db", "auth", "billing"];
const WORDS = ["request", "served", "cache", "miss", "retry", "slow"];
const PATHS = ["users", "orders", "carts", "items", "search", "login"];

/** Epoch ms of record 0; record `i` is `i * 100` ms later. */
export const LOG_BASE_MS = BASE_MS;

/**
 * Record `i`. With `recordBytes` above about 110 the message grows with a
 * request line, a host and a trace id (about 300 bytes at 300).
 */
export function logRecord(
  i: number,
  recordBytes = 110,
): { ts: string; service: string; status: number; message: string } {
  let message = i % 1009 === 0
    ? `db timeout after ${i % 300} ms`
    : `${WORDS[i % 6]} ${WORDS[(i >> 3) % 6]} id ${i} in ${i % 90} ms`;
  if (recordBytes > 110) {
    const trace = ((i * 2654435761) >>> 0).toString(16).padStart(8, "0");
    message += ` GET /v1/${PATHS[i % 6]}/${i % 5000} host ${
      SERVICES[(i >> 2) % 5]
    }-${i % 40} trace ${trace}${trace.split("").reverse().join("")}`;
    for (let w = i; message.length < recordBytes - 90; w = (w * 7 + 3) % 36) {
      message += ` ${WORDS[w % 6]}`;
    }
  }
  return {
    ts: new Date(BASE_MS + i * 100).toISOString(),
    service: SERVICES[i % 5],
    status: i % 997 === 0 ? 500 : i % 13 === 0 ? 404 : 200,
    message,
  };
}

/** The `search` section of the log records (with a rollup for `_aggregate`). */
export const LOG_SEARCH = {
  primaryTimestampField: "ts",
  defaultFields: [{ field: "message" }],
  fields: {
    ts: {
      kind: "date",
      bindings: [{ version: 1, jsonPointer: "/ts" }],
      column: true,
      sortable: true,
    },
    service: {
      kind: "keyword",
      bindings: [{ version: 1, jsonPointer: "/service" }],
      exact: true,
    },
    status: {
      kind: "integer",
      bindings: [{ version: 1, jsonPointer: "/status" }],
      exact: true,
      column: true,
    },
    message: {
      kind: "text",
      bindings: [{ version: 1, jsonPointer: "/message" }],
      analyzer: "unicode_word_v1",
    },
  },
  rollups: {
    requests: {
      dimensions: ["service"],
      intervals: ["1m"],
      measures: {
        n: { kind: "count" },
        errors: { kind: "count", include: "status:>=500" },
      },
    },
  },
};
