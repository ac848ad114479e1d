import assert from "node:assert/strict";
import { parseKeysFile, sha256, toHex } from "./keys.ts";
import { keysFileText } from "./_testing.ts";

const HEX = "a".repeat(64);

function error(text: string): string {
  const parsed = parseKeysFile(text);
  assert.ok(!parsed.ok, text);
  return parsed.error;
}

Deno.test("parseKeysFile() reads ids, digests, scopes, globs and rates", () => {
  const parsed = parseKeysFile(keysFileText([
    { id: "dash", secret: "s".repeat(20), scopes: ["read"] },
    {
      id: "ingest",
      secret: "t".repeat(20),
      scopes: ["write", "read"],
      streams: ["eu/**"],
      rate: { rps: 2.5 },
    },
  ]));
  assert.ok(parsed.ok);
  const [dash, ingest] = parsed.value;
  assert.equal(dash.id, "dash");
  assert.equal(toHex(dash.digest), toHex(sha256("s".repeat(20))));
  assert.deepEqual([...dash.scopes], ["read"]);
  assert.deepEqual(dash.streams.map((g) => g.source), ["**"]);
  assert.equal(dash.rate, undefined);
  assert.deepEqual(ingest.streams.map((g) => g.source), ["eu/**"]);
  assert.deepEqual(ingest.rate, { rps: 2.5, burst: 3 });
});

Deno.test("parseKeysFile() refuses the whole file for any bad key", () => {
  const key = (extra: Record<string, unknown>) =>
    JSON.stringify({
      keys: [{ id: "k", sha256: HEX, scopes: ["read"], ...extra }],
    });
  assert.match(error("{"), /not JSON/);
  assert.match(error("[]"), /expected/);
  assert.match(error('{"keys": [], "x": 1}'), /unknown field "x"/);
  assert.match(error(key({ secret: "plain" })), /unknown field "secret"/);
  assert.match(error(key({ sha256: "abc" })), /64 hex/);
  assert.match(error(key({ scopes: ["root"] })), /unknown scope "root"/);
  assert.match(error(key({ scopes: [] })), /non-empty/);
  assert.match(error(key({ id: "a b" })), /id must be/);
  assert.match(error(key({ id: "API_KEY" })), /is taken/);
  assert.match(error(key({ streams: ["a/b*"] })), /whole segments/);
  assert.match(error(key({ rate: { rps: 0 } })), /rate.rps/);
  assert.match(error(key({ rate: { rps: 1, burst: 0.5 } })), /rate.burst/);
  const twice = JSON.stringify({
    keys: [
      { id: "k", sha256: HEX, scopes: ["read"] },
      { id: "k", sha256: "b".repeat(64), scopes: ["read"] },
    ],
  });
  assert.match(error(twice), /keys\[1\]: id "k" is taken/);
  const sameSecret = JSON.stringify({
    keys: [
      { id: "k", sha256: HEX, scopes: ["read"] },
      { id: "j", sha256: HEX.toUpperCase(), scopes: ["read"] },
    ],
  });
  assert.match(error(sameSecret), /same sha256/);
});
