/**
 * @module
 * Reads a request body (chunked or not) into one buffer, refusing bodies over
 * the limit as soon as they cross it rather than after buffering them.
 */

import { fail, ok, type Result } from "../errors.ts";

/** Reads `request`'s body, at most `bytesMax` bytes. */
export async function readBody(
  request: Request,
  bytesMax: number,
): Promise<Result<Uint8Array>> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > bytesMax) {
    return tooLarge(bytesMax);
  }
  if (request.body === null) return ok(new Uint8Array(0));
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = request.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > bytesMax) {
        await reader.cancel().catch(() => {});
        return tooLarge(bytesMax);
      }
      parts.push(value);
    }
  } catch (cause) {
    return fail(
      "bad_request",
      `Could not read the request body: ${(cause as Error).message}`,
    );
  }
  if (parts.length === 1) return ok(parts[0]);
  const body = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    body.set(part, at);
    at += part.length;
  }
  return ok(body);
}

function tooLarge(bytesMax: number): Result<Uint8Array> {
  return fail(
    "payload_too_large",
    `Request body exceeds the limit of ${bytesMax} bytes`,
  );
}
