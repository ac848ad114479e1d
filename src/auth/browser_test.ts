import assert from "node:assert/strict";
import { BrowserPolicy, isLoopbackHost } from "./browser.ts";

function policy(
  open: boolean,
  corsOrigins = "",
  allowedHosts = "",
): BrowserPolicy {
  const parsed = BrowserPolicy.parse({ open, corsOrigins, allowedHosts });
  assert.ok(parsed.ok);
  return parsed.value;
}

Deno.test("BrowserPolicy default: loopback pages may read under --auth none, nobody writes", () => {
  const open = policy(true);
  assert.equal(open.allowsOrigin("http://localhost:5173", "GET"), true);
  assert.equal(open.allowsOrigin("http://127.0.0.1:3000", "HEAD"), true);
  assert.equal(open.allowsOrigin("http://localhost:5173", "POST"), false);
  assert.equal(open.allowsOrigin("https://evil.example", "GET"), false);
  assert.equal(open.allowsOrigin("null", "GET"), false);
  const keyed = policy(false);
  assert.equal(keyed.allowsOrigin("http://localhost:5173", "GET"), false);
});

Deno.test("BrowserPolicy --cors-origins grants exactly the listed origins", () => {
  const listed = policy(
    false,
    "https://app.example.com, http://localhost:5173",
  );
  assert.equal(listed.allowsOrigin("https://app.example.com", "DELETE"), true);
  assert.equal(listed.allowsOrigin("https://evil.example", "GET"), false);
  assert.equal(
    policy(true, "*").allowsOrigin("https://x.example", "PUT"),
    true,
  );
  for (const bad of ["app.example.com", "https://a.example/path", "ftp://a"]) {
    assert.ok(
      !BrowserPolicy.parse({ open: true, corsOrigins: bad, allowedHosts: "" })
        .ok,
      bad,
    );
  }
});

Deno.test("BrowserPolicy writes: same origin passes, foreign origins do not", () => {
  const open = policy(true);
  assert.equal(
    open.allowsWriteFrom("http://127.0.0.1:4437", "127.0.0.1:4437", "POST"),
    true,
  );
  assert.equal(
    open.allowsWriteFrom("https://evil.example", "127.0.0.1:4437", "DELETE"),
    false,
  );
  assert.equal(
    open.allowsWriteFrom("https://evil.example", "evil.example", "DELETE"),
    true, // same origin: the Host guard refuses this one
  );
  assert.equal(open.allowsWriteFrom("null", "127.0.0.1:4437", "POST"), false);
});

Deno.test("BrowserPolicy Host guard: IPs, loopback names and --allowed-hosts only", () => {
  const open = policy(true, "", "streams.internal, *.corp.example");
  for (
    const host of [
      "127.0.0.1:4437",
      "localhost:4437",
      "LOCALHOST.",
      "app.localhost",
      "[::1]:4437",
      "10.1.2.3",
      "streams.internal:80",
      "a.corp.example",
      null,
    ]
  ) assert.equal(open.allowsHost(host), true, String(host));
  for (
    const host of ["evil.example", "evil.example:4437", "corp.example", "x"]
  ) assert.equal(open.allowsHost(host), false, host);
  assert.equal(policy(false).allowsHost("evil.example"), true);
  assert.equal(policy(true, "", "*").allowsHost("evil.example"), true);
  assert.ok(
    !BrowserPolicy.parse({ open: true, corsOrigins: "", allowedHosts: "a b" })
      .ok,
  );
});

Deno.test("isLoopbackHost() tells loopback binds from the rest", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assert.equal(isLoopbackHost(h), true, h);
  }
  for (const h of ["0.0.0.0", "::", "192.168.1.2", "example.com"]) {
    assert.equal(isLoopbackHost(h), false, h);
  }
});
