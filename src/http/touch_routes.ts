/**
 * @module
 * The touch API of a stream (touch-live.md §6): `GET touch/meta`,
 * `POST touch/wait` and `POST touch/templates/activate`. Each parses the
 * request, calls the node's touch service, and answers its JSON; without
 * the service (or without touch on the stream) they answer 404. A wait
 * whose client hung up answers 204 to nobody.
 */

import { fail, type Result, StreamError } from "../errors.ts";
import { TOUCH_BODY_BYTES_MAX } from "../limits.ts";
import type { HttpContext } from "./context.ts";
import { readBody } from "./body.ts";
import { errorResponse, respond, respondJson } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** `GET touch/meta[?settle=flush&timeoutMs=N]`. */
export async function getTouchMeta(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  if (ctx.touch === undefined) return notEnabled(req.name);
  const query = new URLSearchParams(req.query);
  const meta = await ctx.touch.meta(req.name, query, req.request.signal);
  return meta.ok ? respondJson(meta.value) : errorResponse(meta.error);
}

/** `POST touch/wait`: 200 touched, timed out or stale. */
export async function postTouchWait(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  if (ctx.touch === undefined) return notEnabled(req.name);
  const body = await jsonBody(req.request);
  if (!body.ok) return errorResponse(body.error);
  const waited = await ctx.touch.wait(req.name, body.value, req.request.signal);
  if (!waited.ok) return errorResponse(waited.error);
  return waited.value === null ? respond(null, 204) : respondJson(waited.value);
}

/** `POST touch/templates/activate`. */
export async function postTouchActivate(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  if (ctx.touch === undefined) return notEnabled(req.name);
  const body = await jsonBody(req.request);
  if (!body.ok) return errorResponse(body.error);
  const result = ctx.touch.activate(req.name, body.value);
  return result.ok ? respondJson(result.value) : errorResponse(result.error);
}

function notEnabled(name: string): Response {
  return errorResponse(
    new StreamError("not_found", `touch not enabled on stream "${name}"`),
  );
}

async function jsonBody(request: Request): Promise<Result<unknown>> {
  const bytes = await readBody(request, TOUCH_BODY_BYTES_MAX);
  if (!bytes.ok) return bytes;
  try {
    return { ok: true, value: JSON.parse(strictDecoder.decode(bytes.value)) };
  } catch (cause) {
    return fail(
      "bad_request",
      `The body is not JSON: ${(cause as Error).message}`,
    );
  }
}
