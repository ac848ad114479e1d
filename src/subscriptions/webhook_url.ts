/**
 * @module
 * Webhook URL validation against SSRF (PROTOCOL.md §6.2, §12.8). Production
 * webhooks must be `https://` to a public host. Loopback, RFC 1918, CGNAT,
 * link-local (cloud metadata at 169.254.169.254 included), unique-local,
 * multicast and reserved addresses are refused, as IPv4 literals, IPv6
 * literals, and IPv4 embedded in IPv6 (mapped, compatible, NAT64). The only
 * exception is explicit development mode (`--webhook-allow-localhost`), which
 * admits `http(s)://localhost`, `127.0.0.0/8` and `[::1]`.
 *
 * Hostnames are checked by name only; a public name that resolves to a
 * private address (DNS rebinding) is not caught here.
 */

import { fail, ok, type Result } from "../errors.ts";

/** Hostnames refused outright (metadata services and local names). */
const BLOCKED_NAMES = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "instance-data",
  "instance-data.ec2.internal",
]);

/** Validates `raw`; returns the normalised URL string or a 400. */
export function validateWebhookUrl(
  raw: string,
  allowLocalhost: boolean,
): Result<string> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return reject(`webhook.url "${raw}" is not a valid URL`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    return reject("webhook.url must use https");
  }
  if (url.username !== "" || url.password !== "") {
    return reject("webhook.url must not carry credentials");
  }
  // WHATWG parsing already turned 0x7f.1, 2130706433 and friends into
  // dotted quads, and IPv6 into its compressed bracketed form.
  const host = url.hostname.toLowerCase();
  const local = isLocalDevHost(host);
  if (local) {
    return allowLocalhost
      ? ok(url.href)
      : reject("localhost webhooks need --webhook-allow-localhost");
  }
  if (url.protocol !== "https:") {
    return reject(
      "webhook.url must use https (http only for localhost in development)",
    );
  }
  if (isBlockedHost(host)) {
    return reject(
      `webhook.url host ${host} is a private, loopback, link-local or reserved address`,
    );
  }
  return ok(url.href);
}

function reject(message: string): Result<string> {
  return fail("webhook_url_rejected", message);
}

/** `localhost`, `*.localhost`, 127.0.0.0/8 and ::1. */
export function isLocalDevHost(host: string): boolean {
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const v4 = parseIpv4(host);
  if (v4 !== undefined) return v4[0] === 127;
  const v6 = parseIpv6(unbracket(host));
  return v6 !== undefined && v6.slice(0, 7).every((w) => w === 0) &&
    v6[7] === 1;
}

/** Whether `host` (a URL hostname) must never receive webhooks. */
export function isBlockedHost(host: string): boolean {
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (BLOCKED_NAMES.has(name) || name.endsWith(".internal")) return true;
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  const v4 = parseIpv4(name);
  if (v4 !== undefined) return isBlockedIpv4(v4);
  const v6 = parseIpv6(unbracket(name));
  if (v6 !== undefined) return isBlockedIpv6(v6);
  return false;
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

function parseIpv4(host: string): number[] | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (match === null) return undefined;
  const parts = match.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

function isBlockedIpv4([a, b]: number[]): boolean {
  return a === 0 || // "this network"
    a === 10 || // RFC 1918
    a === 127 || // loopback
    (a === 100 && b >= 64 && b <= 127) || // CGNAT (RFC 6598)
    (a === 169 && b === 254) || // link-local, cloud metadata
    (a === 172 && b >= 16 && b <= 31) || // RFC 1918
    (a === 192 && b === 168) || // RFC 1918
    (a === 192 && b === 0) || // IETF protocol assignments, 192.0.0.0/24 and docs
    (a === 198 && (b === 18 || b === 19)) || // benchmarking
    a >= 224; // multicast, reserved, broadcast
}

/** Parses an IPv6 literal (no brackets, no zone) into eight 16-bit words. */
function parseIpv6(text: string): number[] | undefined {
  if (!text.includes(":") || text.includes("%")) return undefined;
  let tail: number[] = [];
  let body = text;
  const lastColon = text.lastIndexOf(":");
  const maybeV4 = parseIpv4(text.slice(lastColon + 1));
  if (maybeV4 !== undefined) {
    tail = [(maybeV4[0] << 8) | maybeV4[1], (maybeV4[2] << 8) | maybeV4[3]];
    body = text.slice(0, lastColon + 1) + "0"; // placeholder word, dropped below
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const words = (s: string) => s === "" ? [] : s.split(":");
  const head = words(halves[0]);
  const rest = halves.length === 2 ? words(halves[1]) : [];
  const parse = (w: string) =>
    /^[0-9a-f]{1,4}$/i.test(w) ? parseInt(w, 16) : NaN;
  let left = head.map(parse);
  let right = rest.map(parse);
  if (tail.length > 0) {
    if (right.length > 0) right = right.slice(0, -1);
    else left = left.slice(0, -1);
  }
  const known = left.length + right.length + tail.length;
  if ([...left, ...right].some(Number.isNaN)) return undefined;
  if (halves.length === 1 && known !== 8) return undefined;
  if (halves.length === 2 && known > 7) return undefined;
  const zeros = Array(8 - known).fill(0);
  return [...left, ...zeros, ...right, ...tail];
}

function isBlockedIpv6(w: number[]): boolean {
  const firstSixZero = w.slice(0, 6).every((x) => x === 0);
  if (firstSixZero && w[6] === 0 && (w[7] === 0 || w[7] === 1)) return true; // ::, ::1
  const embedded = [w[6] >> 8, w[6] & 0xff, w[7] >> 8, w[7] & 0xff];
  if (firstSixZero) return isBlockedIpv4(embedded); // IPv4-compatible
  if (w.slice(0, 5).every((x) => x === 0) && w[5] === 0xffff) {
    return isBlockedIpv4(embedded); // IPv4-mapped ::ffff:a.b.c.d
  }
  if (w[0] === 0x64 && w[1] === 0xff9b) return isBlockedIpv4(embedded); // NAT64
  if ((w[0] & 0xfe00) === 0xfc00) return true; // unique local fc00::/7
  if ((w[0] & 0xffc0) === 0xfe80) return true; // link-local fe80::/10
  if ((w[0] & 0xffc0) === 0xfec0) return true; // site-local fec0::/10
  if ((w[0] & 0xff00) === 0xff00) return true; // multicast
  if (w[0] === 0x2001 && w[1] === 0x0db8) return true; // documentation
  if (w[0] === 0x2002) {
    return isBlockedIpv4([w[1] >> 8, w[1] & 0xff, w[2] >> 8, w[2] & 0xff]); // 6to4
  }
  return false;
}
