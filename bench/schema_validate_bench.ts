/**
 * @module
 * The per-append cost a schema adds, without HTTP: framing a 100-byte,
 * ten-field JSON body (what every JSON append pays) against framing plus
 * validating it against a 10-field schema, plus taking its routing key from
 * a pointer; and promoting a stored record through a one-op lens.
 *
 * ```sh
 * deno bench -A bench/schema_validate_bench.ts
 * ```
 */

import { frameJsonMessages } from "../src/protocol/json.ts";
import { promote } from "../src/schema/promote.ts";
import { routingKeys } from "../src/schema/routing_key.ts";
import {
  activate,
  emptyRegistry,
  planSchemaUpdate,
} from "../src/schema/registry.ts";
import { compileSchema, validateElements } from "../src/schema/validate.ts";

const FIELDS = [
  "id",
  "kind",
  "user",
  "qty",
  "price",
  "ok",
  "region",
  "ts",
  "ver",
  "note",
];
const SCHEMA = {
  type: "object",
  additionalProperties: false,
  required: FIELDS,
  properties: {
    id: { type: "string", minLength: 1 },
    kind: { enum: ["order", "refund"] },
    user: { type: "integer", minimum: 0 },
    qty: { type: "integer", minimum: 0 },
    price: { type: "number" },
    ok: { type: "boolean" },
    region: { type: "string", maxLength: 8 },
    ts: { type: "string", format: "date-time" },
    ver: { type: "integer" },
    note: { type: "string" },
  },
};
const BODY = new TextEncoder().encode(JSON.stringify({
  id: "w1-123",
  kind: "order",
  user: 1,
  qty: 3,
  price: 12.5,
  ok: true,
  region: "eu",
  ts: "2026-12-01T10:00:00Z",
  ver: 1,
  note: "xxxxxxxxx",
}));
const compiled = compileSchema(SCHEMA);
if (!compiled.ok) throw compiled.error;
const validator = compiled.value;
let registry = planSchemaUpdate(emptyRegistry("orders"), {
  schema: SCHEMA,
  routingKey: { jsonPointer: "/id", required: true },
}, { tail: 0, empty: true });
if (!registry.ok) throw registry.error;
const keyed = activate(registry.value);
registry = planSchemaUpdate(registry.value, {
  schema: {
    ...SCHEMA,
    required: [...FIELDS, "tag"],
    properties: { ...SCHEMA.properties, tag: { type: "string" } },
  },
  lens: {
    apiVersion: "durable.lens/v1",
    schema: "orders",
    from: 1,
    to: 2,
    ops: [{
      op: "add",
      path: "/tag",
      schema: { type: "string" },
      default: "none",
    }],
  },
}, { tail: 1000, empty: false });
if (!registry.ok) throw registry.error;
const evolved = activate(registry.value);

Deno.bench("frame a 100 B JSON body (every JSON append)", {
  group: "append",
  baseline: true,
}, () => {
  frameJsonMessages(BODY, false);
});

Deno.bench(
  "frame + validate against a 10-field schema",
  { group: "append" },
  () => {
    const framed = frameJsonMessages(BODY, false);
    if (!framed.ok) throw framed.error;
    validateElements(validator, framed.value.values!);
  },
);

Deno.bench(
  "frame + validate + routing key from /id",
  { group: "append" },
  () => {
    const framed = frameJsonMessages(BODY, false);
    if (!framed.ok) throw framed.error;
    validateElements(validator, framed.value.values!);
    routingKeys(keyed, framed.value.values!, undefined, 1024);
  },
);

Deno.bench(
  "promote one stored record through an add lens",
  { group: "read" },
  () => {
    promote(evolved, 10, JSON.parse('{"id":"a","kind":"order"}'));
  },
);
