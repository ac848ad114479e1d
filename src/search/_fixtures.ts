/**
 * @module
 * The `search` section of specs/search.md §1, shared by this folder's tests.
 */

/** The spec's example `search` section, as a client would send it. */
export function exampleSearch(): Record<string, unknown> {
  return {
    primaryTimestampField: "ts",
    aliases: { svc: "service" },
    defaultFields: [{ field: "message", boost: 2 }],
    fields: {
      ts: {
        kind: "date",
        bindings: [{ version: 1, jsonPointer: "/ts" }],
        column: true,
        exact: true,
        sortable: true,
      },
      service: {
        kind: "keyword",
        bindings: [{ version: 1, jsonPointer: "/service" }],
        normalizer: "lowercase_v1",
        exact: true,
        prefix: true,
      },
      status: {
        kind: "integer",
        bindings: [{ version: 1, jsonPointer: "/status" }],
        exact: true,
        column: true,
      },
      message: {
        kind: "text",
        bindings: [
          { version: 1, jsonPointer: "/msg" },
          { version: 2, jsonPointer: "/message" },
        ],
        analyzer: "unicode_word_v1",
        positions: true,
      },
    },
    rollups: {
      requests: {
        dimensions: ["service"],
        intervals: ["1m", "1h"],
        measures: {
          n: { kind: "count" },
          errors: { kind: "count", include: "status:>=500" },
        },
      },
    },
  };
}
