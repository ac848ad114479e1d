/**
 * @module
 * The console's files as the server serves them: one HTML shell for every
 * console URL (the script routes on the path), and the bundled script and
 * style sheet under content-hashed names, so they can be cached for a year
 * while the shell is revalidated by its ETag. Everything is built from the
 * committed bundle (`assets.generated.ts`); nothing is fetched at run time.
 */

import { createHash } from "node:crypto";
import { CONSOLE_CSS, CONSOLE_JS } from "./assets.generated.ts";

/** One file of the console, ready to serve. */
export interface ConsoleFile {
  /** The bytes. */
  readonly body: Uint8Array<ArrayBuffer>;
  /** `Content-Type`. */
  readonly contentType: string;
  /** A strong ETag (quoted), from the bytes. */
  readonly etag: string;
  /** `Cache-Control`. */
  readonly cacheControl: string;
}

/** The shell and the hashed assets by path. */
export interface ConsoleFiles {
  /** The page every console URL answers. */
  readonly shell: ConsoleFile;
  /** Assets by their path (`/console/assets/console.<hash>.js`). */
  readonly assets: ReadonlyMap<string, ConsoleFile>;
}

/** Where the hashed assets live. */
export const CONSOLE_ASSET_PREFIX = "/console/assets/";

/**
 * The console's Content Security Policy: its own script, style, images and
 * API calls only; no inline code, no frames, no foreign origin.
 */
export const CONSOLE_CSP: string = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** A year: the hashed assets never change under their name. */
const IMMUTABLE = "public, max-age=31536000, immutable";

let built: ConsoleFiles | undefined;

/** The console's files (built once, on first use). */
export function consoleFiles(): ConsoleFiles {
  built ??= buildFiles(CONSOLE_JS, CONSOLE_CSS);
  return built;
}

/** The files for a script and a style sheet (exported for tests). */
export function buildFiles(js: string, css: string): ConsoleFiles {
  const script = file(js, "text/javascript; charset=utf-8", IMMUTABLE);
  const style = file(css, "text/css; charset=utf-8", IMMUTABLE);
  const scriptPath = `${CONSOLE_ASSET_PREFIX}console.${hashOf(script)}.js`;
  const stylePath = `${CONSOLE_ASSET_PREFIX}console.${hashOf(style)}.css`;
  const shell = file(
    shellHtml(scriptPath, stylePath),
    "text/html; charset=utf-8",
    "no-cache",
  );
  return {
    shell,
    assets: new Map([[scriptPath, script], [stylePath, style]]),
  };
}

function shellHtml(scriptPath: string, stylePath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Streambed console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${stylePath}">
<script type="module" src="${scriptPath}"></script>
</head>
<body>
<div id="app"><noscript>The Streambed console needs JavaScript.</noscript></div>
</body>
</html>
`;
}

function file(
  text: string,
  contentType: string,
  cacheControl: string,
): ConsoleFile {
  const body = new TextEncoder().encode(text);
  const digest = createHash("sha256").update(body).digest("hex");
  return { body, contentType, etag: `"${digest.slice(0, 32)}"`, cacheControl };
}

/** The 12 hex digits of a file's ETag that name it. */
function hashOf(file: ConsoleFile): string {
  return file.etag.slice(1, 13);
}
