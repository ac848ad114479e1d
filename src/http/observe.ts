/**
 * @module
 * What wraps every request: the `X-Request-Id` (the client's when it is
 * 1..128 characters of `[A-Za-z0-9._:-]`, else a new UUIDv7), echoed on
 * every response; the per-route meters behind `/metrics`; and the access
 * log, one line per request (or per sampled request). On the request path
 * this costs a map lookup, a few array increments and the request id: the
 * meters are built once from the route table, and a log line is formatted
 * only when it is written.
 */

import type { AccessLogMode, LogConfig } from "../config.ts";
import { REQUEST_ID_CHARS_MAX } from "../limits.ts";
import { type LineWriter, writeStderr } from "../log.ts";
import {
  HttpMeters,
  type RouteMeter,
  type RouteName,
} from "../metrics/http_meters.ts";
import type { RequestNote } from "./context.ts";
import { errorNoteOf, withRequestId } from "./respond.ts";
import type { NotedHandler } from "./handler.ts";
import { CONSOLE_ROUTES, STREAM_ROUTES } from "./routes.ts";
import { SUBSCRIPTION_ROUTES } from "./subscription_routes.ts";

/** Routes whose successes `sampled` logs one in `accessLogSampleEvery`. */
export const HOT_ROUTES: ReadonlySet<string> = new Set([
  "stream_get",
  "stream_head",
  "stream_append",
]);

/** What `observeRequests` needs. */
export interface ObserveOptions {
  /** The per-route meters (from the same route table as the handler). */
  meters: HttpMeters;
  /** Format and access-log settings. */
  log: LogConfig;
  /** Where access-log lines go (stderr by default). */
  write?: LineWriter;
}

/** Wraps `inner` with request ids, meters and the access log. */
export function observeRequests(
  inner: NotedHandler,
  options: ObserveOptions,
): (request: Request) => Promise<Response> {
  const { meters, log } = options;
  const write = options.write ?? writeStderr;
  const logs = accessLogFilter(log.accessLog, log.accessLogSampleEvery);
  return async (request) => {
    const startedMs = performance.now();
    const method = request.method;
    const note: RequestNote = {
      requestId: requestIdOf(
        request.headers.get("x-request-id"),
        Math.floor(performance.timeOrigin + startedMs),
      ),
      route: "",
      keyId: "",
    };
    let response = await inner(request, note);
    const durationMs = performance.now() - startedMs;
    const meter = meterOf(meters, note.route, method);
    meter.record(response.status, durationMs / 1000);
    if (response.status >= 400) {
      const error = errorNoteOf(response);
      if (error !== undefined) {
        if (error.overload >= 0) meters.rejections[error.overload]++;
        if (error.body !== null) {
          response = withRequestId(response, error.body, note.requestId);
        }
      }
    }
    response.headers.set("x-request-id", note.requestId);
    if (logs(response.status, meter)) {
      const fields = accessFields(request, response, note, meter, {
        durationMs,
        paths: log.accessLogPaths,
      });
      write(formatAccessLine(fields, log.format));
    }
    return response;
  };
}

/**
 * Whether a response (already counted in `meter`) gets a line: `sampled`
 * logs errors and cold routes always, and the 1st, (N+1)th, ... request of
 * each hot route.
 */
function accessLogFilter(
  mode: AccessLogMode,
  every: number,
): (status: number, meter: RouteMeter) => boolean {
  if (mode !== "sampled") return () => mode === "on";
  return (status, meter) =>
    status >= 400 || !HOT_ROUTES.has(meter.route) ||
    meter.seconds.count % every === 1 % every;
}

function meterOf(
  meters: HttpMeters,
  route: string,
  method: string,
): RouteMeter {
  if (route !== "") {
    const found = meters.route(route);
    if (found !== undefined) return found;
  }
  return method === "OPTIONS" ? meters.preflight : meters.unmatched(method);
}

