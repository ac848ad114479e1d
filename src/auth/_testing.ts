/**
 * @module
 * Helpers for auth tests: keys files written from secrets, a quiet logger
 * that keeps what it was told.
 */

import { createHash } from "node:crypto";
import type { Logger } from "../log.ts";

/** One key of a keys file, given by its secret. */
export interface TestKey {
  /** Key id. */
  id: string;
  /** The secret (the file gets its SHA-256). */
  secret: string;
  /** Scopes. */
  scopes: string[];
  /** Stream globs (default all). */
  streams?: string[];
  /** Rate limit. */
  rate?: { rps: number; burst?: number };
}

/** The keys file text for `keys`. */
export function keysFileText(keys: TestKey[]): string {
  return JSON.stringify({
    keys: keys.map(({ secret, ...rest }) => ({
      ...rest,
      sha256: createHash("sha256").update(secret).digest("hex"),
    })),
  });
}

/** A logger that records lines instead of printing them. */
export function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    debug: (m) => lines.push(`debug ${m}`),
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  };
}
