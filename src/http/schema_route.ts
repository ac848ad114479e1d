/**
 * @module
 * `GET` and `POST /v1/stream/{name}/_schema`: a stream's schema registry
 * (versions, boundaries as offsets, lenses, routing-key rule, search
 * configuration) and changes to it (docs/schemas-and-lenses.md).
 */

import { fail, type Result, StreamError } from "../errors.ts";
import { encodeOffset } from "../protocol/offset.ts";
import { type Registry, registryJson } from "../schema/registry.ts";
import { readBody } from "./body.ts";
import type { HttpContext } from "./context.ts";
import { errorResponse, respondJson } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** The registry as the API shows it (boundaries as offsets). */
export function schemaJson(registry: Registry): Record<string, unknown> {
  return registryJson(registry, encodeOffset);
}

/** GET and HEAD: the committed registry; empty (version 0) without a schema. */
export async function getSchema(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const method = req.request.method;
  const found = await ctx.engine.schemaRegistryFresh(req.name);
  if (!found.ok) return errorResponse(found.error, method);
  return respondJson(schemaJson(found.value.registry));
}

/** POST: install or evolve the schema, or change the key rule or search. */
export async function postSchema(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const bytesMax = Math.min(ctx.limits.bodyBytesMax, ctx.limits.schemaBytesMax);
  const body = await readBody(req.request, bytesMax);
  if (!body.ok) return errorResponse(body.error);
  const parsed = parseJson(body.value);
  if (!parsed.ok) return errorResponse(parsed.error);
  const updated = await ctx.engine.updateSchema(req.name, parsed.value);
  if (!updated.ok) return errorResponse(updated.error);
  // With tiered storage the change counts once the object store has it (so
  // `--bootstrap` restores it); the upload loop publishes it.
  const published = await ctx.schemaPublished?.(
    req.name,
    updated.value.revision,
  );
  if (published === false) {
    return errorResponse(
      new StreamError(
        "unavailable",
        `Schema of stream "${req.name}" changed on this node, but the object store has not taken it yet; it is retried in the background`,
      ),
    );
  }
  return respondJson(schemaJson(updated.value));
}

function parseJson(bytes: Uint8Array): Result<unknown> {
  if (bytes.length === 0) {
    return fail("schema_invalid", "Schema update body is empty");
  }
  try {
    return { ok: true, value: JSON.parse(strictDecoder.decode(bytes)) };
  } catch (cause) {
    return fail(
      "schema_invalid",
      `Schema update body is not JSON: ${(cause as Error).message}`,
    );
  }
}
