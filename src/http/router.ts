/**
 * @module
 * Routes as data. A route is a path shape with a method map, and each
 * method's operation has a name (`stream_append`, `details_get`) that
 * middleware sees, for metrics labels and access logs. `Allow` (405) and the
 * CORS preflight's allowed methods come from the same map. Matching is a
 * prefix check and a split: no regular expression runs for the common
 * `/v1/stream/{name}`.
 */

import type { RouteAccess } from "../auth/gate.ts";
import { Principal } from "../auth/principal.ts";
import { StreamError } from "../errors.ts";
import type { HttpContext } from "./context.ts";
import type { ErrorDialect } from "./respond.ts";
import {
  parseStreamPath,
  reservedNameError,
  STREAM_PREFIX,
} from "./stream_path.ts";
import { DS_PREFIX, parseSubscriptionPath } from "./subscription_path.ts";

/** The methods a route may map (OPTIONS is the preflight, answered for all). */
export type Method = "GET" | "HEAD" | "POST" | "PUT" | "DELETE";

/** What one method of one route does. */
export interface Operation {
  /** Stable name (`stream_append`): a metrics label, an access-log field. */
  readonly name: string;
  /**
   * What a caller needs (`read`, `write`, `delete`, `admin` on the route's
   * stream; `key`, `public`, `token`): the gate checks it before `handle`.
   */
  readonly access: RouteAccess;
  /** Parses, calls one domain function, responds. */
  readonly handle: (
    ctx: HttpContext,
    req: RouteRequest,
  ) => Response | Promise<Response>;
}

/**
 * One path shape and its methods:
 * - `stream`: `/v1/stream/{name}`;
 * - `stream_sub`: `/v1/stream/{name}/{sub}` (`_details`, `pk/{key}`, ...);
 * - `subscription`: `/v1/stream/__ds/subscriptions/{id}/{sub}`;
 * - `path`: one exact path (`/health`);
 * - `prefix`: every path under `path`, which ends in `/` (the console's
 *   `/console/stream/{name}` pages and hashed assets); exact paths win.
 */
export interface Route {
  /** The path shape. */
  readonly shape: "stream" | "stream_sub" | "subscription" | "path" | "prefix";
  /**
   * `stream_sub`: the subresource as `parseStreamPath` names it;
   * `subscription`: what follows the id ("", `streams`, `streams/*`, ...).
   */
  readonly sub?: string;
  /** `path`: the exact path; `prefix`: the prefix, ending in `/`. */
  readonly path?: string;
  /** How this route's errors are spelled (default `streams`). */
  readonly dialect?: ErrorDialect;
  /** The methods, in the order `Allow` lists them. */
  readonly methods: Readonly<Partial<Record<Method, Operation>>>;
}

/** A request and what its path matched. */
export interface RouteRequest {
  /** The request. */
  readonly request: Request;
  /** The route matched. */
  readonly route: Route;
  /** The query string without `?` ("" when none). */
  readonly query: string;
  /** Stream name, decoded (stream shapes, `subscription` `streams/*`). */
  readonly name: string;
  /** Routing key of `pk/{key}`, decoded; "" otherwise. */
  readonly key: string;
  /** Subscription id (`subscription` shapes); "" otherwise. */
  readonly id: string;
  /**
   * Who the request acts as, set by the gate before the operation runs
   * (`principal.keyId` is the access log's key id); `NOBODY` until then.
   */
  principal: Principal;
}

const READS: ReadonlySet<string> = new Set(["GET", "HEAD"]);

/** Finds routes for paths, and answers what a route does not take. */
export class Router {
  #streamNameBytesMax: number;
  #stream: Route | undefined;
  #streamSubs = new Map<string, Route>();
  #subscriptions = new Map<string, Route>();
  #paths = new Map<string, Route>();
  #prefixes: Route[] = [];
  #allow = new Map<Route, string>();

  /** Compiles `routes`; a shape listed twice is a bug and throws. */
  constructor(routes: readonly Route[], streamNameBytesMax: number) {
    this.#streamNameBytesMax = streamNameBytesMax;
    for (const route of routes) this.#add(route);
  }

