import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestContext, type TestContext } from '../helpers.js';
import { chromiumInstalled, launchChromium, openTab } from './browser.js';

/*
 * /docs (Swagger UI) in headless Chromium under the Content-Security-Policy we send: the page
 * renders every operation group and the policy blocks nothing it needs (no violation reported).
 */

const run = chromiumInstalled() || process.env.CI === 'true';

let t: TestContext;
let browser: Browser;
let base: string;

beforeAll(async () => {
  if (!run) return;
  const launching = launchChromium();
  t = await createTestContext();
  await t.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  browser = await launching;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe.runIf(run)('/docs in Chromium', () => {
  it('renders the operations with no CSP violation', async () => {
    const tab = await openTab(browser);
    try {
      // Violations as the page sees them (the console reports them too: Tab.problems).
      // (Strings: this project's TypeScript has no DOM library.)
      await tab.page.addInitScript(
        "window.cspViolations = []; document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || '')));",
      );
      const res = await tab.page.goto(`${base}/docs`);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toContain("default-src 'none'");
      await tab.page.locator('.opblock').first().waitFor();
      // Every tag's group and its operations, e.g. the customer-accounts create.
      expect(await tab.page.locator('.opblock-tag').count()).toBeGreaterThan(3);
      expect(await tab.page.locator('.opblock').count()).toBeGreaterThan(10);
      await expect
        .poll(() => tab.page.locator('.opblock-summary-path').allTextContents())
        .toContain('/api/v2/customer-accounts');
      expect(await tab.page.locator('.info .title').textContent()).toContain('activehub API');
      // Open one operation: its parameters and responses render too.
      await tab.page.locator('.opblock-summary', { hasText: '/health' }).first().click();
      await tab.page.locator('.responses-wrapper').first().waitFor();
      const violations = await tab.page.evaluate('window.cspViolations');
      expect(violations).toEqual([]);
      expect(tab.problems).toEqual([]);
    } finally {
      await tab.close();
    }
  });
});
