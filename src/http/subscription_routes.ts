/**
 * @module
 * Routes of the reserved `__ds` prefix (PROTOCOL.md §6-7): the JWKS,
 * the subscription list, subscription PUT/GET/DELETE, explicit stream links, and the delivery
 * endpoints (callback, claim, ack, release). Each handler parses, calls one
 * manager method and responds. Errors speak the subscription dialect
 * (`FENCED`, `ALREADY_CLAIMED`, ...) with statuses from the one `STATUS` table.
 */

import {
  CONTROL_BODY_BYTES_MAX,
  SUBSCRIPTION_LIST_PAGE_MAX,
  SUBSCRIPTION_LIST_PENDING_SAMPLE_MAX,
} from "../limits.ts";
import type { LimitsConfig, SubscriptionsConfig } from "../config.ts";
import { type Result, StreamError } from "../errors.ts";
import type { SubscriptionManager } from "../subscriptions/manager.ts";
import {
  parseAck,
  parseClaim,
  parseJsonObject,
  parseStreamList,
  parseStreamPath,
  parseSubscriptionConfig,
} from "../subscriptions/wire.ts";
import type { AckRequest } from "../subscriptions/types.ts";
import { Principal } from "../auth/principal.ts";
import { authorizeSubscription, subscriptionRefusal } from "./access.ts";
import { readBody } from "./body.ts";
import type { HttpContext, SubscriptionContext } from "./context.ts";
import { errorResponse, respond, respondJson } from "./respond.ts";
import type { Route, RouteRequest } from "./router.ts";
import {
  ackJson,
  claimJson,
  subscriptionJson,
  subscriptionListJson,
} from "./subscription_json.ts";
import { DS_PREFIX } from "./subscription_path.ts";

/** What the subscription routes need, from the manager and its settings. */
export function subscriptionContext(
  manager: SubscriptionManager,
  config: SubscriptionsConfig,
  limits: LimitsConfig,
): SubscriptionContext {
  return {
    manager,
    wire: {
      streamNameBytesMax: limits.streamNameBytesMax,
      linksMax: config.linksMax,
      webhookAllowLocalhost: config.webhookAllowLocalhost,
    },
    bodyBytesMax: Math.min(limits.bodyBytesMax, CONTROL_BODY_BYTES_MAX),
  };
}

/** Routes of the subscription APIs; served only when subscriptions are on. */
export const SUBSCRIPTION_ROUTES: readonly Route[] = [
  {
    shape: "path",
    path: DS_PREFIX + "jwks.json",
    dialect: "subscriptions",
    methods: {
      GET: { name: "jwks_get", access: "public", handle: getJwks },
      HEAD: { name: "jwks_head", access: "public", handle: getJwks },
    },
  },
  {
    shape: "path",
    path: DS_PREFIX + "subscriptions",
    dialect: "subscriptions",
    methods: {
      GET: {
        name: "subscriptions_list",
        access: "admin",
        handle: listSubscriptions,
      },
    },
  },
  {
    shape: "subscription",
    sub: "",
    dialect: "subscriptions",
    methods: {
      GET: {
        name: "subscription_get",
        access: "admin",
        handle: getSubscription,
      },
      PUT: {
        name: "subscription_put",
        access: "admin",
        handle: putSubscription,
      },
      DELETE: {
        name: "subscription_delete",
        access: "admin",
        handle: deleteSubscription,
      },
    },
  },
  {
    shape: "subscription",
    sub: "streams",
    dialect: "subscriptions",
    methods: {
      POST: {
        name: "subscription_streams_add",
        access: "admin",
        handle: addStreams,
      },
    },
  },
  {
    shape: "subscription",
    sub: "streams/*",
    dialect: "subscriptions",
    methods: {
      DELETE: {
        name: "subscription_stream_remove",
        access: "admin",
        handle: removeStream,
      },
    },
  },
  {
    shape: "subscription",
    sub: "callback",
    dialect: "subscriptions",
    // The callback token is the credential (Authorization: Bearer).
    methods: {
      POST: {
        name: "subscription_callback",
        access: "token",
        handle: callback,
      },
    },
  },
  {
    shape: "subscription",
    sub: "claim",
    dialect: "subscriptions",
    methods: {
      POST: { name: "subscription_claim", access: "admin", handle: claim },
    },
  },
  {
    shape: "subscription",
    sub: "ack",
    dialect: "subscriptions",
    methods: {
      POST: { name: "subscription_ack", access: "token", handle: ack },
    },
  },
  {
    shape: "subscription",
    sub: "release",
    dialect: "subscriptions",
    methods: {
      POST: { name: "subscription_release", access: "token", handle: release },
    },
  },
];

