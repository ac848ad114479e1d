/**
 * Interop with the published Yjs server and provider
 * (@durable-streams/y-durable-streams) over an in-process Streambed. The Yjs
 * server compacts a document into a snapshot (taken at the updates stream's
 * tail) once its updates pass a size threshold, and tells readers to resume
 * one byte past the snapshot's offset: a position inside the first update
 * after it, or past the tail when nothing followed yet. Late joiners load the
 * snapshot and must still get every update after it, in both cases. The
 * test runs with `--auth none`, and with `--auth api-key` and the Yjs
 * server sending the key to Streambed.
 */

import assert from "node:assert/strict";
import * as Y from "yjs";
import { YjsProvider } from "@durable-streams/y-durable-streams";
import { YjsServer } from "@durable-streams/y-durable-streams/server";
import { startTestServer } from "./_server.ts";

const ITEMS_PER_WRITER = 40;
const WRITERS = 3;
const SERVICE = "test";
const KEY = "yjs-interop-key-0123456789";

/** The two ways the test runs: no auth, and a keyed Yjs server. */
const MODES = [
  { label: "", headers: {} as Record<string, string> },
  { label: " (auth on)", headers: { authorization: `Bearer ${KEY}` } },
];

/** Resolves when `check` holds, polling; gives up (without failing) after `boundMs`. */
async function until(check: () => boolean, boundMs: number): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!check() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Client {
  doc: Y.Doc;
  provider: YjsProvider;
  items: Y.Array<string>;
}

/** A Y.Doc with a provider on `baseUrl`, once it reports synced. */
async function connect(
  baseUrl: string,
  liveMode: "sse" | "long-poll",
): Promise<Client> {
  const doc = new Y.Doc();
  const provider = new YjsProvider({
    doc,
    baseUrl,
    docId: "doc",
    liveMode,
    connect: false,
  });
  const errors: Error[] = [];
  provider.on("error", (error) => errors.push(error));
  await provider.connect();
  await until(() => provider.synced || errors.length > 0, 10_000);
  assert.deepEqual(errors.map((e) => e.message), [], "connect errors");
  assert.ok(provider.synced, "provider synced");
  return { doc, provider, items: doc.getArray<string>("items") };
}

for (const { label, headers } of MODES) {
  Deno.test(`Yjs late joiners converge after compaction (YjsServer over Streambed)${label}`, async () => {
    const keyed = "authorization" in headers;
    const streambed = await startTestServer({
      http: { longPollTimeoutMs: 1000 },
      auth: keyed ? { mode: "api-key", apiKey: KEY } : {},
    });
    const yjs = new YjsServer({
      dsServerUrl: streambed.url,
      dsServerHeaders: headers,
      compactionThreshold: 1024,
      host: "127.0.0.1",
      port: 0,
    });
    const clients: Client[] = [];
    const updatesUrl =
      `${streambed.url}/v1/stream/yjs/${SERVICE}/docs/doc/.updates`;
    const state = () => yjs.getDocumentState(SERVICE, "doc");
    let written = 0;
    /** Waits until every client holds all `written` items. */
    const converge = async () => {
      await until(
        () => clients.every((c) => c.items.length === written),
        10_000,
      );
      assert.deepEqual(
        clients.map((c) => c.items.length),
        clients.map(() => written),
      );
    };
    /** Writer `w` adds one item (one Yjs update of ~70 bytes). */
    const write = (w: number) => {
      clients[w].items.push([
        `writer ${w} item ${written++} ${"x".repeat(24)}`,
      ]);
    };
    /** Waits for any compaction to finish; returns the updates stream's tail. */
    const settle = async () => {
      await until(() => state()?.compacting === false, 10_000);
      assert.equal(state()?.compacting, false);
      const head = await fetch(updatesUrl, { method: "HEAD", headers });
      assert.equal(head.status, 200);
      await head.body?.cancel();
      return head.headers.get("stream-next-offset")!;
    };
    const log = console.log;
    console.log = () => {}; // the Yjs server logs every compaction
    try {
      if (keyed) {
        const keyless = await fetch(`${streambed.url}/v1/streams`);
        assert.equal(keyless.status, 401, "auth is on");
        await keyless.body?.cancel();
      }
      const baseUrl = `${await yjs.start()}/v1/yjs/${SERVICE}`;
      for (let w = 0; w < WRITERS; w++) {
        clients.push(await connect(baseUrl, w % 2 === 0 ? "sse" : "long-poll"));
      }
      // Interleaved writes from every writer: several compactions.
      for (let i = 0; i < ITEMS_PER_WRITER; i++) {
        for (let w = 0; w < WRITERS; w++) write(w);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await converge();
      assert.ok(state()?.snapshotOffset, "compacted at least once");

      // One item at a time until a compaction ends at the tail: the snapshot
      // then holds everything, and resuming one byte past it is past the tail.
      for (let guard = 0;; guard++) {
        const tail = await settle();
        if (state()?.snapshotOffset === tail) break;
        assert.ok(guard < 100, "a compaction ends at the tail");
        write(guard % WRITERS);
        await converge();
      }
      clients.push(
        await connect(baseUrl, "sse"),
        await connect(baseUrl, "long-poll"),
      );
      await converge();

      // Three more updates (well under the threshold, so no compaction):
      // resuming one byte past the snapshot is inside the first of them.
      const snapshot = state()?.snapshotOffset;
      for (let i = 0; i < 3; i++) write(0);
      await converge();
      assert.notEqual(await settle(), snapshot);
      assert.equal(state()?.snapshotOffset, snapshot, "no new compaction");
      clients.push(
        await connect(baseUrl, "sse"),
        await connect(baseUrl, "long-poll"),
      );
      await converge();
      const expected = clients[0].items.toArray();
      assert.equal(new Set(expected).size, written);
      for (const c of clients) assert.deepEqual(c.items.toArray(), expected);
    } finally {
      // Stopping cuts the Yjs server's proxied live reads, which it logs.
      const error = console.error;
      console.error = () => {};
      try {
        for (const c of clients) {
          await c.provider.disconnect();
          c.provider.destroy();
        }
        await yjs.stop();
        await streambed.close();
        // Let the Yjs server's cut proxy requests fail while its log is muted
        // (only the log depends on this pause, no assertion).
        await new Promise((resolve) => setTimeout(resolve, 100));
      } finally {
        console.log = log;
        console.error = error;
      }
      await Deno.remove(streambed.dataDir, { recursive: true });
    }
  });
}
