/**
 * @module
 * HTTP routes for the reserved `__ds` prefix (PROTOCOL.md §6-7): the JWKS,
 * subscription PUT/GET/DELETE, explicit stream membership, and the delivery
 * endpoints (callback, claim, ack, release). Each handler parses, calls one
 * manager method and responds. Errors carry the protocol's upper-case codes
 * (`FENCED`, `ALREADY_CLAIMED`, ...) with statuses from the one `STATUS` table.
 */

import type { LimitsConfig, SubscriptionsConfig } from "../config.ts";
import { type Result, StreamError } from "../errors.ts";
import { readBody } from "../http/body.ts";
import { errorResponse, respond, respondJson } from "../http/respond.ts";
import {
  ackJson,
  claimJson,
  subscriptionJson,
} from "../http/subscription_json.ts";
import type { SubscriptionManager } from "./manager.ts";
import {
  parseAck,
  parseClaim,
  parseJsonObject,
  parseStreamList,
  parseStreamPath,
  parseSubscriptionConfig,
  type WireLimits,
} from "./wire.ts";

const RESERVED = "/v1/stream/__ds/";
const SUBSCRIPTIONS = RESERVED + "subscriptions/";
const CONTROL_BODY_BYTES_MAX = 1024 * 1024;
const ID_PATTERN = /^[A-Za-z0-9._~:@-]{1,256}$/;

type Action =
  | "base"
  | "streams"
  | "stream"
  | "callback"
  | "claim"
  | "ack"
  | "release";

interface Route {
  id: string;
  action: Action;
  streamPath?: string;
}

/** Builds the `reservedRoutes` function for `createHandler`. */
export function createSubscriptionRoutes(
  manager: SubscriptionManager,
  config: SubscriptionsConfig,
  limits: LimitsConfig,
): (request: Request, url: URL) => Promise<Response> {
  const wire: WireLimits = {
    streamNameBytesMax: limits.streamNameBytesMax,
    linksMax: config.linksMax,
    webhookAllowLocalhost: config.webhookAllowLocalhost,
  };
  const bodyMax = Math.min(limits.bodyBytesMax, CONTROL_BODY_BYTES_MAX);
  return async (request, url) => {
    try {
      return await dispatch(manager, wire, bodyMax, request, url);
    } catch (error) {
      if (error instanceof StreamError) return errorOut(error);
      throw error; // the handler's boundary logs it and answers 500
    }
  };
}

async function dispatch(
  manager: SubscriptionManager,
  wire: WireLimits,
  bodyMax: number,
  request: Request,
  url: URL,
): Promise<Response> {
  const method = request.method;
  if (url.pathname === RESERVED + "jwks.json") {
    if (method !== "GET" && method !== "HEAD") return notAllowed("GET, HEAD");
    const headers = new Headers({
      "content-type": "application/jwk-set+json",
      "cache-control": "public, max-age=300",
    });
    return respond(
      method === "HEAD" ? null : JSON.stringify(manager.jwks()),
      200,
      headers,
    );
  }
  const route = parseRoute(url.pathname);
  if (route instanceof StreamError) return errorOut(route);
  const body = async (): Promise<Result<Record<string, unknown>>> => {
    const bytes = await readBody(request, bodyMax);
    return bytes.ok ? parseJsonObject(bytes.value) : bytes;
  };
  switch (route.action) {
    case "base":
      if (method === "GET") {
        const got = manager.get(route.id);
        return got.ok
          ? respondJson(subscriptionJson(got.value))
          : errorOut(got.error);
      }
      if (method === "DELETE") return out(manager.delete(route.id), 204);
      if (method !== "PUT") return notAllowed("GET, PUT, DELETE");
      return await put(manager, wire, route.id, await body());
    case "streams": {
      if (method !== "POST") return notAllowed("POST");
      const parsed = await body();
      if (!parsed.ok) return errorOut(parsed.error);
      const list = parseStreamList(parsed.value.streams, wire);
      if (!list.ok) return errorOut(list.error);
      return out(manager.addStreams(route.id, list.value), 204);
    }
    case "stream": {
      if (method !== "DELETE") return notAllowed("DELETE");
      const path = parseStreamPath(route.streamPath, wire);
      if (!path.ok) return errorOut(path.error);
      return out(manager.removeStream(route.id, path.value), 204);
    }
    case "claim": {
      if (method !== "POST") return notAllowed("POST");
      const parsed = await body();
      if (!parsed.ok) return errorOut(parsed.error);
      const worker = parseClaim(parsed.value);
      if (!worker.ok) return errorOut(worker.error);
      const claimed = manager.claim(route.id, worker.value);
      return claimed.ok
        ? respondJson(claimJson(claimed.value))
        : errorOut(claimed.error);
    }
    case "callback":
    case "ack":
    case "release": {
      if (method !== "POST") return notAllowed("POST");
      const token = bearer(request);
      if (token === undefined) {
        return errorOut(
          new StreamError(
            "token_invalid",
            "Send the token as Authorization: Bearer <token>",
          ),
        );
      }
      const parsed = await body();
      if (!parsed.ok) return errorOut(parsed.error);
      const ack = parseAck(parsed.value, wire);
      if (!ack.ok) return errorOut(ack.error);
      if (route.action === "release") {
        return out(manager.release(route.id, token, ack.value), 204);
      }
      const done = route.action === "callback"
        ? manager.callback(route.id, token, ack.value)
        : manager.ack(route.id, token, ack.value);
      return done.ok ? respondJson(ackJson(done.value)) : errorOut(done.error);
    }
  }
}

