/**
 * @module
 * The checks every request passes before a handler runs, in order: the
 * Host guard (`--auth none`), the Origin guard for state-changing requests,
 * the credential (`Authorization: Bearer <secret>`, 401 that says nothing
 * about what was wrong), the key's rate (429), and the route's scope on the
 * route's stream (403 naming the key and the need). Routes say what they
 * need as a `RouteAccess`; the result is the request's `Principal`.
 */

import { StreamError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { type BrowserPolicy, isStateChanging } from "./browser.ts";
import type { ApiKey, Scope } from "./keys.ts";
import type { KeyStore } from "./key_store.ts";
import { Principal } from "./principal.ts";
import { RateLimiter } from "./rate_limit.ts";

/**
 * What a route needs: a scope (on the route's stream when it has one, else
 * on some stream); `key`: any valid key; `public`: nothing; `token`: the
 * route checks its own bearer token (subscription callbacks and acks).
 */
export type RouteAccess = Scope | "key" | "public" | "token";

/** Why requests were refused, counted (for metrics). */
export interface GateCounts {
  /** No credential. */
  missing: number;
  /** A malformed or unknown credential. */
  invalid: number;
  /** A valid key without the scope or stream. */
  forbidden: number;
  /** A key over its rate. */
  rateLimited: number;
  /** A Host or Origin the browser guard refused. */
  browser: number;
}

/** The gate's settings. */
export interface GateOptions {
  /** `none` or `api-key`. */
  mode: "none" | "api-key";
  /** The keys (`api-key` mode). */
  keys?: KeyStore;
  /** CORS and the Host and Origin guards. */
  browser: BrowserPolicy;
  /** Operation names that need no key whatever the table says (`--public-health`). */
  publicOperations?: ReadonlySet<string>;
  /** The rate limiter's clock (tests). */
  now?: () => number;
  /** Logger. */
  log: Logger;
}

/** Who a request acts as, and why it is refused, if it is. */
export interface Admission {
  /** The key's principal (`NOBODY` without a valid key, `OPEN` under `--auth none`). */
  principal: Principal;
  /** The refusal (401, 403, 421, 429), if any. */
  error?: StreamError;
}

const NOBODY = Principal.NOBODY;

/** The 401 body says only this, whatever was wrong. */
const UNAUTHORIZED = "unauthorized";

/** Runs the checks; one per server. */
export class AccessGate {
  #open: boolean;
  #keys: KeyStore | undefined;
  #browser: BrowserPolicy;
  #public: ReadonlySet<string>;
  #limiter: RateLimiter;
  /** Refusals so far, by reason. */
  readonly counts: GateCounts = {
    missing: 0,
    invalid: 0,
    forbidden: 0,
    rateLimited: 0,
    browser: 0,
  };

  /** A gate; `api-key` mode needs `keys`. */
  constructor(options: GateOptions) {
    this.#open = options.mode === "none";
    if (!this.#open && options.keys === undefined) {
      throw new Error("api-key mode needs a key store");
    }
    this.#keys = options.keys;
    this.#browser = options.browser;
    this.#public = options.publicOperations ?? new Set();
    this.#limiter = new RateLimiter(options.now);
    this.#keys?.onReload((ids) => this.#limiter.retain(ids));
  }

  /** Whether requests need keys (`--auth api-key`). */
  get keysRequired(): boolean {
    return !this.#open;
  }

  /** CORS grants and guards, for response headers and preflights. */
  get browser(): BrowserPolicy {
    return this.#browser;
  }

  /**
   * The principal `request` acts as, and `error` when it is refused (a
   * refused key still names its principal, for the access log).
   * `operation` is the route's operation name (undefined for requests no
   * route serves, which need a key like any other); `stream` the stream it
   * acts on.
   */
  check(
    request: Request,
    access: RouteAccess,
    operation?: string,
    stream?: string,
  ): Admission {
    const refused = this.#browserCheck(request);
    if (refused !== undefined) return { principal: NOBODY, error: refused };
    if (this.#open) return { principal: Principal.OPEN };
    if (
      access === "public" || access === "token" ||
      (operation !== undefined && this.#public.has(operation))
    ) {
      return { principal: this.#optionalKey(request) };
    }
    const key = this.#authenticate(request);
    if (key instanceof StreamError) return { principal: NOBODY, error: key };
    const principal = Principal.of(key);
    const retryAfterSeconds = this.#limiter.take(key);
    if (retryAfterSeconds > 0) {
      this.counts.rateLimited++;
      const error = new StreamError(
        "rate_limited",
        `key '${key.id}' is over its rate limit`,
        { retryAfterSeconds },
      );
      return { principal, error };
    }
    if (access === "key") return { principal };
    const error = principal.authorize(access, stream);
    if (error !== undefined) this.counts.forbidden++;
    return { principal, error };
  }

  /**
   * Whether `operation` is open to requests without a key: `--auth none`,
   * or named in `publicOperations` (`--public-metrics`, `--public-health`).
   */
  opens(operation: string): boolean {
    return this.#open || this.#public.has(operation);
  }

  /** Counts a 403 a handler decided (subscription streams, for example). */
  countForbidden(): void {
    this.counts.forbidden++;
  }

  #browserCheck(request: Request): StreamError | undefined {
    const host = request.headers.get("host");
    if (!this.#browser.allowsHost(host)) {
      this.counts.browser++;
      return new StreamError(
        "host_not_allowed",
        `Host "${host}" is not a name of this server: add it to --allowed-hosts`,
      );
    }
    const origin = request.headers.get("origin");
    if (
      origin !== null && isStateChanging(request.method) &&
      !this.#browser.allowsWriteFrom(origin, host, request.method)
    ) {
      this.counts.browser++;
      return new StreamError(
        "forbidden",
        `Requests from origin ${origin} may not change anything here (--cors-origins)`,
      );
    }
    return undefined;
  }

  /** A public route: the key's principal when a valid one came, else NOBODY. */
  #optionalKey(request: Request): Principal {
    const secret = bearer(request.headers.get("authorization"));
    const key = secret === undefined
      ? undefined
      : this.#keys!.authenticate(secret);
    return key === undefined ? Principal.NOBODY : Principal.of(key);
  }

  #authenticate(request: Request): ApiKey | StreamError {
    const header = request.headers.get("authorization");
    if (header === null) {
      this.counts.missing++;
      return unauthorized();
    }
    const secret = bearer(header);
    const key = secret === undefined
      ? undefined
      : this.#keys!.authenticate(secret);
    if (key === undefined) {
      this.counts.invalid++;
      return unauthorized();
    }
    return key;
  }
}

/**
 * The secret of `Bearer <secret>`: scheme case-insensitive, exactly one
 * space (RFC 6750 §2.1); undefined for anything else.
 */
export function bearer(header: string | null): string | undefined {
  if (header === null || header.length < 8) return undefined;
  if (header.slice(0, 7).toLowerCase() !== "bearer ") return undefined;
  const secret = header.slice(7);
  return secret.length > 0 && secret[0] !== " " ? secret : undefined;
}

function unauthorized(): StreamError {
  return new StreamError("unauthorized", UNAUTHORIZED);
}
