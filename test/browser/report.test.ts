/**
 * The backtest report in a real browser (Debian's chromium, see dashboard.test.ts): the seed portfolio from
 * 2021-01-01 to 2024-12-31, every policy. Checks: the metrics table fits a laptop screen (no column cut off),
 * "One policy in detail" opens on the configured policy, the equity chart opens relative to threshold with
 * the 100 % BTC benchmark beside the policies and without rebalance dots, and the page has no errors.
 * Screenshots: out/test-artifacts/report.png (1440 px, full page) and report-phone.png (390 px).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPortfolio } from '../../src/adapters/files/portfolio.js';
import { ROOT } from '../../src/apps/cli/main.js';
import { configuredPolicy, runBacktest, writeReport } from '../../src/backtest/run.js';

const ARTIFACTS = join(ROOT, 'out', 'test-artifacts');
const REPORT = join(ARTIFACTS, 'report.html');
let browser: Browser;
const errors: string[] = [];

beforeAll(async () => {
  execFileSync('bash', [join(ROOT, 'scripts', 'setup-chromium.sh')], { stdio: 'inherit', timeout: 20 * 60_000 });
  mkdirSync(ARTIFACTS, { recursive: true });
  const portfolio = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
  const r = runBacktest({ portfolio, dataDir: join(ROOT, 'data'), interval: '1d', from: Date.UTC(2021, 0, 1), to: Date.UTC(2024, 11, 31), options: {} });
  writeReport(REPORT, 'ballast backtest', r, portfolio.quote);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
}, 20 * 60_000);

afterAll(async () => {
  await browser?.close();
});

describe('backtest report', () => {
  it('reads well on a laptop: the whole table, the configured policy in detail, equity relative to threshold', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(REPORT).href);
    await page.waitForSelector('#equity canvas');
    await page.waitForSelector('#policy-charts canvas');
    // the metrics table is not cut off: its box is as wide as its content
    const overflow = await page.evaluate(() => {
      const s = document.querySelector('.scroll') as HTMLElement;
      return s.scrollWidth - s.clientWidth;
    });
    expect(overflow).toBeLessThanOrEqual(0);
    const portfolio = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
    const names = await page.locator('#policy option').allTextContents();
    const configured = configuredPolicy(portfolio, names)!;
    expect(configured).not.toBe('buy-and-hold');
    expect(await page.locator('#policy option:checked').textContent()).toBe(configured);
    expect(await page.locator('#view option:checked').textContent()).toBe('relative to threshold');
    expect(await page.locator('#marks').isChecked()).toBe(false);
    const legend = await page.locator('#equity .u-legend').textContent();
    expect(legend).toContain('benchmark: 100% BTC (held)');
    await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    // the absolute view is one choice away
    await page.selectOption('#view', '');
    await page.waitForSelector('#equity canvas');
    // An element screenshot scrolls the chart into view (the tables above can push it below the viewport).
    await page.locator('#equity').screenshot({ path: join(ARTIFACTS, 'report-equity.png') });
    await page.close();
    expect(errors).toEqual([]);
  });

  it('on a phone: one column, the table scrolls inside its box, the page itself does not', async () => {
    const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(REPORT).href);
    await page.waitForSelector('#equity canvas');
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, 'report-phone.png') });
    await page.close();
    expect(errors).toEqual([]);
  });
});
