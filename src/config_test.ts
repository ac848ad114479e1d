import assert from "node:assert/strict";
import {
  defaultConfig,
  helpText,
  OPTIONS,
  parseConfig,
  printableConfig,
} from "./config.ts";

Deno.test("parseConfig() gives defaults with no input", () => {
  const parsed = parseConfig({ env: {}, args: [] });
  assert.ok(parsed.ok);
  const expected = defaultConfig();
  expected.objectStore.dir = "data/objects";
  assert.deepEqual(parsed.value, expected);
  assert.equal(parsed.value.http.port, 4437);
});

Deno.test("parseConfig() resolves the object dir under the data dir", () => {
  const parsed = parseConfig({ env: {}, args: ["--data-dir", "/srv/ds"] });
  assert.ok(parsed.ok);
  assert.equal(parsed.value.objectStore.dir, "/srv/ds/objects");
  const given = parseConfig({
    env: {},
    args: ["--data-dir", "/srv/ds", "--object-dir", "/mnt/objects"],
  });
  assert.ok(given.ok);
  assert.equal(given.value.objectStore.dir, "/mnt/objects");
});

Deno.test("printableConfig() leaves out test-only fields", () => {
  const parsed = parseConfig({
    env: { DS_TEST_CRASH_POINT: "after-seal" },
    args: [],
  });
  assert.ok(parsed.ok);
  assert.equal(parsed.value.segment.testCrashPoint, "after-seal");
  const printed = printableConfig(parsed.value);
  assert.ok(!("testCrashPoint" in printed.segment));
  assert.equal(printed.segment.segmentBytes, parsed.value.segment.segmentBytes);
  assert.equal(printed.objectStore.dir, "data/objects");
});

Deno.test("parseConfig() calls a bare unknown flag unknown", () => {
  const bare = parseConfig({ env: {}, args: ["--frobnicate"] });
  assert.ok(!bare.ok);
  assert.deepEqual(bare.errors, ["Unknown flag --frobnicate"]);
  const valued = parseConfig({
    env: {},
    args: ["--frobnicate", "7", "--port", "1"],
  });
  assert.ok(!valued.ok);
  assert.deepEqual(valued.errors, ["Unknown flag --frobnicate"]);
  const missing = parseConfig({ env: {}, args: ["--port"] });
  assert.ok(!missing.ok);
  assert.deepEqual(missing.errors, ["Flag --port needs a value"]);
});

Deno.test("parseConfig() lets flags override env", () => {
  const parsed = parseConfig({
    env: { DS_PORT: "5000", DS_DURABILITY: "os" },
    args: ["--port", "6000", "--long-poll-timeout-ms=500"],
  });
  assert.ok(parsed.ok);
  assert.equal(parsed.value.http.port, 6000);
  assert.equal(parsed.value.storage.durability, "os");
  assert.equal(parsed.value.http.longPollTimeoutMs, 500);
});

Deno.test("parseConfig() reports every bad value", () => {
  const parsed = parseConfig({
    env: { DS_PORT: "70000" },
    args: ["--durability", "maybe", "--nope", "1", "--body-bytes-max", "-5"],
  });
  assert.ok(!parsed.ok);
  assert.equal(parsed.errors.length, 4, parsed.errors.join("\n"));
});

Deno.test("parseConfig() warns about unknown DS_ variables", () => {
  const parsed = parseConfig({ env: { DS_TYPO: "1" }, args: ["--help"] });
  assert.ok(parsed.ok && parsed.help);
  assert.deepEqual(parsed.warnings, [
    "Unknown environment variable DS_TYPO ignored",
  ]);
});

Deno.test("helpText() documents every option", () => {
  const text = helpText();
  for (const o of OPTIONS) {
    assert.ok(text.includes(`--${o.flag}`) && text.includes(o.env), o.flag);
  }
});

Deno.test("parseConfig() takes bool flags bare, with =, or with a true/false value", () => {
  const bare = parseConfig({ env: {}, args: ["--wal-worker"] });
  assert.ok(bare.ok && bare.value.storage.walWorker === true);
  const spaced = parseConfig({
    env: {},
    args: ["--subscriptions", "false", "--port", "1"],
  });
  assert.ok(
    spaced.ok && spaced.value.subscriptions.enabled === false &&
      spaced.value.http.port === 1,
  );
  const eq = parseConfig({ env: {}, args: ["--subscriptions=false"] });
  assert.ok(eq.ok && eq.value.subscriptions.enabled === false);
  const bad = parseConfig({ env: {}, args: ["--subscriptions=maybe"] });
  assert.ok(!bad.ok);
});

Deno.test("parseConfig() reads the backlog budget and the seal retry delays, and checks them against related limits", () => {
  const parsed = parseConfig({
    env: { DS_BACKLOG_BYTES_MAX: "1048576" },
    args: ["--segment-bytes", "4096", "--seal-retry-min-ms", "50"],
  });
  assert.ok(parsed.ok);
  assert.equal(parsed.value.segment.backlogBytesMax, 1048576);
  assert.equal(parsed.value.segment.sealRetryMinMs, 50);
  assert.equal(defaultConfig().segment.backlogBytesMax, 10 * 1024 ** 3);
  const bad = parseConfig({
    env: {},
    args: ["--backlog-bytes-max", "4096", "--seal-retry-min-ms", "70000"],
  });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors, [
    "backlog-bytes-max must be at least segment-bytes",
    "seal-retry-min-ms must not exceed seal-retry-max-ms",
  ]);
});

