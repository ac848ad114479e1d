/**
 * @module
 * Bounded HTTP fuzzing (fast-check) of a real in-process server, through
 * `fetch` for well-formed requests and through a raw `Deno.connect` client for
 * what `fetch` refuses or normalises (Host, framing headers, dot segments,
 * raw bytes in the request line). Properties:
 *
 * - no 5xx, except a 503 that carries `Retry-After`;
 * - a rejected request (4xx) wrote nothing, and neither did a PUT or POST
 *   whose body never completed: the stream its URL names looks the same to a
 *   HEAD (status, next offset, closed, type) before and after;
 * - the server stays up (`/health` answers 200 after every run);
 * - canary streams, written at the start and never targeted, read back
 *   byte-identical at the end.
 *
 * Requests run one at a time, so each check sees only its own request.
 * `FUZZ_RUNS` sets the runs per property (default 400: about 4 s alone);
 * `FUZZ_SEED` replays a seed that fast-check printed.
 */

import assert from "node:assert/strict";
import fc from "fast-check";
import { startTestServer } from "./_server.ts";

const RUNS = Number(Deno.env.get("FUZZ_RUNS") ?? "400");
const SEED = Deno.env.get("FUZZ_SEED");
const BODY_MAX = 64 * 1024;
const RAW_DEADLINE_MS = 5_000;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// ---------------------------------------------------------------- generators

/** Stream names the requests share, so creates, appends and deletes meet. */
const POOL = ["fz/a", "fz/b", "fz/json", "fz/deep/x"];

const CANARIES: { name: string; type: string; bodies: Uint8Array[] }[] = [
  {
    name: "canary/json",
    type: "application/json",
    bodies: [encoder.encode('[{"a":1},{"b":"x"}]'), encoder.encode('"s"')],
  },
  {
    name: "canary/text",
    type: "text/plain",
    bodies: [encoder.encode("hello\n"), encoder.encode("world\n")],
  },
  {
    name: "canary/bin",
    type: "application/octet-stream",
    bodies: [Uint8Array.from({ length: 256 }, (_, i) => i)],
  },
];

const nameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...POOL) },
  {
    weight: 2,
    arbitrary: fc.array(
      fc.constantFrom(
        "fz",
        "a",
        ".",
        "..",
        "%2e",
        "%2E%2e",
        "",
        "__ds",
        "_details",
        "canary",
      ),
      { minLength: 1, maxLength: 5 },
    ).map((parts) => parts.join("/")),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "%00",
      "a%00b",
      "%zz",
      "%",
      "%c3%28",
      "%ff",
      "fz%2fa",
      "%5c",
      "%0a",
      "%20",
      "a?b",
      "a#b",
      "a\\b",
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  // "x*N" stands for N times "x" (see `expand`), to keep reports short.
  { weight: 1, arbitrary: fc.constantFrom("x*1024", "x*1025", "x*5000") },
);

/** Which body a subscription route expects. */
type SubscriptionBody = "config" | "streams" | "claim" | "ack";

/** A method, a path under `__ds/subscriptions/`, and the body it takes. */
const subscriptionRouteArb: fc.Arbitrary<[string, string, SubscriptionBody]> =
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom<[string, string, SubscriptionBody]>(
        ["PUT", "fz", "config"],
        ["PUT", "fz2", "config"],
        ["GET", "fz", "config"],
        ["DELETE", "fz", "config"],
        ["POST", "fz/streams", "streams"],
        ["DELETE", "fz/streams/fz/a", "streams"],
        ["POST", "fz/claim", "claim"],
        ["POST", "fz/ack", "ack"],
        ["POST", "fz/release", "ack"],
        ["POST", "fz/callback", "ack"],
      ),
    },
    {
      weight: 1,
      arbitrary: fc.tuple(
        fc.constantFrom("GET", "PUT", "POST", "DELETE", "PATCH"),
        fc.constantFrom("", "bad id", "fz/x", "fz/streams", "/claim"),
        fc.constantFrom<SubscriptionBody>("config", "streams", "claim", "ack"),
      ),
    },
  );

