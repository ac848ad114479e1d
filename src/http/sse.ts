/**
 * @module
 * Server-sent events framing and the SSE read loop (PROTOCOL.md §5.8). Each
 * data event and the control event after it go out in one write, so a client
 * that stops at the first `event: control` never splits a pair.
 */

import type { Engine } from "../engine/engine.ts";
import type { ReadOutcome } from "../engine/types.ts";
import { isJsonContentType, isTextContentType } from "../protocol/headers.ts";
import { jsonArrayBody } from "../protocol/json.ts";
import { encodeOffset } from "../protocol/offset.ts";
import { responseCursor } from "../protocol/cursor.ts";
import { encodeBase64 } from "./base64.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const KEEP_ALIVE_MS = 15_000;

/** What the SSE loop needs. */
export interface SseOptions {
  /** The engine. */
  engine: Engine;
  /** Stream name. */
  name: string;
  /** First read: start, now or a byte position. */
  from: number | "start" | "now";
  /** Client cursor, echoed forward. */
  clientCursor: string | null;
  /** Close the connection after this long (clients reconnect). */
  connectionMs: number;
  /** Read cap per event. */
  readBytesMax: number;
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

/** The SSE body for a stream: catch-up, then live, until closed or timed out. */
export function sseBody(options: SseOptions): ReadableStream<Uint8Array> {
  const { engine, name } = options;
  const gone = new AbortController(); // aborted when the client disconnects
  const signal = gone.signal;
  const deadline = Date.now() + options.connectionMs;
  let cursor = options.clientCursor;
  const nextCursor = () => (cursor = responseCursor(cursor, Date.now()));
  return new ReadableStream<Uint8Array>({
    async start(controller) {
      const send = (text: string) => controller.enqueue(encoder.encode(text));
      let from: number | "start" | "now" = options.from;
      let sentAny = false;
      try {
        while (!signal.aborted && Date.now() < deadline) {
          const read = await engine.read(name, from, options.readBytesMax);
          if (!read.ok) break;
          const r = read.value;
          from = r.nextPos;
          if (r.data.length > 0) {
            send(
              dataEvent(r) +
                controlEvent(r.nextPos, r.upToDate, r.closed, nextCursor()),
            );
            sentAny = true;
            if (r.closed) break;
            continue;
          }
          if (r.closed || !sentAny) {
            send(controlEvent(r.nextPos, true, r.closed, nextCursor()));
            sentAny = true;
            if (r.closed) break;
          }
          const waitMs = Math.min(KEEP_ALIVE_MS, deadline - Date.now());
          if (waitMs <= 0) break;
          const waited = await engine.waitForData(
            name,
            r.nextPos,
            waitMs,
            signal,
          );
          if (!waited.ok || waited.value === "aborted") break;
          if (waited.value === "timeout" && Date.now() < deadline) {
            send(": keep-alive\n\n");
          }
        }
      } catch {
        // The client went away mid-write, or the stream vanished: just end.
      }
      try {
        controller.close();
      } catch { /* already closed by a cancel */ }
    },
    cancel() {
      gone.abort();
    },
  });
}
