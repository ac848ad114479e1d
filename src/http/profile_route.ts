/**
 * @module
 * `GET` and `POST /v1/stream/{name}/_profile` (profiles.md §1): a stream's
 * profile, and installing one. The body rules are `profiles/resource.ts`'s;
 * the preconditions against the stream and the atomic install of a
 * canonical registry are the engine's.
 */

import { fail, type Result, StreamError } from "../errors.ts";
import { parseProfileRequest, profileResource } from "../profiles/resource.ts";
import { readBody } from "./body.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respondJson } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** GET and HEAD: the committed profile (`generic` when none was declared). */
export async function getProfile(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const found = await ctx.engine.profileFresh(req.name);
  if (!found.ok) return errorResponse(found.error, req.request.method);
  return respondJson(profileResource(found.value.options));
}

/**
 * POST: validate the body, install the profile (and its canonical registry,
 * in the same commit), and with tiered storage answer once the object store
 * has the registry, as `POST .../_schema` does.
 */
export async function postProfile(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const bytesMax = Math.min(ctx.limits.bodyBytesMax, ctx.limits.schemaBytesMax);
  const body = await readBody(req.request, bytesMax);
  if (!body.ok) return errorResponse(body.error);
  const parsed = parseJson(body.value);
  if (!parsed.ok) return errorResponse(parsed.error);
  // A missing stream answers 404 before a body problem would answer 400.
  const exists = await ctx.engine.profileFresh(req.name);
  if (!exists.ok) return errorResponse(exists.error);
  const options = parseProfileRequest(parsed.value);
  if (!options.ok) return errorResponse(options.error);
  const installed = await ctx.engine.installProfile(req.name, options.value);
  if (!installed.ok) return errorResponse(installed.error);
  const registry = installed.value.registry;
  if (registry !== null) {
    const published = await ctx.schemaPublished?.(req.name, registry.revision);
    if (published === false) {
      return errorResponse(
        new StreamError(
          "unavailable",
          `Profile of stream "${req.name}" changed on this node, but the object store has not taken its schema registry yet; it is retried in the background`,
        ),
      );
    }
  }
  return respondJson(profileResource(installed.value.options));
}

function parseJson(bytes: Uint8Array): Result<unknown> {
  if (bytes.length === 0) {
    return fail("bad_request", "Profile request body is empty");
  }
  try {
    return { ok: true, value: JSON.parse(strictDecoder.decode(bytes)) };
  } catch (cause) {
    return fail(
      "bad_request",
      `Profile request body is not JSON: ${(cause as Error).message}`,
    );
  }
}
