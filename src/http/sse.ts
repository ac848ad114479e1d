/**
 * @module
 * Server-sent events framing and the SSE read loop (PROTOCOL.md §5.8). Each
 * data event and the control event after it go out in one write, so a client
 * that stops at the first `event: control` never splits a pair. Events are
 * produced as the client takes them (pull), so a slow reader costs a bounded
 * queue, and one that stops reading is disconnected.
 */

import { SSE_KEEP_ALIVE_MS, SSE_QUEUE_HIGH_WATER_BYTES } from "../limits.ts";
import type { Engine } from "../engine/engine.ts";
import type { ReadOutcome } from "../engine/types.ts";
import { isJsonContentType, isTextContentType } from "../protocol/headers.ts";
import { jsonArrayBody } from "../protocol/json.ts";
import { encodeOffset } from "../protocol/offset.ts";
import { responseCursor } from "../protocol/cursor.ts";
import { ok, type Result, StreamError } from "../errors.ts";
import { encodeBase64 } from "./base64.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What the SSE loop needs from the engine. */
export type SseEngine = Pick<Engine, "read" | "waitForData">;

/** What the SSE loop needs. */
export interface SseOptions {
  /** The engine. */
  engine: SseEngine;
  /**
   * How to read from a position (a keyed read, say); `engine.read` of
   * `name` when absent.
   */
  read?: (
    from: number | "start" | "now",
    bytesMax: number,
    fresh?: boolean,
  ) => Promise<Result<ReadOutcome>>;
  /** Stream name. */
  name: string;
  /** First read: start, now or a byte position. */
  from: number | "start" | "now";
  /**
   * The first read, when the caller already did it (to answer a missing
   * stream or bad offset with its status before the 200); the loop sends it
   * and continues from its `nextPos`.
   */
  first?: ReadOutcome;
  /** Client cursor, echoed forward. */
  clientCursor: string | null;
  /** Close the connection after this long (clients reconnect). */
  connectionMs: number;
  /** Read cap per event. */
  readBytesMax: number;
  /** Disconnect a reader that takes nothing from a full queue this long. */
  stallMs: number;
  /** Aborted when the client goes away (the request's signal). */
  signal?: AbortSignal;
}

/**
 * `data:` lines for a payload. A parser strips one space after the colon,
 * so a line that itself starts with a space gets one extra to keep it.
 */
export function dataLines(payload: string): string {
  return payload.split(/\r\n|\r|\n/)
    .map((line) => line.startsWith(" ") ? `data: ${line}\n` : `data:${line}\n`)
    .join("");
}

/** The `data` event for a read: text, JSON array, or base64. */
export function dataEvent(read: ReadOutcome): string {
  const type = read.stream.contentType;
  let payload: string;
  if (isJsonContentType(type)) {
    payload = decoder.decode(jsonArrayBody(read.data));
  } else if (isTextContentType(type)) payload = decoder.decode(read.data);
  else payload = encodeBase64(read.data);
  return `event: data\n${dataLines(payload)}\n`;
}

/** The `control` event after a read or at the tail. */
export function controlEvent(
  nextPos: number,
  upToDate: boolean,
  closed: boolean,
  cursor: string,
): string {
  const control: Record<string, unknown> = {
    streamNextOffset: encodeOffset(nextPos),
  };
  if (closed) control.streamClosed = true;
  else control.streamCursor = cursor;
  if (upToDate) control.upToDate = true;
  return `event: control\ndata:${JSON.stringify(control)}\n\n`;
}

const KEEP_ALIVE = ": keep-alive\n\n";

/** SSE bodies open in this process (for `/metrics`). */
let sseOpen = 0;

/** SSE bodies open now: started and not yet ended, cancelled or cut. */
export function sseConnections(): number {
  return sseOpen;
}

/** The SSE body for a stream: catch-up, then live, until closed or timed out. */
export function sseBody(options: SseOptions): ReadableStream<Uint8Array> {
  const session = new SseSession(options);
  return new ReadableStream<Uint8Array>(
    {
      pull: (controller) => session.pull(controller),
      cancel: () => session.end(),
    },
    {
      highWaterMark: SSE_QUEUE_HIGH_WATER_BYTES,
      size: (chunk) => chunk.byteLength,
    },
  );
}

