import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import {
  browserMissing,
  type Dashboard,
  launchBrowser,
  SCREENSHOT_DIR,
  startDashboard,
} from "../helpers/browser.ts";

const PASSWORD = "browser-test-password";
const ignored = browserMissing();

async function screenshot(page: Page, name: string): Promise<void> {
  await Deno.mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: new URL(`${name}.png`, SCREENSHOT_DIR).pathname, fullPage: true });
}

/** Problems the page reported: script errors and CSP violations. */
function watchProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && /Content Security Policy|Uncaught/i.test(m.text())) {
      problems.push(`console: ${m.text()}`);
    }
  });
  return problems;
}

/** Pixels of the chart's canvases close to the candle colours (drawn candles, not the grid). */
function candlePixels(page: Page): Promise<number> {
  return page.evaluate(() => {
    const box = document.querySelector<HTMLElement>(".chart")!;
    const style = getComputedStyle(box);
    const rgb = (name: string) => {
      const hex = style.getPropertyValue(name).trim().replace("#", "");
      return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
    };
    const colours = [rgb("--up"), rgb("--down")];
    let count = 0;
    for (const canvas of box.querySelectorAll("canvas")) {
      if (canvas.width === 0 || canvas.height === 0) continue;
      const data = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3]! < 200) continue;
        if (
          colours.some((c) =>
            Math.abs(c[0]! - data[i]!) + Math.abs(c[1]! - data[i + 1]!) +
                Math.abs(c[2]! - data[i + 2]!) < 30
          )
        ) count++;
      }
    }
    return count;
  });
}

