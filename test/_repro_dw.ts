// scratch: not committed
import { testConfig } from "../src/config.ts";
import { type ServerHandle, startServer } from "../src/server.ts";
import { freshSchema, sharedPgCluster } from "../src/storage/_pg_testing.ts";
import { randomFront } from "./_front.ts";

const runs = Number(Deno.env.get("RUNS") ?? "3");
const cluster = await sharedPgCluster();
const schema = freshSchema("repro");
const nodes: (ServerHandle & { dataDir: string })[] = [];
const targets = ["", "", ""];
const front = randomFront(targets);
for (let i = 0; i < targets.length; i++) {
  const dataDir = await Deno.makeTempDir({ prefix: "streambed-node-" });
  const server = await startServer(testConfig(dataDir, {
    http: { longPollTimeoutMs: 500 },
    subscriptions: { webhookAllowLocalhost: true, publicUrl: front.url },
    storage: { backend: "postgres", postgresUrl: cluster.url, postgresSchema: schema, postgresMultiNode: true },
  }));
  nodes.push({ ...server, dataDir });
  targets[i] = server.url;
}
let fails = 0;
for (let r = 0; r < runs; r++) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "npm:vitest@4.1.12", "run", "--config", "test/conformance/vitest.config.ts", "-t", Deno.env.get("FILTER") ?? "Reserved subscription APIs"],
    cwd: new URL("..", import.meta.url).pathname,
    env: { DS_CONFORMANCE_URL: front.url, DS_CONFORMANCE_LONG_POLL_MS: "500", DS_CONFORMANCE_SUBSCRIPTIONS: "1", DS_CONFORMANCE_BEARER: "" },
    stdout: "piped", stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const m = text.match(/Tests\s+.*$/m);
  console.log(`RUN ${r}: code ${out.code} ${m?.[0]}`);
  if (out.code !== 0) { fails++; console.log(text.split("\n").filter((l) => /FAIL|Error|expected|×/.test(l)).slice(0, 20).join("\n")); }
}
console.log(`FAILS ${fails}/${runs}`);
await front.close();
for (const n of nodes) { await n.close(); await Deno.remove(n.dataDir, { recursive: true }); }
await cluster.close?.();
Deno.exit(0);
