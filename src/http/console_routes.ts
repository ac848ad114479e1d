/**
 * @module
 * The console's pages and assets (`/console`, `/console/stream/{name}`,
 * `/console/server`, `/console/assets/...`): static files from
 * `console/assets.ts`, each with its ETag (a matching `If-None-Match`
 * answers 304), its cache policy and the console's Content Security Policy.
 * They need no key: the data the pages show comes from the public API,
 * called by the page with the user's key.
 */

import {
  CONSOLE_CSP,
  type ConsoleFile,
  consoleFiles,
} from "../console/assets.ts";
import { StreamError } from "../errors.ts";
import type { HttpContext } from "./context.ts";
import { respond } from "./respond.ts";
import { errorResponse } from "./respond.ts";
import type { RouteRequest } from "./router.ts";

/** `GET /console...`: the page shell, whatever the page. */
export function getConsolePage(_ctx: HttpContext, req: RouteRequest): Response {
  return serveFile(consoleFiles().shell, req.request);
}

/** `GET /console/assets/{file}`: a hashed script or style sheet. */
export function getConsoleAsset(
  _ctx: HttpContext,
  req: RouteRequest,
): Response {
  const path = new URL(req.request.url).pathname;
  const file = consoleFiles().assets.get(path);
  if (file === undefined) {
    return errorResponse(
      new StreamError("not_found", `No console asset ${path}`),
      req.request.method,
    );
  }
  return serveFile(file, req.request);
}

/** `file`, or 304 when the client's copy has its ETag. */
function serveFile(file: ConsoleFile, request: Request): Response {
  const headers: Record<string, string> = {
    "etag": file.etag,
    "cache-control": file.cacheControl,
    "content-security-policy": CONSOLE_CSP,
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  };
  if (etagMatches(request.headers.get("if-none-match"), file.etag)) {
    return respond(null, 304, headers);
  }
  headers["content-type"] = file.contentType;
  headers["content-length"] = String(file.body.byteLength);
  return respond(request.method === "HEAD" ? null : file.body, 200, headers);
}

/** RFC 9110 §13.1.2: a list of tags (weak ones compare too), or `*`. */
function etagMatches(header: string | null, etag: string): boolean {
  if (header === null) return false;
  return header.split(",").some((tag) => {
    const t = tag.trim();
    return t === "*" || t === etag || t === `W/${etag}`;
  });
}
