import assert from "node:assert/strict";
import fc from "fast-check";
import {
  compareStreamSeq,
  isJsonContentType,
  isTextContentType,
  isValidContentType,
  mediaType,
  parseExpiresAt,
  parseProducerHeaders,
  parseRfc3339,
  parseStreamClosed,
  parseTtl,
} from "./headers.ts";

Deno.test("mediaType() drops parameters and case", () => {
  assert.equal(
    mediaType("Application/JSON; charset=utf-8"),
    "application/json",
  );
  assert.ok(isJsonContentType("application/json;charset=UTF-8"));
  assert.ok(!isJsonContentType("application/jsonl"));
  assert.ok(isTextContentType("text/plain"));
  assert.ok(!isTextContentType("application/octet-stream"));
  assert.ok(isValidContentType("application/x-ndjson"));
  assert.ok(!isValidContentType("not a type"));
  assert.ok(!isValidContentType(""));
});

Deno.test("parseStreamClosed() accepts only true in any case", () => {
  assert.ok(parseStreamClosed("true"));
  assert.ok(parseStreamClosed("TRUE"));
  assert.ok(!parseStreamClosed("false"));
  assert.ok(!parseStreamClosed("yes"));
  assert.ok(!parseStreamClosed(null));
});

Deno.test("parseTtl() accepts only canonical integers from 1", () => {
  assert.deepEqual(parseTtl("1"), { ok: true, value: 1 });
  assert.deepEqual(parseTtl("3600"), { ok: true, value: 3600 });
  for (const bad of ["0", "", "+1", "01", "1.0", "1e3", "-1", " 1", "abc"]) {
    assert.equal(parseTtl(bad).ok, false, bad);
  }
});

const NOW_MS = Date.UTC(2026, 0, 1);

Deno.test("parseExpiresAt() accepts RFC 3339 only", () => {
  const parsed = parseExpiresAt("2030-01-02T03:04:05Z", NOW_MS);
  assert.ok(parsed.ok && parsed.value === Date.UTC(2030, 0, 2, 3, 4, 5));
  assert.ok(parseExpiresAt("2030-01-02T03:04:05.123+02:00", NOW_MS).ok);
  for (const bad of ["tomorrow", "2030-01-02", "1700000000"]) {
    assert.equal(parseExpiresAt(bad, NOW_MS).ok, false, bad);
  }
});

Deno.test("parseExpiresAt() refuses a time that has passed", () => {
  assert.equal(parseExpiresAt("2025-12-31T23:59:59Z", NOW_MS).ok, false);
  assert.equal(parseExpiresAt("2026-01-01T00:00:00Z", NOW_MS).ok, false);
  assert.ok(parseExpiresAt("2026-01-01T00:00:00.001Z", NOW_MS).ok);
});

Deno.test("parseRfc3339() refuses impossible dates instead of rolling them over", () => {
  for (
    const bad of [
      "2027-02-30T00:00:00Z",
      "2027-02-29T00:00:00Z",
      "2100-02-29T00:00:00Z",
      "2027-04-31T00:00:00Z",
      "2027-13-01T00:00:00Z",
      "2027-00-01T00:00:00Z",
      "2027-01-00T00:00:00Z",
      "2027-01-01T24:00:00Z",
      "2027-01-01T23:60:00Z",
      "2027-01-01T23:59:61Z",
      "2027-01-15T23:59:60Z", // not a month's last day
      "2027-01-31T22:59:60Z", // not 23:59 UTC
      "2027-01-01T00:00:00+24:00",
      "2027-01-01T00:00:00+05:60",
      "2027-01-01T00:00:00+0500",
      "2027-01-01T00:00:00",
      "2027-01-01T00:00Z",
      "2027-1-01T00:00:00Z",
      "2027-01-01T00:00:00.Z",
      "2027-01-01X00:00:00Z",
    ]
  ) {
    assert.equal(parseRfc3339(bad), undefined, bad);
  }
  assert.equal(parseRfc3339("2024-02-29T00:00:00Z"), Date.UTC(2024, 1, 29));
  assert.equal(parseRfc3339("2000-02-29t12:00:00z"), Date.UTC(2000, 1, 29, 12));
  assert.equal(
    parseRfc3339("2027-01-01 00:00:00.987654-01:30"),
    Date.UTC(2027, 0, 1, 1, 30, 0, 987),
  );
  // Leap seconds count as the next midnight UTC, in any offset.
  assert.equal(parseRfc3339("2016-12-31T23:59:60Z"), Date.UTC(2017, 0, 1));
  assert.equal(
    parseRfc3339("1990-12-31T15:59:60-08:00"),
    Date.UTC(1991, 0, 1),
  );
  assert.equal(parseRfc3339("0001-01-01T00:00:00Z"), -62135596800000);
});

