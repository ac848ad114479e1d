/**
 * @module
 * Access control at the HTTP edge: `authorize()` for handlers that learn
 * which streams a request touches only from its body (subscriptions) or
 * that serve operator data (`/metrics`, server details), and the CORS
 * headers: each response grants the request's `Origin` what the policy
 * allows, and a preflight answers from the route table's methods.
 */

import type { BrowserPolicy } from "../auth/browser.ts";
import type { Scope } from "../auth/keys.ts";
import { Principal } from "../auth/principal.ts";
import type { StreamError } from "../errors.ts";
import { parseGlob } from "../glob.ts";
import type { SubscriptionConfig } from "../subscriptions/types.ts";
import type { HttpContext } from "./context.ts";
import { ALLOWED_HEADERS, EXPOSED_HEADERS, respond } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

/**
 * `undefined` when the request's key has `scope` (on `stream` when given,
 * else on some stream), or the 403 to answer, naming the key and the need.
 */
export function authorize(
  ctx: HttpContext,
  req: RouteRequest,
  scope: Scope,
  stream?: string,
): StreamError | undefined {
  const denied = req.principal.authorize(scope, stream);
  if (denied !== undefined) ctx.gate.countForbidden();
  return denied;
}

/** Every stream: what a server-wide page needs its admin scope on. */
const EVERY_STREAM = (() => {
  const glob = parseGlob("**");
  if (!glob.ok) throw new Error("'**' is a glob");
  return glob.value;
})();

/**
 * `undefined` when the request may see a server-wide page (`/metrics`,
 * `/v1/server/_details`), which counts and names every stream: `operation`
 * is open to all (`--auth none`, `--public-metrics`), or the key has
 * `admin` on every stream. Else the 403; the route table's `admin` alone
 * lets a key scoped to some streams through.
 */
export function authorizeServer(
  ctx: HttpContext,
  req: RouteRequest,
  operation: string,
): StreamError | undefined {
  const principal = req.principal;
  if (principal === Principal.OPEN || ctx.gate.opens(operation)) {
    return undefined;
  }
  if (principal.allowsPattern("admin", EVERY_STREAM)) return undefined;
  ctx.gate.countForbidden();
  return principal.refusal("admin", "every stream");
}

/**
 * `undefined` when every stream `config` may link or wake lies within the
 * key's streams for `scope` (its pattern, its explicit streams, its wake
 * stream), or the 403: a subscription must not reach streams its creator
 * cannot (a wake stream pointed at someone else's stream would write there).
 */
export function authorizeSubscription(
  ctx: HttpContext,
  req: RouteRequest,
  scope: Scope,
  config: Pick<SubscriptionConfig, "pattern" | "streams" | "wakeStream">,
): StreamError | undefined {
  const denied = subscriptionRefusal(req.principal, scope, config);
  if (denied !== undefined) ctx.gate.countForbidden();
  return denied;
}

/**
 * `authorizeSubscription` without counting a refusal: whether `principal`
 * has `scope` on every stream `config` may reach (undefined), else why not.
 * The subscription list uses it to leave out what a key may not see.
 */
export function subscriptionRefusal(
  principal: Principal,
  scope: Scope,
  config: Pick<SubscriptionConfig, "pattern" | "streams" | "wakeStream">,
): StreamError | undefined {
  if (principal === Principal.OPEN) return undefined;
  let denied: StreamError | undefined;
  if (config.pattern !== null) {
    const glob = parseGlob(config.pattern);
    if (!glob.ok || !principal.allowsPattern(scope, glob.value)) {
      denied = principal.refusal(scope, `pattern "${config.pattern}"`);
    }
  }
  for (const stream of config.streams) {
    if (denied === undefined && !principal.allows(scope, stream)) {
      denied = principal.refusal(scope, `stream "${stream}"`);
    }
  }
  const wake = config.wakeStream;
  if (denied === undefined && wake !== null && !principal.allows(scope, wake)) {
    denied = principal.refusal(scope, `wake stream "${wake}"`);
  }
  return denied;
}

/**
 * Adds the CORS headers for `request`'s `Origin` to `response`: the origin
 * and the readable headers when the policy grants it the method, and
 * `Vary: Origin` whenever an origin was sent.
 */
export function withCors(
  response: Response,
  request: Request,
  policy: BrowserPolicy,
): Response {
  const origin = request.headers.get("origin");
  // A preflight's grant depends on the method it asks about: `preflight()`.
  if (origin === null || request.method === "OPTIONS") return response;
  const headers = response.headers;
  headers.append("vary", "Origin");
  if (policy.allowsOrigin(origin, request.method)) {
    headers.set("access-control-allow-origin", origin);
    headers.set("access-control-expose-headers", EXPOSED_HEADERS);
  }
  return response;
}

/**
 * The answer to a preflight, without credentials: the route's methods and
 * the protocol headers, and the origin only when it may make the request
 * it asks about (`Access-Control-Request-Method`).
 */
export function preflight(
  request: Request,
  allow: string,
  policy: BrowserPolicy,
): Response {
  const headers = new Headers({
    "access-control-allow-methods": allow,
    "access-control-allow-headers": ALLOWED_HEADERS,
    "access-control-max-age": "86400",
  });
  const origin = request.headers.get("origin");
  if (origin !== null) {
    headers.set("vary", "Origin");
    const method = request.headers.get("access-control-request-method") ??
      "GET";
    if (policy.allowsOrigin(origin, method.toUpperCase())) {
      headers.set("access-control-allow-origin", origin);
    }
  }
  return respond(null, 204, headers);
}
