/**
 * The overview in Chromium with two exchanges: the real service serving Coinbase and Kraken
 * from both simulators (tests/helpers/kraken_harness.ts, on the wall clock), behind the real
 * app. The table grows an exchange column and filter, the Kraken rows link to
 * `/products/kraken/{id}` and update live over `/api/stream`, and the Kraken product page
 * draws its chart.
 */
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { systemClock } from "../../lib/clock.ts";
import { openKvCandleStore } from "../../lib/store/kv.ts";
import { appOptions, createApp } from "../../routes/app.ts";
import {
  browserMissing,
  buildIslands,
  launchBrowser,
  screenshot,
  watchProblems,
} from "../helpers/browser.ts";
import { type KrakenHarness, startKrakenHarness, until } from "../helpers/kraken_harness.ts";

const ignored = browserMissing();

const COINBASE = ["BTC-USD", "ETH-USD", "ADA-USD"];
const KRAKEN = ["kraken:BTC-USD", "kraken:ETH-USD", "kraken:ADA-USD"];

Deno.test({
  name: "overview in Chromium with Coinbase and Kraken: exchange column, filter, live rows, chart",
  ignore: ignored !== undefined,
  // playwright-core keeps the browser's pipes and timers until the process ends.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "spot-kraken-browser-" });
    let h: KrakenHarness | undefined;
    let server: Deno.HttpServer<Deno.NetAddr> | undefined;
    let browser: Browser | undefined;
    try {
      const [, b] = await Promise.all([buildIslands(), launchBrowser()]);
      browser = b;
      h = await startKrakenHarness({
        clock: systemClock,
        store: await openKvCandleStore(`${dir}/spot.kv`),
        historyMs: 3 * 3600_000,
        env: { CATCHUP_HOURS: "1" },
      });
      const harness = h;
      server = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        createApp(h.service, appOptions(h.config)).fetch,
      );
      const url = `http://127.0.0.1:${server.addr.port}`;
      assert.deepEqual(h.coinbaseIds, COINBASE);
      assert.deepEqual(h.krakenIds, KRAKEN);
      await until(() => harness.service.products().length === 6, 30_000, "products resolved");
      await until(() => harness.service.phase === "running", 30_000, "seeded");

      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const problems = watchProblems(page);
      const shownRows = () =>
        page.locator("tbody tr[data-product]").evaluateAll((rows) =>
          rows.map((r) => [
            (r as HTMLElement).dataset.product,
            r.querySelector("td.exchange")?.textContent,
          ])
        );

      await t.step("the exchange column shows coinbase and kraken rows", async () => {
        await page.goto(url + "/");
        await page.locator('[data-stream="live"]').waitFor();
        const rows = await shownRows();
        assert.deepEqual(
          rows.map(([p, x]) => `${x} ${p}`).sort(),
          [...COINBASE.map((p) => `coinbase ${p}`), ...KRAKEN.map((p) => `kraken ${p}`)].sort(),
        );
        await page.locator('th:text-is("Exchange")').waitFor();
        // Kraken's BTC-USD shows its bare id and links to its own page.
        const link = page.locator('tr[data-product="kraken:BTC-USD"] th a');
        assert.equal(await link.getAttribute("href"), "/products/kraken/BTC-USD");
        assert.equal(await link.textContent(), "BTC-USD");
        assert.equal(
          await page.locator('tr[data-product="BTC-USD"] th a').getAttribute("href"),
          "/products/BTC-USD",
        );
        await screenshot(page, "overview-two-exchanges-1280");
      });

      await t.step("Kraken's prices update live over the stream", async () => {
        for (const product of ["kraken:BTC-USD", "BTC-USD"]) {
          const sel = `tr[data-product="${product}"] td.close`;
          await page.waitForFunction((s) => document.querySelector(s)?.textContent !== "—", sel);
          const before = await page.locator(sel).textContent();
          await page.waitForFunction(
            ([s, b]) => document.querySelector(s!)?.textContent !== b,
            [sel, before],
            { timeout: 10_000 },
          );
        }
      });

      await t.step("the exchange filter narrows the table to Kraken, in the URL", async () => {
        const options = await page.locator("select#exchange-filter option").evaluateAll((os) =>
          os.map((o) => (o as HTMLOptionElement).value)
        );
        assert.deepEqual(options, ["", "coinbase", "kraken"]);
        await page.selectOption("select#exchange-filter", "kraken");
        await page.waitForFunction(() =>
          document.querySelectorAll("tbody tr[data-product]").length === 3
        );
        assert.deepEqual((await shownRows()).map(([p]) => p).sort(), [...KRAKEN].sort());
        assert.match(page.url(), /[?&]exchange=kraken(&|$)/);
        await page.getByText("3 of 6 products match on kraken").waitFor();
        // Live updates go on in the filtered view.
        const sel = 'tr[data-product="kraken:ETH-USD"] td.close';
        const before = await page.locator(sel).textContent();
        await page.waitForFunction(
          ([s, b]) => document.querySelector(s!)?.textContent !== b,
          [sel, before],
          { timeout: 10_000 },
        );
        await screenshot(page, "overview-kraken-filter-1280");
      });

      await t.step("choosing all again shows both exchanges", async () => {
        await page.selectOption("select#exchange-filter", "");
        await page.waitForFunction(() =>
          document.querySelectorAll("tbody tr[data-product]").length === 6
        );
      });

      await t.step({
        name: "…and drops exchange= from the URL (a reload or a shared link shows all)",
        fn: () => assert.doesNotMatch(page.url(), /[?&]exchange=/, "the filter left the URL"),
      });

      await t.step("?exchange=kraken renders only Kraken's rows, without script too", async () => {
        const bare = await browser!.newContext({ javaScriptEnabled: false });
        const noJs = await bare.newPage();
        await noJs.goto(url + "/?exchange=kraken");
        const ids = await noJs.locator("tbody tr[data-product]").evaluateAll((rows) =>
          rows.map((r) => (r as HTMLElement).dataset.product)
        );
        assert.deepEqual(ids.sort(), [...KRAKEN].sort());
        assert.equal(await noJs.locator("select#exchange-filter").inputValue(), "kraken");
        await bare.close();
        await page.goto(url + "/?exchange=kraken");
        await page.locator('[data-stream="live"]').waitFor();
        assert.deepEqual((await shownRows()).map(([p]) => p).sort(), [...KRAKEN].sort());
      });

      await t.step("the Kraken row links to /products/kraken/BTC-USD and its chart", async () => {
        await page.click('tr[data-product="kraken:BTC-USD"] a[href="/products/kraken/BTC-USD"]');
        await page.waitForURL(url + "/products/kraken/BTC-USD");
        await page.locator("h1 small.exchange").getByText("kraken").waitFor();
        await page.waitForFunction(() =>
          Number(document.querySelector<HTMLElement>(".chart")?.dataset.candles) > 10
        );
        await page.waitForFunction(() => document.querySelectorAll(".chart canvas").length > 0);
        await page.getByRole("heading", { name: "Gaps and repairs" }).waitFor();
        await screenshot(page, "product-kraken-1280");
      });
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
      await server?.shutdown();
      await h?.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
