/**
 * @module
 * Who a request acts as, and what that may do: a key's scopes over its
 * stream globs. `OPEN` is every request under `--auth none`; `NOBODY` a
 * request that passed no key (public routes, or before the gate ran), which
 * may do nothing. The 403 messages name the key and the need, never another
 * key or the secret.
 */

import { globCovers, globMatch, type GlobPattern } from "../glob.ts";
import { StreamError } from "../errors.ts";
import { type ApiKey, type Scope, SCOPES } from "./keys.ts";

/**
 * What a caller may do, as `GET /v1/server/_access` answers it: `auth:
 * false` when every request may do anything, else the key's id, its scopes
 * (`admin` implies the others) and the stream globs they apply to. Never
 * the secret or its digest.
 */
export type AccessDescription =
  | { auth: false }
  | { auth: true; key: string | null; scopes: Scope[]; streams: string[] };

/** What a request acts as. */
export class Principal {
  /** The key id, for access logs and messages; null without a key. */
  readonly keyId: string | null;
  #scopes: ReadonlySet<Scope> | "all";
  #streams: readonly GlobPattern[];

  private constructor(
    keyId: string | null,
    scopes: ReadonlySet<Scope> | "all",
    streams: readonly GlobPattern[],
  ) {
    this.keyId = keyId;
    this.#scopes = scopes;
    this.#streams = streams;
  }

  /** Every request under `--auth none`: anything goes. */
  static readonly OPEN: Principal = new Principal(null, "all", []);
  /** No key: may do nothing that needs one. */
  static readonly NOBODY: Principal = new Principal(null, new Set(), []);

  /** The principal of an authenticated `key`. */
  static of(key: ApiKey): Principal {
    return new Principal(key.id, key.scopes, key.streams);
  }

  /** What this principal may do, for the caller itself to read. */
  describe(): AccessDescription {
    const scopes = this.#scopes;
    if (scopes === "all") return { auth: false };
    return {
      auth: true,
      key: this.keyId,
      scopes: SCOPES.filter((s) => scopes.has(s)),
      streams: this.#streams.map((g) => g.source),
    };
  }

  /** Whether the scope is granted at all (`admin` implies every scope). */
  hasScope(scope: Scope): boolean {
    const scopes = this.#scopes;
    return scopes === "all" || scopes.has(scope) || scopes.has("admin");
  }

  /** Whether `scope` is granted on stream `name`. */
  allows(scope: Scope, name: string): boolean {
    if (this.#scopes === "all") return true;
    return this.hasScope(scope) &&
      this.#streams.some((g) => globMatch(g, name));
  }

  /** Whether `scope` is granted on every stream `pattern` matches. */
  allowsPattern(scope: Scope, pattern: GlobPattern): boolean {
    if (this.#scopes === "all") return true;
    return this.hasScope(scope) &&
      this.#streams.some((g) => globCovers(g, pattern));
  }

  /**
   * `undefined` when `scope` is granted (on `stream`, when given; else on
   * some stream), or the 403 naming the key and what it lacks.
   */
  authorize(scope: Scope, stream?: string): StreamError | undefined {
    const granted = stream === undefined
      ? this.hasScope(scope)
      : this.allows(scope, stream);
    return granted ? undefined : this.refusal(scope, stream);
  }

  /** The 403 for lacking `scope` (on `what`, a stream or a described set). */
  refusal(scope: Scope, what?: string): StreamError {
    const who = this.keyId === null ? "this request" : `key '${this.keyId}'`;
    const where = what === undefined ? "" : ` for ${what}`;
    return new StreamError("forbidden", `${who} lacks scope ${scope}${where}`);
  }
}
