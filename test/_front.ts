/**
 * A front for tests of several nodes: an HTTP server on port 0 that sends
 * each request to a node picked at random, as a load balancer with no
 * stickiness would.
 */

/** Hop-by-hop and framing headers the front does not pass on. */
const DROPPED = ["host", "connection", "keep-alive", "transfer-encoding"];

/**
 * A front on port 0 sending each request to a random node of `urls`, or
 * with `roundRobin` to each node in turn (so consecutive requests, say a
 * write and the read after it, always go to different nodes).
 */
export function randomFront(urls: string[], roundRobin = false): {
  url: string;
  counts: number[];
  close: () => Promise<void>;
} {
  const counts = urls.map(() => 0);
  let turn = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const pick = roundRobin
        ? turn++ % urls.length
        : Math.floor(Math.random() * urls.length);
      counts[pick]++;
      const incoming = new URL(request.url);
      const headers = new Headers(request.headers);
      for (const name of DROPPED) headers.delete(name);
      const hasBody = request.method !== "GET" && request.method !== "HEAD";
      let response: Response;
      try {
        response = await fetch(
          `${urls[pick]}${incoming.pathname}${incoming.search}`,
          {
            method: request.method,
            headers,
            body: hasBody ? await request.arrayBuffer() : undefined,
            redirect: "manual",
            signal: request.signal,
          },
        );
      } catch {
        return new Response(null, { status: 502 }); // the client hung up
      }
      const out = new Headers(response.headers);
      // fetch decoded the body already.
      out.delete("content-encoding");
      out.delete("content-length");
      const empty = request.method === "HEAD" ||
        [101, 204, 205, 304].includes(response.status);
      if (empty) await response.body?.cancel();
      return new Response(empty ? null : response.body, {
        status: response.status,
        statusText: response.statusText,
        headers: out,
      });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    counts,
    close: () => server.shutdown(),
  };
}
