/**
 * @module
 * A small leveled logger writing one line per event to stderr, as text
 * (`time LEVEL message`) or as one JSON object per line (`--log-format
 * json`: `ts`, `level`, `msg`, and `error` when a cause is given).
 */

import type { LogFormat, LogLevel } from "./config.ts";

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

/** Writes one finished line (stderr by default). */
export type LineWriter = (line: string) => void;

/** Writes `line` to stderr. */
export function writeStderr(line: string): void {
  console.error(line);
}

/** A logger printing `level` and above in `format` to `write`. */
export function createLogger(
  level: LogLevel,
  format: LogFormat = "text",
  write: LineWriter = writeStderr,
): Logger {
  const min = RANK[level];
  const line = (at: LogLevel, message: string, cause?: unknown) => {
    if (RANK[at] < min) return;
    const ts = new Date().toISOString();
    const error = cause === undefined
      ? undefined
      : cause instanceof Error
      ? cause.stack ?? cause.message
      : String(cause);
    if (format === "json") {
      write(JSON.stringify({ ts, level: at, msg: message, error }));
    } else {
      const text = error === undefined ? message : `${message}: ${error}`;
      write(`${ts} ${at.toUpperCase()} ${text}`);
    }
  };
  return {
    debug: (m) => line("debug", m),
    info: (m) => line("info", m),
    warn: (m) => line("warn", m),
    error: (m, cause) => line("error", m, cause),
  };
}
