/**
 * @module
 * Splits a request's URL into path and query by slicing the string, with the
 * WHATWG URL parser kept off the common path: parsing every request's URL
 * costs CPU, and it throws on a malformed `Host` header (`a b`, `x:99999`,
 * `[::1`), which must be a 400 rather than a 500. The authority is checked
 * once per distinct value; paths the URL parser would rewrite (dot segments,
 * backslashes) still go through it, so routing sees what it always saw.
 */

import { VALID_AUTHORITIES_MAX } from "../limits.ts";

/** The parts of a request URL that routing uses. */
export interface RequestTarget {
  /** The path, still percent-encoded (`/v1/stream/a%20b`). */
  path: string;
  /** The query without its `?`; "" when there is none. */
  query: string;
}

/** Characters an authority (`host[:port]`, RFC 3986 §3.2) may hold. */
const AUTHORITY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=%:[\]]+$/;
/** A segment starting with `.` or `%2e`, or a backslash: URL rewrites those. */
const NEEDS_URL_PARSER = /\\|\/(?:\.|%2e)/i;
/** Authorities seen valid; cleared when full, so it stays small. */
const validAuthorities = new Set<string>();

/**
 * Path and query of `url` (a request's absolute URL), or `undefined` when
 * its authority (from the `Host` header or an absolute-form target) or the
 * `Host` header itself is malformed. The URL is built from `Host`, so a
 * `Host` holding `/`, `?` or `#` would otherwise move the path
 * (`Host: h/v1/stream/x?` reroutes a request to stream `x`).
 */
export function requestTarget(
  url: string,
  host: string | null = null,
): RequestTarget | undefined {
  if (host !== null && !isValidAuthority(host)) return undefined;
  const schemeEnd = url.indexOf("://");
  if (schemeEnd < 0) return undefined;
  const authorityStart = schemeEnd + 3;
  let targetStart = url.indexOf("/", authorityStart);
  if (targetStart < 0) targetStart = url.length;
  if (!isValidAuthority(url.slice(authorityStart, targetStart))) {
    return undefined;
  }
  const target = url.slice(targetStart);
  if (NEEDS_URL_PARSER.test(target)) return parsed(url);
  const hash = target.indexOf("#");
  const bare = hash < 0 ? target : target.slice(0, hash);
  const question = bare.indexOf("?");
  return question < 0
    ? { path: bare, query: "" }
    : { path: bare.slice(0, question), query: bare.slice(question + 1) };
}

function isValidAuthority(authority: string): boolean {
  if (validAuthorities.has(authority)) return true;
  if (!AUTHORITY_CHARS.test(authority)) return false;
  try {
    new URL(`http://${authority}/`);
  } catch {
    return false;
  }
  if (validAuthorities.size >= VALID_AUTHORITIES_MAX) validAuthorities.clear();
  validAuthorities.add(authority);
  return true;
}

function parsed(url: string): RequestTarget | undefined {
  try {
    const u = new URL(url);
    return { path: u.pathname, query: u.search.slice(1) };
  } catch {
    return undefined;
  }
}
