/**
 * @module
 * The `state-protocol` profile (profiles.md §7): each appended element is a
 * State Protocol change (`headers.operation` insert/update/delete) or
 * control message (`headers.control`), checked and stored unchanged. No
 * canonical registry; a user schema may still set the routing key. Owns the
 * `touch` options the live-query processor reads.
 */

import { fail, ok, type Result, type StreamError } from "../errors.ts";
import { isRfc3339 } from "./_json.ts";
import { validateTouch } from "./_touch_options.ts";
import {
  type CanonicalRecord,
  checkKeys,
  isObject,
  type Json,
  type JsonObject,
  type Profile,
} from "./profile.ts";

/** Options of the state-protocol profile, defaults filled in. */
export type StateProtocolOptions = {
  kind: "state-protocol";
  touch: JsonObject;
};

const OPERATIONS = ["insert", "update", "delete"];
const CONTROLS = ["snapshot-start", "snapshot-end", "reset"];
// A read position: `-1` (the start) or a Streambed offset, the same shape
// `protocol/offset.ts` encodes (16 digits, `_`, 16 digits).
const OFFSET = /^(-1|\d{16}_\d{16})$/;

/** The state-protocol profile. */
export const stateProtocolProfile: Profile<StateProtocolOptions> = {
  kind: "state-protocol",
  installsRegistry: false,
  validate(raw: unknown): Result<StateProtocolOptions> {
    if (!isObject(raw)) {
      return fail("bad_request", '"profile" must be an object');
    }
    const keys = checkKeys(raw, ["kind", "touch"], "profile");
    if (!keys.ok) return keys;
    const touch = validateTouch(raw.touch);
    if (!touch.ok) return touch;
    return ok({ kind: "state-protocol", touch: touch.value });
  },
  normalize(element: unknown): Result<CanonicalRecord[]> {
    const checked = checkStateRecord(element);
    if (!checked.ok) return checked;
    return ok([{ value: element as Json, routingKey: null }]);
  },
  routingKey(): string | null {
    return null;
  },
  canonicalRegistry(): null {
    return null;
  },
};

function bad(
  message: string,
  field: string,
): { ok: false; error: StreamError } {
  return fail("bad_request", message, { field });
}

/** Checks one State Protocol change or control record. */
export function checkStateRecord(element: unknown): Result<void> {
  if (!isObject(element)) {
    return fail("bad_request", "a State Protocol record must be a JSON object");
  }
  const headers = element.headers;
  if (!isObject(headers)) {
    return bad('"headers" must be an object', "headers");
  }
  const hasOperation = headers.operation !== undefined;
  const hasControl = headers.control !== undefined;
  if (hasOperation && hasControl) {
    return bad(
      '"headers" must carry exactly one of "operation" and "control", not both',
      "headers",
    );
  }
  if (!hasOperation && !hasControl) {
    return bad('"headers" needs "operation" or "control"', "headers");
  }
  return hasOperation ? checkChange(element, headers) : checkControl(headers);
}

function checkChange(
  element: Record<string, unknown>,
  headers: Record<string, unknown>,
): Result<void> {
  const operation = headers.operation;
  if (typeof operation !== "string" || !OPERATIONS.includes(operation)) {
    return bad(
      `"headers.operation" must be one of ${OPERATIONS.join(", ")}`,
      "headers.operation",
    );
  }
  for (const name of ["type", "key"]) {
    const value = element[name];
    if (typeof value !== "string" || value === "") {
      return bad(`"${name}" must be a non-empty string`, name);
    }
  }
  if (operation !== "delete" && element.value === undefined) {
    return bad(`"value" is required for ${operation}`, "value");
  }
  if (headers.txid !== undefined && typeof headers.txid !== "string") {
    return bad('"headers.txid" must be a string', "headers.txid");
  }
  const timestamp = headers.timestamp;
  if (
    timestamp !== undefined &&
    (typeof timestamp !== "string" || !isRfc3339(timestamp))
  ) {
    return bad(
      '"headers.timestamp" must be an RFC 3339 date-time',
      "headers.timestamp",
    );
  }
  return ok(undefined);
}

function checkControl(headers: Record<string, unknown>): Result<void> {
  const control = headers.control;
  if (typeof control !== "string" || !CONTROLS.includes(control)) {
    return bad(
      `"headers.control" must be one of ${CONTROLS.join(", ")}`,
      "headers.control",
    );
  }
  const offset = headers.offset;
  if (
    offset !== undefined && (typeof offset !== "string" || !OFFSET.test(offset))
  ) {
    return bad('"headers.offset" must be a valid offset', "headers.offset");
  }
  return ok(undefined);
}
