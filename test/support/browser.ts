import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

// Browser tests drive the system's Chromium (Debian's package) through playwright-core:
// Playwright's own browser download cannot work on these machines. Without a Chromium the
// tests fail, saying how to get one; they never skip.

export const CHROMIUM_PATH = process.env.RATCHET_CHROMIUM || '/usr/bin/chromium';

export const SCREENSHOT_DIR = path.resolve(__dirname, '../../docs/screenshots');

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `No Chromium at ${CHROMIUM_PATH}: the console's browser tests need one. Install it with ` +
        '`apt-get install -y chromium` (.ci/run does), or set RATCHET_CHROMIUM to its path.',
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // Chromium refuses to run as root with its sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
  });
}

/** A page of the console at `baseUrl`, signed in with `key` through its form. */
export async function openConsole(
  browser: Browser,
  baseUrl: string,
  key: string,
  hash = '#/',
): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 1440, height: 900 },
    deviceScaleFactor: 1,
  });
  const page = await context.newPage();
  await page.goto(`${baseUrl}/console${hash}`);
  await page.fill('#api-key', key);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=session-key]');
  return page;
}

export async function screenshot(page: Page, name: string, fullPage = false): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, name);
  await page.screenshot({ path: file, fullPage });
  return file;
}
