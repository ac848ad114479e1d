/**
 * Search over HTTP (specs/search.md §7): a JSON stream with a `search`
 * section, records spread over uploaded segments and the WAL tail, then
 * `filter=` reads, `_search` and `_aggregate` compared with answers computed
 * here from the appended data; restart and `--bootstrap` give the same
 * answers.
 */

import assert from "node:assert/strict";
import { startTestServer } from "./_server.ts";
import { sendJson as send } from "./_json_http.ts";

const BASE_MS = Date.UTC(2026, 11, 1, 10, 0, 0);
const SERVICES = ["api", "web", "db"];

interface Rec {
  ts: string;
  service: string;
  status: number;
  message: string;
}

function record(i: number): Rec {
  return {
    ts: new Date(BASE_MS + i * 7_000).toISOString(),
    service: SERVICES[i % 3],
    status: i % 7 === 0 ? 500 : i % 5 === 0 ? 404 : 200,
    message: i % 11 === 0
      ? "db timeout while reading"
      : i % 13 === 0
      ? "timeout reading db"
      : "request ok",
  };
}

const RECORDS = Array.from({ length: 1000 }, (_, i) => record(i));
const TAIL = Array.from({ length: 20 }, (_, i) => record(1000 + i));
const ALL = [...RECORDS, ...TAIL];

const SCHEMA = { type: "object", required: ["ts", "service"] };
const SEARCH = {
  primaryTimestampField: "ts",
  aliases: { svc: "service" },
  defaultFields: [{ field: "message", boost: 2 }],
  fields: {
    ts: {
      kind: "date",
      bindings: [{ version: 1, jsonPointer: "/ts" }],
      column: true,
      exact: true,
      sortable: true,
    },
    service: {
      kind: "keyword",
      bindings: [{ version: 1, jsonPointer: "/service" }],
      normalizer: "lowercase_v1",
      exact: true,
      prefix: true,
    },
    status: {
      kind: "integer",
      bindings: [{ version: 1, jsonPointer: "/status" }],
      exact: true,
      column: true,
    },
    message: {
      kind: "text",
      bindings: [{ version: 1, jsonPointer: "/message" }],
      analyzer: "unicode_word_v1",
      positions: true,
    },
  },
  rollups: {
    requests: {
      dimensions: ["service"],
      intervals: ["1m", "1h"],
      measures: {
        n: { kind: "count" },
        errors: { kind: "count", include: "status:>=500" },
      },
    },
  },
};