/** Formats `ms` as RFC 3339 in the zone `offsetMinutes` east of UTC. */
function formatRfc3339(ms: number, offsetMinutes: number): string {
  const local = new Date(ms + offsetMinutes * 60_000).toISOString();
  if (offsetMinutes === 0) return local;
  const sign = offsetMinutes < 0 ? "-" : "+";
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, "0");
  const mm = String(abs % 60).padStart(2, "0");
  return `${local.slice(0, -1)}${sign}${hh}:${mm}`;
}

Deno.test("parseRfc3339() round-trips any real time in any offset (property)", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -62135510400000, max: Date.UTC(9999, 11, 30) }), // from 0001-01-02
      fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
      (ms, offsetMinutes) => {
        const text = formatRfc3339(ms, offsetMinutes);
        assert.equal(parseRfc3339(text), ms, text);
      },
    ),
    { numRuns: 2000 },
  );
});

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** Two digits, most often in 0..`max` so that valid times are common too. */
function mostlyUpTo(max: number): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: fc.integer({ min: 0, max }), weight: 6 },
    { arbitrary: fc.integer({ min: 0, max: 99 }), weight: 1 },
  );
}

function isRealTime(
  [year, month, day, hour, minute, second, offsetHours, offsetMinutes]:
    number[],
): boolean {
  const probe = new Date(0);
  probe.setUTCFullYear(year, month, 0); // day 0 of the next month
  return month >= 1 && month <= 12 && day >= 1 && day <= probe.getUTCDate() &&
    hour <= 23 && minute <= 59 && second <= 59 && offsetHours <= 23 &&
    offsetMinutes <= 59;
}

Deno.test("parseRfc3339() refuses every out-of-range field (property)", () => {
  fc.assert(
    fc.property(
      fc.tuple(
        fc.integer({ min: 0, max: 9999 }),
        ...[12, 31, 23, 59, 59, 23, 59].map(mostlyUpTo),
      ),
      fc.constantFrom("+", "-"),
      (fields, sign) => {
        const [y, mo, d, h, mi, s, oh, om] = fields;
        fc.pre(s !== 60); // leap seconds have their own rule, tested above
        const text = `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:` +
          `${pad(s)}${sign}${pad(oh)}:${pad(om)}`;
        assert.equal(
          parseRfc3339(text) !== undefined,
          isRealTime(fields),
          text,
        );
      },
    ),
    { numRuns: 5000 },
  );
});

Deno.test("parseProducerHeaders() requires all three or none", () => {
  assert.deepEqual(parseProducerHeaders(null, null, null), {
    ok: true,
    value: undefined,
  });
  assert.deepEqual(parseProducerHeaders("p", "1", "2"), {
    ok: true,
    value: { id: "p", epoch: 1, seq: 2 },
  });
  assert.equal(parseProducerHeaders("p", "1", null).ok, false);
  assert.equal(parseProducerHeaders("", "1", "2").ok, false);
  assert.equal(parseProducerHeaders("p", "-1", "2").ok, false);
  assert.equal(parseProducerHeaders("p", "1", "9007199254740992").ok, false);
  assert.equal(parseProducerHeaders("p", "1.5", "2").ok, false);
});

Deno.test("compareStreamSeq() matches UTF-8 byte order (property)", () => {
  const encoder = new TextEncoder();
  const byteCompare = (a: string, b: string): number => {
    const x = encoder.encode(a);
    const y = encoder.encode(b);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return x[i] - y[i];
    }
    return x.length - y.length;
  };
  fc.assert(
    fc.property(
      fc.string({ unit: "grapheme" }),
      fc.string({ unit: "grapheme" }),
      (a, b) =>
        Math.sign(compareStreamSeq(a, b)) === Math.sign(byteCompare(a, b)),
    ),
  );
  assert.ok(compareStreamSeq("\u{ffff}", "\u{10000}") < 0, "BMP before astral");
});
