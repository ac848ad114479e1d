import assert from "node:assert/strict";
import { KeyHasher } from "./keys.ts";
import {
  checkTemplateItem,
  parseActivateBody,
  type TemplateLimits,
  TemplateRegistry,
} from "./templates.ts";

const hasher = await KeyHasher.create();
const LIMITS: TemplateLimits = {
  defaultInactivityTtlMs: 3_600_000,
  maxActiveTemplatesPerEntity: 256,
  maxActiveTemplatesPerStream: 2048,
  activationRateLimitPerMinute: 100,
};
const TODOS = {
  entity: "public.todos",
  fields: [
    { name: "userId", encoding: "string" },
    { name: "status", encoding: "string" },
    { name: "tenantId", encoding: "string" },
  ],
};

function setup(limits: Partial<TemplateLimits> = {}) {
  const clock = { now: 0 };
  const reg = new TemplateRegistry(
    hasher,
    { ...LIMITS, ...limits },
    () => clock.now,
  );
  return { clock, reg };
}
const body = (templates: unknown[], ttl?: number) => {
  const r = parseActivateBody({ templates, inactivityTtlMs: ttl }, 3_600_000);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
};
const one = (entity: string, name = "id") => ({
  entity,
  fields: [{ name, encoding: "string" }],
});

Deno.test("touch templates: body limits are 400s", () => {
  assert.equal(
    parseActivateBody({ templates: new Array(257).fill(TODOS) }, 1).ok,
    false,
  );
  assert.equal(parseActivateBody({ templates: {} }, 1).ok, false);
  assert.equal(
    parseActivateBody({ templates: [], inactivityTtlMs: 0 }, 1).ok,
    false,
  );
  assert.equal(
    parseActivateBody({ templates: [], inactivityTtlMs: 1.5 }, 1).ok,
    false,
  );
  assert.equal(parseActivateBody([], 1).ok, false);
  const ok = parseActivateBody({ templates: new Array(256).fill(TODOS) }, 7);
  assert.ok(ok.ok && ok.value.inactivityTtlMs === 7);
});

Deno.test("touch templates: invalid items are denied with their index, others activate", () => {
  for (
    const bad of [
      null,
      { entity: " ", fields: [{ name: "a", encoding: "string" }] },
      { entity: "e", fields: [] },
      {
        entity: "e",
        fields: ["a", "b", "c", "d"].map((name) => ({
          name,
          encoding: "string",
        })),
      },
      { entity: "e", fields: [{ name: "a", encoding: "float" }] },
      {
        entity: "e",
        fields: [{ name: "a", encoding: "string" }, {
          name: "a",
          encoding: "int64",
        }],
      },
    ]
  ) assert.equal(typeof checkTemplateItem(bad), "string", JSON.stringify(bad));
  const { reg } = setup();
  const four = {
    entity: "e",
    fields: ["a", "b", "c", "d"].map((name) => ({ name, encoding: "string" })),
  };
  const r = reg.activate(body([TODOS, four]), 10, "00000000000000aa:3");
  assert.deepEqual(r.activated, [{
    templateId: "ddd2330fdab379da",
    state: "active",
    activeFromTouchOffset: "00000000000000aa:3",
  }]);
  assert.equal(r.denied.length, 1);
  assert.deepEqual({ ...r.denied[0], message: undefined }, {
    index: 1,
    reason: "invalid",
    message: undefined,
  });
  assert.equal(reg.entityOf("ddd2330fdab379da"), "public.todos");
  const active = reg.activeByEntity().get("public.todos")!;
  assert.equal(active[0].activeFromSeq, 10);
  assert.deepEqual(active[0].fields.map((f) => f.name), [
    "status",
    "tenantId",
    "userId",
  ]);
});

Deno.test("touch templates: same id with another signature is denied", () => {
  const { reg } = setup();
  reg.activate(body([TODOS]), 0, "c");
  const other = {
    ...TODOS,
    fields: TODOS.fields.map((f) => ({ ...f, encoding: "bytes" })),
  };
  const r = reg.activate(body([other]), 0, "c");
  assert.equal(r.activated.length, 0);
  assert.equal(r.denied[0].reason, "invalid");
});

Deno.test("touch templates: rate limit; re-activation takes no token; refill", () => {
  const { clock, reg } = setup();
  const items = Array.from({ length: 101 }, (_, i) => one(`e${i}`));
  const r = reg.activate(body(items), 0, "c");
  assert.equal(r.activated.length, 100);
  assert.deepEqual(r.denied, [{
    templateId: hasher.templateId("e100", ["id"]),
    reason: "rate_limited",
  }]);
  const again = reg.activate(body([one("e0")]), 5, "c");
  assert.equal(again.activated.length, 1);
  assert.equal(reg.get(hasher.templateId("e0", ["id"]))!.activeFromSeq, 0);
  clock.now += 600; // one token per 600 ms at 100 per minute
  assert.equal(reg.activate(body([one("e100")]), 0, "c").activated.length, 1);
  assert.equal(reg.activate(body([one("e101")]), 0, "c").denied.length, 1);
  const { reg: free } = setup({ activationRateLimitPerMinute: 0 });
  const many = Array.from({ length: 200 }, (_, i) => one(`e${i}`));
  assert.equal(free.activate(body(many), 0, "c").activated.length, 200);
});

Deno.test("touch templates: caps retire the least recently seen others", () => {
  const { clock, reg } = setup({
    maxActiveTemplatesPerEntity: 2,
    maxActiveTemplatesPerStream: 3,
  });
  const id = (e: string, f: string) => hasher.templateId(e, [f]);
  reg.activate(body([one("a", "x")]), 0, "c");
  clock.now = 10;
  reg.activate(body([one("a", "y")]), 0, "c");
  clock.now = 20;
  reg.heartbeat([id("a", "x")]);
  const r = reg.activate(body([one("a", "z")]), 0, "c");
  assert.deepEqual(r.retired, [{
    templateId: id("a", "y"),
    reason: "cap_exceeded",
  }]);
  assert.equal(reg.get(id("a", "y"))!.retiredReason, "cap_exceeded");
  clock.now = 30;
  reg.activate(body([one("b", "x")]), 0, "c");
  assert.equal(reg.activeCount, 3);
  reg.heartbeat([id("a", "x")]);
  const s = reg.activate(body([one("c", "x")]), 0, "c");
  assert.deepEqual(s.retired.map((x) => x.templateId), [id("a", "z")]);
  // A retired template restarts at the current point.
  const back = reg.activate(body([one("a", "y")]), 42, "c");
  assert.equal(back.activated.length, 1);
  assert.equal(reg.get(id("a", "y"))!.activeFromSeq, 42);
});

Deno.test("touch templates: inactivity GC uses heartbeats and TTL", () => {
  const { clock, reg } = setup();
  reg.activate(body([one("a")], 1000), 0, "c");
  reg.activate(body([one("b")], 5000), 0, "c");
  clock.now = 900;
  reg.heartbeat([hasher.templateId("a", ["id"])]);
  clock.now = 1500;
  assert.deepEqual(reg.gc(), []);
  clock.now = 1901;
  assert.deepEqual(reg.gc(), [hasher.templateId("a", ["id"])]);
  assert.equal(
    reg.get(hasher.templateId("a", ["id"]))!.retiredReason,
    "inactivity",
  );
  assert.deepEqual([...reg.activeByEntity().keys()], ["b"]);
});