/** Paths outside `/v1/stream/{name}` and the subscription APIs. */
const otherPathArb: fc.Arbitrary<string> = fc.constantFrom(
  "/v1/streams",
  "/v1/streams?prefix=fz/&limit=2",
  "/v1/streams?limit=",
  "/v1/streams?limit=0",
  "/v1/streams?after=%ff",
  "/health",
  "/",
  "/v1/stream",
  "/v1/stream/",
  "/v1/stream/__ds/jwks.json",
);

const queryArb: fc.Arbitrary<string> = fc.record({
  offset: valuesOf(
    ["-1", "now", "0000000000000000_0000000000000000"],
    [
      "0000000000000000_0000000000000005",
      "9999999999999999_9999999999999999",
      "",
      "-2",
      "abc",
    ],
  ),
  live: valuesOf(["long-poll", "sse"], ["poll", ""]),
  cursor: valuesOf(["1"], ["-1", "x", ""]),
  timeout: valuesOf(["0", "0.001"], ["abc", "-1", "1e3"]),
}, { requiredKeys: [] }).map((params) => {
  const query = new URLSearchParams(params as Record<string, string>);
  const text = query.toString();
  return text === "" ? "" : "?" + text;
});

/** One value per header, the valid ones first and more likely. */
function valuesOf(valid: string[], invalid: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...valid) },
    { weight: 1, arbitrary: fc.constantFrom(...invalid) },
  );
}

const contentTypeArb = valuesOf(
  ["application/json", "text/plain", "application/octet-stream"],
  ["APPLICATION/JSON; charset=utf-8", "", "garbage", "a/b/c"],
);

/** Protocol headers with good and bad values (printable ASCII for fetch). */
const headerArbs: Record<string, fc.Arbitrary<string>> = {
  // No valid TTL of a few seconds: a stream expiring between the two HEADs
  // around a request would look like a write.
  // TTL 0 and a past expiry time are valid but end the stream at once: they
  // sit with the invalid values to keep them rare.
  "stream-ttl": valuesOf(["86400", "3153600000"], [
    "0",
    "3153600001",
    "-1",
    "01",
    "1.5",
    "abc",
    "",
    "99999999999999999999",
  ]),
  "stream-expires-at": valuesOf(["2100-01-01T00:00:00Z"], [
    "2000-01-01T00:00:00Z",
    "2100-13-45T99:99:99Z",
    "tomorrow",
    "",
  ]),
  "stream-closed": valuesOf(["true", "TRUE", "false"], ["1", ""]),
  "stream-seq": valuesOf(["1", "2", "b"], ["", "~~~"]),
  "stream-forked-from": valuesOf(
    ["/v1/stream/fz/a", "/v1/stream/canary/json"],
    [
      "http://other/v1/stream/canary/text",
      "/v1/stream/",
      "fz/a",
      "/v1/stream/%zz",
    ],
  ),
  "stream-fork-offset": valuesOf(
    ["-1", "0000000000000000_0000000000000003"],
    ["x", "9999999999999999_9999999999999999"],
  ),
  "stream-fork-sub-offset": valuesOf(["0", "1"], ["-1", "99999999999999999"]),
  "if-none-match": valuesOf(["*"], ['"x"', "W/*", ""]),
};

const producerArb: fc.Arbitrary<Record<string, string>> = fc.record({
  "producer-id": valuesOf(["p1", "p2", "p1", "p2"], [""]),
  "producer-epoch": valuesOf(["0", "1", "2"], [
    "-1",
    "9007199254740992",
    "1e3",
  ]),
  "producer-seq": valuesOf(["0", "1", "2", "3"], ["7", "x"]),
}, { requiredKeys: ["producer-id", "producer-epoch", "producer-seq"] });

/** Usually a content type, at most three other headers, sometimes a producer. */
const headersArb: fc.Arbitrary<Record<string, string>> = fc.record({
  type: fc.option(contentTypeArb, { freq: 5 }),
  others: fc.array(
    fc.constantFrom(...Object.keys(headerArbs)).chain((name) =>
      headerArbs[name].map((value) => [name, value] as const)
    ),
    { maxLength: 3 },
  ),
  producer: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: producerArb },
  ),
}).map(({ type, others, producer }) => ({
  ...(type === null ? {} : { "content-type": type }),
  ...Object.fromEntries(others),
  ...(producer ?? {}),
}));

