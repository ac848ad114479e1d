import assert from "node:assert/strict";
import { STATUS } from "../errors.ts";
import { normalizeBatch } from "./profile.ts";
import { parseProfileRequest, planProfileInstall } from "./resource.ts";
import { checkStateRecord, stateProtocolProfile } from "./state_protocol.ts";

const OPTIONS = (() => {
  const result = stateProtocolProfile.validate({ kind: "state-protocol" });
  if (!result.ok) throw result.error;
  return result.value;
})();

Deno.test("state-protocol accepts change and control records and stores them unchanged", () => {
  const good = [
    { type: "t", key: "1", value: { a: 1 }, headers: { operation: "insert" } },
    {
      type: "t",
      key: "1",
      value: null,
      old_value: { a: 1 },
      headers: {
        operation: "update",
        txid: "42",
        timestamp: "2025-01-01T00:00:00Z",
      },
    },
    { type: "t", key: "1", headers: { operation: "delete" } },
    {
      type: "t",
      key: "1",
      value: 1,
      oldValue: 0,
      headers: { operation: "update" },
    },
    { headers: { control: "snapshot-start", offset: "-1" } },
    {
      headers: {
        control: "snapshot-end",
        offset: "0000000000000000_0000000000000123",
      },
    },
    { headers: { control: "reset" } },
  ];
  const result = normalizeBatch(stateProtocolProfile, OPTIONS, good, {
    nowMs: 0,
  });
  assert.ok(result.ok);
  assert.deepEqual(result.value.map((r) => r.value), good);
  assert.ok(result.value.every((r) => r.routingKey === null));
});

Deno.test("state-protocol rejects bad records, naming the element and field", () => {
  const cases: [unknown, RegExp, string | undefined][] = [
    [
      { type: "t", key: "1", headers: { operation: "insert" } },
      /"value" is required for insert/,
      "value",
    ],
    [
      { type: "t", key: "1", headers: { operation: "update" } },
      /"value" is required for update/,
      "value",
    ],
    [
      { headers: { control: "reset", operation: "insert" } },
      /exactly one/,
      "headers",
    ],
    [{ headers: {} }, /needs "operation" or "control"/, "headers"],
    [
      { type: "t", key: "1", value: 1 },
      /"headers" must be an object/,
      "headers",
    ],
    [
      { type: "t", key: "1", value: 1, headers: { operation: "upsert" } },
      /headers\.operation/,
      "headers.operation",
    ],
    [
      { type: "", key: "1", value: 1, headers: { operation: "insert" } },
      /"type"/,
      "type",
    ],
    [
      { type: "t", key: 1, value: 1, headers: { operation: "insert" } },
      /"key"/,
      "key",
    ],
    [
      {
        type: "t",
        key: "1",
        value: 1,
        headers: { operation: "insert", txid: 5 },
      },
      /txid/,
      "headers.txid",
    ],
    [
      {
        type: "t",
        key: "1",
        value: 1,
        headers: { operation: "insert", timestamp: "today" },
      },
      /headers\.timestamp/,
      "headers.timestamp",
    ],
    [{ headers: { control: "pause" } }, /headers\.control/, "headers.control"],
    [
      { headers: { control: "reset", offset: "abc" } },
      /headers\.offset/,
      "headers.offset",
    ],
    [[1], /JSON object/, undefined],
  ];
  for (const [element, message, field] of cases) {
    const ok = {
      type: "t",
      key: "0",
      value: 0,
      headers: { operation: "insert" },
    };
    const result = normalizeBatch(
      stateProtocolProfile,
      OPTIONS,
      [ok, element],
      { nowMs: 0 },
    );
    assert.ok(!result.ok, JSON.stringify(element));
    assert.equal(STATUS[result.error.kind], 400);
    assert.match(result.error.message, /^Element 1: /);
    assert.match(result.error.message, message);
    assert.equal(result.error.detail?.field, field);
    assert.equal(result.error.detail?.index, 1);
  }
  assert.ok(checkStateRecord({ headers: { control: "reset" } }).ok);
});

Deno.test("state-protocol options: touch defaults, ranges and unknown keys", () => {
  const touch = OPTIONS.touch as Record<string, unknown>;
  assert.equal(touch.enabled, false);
  assert.equal(touch.onMissingBefore, "coarse");
  assert.equal(touch.coarseIntervalMs, 100);
  assert.deepEqual((touch.memory as Record<string, unknown>).filterPow2, 22);
  assert.equal(
    (touch.templates as Record<string, unknown>).maxActiveTemplatesPerStream,
    2048,
  );
  const enabled = stateProtocolProfile.validate({
    kind: "state-protocol",
    touch: {
      enabled: true,
      memory: { k: 8 },
      templates: { activationRateLimitPerMinute: 0 },
    },
  });
  assert.ok(enabled.ok);
  assert.equal(enabled.value.touch.enabled, true);
  const bad: [unknown, RegExp][] = [
    [{ nope: 1 }, /"profile\.touch\.nope"/],
    [{ enabled: "yes" }, /touch\.enabled/],
    [{ onMissingBefore: "later" }, /onMissingBefore/],
    [{ coarseIntervalMs: 5 }, /coarseIntervalMs.*between 10 and 10000/],
    [{ memory: { filterPow2: 25 } }, /memory\.filterPow2/],
    [{ memory: { other: 1 } }, /"profile\.touch\.memory\.other"/],
    [{ templates: { defaultInactivityTtlMs: 999 } }, /defaultInactivityTtlMs/],
    [{ fineBurstTokens: -1 }, /at least 0/],
    [{ lagDegradeFineTouchesAtSourceOffsets: 10 }, /at least lagRecover/],
    [{ memory: 3 }, /touch\.memory/],
    [7, /profile\.touch/],
  ];
  for (const [touchRaw, message] of bad) {
    const result = stateProtocolProfile.validate({
      kind: "state-protocol",
      touch: touchRaw,
    });
    assert.ok(!result.ok, JSON.stringify(touchRaw));
    assert.match(result.error.message, message);
  }
  const extra = stateProtocolProfile.validate({ kind: "state-protocol", x: 1 });
  assert.ok(!extra.ok);
});

Deno.test("state-protocol installs on a non-empty JSON stream; leaving it deletes touch state", () => {
  const parsed = parseProfileRequest({ profile: { kind: "state-protocol" } });
  assert.ok(parsed.ok);
  const install = planProfileInstall(
    {
      contentType: "application/json",
      empty: false,
      current: { kind: "generic" },
    },
    parsed.value,
  );
  assert.ok(install.ok);
  assert.equal(install.value.registry, null);
  assert.equal(install.value.deleteTouchState, false);
  const leave = planProfileInstall(
    { contentType: "application/json", empty: false, current: parsed.value },
    { kind: "generic" },
  );
  assert.ok(leave.ok);
  assert.equal(leave.value.deleteTouchState, true);
  const octet = planProfileInstall(
    { contentType: "text/plain", empty: true, current: { kind: "generic" } },
    parsed.value,
  );
  assert.ok(!octet.ok);
  assert.equal(octet.error.kind, "bad_request");
});