Deno.test("the README's flag table matches --help: flags, env vars and defaults, in order", async () => {
  const readme = await Deno.readTextFile(
    new URL("../README.md", import.meta.url),
  );
  const plain = (cell: string) => cell.trim().replaceAll("`", "");
  const documented = readme.split("\n")
    .filter((line) => line.startsWith("| `--"))
    .map((line) => {
      const [flag, env, fallback] = line.split("|").slice(1, 4).map(plain);
      return `${flag} ${env} ${fallback}`;
    });
  const helped = helpText().split("\n")
    .map((line) => line.match(/^ {2}(--\S+)\s+(DS_\S+)\s.*\[default: (.*)\]$/))
    .filter((match) => match !== null)
    .map(([, flag, env, fallback]) => `${flag} ${env} ${fallback}`);
  assert.equal(helped.length, OPTIONS.length);
  assert.deepEqual(documented, helped);
});

Deno.test("parseConfig() checks the auth and TLS options, and never prints API_KEY", () => {
  const keyed = parseConfig({
    env: { API_KEY: "0123456789abcdef" },
    args: ["--auth", "api-key"],
  });
  assert.ok(keyed.ok);
  assert.equal(keyed.value.auth.apiKey, "0123456789abcdef");
  const printed = JSON.stringify(printableConfig(keyed.value));
  assert.ok(!printed.includes("0123456789abcdef"));
  assert.ok(!("apiKey" in printableConfig(keyed.value).auth));
  const bad = parseConfig({
    env: { API_KEY: "short" },
    args: ["--tls-cert", "c.pem"],
  });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors, [
    "--tls-cert and --tls-key go together",
    "API_KEY must be 10-256 printable ASCII characters without spaces",
    "API keys are configured but --auth is none: add --auth api-key",
  ]);
  const keyless = parseConfig({ env: {}, args: ["--auth", "api-key"] });
  assert.ok(!keyless.ok);
  assert.deepEqual(keyless.errors, [
    "--auth api-key needs --api-keys-file or the API_KEY variable",
  ]);
});

Deno.test("parseConfig() checks the PostgreSQL options against each other", () => {
  const errorsOf = (args: string[], env: Record<string, string> = {}) => {
    const parsed = parseConfig({ env, args });
    return parsed.ok ? [] : parsed.errors;
  };
  const url = ["--postgres-url", "postgres://u:pw@h/db"];
  assert.deepEqual(errorsOf(["--storage", "postgres"]), [
    "--storage postgres needs --postgres-url",
  ]);
  assert.deepEqual(
    errorsOf(["--storage", "postgres", ...url, "--object-store", "fs"]),
    [
      "--postgres-mode wal keeps every record in PostgreSQL: --object-store must be none",
    ],
  );
  assert.deepEqual(
    errorsOf(["--storage", "postgres", ...url], { DS_OBJECT_STORE: "s3" }),
    [
      "--object-store s3 needs --s3-bucket",
      "--postgres-mode wal keeps every record in PostgreSQL: --object-store must be none",
    ],
  );
  assert.deepEqual(
    errorsOf(["--storage", "postgres", ...url, "--postgres-mode", "full"]),
    ["--postgres-mode full is not implemented yet; use --postgres-mode wal"],
  );
  assert.deepEqual(errorsOf(["--storage", "postgres", ...url, "--bootstrap"]), [
    "--bootstrap needs an object store",
  ]);
  assert.deepEqual(
    errorsOf(["--storage", "postgres", ...url, "--wal-worker"]),
    ["--wal-worker applies to the SQLite WAL only"],
  );
  // WAL mode needs no object store: the default fs one is dropped.
  const parsed = parseConfig({
    env: {},
    args: ["--storage", "postgres", ...url],
  });
  assert.ok(parsed.ok);
  assert.equal(parsed.value.objectStore.kind, "none");
  assert.equal(parsed.value.storage.postgresSchema, "streambed");
});

Deno.test("--print-config masks the PostgreSQL password", () => {
  const parsed = parseConfig({
    env: { DS_POSTGRES_URL: "postgres://app:hunter%402@db:5432/streams" },
    args: ["--storage", "postgres"],
  });
  assert.ok(parsed.ok);
  const printed = JSON.stringify(printableConfig(parsed.value));
  assert.ok(!printed.includes("hunter"), printed);
  assert.match(printed, /postgres:\/\/app:\*\*\*@db:5432\/streams/);
  assert.equal(
    parsed.value.storage.postgresUrl,
    "postgres://app:hunter%402@db:5432/streams",
  );
});

Deno.test("the routing-key index options: on by default, switched off, concurrency and cache checked", () => {
  const defaults = parseConfig({ env: {}, args: [] });
  assert.ok(defaults.ok);
  assert.equal(defaults.value.segment.routingIndex, true);
  assert.equal(defaults.value.segment.indexConcurrency, 1);
  assert.equal(defaults.value.segment.indexCacheBytes, 64 * 1024 * 1024);
  const set = parseConfig({
    env: { DS_INDEX_CACHE_BYTES: "0" },
    args: ["--routing-index", "false", "--index-concurrency", "4"],
  });
  assert.ok(set.ok);
  assert.equal(set.value.segment.routingIndex, false);
  assert.equal(set.value.segment.indexConcurrency, 4);
  assert.equal(set.value.segment.indexCacheBytes, 0);
  for (
    const args of [
      ["--index-concurrency", "0"],
      ["--index-concurrency", "17"],
      ["--index-cache-bytes", "-1"],
      ["--routing-index", "maybe"],
    ]
  ) {
    const bad = parseConfig({ env: {}, args });
    assert.ok(!bad.ok, args.join(" "));
  }
});
