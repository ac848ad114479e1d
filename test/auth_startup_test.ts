/**
 * Access control at start-up and in a real process: the loopback-only
 * default of `--auth none`, one-line errors for bad key and TLS settings,
 * HTTPS with a self-signed certificate made here, and SIGHUP reloading the
 * keys file without stopping the server.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { keysFileText } from "../src/auth/_testing.ts";
import { testConfig } from "../src/config.ts";
import { StartupError } from "../src/errors.ts";
import { startServer } from "../src/server.ts";
import { killServer, spawnServer } from "./_server.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "streambed-auth-start-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs main.ts to its exit; its code and stderr. */
async function runMain(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--port", "0", ...args],
    env,
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("--auth none on a non-loopback host refuses to start unless --allow-unauthenticated", async () => {
  await withDir(async (dir) => {
    const data = join(dir, "data");
    const refused = await runMain(["--host", "0.0.0.0", "--data-dir", data]);
    assert.equal(refused.code, 1);
    assert.equal(
      refused.stderr,
      "error: refusing to serve 0.0.0.0 without authentication: use --auth api-key, or --allow-unauthenticated if a proxy in front authenticates\n",
    );
    await assert.rejects(Deno.stat(data), Deno.errors.NotFound);
    const config = testConfig(data, {
      http: { host: "0.0.0.0" },
      auth: { allowUnauthenticated: true },
    });
    const server = await startServer(config);
    await server.close();
    const keyed = testConfig(data, {
      http: { host: "0.0.0.0" },
      auth: { mode: "api-key", apiKey: "0123456789abcdef" },
    });
    const withKeys = await startServer(keyed);
    await withKeys.close();
  });
});

Deno.test("bad key and TLS settings fail with one line", async () => {
  await withDir(async (dir) => {
    const keys = join(dir, "keys.json");
    await Deno.writeTextFile(keys, '{"keys": [{"id": "k", "scopes": []}]}');
    const bad = await runMain([
      "--auth",
      "api-key",
      "--api-keys-file",
      keys,
      "--data-dir",
      join(dir, "d1"),
    ]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.split("\n").length, 2, bad.stderr);
    assert.ok(bad.stderr.startsWith(`error: --api-keys-file ${keys}: keys[0]`));
    const unset = await runMain(["--auth", "api-key"]);
    assert.equal(unset.code, 2);
    assert.match(unset.stderr, /needs --api-keys-file or the API_KEY/);
    await assert.rejects(
      startServer(testConfig(join(dir, "d2"), {
        http: { tlsCert: join(dir, "none.pem"), tlsKey: join(dir, "none.pem") },
      })),
      (e) => e instanceof StartupError && e.problem === "tls_config",
    );
    const garbage = join(dir, "garbage.pem");
    await Deno.writeTextFile(garbage, "not a certificate");
    await assert.rejects(
      startServer(testConfig(join(dir, "d3"), {
        http: { tlsCert: garbage, tlsKey: garbage },
      })),
      (e) =>
        e instanceof StartupError && e.problem === "tls_config" &&
        !e.message.includes("\n"),
    );
  });
});

Deno.test("--tls-cert/--tls-key serve HTTPS with a certificate made for the test", async () => {
  await withDir(async (dir) => {
    const cert = join(dir, "cert.pem");
    const key = join(dir, "key.pem");
    const made = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        key,
        "-out",
        cert,
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.equal(made.code, 0, "openssl made a certificate");
    const server = await startServer(testConfig(join(dir, "data"), {
      http: { tlsCert: cert, tlsKey: key },
    }));
    const client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(cert)],
    });
    try {
      assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const put = await fetch(`${server.url}/v1/stream/tls`, {
        method: "PUT",
        headers: { "content-type": "text/plain" },
        body: "over tls",
        client,
      });
      assert.equal(put.status, 201);
      const read = await fetch(`${server.url}/v1/stream/tls`, { client });
      assert.equal(await read.text(), "over tls");
      const plain = server.url.replace("https:", "http:");
      await assert.rejects(fetch(`${plain}/v1/stream/tls`));
    } finally {
      client.close();
      await server.close();
    }
  });
});

Deno.test("SIGHUP reloads the keys file and the server keeps serving", async () => {
  await withDir(async (dir) => {
    const keys = join(dir, "keys.json");
    const first = "first-secret-0123456";
    const second = "second-secret-0123456";
    await Deno.writeTextFile(
      keys,
      keysFileText([{ id: "first", secret: first, scopes: ["read"] }]),
    );
    const server = await spawnServer(join(dir, "data"), [
      "--auth",
      "api-key",
      "--api-keys-file",
      keys,
    ]);
    try {
      const status = async (secret: string) => {
        const res = await fetch(`${server.url}/v1/streams`, {
          headers: { authorization: `Bearer ${secret}` },
        });
        await res.body?.cancel();
        return res.status;
      };
      assert.equal(await status(first), 200);
      await Deno.writeTextFile(
        keys,
        keysFileText([{ id: "second", secret: second, scopes: ["read"] }]),
      );
      server.child.kill("SIGHUP");
      while (await status(second) !== 200) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(await status(first), 401);
      assert.ok(!server.stderr().includes(second));
    } finally {
      await killServer(server);
    }
  });
});
