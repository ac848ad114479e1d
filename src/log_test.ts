import assert from "node:assert/strict";
import { createLogger } from "./log.ts";

Deno.test("createLogger() json: one object per line, with the cause", () => {
  const lines: string[] = [];
  const log = createLogger("info", "json", (line) => lines.push(line));
  log.debug("hidden");
  log.info('hello "there"');
  log.error("failed", new Error("boom"));
  assert.equal(lines.length, 2);
  const [info, error] = lines.map((line) => JSON.parse(line));
  assert.equal(info.level, "info");
  assert.equal(info.msg, 'hello "there"');
  assert.equal(info.error, undefined);
  assert.ok(!Number.isNaN(Date.parse(info.ts)));
  assert.equal(error.level, "error");
  assert.match(error.error, /boom/);
});

Deno.test("createLogger() text: time, level and message on one line", () => {
  const lines: string[] = [];
  const log = createLogger("warn", "text", (line) => lines.push(line));
  log.info("hidden");
  log.warn("careful");
  assert.equal(lines.length, 1);
  assert.match(lines[0], /^\d{4}-\d\d-\d\dT\S+Z WARN careful$/);
});