function getJwks(ctx: HttpContext, req: RouteRequest): Response {
  const headers = new Headers({
    "content-type": "application/jwk-set+json",
    "cache-control": "public, max-age=300",
  });
  const body = req.request.method === "HEAD"
    ? null
    : JSON.stringify(subs(ctx).manager.jwks());
  return respond(body, 200, headers);
}

/**
 * `GET /v1/stream/__ds/subscriptions?after=&limit=`: a page of the
 * subscriptions the key may administer (every one without auth), sorted by
 * id, each as GET shows it but with counts of its streams and of those
 * with pending records (and the first few of those) in place of the
 * stream list, and `next`, the `after` of the following page (null on the
 * last).
 */
function listSubscriptions(ctx: HttpContext, req: RouteRequest): Response {
  const params = new URLSearchParams(req.query);
  const after = params.get("after") ?? "";
  const limitRaw = params.get("limit") ?? "";
  let limit = SUBSCRIPTION_LIST_PAGE_MAX;
  if (limitRaw !== "") {
    if (!/^[1-9]\d{0,6}$/.test(limitRaw)) {
      return refuse(
        new StreamError(
          "bad_request",
          `"limit" must be an integer from 1 to ${SUBSCRIPTION_LIST_PAGE_MAX}`,
        ),
      );
    }
    limit = Math.min(Number(limitRaw), SUBSCRIPTION_LIST_PAGE_MAX);
  }
  const page = subs(ctx).manager.list(
    after,
    limit,
    (config) =>
      subscriptionRefusal(req.principal, "admin", config) === undefined,
  );
  return respondJson({
    subscriptions: page.subscriptions.map((view) =>
      subscriptionListJson(view, SUBSCRIPTION_LIST_PENDING_SAMPLE_MAX)
    ),
    next: page.next,
  });
}

function getSubscription(ctx: HttpContext, req: RouteRequest): Response {
  const denied = existingDenied(ctx, req);
  if (denied !== undefined) return refuse(denied);
  const got = subs(ctx).manager.get(req.id);
  return got.ok ? respondJson(subscriptionJson(got.value)) : refuse(got.error);
}

async function putSubscription(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const sc = subs(ctx);
  const body = await jsonBody(sc, req.request);
  if (!body.ok) return refuse(body.error);
  const config = parseSubscriptionConfig(body.value, sc.wire);
  if (!config.ok) return refuse(config.error);
  const denied = existingDenied(ctx, req) ??
    authorizeSubscription(ctx, req, "admin", config.value);
  if (denied !== undefined) return refuse(denied);
  const put = await sc.manager.put(req.id, config.value);
  if (!put.ok) return refuse(put.error);
  const { created, subscription } = put.value;
  return respondJson(subscriptionJson(subscription), created ? 201 : 200);
}

function deleteSubscription(ctx: HttpContext, req: RouteRequest): Response {
  const denied = existingDenied(ctx, req);
  if (denied !== undefined) return refuse(denied);
  return noContent(subs(ctx).manager.delete(req.id));
}

async function addStreams(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const sc = subs(ctx);
  const body = await jsonBody(sc, req.request);
  if (!body.ok) return refuse(body.error);
  const list = parseStreamList(body.value.streams, sc.wire);
  if (!list.ok) return refuse(list.error);
  const denied = existingDenied(ctx, req) ??
    authorizeSubscription(ctx, req, "admin", {
      pattern: null,
      streams: list.value,
      wakeStream: null,
    });
  if (denied !== undefined) return refuse(denied);
  return noContent(sc.manager.addStreams(req.id, list.value));
}

