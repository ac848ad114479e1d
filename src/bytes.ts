/**
 * @module
 * Byte buffers: joining parts, and reading a body stream whole under a byte
 * limit (cancelling the stream as soon as it crosses the limit, rather than
 * after buffering it).
 */

/** Joins `parts` into one buffer; a single part is returned as is. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Reads `body` whole; `undefined` (after cancelling it) once it passes
 * `bytesMax`. Read errors reject.
 */
export async function readBytesLimited(
  body: ReadableStream<Uint8Array>,
  bytesMax: number,
): Promise<Uint8Array | undefined> {
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > bytesMax) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    parts.push(value);
  }
  return parts.length === 0 ? new Uint8Array(0) : concatBytes(parts);
}