/** A body, kept small in reports: bytes, text, `[` nesting, or a fill. */
type BodySpec =
  | { bytes: Uint8Array }
  | { text: string }
  | { depth: number }
  | { fill: number };

const bodyArb: fc.Arbitrary<BodySpec> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ text: "" }) },
  {
    weight: 3,
    arbitrary: fc.uint8Array({ maxLength: 512 }).map((bytes) => ({ bytes })),
  },
  {
    weight: 3,
    arbitrary: fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 5 }).map(
      (items) => ({ text: JSON.stringify(items) }),
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "[",
      "{",
      "[1,]",
      "[1] x",
      '"unterminated',
      "[]",
      "{}",
      "nul",
      "\u0000",
      "[\ud800]",
    ).map((text) => ({ text })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(100, 10_000, 30_000).map((depth) => ({ depth })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(BODY_MAX, BODY_MAX + 1).map((fill) => ({
      fill,
    })),
  },
);

/**
 * A subscription or delivery body of `kind`, valid but for up to two fields
 * replaced. Webhook URLs are loopback or invalid only, and the wake stream is
 * never a canary or a pooled target.
 */
function subscriptionBodyArb(
  kind: SubscriptionBody,
): fc.Arbitrary<Record<string, unknown>> {
  const bases: Record<SubscriptionBody, Record<string, unknown>[]> = {
    config: [
      {
        type: "pull-wake",
        pattern: "fz/**",
        wake_stream: "/v1/stream/fz/wake",
      },
      {
        type: "pull-wake",
        streams: ["/v1/stream/fz/a"],
        wake_stream: "fz/wake",
      },
    ],
    streams: [{ streams: ["/v1/stream/fz/b", "/v1/stream/canary/json"] }],
    claim: [{ worker: "w1" }],
    ack: [{ wake_id: "w-1", generation: 1, acks: [], done: true }],
  };
  const field = fc.constantFrom<[string, unknown]>(
    ["type", "webhook"],
    ["type", "x"],
    ["pattern", "**"],
    ["pattern", "a**"],
    ["pattern", 5],
    ["streams", [""]],
    ["streams", "fz/a"],
    ["wake_stream", "__ds/x"],
    ["wake_stream", ""],
    ["webhook", { url: "http://127.0.0.1:1/hook" }],
    ["webhook", { url: "https://localhost/hook" }],
    ["webhook", { url: "not a url" }],
    ["lease_ttl_ms", 0],
    ["lease_ttl_ms", 1.5],
    ["lease_ttl_ms", 1e12],
    ["description", "d".repeat(5000)],
    ["worker", ""],
    ["generation", 2 ** 60],
    ["acks", [{ stream: "/v1/stream/fz/a", offset: "x" }]],
    ["done", "yes"],
  );
  return fc.tuple(
    fc.constantFrom(...bases[kind]),
    fc.array(field, { maxLength: 2 }),
  ).map(([body, fields]) => ({ ...body, ...Object.fromEntries(fields) }));
}

function bodyBytes(spec: BodySpec): Uint8Array {
  if ("bytes" in spec) return spec.bytes;
  if ("text" in spec) return encoder.encode(spec.text);
  if ("depth" in spec) {
    return encoder.encode("[".repeat(spec.depth) + "]".repeat(spec.depth));
  }
  return new Uint8Array(spec.fill).fill(0x61);
}

/** Replaces each "x*N" with N times "x". */
function expand(text: string): string {
  return text.replace(/x\*(\d+)/g, (_, n) => "x".repeat(Number(n)));
}

interface FetchRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: BodySpec;
}

/** Stream requests: mostly the protocol's methods on pooled names. */
/** The content type each pooled stream is usually created and written with. */
const NATURAL_TYPE: Record<string, string> = {
  "fz/a": "text/plain",
  "fz/b": "application/octet-stream",
  "fz/json": "application/json",
  "fz/deep/x": "text/plain",
};