  #add(route: Route): void {
    if (route.shape === "prefix") {
      const prefix = route.path;
      if (
        prefix === undefined || !prefix.endsWith("/") ||
        this.#prefixes.some((r) => r.path === prefix)
      ) {
        throw new Error(`route prefix "${prefix}" is malformed or twice`);
      }
      this.#prefixes.push(route);
      this.#allow.set(
        route,
        [...Object.keys(route.methods), "OPTIONS"].join(", "),
      );
      return;
    }
    const table = route.shape === "stream_sub"
      ? this.#streamSubs
      : route.shape === "subscription"
      ? this.#subscriptions
      : route.shape === "path"
      ? this.#paths
      : undefined;
    const key = route.shape === "path" ? route.path : route.sub;
    if (table === undefined) {
      if (this.#stream !== undefined) throw new Error("two stream routes");
      this.#stream = route;
    } else {
      if (key === undefined || table.has(key)) {
        throw new Error(
          `route ${route.shape} "${key}" is missing or listed twice`,
        );
      }
      table.set(key, route);
    }
    this.#allow.set(
      route,
      [...Object.keys(route.methods), "OPTIONS"].join(", "),
    );
  }

  /** Every route, in the order given. */
  get routes(): Route[] {
    return [...this.#allow.keys()];
  }

  /** The `Allow` value of `route`: its methods and OPTIONS. */
  allow(route: Route): string {
    return this.#allow.get(route)!;
  }

  /**
   * The route for `path` (still percent-encoded) with its parameters, or
   * the error to answer: 404, a 400 for a malformed name, or, for a
   * subresource no route serves, a 400 for writes (the name is reserved).
   */
  match(
    request: Request,
    path: string,
    query: string,
  ): RouteRequest | StreamError {
    if (path.startsWith(STREAM_PREFIX)) {
      if (path.startsWith(DS_PREFIX)) {
        return this.#matchDs(request, path, query);
      }
      const target = parseStreamPath(
        path.slice(STREAM_PREFIX.length),
        this.#streamNameBytesMax,
      );
      if (target instanceof StreamError) return target;
      const route = target.sub === undefined
        ? this.#stream
        : target.name.length === 0
        ? undefined
        : this.#streamSubs.get(target.sub);
      if (route === undefined) {
        return target.sub === undefined
          ? notFound(path)
          : unservedSubresource(target.sub, request.method, path);
      }
      return {
        request,
        route,
        query,
        name: target.name,
        key: target.key,
        id: "",
        principal: Principal.NOBODY,
      };
    }
    const route = this.#paths.get(path) ??
      this.#prefixes.find((r) => path.startsWith(r.path!));
    if (route === undefined) return notFound(path);
    return routeRequest(request, route, query);
  }

  #matchDs(
    request: Request,
    path: string,
    query: string,
  ): RouteRequest | StreamError {
    const exact = this.#paths.get(path);
    if (exact !== undefined) {
      return routeRequest(request, exact, query);
    }
    if (this.#subscriptions.size === 0) return notFound(path);
    const target = parseSubscriptionPath(path.slice(DS_PREFIX.length));
    if (target instanceof StreamError) return target;
    if (target === undefined) return notFound(path);
    const route = this.#subscriptions.get(target.sub);
    if (route === undefined) return notFound(path);
    const { id, name } = target;
    const principal = Principal.NOBODY;
    return { request, route, query, name, key: "", id, principal };
  }

  /** How errors for `path` are spelled when no route answers. */
  dialect(path: string): ErrorDialect {
    return this.#subscriptions.size > 0 && path.startsWith(DS_PREFIX)
      ? "subscriptions"
      : "streams";
  }

  /**
   * The error for a method `route` does not map: 405 with `Allow`; except
   * that a write to a subresource that takes only reads (`_details`,
   * `pk/{key}`) is a write to a reserved stream name, a 400, and so is a
   * PUT to a `touch/*` route.
   */
  refuse(route: Route, method: string): StreamError {
    const allow = this.allow(route);
    // touch-live.md §6: a wrong method on `touch/*` is a 405, except PUT,
    // which would create a stream under the reserved name.
    const touch = route.sub?.startsWith("touch/") === true;
    if (
      route.shape === "stream_sub" && !READS.has(method) &&
      (touch
        ? method === "PUT"
        : Object.keys(route.methods).every((m) => READS.has(m)))
    ) {
      return reservedNameError(route.sub!);
    }
    return new StreamError(
      "method_not_allowed",
      `Method ${method} is not allowed here: use ${allow}`,
      { allow },
    );
  }
}

function routeRequest(
  request: Request,
  route: Route,
  query: string,
): RouteRequest {
  const principal = Principal.NOBODY;
  return { request, route, query, name: "", key: "", id: "", principal };
}

function notFound(path: string): StreamError {
  return new StreamError("not_found", `No route for ${path}`);
}

function unservedSubresource(
  sub: string,
  method: string,
  path: string,
): StreamError {
  return READS.has(method) ? notFound(path) : reservedNameError(sub);
}
