/**
 * @module
 * A bare HTTP/1.1 client over a TCP socket, for requests `fetch` will not
 * send (malformed `Host` values) and for checking what the server answers
 * before a request body has been sent in full.
 */

/** A parsed response. */
export interface RawResponse {
  /** Status code. */
  status: number;
  /** Header names lowercased. */
  headers: Map<string, string>;
  /** The body as text (by Content-Length). */
  body: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An open connection to the server at `url` (`http://host:port`). */
export class RawConnection {
  #conn: Deno.TcpConn;
  #buffered = new Uint8Array(0);

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** Connects to `url`'s host and port. */
  static async open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    return new RawConnection(
      await Deno.connect({ hostname, port: Number(port) }),
    );
  }

  /** Writes `data` (text or bytes) as it is. */
  async write(data: string | Uint8Array): Promise<void> {
    const bytes = typeof data === "string" ? encoder.encode(data) : data;
    let at = 0;
    while (at < bytes.length) at += await this.#conn.write(bytes.subarray(at));
  }

  /** Reads one response: status line, headers, Content-Length body. */
  async readResponse(): Promise<RawResponse> {
    let end: number;
    while ((end = headEnd(this.#buffered)) < 0) await this.#fill();
    const head = decoder.decode(this.#buffered.subarray(0, end));
    this.#buffered = this.#buffered.subarray(end + 4);
    const [statusLine, ...lines] = head.split("\r\n");
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(":");
      headers.set(
        line.slice(0, colon).trim().toLowerCase(),
        line.slice(colon + 1).trim(),
      );
    }
    const length = Number(headers.get("content-length") ?? "0");
    while (this.#buffered.length < length) await this.#fill();
    const body = decoder.decode(this.#buffered.subarray(0, length));
    this.#buffered = this.#buffered.subarray(length);
    return { status: Number(statusLine.split(" ")[1]), headers, body };
  }

  /** Closes the socket. */
  close(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #fill(): Promise<void> {
    const chunk = new Uint8Array(16 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) throw new Error("connection closed before a response");
    const joined = new Uint8Array(this.#buffered.length + n);
    joined.set(this.#buffered);
    joined.set(chunk.subarray(0, n), this.#buffered.length);
    this.#buffered = joined;
  }
}

function headEnd(bytes: Uint8Array): number {
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (
      bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 &&
      bytes[i + 3] === 10
    ) return i;
  }
  return -1;
}

/** Sends one request with `head` lines and reads the response, then closes. */
export async function rawRequest(
  url: string,
  head: string,
  body = "",
): Promise<RawResponse> {
  const conn = await RawConnection.open(url);
  try {
    await conn.write(head + "\r\n\r\n" + body);
    return await conn.readResponse();
  } finally {
    conn.close();
  }
}
