/**
 * @module
 * What browsers may do. A web page can send requests to any address the
 * browser reaches, including 127.0.0.1, so: CORS grants origins only what
 * `--cors-origins` lists (by default, with `--auth none`, pages served from
 * loopback may read, and nothing may write); a state-changing request from
 * a foreign `Origin` is refused outright, since the browser sends it before
 * CORS can stop it; and, with `--auth none`, a `Host` that is a DNS name the
 * server does not know is refused, which defeats DNS rebinding (a hostile
 * name re-pointed at 127.0.0.1 keeps its name in `Host`).
 */

import { fail, ok, type Result } from "../errors.ts";
import { ORIGINS_MAX } from "../limits.ts";

/** Methods that never change anything. */
const SAFE_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS"]);

/** Whether `method` can change state (anything but GET, HEAD, OPTIONS). */
export function isStateChanging(method: string): boolean {
  return !SAFE_METHODS.has(method);
}

/** The policy's settings, from `--cors-origins` and `--allowed-hosts`. */
export interface BrowserOptions {
  /** `--auth none`: the Host guard is on and the default lets loopback read. */
  open: boolean;
  /** Comma-separated origins, `*`, or "" for the default. */
  corsOrigins: string;
  /** Comma-separated host names, `*.suffix`, `*`, or "". */
  allowedHosts: string;
}

/** CORS grants and the Origin and Host guards. */
export class BrowserPolicy {
  #open: boolean;
  #anyOrigin: boolean;
  #origins: ReadonlySet<string> | undefined;
  #anyHost: boolean;
  #hosts: ReadonlySet<string>;
  #hostSuffixes: readonly string[];

  private constructor(
    options: BrowserOptions,
    origins: string[] | undefined,
    hosts: string[],
  ) {
    this.#open = options.open;
    this.#anyOrigin = origins?.includes("*") ?? false;
    this.#origins = origins === undefined ? undefined : new Set(origins);
    this.#anyHost = hosts.includes("*");
    this.#hosts = new Set(hosts.filter((h) => !h.startsWith("*")));
    this.#hostSuffixes = hosts.filter((h) => h.startsWith("*.")).map((h) =>
      h.slice(1)
    );
  }

  /** Parses the flags; a malformed origin or host name is an error. */
  static parse(options: BrowserOptions): Result<BrowserPolicy> {
    const origins = options.corsOrigins === ""
      ? undefined
      : splitList(options.corsOrigins);
    for (const origin of origins ?? []) {
      if (origin !== "*" && normalOrigin(origin) !== origin) {
        return fail(
          "bad_request",
          `--cors-origins: "${origin}" is not an origin like https://app.example.com (scheme, host, optional port, nothing else)`,
        );
      }
    }
    const hosts = splitList(options.allowedHosts).map((h) => h.toLowerCase());
    for (const host of hosts) {
      if (!/^(\*|(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*)$/.test(host)) {
        return fail(
          "bad_request",
          `--allowed-hosts: "${host}" is not a host name, *.suffix or *`,
        );
      }
    }
    if ((origins?.length ?? 0) > ORIGINS_MAX || hosts.length > ORIGINS_MAX) {
      return fail("bad_request", `list more than ${ORIGINS_MAX} entries`);
    }
    return ok(new BrowserPolicy(options, origins, hosts));
  }

  /**
   * Whether a page from `origin` may make a `method` request (CORS). A list
   * grants its origins everything; the default grants loopback pages reads
   * under `--auth none`, and nothing under `--auth api-key`.
   */
  allowsOrigin(origin: string, method: string): boolean {
    if (this.#origins !== undefined) {
      return this.#anyOrigin || this.#origins.has(origin);
    }
    if (!this.#open || isStateChanging(method)) return false;
    const host = originHost(origin);
    return host !== undefined && isLoopbackName(host);
  }

  /**
   * Whether a request with `Origin: origin` and `Host: host` may change
   * state: same-origin requests may, and origins granted the method.
   */
  allowsWriteFrom(
    origin: string,
    host: string | null,
    method: string,
  ): boolean {
    if (host !== null && originAuthority(origin) === host.toLowerCase()) {
      return true;
    }
    return this.allowsOrigin(origin, method);
  }

  /**
   * Under `--auth none`, whether `host` (a `Host` header) names this server:
   * an IP address, a loopback name, or an `--allowed-hosts` entry. Under
   * `--auth api-key` every host passes (credentials cannot be rebound).
   */
  allowsHost(host: string | null): boolean {
    if (!this.#open || this.#anyHost) return true;
    if (host === null) return true; // HTTP/1.0 without Host: not a browser
    const name = hostName(host);
    if (isIpAddress(name) || isLoopbackName(name)) return true;
    if (this.#hosts.has(name)) return true;
    return this.#hostSuffixes.some((suffix) => name.endsWith(suffix));
  }
}

/** Whether `host` (a `--host` value) binds only the loopback interface. */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[|\]$/g, "");
  return name === "localhost" || name === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** `localhost`, `*.localhost`, 127.0.0.0/8 or ::1 (RFC 6761 §6.3). */
function isLoopbackName(name: string): boolean {
  return isLoopbackHost(name) || name.endsWith(".localhost");
}

function isIpAddress(name: string): boolean {
  return /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) ||
    (name.startsWith("[") && name.endsWith("]"));
}

/** The host name of a `Host` value: lower-case, no port, no trailing dot. */
function hostName(host: string): string {
  const lower = host.toLowerCase();
  const end = lower.startsWith("[")
    ? lower.indexOf("]") + 1
    : lower.lastIndexOf(":");
  const name = end > 0 ? lower.slice(0, end) : lower;
  return name.endsWith(".") ? name.slice(0, -1) : name;
}

/** `scheme://host[:port]` of `origin`, as URL spells it, or undefined. */
function normalOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    if (url.protocol !== "http:" && url.protocol !== "https:") return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

function originAuthority(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined; // "null" (sandboxed pages, file:) and garbage
  }
}

function originHost(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === "http:" || url.protocol === "https:"
      ? hostName(url.host)
      : undefined;
  } catch {
    return undefined;
  }
}

function splitList(text: string): string[] {
  return text.split(",").map((s) => s.trim()).filter((s) => s !== "");
}
