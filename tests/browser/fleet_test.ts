import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { productsForShard } from "../../lib/history/shard.ts";
import {
  browserMissing,
  type Dashboard,
  launchBrowser,
  screenshot,
  startDashboard,
  watchProblems,
} from "../helpers/browser.ts";

const ignored = browserMissing();

Deno.test({
  name: "fleet page in Chromium: a silent neighbour and the products nobody serves",
  ignore: ignored !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    let dash: Dashboard | undefined;
    let browser: Browser | undefined;
    try {
      [dash, browser] = await Promise.all([
        startDashboard({ products: 12, shard: { index: 0, count: 2 }, registryMs: 500 }),
        launchBrowser(),
      ]);
      const d = dash;
      // The other shard of two last wrote five minutes ago and never said it stopped.
      const theirs = productsForShard(d.products, 2, 1);
      await d.store.writeShard({
        index: 1,
        count: 2,
        version: "older-build",
        startedAt: Date.now() - 3600_000,
        heartbeatAt: Date.now() - 300_000,
        status: "healthy",
        products: theirs,
        selection: { products: d.products, quoteCurrencies: ["USD"] },
        connections: { connected: 1, total: 1, reconnects: 0 },
        gaps: { sequenceGaps: 0, maxGapS: 1 },
      });
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(20_000);
      const problems = watchProblems(page);

      await t.step("the nav leads from the overview to /fleet", async () => {
        await page.goto(d.url + "/");
        await page.click('nav a[href="/fleet"]');
        await page.waitForURL(d.url + "/fleet");
      });

      await t.step("both shards are listed with their status", async () => {
        await page.locator('tr[data-shard="0-of-2"]').waitFor();
        await page.locator('tr[data-shard="1-of-2"][data-status="silent"]').waitFor();
        assert.match(
          await page.locator('tr[data-shard="0-of-2"]').textContent() ?? "",
          /this shard/,
        );
      });

      await t.step(
        "the problems name the silent shard and the products nobody serves",
        async () => {
          const uncovered = page.locator('li[data-kind="uncovered"]');
          await uncovered.waitFor();
          const text = await uncovered.textContent() ?? "";
          assert.match(text, /served by no live shard \(1-of-2 is silent\)/);
          await uncovered.locator("summary").click();
          const listed = (await uncovered.locator("p.products").textContent() ?? "").split(", ");
          assert.deepEqual(listed, [...theirs].sort());
          await page.locator('li[data-kind="silent"]').getByText(
            /Shard 1-of-2 has sent no heartbeat/,
          )
            .waitFor();
          await screenshot(page, "fleet-1280");
        },
      );

      await t.step("it updates itself: the neighbour comes back, the problems go", async () => {
        await d.store.writeShard({
          index: 1,
          count: 2,
          version: "older-build",
          startedAt: Date.now() - 3600_000,
          heartbeatAt: Date.now(),
          status: "healthy",
          products: theirs,
          selection: { products: d.products, quoteCurrencies: ["USD"] },
          connections: { connected: 1, total: 1, reconnects: 0 },
          gaps: { sequenceGaps: 0, maxGapS: 1 },
        });
        await page.locator('[data-problems="0"]').waitFor({ timeout: 15_000 });
        await page.locator('tr[data-shard="1-of-2"][data-status="healthy"]').waitFor();
      });
      assert.deepEqual(problems, []);
    } finally {
      await browser?.close();
      await dash?.close();
    }
  },
});
