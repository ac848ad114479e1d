/**
 * @module
 * The smallest server the load benchmark's append and long-poll scenarios
 * accept: streams are arrays in memory, an append pushes its body, a long
 * poll at the tail parks until the next append and gets the messages as one
 * JSON array. It implements almost nothing of the protocol and keeps
 * nothing; it is here to measure what `Deno.serve` and the client cost on
 * their own, the floor under any real server's figures.
 *
 * ```sh
 * deno run -A bench/floor_server.ts --port 4599
 * deno task bench:load -- --url http://127.0.0.1:4599 --only append-json-1,live-longpoll-100
 * ```
 */

import { parseArgs } from "node:util";

const { values } = parseArgs({
  args: Deno.args,
  options: { port: { type: "string", default: "0" } },
});

interface Stream {
  messages: string[];
  waiting: (() => void)[];
}

const streams = new Map<string, Stream>();
const COMMON = {
  "access-control-allow-origin": "*",
  "x-content-type-options": "nosniff",
};

Deno.serve({
  hostname: "127.0.0.1",
  port: Number(values.port),
  onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`),
}, async (request) => {
  const url = new URL(request.url);
  let stream = streams.get(url.pathname);
  if (request.method === "PUT") {
    if (stream === undefined) {
      stream = { messages: [], waiting: [] };
      streams.set(url.pathname, stream);
    }
    return new Response(null, {
      status: 201,
      headers: { ...COMMON, "stream-next-offset": "0" },
    });
  }
  if (stream === undefined) return new Response(null, { status: 404 });
  if (request.method === "POST") {
    stream.messages.push(await request.text());
    for (const wake of stream.waiting.splice(0)) wake();
    return new Response(null, {
      status: 204,
      headers: { ...COMMON, "stream-next-offset": `${stream.messages.length}` },
    });
  }
  const offset = Math.max(0, Number(url.searchParams.get("offset")) || 0);
  if (offset >= stream.messages.length) {
    await new Promise<void>((resolve) => stream.waiting.push(resolve));
  }
  return new Response(`[${stream.messages.slice(offset).join(",")}]`, {
    headers: {
      ...COMMON,
      "content-type": "application/json",
      "stream-next-offset": `${stream.messages.length}`,
      "stream-cursor": "1",
      "stream-up-to-date": "true",
    },
  });
});