Deno.test({
  name: "dashboard in Chromium: login, live overview, chart, reconnects",
  ignore: ignored !== undefined,
  // playwright-core keeps the browser's pipes and timers until the process ends.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    let dash: Dashboard | undefined;
    let browser: Browser | undefined;
    try {
      [dash, browser] = await Promise.all([
        startDashboard({ password: PASSWORD, products: 6, reconnectMs: 4000 }),
        launchBrowser(),
      ]);
      const d = dash;
      const products = d.products;
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      const problems = watchProblems(page);

      await t.step("without a session the overview redirects to the login form", async () => {
        await page.goto(d.url + "/");
        assert.match(new URL(page.url()).pathname, /^\/login$/);
        await page.locator("input[type=password]").waitFor();
      });

      await t.step("a wrong password is refused", async () => {
        await page.fill("input[type=password]", "not the password");
        await page.click("button[type=submit]");
        await page.getByRole("alert").getByText("Wrong password").waitFor();
        assert.match(new URL(page.url()).pathname, /^\/login$/);
        const cookies = await context.cookies();
        assert.equal(cookies.length, 0);
      });

      await t.step("the right password opens the overview", async () => {
        await page.fill("input[type=password]", PASSWORD);
        await page.click("button[type=submit]");
        await page.waitForURL(d.url + "/");
        const [cookie] = await context.cookies();
        assert.equal(cookie?.httpOnly, true);
        assert.equal(cookie?.sameSite, "Strict");
        assert.doesNotMatch(await page.content(), new RegExp(PASSWORD));
      });

      await t.step("the overview lists every product and connection", async () => {
        for (const p of products) await page.locator(`tr[data-product="${p}"]`).waitFor();
        const expected = Math.ceil(products.length / 3);
        await page.waitForFunction(
          (n) =>
            document.querySelectorAll('tr[data-connection][data-state="subscribed"]').length === n,
          expected,
        );
        const listed = await page.locator("tr[data-connection] td.products").allTextContents();
        assert.deepEqual(listed.join(", ").split(", ").sort(), [...products].sort());
      });

      await t.step("a price on the page changes within seconds", async () => {
        const cell = page.locator('tr[data-product="BTC-USD"] td.close');
        await page.waitForFunction(
          () => document.querySelector('tr[data-product="BTC-USD"] td.close')?.textContent !== "—",
        );
        const before = await cell.textContent();
        await page.waitForFunction(
          (b) => document.querySelector('tr[data-product="BTC-USD"] td.close')?.textContent !== b,
          before,
          { timeout: 10_000 },
        );
        assert.notEqual(await cell.textContent(), before);
      });

      await t.step("the status keeps itself current (starting → healthy)", async () => {
        await page.locator(".badge.status-healthy").waitFor({ timeout: 30_000 });
        await screenshot(page, "overview-1280");
      });

      await t.step(
        "a dropped Coinbase connection shows as reconnecting, then recovers",
        async () => {
          assert.ok(d.simulator.dropConnections() > 0);
          await page.locator(
            'tr[data-connection][data-state="reconnecting"], tr[data-connection][data-state="connecting"]',
          ).first().waitFor({ timeout: 8_000 });
          await page.waitForFunction(
            () => {
              const rows = [...document.querySelectorAll<HTMLElement>("tr[data-connection]")];
              return rows.length > 0 && rows.every((r) =>
                r.dataset.state === "subscribed" &&
                Number(r.querySelector('[data-label="Reconnects"]')?.textContent) >= 1
              );
            },
            undefined,
            { timeout: 20_000 },
          );
        },
      );

      await t.step("the page survives the server going away and coming back", async () => {
        await d.proxy.drop();
        await page.locator('[data-link="reconnecting"]').first().waitFor({ timeout: 8_000 });
        await page.locator('[data-stream="reconnecting"]').waitFor();
        d.proxy.restore();
        await page.locator('[data-stream="live"]').waitFor({ timeout: 15_000 });
        await page.locator('[data-link="reconnecting"]').first().waitFor({
          state: "detached",
          timeout: 8_000,
        });
        const cell = page.locator('tr[data-product="BTC-USD"] td.close');
        const before = await cell.textContent();
        await page.waitForFunction(
          (b) => document.querySelector('tr[data-product="BTC-USD"] td.close')?.textContent !== b,
          before,
          { timeout: 10_000 },
        );
      });

      await t.step("the product page draws candles and switches granularity", async () => {
        await page.click('a[href="/products/BTC-USD"]');
        await page.waitForURL(d.url + "/products/BTC-USD");
        await page.waitForFunction(() =>
          Number(document.querySelector<HTMLElement>(".chart")?.dataset.candles) > 10
        );
        await page.waitForFunction(() => document.querySelectorAll(".chart canvas").length > 0);
        await page.waitForTimeout(300);
        assert.ok(await candlePixels(page) > 100, "candles are drawn in the candle colours");
        await page.getByRole("heading", { name: "Gaps and repairs" }).waitFor();
        await page.click('nav.granularities a[href="?g=5m"]');
        await page.waitForFunction(() =>
          document.querySelector('nav.granularities a[aria-current="page"]')?.textContent === "5m"
        );
        await page.waitForFunction(() =>
          Number(document.querySelector<HTMLElement>(".chart")?.dataset.candles) > 5
        );
        assert.match(page.url(), /\?g=5m$/);
        await page.waitForTimeout(300);
        assert.ok(await candlePixels(page) > 50);
        await screenshot(page, "product-1280");
      });

      await t.step("an unknown product is a 404 page", async () => {
        const res = await page.goto(d.url + "/products/NOPE-USD");
        assert.equal(res?.status(), 404);
        await page.getByRole("alert").getByText(/Unknown product/).waitFor();
      });

      await t.step("pages read at phone width (375 px)", async () => {
        const phone = await context.newPage();
        const phoneProblems = watchProblems(phone);
        await phone.setViewportSize({ width: 375, height: 812 });
        for (
          const [path, name] of [["/", "overview-375"], [
            "/products/ETH-USD",
            "product-375",
          ]] as const
        ) {
          await phone.goto(d.url + path);
          await phone.locator("[data-stream=live]").first().waitFor();
          if (name === "product-375") {
            await phone.waitForFunction(() =>
              Number(document.querySelector<HTMLElement>(".chart")?.dataset.candles) > 0
            );
          }
          const width = await phone.evaluate(() => document.documentElement.scrollWidth);
          assert.ok(width <= 375, `${path} is ${width} px wide at a 375 px viewport`);
          await screenshot(phone, name);
        }
        await phone.close();
        assert.deepEqual(phoneProblems, []);
      });

      await t.step("pages carry their numbers without script", async () => {
        const plain = await browser!.newContext({ javaScriptEnabled: false });
        const p = await plain.newPage();
        await p.goto(d.url + "/");
        await p.fill("input[type=password]", PASSWORD);
        await p.click("button[type=submit]");
        await p.waitForURL(d.url + "/");
        const close = await p.locator('tr[data-product="BTC-USD"] td.close').textContent();
        assert.match(close ?? "", /^\d{2},\d{3}\.\d{2}$/);
        assert.equal(
          await p.locator("tr[data-connection]").count(),
          Math.ceil(products.length / 3),
        );
        await p.goto(d.url + "/products/SOL-USD?g=1h");
        assert.ok(await p.locator("table.candles tbody tr").count() > 1);
        assert.equal(
          await p.locator('nav.granularities a[aria-current="page"]').textContent(),
          "1h",
        );
        await plain.close();
      });

      await t.step("log out ends the session", async () => {
        await page.goto(d.url + "/");
        await page.click("form.logout button");
        await page.waitForURL(/\/login$/);
        const res = await page.goto(d.url + "/api/status");
        assert.equal(res?.status(), 401);
      });

      assert.deepEqual(problems, [], "no script errors or CSP violations");
    } finally {
      await browser?.close();
      await dash?.close();
    }
  },
});
