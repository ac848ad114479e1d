/**
 * @module
 * OTLP/HTTP trace ingest (profiles.md §6.3): `POST
 * /v1/stream/{name}/_otlp/v1/traces` into an otel-traces stream, and `POST
 * /v1/traces` into the stream `--otlp-traces-stream` names (created with the
 * profile under `--otlp-auto-create`). The body is decoded under the
 * stream's OTLP limits, its spans become canonical records (invalid ones are
 * counted as rejected), and the rest are appended in one commit. Answers
 * follow OTLP/HTTP: the export response in the request's encoding, and
 * errors as a `google.rpc.Status` with `Retry-After` on 429 and 503, the
 * only failures exporters retry.
 */

import { fail, ok, type Result, RETRY_AFTER_S, STATUS } from "../errors.ts";
import { StreamError } from "../errors.ts";
import type { OtelTracesOptions } from "../profiles/_otel_options.ts";
import { otelTracesProfile } from "../profiles/otel_traces.ts";
import { otlpEncodingOf, otlpSpanBatch } from "../profiles/otlp/body.ts";
import {
  encodeStatus,
  encodeTraceResponse,
  grpcCodeOf,
  type OtlpEncoding,
} from "../profiles/otlp/decode.ts";
import type { ProfileOptions } from "../profiles/profile.ts";
import { encodeOffset } from "../protocol/offset.ts";
import { authorize } from "./access.ts";
import { readHeldBody } from "./body.ts";
import type { HttpContext } from "./context.ts";
import { respond } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

const EMPTY = new Uint8Array(0);

const CONTENT_TYPES: Record<OtlpEncoding, string> = {
  protobuf: "application/x-protobuf",
  json: "application/json",
};

/** `POST /v1/stream/{name}/_otlp/v1/traces`: the stream must be otel-traces. */
export function postStreamTraces(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  return ingest(ctx, req, req.name, false);
}

/** `POST /v1/traces`: into `--otlp-traces-stream` (404 when unset). */
export async function postTraces(
  ctx: HttpContext,
  req: RouteRequest,
): Promise<Response> {
  const name = ctx.http.otlpTracesStream;
  if (name === "") {
    await req.request.body?.cancel();
    return otlpError(
      new StreamError(
        "not_found",
        "POST /v1/traces is not configured (--otlp-traces-stream)",
      ),
      encodingOf(req.request),
    );
  }
  const denied = authorize(ctx, req, "write", name);
  if (denied !== undefined) {
    await req.request.body?.cancel();
    return otlpError(denied, encodingOf(req.request));
  }
  return await ingest(ctx, req, name, ctx.http.otlpAutoCreate);
}

async function ingest(
  ctx: HttpContext,
  req: RouteRequest,
  name: string,
  autoCreate: boolean,
): Promise<Response> {
  const request = req.request;
  const encoding = otlpEncodingOf(request.headers.get("content-type"));
  if (!encoding.ok) {
    await request.body?.cancel();
    return otlpError(encoding.error, "json");
  }
  const options = await tracesOptions(ctx, name, autoCreate);
  if (!options.ok) {
    await request.body?.cancel();
    return otlpError(options.error, encoding.value);
  }
  const limits = options.value.otlpLimits;
  const gzip = (request.headers.get("content-encoding") ?? "").trim()
    .toLowerCase() === "gzip";
  const held = await readHeldBody(request, {
    bytesMax: Math.min(
      ctx.body.bytesMax,
      gzip ? limits.maxCompressedBytes : limits.maxDecodedBytes,
    ),
    budget: ctx.body.budget,
    admit: ctx.body.admit,
  });
  if (!held.ok) return otlpError(held.error, encoding.value);
  try {
    return await ingestBody(
      ctx,
      request,
      name,
      options.value,
      held.value.bytes,
    );
  } catch (error) {
    // A commit the WAL refused (a full disk, a lost database) throws its
    // StreamError: answered as OTLP, so exporters see 503 and retry.
    if (error instanceof StreamError) return otlpError(error, encoding.value);
    throw error;
  } finally {
    ctx.body.budget?.release(held.value.reservedBytes);
  }
}

