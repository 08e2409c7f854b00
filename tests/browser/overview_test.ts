import assert from "node:assert/strict";
import type { Browser } from "playwright-core";

import {
  browserMissing,
  type Dashboard,
  launchBrowser,
  screenshot,
  startDashboard,
  watchProblems,
} from "../helpers/browser.ts";
import { until } from "../helpers/service.ts";

const ignored = browserMissing();

Deno.test({
  name: "overview in Chromium: typing part of an id finds a product among 1,000",
  ignore: ignored !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    let dash: Dashboard | undefined;
    let browser: Browser | undefined;
    try {
      [dash, browser] = await Promise.all([
        startDashboard({ products: 1000, productsPerConnection: 100, tradesPerSecond: 0.05 }),
        launchBrowser(),
      ]);
      const d = dash;
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(20_000);
      const problems = watchProblems(page);

      await t.step("the overview lists all 1,000 products", async () => {
        // The list is the service's once it has resolved its products (slower under load).
        await until(() => d.service.products().length === 1000, 60_000, "1,000 products resolved");
        await page.goto(d.url + "/");
        assert.equal(await page.locator("tbody tr[data-product]").count(), 1000);
        await page.locator('[data-stream="live"]').waitFor();
      });

      await t.step("typing x42, then x421, narrows the table to X421-USD", async () => {
        // Rows are keyed: the same element is kept while the table filters and updates.
        await page.evaluate(() => {
          (document.querySelector('tr[data-product="X421-USD"]') as HTMLElement & {
            marked?: boolean;
          }).marked = true;
        });
        await page.locator("#product-filter").pressSequentially("x42", { delay: 50 });
        await page.waitForFunction(() =>
          document.querySelectorAll("tbody tr[data-product]").length === 10
        );
        await page.locator("#product-filter").pressSequentially("1", { delay: 50 });
        await page.waitForFunction(() =>
          document.querySelectorAll("tbody tr[data-product]").length === 1
        );
        const ids = await page.locator("tbody tr[data-product]").evaluateAll((rows) =>
          rows.map((r) => (r as HTMLElement).dataset.product)
        );
        assert.deepEqual(ids, ["X421-USD"]);
        assert.equal(
          await page.evaluate(() =>
            (document.querySelector('tr[data-product="X421-USD"]') as HTMLElement & {
              marked?: boolean;
            }).marked
          ),
          true,
          "the row element survived filtering",
        );
        assert.match(page.url(), /[?&]q=x421(&|$)/);
        await page.getByText("1 of 1000 products match “x421”").waitFor();
        await screenshot(page, "overview-filter-1280");
      });

      await t.step("a sortable column orders the filtered rows and goes into the URL", async () => {
        await page.fill("#product-filter", "x00");
        await page.click('th a[data-sort="product"]');
        await page.waitForFunction(() =>
          document.querySelector('th[aria-sort="descending"] a[data-sort="product"]') !== null
        );
        const ids = await page.locator("tbody tr[data-product]").evaluateAll((rows) =>
          rows.map((r) => (r as HTMLElement).dataset.product)
        );
        assert.deepEqual(ids, [...ids].sort().reverse());
        assert.equal(ids.length, 9);
        assert.match(page.url(), /sort=product&dir=desc/);
      });

      await t.step("the linked view renders the same rows without JavaScript", async () => {
        const bare = await browser!.newContext({ javaScriptEnabled: false });
        const noJs = await bare.newPage();
        await noJs.goto(d.url + "/?q=x42&sort=product&dir=desc");
        const ids = await noJs.locator("tbody tr[data-product]").evaluateAll((rows) =>
          rows.map((r) => (r as HTMLElement).dataset.product)
        );
        assert.deepEqual(ids, Array.from({ length: 10 }, (_, i) => `X42${9 - i}-USD`));
        assert.equal(await noJs.locator("#product-filter").inputValue(), "x42");
        await noJs.fill("#product-filter", "x995");
        await noJs.click(".filter button[type=submit]");
        await noJs.waitForURL(/q=x995/);
        assert.deepEqual(
          await noJs.locator("tbody tr[data-product]").evaluateAll((rows) =>
            rows.map((r) => (r as HTMLElement).dataset.product)
          ),
          ["X995-USD"],
        );
        await bare.close();
      });
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
      await dash?.close();
    }
  },
});
