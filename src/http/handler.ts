/**
 * @module
 * The HTTP entry: the request target, the CORS preflight, routing through
 * the route tables, the access gate (Host and Origin guards, key, rate,
 * scope) inside the optional middleware around each routed operation, CORS
 * grants on every response, and the one error boundary that turns a thrown
 * error into a 500 (our bug) or its `StreamError` status.
 */

import type {
  HttpConfig,
  LimitsConfig,
  SubscriptionsConfig,
} from "../config.ts";
import { BrowserPolicy } from "../auth/browser.ts";
import { AccessGate } from "../auth/gate.ts";
import type { IndexStatusBody, StreamDetails } from "../tier/details.ts";
import type { TouchApi } from "../live/touch_service.ts";
import type { Engine } from "../engine/engine.ts";
import { type Result, StreamError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { SubscriptionManager } from "../subscriptions/manager.ts";
import { BodyBudget } from "./body.ts";
import { SEARCH_QUEUE_MAX } from "../limits.ts";
import { SearchGate } from "./search_gate.ts";
import { preflight, withCors } from "./access.ts";
import type { HttpContext, OpsContext, RequestNote } from "./context.ts";
import { requestTarget } from "./request_target.ts";
import { type ErrorDialect, errorResponse } from "./respond.ts";
import {
  type Method,
  type Operation,
  Router,
  type RouteRequest,
} from "./router.ts";
import { CONSOLE_ROUTES, STREAM_ROUTES } from "./routes.ts";
import {
  SUBSCRIPTION_ROUTES,
  subscriptionContext,
} from "./subscription_routes.ts";

/**
 * Runs around each routed operation (metrics, access logs): `req.route` and
 * `operation.name` say what was matched; `next()` runs the access gate and
 * then the operation, so it sees 401/403/429 too, and after it returns
 * `req.principal.keyId` names the key (null without one).
 */
export type RouteMiddleware = (
  req: RouteRequest,
  operation: Operation,
  next: () => Promise<Response>,
) => Promise<Response>;

/** What the handler needs. */
export interface HandlerOptions {
  /** The engine. */
  engine: Engine;
  /** HTTP settings. */
  http: HttpConfig;
  /** Limits. */
  limits: LimitsConfig;
  /** Logger. */
  log: Logger;
  /**
   * Serves the reserved `/v1/stream/__ds/...` routes (PROTOCOL.md §6-7).
   * Without it those paths answer 404.
   */
  subscriptions?: { manager: SubscriptionManager; config: SubscriptionsConfig };
  /** `GET /v1/stream/{name}/_details`: where the stream's bytes live. */
  details?: (name: string) => Result<StreamDetails>;
  /** `GET /v1/stream/{name}/_index_status`: index build progress. */
  indexStatus?: (name: string) => Result<IndexStatusBody>;
  /** Waits for `_index_status` long-polls (`HttpContext.indexStatusWait`). */
  indexStatusWait?: HttpContext["indexStatusWait"];
  /**
   * More fields for `GET /health` (the tiered-storage backlog, the
   * database); `status: "unavailable"` among them answers 503.
   */
  health?: () => Record<string, unknown>;
  /** With tiered storage: waits for a schema registry's publication. */
  schemaPublished?: (name: string, revision: number) => Promise<boolean>;
  /** Wraps every routed operation. */
  around?: RouteMiddleware;
  /**
   * Who may do what; defaults to `--auth none` with the default browser
   * policy (Host and Origin guards on).
   */
  gate?: AccessGate;
  /** `/metrics` and `/v1/server/_details`. */
  ops?: OpsContext;
  /** The request-body budget (default: a new one from `limits`). */
  bodyBudget?: BodyBudget;
  /** The `touch/*` routes (live query invalidation). */
  touch?: TouchApi;
}

/**
 * The handler: `note`, when given, receives the matched route's name
 * (`observe.ts` passes it; `Deno.serve` itself never does).
 */
export type NotedHandler = (
  request: Request,
  note?: RequestNote,
) => Promise<Response>;

/** Builds the `Deno.serve` handler. */
export function createHandler(options: HandlerOptions): NotedHandler {
  const ctx = httpContext(options);
  const router = new Router(
    [
      ...STREAM_ROUTES,
      ...(options.subscriptions === undefined ? [] : SUBSCRIPTION_ROUTES),
      ...(options.http.console ? CONSOLE_ROUTES : []),
    ],
    options.limits.streamNameBytesMax,
  );
  const preflightAllow = allMethods(router);
  const around = options.around;
  const gate = ctx.gate;
  const policy = gate.browser;
  const handle = async (
    request: Request,
    note: RequestNote | undefined,
  ): Promise<Response> => {
    const method = request.method;
    const target = requestTarget(request.url, request.headers.get("host"));
    if (target === undefined) {
      return errorResponse(
        new StreamError("bad_request", "Malformed Host header or request URL"),
        method,
      );
    }
    const routed = router.match(request, target.path, target.query);
    if (method === "OPTIONS") {
      const refused = gate.check(request, "public").error;
      if (refused !== undefined) return errorResponse(refused, method);
      const allow = routed instanceof StreamError
        ? preflightAllow
        : router.allow(routed.route);
      return preflight(request, allow, policy);
    }
    const dialect = routed instanceof StreamError
      ? router.dialect(target.path)
      : routed.route.dialect ?? "streams";
    try {
      const operation = routed instanceof StreamError
        ? undefined
        : routed.route.methods[method as Method];
      if (routed instanceof StreamError || operation === undefined) {
        // No route serves this: still needs a key (no probing without one).
        const admitted = gate.check(request, "key");
        if (note !== undefined) note.keyId = admitted.principal.keyId ?? "";
        const refused = admitted.error;
        const error = refused !== undefined
          ? refused
          : routed instanceof StreamError
          ? routed
          : router.refuse(routed.route, method);
        return errorResponse(error, method, dialect);
      }
      const next = async () => {
        const admitted = gate.check(
          request,
          operation.access,
          operation.name,
          routed.route.shape === "stream" || routed.route.shape === "stream_sub"
            ? routed.name
            : undefined,
        );
        routed.principal = admitted.principal;
        if (admitted.error !== undefined) {
          return errorResponse(admitted.error, method, dialect);
        }
        return await operation.handle(ctx, routed);
      };
      if (note !== undefined) note.route = operation.name;
      try {
        return around === undefined
          ? await next()
          : await around(routed, operation, next);
      } finally {
        // After the gate ran, refused or not: the key's id, never its secret.
        if (note !== undefined) note.keyId = routed.principal.keyId ?? "";
      }
    } catch (error) {
      return failed(error, request, dialect, options.log, note);
    }
  };
  return async (request, note) =>
    withCors(await handle(request, note), request, policy);
}

function httpContext(options: HandlerOptions): HttpContext {
  const { engine, limits } = options;
  // Never below body-bytes-max: any body the server takes can be read when
  // nothing else is in flight, so a 503 for the budget is always temporary.
  const budget = options.bodyBudget ?? new BodyBudget(
    Math.max(limits.bodyInflightBytesMax, limits.bodyBytesMax),
  );
  const subs = options.subscriptions;
  return {
    engine,
    http: options.http,
    limits,
    body: {
      bytesMax: limits.bodyBytesMax,
      budget,
      admit: (bytes) => engine.admitAppendBytes(bytes),
    },
    gate: options.gate ?? openGate(options.log),
    searchGate: new SearchGate(limits.searchConcurrency, SEARCH_QUEUE_MAX),
    details: options.details,
    indexStatus: options.indexStatus,
    indexStatusWait: options.indexStatusWait,
    health: options.health,
    schemaPublished: options.schemaPublished,
    subscriptions: subs === undefined
      ? undefined
      : subscriptionContext(subs.manager, subs.config, limits),
    ops: options.ops,
    touch: options.touch,
  };
}

/** The error boundary: a `StreamError` answers its status, anything else 500. */
function failed(
  error: unknown,
  request: Request,
  dialect: ErrorDialect,
  log: Logger,
  note: RequestNote | undefined,
): Response {
  if (error instanceof StreamError) {
    return errorResponse(error, request.method, dialect);
  }
  const id = note === undefined ? "" : ` (request ${note.requestId})`;
  log.error(`${request.method} ${request.url} failed${id}`, error);
  return errorResponse(
    new StreamError("internal", "Internal server error"),
    request.method,
    dialect,
  );
}

/** Every method some route maps, for a preflight to a path none matches. */
function allMethods(router: Router): string {
  const methods = new Set<string>();
  for (const route of router.routes) {
    for (const method of Object.keys(route.methods)) methods.add(method);
  }
  return [...methods, "OPTIONS"].join(", ");
}

/** `--auth none` with the default browser policy. */
function openGate(log: Logger): AccessGate {
  const browser = BrowserPolicy.parse({
    open: true,
    corsOrigins: "",
    allowedHosts: "",
  });
  if (!browser.ok) throw browser.error; // the defaults parse
  return new AccessGate({ mode: "none", browser: browser.value, log });
}
