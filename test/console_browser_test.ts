/**
 * The console in a real headless Chromium (Debian's `chromium`, driven by
 * `puppeteer-core`) against real servers on port 0: the streams list,
 * create and delete through the UI, the live tail showing an append made
 * by the test, pause and resume, binary as hex, search and aggregate on a
 * stream with a search section, the server page's charts and
 * subscriptions, the streams' sizes,
 * no horizontal scroll at 320 px, and with `--auth api-key` the key form,
 * a read-only key without create or delete, and a refused delete's 403. One browser for the whole file;
 * screenshots go to a temp dir (printed). Where Chromium cannot be found
 * outside CI the test is skipped with a loud message; in CI it must run.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import puppeteer, {
  type Browser,
  type HTTPRequest,
  type Page,
} from "puppeteer-core";
import { startTestServer } from "./_server.ts";
import { withKeyedServer } from "./_auth.ts";

// The functions given to page.evaluate() run in the browser; these are the
// few DOM names they use (the test itself type-checks without the DOM lib).
interface PageElement {
  textContent: string | null;
  value: string;
  click(): void;
  getAttribute(name: string): string | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement> & {
    length: number;
  };
  activeElement: PageElement | null;
  documentElement: { scrollWidth: number };
};
declare const innerWidth: number;

const CHROMIUM = Deno.env.get("CHROMIUM_PATH") ?? "/usr/bin/chromium";
const WAIT_MS = 15_000;

function chromiumFound(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}

const found = chromiumFound();
if (!found && !Deno.env.get("CI")) {
  console.error(
    `\n!!! SKIPPING the console browser tests: no Chromium at ${CHROMIUM} ` +
      "(apt-get install chromium, or set CHROMIUM_PATH) !!!\n",
  );
}

/** A search section with a keyword field, a text field and a rollup. */
const SEARCH_SECTION = {
  primaryTimestampField: "ts",
  defaultFields: [{ field: "message", boost: 2 }],
  fields: {
    ts: {
      kind: "date",
      bindings: [{ version: 1, jsonPointer: "/ts" }],
      column: true,
      sortable: true,
    },
    type: {
      kind: "keyword",
      bindings: [{ version: 1, jsonPointer: "/type" }],
      exact: true,
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
      dimensions: ["type"],
      intervals: ["1m", "1h"],
      measures: { n: { kind: "count" } },
    },
  },
};

/** A page that records console errors and uncaught exceptions. */
async function openPage(
  browser: Browser,
  width = 1024,
): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  await page.setViewport({ width, height: 800 });
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const url = message.location()?.url ?? "";
    // Optional resources (a 404 hides their panel) and refusals the
    // test provokes show up as failed loads; anything else is a bug.
    if (
      message.text().startsWith("Failed to load resource") &&
      (/\/_(profile|schema)$/.test(url) ||
        /status of 40[138]/.test(message.text()))
    ) return;
    errors.push(`${message.text()} ${url}`);
  });
  page.on("pageerror", (error) => errors.push(String(error)));
  return { page, errors };
}

/** Waits until `selector`'s text contains `text`. */
async function waitForText(
  page: Page,
  selector: string,
  text: string,
): Promise<void> {
  await page.waitForFunction(
    (sel: string, want: string) =>
      document.querySelector(sel)?.textContent?.includes(want) ?? false,
    { timeout: WAIT_MS },
    selector,
    text,
  );
}

/** Clicks the button whose text is `label` inside `scope`. */
async function clickButton(
  page: Page,
  scope: string,
  label: string,
): Promise<void> {
  const clicked = await page.evaluate(
    (sel: string, want: string) => {
      const buttons = document.querySelectorAll(`${sel} button`);
      for (const button of buttons) {
        if (button.textContent?.trim() === want) {
          button.click();
          return true;
        }
      }
      return false;
    },
    scope,
    label,
  );
  assert.ok(clicked, `a "${label}" button in ${scope}`);
}

async function listed(page: Page): Promise<string[]> {
  return await page.$$eval(
    "#streams tr[data-stream]",
    (rows) => rows.map((r) => r.getAttribute("data-stream") ?? ""),
  );
}

async function put(url: string, type: string, headers = {}): Promise<void> {
  const res = await fetch(url, {
    method: "PUT",
    headers: { "content-type": type, ...headers },
  });
  assert.ok(res.status === 201 || res.status === 200, `PUT ${url}`);
  await res.body?.cancel();
}