function removeStream(ctx: HttpContext, req: RouteRequest): Response {
  const sc = subs(ctx);
  const path = parseStreamPath(req.name, sc.wire);
  if (!path.ok) return refuse(path.error);
  const denied = existingDenied(ctx, req);
  if (denied !== undefined) return refuse(denied);
  return noContent(sc.manager.removeStream(req.id, path.value));
}

async function claim(ctx: HttpContext, req: RouteRequest): Promise<Response> {
  const sc = subs(ctx);
  const body = await jsonBody(sc, req.request);
  if (!body.ok) return refuse(body.error);
  const worker = parseClaim(body.value);
  if (!worker.ok) return refuse(worker.error);
  const denied = existingDenied(ctx, req);
  if (denied !== undefined) return refuse(denied);
  const claimed = sc.manager.claim(req.id, worker.value);
  return claimed.ok
    ? respondJson(claimJson(claimed.value))
    : refuse(claimed.error);
}

async function callback(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const sc = subs(ctx);
  const parsed = await tokenAndAck(sc, req.request);
  if (!parsed.ok) return refuse(parsed.error);
  const { token, ack } = parsed.value;
  const done = await sc.manager.callback(req.id, token, ack);
  return done.ok ? respondJson(ackJson(done.value)) : refuse(done.error);
}

async function ack(ctx: HttpContext, req: RouteRequest): Promise<Response> {
  const sc = subs(ctx);
  const parsed = await tokenAndAck(sc, req.request);
  if (!parsed.ok) return refuse(parsed.error);
  const { token, ack } = parsed.value;
  const done = await sc.manager.ack(req.id, token, ack);
  return done.ok ? respondJson(ackJson(done.value)) : refuse(done.error);
}

async function release(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const sc = subs(ctx);
  const parsed = await tokenAndAck(sc, req.request);
  if (!parsed.ok) return refuse(parsed.error);
  const { token, ack } = parsed.value;
  return noContent(sc.manager.release(req.id, token, ack));
}

/** The bearer token and the ack body of a callback, ack or release. */
async function tokenAndAck(
  sc: SubscriptionContext,
  request: Request,
): Promise<Result<{ token: string; ack: AckRequest }>> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(
    request.headers.get("authorization") ?? "",
  );
  if (match === null) {
    return {
      ok: false,
      error: new StreamError(
        "token_invalid",
        "Send the token as Authorization: Bearer <token>",
      ),
    };
  }
  const body = await jsonBody(sc, request);
  if (!body.ok) return body;
  const parsed = parseAck(body.value, sc.wire);
  if (!parsed.ok) return parsed;
  return { ok: true, value: { token: match[1], ack: parsed.value } };
}

async function jsonBody(
  sc: SubscriptionContext,
  request: Request,
): Promise<Result<Record<string, unknown>>> {
  const bytes = await readBody(request, sc.bodyBytesMax);
  return bytes.ok ? parseJsonObject(bytes.value) : bytes;
}

/**
 * The 403 when subscription `req.id` exists and reaches streams beyond the
 * key's (an admin of one tenant must not read or steer another's).
 * Missing subscriptions pass: the handler answers their 404.
 */
function existingDenied(
  ctx: HttpContext,
  req: RouteRequest,
): StreamError | undefined {
  if (req.principal === Principal.OPEN) return undefined;
  const got = subs(ctx).manager.get(req.id);
  return got.ok
    ? authorizeSubscription(ctx, req, "admin", got.value.config)
    : undefined;
}

/** The subscription context; these routes exist only when it does. */
function subs(ctx: HttpContext): SubscriptionContext {
  return ctx.subscriptions!;
}

function noContent(result: Result<void>): Response {
  return result.ok ? respond(null, 204) : refuse(result.error);
}

function refuse(error: StreamError): Response {
  return errorResponse(error, "GET", "subscriptions");
}