async function waitUploaded(base: string): Promise<void> {
  for (let i = 0; i < 800; i++) {
    const d = (await send(`${base}/_details`)).json;
    if (d.uploadedThroughOffset === d.tailOffset && d.segmentCount >= 4) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("segments never uploaded");
}

/** Creates `logs` with the schema and search, appends, waits for uploads. */
async function seed(url: string): Promise<string> {
  const base = `${url}/v1/stream/logs`;
  assert.equal((await send(base, "PUT")).status, 201);
  const schema = await send(`${base}/_schema`, "POST", {
    schema: SCHEMA,
    search: SEARCH,
  });
  assert.equal(schema.status, 200, JSON.stringify(schema.json));
  for (let i = 0; i < RECORDS.length; i += 50) {
    const r = await send(base, "POST", RECORDS.slice(i, i + 50));
    assert.equal(r.status, 204);
  }
  await waitUploaded(base);
  assert.equal((await send(base, "POST", TAIL)).status, 204);
  return base;
}

function query(base: string, params: Record<string, string>): string {
  return `${base}?${new URLSearchParams(params)}`;
}

/** Reads every record a filter keeps, following next offsets to the tail. */
async function filterAll(base: string, filter: string): Promise<Rec[]> {
  const out: Rec[] = [];
  let offset = "-1";
  for (let i = 0; i < 10_000; i++) {
    const r = await send(query(base, { offset, filter }));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    out.push(...r.json);
    offset = r.headers.get("stream-next-offset")!;
    if (r.headers.get("stream-up-to-date") === "true") return out;
  }
  throw new Error("filter never reached the tail");
}

async function searchAll(
  base: string,
  body: Record<string, unknown>,
): Promise<{ offset: string; source: Rec }[]> {
  const out = [];
  let after: unknown = undefined;
  for (let i = 0; i < 1000; i++) {
    const r = await send(`${base}/_search`, "POST", {
      ...body,
      ...(after === undefined ? {} : { search_after: after }),
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    out.push(...r.json.hits);
    after = r.json.next_search_after;
    if (after === null) return out;
  }
  throw new Error("paging never ended");
}

Deno.test("search over HTTP: filter=, _search and _aggregate across segments and the WAL tail, then restart and bootstrap", async (t) => {
  const objects = await Deno.makeTempDir({ prefix: "streambed-search-obj-" });
  const tiered = {
    objectStore: { kind: "fs" as const, dir: objects },
    segment: { segmentBytes: 8192, segmentAgeMs: 50 },
  };
  let server = await startTestServer(tiered);
  const dirs = [server.dataDir];
  try {
    let base = await seed(server.url);

    await t.step("_schema returns the validated search section", async () => {
      const got = (await send(`${base}/_schema`)).json;
      assert.deepEqual(got.search.fields.status.kind, "integer");
      assert.equal(got.search.rollups.requests.timestampField, "ts");
      const bad = await send(`${base}/_schema`, "POST", {
        search: { fields: { status: { kind: "number", bindings: [] } } },
      });
      assert.equal(bad.status, 400);
      assert.match(bad.json.error.message, /search\.fields\.status/);
    });

    await t.step(
      "filter=status:500 returns exactly those records",
      async () => {
        const r = await send(
          query(base, { offset: "-1", filter: "status:500" }),
        );
        assert.equal(r.status, 200);
        const tail = (await send(base, "HEAD")).headers.get(
          "stream-next-offset",
        );
        const got = await filterAll(base, "status:500");
        assert.deepEqual(got, ALL.filter((x) => x.status === 500));
        assert.ok(r.headers.get("stream-filter-scanned-bytes") !== null);
        const last = await send(
          query(base, { offset: "-1", filter: "status:500" }),
        );
        // One response holds them all (64 KiB read cap): next offset = tail.
        assert.equal(last.headers.get("stream-next-offset"), tail);
      },
    );

    await t.step(
      "filter= with AND, NOT, OR, has: and key-less parentheses",
      async () => {
        assert.deepEqual(
          await filterAll(base, "status:>=500 AND -service:api"),
          ALL.filter((x) => x.status >= 500 && x.service !== "api"),
        );
        assert.deepEqual(
          await filterAll(base, "(service:api OR svc:web) has:status"),
          ALL.filter((x) => x.service === "api" || x.service === "web"),
        );
      },
    );

    await t.step("filter= refusals", async () => {
      for (
        const params of <Record<string, string>[]> [
          { offset: "-1", filter: "message:timeout" },
          { offset: "-1", filter: "status:>abc" },
          { offset: "-1", filter: "nope:1" },
          { offset: "-1", filter: "" },
          { offset: "-1", filter: "nope:1", live: "sse" },
        ]
      ) {
        const r = await send(query(base, params));
        assert.equal(r.status, 400, JSON.stringify(params));
        assert.equal(typeof r.json.error.message, "string");
      }
      const bytes = `${server.url}/v1/stream/raw`;
      await fetch(bytes, { method: "PUT" }).then((r) => r.body?.cancel());
      const r = await send(query(bytes, { offset: "-1", filter: "a:1" }));
      assert.equal(r.status, 400);
      const missing = `${server.url}/v1/stream/nope`;
      assert.equal(
        (await send(query(missing, { offset: "-1", filter: "a:1" }))).status,
        404,
      );
    });

    await t.step(
      "filter= long-poll answers a match appended later",
      async () => {
        const tail = (await send(base, "HEAD")).headers.get(
          "stream-next-offset",
        )!;
        const waiting = send(
          query(base, {
            offset: tail,
            filter: "service:late",
            live: "long-poll",
          }),
        );
        await new Promise((resolve) => setTimeout(resolve, 50));
        const extra = { ...record(5000), service: "late" };
        assert.equal((await send(base, "POST", [extra])).status, 204);
        const r = await waiting;
        assert.equal(r.status, 200);
        assert.deepEqual(r.json, [extra]);
        ALL.push(extra);
      },
    );

    await t.step("filter= over SSE sends only matching records", async () => {
      const want = ALL.filter((x) => x.status === 500 && x.service === "db");
      const hangUp = new AbortController();
      const response = await fetch(
        query(base, {
          offset: "-1",
          filter: "status:500 service:db",
          live: "sse",
        }),
        { signal: hangUp.signal },
      );
      assert.equal(response.status, 200);
      const reader = response.body!.pipeThrough(new TextDecoderStream())
        .getReader();
      let text = "";
      const got: Rec[] = [];
      let upToDate = false;
      while (!upToDate || got.length < want.length) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
        let end;
        while ((end = text.indexOf("\n\n")) >= 0) {
          const event = text.slice(0, end);
          text = text.slice(end + 2);
          const data = event.split("\n").filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5)).join("\n");
          if (event.startsWith("event: data")) got.push(...JSON.parse(data));
          if (event.startsWith("event: control")) {
            upToDate = JSON.parse(data).upToDate === true;
          }
        }
      }
      hangUp.abort();
      await reader.cancel().catch(() => {});
      assert.deepEqual(got, want);
    });

    await t.step(
      "_search pages status:500 by offset desc, each once",
      async () => {
        const first = await send(`${base}/_search`, "POST", {
          q: "status:500",
          size: 10,
        });
        assert.equal(first.status, 200);
        assert.equal(first.json.hits.length, 10);
        assert.notEqual(first.json.next_search_after, null);
        const offsets = first.json.hits.map((h: { offset: string }) =>
          h.offset
        );
        assert.deepEqual(offsets, [...offsets].sort().reverse());
        assert.equal(first.json.coverage.complete, true);
        // Uploaded segments have companions by now (built after upload):
        // the ones answered from them are not counted as scanned.
        const { indexed_segments, scanned_segments } = first.json.coverage;
        assert.ok(indexed_segments >= 4, `indexed ${indexed_segments}`);
        assert.ok(indexed_segments + scanned_segments >= 4);
        // The tail may have been sealed meanwhile (50 ms segment age).
        assert.equal(typeof first.json.coverage.scanned_tail_docs, "number");
        const all = await searchAll(base, { q: "status:500", size: 10 });
        const want = ALL.filter((x) => x.status === 500).reverse();
        assert.deepEqual(all.map((h) => h.source), want);
        assert.equal(new Set(all.map((h) => h.offset)).size, want.length);
      },
    );

    await t.step("_search ranks text, phrases and prefixes", async () => {
      const r = await send(`${base}/_search`, "POST", {
        q: "db timeout",
        size: 500,
      });
      assert.equal(r.status, 200);
      const hits = r.json.hits as { score: number; source: Rec }[];
      assert.equal(
        hits.length,
        ALL.filter((x) => /db/.test(x.message) && /timeout/.test(x.message))
          .length,
      );
      for (let i = 1; i < hits.length; i++) {
        assert.ok(hits[i - 1].score >= hits[i].score);
        if (hits[i - 1].score === hits[i].score) {
          assert.ok(hits[i - 1].source.ts >= hits[i].source.ts);
        }
      }
      const phrase = await searchAll(base, { q: '"db timeout"', size: 500 });
      assert.deepEqual(
        phrase.map((h) => h.source).sort((a, b) => a.ts < b.ts ? -1 : 1),
        ALL.filter((x) => x.message.includes("db timeout")),
      );
      const prefix = await searchAll(base, { q: "service:ap*", size: 500 });
      assert.equal(
        prefix.length,
        ALL.filter((x) => x.service === "api").length,
      );
      const bad = await send(`${base}/_search`, "POST", { q: "status:5*" });
      assert.equal(bad.status, 400);
    });

    await t.step("_search request checks, and GET equals POST", async () => {
      for (
        const body of [
          { q: "x", size: 0 },
          { q: "x", size: 501 },
          { q: "x", track_total_hits: true },
          { q: "x", sort: ["message"] },
          { q: "" },
          { size: 10 },
        ]
      ) {
        const r = await send(`${base}/_search`, "POST", body);
        assert.equal(r.status, 400, JSON.stringify(body));
      }
      const get = await send(
        `${base}/_search?q=status:500&sort=ts:asc&size=25`,
      );
      const post = await send(`${base}/_search`, "POST", {
        q: "status:500",
        sort: ["ts:asc"],
        size: 25,
      });
      assert.equal(get.status, 200);
      assert.deepEqual(get.json.hits, post.json.hits);
      assert.deepEqual(
        get.json.next_search_after,
        post.json.next_search_after,
      );
      const raw = `${server.url}/v1/stream/raw/_search?q=x`;
      assert.equal((await send(raw)).status, 400);
    });

    await t.step(
      "_search with timeout_ms 0 answers 408 with a partial body",
      async () => {
        const r = await send(`${base}/_search`, "POST", {
          q: "status:500",
          timeout_ms: 0,
        });
        assert.equal(r.status, 408);
        assert.equal(r.json.timed_out, true);
        assert.equal(r.json.coverage.complete, false);
        assert.equal(r.json.total.relation, "gte");
      },
    );

    await t.step("_aggregate equals counts folded here", async () => {
      const from = BASE_MS;
      const to = BASE_MS + 3_600_000;
      const r = await send(`${base}/_aggregate`, "POST", {
        rollup: "requests",
        from: new Date(from).toISOString(),
        to: new Date(to).toISOString(),
        interval: "1m",
        group_by: ["service"],
      });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      // Whole minutes: the rollup rows of every segment with a companion.
      assert.equal(
        r.json.coverage.used_rollups,
        r.json.coverage.indexed_segments > 0,
      );
      assert.equal(r.json.coverage.complete, true);
      const want = new Map<string, { n: number; errors: number }>();
      for (const x of ALL) {
        const ts = Date.parse(x.ts);
        if (ts < from || ts >= to) continue;
        const start = new Date(Math.floor(ts / 60_000) * 60_000).toISOString();
        const id = `${start}|${x.service}`;
        const cell = want.get(id) ?? { n: 0, errors: 0 };
        cell.n++;
        if (x.status >= 500) cell.errors++;
        want.set(id, cell);
      }
      const got = new Map<string, { n: number; errors: number }>();
      for (const b of r.json.buckets) {
        for (const g of b.groups) {
          got.set(`${b.start}|${g.key.service}`, {
            n: g.measures.n.count,
            errors: g.measures.errors.count,
          });
        }
      }
      assert.deepEqual(
        [...got.entries()].sort(),
        [...want.entries()].sort(),
      );
      for (
        const bad of [
          { from: "1764583200000", to: to, interval: "1m" },
          { from, to, interval: "7m" },
          { from, to: from + 30 * 86_400_000, interval: "1m" },
          { from, to, interval: "1m", rollup: "nope" },
        ]
      ) {
        const res = await send(`${base}/_aggregate`, "POST", {
          rollup: "requests",
          ...bad,
        });
        assert.equal(res.status, 400, JSON.stringify(bad));
      }
    });

    await t.step(
      "_index_status lists the search families and the plan generation moves with the config",
      async () => {
        const status = (await send(`${base}/_index_status`)).json;
        const families = status.search_families as {
          family: string;
          plan_generation: number;
          indexed_segments: number;
          lag_segments: number;
        }[];
        assert.deepEqual(families.map((f) => f.family), [
          "col",
          "fts",
          "exact",
          "agg",
        ]);
        assert.ok(families.every((f) => f.plan_generation === 1));
        // Companions (col, fts, exact and agg sections) cover the uploaded
        // segments.
        const uploaded = status.segments.uploaded_count;
        for (const f of families) {
          assert.equal(f.indexed_segments + f.lag_segments, uploaded);
          assert.ok(f.indexed_segments >= 4, JSON.stringify(f));
        }
        assert.ok(status.bundled_companions.object_count >= 4);
        assert.ok(Number(status.bundled_companions.bytes_at_rest) > 0);
        const more = structuredClone(SEARCH) as typeof SEARCH & {
          fields: Record<string, unknown>;
        };
        more.fields.host = {
          kind: "keyword",
          bindings: [{ version: 1, jsonPointer: "/host" }],
          exact: true,
        };
        const changed = await send(`${base}/_schema`, "POST", { search: more });
        assert.equal(changed.status, 200, JSON.stringify(changed.json));
        const after = (await send(`${base}/_index_status`)).json;
        assert.ok(
          after.search_families.every((f: { plan_generation: number }) =>
            f.plan_generation === 2
          ),
        );
        // Queries stay correct across the change.
        assert.deepEqual(
          await filterAll(base, "status:500"),
          ALL.filter((x) => x.status === 500),
        );
        // Companions of the old config are never read; new ones are built.
        let rebuilt = 0;
        for (let i = 0; i < 400 && rebuilt < 4; i++) {
          await new Promise((resolve) => setTimeout(resolve, 25));
          rebuilt = (await send(`${base}/_index_status`)).json
            .bundled_companions.object_count;
        }
        assert.ok(rebuilt >= 4, `rebuilt ${rebuilt}`);
      },
    );

    const before = {
      filter: await filterAll(base, "status:404 service:db"),
      search: (await send(`${base}/_search`, "POST", { q: "db timeout" }))
        .json.hits,
      aggregate: (await send(`${base}/_aggregate`, "POST", {
        rollup: "requests",
        from: BASE_MS,
        to: BASE_MS + 7_200_000,
        interval: "1h",
      })).json.buckets,
    };

    await t.step("restart: the same answers", async () => {
      await server.close();
      server = await startTestServer(tiered, server.dataDir);
      base = `${server.url}/v1/stream/logs`;
      assert.deepEqual(
        await filterAll(base, "status:404 service:db"),
        before.filter,
      );
      const s = await send(`${base}/_search`, "POST", { q: "db timeout" });
      assert.deepEqual(s.json.hits, before.search);
    });

    await t.step(
      "--bootstrap: the same answers on the published records",
      async () => {
        await waitUploaded(base);
        await server.close();
        server = await startTestServer({
          ...tiered,
          objectStore: { ...tiered.objectStore, bootstrap: true },
        });
        dirs.push(server.dataDir);
        base = `${server.url}/v1/stream/logs`;
        const got = (await send(`${base}/_schema`)).json;
        assert.equal(got.search.primaryTimestampField, "ts");
        assert.deepEqual(
          await filterAll(base, "status:404 service:db"),
          before.filter,
        );
        const s = await send(`${base}/_search`, "POST", { q: "db timeout" });
        assert.deepEqual(s.json.hits, before.search);
        const a = await send(`${base}/_aggregate`, "POST", {
          rollup: "requests",
          from: BASE_MS,
          to: BASE_MS + 7_200_000,
          interval: "1h",
        });
        assert.deepEqual(a.json.buckets, before.aggregate);
      },
    );
  } finally {
    await server.close().catch(() => {});
    for (const dir of dirs) await Deno.remove(dir, { recursive: true });
    await Deno.remove(objects, { recursive: true });
  }
});
