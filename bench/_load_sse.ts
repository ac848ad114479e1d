/**
 * @module
 * Small Server-Sent Events parser (WHATWG "event stream interpretation"):
 * turns a byte stream into `{ type, data }` events. Only the `event` and
 * `data` fields matter to the Durable Streams protocol (PROTOCOL.md §5.8).
 */

/** One dispatched SSE event. */
export interface SseEvent {
  /** Value of the last `event:` field, or `message` when absent. */
  type: string;
  /** `data:` lines joined with `\n`. */
  data: string;
}

/** Events allowed per connection before the parser stops (loop bound). */
export const SSE_EVENTS_MAX = 10_000_000;

/**
 * Parses an SSE byte stream into events; ends when the stream ends or
 * `signal` aborts. The abort cancels the reader explicitly: with many
 * concurrent SSE bodies, Deno 2.9's fetch abort alone sometimes left a
 * pending read unsettled (seen with 50+ readers against the reference server).
 */
export async function* parseSse(
  body: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<SseEvent, void, undefined> {
  const decoder = new TextDecoder();
  const state = { type: "", data: [] as string[] };
  const reader = body.getReader();
  const cancel = (): void => void reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  let buffer = "";
  let events = 0;
  try {
    for (;;) {
      if (signal?.aborted) return;
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let match: RegExpExecArray | null;
      // A lone trailing "\r" may be the first half of "\r\n": wait for more bytes.
      while ((match = /\r\n|\n|\r(?!$)/.exec(buffer)) !== null) {
        const line = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        const event = feedLine(state, line);
        if (event === null) continue;
        yield event;
        events += 1;
        if (events >= SSE_EVENTS_MAX) return;
      }
    }
  } finally {
    signal?.removeEventListener("abort", cancel);
    cancel();
  }
}

function feedLine(
  state: { type: string; data: string[] },
  line: string,
): SseEvent | null {
  if (line === "") {
    if (state.data.length === 0) {
      state.type = "";
      return null;
    }
    const event = {
      type: state.type || "message",
      data: state.data.join("\n"),
    };
    state.type = "";
    state.data = [];
    return event;
  }
  if (line.startsWith(":")) return null;
  const colon = line.indexOf(":");
  const field = colon === -1 ? line : line.slice(0, colon);
  let value = colon === -1 ? "" : line.slice(colon + 1);
  if (value.startsWith(" ")) value = value.slice(1);
  if (field === "event") state.type = value;
  else if (field === "data") state.data.push(value);
  return null;
}