/** Stream requests: mostly the protocol's methods on pooled names. */
const streamRequestArb: fc.Arbitrary<FetchRequest> = fc.record({
  method: fc.oneof(
    { weight: 6, arbitrary: fc.constant("POST") },
    { weight: 3, arbitrary: fc.constantFrom("PUT", "GET") },
    { weight: 1, arbitrary: fc.constantFrom("HEAD", "DELETE") },
    {
      weight: 1,
      arbitrary: fc.constantFrom("OPTIONS", "PATCH", "PROPFIND", "get"),
    },
  ),
  name: nameArb,
  natural: fc.nat(3).map((n) => n > 0),
  query: queryArb,
  headers: headersArb,
  body: bodyArb,
}).map(({ name, natural, headers, ...rest }) => ({
  ...rest,
  path: "/v1/stream/" + name,
  headers: natural && name in NATURAL_TYPE
    ? { ...headers, "content-type": NATURAL_TYPE[name] }
    : headers,
}));

/** Subscription requests: JSON bodies, mostly valid. */
const subscriptionRequestArb: fc.Arbitrary<FetchRequest> = subscriptionRouteArb
  .chain(([method, path, kind]) =>
    fc.record({
      method: fc.constant(method),
      path: fc.constant("/v1/stream/__ds/subscriptions/" + path),
      query: fc.constant(""),
      headers: fc.oneof(
        {
          weight: 3,
          arbitrary: fc.constant({ "content-type": "application/json" }),
        },
        { weight: 1, arbitrary: headersArb },
      ),
      body: fc.oneof(
        {
          weight: 4,
          arbitrary: subscriptionBodyArb(kind).map((body) => ({
            text: JSON.stringify(body),
          })),
        },
        { weight: 1, arbitrary: bodyArb },
      ),
    })
  );

const otherRequestArb: fc.Arbitrary<FetchRequest> = fc.record({
  method: fc.constantFrom("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"),
  path: otherPathArb,
  query: fc.constant(""),
  headers: headersArb,
  body: bodyArb,
});

const fetchRequestArb: fc.Arbitrary<FetchRequest> = fc.oneof(
  { weight: 6, arbitrary: streamRequestArb },
  { weight: 2, arbitrary: subscriptionRequestArb },
  { weight: 1, arbitrary: otherRequestArb },
);

/** Host values; the raw client sends each one byte for byte. */
const hostArb: fc.Arbitrary<string | undefined> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom("127.0.0.1", "localhost", "example.com:80", ""),
  },
  { weight: 1, arbitrary: fc.constant(undefined) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "a b",
      "[::1",
      "x:99999",
      "%zz",
      "@",
      "[",
      "h/v1/stream/canary/json?",
      "h?x",
      "h#x",
      "h\\x",
      "h\u0000",
      "\u00e9",
      "x*9000",
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary-ascii", maxLength: 10 }) },
);

/** How the body is framed on the wire. */
type Framing =
  | "length"
  | "length-short"
  | "length-long"
  | "length-twice"
  | "length-conflict"
  | "length-bad"
  | "chunked"
  | "chunked-bad-size"
  | "chunked-unterminated"
  | "chunked-and-length"
  | "encoding-other"
  | "none";

const framingArb: fc.Arbitrary<Framing> = fc.constantFrom(
  "length",
  "length-short",
  "length-long",
  "length-twice",
  "length-conflict",
  "length-bad",
  "chunked",
  "chunked-bad-size",
  "chunked-unterminated",
  "chunked-and-length",
  "encoding-other",
  "none",
);

/** Methods and request targets that only a raw client can send. */
const rawOnlyRequestArb: fc.Arbitrary<FetchRequest> = fc.record({
  method: fc.constantFrom(
    "GET",
    "POST",
    "PUT",
    "CONNECT",
    "TRACE",
    "G ET",
    "",
    "\u0000",
    "x*300",
  ),
  path: fc.constantFrom(
    "*",
    "http://other/v1/stream/fz/a",
    "//v1/stream/fz/a",
    "v1/stream/fz/a",
    "/v1/stream/fz/a/../b",
    "/v1/stream/fz/./a",
    "/v1/stream/fz/a b",
    "/v1/stream/fz/a\u0000",
    "/v1/stream/fz/\u00e9",
    "/v1/stream/fz/a\r\nX-Injected: 1",
    // Longer than fetch accepts in a URL.
    "/v1/stream/x*70000",
  ),
  query: queryArb,
  headers: headersArb,
  body: bodyArb,
});

interface RawRequest extends FetchRequest {
  extraHeaders: string[];
  host: string | undefined;
  framing: Framing;
  badLength: string;
  otherEncoding: string;
}