async function put(
  manager: SubscriptionManager,
  wire: WireLimits,
  id: string,
  body: Result<Record<string, unknown>>,
): Promise<Response> {
  if (!body.ok) return errorOut(body.error);
  const config = parseSubscriptionConfig(body.value, wire);
  if (!config.ok) return errorOut(config.error);
  const result = await manager.put(id, config.value);
  if (!result.ok) return errorOut(result.error);
  const { created, subscription } = result.value;
  return respondJson(subscriptionJson(subscription), created ? 201 : 200);
}

function parseRoute(pathname: string): Route | StreamError {
  if (!pathname.startsWith(SUBSCRIPTIONS)) {
    return new StreamError("not_found", `No route for ${pathname}`);
  }
  const parts = pathname.slice(SUBSCRIPTIONS.length).split("/");
  let id: string;
  try {
    id = decodeURIComponent(parts[0]);
  } catch {
    return new StreamError(
      "bad_request",
      "Subscription id is not valid percent-encoding",
    );
  }
  if (!ID_PATTERN.test(id)) {
    return new StreamError(
      "bad_request",
      "Subscription ids are 1-256 characters of A-Z a-z 0-9 . _ ~ : @ -",
    );
  }
  if (parts.length === 1) return { id, action: "base" };
  const action = parts[1];
  if (action === "streams" && parts.length === 2) {
    return { id, action: "streams" };
  }
  if (action === "streams" && parts.length > 2) {
    try {
      return {
        id,
        action: "stream",
        streamPath: decodeURIComponent(parts.slice(2).join("/")),
      };
    } catch {
      return new StreamError(
        "bad_request",
        "Stream path is not valid percent-encoding",
      );
    }
  }
  if (
    parts.length === 2 &&
    (action === "callback" || action === "claim" || action === "ack" ||
      action === "release")
  ) {
    return { id, action };
  }
  return new StreamError("not_found", `No route for ${pathname}`);
}

function bearer(request: Request): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(
    request.headers.get("authorization") ?? "",
  );
  return match === null ? undefined : match[1];
}

function out(result: Result<void>, status: 204): Response {
  if (!result.ok) return errorOut(result.error);
  return respond(null, status);
}

/** A subscription error: `{"error":{"code":"FENCED","message":...,...detail}}`. */
function errorOut(error: StreamError): Response {
  return errorResponse(error, "GET", "subscriptions");
}

function notAllowed(allow: string): Response {
  return errorOut(
    new StreamError("method_not_allowed", `Use ${allow} here`, { allow }),
  );
}
