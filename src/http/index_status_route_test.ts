/**
 * `_index_status` long-polls against a stand-in context: a client that hangs
 * up ends the wait with 304, a refused wait answers 503, a wait woken with
 * nothing changed waits again.
 */

import assert from "node:assert/strict";
import { fail, ok, type Result } from "../errors.ts";
import type { WaitOutcome } from "../engine/types.ts";
import type { IndexStatusBody } from "../tier/details.ts";
import type { HttpContext } from "./context.ts";
import { getIndexStatus } from "./index_status_route.ts";
import type { RouteRequest } from "./router.ts";

function statusBody(uploaded: number): IndexStatusBody {
  return {
    stream: "s",
    profile: "generic",
    segments: { total_count: uploaded, uploaded_count: uploaded },
    routing_key_index: { configured: false },
    routing_key_lexicon: { configured: false },
    exact_indexes: [],
    bundled_companions: {
      object_count: 0,
      bytes_at_rest: "0",
      fully_indexed_uploaded_segments: true,
    },
    search_families: [],
  };
}

function context(
  uploaded: () => number,
  wait: (ms: number, signal: AbortSignal) => Promise<Result<WaitOutcome>>,
): HttpContext {
  return {
    http: { longPollTimeoutMs: 60_000 },
    indexStatus: () => ok(statusBody(uploaded())),
    indexStatusWait: wait,
  } as unknown as HttpContext;
}

function request(query: string, etag: string, signal?: AbortSignal) {
  return {
    request: new Request(`http://x/v1/stream/s/_index_status?${query}`, {
      headers: { "if-none-match": etag },
      signal,
    }),
    name: "s",
  } as unknown as RouteRequest;
}

async function tagOf(ctx: HttpContext): Promise<string> {
  const r = await getIndexStatus(ctx, request("", ""));
  await r.body?.cancel();
  return r.headers.get("etag")!;
}

Deno.test("_index_status long-poll: a client that hangs up ends the wait with 304", async () => {
  let waits = 0;
  const ctx = context(() => 1, (_ms, signal) => {
    waits++;
    return new Promise((resolve) => {
      if (signal.aborted) resolve(ok("aborted"));
      signal.addEventListener("abort", () => resolve(ok("aborted")));
    });
  });
  const etag = await tagOf(ctx);
  const hangUp = new AbortController();
  const answer = getIndexStatus(
    ctx,
    request("live=long-poll", etag, hangUp.signal),
  );
  hangUp.abort();
  const r = await answer;
  assert.equal(r.status, 304);
  assert.equal(waits, 1);
});

Deno.test("_index_status long-poll: waits again when woken without a change, answers 200 once the tag moves", async () => {
  let uploaded = 1;
  let wakes = 0;
  const ctx = context(() => uploaded, () => {
    wakes++;
    if (wakes === 3) uploaded = 2;
    return Promise.resolve(ok("changed"));
  });
  const etag = await tagOf(ctx);
  const r = await getIndexStatus(ctx, request("live=long-poll", etag));
  assert.equal(r.status, 200);
  assert.equal(wakes, 3);
  assert.equal((await r.json()).segments.uploaded_count, 2);
  assert.notEqual(r.headers.get("etag"), etag);
});

Deno.test("_index_status long-poll: too many waiters answer 503", async () => {
  const ctx = context(
    () => 1,
    () =>
      Promise.resolve(
        fail("overloaded", "Too many index status readers are waiting", {
          retryAfterSeconds: 1,
          overload: "waiters",
        }),
      ),
  );
  const etag = await tagOf(ctx);
  const r = await getIndexStatus(ctx, request("live=long-poll", etag));
  assert.equal(r.status, 503);
  assert.equal((await r.json()).error.code, "overloaded");
  assert.equal(r.headers.get("retry-after"), "1");
  // Without live=long-poll nothing waits: 304 at once.
  const plain = await getIndexStatus(ctx, request("", etag));
  assert.equal(plain.status, 304);
});
