/**
 * @module
 * The SIGKILL crash scenario, shared by the SQLite and PostgreSQL crash
 * tests: a real server process takes concurrent appends (half of the
 * writers use idempotent-producer headers), is killed with SIGKILL while
 * requests are in flight, and is restarted with the same flags. Every
 * acknowledged append must be present exactly once, in order, at the
 * offset its acknowledgement named; offsets continue after restart;
 * producer dedupe survives.
 */

import assert from "node:assert/strict";
import { killServer, spawnServer } from "./_server.ts";

const STREAMS = 3;
const WRITERS = 8;
const RUN_MS = 1500;

interface Writer {
  id: string;
  stream: string;
  producer: boolean;
  /** Messages acknowledged, in send order, with the acked next offset. */
  acked: { message: string; nextOffset: string }[];
  /** The message in flight when the server died, if any. */
  inFlight: { message: string; seq: number } | undefined;
  nextSeq: number;
}

async function runWriter(
  url: string,
  w: Writer,
  stop: { now: boolean },
): Promise<void> {
  for (let i = 0; !stop.now; i++) {
    const message = `${w.id}-${i}`;
    const headers: Record<string, string> = {
      "content-type": "application/json",
    };
    if (w.producer) {
      headers["producer-id"] = w.id;
      headers["producer-epoch"] = "0";
      headers["producer-seq"] = String(w.nextSeq);
    }
    w.inFlight = { message, seq: w.nextSeq };
    let response: Response;
    try {
      response = await fetch(`${url}/v1/stream/${w.stream}`, {
        method: "POST",
        headers,
        body: JSON.stringify([message]),
      });
      await response.body?.cancel();
    } catch {
      return; // the server died with this request in flight
    }
    assert.ok(
      response.status === 200 || response.status === 204,
      `append got ${response.status}`,
    );
    w.acked.push({
      message,
      nextOffset: response.headers.get("stream-next-offset")!,
    });
    w.inFlight = undefined;
    w.nextSeq++;
  }
}

/** Reads a whole JSON stream; returns messages with the offset after each. */
async function readAll(
  url: string,
  stream: string,
): Promise<{ message: string; endOffset: string }[]> {
  const out: { message: string; endOffset: string }[] = [];
  let offset = "-1";
  for (let guard = 0; guard < 10_000; guard++) {
    const response = await fetch(`${url}/v1/stream/${stream}?offset=${offset}`);
    assert.equal(response.status, 200);
    const messages = await response.json() as string[];
    const next = response.headers.get("stream-next-offset")!;
    // Per-message end offsets: positions advance by each stored message's bytes.
    let pos = Number(offset === "-1" ? 0 : offset.split("_")[1]);
    for (const message of messages) {
      pos += new TextEncoder().encode(JSON.stringify(message) + ",").length;
      out.push({
        message,
        endOffset: `0000000000000000_${String(pos).padStart(16, "0")}`,
      });
    }
    if (messages.length > 0) assert.equal(out[out.length - 1].endOffset, next);
    offset = next;
    if (response.headers.get("stream-up-to-date") === "true") return out;
  }
  throw new Error("stream never reached up-to-date");
}

/**
 * Runs the scenario against servers started with `extraArgs` (beside a
 * fresh data dir); throws on any lost, duplicated or misplaced append.
 */
export async function sigkillScenario(extraArgs: string[] = []): Promise<void> {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-crash-" });
  let server = await spawnServer(dataDir, extraArgs);
  try {
    for (let s = 0; s < STREAMS; s++) {
      const created = await fetch(`${server.url}/v1/stream/crash-${s}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
      });
      assert.equal(created.status, 201);
    }
    const writers: Writer[] = Array.from({ length: WRITERS }, (_, i) => ({
      id: `w${i}`,
      stream: `crash-${i % STREAMS}`,
      producer: i % 2 === 0,
      acked: [],
      inFlight: undefined,
      nextSeq: 0,
    }));
    const stop = { now: false };
    const running = writers.map((w) => runWriter(server.url, w, stop));
    await new Promise((resolve) => setTimeout(resolve, RUN_MS));
    server.child.kill("SIGKILL");
    await server.child.status;
    stop.now = true;
    await Promise.all(running);
    const ackedTotal = writers.reduce((n, w) => n + w.acked.length, 0);
    assert.ok(
      ackedTotal > 50,
      `expected traffic before the kill, got ${ackedTotal} acks`,
    );
    console.log(
      `acked ${ackedTotal} appends; ${
        writers.filter((w) => w.inFlight).length
      } in flight at the kill`,
    );

    server = await spawnServer(dataDir, extraArgs);
    const recovered = new Map<
      string,
      { message: string; endOffset: string }[]
    >();
    for (let s = 0; s < STREAMS; s++) {
      recovered.set(`crash-${s}`, await readAll(server.url, `crash-${s}`));
    }

    for (const w of writers) {
      const mine = recovered.get(w.stream)!.filter((r) =>
        r.message.startsWith(`${w.id}-`)
      );
      const ackedMessages = w.acked.map((a) => a.message);
      // Acknowledged appends: all present, in order, exactly once, at the acked offset.
      assert.deepEqual(
        mine.slice(0, ackedMessages.length).map((r) => r.message),
        ackedMessages,
        w.id,
      );
      for (let i = 0; i < w.acked.length; i++) {
        assert.equal(
          mine[i].endOffset,
          w.acked[i].nextOffset,
          `${w.id} offset ${i}`,
        );
      }
      // Beyond those, at most the one request that was in flight.
      const extra = mine.slice(ackedMessages.length).map((r) => r.message);
      assert.ok(
        extra.length === 0 ||
          (extra.length === 1 && extra[0] === w.inFlight?.message),
        `${w.id} extra ${extra}`,
      );
      if (!w.producer) continue;
      // Producer dedupe survives the crash: retrying the in-flight seq is a
      // duplicate exactly when it was committed, and an acked seq always is.
      if (w.inFlight !== undefined) {
        const retry = await postAsProducer(
          server.url,
          w,
          w.inFlight.seq,
          w.inFlight.message,
        );
        assert.equal(
          retry.status,
          extra.length === 1 ? 204 : 200,
          `${w.id} retry of in-flight seq`,
        );
      }
      if (w.acked.length > 0) {
        const again = await postAsProducer(
          server.url,
          w,
          0,
          w.acked[0].message,
        );
        assert.equal(again.status, 204, `${w.id} retry of seq 0`);
      }
    }

    // Offsets continue after the restart.
    for (let s = 0; s < STREAMS; s++) {
      const before = await readAll(server.url, `crash-${s}`);
      const tail = before.length === 0
        ? "0000000000000000_0000000000000000"
        : before[before.length - 1].endOffset;
      const after = await fetch(`${server.url}/v1/stream/crash-${s}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(["after-restart"]),
      });
      assert.equal(after.status, 204);
      assert.ok(after.headers.get("stream-next-offset")! > tail);
      const all = await readAll(server.url, `crash-${s}`);
      assert.equal(all[all.length - 1].message, "after-restart");
      assert.equal(all.length, before.length + 1);
    }
  } finally {
    await killServer(server);
    await Deno.remove(dataDir, { recursive: true });
  }
}

async function postAsProducer(
  url: string,
  w: Writer,
  seq: number,
  message: string,
): Promise<Response> {
  const response = await fetch(`${url}/v1/stream/${w.stream}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "producer-id": w.id,
      "producer-epoch": "0",
      "producer-seq": String(seq),
    },
    body: JSON.stringify([message]),
  });
  await response.body?.cancel();
  return response;
}