/** Header lines `fetch` refuses: non-ASCII, control bytes, folding. */
const rawHeaderArb: fc.Arbitrary<string> = fc.constantFrom(
  "Stream-Seq: \u00e9",
  "Stream-Seq: a\u0000b",
  "Producer-Id: \u00ff\u00fe",
  "Content-Type: text/plain\u00e9",
  "Content-Type: application/json\r\n continued",
  "Stream-TTL: \t60",
  "Stream-Closed: true\u0000",
  "Stream-Forked-From: /v1/stream/fz/\u00e9",
  "X-Empty:",
  ": no name",
  "No-Colon",
);

const rawRequestArb: fc.Arbitrary<RawRequest> = fc.record({
  request: fc.oneof(
    { weight: 6, arbitrary: fetchRequestArb },
    { weight: 1, arbitrary: rawOnlyRequestArb },
  ),
  extraHeaders: fc.array(rawHeaderArb, { maxLength: 2 }),
  host: hostArb,
  framing: framingArb,
  badLength: fc.constantFrom(
    "abc",
    "-1",
    "+5",
    " 5",
    "5 5",
    "0x10",
    "1e2",
    "99999999999999999999",
  ),
  otherEncoding: fc.constantFrom(
    "gzip",
    "chunked, gzip",
    "identity",
    "Chunked",
    "chunked, chunked",
    "x",
  ),
}).map(({ request, ...raw }) => ({ ...request, ...raw }));

// ------------------------------------------------------------- exclusions

// ----------------------------------------------------------------- clients

interface Answer {
  status: number;
  headers: Headers;
}

/** What a HEAD says about the stream a URL names. */
function describe(answer: Answer | undefined): string {
  if (answer === undefined) return "no answer";
  const h = answer.headers;
  return [
    answer.status,
    h.get("stream-next-offset"),
    h.get("stream-closed"),
    h.get("content-type"),
  ].join(" ");
}

async function fetchAnswer(
  url: string,
  init: RequestInit,
): Promise<Answer> {
  const response = await fetch(url, init);
  if (response.headers.get("content-type") === "text/event-stream") {
    await response.body?.cancel();
  } else {
    await response.arrayBuffer();
  }
  return { status: response.status, headers: response.headers };
}

function fetchInit(request: FetchRequest): RequestInit {
  const upper = request.method.toUpperCase();
  const bodyless = upper === "GET" || upper === "HEAD";
  return {
    method: request.method,
    headers: request.headers,
    body: bodyless
      ? undefined
      : bodyBytes(request.body) as Uint8Array<ArrayBuffer>,
  };
}

/** A raw request on the wire. */
interface RawFrame {
  /** Request line, headers and body. */
  bytes: Uint8Array;
  /** The body never completes: a PUT or POST must not write any of it. */
  truncated: boolean;
  /** End our side after sending (the server would wait for more). */
  halfClose: boolean;
}

/** The request line, headers and body of `request`, as bytes. */
function rawBytes(request: RawRequest, port: number): RawFrame {
  const target = expand(request.path + request.query);
  const lines = [`${expand(request.method)} ${target} HTTP/1.1`];
  if (request.host !== undefined) {
    const host = expand(request.host);
    lines.push(`Host: ${host.replace("127.0.0.1", `127.0.0.1:${port}`)}`);
  }
  for (const [name, value] of Object.entries(request.headers)) {
    lines.push(`${name}: ${value}`);
  }
  lines.push(...request.extraHeaders, "Connection: close");
  const body = bodyBytes(request.body);
  let payload = body;
  let truncated = false;
  let halfClose = false;
  switch (request.framing) {
    case "length":
      lines.push(`Content-Length: ${body.length}`);
      break;
    case "length-short":
      lines.push(`Content-Length: ${Math.floor(body.length / 2)}`);
      break;
    case "length-long":
      lines.push(`Content-Length: ${body.length + 10}`);
      truncated = true;
      break;
    case "length-twice":
      lines.push(`Content-Length: ${body.length}`);
      lines.push(`Content-Length: ${body.length}`);
      break;
    case "length-conflict":
      lines.push(`Content-Length: ${body.length}`);
      lines.push(`Content-Length: ${body.length + 1}`);
      break;
    case "length-bad":
      lines.push(`Content-Length: ${request.badLength}`);
      halfClose = true;
      break;
    case "chunked":
      lines.push("Transfer-Encoding: chunked");
      payload = chunked(body, true);
      break;
    case "chunked-bad-size":
      lines.push("Transfer-Encoding: chunked");
      payload = concat(
        encoder.encode("zz\r\n"),
        body,
        encoder.encode("\r\n0\r\n\r\n"),
      );
      break;
    case "chunked-unterminated":
      lines.push("Transfer-Encoding: chunked");
      payload = chunked(body, false);
      truncated = true;
      break;
    case "chunked-and-length":
      lines.push("Transfer-Encoding: chunked");
      lines.push(`Content-Length: ${body.length}`);
      payload = chunked(body, true);
      break;
    case "encoding-other":
      lines.push(`Transfer-Encoding: ${request.otherEncoding}`);
      halfClose = true;
      break;
    case "none":
      break;
  }
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  return {
    bytes: concat(head, payload),
    truncated,
    halfClose: halfClose || truncated,
  };
}

