/**
 * @module
 * OTLP/HTTP trace request bodies (profiles.md §6.3) decoded into the OTLP
 * JSON mapping (camelCase fields, hex ids, 64-bit integers as decimal
 * strings), so protobuf and JSON requests share one path to canonical spans.
 * Protobuf goes through protobufjs with the official definitions
 * (`trace_proto.generated.ts`); its decoder bounds message nesting.
 */

import protobuf from "protobufjs";
import { fail, ok, type Result } from "../../errors.ts";
import { TRACE_PROTO_JSON } from "./trace_proto.generated.ts";

const ROOT = protobuf.Root.fromJSON(TRACE_PROTO_JSON as protobuf.INamespace);
const REQUEST = ROOT.lookupType(
  "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest",
);
const RESPONSE = ROOT.lookupType(
  "opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse",
);

// google.rpc.Status (code = 1, message = 2; `details` left empty), the error
// body OTLP/HTTP servers send, built from its field numbers.
const STATUS_TYPE = new protobuf.Type("Status")
  .add(new protobuf.Field("code", 1, "int32"))
  .add(new protobuf.Field("message", 2, "string"));
new protobuf.Root().define("google.rpc").add(STATUS_TYPE);

/** The two request encodings OTLP/HTTP defines. */
export type OtlpEncoding = "protobuf" | "json";

/**
 * Decodes an `ExportTraceServiceRequest` in protobuf into the JSON mapping.
 * Malformed bytes (including nesting past the decoder's bound) are a 400.
 */
export function decodeTraceRequestProtobuf(
  bytes: Uint8Array,
): Result<Record<string, unknown>> {
  let object: Record<string, unknown>;
  try {
    const message = REQUEST.decode(bytes);
    object = REQUEST.toObject(message, {
      longs: String,
      enums: Number,
      bytes: String,
    });
  } catch (error) {
    return fail(
      "bad_request",
      `Malformed OTLP protobuf request: ${(error as Error).message}`,
    );
  }
  rewriteIds(object);
  return ok(object);
}

/** Decodes an OTLP JSON request body; malformed JSON is a 400. */
export function decodeTraceRequestJson(
  text: string,
): Result<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(
      "bad_request",
      `Malformed OTLP JSON request: ${(error as Error).message}`,
    );
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail("bad_request", "An OTLP JSON request must be a JSON object");
  }
  return ok(value as Record<string, unknown>);
}

/**
 * Encodes the `ExportTraceServiceResponse`: empty when every span was
 * accepted, else `partialSuccess {rejectedSpans, errorMessage}`.
 */
export function encodeTraceResponse(
  rejectedSpans: number,
  errorMessage: string,
  encoding: OtlpEncoding,
): Uint8Array {
  const body = rejectedSpans > 0 || errorMessage !== ""
    ? { partialSuccess: { rejectedSpans: String(rejectedSpans), errorMessage } }
    : {};
  if (encoding === "json") {
    const json = rejectedSpans > 0 || errorMessage !== ""
      ? { partialSuccess: { rejectedSpans, errorMessage } }
      : {};
    return new TextEncoder().encode(JSON.stringify(json));
  }
  return RESPONSE.encode(RESPONSE.fromObject(body)).finish();
}

/** gRPC status codes of the HTTP statuses an OTLP request may get. */
const GRPC_CODES: Readonly<Record<number, number>> = {
  400: 3, // INVALID_ARGUMENT
  401: 16, // UNAUTHENTICATED
  403: 7, // PERMISSION_DENIED
  404: 5, // NOT_FOUND
  409: 9, // FAILED_PRECONDITION
  413: 8, // RESOURCE_EXHAUSTED
  415: 3, // INVALID_ARGUMENT
  429: 8, // RESOURCE_EXHAUSTED
  503: 14, // UNAVAILABLE
};

/** The gRPC status code an HTTP status maps to (13 INTERNAL otherwise). */
export function grpcCodeOf(httpStatus: number): number {
  return GRPC_CODES[httpStatus] ?? 13;
}

/**
 * Encodes an OTLP/HTTP error body: a `google.rpc.Status` with `code` and
 * `message`, in protobuf or in its JSON mapping.
 */
export function encodeStatus(
  code: number,
  message: string,
  encoding: OtlpEncoding,
): Uint8Array {
  if (encoding === "json") {
    return new TextEncoder().encode(JSON.stringify({ code, message }));
  }
  return STATUS_TYPE.encode(STATUS_TYPE.fromObject({ code, message }))
    .finish();
}

/** Decodes a `google.rpc.Status` in protobuf (for tests and clients). */
export function decodeStatus(
  bytes: Uint8Array,
): { code: number; message: string } {
  const object = STATUS_TYPE.toObject(STATUS_TYPE.decode(bytes));
  return { code: object.code ?? 0, message: object.message ?? "" };
}

/** Decodes an `ExportTraceServiceResponse` (for tests and clients). */
export function decodeTraceResponse(
  bytes: Uint8Array,
): { rejectedSpans: number; errorMessage: string } {
  const object = RESPONSE.toObject(RESPONSE.decode(bytes), { longs: Number });
  const partial = object.partialSuccess ?? {};
  return {
    rejectedSpans: partial.rejectedSpans ?? 0,
    errorMessage: partial.errorMessage ?? "",
  };
}

/** Ids decoded as base64 become lower-case hex, as the JSON mapping has them. */
function rewriteIds(request: Record<string, unknown>): void {
  for (const rs of asArray(request.resourceSpans)) {
    for (const ss of asArray(rs.scopeSpans)) {
      for (const span of asArray(ss.spans)) {
        hexField(span, "traceId");
        hexField(span, "spanId");
        hexField(span, "parentSpanId");
        for (const link of asArray(span.links)) {
          hexField(link, "traceId");
          hexField(link, "spanId");
        }
      }
    }
  }
}

function asArray(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value : [];
}

function hexField(object: Record<string, unknown>, name: string): void {
  const value = object[name];
  if (typeof value !== "string") return;
  const raw = atob(value);
  let hex = "";
  for (let i = 0; i < raw.length; i++) {
    hex += raw.charCodeAt(i).toString(16).padStart(2, "0");
  }
  object[name] = hex;
}
