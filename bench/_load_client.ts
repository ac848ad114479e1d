/**
 * @module
 * Minimal Durable Streams HTTP client for the load benchmark: stream URLs,
 * create (PUT), append (POST), and helpers that always drain response bodies
 * so Deno's fetch can reuse keep-alive connections. Refuses non-loopback URLs.
 */

import { RawHttpConnection } from "./_load_raw_http.ts";

/** Header names used by the benchmark (PROTOCOL.md §3). */
export const HEADER = {
  nextOffset: "stream-next-offset",
  upToDate: "stream-up-to-date",
  cursor: "stream-cursor",
  closed: "stream-closed",
} as const;

/** Longest wait for a PUT (create) response. */
export const CREATE_TIMEOUT_MS = 10_000;

/**
 * HTTP client of the timed requests: `raw` (bench/_load_raw_http.ts, one
 * keep-alive socket per writer or reader, little client CPU) or `fetch`.
 */
export type ClientKind = "raw" | "fetch";

/** Where streams live and how this run names them. */
export interface Target {
  /** Server base URL, e.g. `http://127.0.0.1:4437` (no trailing slash). */
  baseUrl: string;
  /** Random per-run prefix so repeated runs never collide. */
  runId: string;
  /** Client of the timed appends and long-poll reads. */
  client: ClientKind;
}

/** Builds a {@linkcode Target}, asserting the URL points at loopback. */
export function makeTarget(url: string, client: ClientKind = "raw"): Target {
  const parsed = new URL(url);
  if (parsed.protocol !== "http:") {
    throw new Error(`Cannot benchmark "${url}": only http:// is supported`);
  }
  if (!isLoopbackHost(parsed.hostname)) {
    throw new Error(
      `Cannot benchmark "${url}": host must be loopback (127.0.0.1, localhost, ::1)`,
    );
  }
  const baseUrl = `${parsed.origin}${parsed.pathname}`.replace(/\/+$/, "");
  return { baseUrl, runId: crypto.randomUUID().slice(0, 8), client };
}

/** True for 127.0.0.0/8, `localhost` and `::1`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  return host === "localhost" || host === "::1" ||
    /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** URL of the stream `<runId>-<name>` under `/v1/stream/`. */
export function streamUrl(target: Target, name: string): string {
  return `${target.baseUrl}/v1/stream/bench-${target.runId}-${name}`;
}

/** Creates a stream with PUT and returns its tail offset (`Stream-Next-Offset`). */
export async function createStream(
  url: string,
  contentType: string,
): Promise<string> {
  const res = await fetch(url, {
    method: "PUT",
    headers: { "content-type": contentType },
    signal: AbortSignal.timeout(CREATE_TIMEOUT_MS),
  });
  await drain(res);
  if (res.status !== 201 && res.status !== 200) {
    throw new Error(`Cannot create stream "${url}": HTTP ${res.status}`);
  }
  return res.headers.get(HEADER.nextOffset) ?? "-1";
}

/** Creates `count` streams named `<prefix>-<i>` and returns their URLs. */
export async function createStreams(
  target: Target,
  prefix: string,
  count: number,
  contentType: string,
): Promise<string[]> {
  const urls = Array.from(
    { length: count },
    (_, i) => streamUrl(target, `${prefix}-${i}`),
  );
  for (const url of urls) await createStream(url, contentType);
  return urls;
}

/** Appends one body with POST; resolves to the HTTP status once the body is drained. */
export async function append(
  url: string,
  contentType: string,
  body: Uint8Array<ArrayBuffer> | string,
  signal?: AbortSignal,
): Promise<number> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": contentType },
    body,
    signal,
  });
  await drain(res);
  return res.status;
}

/** Sends appends: one per call, in order (one writer's connection). */
export type Appender = (
  url: string,
  contentType: string,
  body: Uint8Array<ArrayBuffer> | string,
  signal?: AbortSignal,
) => Promise<number>;

/** A fresh appender: its own socket for `raw`, the shared pool for `fetch`. */
export function makeAppender(target: Target): Appender {
  if (target.client === "fetch") return append;
  const conn = new RawHttpConnection(target.baseUrl);
  const origin = new URL(target.baseUrl).origin;
  return async (url, contentType, body, signal) => {
    const res = await conn.request(
      "POST",
      pathOf(origin, url),
      { "content-type": contentType },
      body,
      signal,
    );
    return res.status;
  };
}

/** A GET's status, headers and text, whichever client made it. */
export interface GetResult {
  /** HTTP status. */
  status: number;
  /** A response header by lower-case name. */
  header(name: string): string | null;
  /** The body as text. */
  text: string;
}

/** Sends GETs of full URLs: one at a time over one socket for `raw`. */
export type Getter = (url: string, signal: AbortSignal) => Promise<GetResult>;

const utf8 = new TextDecoder();

/** A fresh getter for one reader. */
export function makeGetter(target: Target): Getter {
  if (target.client === "fetch") {
    return async (url, signal) => {
      const res = await fetch(url, { signal });
      const text = await res.text();
      return {
        status: res.status,
        header: (name) => res.headers.get(name),
        text,
      };
    };
  }
  const conn = new RawHttpConnection(target.baseUrl);
  const origin = new URL(target.baseUrl).origin;
  return async (url, signal) => {
    const res = await conn.request(
      "GET",
      pathOf(origin, url),
      {},
      undefined,
      signal,
    );
    return {
      status: res.status,
      header: (name) => res.headers.get(name) ?? null,
      text: utf8.decode(res.body),
    };
  };
}

/** Path and query of `url`, which must start with `origin`. */
function pathOf(origin: string, url: string): string {
  if (!url.startsWith(origin + "/")) {
    throw new Error(`"${url}" is not on ${origin}`);
  }
  return url.slice(origin.length);
}

/** True for the append success statuses (PROTOCOL.md §5.2: 204, or 200). */
export function isAppendOk(status: number): boolean {
  return status === 204 || status === 200;
}

/** Reads and discards a response body (if any) so the connection is reusable. */
export async function drain(res: Response): Promise<void> {
  // Reading to the end (not cancel()) lets hyper return the socket to the pool.
  if (res.body !== null) await res.arrayBuffer();
}

/** Reads a whole body, counting bytes without keeping them. */
export async function countBodyBytes(res: Response): Promise<number> {
  if (res.body === null) return 0;
  let bytes = 0;
  for await (const chunk of res.body) bytes += chunk.byteLength;
  return bytes;
}

/**
 * Waits for `promise` at most `timeoutMs`; true if it settled in time. The
 * timer is cleared either way so it never keeps the process alive.
 */
export async function settlesWithin(
  promise: Promise<unknown>,
  timeoutMs: number,
): Promise<boolean> {
  const timer = new AbortController();
  const settled = promise.then(() => true, () => true);
  try {
    return await Promise.race([
      settled,
      sleep(timeoutMs, timer.signal).then(() => false),
    ]);
  } finally {
    timer.abort();
  }
}

/** Resolves after `delayMs`, or at once when `signal` aborts. */
export function sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, Math.max(0, delayMs));
    signal?.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}
