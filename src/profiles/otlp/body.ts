/**
 * @module
 * An OTLP/HTTP trace request body from its headers and bytes (profiles.md
 * §6.3): the content type picks protobuf or JSON (else 415), the content
 * encoding is identity or gzip (else 415), the compressed size is capped
 * and gzip is inflated under the decoded cap, checked chunk by chunk so a
 * bomb stops at the cap (413). Corrupt gzip is a 400.
 */

import { fail, ok, type Result } from "../../errors.ts";
import type { OtelTracesOptions, OtlpLimits } from "../_otel_options.ts";
import { exportToSpans, type SpanBatch } from "../otel_traces.ts";
import { readTraceRequest } from "./span_reader.ts";
import {
  decodeTraceRequestJson,
  decodeTraceRequestProtobuf,
  type OtlpEncoding,
} from "./decode.ts";

/** The request headers OTLP decoding reads. */
export interface OtlpHeaders {
  /** `Content-Type`, or null when absent. */
  contentType: string | null;
  /** `Content-Encoding`, or null when absent. */
  contentEncoding: string | null;
}

/** A decoded request and the encoding to answer in. */
export interface OtlpBody {
  /** The request's encoding; the response uses the same. */
  encoding: OtlpEncoding;
  /** The export request in the OTLP JSON mapping. */
  request: Record<string, unknown>;
}

/** The encoding a `Content-Type` names; parameters are ignored. */
export function otlpEncodingOf(
  contentType: string | null,
): Result<OtlpEncoding> {
  const base = (contentType ?? "").split(";")[0].trim().toLowerCase();
  if (base === "application/x-protobuf") return ok("protobuf");
  if (base === "application/json") return ok("json");
  return fail(
    "unsupported_media_type",
    `OTLP trace requests must be application/x-protobuf or application/json, not ${
      JSON.stringify(contentType ?? "")
    }`,
  );
}

/** Whether a `Content-Encoding` is gzip (true), identity (false), or refused. */
export function isGzipEncoding(
  contentEncoding: string | null,
): Result<boolean> {
  const value = (contentEncoding ?? "").trim().toLowerCase();
  if (value === "" || value === "identity") return ok(false);
  if (value === "gzip") return ok(true);
  return fail(
    "unsupported_media_type",
    `Unsupported Content-Encoding ${
      JSON.stringify(contentEncoding)
    }; use gzip or identity`,
  );
}

/** Decodes one OTLP/HTTP trace request body within `limits`. */
export async function decodeOtlpBody(
  headers: OtlpHeaders,
  body: Uint8Array,
  limits: OtlpLimits,
): Promise<Result<OtlpBody>> {
  const plain = await inflateOtlpBody(headers, body, limits);
  if (!plain.ok) return plain;
  const { encoding, bytes } = plain.value;
  const request = encoding === "protobuf"
    ? decodeTraceRequestProtobuf(bytes)
    : decodeTraceRequestJson(new TextDecoder().decode(bytes));
  if (!request.ok) return request;
  return ok({ encoding, request: request.value });
}

/**
 * The canonical span records of one OTLP/HTTP trace request body: protobuf
 * is read straight into records (`span_reader.ts`), JSON goes through its
 * mapping. Limits and refusals are those of `decodeOtlpBody()` then
 * `exportToSpans()`.
 */
export async function otlpSpanBatch(
  headers: OtlpHeaders,
  body: Uint8Array,
  options: OtelTracesOptions,
): Promise<Result<SpanBatch>> {
  const plain = await inflateOtlpBody(headers, body, options.otlpLimits);
  if (!plain.ok) return plain;
  const { encoding, bytes } = plain.value;
  if (encoding === "protobuf") return readTraceRequest(bytes, options);
  const request = decodeTraceRequestJson(new TextDecoder().decode(bytes));
  if (!request.ok) return request;
  return exportToSpans(request.value, options);
}

/**
 * The encoding and the plain bytes of a body: its content type and
 * encoding checked (415), its size capped (413), gzip inflated under the
 * decoded cap.
 */
async function inflateOtlpBody(
  headers: OtlpHeaders,
  body: Uint8Array,
  limits: OtlpLimits,
): Promise<Result<{ encoding: OtlpEncoding; bytes: Uint8Array }>> {
  const encoding = otlpEncodingOf(headers.contentType);
  if (!encoding.ok) return encoding;
  const gzip = isGzipEncoding(headers.contentEncoding);
  if (!gzip.ok) return gzip;
  const cap = gzip.value ? limits.maxCompressedBytes : limits.maxDecodedBytes;
  if (body.length > cap) {
    return fail(
      "payload_too_large",
      `OTLP request body is larger than ${cap} bytes`,
    );
  }
  if (!gzip.value) return ok({ encoding: encoding.value, bytes: body });
  const inflated = await gunzipBounded(body, limits.maxDecodedBytes);
  if (!inflated.ok) return inflated;
  return ok({ encoding: encoding.value, bytes: inflated.value });
}

/**
 * Inflates gzip `bytes`, stopping as soon as the output passes
 * `maxBytes` (413); corrupt or truncated input is a 400.
 */
export async function gunzipBounded(
  bytes: Uint8Array,
  maxBytes: number,
): Promise<Result<Uint8Array>> {
  const stream = new Blob([bytes as BlobPart]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel();
        return fail(
          "payload_too_large",
          `OTLP request inflates past ${maxBytes} bytes`,
        );
      }
      chunks.push(value);
    }
  } catch (error) {
    return fail(
      "bad_request",
      `Corrupt gzip body: ${(error as Error).message}`,
    );
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return ok(out);
}
