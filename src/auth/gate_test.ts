import assert from "node:assert/strict";
import { join } from "node:path";
import { BrowserPolicy } from "./browser.ts";
import { AccessGate, type Admission, bearer } from "./gate.ts";
import { KeyStore } from "./key_store.ts";
import { Principal } from "./principal.ts";
import { keysFileText, recordingLogger } from "./_testing.ts";

const READ = "reader-secret-0123";
const LIMITED = "limited-secret-0123";

async function keyedGate(now: () => number): Promise<AccessGate> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-gate-" });
  const file = join(dir, "keys.json");
  await Deno.writeTextFile(
    file,
    keysFileText([
      { id: "reader", secret: READ, scopes: ["read"], streams: ["eu/**"] },
      {
        id: "limited",
        secret: LIMITED,
        scopes: ["write"],
        rate: { rps: 1, burst: 1 },
      },
    ]),
  );
  const log = recordingLogger();
  const keys = await KeyStore.open({ file, apiKey: "" }, log);
  await Deno.remove(dir, { recursive: true });
  const browser = BrowserPolicy.parse({
    open: false,
    corsOrigins: "",
    allowedHosts: "",
  });
  assert.ok(browser.ok);
  return new AccessGate({
    mode: "api-key",
    keys,
    browser: browser.value,
    publicOperations: new Set(["health_get"]),
    now,
    log,
  });
}

function req(
  method: string,
  headers: Record<string, string> = {},
): Request {
  return new Request("http://127.0.0.1/x", { method, headers });
}

function kind(result: Admission): string {
  return result.error?.kind ?? `ok:${result.principal.keyId}`;
}

Deno.test("bearer() takes exactly `Bearer <secret>`, scheme in any case", () => {
  assert.equal(bearer("Bearer abc"), "abc");
  assert.equal(bearer("bearer abc"), "abc");
  assert.equal(bearer("BEARER abc"), "abc");
  assert.equal(bearer("Bearer  abc"), undefined);
  assert.equal(bearer("Basic abc"), undefined);
  assert.equal(bearer("Bearer "), undefined);
  assert.equal(bearer(null), undefined);
});

Deno.test("AccessGate: 401 without or with a wrong key, 403 without the scope, 429 over the rate", async () => {
  let now = 0;
  const gate = await keyedGate(() => now);
  const auth = (secret: string) => ({ authorization: `Bearer ${secret}` });
  assert.equal(
    kind(gate.check(req("GET"), "read", "stream_get", "eu/a")),
    "unauthorized",
  );
  assert.equal(
    kind(
      gate.check(
        req("GET", auth("x".repeat(18))),
        "read",
        "stream_get",
        "eu/a",
      ),
    ),
    "unauthorized",
  );
  assert.equal(
    kind(gate.check(req("GET", auth(READ)), "read", "stream_get", "eu/a")),
    "ok:reader",
  );
  const denied = gate.check(
    req("GET", auth(READ)),
    "read",
    "stream_get",
    "us/a",
  );
  assert.equal(denied.error?.message, "key 'reader' lacks scope read for us/a");
  assert.equal(denied.principal.keyId, "reader");
  assert.equal(
    kind(gate.check(req("POST", auth(READ)), "write", "stream_append", "eu/a")),
    "forbidden",
  );
  assert.equal(
    kind(gate.check(req("GET", auth(READ)), "key", undefined)),
    "ok:reader",
  );
  // Public and token routes need no key; unknown ones do.
  assert.equal(kind(gate.check(req("GET"), "public", "jwks_get")), "ok:null");
  assert.equal(kind(gate.check(req("GET"), "key", "health_get")), "ok:null");
  assert.equal(kind(gate.check(req("GET"), "key", undefined)), "unauthorized");
  // One token a second.
  const write = () =>
    gate.check(req("POST", auth(LIMITED)), "write", "stream_append", "a");
  assert.equal(kind(write()), "ok:limited");
  const limited = write();
  assert.equal(limited.error?.kind, "rate_limited");
  assert.equal(limited.error?.detail?.retryAfterSeconds, 1);
  assert.equal(limited.principal.keyId, "limited");
  now += 1000;
  assert.equal(kind(write()), "ok:limited");
  assert.deepEqual(gate.counts, {
    missing: 2,
    invalid: 1,
    forbidden: 2,
    rateLimited: 1,
    browser: 0,
  });
});

Deno.test("AccessGate --auth none: Host and Origin guards, then anything goes", () => {
  const browser = BrowserPolicy.parse({
    open: true,
    corsOrigins: "",
    allowedHosts: "",
  });
  assert.ok(browser.ok);
  const gate = new AccessGate({
    mode: "none",
    browser: browser.value,
    log: recordingLogger(),
  });
  const local = { host: "127.0.0.1:4437" };
  assert.equal(
    gate.check(req("DELETE", local), "delete").principal,
    Principal.OPEN,
  );
  assert.equal(
    kind(gate.check(req("GET", { host: "evil.example:4437" }), "read")),
    "host_not_allowed",
  );
  const evil = { ...local, origin: "https://evil.example" };
  assert.equal(kind(gate.check(req("POST", evil), "write")), "forbidden");
  assert.equal(kind(gate.check(req("DELETE", evil), "delete")), "forbidden");
  assert.equal(gate.check(req("GET", evil), "read").principal, Principal.OPEN);
  assert.equal(gate.counts.browser, 3);
});
