/**
 * @module
 * A small leveled logger writing one line per event to stderr.
 */

import type { LogLevel } from "./config.ts";

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Leveled logging. */
export interface Logger {
  /** Detail for debugging. */
  debug(message: string): void;
  /** Normal operation. */
  info(message: string): void;
  /** Something odd that the server survived. */
  warn(message: string): void;
  /** A failure. */
  error(message: string, cause?: unknown): void;
}

/** A logger printing `level` and above to stderr. */
export function createLogger(level: LogLevel): Logger {
  const min = RANK[level];
  const write = (at: LogLevel, message: string) => {
    if (RANK[at] >= min) {
      console.error(
        `${new Date().toISOString()} ${at.toUpperCase()} ${message}`,
      );
    }
  };
  return {
    debug: (m) => write("debug", m),
    info: (m) => write("info", m),
    warn: (m) => write("warn", m),
    error: (m, cause) =>
      write(
        "error",
        cause === undefined
          ? m
          : `${m}: ${
            cause instanceof Error
              ? cause.stack ?? cause.message
              : String(cause)
          }`,
      ),
  };
}