async function append(
  url: string,
  type: string,
  body: BodyInit,
  headers = {},
): Promise<void> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": type, ...headers },
    body,
  });
  assert.ok(res.ok, `POST ${url}: ${res.status}`);
  await res.body?.cancel();
}

Deno.test({
  name: "the console in headless Chromium",
  ignore: !found && !Deno.env.get("CI"),
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  const shots = await Deno.makeTempDir({ prefix: "streambed-console-shots-" });
  console.log(`console screenshots: ${shots}`);
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const shot = (page: Page, name: string) =>
    page.screenshot({ path: join(shots, `${name}.png`) as `${string}.png` });
  const server = await startTestServer();
  const base = server.url;
  try {
    await put(`${base}/v1/stream/demo/events`, "application/json");
    await put(`${base}/v1/stream/demo/notes`, "text/plain");
    await put(`${base}/v1/stream/other/bytes`, "application/octet-stream");
    await append(
      `${base}/v1/stream/demo/events`,
      "application/json",
      '[{"type":"signup","user":1},{"type":"login","user":1}]',
    );

    await t.step("the list shows the streams, filtered by prefix", async () => {
      const { page, errors } = await openPage(browser);
      await page.goto(`${base}/console`);
      await page.waitForSelector("#streams tr[data-stream]", {
        timeout: WAIT_MS,
      });
      assert.deepEqual(await listed(page), [
        "demo/events",
        "demo/notes",
        "other/bytes",
      ]);
      await page.type("#prefix", "demo/e");
      await page.waitForFunction(
        () =>
          document.querySelectorAll("#streams tr[data-stream]").length === 1,
        { timeout: WAIT_MS },
      );
      assert.deepEqual(await listed(page), ["demo/events"]);
      await shot(page, "streams");
      assert.deepEqual(errors, []);
      await page.close();
    });

    await t.step("the list shows each stream's size", async () => {
      const listing = await (await fetch(`${base}/v1/streams`)).json();
      const sizes = new Map<string, number>(
        listing.streams.map((s: { name: string; sizeBytes: number }) => [
          s.name,
          s.sizeBytes,
        ]),
      );
      const events = sizes.get("demo/events")!;
      assert.ok(events > 0, "demo/events has bytes");
      const { page, errors } = await openPage(browser);
      await page.goto(`${base}/console`);
      await page.waitForSelector("#streams tr[data-stream]", {
        timeout: WAIT_MS,
      });
      const headers = await page.$$eval(
        "#streams thead th",
        (cells) => cells.map((c) => c.textContent ?? ""),
      );
      assert.ok(headers.includes("Size"), `columns: ${headers}`);
      const cells = await page.$$eval(
        "#streams tr[data-stream] td.size",
        (tds) =>
          tds.map((
            td,
          ) => [td.textContent ?? "", td.getAttribute("title") ?? ""]),
      );
      assert.deepEqual(cells, [
        [`${events} B`, `${events} bytes`],
        ["0 B", "0 bytes"],
        ["0 B", "0 bytes"],
      ]);
      // Grows with an append once the list is reloaded.
      await append(
        `${base}/v1/stream/other/bytes`,
        "application/octet-stream",
        new Uint8Array(3000),
      );
      await clickButton(
        page,
        "section[aria-labelledby='list-title']",
        "Refresh",
      );
      await waitForText(
        page,
        'tr[data-stream="other/bytes"] td.size',
        "2.9 KiB",
      );
      assert.deepEqual(errors, []);
      await page.close();
    });

    await t.step(
      "create and delete (after confirming) through the UI",
      async () => {
        const { page, errors } = await openPage(browser);
        await page.goto(`${base}/console`);
        await page.waitForSelector("#streams tr[data-stream]", {
          timeout: WAIT_MS,
        });
        await page.type("#create-name", "ui/made");
        await page.select("#create-type", "text/plain");
        await clickButton(page, "form[aria-label='Create a stream']", "Create");
        await page.waitForSelector('tr[data-stream="ui/made"]', {
          timeout: WAIT_MS,
        });
        const made = await fetch(`${base}/v1/stream/ui/made`, {
          method: "HEAD",
        });
        assert.equal(made.status, 200);
        assert.equal(made.headers.get("content-type"), "text/plain");
        await clickButton(page, 'tr[data-stream="ui/made"]', "Delete");
        await waitForText(page, 'tr[data-stream="ui/made"]', "Delete ui/made?");
        // The confirmation takes the focus, on the safe choice (set by an
        // effect, which runs after the confirmation is drawn).
        await page.waitForFunction(
          () => document.activeElement?.textContent === "Cancel",
          { timeout: WAIT_MS },
        );
        await shot(page, "delete-confirm");
        const still = await fetch(`${base}/v1/stream/ui/made`, {
          method: "HEAD",
        });
        assert.equal(still.status, 200, "asking deletes nothing");
        await clickButton(page, 'tr[data-stream="ui/made"]', "Yes, delete");
        await page.waitForFunction(
          () => !document.querySelector('tr[data-stream="ui/made"]'),
          { timeout: WAIT_MS },
        );
        const gone = await fetch(`${base}/v1/stream/ui/made`, {
          method: "HEAD",
        });
        assert.equal(gone.status, 404);
        assert.deepEqual(errors, []);
        await page.close();
      },
    );

    await t.step(
      "the live tail shows an append, pauses and resumes from its offset",
      async () => {
        const { page, errors } = await openPage(browser);
        await page.goto(`${base}/console/stream/demo/events`);
        await waitForText(page, "#tail-state", "live");
        await waitForText(page, "#tail-offset", "_");
        assert.equal(
          await page.$eval("#search-title", () => true).catch(() => false),
          false,
          "no search box where the server has no _search",
        );
        await append(
          `${base}/v1/stream/demo/events`,
          "application/json",
          '{"type":"purchase","marker":"tail-0001"}',
        );
        await waitForText(page, "#tail", "tail-0001");
        await clickButton(
          page,
          "section[aria-labelledby='tail-title']",
          "Pause",
        );
        await waitForText(page, "#tail-state", "paused");
        await append(
          `${base}/v1/stream/demo/events`,
          "application/json",
          '{"type":"purchase","marker":"while-paused"}',
        );
        const paused = await page.$eval("#tail", (el) => el.textContent ?? "");
        assert.ok(!paused.includes("while-paused"));
        await clickButton(
          page,
          "section[aria-labelledby='tail-title']",
          "Resume",
        );
        await waitForText(page, "#tail", "while-paused");
        // The appends-per-second chart has drawn its points.
        await page.waitForFunction(
          () =>
            Number(
              document.querySelector("#tail-title ~ .chart")?.getAttribute(
                "data-points",
              ),
            ) > 0,
          { timeout: WAIT_MS },
        );
        await page.waitForSelector("#tail-title ~ .chart canvas", {
          timeout: WAIT_MS,
        });
        // Records are pretty-printed JSON in collapsible details.
        const pretty = await page.$eval(
          "#tail details.record pre",
          (el) => el.textContent ?? "",
        );
        assert.match(pretty, /\n {2}"type": "purchase"/);
        await shot(page, "stream");
        assert.deepEqual(errors, []);
        await page.close();
      },
    );

    await t.step(
      "reads from an offset, a time or a key; bytes as hex",
      async () => {
        const { page, errors } = await openPage(browser);
        await append(
          `${base}/v1/stream/other/bytes`,
          "application/octet-stream",
          new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x41]),
        );
        await page.goto(`${base}/console/stream/other/bytes`);
        await page.waitForSelector("#read-value", { timeout: WAIT_MS });
        await clickButton(
          page,
          "section[aria-labelledby='read-title']",
          "Read",
        );
        await waitForText(page, "#read-result", "de ad be ef 41");
        // since=: the form offers an hour ago, which covers every append.
        await page.goto(`${base}/console/stream/demo/events`);
        await page.waitForSelector("#read-value", { timeout: WAIT_MS });
        await page.select("#read-mode", "since");
        assert.match(
          await page.$eval(
            "#read-value",
            (el) => (el as unknown as PageElement).value,
          ),
          /^\d{4}-\d\d-\d\dT/,
        );
        await clickButton(
          page,
          "section[aria-labelledby='read-title']",
          "Read",
        );
        await waitForText(page, "#read-result", "signup");
        // Keyed reads: only the records of one routing key.
        const keyed = `${base}/v1/stream/keyed/orders`;
        await put(keyed, "application/json");
        const rule = await fetch(`${keyed}/_schema`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            routingKey: { jsonPointer: "/user", required: true },
          }),
        });
        assert.equal(rule.status, 200);
        await rule.body?.cancel();
        await append(
          keyed,
          "application/json",
          '[{"user":"ada","item":"book"},{"user":"bob","item":"lamp"},{"user":"ada","item":"pen"}]',
        );
        await page.goto(`${base}/console/stream/keyed/orders`);
        await page.waitForSelector("#read-key", { timeout: WAIT_MS });
        await page.type("#read-key", "ada");
        await clickButton(
          page,
          "section[aria-labelledby='read-title']",
          "Read key",
        );
        await waitForText(page, "#read-result", "pen");
        const text = await page.$eval(
          "#read-result",
          (el) => el.textContent ?? "",
        );
        assert.ok(text.includes("book") && !text.includes("lamp"), text);
        assert.deepEqual(errors, []);
        await page.close();
      },
    );

    await t.step(
      "search and aggregate, where the server has them",
      async () => {
        // A real stream with a search section and a rollup, on the real
        // `_search` and `_aggregate` routes.
        const logs = `${base}/v1/stream/search/logs`;
        await put(logs, "application/json");
        const section = await fetch(`${logs}/_schema`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            schema: { type: "object" },
            search: SEARCH_SECTION,
          }),
        });
        assert.equal(section.status, 200, await section.text());
        const now = Date.now();
        await append(
          logs,
          "application/json",
          JSON.stringify([
            { ts: now - 1000, type: "signup", message: "new user ada" },
            { ts: now - 900, type: "login", message: "ada logged in" },
            { ts: now - 800, type: "signup", message: "new user bob" },
          ]),
        );
        const { page, errors } = await openPage(browser);
        await page.goto(`${base}/console/stream/search/logs`);
        await page.waitForSelector("#search-q", { timeout: WAIT_MS });
        await page.type("#search-q", "type:signup bob");
        await clickButton(
          page,
          "section[aria-labelledby='search-title']",
          "Search",
        );
        await waitForText(page, "#search-hits", "new user bob");
        const hits = await page.$$eval(
          "#search-hits details.record",
          (r) => r.length,
        );
        assert.equal(hits, 1, "one record has type signup and the word bob");
        const marked = await page.$$eval(
          "#search-hits mark",
          (m) => m.map((e) => e.textContent),
        );
        assert.ok(marked.includes("signup"), `highlighted: ${marked}`);
        assert.ok(marked.includes("bob"), `highlighted: ${marked}`);
        await waitForText(
          page,
          "section[aria-labelledby='search-title']",
          "1 hit(s)",
        );
        // A search out of time answers 408 with the hits found so far:
        // they are shown, marked as timed out.
        await page.setRequestInterception(true);
        const timedOut = (request: HTTPRequest) => {
          const url = new URL(request.url());
          if (url.pathname.endsWith("/_search") && url.search !== "") {
            request.respond({
              status: 408,
              contentType: "application/json",
              body: JSON.stringify({
                stream: "search/logs",
                took_ms: 3000,
                timed_out: true,
                timeout_ms: 3000,
                coverage: { mode: "complete", complete: false },
                total: { value: 1, relation: "gte" },
                hits: [{
                  offset: "0000000000000000_0000000000000009",
                  score: 0,
                  sort: ["0000000000000000_0000000000000009"],
                  fields: { type: "signup" },
                  source: { type: "signup", message: "partial hit" },
                }],
                next_search_after: null,
              }),
            });
          } else request.continue().catch(() => {});
        };
        page.on("request", timedOut);
        await clickButton(
          page,
          "section[aria-labelledby='search-title']",
          "Search",
        );
        await waitForText(page, "#search-hits", "partial hit");
        await waitForText(
          page,
          "section[aria-labelledby='search-title']",
          "timed out",
        );
        page.off("request", timedOut);
        await page.setRequestInterception(false);
        await page.select("#agg-group", "type");
        await clickButton(
          page,
          "section[aria-labelledby='agg-title']",
          "Chart",
        );
        await page.waitForFunction(
          () =>
            Number(
              document.querySelector("#agg-title ~ .chart")?.getAttribute(
                "data-points",
              ),
            ) > 0,
          { timeout: WAIT_MS },
        );
        // uPlot draws the canvas and the legend (one series per group)
        // in an effect, after the points are set.
        await page.waitForFunction(
          () => {
            const chart = document.querySelector("#agg-title ~ .chart");
            const text = chart?.textContent ?? "";
            return document.querySelector("#agg-title ~ .chart canvas") !==
                null && text.includes("signup") && text.includes("login");
          },
          { timeout: WAIT_MS },
        );
        await shot(page, "search-aggregate");
        assert.deepEqual(errors, []);
        await page.close();
      },
    );

    await t.step(
      "a stream's profile: a list column and a card on its page",
      async () => {
        const app = `${base}/v1/stream/prof/app`;
        await put(app, "application/json");
        const install = await fetch(`${app}/_profile`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ profile: { kind: "evlog" } }),
        });
        assert.equal(install.status, 200, await install.text());
        const { page, errors } = await openPage(browser);
        await page.goto(`${base}/console`);
        await page.waitForSelector('tr[data-stream="prof/app"]', {
          timeout: WAIT_MS,
        });
        const headers = await page.$$eval(
          "#streams thead th",
          (cells) => cells.map((c) => c.textContent ?? ""),
        );
        assert.ok(headers.includes("Profile"), `columns: ${headers}`);
        await waitForText(page, 'tr[data-stream="prof/app"]', "evlog");
        await waitForText(page, 'tr[data-stream="demo/notes"]', "generic");
        await page.goto(`${base}/console/stream/prof/app`);
        await waitForText(page, "section[aria-label='Profile']", "evlog");
        await shot(page, "profile");
        assert.deepEqual(errors, []);
        await page.close();
      },
    );

    await t.step(
      "a stream's profile: a list column and a card on its page",
      async () => {
        const app = `${base}/v1/stream/prof/app`;
        await put(app, "application/json");
        const install = await fetch(`${app}/_profile`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ profile: { kind: "evlog" } }),
        });
        assert.equal(install.status, 200, await install.text());
        const { page, errors } = await openPage(browser);
        await page.goto(`${base}/console`);
        await page.waitForSelector('tr[data-stream="prof/app"]', {
          timeout: WAIT_MS,
        });
        const headers = await page.$$eval(
          "#streams thead th",
          (cells) => cells.map((c) => c.textContent ?? ""),
        );
        assert.ok(headers.includes("Profile"), `columns: ${headers}`);
        await waitForText(page, 'tr[data-stream="prof/app"]', "evlog");
        await waitForText(page, 'tr[data-stream="demo/notes"]', "generic");
        await page.goto(`${base}/console/stream/prof/app`);
        await waitForText(page, "section[aria-label='Profile']", "evlog");
        await shot(page, "profile");
        assert.deepEqual(errors, []);
        await page.close();
      },
    );

    await t.step(
      "the server page shows health, details and metric sparklines",
      async () => {
        await put(`${base}/v1/stream/ops/wake`, "application/json");
        const sub = await fetch(`${base}/v1/stream/__ds/subscriptions/ops-1`, {
          method: "PUT",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            type: "pull-wake",
            pattern: "demo/**",
            wake_stream: "ops/wake",
            description: "operations",
          }),
        });
        assert.equal(sub.status, 201, await sub.text());
        // Linked at the tail: an append leaves demo/events pending.
        await append(
          `${base}/v1/stream/demo/events`,
          "application/json",
          '{"type":"logout","user":1}',
        );
        const { page, errors } = await openPage(browser);
        await page.goto(`${base}/console/server`);
        await waitForText(
          page,
          "section[aria-labelledby='health-title']",
          "ok",
        );
        await waitForText(
          page,
          "section[aria-labelledby='details-title']",
          "limits",
        );
        await page.waitForFunction(
          () =>
            Number(
              document.querySelector(".spark .chart")?.getAttribute(
                "data-points",
              ),
            ) >= 2,
          { timeout: WAIT_MS },
        );
        assert.ok((await page.$$(".spark canvas")).length >= 4);
        const row = 'tr[data-subscription="ops-1"]';
        await page.waitForSelector(row, { timeout: WAIT_MS });
        const cells = await page.$$eval(
          `${row} td`,
          (tds) => tds.map((td) => td.textContent ?? ""),
        );
        assert.deepEqual(cells, [
          "ops-1operations",
          "pull-wake",
          "ops/wake",
          "active",
          "demo/**",
          "2",
          "1",
        ]);
        await shot(page, "server");
        assert.deepEqual(errors, []);
        await page.close();
      },
    );

    await t.step("at 320 px wide no page scrolls sideways", async () => {
      const { page, errors } = await openPage(browser, 320);
      for (
        const path of [
          "/console",
          "/console/stream/demo/events",
          "/console/server",
        ]
      ) {
        await page.goto(`${base}${path}`);
        await page.waitForSelector("main h1", { timeout: WAIT_MS });
        await page.waitForNetworkIdle({ idleTime: 300, timeout: WAIT_MS })
          .catch(() => {}); // the tail keeps a connection open
        const [scroll, width] = await page.evaluate(
          () => [document.documentElement.scrollWidth, innerWidth],
        );
        assert.ok(scroll <= width, `${path}: ${scroll} > ${width}`);
        await shot(page, `narrow${path.replaceAll("/", "_")}`);
      }
      assert.deepEqual(errors, []);
      await page.close();
    });
  } finally {
    await server.close().catch(() => {});
  }

  try {
    await t.step(
      "with --auth api-key: asks for a key; a read-only key gets no create or delete",
      async () => {
        const reader = "reader-secret-0123456789";
        const admin = "admin-secret-0123456789";
        await withKeyedServer(
          [
            { id: "reader", secret: reader, scopes: ["read"] },
            { id: "admin", secret: admin, scopes: ["admin"] },
          ],
          {},
          async (keyed) => {
            const auth = { authorization: `Bearer ${admin}` };
            await put(`${keyed.url}/v1/stream/keep/me`, "text/plain", auth);
            const { page, errors } = await openPage(browser);
            await page.goto(`${keyed.url}/console`);
            await page.waitForSelector("#api-key", { timeout: WAIT_MS });
            assert.equal(await page.$("#streams"), null, "nothing listed");
            await shot(page, "auth-key-form");
            await page.type("#api-key", reader);
            await clickButton(page, "form.keyform", "Use key");
            await page.waitForSelector('tr[data-stream="keep/me"]', {
              timeout: WAIT_MS,
            });
            // The admin key's page has the buttons: the reader's lacks them
            // because of its scopes, not because they had not come yet.
            await page.waitForNetworkIdle({ idleTime: 300, timeout: WAIT_MS });
            assert.equal(
              await page.$('tr[data-stream="keep/me"] button'),
              null,
              "no delete button for a read-only key",
            );
            assert.equal(await page.$("#create-name"), null, "no create form");
            await shot(page, "auth-read-only");
            const storage = await page.evaluate(() => ({
              session: sessionStorage.getItem("streambed.apiKey"),
              local: localStorage.length,
              url: location.href,
            }));
            assert.equal(storage.session, reader);
            assert.equal(storage.local, 0, "nothing in localStorage");
            assert.ok(!storage.url.includes(reader), "no key in the URL");
            assert.deepEqual(errors, []);

            // The admin key sees both.
            await clickButton(page, "header.top", "Forget key");
            await page.waitForSelector("#api-key", { timeout: WAIT_MS });
            await page.type("#api-key", admin);
            await clickButton(page, "form.keyform", "Use key");
            await page.waitForSelector(
              'tr[data-stream="keep/me"] button.danger',
              { timeout: WAIT_MS },
            );
            assert.ok(await page.$("#create-name"), "a create form");
            await page.close();

            // Should the server still refuse (keys changed since the page
            // asked), the refusal shows next to the stream: a page told the
            // reader may delete, and the server's 403.
            const { page: stale, errors: staleErrors } = await openPage(
              browser,
            );
            await stale.setRequestInterception(true);
            stale.on("request", (request) => {
              if (new URL(request.url()).pathname === "/v1/server/_access") {
                request.respond({
                  status: 200,
                  contentType: "application/json",
                  body: JSON.stringify({
                    auth: true,
                    key: "reader",
                    scopes: ["read", "delete"],
                    streams: ["**"],
                  }),
                });
              } else request.continue().catch(() => {});
            });
            await stale.goto(`${keyed.url}/console`);
            await stale.waitForSelector("#api-key", { timeout: WAIT_MS });
            await stale.type("#api-key", reader);
            await clickButton(stale, "form.keyform", "Use key");
            await stale.waitForSelector(
              'tr[data-stream="keep/me"] button.danger',
              { timeout: WAIT_MS },
            );
            await clickButton(stale, 'tr[data-stream="keep/me"]', "Delete");
            await clickButton(
              stale,
              'tr[data-stream="keep/me"]',
              "Yes, delete",
            );
            await waitForText(stale, 'tr[data-stream="keep/me"] .error', "403");
            const head = await keyed.call("HEAD", "/v1/stream/keep/me", admin);
            assert.equal(head.status, 200, "a refused delete deletes nothing");
            await shot(stale, "auth-refused");
            assert.deepEqual(staleErrors, []);
            await stale.close();
          },
        );
      },
    );
  } finally {
    await browser.close();
  }
});