async function ingestBody(
  ctx: HttpContext,
  request: Request,
  name: string,
  options: OtelTracesOptions,
  body: Uint8Array,
): Promise<Response> {
  const encoding = otlpEncodingOf(request.headers.get("content-type"));
  if (!encoding.ok) return otlpError(encoding.error, "json");
  const batch = await otlpSpanBatch(
    {
      contentType: request.headers.get("content-type"),
      contentEncoding: request.headers.get("content-encoding"),
    },
    body,
    options,
  );
  if (!batch.ok) return otlpError(batch.error, encoding.value);
  const { records, rejectedSpans, errorMessage } = batch.value;
  let nextPos: number;
  if (records.length === 0) {
    const view = ctx.engine.view(name);
    nextPos = view?.tailPos ?? 0;
  } else {
    const appended = await ctx.engine.append(name, {
      contentType: "application/json",
      body: EMPTY,
      close: false,
      streamSeq: undefined,
      producer: undefined,
      routingKey: undefined,
      timestampMs: undefined,
      records: records.map((r) => r.value),
      preparedFor: options as unknown as ProfileOptions,
    });
    if (!appended.ok) return otlpError(appended.error, encoding.value);
    nextPos = appended.value.nextPos;
  }
  return respond(
    encodeTraceResponse(
      rejectedSpans,
      errorMessage,
      encoding.value,
    ) as Uint8Array<ArrayBuffer>,
    200,
    {
      "content-type": CONTENT_TYPES[encoding.value],
      "cache-control": "no-store",
      "stream-next-offset": encodeOffset(nextPos),
    },
  );
}

/**
 * The otel-traces options of stream `name`: 404 when it is missing (unless
 * `autoCreate`: then it is created as a JSON stream with the profile's
 * defaults, its registry published like a `_profile` install), 400 when it
 * has another profile.
 */
async function tracesOptions(
  ctx: HttpContext,
  name: string,
  autoCreate: boolean,
): Promise<Result<OtelTracesOptions>> {
  let found = ctx.engine.profile(name);
  if (!found.ok && found.error.kind === "stream_not_found" && autoCreate) {
    const created = await createTracesStream(ctx, name);
    if (!created.ok) return created;
    found = ctx.engine.profile(name);
  }
  if (!found.ok) return found;
  if (found.value.options.kind !== otelTracesProfile.kind) {
    return fail(
      "bad_request",
      `Stream "${name}" has the "${found.value.options.kind}" profile; OTLP traces go to an otel-traces stream`,
    );
  }
  return ok(found.value.options as unknown as OtelTracesOptions);
}

async function createTracesStream(
  ctx: HttpContext,
  name: string,
): Promise<Result<void>> {
  const created = await ctx.engine.create(name, {
    contentType: "application/json",
    ttlSeconds: undefined,
    expiresAtMs: undefined,
    closed: false,
    body: EMPTY,
    fork: undefined,
    routingKey: undefined,
    timestampMs: undefined,
  });
  if (!created.ok) return created;
  const current = ctx.engine.profile(name);
  if (!current.ok) return current;
  if (current.value.options.kind === otelTracesProfile.kind) {
    return ok(undefined); // a concurrent request installed it
  }
  const options = otelTracesProfile.validate({ kind: otelTracesProfile.kind });
  if (!options.ok) return options;
  const installed = await ctx.engine.installProfile(
    name,
    options.value as unknown as ProfileOptions,
  );
  if (!installed.ok) return installed;
  const registry = installed.value.registry;
  if (registry !== null) {
    const published = await ctx.schemaPublished?.(name, registry.revision);
    if (published === false) {
      return fail(
        "unavailable",
        `Stream "${name}" was created, but the object store has not taken its schema registry yet`,
      );
    }
  }
  return ok(undefined);
}

function encodingOf(request: Request): OtlpEncoding {
  const encoding = otlpEncodingOf(request.headers.get("content-type"));
  return encoding.ok ? encoding.value : "json";
}

/**
 * An OTLP/HTTP error: the status of the error's kind, a `google.rpc.Status`
 * body in `encoding`, and `Retry-After` on the temporary kinds.
 */
export function otlpError(
  error: StreamError,
  encoding: OtlpEncoding,
): Response {
  const status = STATUS[error.kind];
  const headers: Record<string, string> = {
    "content-type": CONTENT_TYPES[encoding],
    "cache-control": "no-store",
  };
  const retryAfter = error.detail?.retryAfterSeconds ??
    RETRY_AFTER_S[error.kind];
  if (retryAfter !== undefined) headers["retry-after"] = String(retryAfter);
  return respond(
    encodeStatus(
      grpcCodeOf(status),
      error.message,
      encoding,
    ) as Uint8Array<ArrayBuffer>,
    status,
    headers,
  );
}
