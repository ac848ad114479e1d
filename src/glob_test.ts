import assert from "node:assert/strict";
import { globCovers, globMatch, parseGlob } from "./glob.ts";

function matches(pattern: string, path: string): boolean {
  const parsed = parseGlob(pattern);
  assert.ok(parsed.ok, pattern);
  return globMatch(parsed.value, path);
}

Deno.test("globMatch() `*` matches exactly one segment", () => {
  assert.equal(matches("events/*", "events/a"), true);
  assert.equal(matches("events/*", "events"), false);
  assert.equal(matches("events/*", "events/a/b"), false);
  assert.equal(matches("*/x", "a/x"), true);
  assert.equal(matches("*/x", "x"), false);
  assert.equal(matches("events/*", "events/"), false); // empty segment
});

Deno.test("globMatch() `**` matches zero or more segments", () => {
  assert.equal(matches("events/**", "events"), true);
  assert.equal(matches("events/**", "events/a"), true);
  assert.equal(matches("events/**", "events/a/b/c"), true);
  assert.equal(matches("**", "anything/at/all"), true);
  assert.equal(matches("**/end", "end"), true);
  assert.equal(matches("**/end", "a/b/end"), true);
  assert.equal(matches("**/end", "a/b/end/x"), false);
  assert.equal(matches("a/**/b/**/c", "a/b/c"), true);
  assert.equal(matches("a/**/b/**/c", "a/x/b/y/z/c"), true);
  assert.equal(matches("a/**/b/**/c", "a/x/y/c"), false);
  assert.equal(matches("a/**/*", "a"), false);
  assert.equal(matches("a/**/*", "a/b"), true);
});

Deno.test("globMatch() literals are exact and case-sensitive", () => {
  assert.equal(matches("events/a", "events/a"), true);
  assert.equal(matches("events/a", "Events/a"), false);
  assert.equal(matches("events/a", "events/ab"), false);
  assert.equal(matches("a.b/c", "aXb/c"), false); // no regex meaning
});

Deno.test("globMatch() stays fast on pathological patterns", () => {
  const pattern = Array(30).fill("**").join("/") + "/z";
  const path = Array(200).fill("a").join("/");
  assert.equal(matches(pattern, path), false);
  assert.equal(matches(pattern, path + "/z"), true);
});

Deno.test("parseGlob() rejects malformed patterns", () => {
  for (
    const bad of ["", "/events", "events/", "a//b", "ev*", "a/**b", "__ds/x"]
  ) {
    assert.equal(parseGlob(bad).ok, false, bad);
  }
});

Deno.test("parseGlob() computes the literal listing prefix", () => {
  const prefix = (p: string) => {
    const g = parseGlob(p);
    assert.ok(g.ok);
    return g.value.literalPrefix;
  };
  assert.equal(prefix("events/*"), "events/");
  assert.equal(prefix("a/b/**/c"), "a/b/");
  assert.equal(prefix("**"), "");
  assert.equal(prefix("exact/name"), "exact/name");
});

function covers(outer: string, inner: string): boolean {
  const o = parseGlob(outer);
  const i = parseGlob(inner);
  assert.ok(o.ok && i.ok);
  return globCovers(o.value, i.value);
}

Deno.test("globCovers() accepts narrower patterns and refuses wider ones", () => {
  assert.equal(covers("**", "events/*"), true);
  assert.equal(covers("events/**", "events/*"), true);
  assert.equal(covers("events/**", "events/a/**"), true);
  assert.equal(covers("events/**", "events"), true);
  assert.equal(covers("events/*", "events/a"), true);
  assert.equal(covers("events/*", "events/*"), true);
  assert.equal(covers("*/x", "a/x"), true);
  assert.equal(covers("**/x", "a/**/x"), true);
  assert.equal(covers("events/*", "events/**"), false);
  assert.equal(covers("events/**", "**"), false);
  assert.equal(covers("events/**", "other/a"), false);
  assert.equal(covers("events/a", "events/*"), false);
  assert.equal(covers("a/*/c", "a/**/c"), false);
  assert.equal(covers("**/x", "a/*"), false);
});

Deno.test("globCovers() never says yes when some path escapes", () => {
  const patterns = [
    "**",
    "*",
    "a",
    "b",
    "a/*",
    "a/**",
    "*/b",
    "**/b",
    "a/**/b",
    "*/*",
    "a/b",
  ];
  const paths = ["a", "b", "a/b", "b/b", "a/a/b", "a/c", "c/b/b", "a/b/c"];
  for (const outer of patterns) {
    for (const inner of patterns) {
      if (!covers(outer, inner)) continue;
      for (const path of paths) {
        if (matches(inner, path)) {
          assert.ok(matches(outer, path), `${outer} ⊇ ${inner} but ${path}`);
        }
      }
    }
  }
});
