import assert from "node:assert/strict";
import { validateWebhookUrl } from "./webhook_url.ts";

function code(url: string, allowLocalhost = false): string {
  const result = validateWebhookUrl(url, allowLocalhost);
  return result.ok ? "ok" : result.error.kind;
}

Deno.test("validateWebhookUrl() accepts public https URLs", () => {
  assert.equal(code("https://hooks.example.com/x"), "ok");
  assert.equal(code("https://93.184.216.34/hook"), "ok");
  assert.equal(code("https://[2606:4700::1111]/hook"), "ok");
});

Deno.test("validateWebhookUrl() requires https outside development", () => {
  assert.equal(code("http://hooks.example.com/x"), "webhook_url_rejected");
  assert.equal(
    code("http://hooks.example.com/x", true),
    "webhook_url_rejected",
  );
  assert.equal(code("ftp://hooks.example.com/x"), "webhook_url_rejected");
  assert.equal(code("not a url"), "webhook_url_rejected");
  assert.equal(
    code("https://user:pw@hooks.example.com/"),
    "webhook_url_rejected",
  );
});

Deno.test("validateWebhookUrl() admits localhost only in development", () => {
  for (
    const url of [
      "http://localhost:8080/h",
      "http://127.0.0.1/h",
      "http://127.0.0.9/h",
      "http://[::1]/h",
      "https://localhost/h",
    ]
  ) {
    assert.equal(code(url), "webhook_url_rejected", url);
    assert.equal(code(url, true), "ok", url);
  }
});

Deno.test("validateWebhookUrl() rejects each private IPv4 class", () => {
  const hosts = [
    "10.0.0.1", // RFC 1918
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "127.0.0.1", // loopback (https, so not the dev exception)
    "169.254.169.254", // link-local / cloud metadata
    "169.254.0.1",
    "100.64.0.1", // CGNAT
    "0.0.0.0", // unspecified
    "224.0.0.1", // multicast
    "255.255.255.255", // broadcast
  ];
  for (const host of hosts) {
    assert.equal(code(`https://${host}/h`), "webhook_url_rejected", host);
    assert.equal(
      code(`http://${host}/h`, true),
      host.startsWith("127.") ? "ok" : "webhook_url_rejected",
      host,
    );
  }
  assert.equal(code("https://172.32.0.1/h"), "ok");
  assert.equal(code("https://11.0.0.1/h"), "ok");
});

Deno.test("validateWebhookUrl() sees through alternative IPv4 spellings", () => {
  assert.equal(code("https://2130706433/h"), "webhook_url_rejected"); // 127.0.0.1
  assert.equal(code("https://0x7f.1/h"), "webhook_url_rejected");
  assert.equal(code("https://0xa9fea9fe/h"), "webhook_url_rejected"); // 169.254.169.254
  assert.equal(code("https://012.0.0.1/h"), "webhook_url_rejected"); // octal 10.0.0.1
});

Deno.test("validateWebhookUrl() rejects private and embedded IPv6 literals", () => {
  const hosts = [
    "::1",
    "::",
    "fc00::1",
    "fd12:3456::1", // unique local
    "fe80::1", // link-local
    "ff02::1", // multicast
    "::ffff:10.0.0.1", // IPv4-mapped private
    "::ffff:169.254.169.254", // IPv4-mapped metadata
    "::ffff:7f00:1", // mapped loopback, hex form
    "64:ff9b::a9fe:a9fe", // NAT64 of metadata
    "2002:a00:1::1", // 6to4 of 10.0.0.1
    "fd00:ec2::254", // AWS IMDS IPv6
  ];
  for (const host of hosts) {
    assert.equal(code(`https://[${host}]/h`), "webhook_url_rejected", host);
  }
  assert.equal(code("https://[::ffff:8.8.8.8]/h"), "ok");
});

Deno.test("validateWebhookUrl() blocks metadata and internal names", () => {
  for (
    const host of [
      "metadata.google.internal",
      "foo.internal",
      "localhost.",
      "a.localhost",
    ]
  ) {
    assert.equal(code(`https://${host}/h`), "webhook_url_rejected", host);
  }
});
