/**
 * @module
 * Stream names and their subresources, parsed from the raw request path.
 * The path after `/v1/stream/` is split on `/` before anything is decoded,
 * a trailing subresource is recognised from the end (`_details`, `pk/{key}`,
 * `touch/meta`, ...), and only then are the name and the key decoded, each
 * on its own, so a key holding `%2F` stays one key. The same recognition
 * decides which names are reserved: a name that would parse as a
 * subresource of a shorter name cannot be created.
 */

import { StreamError } from "../errors.ts";

/** URL prefix of stream paths. */
export const STREAM_PREFIX = "/v1/stream/";

/** A stream path taken apart. */
export interface StreamTarget {
  /** The stream name, decoded; "" when a subresource has no name before it. */
  name: string;
  /**
   * The subresource, decoded: `_details` (any `_`-prefixed last segment),
   * `pk`, `touch/meta`, `touch/wait`, `touch/templates/activate` or
   * `_otlp/v1/traces`; `undefined` for the stream itself.
   */
  sub: string | undefined;
  /** The routing key of `pk/{key}`, decoded; "" otherwise. */
  key: string;
}

/**
 * Subresources of more than one segment, by last segment; matched after the
 * one-segment forms (`_x` last, then `pk/{key}`).
 */
const SUFFIXES: ReadonlyMap<string, readonly string[]> = new Map([
  ["meta", ["touch", "meta"]],
  ["wait", ["touch", "wait"]],
  ["activate", ["touch", "templates", "activate"]],
  ["traces", ["_otlp", "v1", "traces"]],
]);

/**
 * How many trailing segments of `segments` form a subresource, and which:
 * `[0, undefined]` for none. A last segment starting with `_` wins over
 * `pk/{key}`, so every name's own subresources stay reachable (a key that
 * starts with `_` can still be asked for with `?key=`).
 */
function subresourceOf(
  segments: readonly string[],
): [length: number, sub: string | undefined] {
  const n = segments.length;
  const last = segments[n - 1];
  if (last.charCodeAt(0) === 0x5f /* _ */) return [1, last];
  if (n >= 2 && segments[n - 2] === "pk") return [2, "pk"];
  const suffix = SUFFIXES.get(last);
  if (suffix === undefined || n < suffix.length) return [0, undefined];
  for (let i = 0; i < suffix.length - 1; i++) {
    if (segments[n - suffix.length + i] !== suffix[i]) return [0, undefined];
  }
  return [suffix.length, suffix.join("/")];
}

/**
 * Takes apart `raw`, the still-encoded path after `/v1/stream/`, and checks
 * the name (`streamNameProblem`). A bad escape is a 400.
 */
export function parseStreamPath(
  raw: string,
  nameBytesMax: number,
): StreamTarget | StreamError {
  let segments = raw.split("/");
  const encoded = raw.includes("%");
  if (encoded) {
    try {
      segments = segments.map(decodeURIComponent);
    } catch {
      return new StreamError(
        "bad_request",
        "Stream name is not valid percent-encoding",
      );
    }
  }
  const [length, sub] = subresourceOf(segments);
  const key = sub === "pk" ? segments[segments.length - 1] : "";
  const name = length === 0
    ? (encoded ? segments.join("/") : raw)
    : segments.slice(0, segments.length - length).join("/");
  if (sub !== undefined && name.length === 0) return { name, sub, key };
  const problem = streamNameProblem(name, nameBytesMax);
  return problem ?? { name, sub, key };
}

/**
 * Why `name` (decoded) cannot name a stream, or `undefined`: empty, longer
 * than `bytesMax` in UTF-8, control characters, `.` or `..` segments (400),
 * or under the `__ds` prefix the subscription APIs own (404).
 */
export function streamNameProblem(
  name: string,
  bytesMax: number,
): StreamError | undefined {
  if (name.length === 0) {
    return new StreamError("bad_request", "Stream name must not be empty");
  }
  if (name.length * 3 > bytesMax && utf8Length(name) > bytesMax) {
    return new StreamError(
      "bad_request",
      `Stream name is longer than ${bytesMax} bytes`,
    );
  }
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    return new StreamError(
      "bad_request",
      "Stream name must not contain control characters",
    );
  }
  if (name.includes(".")) {
    const segments = name.split("/");
    if (segments.some((s) => s === "." || s === "..")) {
      return new StreamError(
        "bad_request",
        "Stream name must not contain . or .. segments",
      );
    }
  }
  if (name === "__ds" || name.startsWith("__ds/")) {
    return new StreamError(
      "not_found",
      "The __ds prefix is reserved for subscription APIs",
    );
  }
  return undefined;
}

/**
 * Why `name` is reserved, or `undefined`: its last segment starts with `_`,
 * its next-to-last segment is `pk`, or it ends in `touch/meta`, `touch/wait`,
 * `touch/templates/activate` or `_otlp/v1/traces`. Such a name would be read
 * as a subresource of a shorter one, so creating it is a 400.
 */
export function reservedNameProblem(name: string): StreamError | undefined {
  const [, sub] = subresourceOf(name.split("/"));
  return sub === undefined ? undefined : reservedNameError(sub);
}

/** The 400 for creating (or writing to) a name that ends in subresource `sub`. */
export function reservedNameError(sub: string): StreamError {
  const form = sub === "pk" ? "pk/{key}" : sub;
  return new StreamError(
    "bad_request",
    `Stream names ending in "/${form}" are reserved for subresources`,
  );
}

/** The path of stream `name`, each segment percent-encoded. */
export function streamUrlPath(name: string): string {
  return STREAM_PREFIX + name.split("/").map(encodeURIComponent).join("/");
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (isSurrogatePair(text, i)) {
      bytes += 4; // one code point above U+FFFF
      i++;
    } else bytes += 3; // a lone surrogate is encoded as U+FFFD
  }
  return bytes;
}

function isSurrogatePair(text: string, i: number): boolean {
  const high = text.charCodeAt(i);
  const low = text.charCodeAt(i + 1);
  return high >= 0xd800 && high <= 0xdbff && low >= 0xdc00 && low <= 0xdfff;
}
