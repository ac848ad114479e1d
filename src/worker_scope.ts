/**
 * @module
 * A worker's global scope, typed without `/// <reference lib="deno.worker" />`
 * (JSR refuses directives that change globals for the whole package).
 */

/** The parts of a worker's global scope our workers use. */
export interface WorkerScope<Request> {
  /** Receives messages from the parent. */
  onmessage: ((event: MessageEvent<Request>) => void) | null;
  /** Sends a message to the parent. */
  postMessage(message: unknown): void;
}

/** This worker's scope; call only inside a Worker. */
export function workerScope<Request>(): WorkerScope<Request> {
  return self as unknown as WorkerScope<Request>;
}