function chunked(body: Uint8Array, terminated: boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < body.length; i += 1000) {
    const piece = body.subarray(i, i + 1000);
    parts.push(
      encoder.encode(piece.length.toString(16) + "\r\n"),
      piece,
      encoder.encode("\r\n"),
    );
  }
  if (terminated) parts.push(encoder.encode("0\r\n\r\n"));
  return concat(...parts);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Sends `bytes` on a fresh connection and parses every response until the
 * server closes it (or an event stream starts). `halfClose` ends our side
 * after sending, for requests that are incomplete on purpose.
 */
async function rawExchange(
  port: number,
  bytes: Uint8Array,
  firstMethod: string,
  halfClose: boolean,
): Promise<Answer[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => closeQuietly(conn), RAW_DEADLINE_MS);
  let received: Uint8Array = new Uint8Array(0);
  try {
    await conn.write(bytes).catch(() => {});
    if (halfClose) await conn.closeWrite().catch(() => {});
    const chunk = new Uint8Array(64 * 1024);
    while (true) {
      const n = await conn.read(chunk).catch(() => null);
      if (n === null) break;
      received = concat(received, chunk.subarray(0, n));
      if (streamingStarted(received)) break;
    }
  } finally {
    clearTimeout(timer);
    closeQuietly(conn);
  }
  return parseResponses(received, firstMethod);
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

function streamingStarted(received: Uint8Array): boolean {
  const text = decoder.decode(received.subarray(0, 4096));
  return /\r\ncontent-type: text\/event-stream\r\n[\s\S]*\r\n\r\n/i.test(text);
}

/** Status and headers of each response in `bytes` (bodies skipped). */
function parseResponses(bytes: Uint8Array, firstMethod: string): Answer[] {
  const answers: Answer[] = [];
  let at = 0;
  while (at < bytes.length) {
    const end = indexOf(bytes, "\r\n\r\n", at);
    if (end < 0) break;
    const [statusLine, ...lines] = decoder.decode(bytes.subarray(at, end))
      .split("\r\n");
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (match === null) break;
    const headers = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon > 0) {
        headers.append(
          line.slice(0, colon).trim(),
          line.slice(colon + 1).trim(),
        );
      }
    }
    const status = Number(match[1]);
    answers.push({ status, headers });
    at = end + 4;
    const bodyless = (answers.length === 1 && firstMethod === "HEAD") ||
      status === 204 || status === 304 || status < 200;
    if (bodyless) continue;
    const length = headers.get("content-length");
    if (length !== null) at += Number(length);
    else break; // chunked or read-to-close: the last response on the wire
  }
  return answers;
}

