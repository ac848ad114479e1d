import assert from "node:assert/strict";
import { cpuUsFromStat, cpuUsPerOp, serverCpuUs } from "./_load_server_cpu.ts";

Deno.test("cpuUsFromStat() reads utime + stime after a name holding spaces and parens", () => {
  const stat =
    "4242 (deno (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3";
  assert.equal(cpuUsFromStat(stat), (250 + 50) * 10_000);
});

Deno.test("serverCpuUs() reads this process and null for no pid", () => {
  const us = serverCpuUs(Deno.pid);
  assert.ok(us === null || us >= 0);
  assert.equal(serverCpuUs(null), null);
});

Deno.test("cpuUsPerOp() divides the difference and refuses missing readings", () => {
  assert.equal(cpuUsPerOp(1000, 5000, 100), 40);
  assert.equal(cpuUsPerOp(null, 5000, 100), null);
  assert.equal(cpuUsPerOp(1000, 5000, 0), null);
});
