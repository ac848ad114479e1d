/**
 * @module
 * A small HTTP/1.1 client over one keep-alive TCP connection, for the load
 * benchmark's `--client raw`. `fetch` spends 50-70 µs of client CPU per
 * request here; on a 2-core machine that CPU is taken from the server under
 * test, and a reader's delivery latency becomes the time the client needs
 * to get through the other readers' responses. This client does only what
 * the benchmark needs: one request at a time per connection, bodies by
 * `Content-Length` or chunked encoding, loopback `http:` only.
 */

import { concatBytes } from "../src/bytes.ts";

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");
const CR = 13;
const LF = 10;
/** Largest response head accepted. */
const HEAD_BYTES_MAX = 64 * 1024;
/** Largest response body accepted. */
const BODY_BYTES_MAX = 256 * 1024 * 1024;

/** A response: status, lower-case headers and the whole body. */
export interface RawResponse {
  /** HTTP status. */
  status: number;
  /** Header values by lower-case name (a repeated header keeps the last). */
  headers: Map<string, string>;
  /** The body (empty when there is none). */
  body: Uint8Array;
}

/** One keep-alive connection; reconnects after the server closes it. */
export class RawHttpConnection {
  #hostname: string;
  #port: number;
  #host: string;
  #conn: Deno.TcpConn | undefined;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  #busy = false;

  /** `baseUrl` is `http://host:port` (any path is ignored). */
  constructor(baseUrl: string) {
    const url = new URL(baseUrl);
    if (url.protocol !== "http:") throw new Error("raw client: http only");
    this.#hostname = url.hostname.replace(/^\[|\]$/g, "");
    this.#port = Number(url.port || 80);
    this.#host = url.host;
  }