function indexOf(bytes: Uint8Array, text: string, from: number): number {
  const needle = encoder.encode(text);
  outer: for (let i = from; i <= bytes.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (bytes[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

// -------------------------------------------------------------- properties

/** A 5xx other than a 503 with `Retry-After` is a server bug. */
function assertNoServerError(answers: Answer[], what: string): void {
  for (const answer of answers) {
    if (answer.status < 500) continue;
    assert.ok(
      answer.status === 503 && answer.headers.get("retry-after") !== null,
      `${what} answered ${answer.status}`,
    );
  }
}

/**
 * Every response was a 4xx. No response at all says nothing: a request that
 * was complete may have been carried out after our side closed.
 */
function rejected(answers: Answer[]): boolean {
  return answers.length > 0 &&
    answers.every((a) => a.status >= 400 && a.status < 500);
}

async function healthy(base: string): Promise<void> {
  const response = await fetch(`${base}/health`);
  await response.body?.cancel();
  assert.equal(response.status, 200, "the server still answers /health");
}

async function readAll(base: string, name: string): Promise<Uint8Array> {
  const response = await fetch(`${base}/v1/stream/${name}?offset=-1`);
  assert.equal(response.status, 200, `canary ${name} is readable`);
  return new Uint8Array(await response.arrayBuffer());
}

async function writeCanaries(base: string): Promise<Map<string, Uint8Array>> {
  const contents = new Map<string, Uint8Array>();
  for (const canary of CANARIES) {
    const url = `${base}/v1/stream/${canary.name}`;
    const headers = { "content-type": canary.type };
    const created = await fetch(url, { method: "PUT", headers });
    await created.body?.cancel();
    assert.equal(created.status, 201);
    for (const body of canary.bodies) {
      const appended = await fetch(url, {
        method: "POST",
        headers,
        body: body as Uint8Array<ArrayBuffer>,
      });
      await appended.body?.cancel();
      assert.equal(appended.status, 204);
    }
    contents.set(canary.name, await readAll(base, canary.name));
  }
  return contents;
}

Deno.test("HTTP fuzz: no 5xx, rejected requests write nothing, canaries intact", async (t) => {
  const server = await startTestServer({
    http: { longPollTimeoutMs: 50, sseConnectionMs: 500 },
    limits: { bodyBytesMax: BODY_MAX },
  });
  const base = server.url;
  const params = {
    numRuns: RUNS,
    seed: SEED === undefined ? undefined : Number(SEED),
  };
  try {
    const canaries = await writeCanaries(base);

    await t.step("well-formed requests (fetch)", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fetchRequestArb, { minLength: 1, maxLength: 6 }),
          async (requests) => {
            for (const request of requests) {
              const url = base + expand(request.path + request.query);
              const before = describe(
                await fetchAnswer(url, { method: "HEAD" }),
              );
              const answer = await fetchAnswer(url, fetchInit(request));
              const what = `${request.method} ${request.path}${request.query}`;
              assertNoServerError([answer], what);
              if (rejected([answer])) {
                const after = describe(
                  await fetchAnswer(url, { method: "HEAD" }),
                );
                assert.equal(
                  after,
                  before,
                  `${what} (${answer.status}) wrote nothing`,
                );
              }
            }
            await healthy(base);
          },
        ),
        params,
      );
    });

    await t.step("malformed requests (raw TCP)", async () => {
      await fc.assert(
        fc.asyncProperty(
          rawRequestArb,
          async (request) => {
            const target = expand(request.path + request.query);
            const head = encoder.encode(
              `HEAD ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
            );
            const before = describe(
              (await rawExchange(server.port, head, "HEAD", false))[0],
            );
            const frame = rawBytes(request, server.port);
            const answers = await rawExchange(
              server.port,
              frame.bytes,
              request.method,
              frame.halfClose,
            );
            const statuses = answers.map((a) => a.status).join(",");
            const what = `raw ${JSON.stringify(request.method)} ${
              JSON.stringify(request.path + request.query)
            } (${request.framing}) answered [${statuses}]`;
            assertNoServerError(answers, what);
            const bodyUnused = request.method !== "POST" &&
              request.method !== "PUT";
            if (rejected(answers) || frame.truncated && !bodyUnused) {
              const after = describe(
                (await rawExchange(server.port, head, "HEAD", false))[0],
              );
              assert.equal(after, before, `${what}: wrote nothing`);
            }
            await healthy(base);
          },
        ),
        { ...params, numRuns: RUNS * 2 },
      );
    });

    await t.step("canary streams read back byte-identical", async () => {
      for (const [name, bytes] of canaries) {
        assert.deepEqual(await readAll(base, name), bytes, name);
      }
      await healthy(base);
    });
  } finally {
    await server.close();
    await Deno.remove(server.dataDir, { recursive: true });
  }
});
