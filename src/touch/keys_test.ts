import assert from "node:assert/strict";
import { encodeArg, isHex16, KeyHasher } from "./keys.ts";

const hasher = await KeyHasher.create();
const ENTITY = "public.todos";
const FIELDS = ["status", "tenantId", "userId"];
const ARGS = ["open", "t1", "u1"];
const TID = hasher.templateId(ENTITY, FIELDS);

// Every golden vector of touch-live.md §3.
const VECTORS: [string, () => string, string][] = [
  ["table key", () => hasher.tableKey(ENTITY), "feadeb84d447fd63"],
  ["template id", () => TID, "ddd2330fdab379da"],
  ["watch key", () => hasher.watchKey(TID, ARGS), "39accd125778dc36"],
  ["membership key", () => hasher.membershipKey(TID, ARGS), "eae633979a7ee466"],
  [
    "projected-field key for title",
    () => hasher.projectedFieldKey(TID, "title", ARGS),
    "1ecc53e76a89f0d5",
  ],
];

for (const [name, compute, expected] of VECTORS) {
  Deno.test(`touch keys: golden vector ${name}`, () => {
    assert.equal(compute(), expected);
  });
}

Deno.test("touch keys: template id sorts field names by code unit", () => {
  assert.equal(
    hasher.templateId(ENTITY, ["userId", "status", "tenantId"]),
    "ddd2330fdab379da",
  );
  const t = hasher.template(ENTITY, [
    { name: "userId", encoding: "string" },
    { name: "tenantId", encoding: "string" },
    { name: "status", encoding: "string" },
  ]);
  assert.equal(t.id, "ddd2330fdab379da");
  assert.deepEqual(t.fields.map((f) => f.name), FIELDS);
});

Deno.test("touch keys: a batch hashes like single calls, in order", () => {
  const pre = [
    hasher.tablePreimage(ENTITY),
    hasher.finePreimage("key", TID, null, ARGS),
    hasher.finePreimage("mem", TID, null, ARGS),
  ];
  assert.deepEqual(hasher.hashMany(pre), [
    "feadeb84d447fd63",
    "39accd125778dc36",
    "eae633979a7ee466",
  ]);
  assert.deepEqual(hasher.hashMany([]), []);
});

Deno.test("touch keys: template key differs per template and is hex16", () => {
  const a = hasher.templateKey(TID);
  const b = hasher.templateKey(hasher.templateId(ENTITY, ["status"]));
  assert.ok(isHex16(a) && isHex16(b));
  assert.notEqual(a, b);
  assert.throws(() => hasher.templateKey("xyz"), RangeError);
});

Deno.test("touch keys: key ids are low 32 bits of hex16, else XXH32", () => {
  assert.equal(hasher.keyId("39accd125778dc36"), 0x5778dc36);
  assert.equal(hasher.keyId("abc"), 0x32d153ff); // XXH32("abc", 0)
  assert.deepEqual(
    [...hasher.keyIds(["feadeb84d447fd63", "abc"])],
    [0xd447fd63, 0x32d153ff],
  );
});

const ENCODE: [unknown, string, string | null][] = [
  ["open", "string", "open"],
  [12.5, "string", "12.5"],
  [true, "string", "true"],
  [Infinity, "string", null],
  [{}, "string", null],
  [null, "string", null],
  [undefined, "int64", null],
  [42, "int64", "42"],
  ["-0017", "int64", "-17"],
  ["9223372036854775807", "int64", "9223372036854775807"],
  ["9223372036854775808", "int64", null],
  [1.5, "int64", null],
  ["1e3", "int64", null],
  [true, "bool", "1"],
  [false, "bool", "0"],
  ["true", "bool", null],
  ["2024-01-02T03:04:05Z", "datetime", "2024-01-02T03:04:05.000Z"],
  ["not a date", "datetime", null],
  [5, "datetime", null],
  ["\u00e9\0x", "bytes", "\u00e9\0x"],
  [1, "bytes", null],
];

Deno.test("touch keys: field encodings", () => {
  for (const [value, encoding, expected] of ENCODE) {
    assert.equal(
      encodeArg(value, encoding as never),
      expected,
      `${JSON.stringify(value)} as ${encoding}`,
    );
  }
});
