/**
 * Crash safety of keys and append times: a real server process takes
 * concurrent keyed, timestamped appends and is killed with SIGKILL while
 * requests are in flight. After a restart on the same data dir every
 * acknowledged record is there with its exact key (keyed reads return
 * exactly the records sent with that key) and exact append time (`since=`
 * at that time starts at that record, a millisecond later at the next).
 */

import assert from "node:assert/strict";
import { killServer, spawnServer } from "./_server.ts";

const WRITERS = 4;
const RUN_MS = 1200;
const BASE_MS = Date.parse("2031-01-01T00:00:00Z");

interface Sent {
  n: number;
  key: string;
  timeMs: number;
}

function keyOf(writer: number, n: number): string {
  return `w${writer}-${n % 3}`;
}

async function write(
  url: string,
  writer: number,
  stop: { now: boolean },
  acked: Sent[],
): Promise<void> {
  for (let n = 0; !stop.now; n++) {
    // Times strictly increase per stream, so none is clamped: each stored
    // time is exactly the one sent.
    const sent = { n, key: keyOf(writer, n), timeMs: BASE_MS + n * 3 };
    try {
      const response = await fetch(`${url}/v1/stream/w${writer}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "stream-key": sent.key,
          "stream-timestamp": new Date(sent.timeMs).toISOString(),
        },
        body: JSON.stringify([{ n }]),
      });
      await response.body?.cancel();
      assert.equal(response.status, 204);
      acked.push(sent);
    } catch {
      return; // the server died with this request in flight
    }
  }
}

async function readNs(url: string): Promise<number[]> {
  const out: number[] = [];
  let offset = "-1";
  for (let guard = 0; guard < 10_000; guard++) {
    const response = await fetch(
      `${url}${url.includes("?") ? "&" : "?"}offset=${offset}`,
    );
    assert.equal(response.status, 200);
    out.push(...(await response.json() as { n: number }[]).map((m) => m.n));
    offset = response.headers.get("stream-next-offset")!;
    if (response.headers.get("stream-up-to-date") === "true") return out;
  }
  throw new Error("too many pages");
}

Deno.test("after kill -9 during keyed, timestamped appends, every acknowledged record keeps its exact key and time", async () => {
  const dir = await Deno.makeTempDir({ prefix: "streambed-crash-" });
  let server = await spawnServer(dir, ["--object-store", "none"]);
  try {
    for (let w = 0; w < WRITERS; w++) {
      const created = await fetch(`${server.url}/v1/stream/w${w}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
      });
      await created.body?.cancel();
      assert.equal(created.status, 201);
    }
    const stop = { now: false };
    const acked: Sent[][] = Array.from({ length: WRITERS }, () => []);
    const writers = acked.map((list, w) => write(server.url, w, stop, list));
    await new Promise((resolve) => setTimeout(resolve, RUN_MS));
    await killServer(server); // SIGKILL, requests in flight
    stop.now = true;
    await Promise.all(writers);
    server = await spawnServer(dir, ["--object-store", "none"]);
    for (let w = 0; w < WRITERS; w++) {
      const url = `${server.url}/v1/stream/w${w}`;
      const stored = await readNs(url);
      const acks = acked[w];
      assert.ok(acks.length > 0, `writer ${w} got acknowledgements`);
      // Acknowledged records are all there, in order; at most the one in
      // flight follows.
      assert.deepEqual(stored.slice(0, acks.length), acks.map((s) => s.n));
      assert.ok(stored.length <= acks.length + 1);
      const model: Sent[] = stored.map((n) => ({
        n,
        key: keyOf(w, n),
        timeMs: BASE_MS + n * 3,
      }));
      for (let k = 0; k < 3; k++) {
        const key = `w${w}-${k}`;
        assert.deepEqual(
          await readNs(`${url}?key=${key}`),
          model.filter((s) => s.key === key).map((s) => s.n),
          key,
        );
      }
      for (
        const s of model.filter((_, i) => i % 7 === 0 || i === model.length - 1)
      ) {
        const at = await fetch(
          `${url}?since=${new Date(s.timeMs).toISOString()}`,
        );
        assert.equal((await at.json())[0].n, s.n);
        const after = await fetch(
          `${url}?since=${new Date(s.timeMs + 1).toISOString()}`,
        );
        const next = await after.json() as { n: number }[];
        assert.equal(next[0]?.n, s.n + 1 < stored.length ? s.n + 1 : undefined);
      }
      // New appends go on after the restored times.
      const more = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "stream-key": "late" },
        body: JSON.stringify([{ n: -1 }]),
      });
      await more.body?.cancel();
      assert.equal(more.status, 204);
      const last = model[model.length - 1];
      const tailRead = await fetch(
        `${url}?since=${new Date(last.timeMs + 1).toISOString()}`,
      );
      assert.deepEqual(await tailRead.json(), [{ n: -1 }]);
    }
  } finally {
    await killServer(server);
    await Deno.remove(dir, { recursive: true });
  }
});