  /**
   * Sends one request and reads the whole response. `path` includes the
   * query. Aborting `signal` closes the connection and rejects.
   */
  async request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: Uint8Array | string,
    signal?: AbortSignal,
  ): Promise<RawResponse> {
    if (this.#busy) throw new Error("raw client: one request at a time");
    signal?.throwIfAborted();
    this.#busy = true;
    const onAbort = () => this.close();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const conn = this.#conn ??= await this.#connect();
      await writeAll(
        conn,
        encodeRequest(this.#host, method, path, headers, body),
      );
      const response = await this.#readResponse(conn, method === "HEAD");
      if (response.headers.get("connection")?.toLowerCase() === "close") {
        this.close();
      }
      return response;
    } catch (error) {
      this.close();
      if (signal?.aborted) throw signal.reason;
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
      this.#busy = false;
    }
  }

  /** Closes the socket; the next request opens a new one. */
  close(): void {
    const conn = this.#conn;
    this.#conn = undefined;
    this.#start = this.#end = 0;
    try {
      conn?.close();
    } catch {
      // already closed
    }
  }

  async #connect(): Promise<Deno.TcpConn> {
    const conn = await Deno.connect({
      hostname: this.#hostname,
      port: this.#port,
    });
    conn.setNoDelay(true);
    return conn;
  }

  async #readResponse(conn: Deno.TcpConn, head: boolean): Promise<RawResponse> {
    let headEnd: number;
    while ((headEnd = this.#find4(this.#start)) < 0) {
      if (this.#end - this.#start > HEAD_BYTES_MAX) {
        throw new Error("raw client: response head too large");
      }
      await this.#fill(conn);
    }
    const lines = latin1.decode(this.#buf.subarray(this.#start, headEnd))
      .split("\r\n");
    this.#start = headEnd + 4;
    const status = Number(lines[0].split(" ", 3)[1]);
    if (!Number.isInteger(status)) {
      throw new Error(`raw client: bad status line "${lines[0]}"`);
    }
    const headers = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(":");
      if (colon <= 0) continue;
      headers.set(
        lines[i].slice(0, colon).trim().toLowerCase(),
        lines[i].slice(colon + 1).trim(),
      );
    }
    const noBody = head || status === 204 || status === 304 ||
      (status >= 100 && status < 200);
    if (noBody) return { status, headers, body: new Uint8Array(0) };
    if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) {
      return { status, headers, body: await this.#readChunked(conn) };
    }
    const length = headers.get("content-length");
    if (length === undefined) {
      throw new Error("raw client: response without length (not supported)");
    }
    return {
      status,
      headers,
      body: await this.#readExact(conn, Number(length)),
    };
  }

  async #readExact(conn: Deno.TcpConn, length: number): Promise<Uint8Array> {
    if (!(length >= 0 && length <= BODY_BYTES_MAX)) {
      throw new Error(`raw client: bad content-length ${length}`);
    }
    while (this.#end - this.#start < length) await this.#fill(conn, length);
    const body = this.#buf.slice(this.#start, this.#start + length);
    this.#start += length;
    return body;
  }

  async #readChunked(conn: Deno.TcpConn): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      let lineEnd: number;
      while ((lineEnd = this.#findCrlf(this.#start)) < 0) {
        await this.#fill(conn);
      }
      const size = parseInt(
        latin1.decode(this.#buf.subarray(this.#start, lineEnd)).split(";")[0],
        16,
      );
      this.#start = lineEnd + 2;
      if (!(size >= 0)) throw new Error("raw client: bad chunk size");
      if (size === 0) {
        // Trailers (none expected), then the final CRLF.
        for (;;) {
          while ((lineEnd = this.#findCrlf(this.#start)) < 0) {
            await this.#fill(conn);
          }
          const empty = lineEnd === this.#start;
          this.#start = lineEnd + 2;
          if (empty) break;
        }
        break;
      }
      total += size;
      if (total > BODY_BYTES_MAX) throw new Error("raw client: body too large");
      parts.push(await this.#readExact(conn, size));
      await this.#readExact(conn, 2); // CRLF after the chunk
    }
    return concatBytes(parts);
  }

  // Reads more bytes, compacting or growing the buffer so that at least
  // `want` bytes (from #start) fit.
  async #fill(conn: Deno.TcpConn, want = 0): Promise<void> {
    if (this.#start > 0 && this.#start === this.#end) {
      this.#start = this.#end = 0;
    }
    const needed = Math.max(want, this.#end - this.#start + 16 * 1024);
    if (needed > this.#buf.length - this.#start) {
      const grown = new Uint8Array(Math.max(needed, this.#buf.length));
      grown.set(this.#buf.subarray(this.#start, this.#end));
      this.#end -= this.#start;
      this.#start = 0;
      this.#buf = grown;
    }
    const n = await conn.read(this.#buf.subarray(this.#end));
    if (n === null) throw new Error("raw client: connection closed by server");
    this.#end += n;
  }

  #find4(from: number): number {
    const b = this.#buf;
    for (let i = from; i + 3 < this.#end; i++) {
      if (
        b[i] === CR && b[i + 1] === LF && b[i + 2] === CR && b[i + 3] === LF
      ) {
        return i;
      }
    }
    return -1;
  }

  #findCrlf(from: number): number {
    const b = this.#buf;
    for (let i = from; i + 1 < this.#end; i++) {
      if (b[i] === CR && b[i + 1] === LF) return i;
    }
    return -1;
  }
}

function encodeRequest(
  host: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body: Uint8Array | string | undefined,
): Uint8Array {
  const payload = typeof body === "string" ? encoder.encode(body) : body;
  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\n`;
  for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
  if (payload !== undefined || method === "POST" || method === "PUT") {
    head += `content-length: ${payload?.length ?? 0}\r\n`;
  }
  head += "\r\n";
  const headBytes = encoder.encode(head);
  if (payload === undefined || payload.length === 0) return headBytes;
  const out = new Uint8Array(headBytes.length + payload.length);
  out.set(headBytes);
  out.set(payload, headBytes.length);
  return out;
}

async function writeAll(conn: Deno.TcpConn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    at += await conn.write(bytes.subarray(at));
  }
}
