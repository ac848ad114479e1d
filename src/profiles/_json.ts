/**
 * @module
 * Small JSON helpers the profiles share: dotted-path lookup, trimmed
 * strings, RFC 3339 timestamps, W3C `traceparent` parsing, and redaction of
 * secret-named keys at any depth.
 */

import { PROFILE_JSON_DEPTH_MAX } from "../limits.ts";
import { isObject, type Json, setField } from "./profile.ts";

/** The value at a dotted `path` ("context.requestId") in `root`. */
export function atPath(root: unknown, path: string): unknown {
  let value = root;
  for (const part of path.split(".")) {
    if (!isObject(value) || !Object.hasOwn(value, part)) return undefined;
    value = value[part];
  }
  return value;
}

/** `value` when it is a non-empty string, else null (no trimming). */
export function nonEmptyString(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/** A trimmed non-empty string, or null (numbers and booleans are spelled). */
export function cleanString(value: unknown): string | null {
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  if (typeof value === "boolean") return String(value);
  if (typeof value !== "string") return null;
  const trimmed = value.trim();
  return trimmed === "" ? null : trimmed;
}

const RFC3339 =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Whether `text` is an RFC 3339 date-time with a real calendar date. */
export function isRfc3339(text: string): boolean {
  const m = RFC3339.exec(text);
  if (m === null) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [hour, minute, second] = [Number(m[4]), Number(m[5]), Number(m[6])];
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 60) {
    return false;
  }
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return day >= 1 && day <= daysInMonth;
}

/** Trace and span ids of a W3C `traceparent` header. */
export interface TraceParent {
  /** 32 lower-case hex digits, not all zero. */
  traceId: string;
  /** 16 lower-case hex digits, not all zero. */
  spanId: string;
}

const HEX = /^[0-9a-f]+$/;

/**
 * Parses a W3C `traceparent` (`version-traceid-parentid-flags`); null when
 * malformed, version `ff`, or an id is all zero.
 */
export function parseTraceparent(value: unknown): TraceParent | null {
  if (typeof value !== "string") return null;
  const parts = value.trim().toLowerCase().split("-");
  if (parts.length < 4) return null;
  const [version, traceId, spanId, flags] = parts;
  if (version.length !== 2 || !HEX.test(version) || version === "ff") {
    return null;
  }
  if (version === "00" && parts.length !== 4) return null;
  if (flags.length !== 2 || !HEX.test(flags)) return null;
  if (!isHexId(traceId, 32) || !isHexId(spanId, 16)) return null;
  return { traceId, spanId };
}

/** Whether `id` is `length` lower-case hex digits and not all zero. */
export function isHexId(id: string, length: number): boolean {
  return id.length === length && HEX.test(id) && !/^0+$/.test(id);
}

/** Decides whether a key names a secret. */
export type SecretMatcher = (key: string) => boolean;

/** What redaction produced: the new value and the paths it redacted. */
export interface Redacted {
  /** The value with secrets replaced. */
  value: Json;
  /** Dotted paths of the replaced values, in document order. */
  paths: string[];
}

/** The value secrets are replaced with. */
export const REDACTED = "[REDACTED]";

/**
 * Replaces the value of every key `isSecret` matches, at any depth and inside
 * arrays, and lists the dotted paths replaced (array items by index). Null
 * when the value nests deeper than `PROFILE_JSON_DEPTH_MAX`; `depth` is how
 * deep `value` already sits.
 */
export function redact(
  value: unknown,
  isSecret: SecretMatcher,
  path: string,
  depth = 0,
): Redacted | null {
  const paths: string[] = [];
  const out = redactAt(value, isSecret, path, paths, depth);
  return out === TOO_DEEP ? null : { value: out, paths };
}

const TOO_DEEP = Symbol("too deep");

function redactAt(
  value: unknown,
  isSecret: SecretMatcher,
  path: string,
  paths: string[],
  depth: number,
): Json | typeof TOO_DEEP {
  if (typeof value !== "object" || value === null) return value as Json;
  if (depth >= PROFILE_JSON_DEPTH_MAX) return TOO_DEEP;
  if (Array.isArray(value)) {
    const items: Json[] = [];
    for (let i = 0; i < value.length; i++) {
      const item = redactAt(
        value[i],
        isSecret,
        `${path}.${i}`,
        paths,
        depth + 1,
      );
      if (item === TOO_DEEP) return TOO_DEEP;
      items.push(item);
    }
    return items;
  }
  const out: { [key: string]: Json } = {};
  for (const [key, item] of Object.entries(value)) {
    const itemPath = path === "" ? key : `${path}.${key}`;
    if (isSecret(key)) {
      setField(out, key, REDACTED);
      paths.push(itemPath);
      continue;
    }
    const inner = redactAt(item, isSecret, itemPath, paths, depth + 1);
    if (inner === TOO_DEEP) return TOO_DEEP;
    setField(out, key, inner);
  }
  return out;
}
