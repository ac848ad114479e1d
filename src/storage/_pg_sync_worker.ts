/**
 * @module
 * The Worker side of `pg_sync.ts`: one PostgreSQL connection that runs each
 * request as one transaction and hands the rows back through shared memory,
 * so the requesting thread can wait for them synchronously.
 */

// @ts-types="@types/pg"
import pg from "pg";
import {
  encodeValue,
  SYNC_DONE,
  SYNC_NEED_BYTES,
  type SyncInit,
  type SyncMessage,
  type SyncRequest,
  type SyncResult,
} from "./_pg_sync_wire.ts";
import { QUERY_TIMEOUT_MARGIN_MS } from "../limits.ts";

let init: SyncInit | undefined;
let client: pg.Client | undefined;
let ctrl: Int32Array | undefined;
let data: SharedArrayBuffer | undefined;
let pending: { seq: number; bytes: Uint8Array } | undefined;
let queue: Promise<void> = Promise.resolve();

function reply(seq: number, result: SyncResult): void {
  const bytes = new TextEncoder().encode(JSON.stringify(result, encodeValue));
  deliver(seq, bytes);
}

function deliver(seq: number, bytes: Uint8Array): void {
  if (bytes.byteLength > data!.byteLength) {
    pending = { seq, bytes };
    Atomics.store(ctrl!, 1, seq);
    Atomics.store(ctrl!, 2, bytes.byteLength);
    Atomics.store(ctrl!, 0, SYNC_NEED_BYTES);
  } else {
    pending = undefined;
    new Uint8Array(data!).set(bytes);
    Atomics.store(ctrl!, 1, seq);
    Atomics.store(ctrl!, 2, bytes.byteLength);
    Atomics.store(ctrl!, 0, SYNC_DONE);
  }
  Atomics.notify(ctrl!, 0);
}

async function connected(): Promise<pg.Client> {
  if (client !== undefined) return client;
  const options = init!;
  const c = new pg.Client({
    connectionString: options.url,
    connectionTimeoutMillis: options.connectTimeoutMs,
    statement_timeout: options.statementTimeoutMs,
    query_timeout: options.statementTimeoutMs + 1000,
    keepAlive: true,
    application_name: "streambed",
    options: [
      `-c search_path=${options.schema}`,
      // A transaction whose process stopped between statements (SIGSTOP, a
      // long pause) must not hold its row locks (a manifest generation, a
      // lease) and stall the other nodes: the server ends the session.
      `-c idle_in_transaction_session_timeout=${
        options.statementTimeoutMs + QUERY_TIMEOUT_MARGIN_MS
      }`,
      ...(options.durability === "os" ? ["-c synchronous_commit=off"] : []),
    ].join(" "),
  });
  // A dead connection emits "error"; drop it and connect anew next time.
  c.on("error", () => {
    if (client === c) client = undefined;
  });
  await c.connect();
  client = c;
  return c;
}

async function run(request: SyncRequest): Promise<SyncResult> {
  let c: pg.Client | undefined;
  try {
    c = await connected();
    await c.query("BEGIN");
    const rows: Record<string, unknown>[][] = [];
    for (const [i, s] of request.statements.entries()) {
      const result = await c.query(s.text, s.values);
      if (s.expectRows === true && (result.rowCount ?? 0) === 0) {
        await c.query("ROLLBACK");
        return { ok: false, unmet: i, message: "no row matched" };
      }
      rows.push(result.rows);
    }
    await c.query("COMMIT");
    return { ok: true, rows };
  } catch (error) {
    if (c !== undefined) {
      await c.query("ROLLBACK").catch(() => {
        c!.end().catch(() => {});
        if (client === c) client = undefined;
      });
    }
    const e = error as { message?: string; code?: string };
    return {
      ok: false,
      message: String(e?.message ?? error).split("\n")[0],
      code: typeof e?.code === "string" ? e.code : undefined,
    };
  }
}

self.onmessage = (event: MessageEvent<SyncMessage>) => {
  const message = event.data;
  switch (message.type) {
    case "init":
      if (init !== undefined) return; // a repeat, posted while waiting
      init = message.init;
      ctrl = new Int32Array(message.ctrl);
      data = message.data;
      Atomics.store(ctrl, 3, 1); // the driver is loaded: ready
      Atomics.notify(ctrl, 3);
      return;
    case "buffer":
      data = message.data;
      if (pending !== undefined && pending.seq === message.seq) {
        deliver(pending.seq, pending.bytes);
      }
      return;
    case "request":
      queue = queue.then(async () => reply(message.seq, await run(message)));
      return;
    case "close":
      queue = queue.then(async () => {
        await client?.end().catch(() => {});
        client = undefined;
        reply(message.seq, { ok: true, rows: [] });
      });
      return;
  }
};