/** The fields of one access-log line, in print order. */
export interface AccessFields {
  /** When the response head was ready (ISO 8601). */
  ts: string;
  /** `X-Request-Id`. */
  request_id: string;
  /** The API key id; null without auth. Never the secret. */
  key_id: string | null;
  /** HTTP method. */
  method: string;
  /** The route name (`stream_append`), `unmatched` or `preflight`. */
  route: string;
  /** The path without its query, only with `--access-log-paths`. */
  path?: string;
  /** Response status. */
  status: number;
  /** Request body bytes (`Content-Length`; 0 without a body). */
  bytes_in: number;
  /** Response body bytes when declared (`Content-Length`), else null. */
  bytes_out: number | null;
  /** Time to the response head, in ms (three decimals). */
  duration_ms: number;
}

function accessFields(
  request: Request,
  response: Response,
  note: RequestNote,
  meter: RouteMeter,
  extra: { durationMs: number; paths: boolean },
): AccessFields {
  const declared = response.headers.get("content-length");
  const fields: AccessFields = {
    ts: new Date().toISOString(),
    request_id: note.requestId,
    key_id: note.keyId === "" ? null : note.keyId,
    method: request.method,
    route: meter.route,
    status: response.status,
    bytes_in: contentLength(request.headers),
    bytes_out: declared === null ? null : Number(declared),
    duration_ms: Math.round(extra.durationMs * 1000) / 1000,
  };
  if (extra.paths) fields.path = pathOf(request.url);
  return fields;
}

/** The path of `url`, without scheme, host or query. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return query < 0 ? url.slice(start) : url.slice(start, query);
}

/** One access-log line: a JSON object, or `key=value` pairs after the time. */
export function formatAccessLine(
  fields: AccessFields,
  format: LogConfig["format"],
): string {
  if (format === "json") return JSON.stringify({ type: "access", ...fields });
  const path = fields.path === undefined
    ? ""
    : ` path=${JSON.stringify(fields.path)}`;
  return `${fields.ts} ACCESS ${fields.method} ${fields.route}${path} ` +
    `status=${fields.status} in=${fields.bytes_in} ` +
    `out=${fields.bytes_out ?? "-"} ms=${fields.duration_ms} ` +
    `id=${fields.request_id} key=${fields.key_id ?? "-"}`;
}

function contentLength(headers: Headers): number {
  const value = headers.get("content-length");
  if (value === null) return 0;
  const n = Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/** The client's request id when it is sane, else a new one (at `nowMs`). */
export function requestIdOf(given: string | null, nowMs?: number): string {
  return given !== null && isSaneRequestId(given) ? given : uuidv7(nowMs);
}

/** 1..`REQUEST_ID_CHARS_MAX` characters of `[A-Za-z0-9._:-]`. */
export function isSaneRequestId(id: string): boolean {
  if (id.length === 0 || id.length > REQUEST_ID_CHARS_MAX) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    const ok = (c >= 48 && c <= 58) || // 0-9 and ':'
      (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || // A-Z, a-z
      c === 45 || c === 46 || c === 95; // '-', '.', '_'
    if (!ok) return false;
  }
  return true;
}

/** The time part of the ids of the current millisecond, and its time. */
let idPrefix = "";
let idPrefixMs = -1;

/**
 * A UUIDv7 (RFC 9562): 48 bits of Unix time in ms, version 7, and the
 * random bits and variant of a native UUIDv4 (`crypto.randomUUID`, much
 * cheaper than drawing and formatting the bits here). Sorts by creation
 * time to the millisecond, so ids from several nodes interleave in time
 * order.
 */
export function uuidv7(nowMs: number = Date.now()): string {
  if (nowMs !== idPrefixMs) {
    const t = nowMs.toString(16).padStart(12, "0");
    idPrefix = `${t.slice(0, 8)}-${t.slice(8)}-7`;
    idPrefixMs = nowMs;
  }
  // randomUUID(): xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx; keep from after the 4.
  return idPrefix + crypto.randomUUID().slice(15);
}

/**
 * Meters for every operation of the stream, subscription and console route
 * tables (the console's pages share their operations' names).
 */
export function routeMeters(): HttpMeters {
  const names: RouteName[] = [];
  const seen = new Set<string>();
  const routes = [...STREAM_ROUTES, ...SUBSCRIPTION_ROUTES, ...CONSOLE_ROUTES];
  for (const route of routes) {
    for (const [method, operation] of Object.entries(route.methods)) {
      if (seen.has(operation.name)) continue;
      seen.add(operation.name);
      names.push({ name: operation.name, method });
    }
  }
  return new HttpMeters(names);
}
