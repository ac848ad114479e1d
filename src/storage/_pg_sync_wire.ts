/**
 * @module
 * Messages between `pg_sync.ts` and its Worker, and how row values cross
 * as JSON (`bytea` as base64).
 */

import type { Durability } from "../config.ts";

/** How the Worker connects. */
export interface SyncInit {
  /** Connection URL. */
  url: string;
  /** Schema on the search path. */
  schema: string;
  /** Longest statement, ms. */
  statementTimeoutMs: number;
  /** Longest connect, ms. */
  connectTimeoutMs: number;
  /** `os` turns `synchronous_commit` off. */
  durability: Durability;
}

/** One statement of a transaction. */
export interface SyncStatement {
  /** SQL with `$n` parameters. */
  text: string;
  /** Parameter values. */
  values?: unknown[];
  /** Roll back (and report `unmet`) when it touches no row. */
  expectRows?: boolean;
}

/** A transaction to run. */
export interface SyncRequest {
  /** Message kind. */
  type: "request";
  /** Request number. */
  seq: number;
  /** Statements, in order, in one transaction. */
  statements: SyncStatement[];
}

/** Main thread to Worker. */
export type SyncMessage =
  | {
    type: "init";
    init: SyncInit;
    ctrl: SharedArrayBuffer;
    data: SharedArrayBuffer;
  }
  | { type: "buffer"; seq: number; data: SharedArrayBuffer }
  | SyncRequest
  | { type: "close"; seq: number };

/** What a transaction came to. */
export type SyncResult =
  | { ok: true; rows: Record<string, unknown>[][] }
  | { ok: false; message: string; code?: string; unmet?: number };

/** Control word: no answer yet. */
export const SYNC_WAITING = 0;
/** Control word: the answer is in the data buffer. */
export const SYNC_DONE = 1;
/** Control word: the answer needs a bigger data buffer (length in slot 2). */
export const SYNC_NEED_BYTES = 2;

/** JSON replacer: bytes as `{"$b": base64}`. */
export function encodeValue(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) {
    let s = "";
    for (let i = 0; i < value.length; i += 0x8000) {
      s += String.fromCharCode(...value.subarray(i, i + 0x8000));
    }
    return { $b: btoa(s) };
  }
  // A Node Buffer serializes itself as {type: "Buffer", data: [...]}.
  const v = value as { type?: unknown; data?: unknown };
  if (
    v !== null && typeof v === "object" && v.type === "Buffer" &&
    Array.isArray(v.data)
  ) {
    return encodeValue(_key, Uint8Array.from(v.data as number[]));
  }
  return value;
}

/** JSON reviver: the inverse of `encodeValue`. */
export function decodeValue(_key: string, value: unknown): unknown {
  const v = value as { $b?: unknown };
  if (v !== null && typeof v === "object" && typeof v.$b === "string") {
    return Uint8Array.from(atob(v.$b), (c) => c.charCodeAt(0));
  }
  return value;
}
