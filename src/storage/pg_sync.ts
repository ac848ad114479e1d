/**
 * @module
 * A synchronous PostgreSQL client for state whose callers are synchronous
 * (subscriptions, the routing-key run catalog): the transaction runs on a
 * Worker's own connection while the calling thread waits on shared memory
 * (`Atomics.wait`), so "commit first, then change memory" keeps holding
 * with no `await` in between, exactly as with SQLite. The wait is bounded
 * by the statement and connect timeouts; past it, or when the database
 * cannot be reached, a call throws `unavailable` (503). Statements may ask
 * to touch at least one row (`expectRows`): when one does not, the whole
 * transaction rolls back and the call reports which one, for
 * compare-and-set writes.
 *
 * Only for tables the async `PgStore` never locks: while the caller waits,
 * its event loop cannot finish a transaction of its own, so a statement
 * here that waited for one of that store's row locks would stall both
 * until the statement timeout.
 */

import { StreamError } from "../errors.ts";
import { PG_SYNC_START_MS, QUERY_TIMEOUT_MARGIN_MS } from "../limits.ts";
import { redact } from "./_pg_schema.ts";
import {
  decodeValue,
  SYNC_DONE,
  SYNC_NEED_BYTES,
  SYNC_WAITING,
  type SyncInit,
  type SyncMessage,
  type SyncResult,
  type SyncStatement,
} from "./_pg_sync_wire.ts";

export type { SyncInit, SyncStatement } from "./_pg_sync_wire.ts";

/** A result row (bigints as strings, bytea as `Uint8Array`). */
export type SyncRow = Record<string, unknown>;

/** A transaction whose `expectRows` statement `index` touched no row. */
export class UnmetExpectation extends Error {
  /** Index of the statement. */
  readonly index: number;
  /** Names the statement. */
  constructor(index: number) {
    super(`statement ${index} matched no row`);
    this.index = index;
  }
}

const FIRST_BUFFER_BYTES = 1 << 20;

/** See the module doc. */
export class PgSyncClient {
  #worker: Worker;
  #ctrl: Int32Array;
  #data: SharedArrayBuffer;
  #init: SyncInit;
  #seq = 0;
  #closed = false;

  /** Starts the Worker; it connects on the first call. */
  constructor(init: SyncInit) {
    this.#init = init;
    this.#worker = new Worker(
      new URL("./_pg_sync_worker.ts", import.meta.url),
      { type: "module" },
    );
    this.#ctrl = new Int32Array(new SharedArrayBuffer(16));
    this.#data = new SharedArrayBuffer(FIRST_BUFFER_BYTES);
    this.#postInit();
  }

  #postInit(): void {
    this.#post({
      type: "init",
      init: this.#init,
      ctrl: this.#ctrl.buffer as SharedArrayBuffer,
      data: this.#data,
    });
  }

  /**
   * Runs `statements` in one transaction and returns each one's rows.
   * Throws `UnmetExpectation` or a `StreamError` (`unavailable`).
   */
  transaction(statements: SyncStatement[], action: string): SyncRow[][] {
    if (this.#closed) {
      throw new StreamError("unavailable", `${action}: the store is closed`);
    }
    const result = this.#call(
      (seq) => ({ type: "request", seq, statements }),
      action,
    );
    if (result.ok) return result.rows;
    if (result.unmet !== undefined) throw new UnmetExpectation(result.unmet);
    throw new StreamError(
      "unavailable",
      `${action}: ${redact(result.message, this.#init.url)}`,
    );
  }

  /**
   * `transaction`, but a statement with `expectRows` that touched no row
   * makes it return undefined (everything rolled back) instead of throwing.
   */
  transactionIf(
    statements: SyncStatement[],
    action: string,
  ): SyncRow[][] | undefined {
    try {
      return this.transaction(statements, action);
    } catch (error) {
      if (error instanceof UnmetExpectation) return undefined;
      throw error;
    }
  }

  /** One statement in its own transaction; its rows. */
  query(text: string, values: unknown[], action: string): SyncRow[] {
    return this.transaction([{ text, values }], action)[0];
  }

  /** Closes the connection and stops the Worker. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#call((seq) => ({ type: "close", seq }), "Closing");
    } catch { /* stopping anyway */ }
    this.#worker.terminate();
  }

  #post(message: SyncMessage): void {
    this.#worker.postMessage(message);
  }

  #call(message: (seq: number) => SyncMessage, action: string): SyncResult {
    // Slot 3 turns 1 once the Worker has loaded the driver and taken
    // `init`; a message posted before it listened may be lost, so `init` is
    // posted again while waiting (the Worker takes the first one).
    const startBy = Date.now() + PG_SYNC_START_MS;
    while (Atomics.load(this.#ctrl, 3) === 0) {
      if (Date.now() > startBy) {
        throw new StreamError(
          "unavailable",
          `${action}: the PostgreSQL client did not start`,
        );
      }
      Atomics.wait(this.#ctrl, 3, 0, 250);
      if (Atomics.load(this.#ctrl, 3) === 0) this.#postInit();
    }
    const seq = ++this.#seq;
    Atomics.store(this.#ctrl, 0, SYNC_WAITING);
    this.#post(message(seq));
    const deadline = Date.now() + this.#init.connectTimeoutMs +
      this.#init.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new StreamError(
          "unavailable",
          `${action}: PostgreSQL did not answer in time`,
        );
      }
      Atomics.wait(this.#ctrl, 0, SYNC_WAITING, left);
      const state = Atomics.load(this.#ctrl, 0);
      if (state === SYNC_WAITING) continue;
      if (Atomics.load(this.#ctrl, 1) !== seq) {
        // The late answer of a call that timed out: wait for ours.
        Atomics.store(this.#ctrl, 0, SYNC_WAITING);
        continue;
      }
      const length = Atomics.load(this.#ctrl, 2);
      if (state === SYNC_NEED_BYTES) {
        Atomics.store(this.#ctrl, 0, SYNC_WAITING);
        this.#data = new SharedArrayBuffer(length * 2);
        this.#post({ type: "buffer", seq, data: this.#data });
        continue;
      }
      if (state === SYNC_DONE) return this.#read(length);
    }
  }

  #read(length: number): SyncResult {
    const bytes = new Uint8Array(this.#data, 0, length).slice();
    return JSON.parse(new TextDecoder().decode(bytes), decodeValue);
  }
}
