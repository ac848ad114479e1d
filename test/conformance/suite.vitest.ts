// The upstream Durable Streams conformance suite, pointed at the server
// whose URL test/conformance_test.ts passes in DS_CONFORMANCE_URL.
import { runConformanceTests } from "@durable-streams/server-conformance-tests";

const baseUrl = process.env.DS_CONFORMANCE_URL;
if (!baseUrl) throw new Error("DS_CONFORMANCE_URL is not set");

runConformanceTests({
  baseUrl,
  longPollTimeoutMs: Number(process.env.DS_CONFORMANCE_LONG_POLL_MS ?? "500"),
  subscriptions: process.env.DS_CONFORMANCE_SUBSCRIPTIONS === "1",
});
