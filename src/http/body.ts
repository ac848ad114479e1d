/**
 * @module
 * Reads a request body (chunked or not) into one buffer under two limits:
 * the largest body (413) and a byte budget shared by every body held in
 * memory (503 with `Retry-After`). A declared `Content-Length` is checked and
 * reserved before a byte of the body is read, so refused bodies are never
 * buffered; a chunked body reserves as it arrives. The reservation lasts
 * until the caller is done with the body (its append committed or failed).
 */

import { assert } from "../assert.ts";
import { concatBytes } from "../bytes.ts";
import { fail, ok, type Result, type StreamError } from "../errors.ts";
import { errorResponse } from "./respond.ts";

/** Bytes of request bodies held in memory at once, shared by all requests. */
export class BodyBudget {
  /** The most bytes that may be reserved at once. */
  readonly bytesMax: number;
  #reservedBytes = 0;

  /** A budget of `bytesMax` bytes. */
  constructor(bytesMax: number) {
    assert(bytesMax >= 0, "a body budget is not negative");
    this.bytesMax = bytesMax;
  }

  /** Bytes reserved now. */
  get reservedBytes(): number {
    return this.#reservedBytes;
  }

  /** Reserves `bytes` if they fit; false (and nothing reserved) if not. */
  tryReserve(bytes: number): boolean {
    if (this.#reservedBytes + bytes > this.bytesMax) return false;
    this.#reservedBytes += bytes;
    return true;
  }

  /** Returns `bytes` reserved earlier. */
  release(bytes: number): void {
    assert(bytes <= this.#reservedBytes, "released more than was reserved");
    this.#reservedBytes -= bytes;
  }
}

/** The limits a body is read under. */
export interface BodyLimits {
  /** Largest body, in bytes; larger ones get 413. */
  bytesMax: number;
  /** Shared budget; a body that does not fit gets 503. None: unbudgeted. */
  budget?: BodyBudget;
  /**
   * Checks a declared length before the read (the append queue's room); an
   * error refuses the request with its body unread.
   */
  admit?: (bytes: number) => StreamError | undefined;
}

/** A body read under a budget. */
export interface HeldBody {
  /** The body. */
  bytes: Uint8Array;
  /** Bytes reserved for it in the budget; release them when done. */
  reservedBytes: number;
}

const EMPTY = new Uint8Array(0);

/**
 * Reads `request`'s body under `limits`, runs `use` on it, and releases the
 * body's reservation once `use` settles. A refused body answers its error.
 */
export async function withBody(
  request: Request,
  limits: BodyLimits,
  use: (body: Uint8Array) => Promise<Response>,
): Promise<Response> {
  const read = await readHeldBody(request, limits);
  if (!read.ok) return errorResponse(read.error);
  try {
    return await use(read.value.bytes);
  } finally {
    limits.budget?.release(read.value.reservedBytes);
  }
}

/** Reads `request`'s body, at most `bytesMax` bytes, without a budget. */
export async function readBody(
  request: Request,
  bytesMax: number,
): Promise<Result<Uint8Array>> {
  const read = await readHeldBody(request, { bytesMax });
  return read.ok ? ok(read.value.bytes) : read;
}

/**
 * Reads `request`'s body under `limits`. On success the caller owns the
 * reservation; on failure nothing stays reserved.
 */
export async function readHeldBody(
  request: Request,
  limits: BodyLimits,
): Promise<Result<HeldBody>> {
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared)) {
    return await readDeclared(request, Number(declared), limits);
  }
  if (request.body === null) return ok({ bytes: EMPTY, reservedBytes: 0 });
  return await readStreamed(request.body, limits);
}

async function readDeclared(
  request: Request,
  length: number,
  limits: BodyLimits,
): Promise<Result<HeldBody>> {
  if (length > limits.bytesMax) return tooLarge(limits.bytesMax);
  const refused = limits.admit?.(length);
  if (refused !== undefined) return { ok: false, error: refused };
  if (limits.budget !== undefined && !limits.budget.tryReserve(length)) {
    return overBudget();
  }
  try {
    // The HTTP layer reads exactly the declared length, so take it in one
    // step into one buffer. Not touching `request.body` matters: creating
    // that stream costs more than the rest of a small read (appends/s
    // +12-30% in bench/README.md).
    return ok({ bytes: await request.bytes(), reservedBytes: length });
  } catch (cause) {
    limits.budget?.release(length);
    return unreadable(cause);
  }
}

async function readStreamed(
  body: ReadableStream<Uint8Array>,
  limits: BodyLimits,
): Promise<Result<HeldBody>> {
  const reader = body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  let refused: Result<HeldBody> | undefined;
  try {
    while (refused === undefined) {
      const { done, value } = await reader.read();
      if (done) break;
      if (total + value.length > limits.bytesMax) {
        refused = tooLarge(limits.bytesMax);
      } else if (limits.budget?.tryReserve(value.length) === false) {
        refused = overBudget();
      } else {
        total += value.length;
        parts.push(value);
      }
    }
  } catch (cause) {
    refused = unreadable(cause);
  }
  if (refused !== undefined) {
    limits.budget?.release(total);
    await reader.cancel().catch(() => {});
    return refused;
  }
  return ok({
    bytes: parts.length === 0 ? EMPTY : concatBytes(parts),
    reservedBytes: total,
  });
}

function tooLarge(bytesMax: number): Result<HeldBody> {
  return fail(
    "payload_too_large",
    `Request body exceeds the limit of ${bytesMax} bytes`,
  );
}

function overBudget(): Result<HeldBody> {
  return fail(
    "overloaded",
    "Server is busy: too many request bodies are being received",
    { retryAfterSeconds: 1, overload: "body_budget" },
  );
}

function unreadable(cause: unknown): Result<HeldBody> {
  return fail(
    "bad_request",
    `Could not read the request body: ${(cause as Error).message}`,
  );
}