/**
 * One SSE connection. The body stream asks for an event only while its
 * queue is under the high-water mark, that is once the socket has taken
 * what came before, so a reader that stops reading stops our reads too.
 * One whose queue stays full for `stallMs` is disconnected.
 */
class SseSession {
  readonly #options: SseOptions;
  readonly #gone = new AbortController(); // cancelled, stalled or done
  readonly #signal: AbortSignal;
  readonly #deadline: number;
  #first: ReadOutcome | undefined;
  #from: number | "start" | "now";
  #cursor: string | null;
  #sentAny = false;
  #closed = false;
  #stallTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: SseOptions) {
    this.#options = options;
    this.#signal = options.signal === undefined
      ? this.#gone.signal
      : AbortSignal.any([this.#gone.signal, options.signal]);
    this.#deadline = Date.now() + options.connectionMs;
    this.#first = options.first;
    this.#from = options.from;
    this.#cursor = options.clientCursor;
    sseOpen++;
  }

  /** Enqueues the next event, or closes the body when the loop is over. */
  async pull(
    controller: ReadableStreamDefaultController<Uint8Array>,
  ): Promise<void> {
    clearTimeout(this.#stallTimer);
    let event: string | null = null;
    try {
      event = await this.#next();
    } catch {
      // The stream vanished mid-read: just end.
    }
    if (this.#gone.signal.aborted) return; // cancelled meanwhile
    if (event === null) {
      this.end();
      controller.close();
      return;
    }
    controller.enqueue(encoder.encode(event));
    if ((controller.desiredSize ?? 0) <= 0) this.#watchStall(controller);
  }

  /** Stops waiting and reading: the body was cancelled or is done. */
  end(): void {
    clearTimeout(this.#stallTimer);
    if (!this.#gone.signal.aborted) sseOpen--;
    this.#gone.abort();
  }

  /** Errors the body (dropping its queue) unless a pull comes in time. */
  #watchStall(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#stallTimer = setTimeout(() => {
      this.end();
      controller.error(
        new StreamError(
          "unavailable",
          `SSE reader of stream "${this.#options.name}" took nothing for ${this.#options.stallMs} ms: disconnected`,
        ),
      );
    }, this.#options.stallMs);
  }

  /** The next event: data, control or keep-alive; null ends the body. */
  async #next(): Promise<string | null> {
    const { engine, name, readBytesMax } = this.#options;
    const readFrom = this.#options.read ??
      ((from: number | "start" | "now", bytesMax: number, fresh?: boolean) =>
        engine.read(name, from, bytesMax, fresh));
    // After a wait that returned "changed" the tail is current already.
    let fresh = false;
    while (
      !this.#closed && !this.#signal.aborted && Date.now() < this.#deadline
    ) {
      const first = this.#first;
      this.#first = undefined;
      const read = first !== undefined
        ? ok(first)
        : await readFrom(this.#from, readBytesMax, fresh);
      fresh = false;
      if (!read.ok) return null;
      const r = read.value;
      this.#from = r.nextPos;
      this.#closed = r.closed;
      if (r.data.length > 0) {
        this.#sentAny = true;
        return dataEvent(r) + this.#control(r, r.upToDate);
      }
      if (r.closed || !this.#sentAny || !r.upToDate) {
        // A keyed scan that stopped at its budget reports its progress and
        // goes on scanning.
        this.#sentAny = true;
        return this.#control(r, r.upToDate);
      }
      const waitMs = Math.min(SSE_KEEP_ALIVE_MS, this.#deadline - Date.now());
      if (waitMs <= 0) return null;
      const waited = await engine.waitForData(
        name,
        r.nextPos,
        waitMs,
        this.#signal,
        first === undefined, // a read just brought the tail up to date
      );
      if (!waited.ok || waited.value === "aborted") return null;
      fresh = waited.value === "changed";
      if (waited.value === "timeout") {
        return Date.now() < this.#deadline ? KEEP_ALIVE : null;
      }
    }
    return null;
  }

  #control(r: ReadOutcome, upToDate: boolean): string {
    this.#cursor = responseCursor(this.#cursor, Date.now());
    return controlEvent(r.nextPos, upToDate, r.closed, this.#cursor);
  }
}
