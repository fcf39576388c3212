import fs from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/*
 * Headless Chromium for the browser tests: the Debian package (`.ci/run` installs it), driven by
 * playwright-core (no browser download). The flags keep Chromium off the network it would
 * otherwise call at start-up, which this machine refuses.
 */

export const CHROMIUM = '/usr/bin/chromium';

export const chromiumInstalled = (): boolean => fs.existsSync(CHROMIUM);

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface Tab {
  context: BrowserContext;
  page: Page;
  /** Console errors and CSP violations seen by the page (a correct page has none). */
  problems: string[];
  close(): Promise<void>;
}

/** A fresh context (own cookies) with a phone-sized viewport: the pages are mobile first. */
export async function openTab(browser: Browser): Promise<Tab> {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'en-GB' });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const problems: string[] = [];
  page.on('console', (m) => {
    // Error pages are answered with their status (404, 409, 410): Chromium logs that; it is expected.
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of/.test(m.text())) {
      problems.push(m.text());
    }
  });
  page.on('pageerror', (e) => problems.push(e.message));
  return { context, page, problems, close: () => context.close() };
}
