/**
 * The dashboard in a real browser: Debian's chromium (installed by scripts/setup-chromium.sh when missing,
 * never downloaded by playwright) driven by playwright-core, over ballast replaying bundled history (see
 * server.ts: `startServer` is the one function to swap for a spawned `ballast run --replay`).
 *
 * Checks: the token from the URL fragment opens the dashboard (and leaves the address bar); the class weights
 * drawn equal the API's numbers; the plan's breach shows; every panel agrees with the API and `ballast journal`
 * on the state after the last fills; the plan text is the API's; the charts are drawn; halt asks
 * for confirmation (cancel changes nothing) and then halts (the API says HALTED). Screenshots go to
 * out/test-artifacts/ (gitignored): dashboard.png (laptop, full page), dashboard-phone.png, dashboard-halted.png.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { money, pct } from '../../src/core/format.js';
import { ROOT } from '../../src/apps/cli/main.js';
import { startServer, type RunningServer } from './server.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'out', 'test-artifacts');

let server: RunningServer;
let browser: Browser;
/** One tab for the dashboard checks (opening tabs is the slow part of this test). */
let page: Page;
const errors: string[] = [];

beforeAll(() => {
  // Installing chromium (only when missing) may take minutes; it is a no-op when present.
  execFileSync('bash', [join(ROOT, 'scripts', 'setup-chromium.sh')], { stdio: 'inherit', timeout: 20 * 60_000 });
}, 20 * 60_000);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  [server, browser] = await Promise.all([startServer(), chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })]);
}, 60_000);

afterAll(async () => {
  await page?.close();
  await browser?.close();
  await server?.close();
});

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const r = await fetch(server.url + path, { ...init, headers: { authorization: `Bearer ${server.token}`, ...(init.body ? { 'content-type': 'application/json' } : {}) } });
  expect(r.status, path).toBeLessThan(300);
  return (await r.json()) as T;
}

interface PortfolioAfter {
  time: number;
  quote: string;
  tpv: number;
  afterTrades: number | null;
  classes: { name: string; weight: number }[];
  positions: { account: string; symbol: string; contracts: number; notional: number; mark: number }[];
}

interface Portfolio {
  tpv: number;
  classes: { name: string; weight: number; breach: 'upper' | 'lower' | null; spot: number; futures: number }[];
  breaches: string[];
}

async function open(viewport: { width: number; height: number }): Promise<Page> {
  const p = await browser.newPage({ viewport });
  p.on('pageerror', (e) => errors.push(e.message));
  p.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await p.goto(server.dashboardUrl, { waitUntil: 'domcontentloaded' });
  await p.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 15_000 });
  await p.waitForSelector('#charts-classes canvas', { timeout: 10_000 });
  return p;
}

describe('dashboard', () => {
  it('shows the API’s class weights, the breach, the plan and the charts; screenshot', async () => {
    page = await open({ width: 1440, height: 900 });
    // the token left the address bar and lives in sessionStorage
    expect(page.url()).toBe(`${server.url}/`);
    expect(await page.evaluate(() => sessionStorage.getItem('ballast.token'))).toBe(server.token);

    const p = await api<Portfolio>('/api/portfolio');
    // The slice ends with a rebalance: the allocation shows the state after it (every class inside its band),
    // the plan what it acted on (the cash class below its band).
    expect(p.breaches).toEqual([]);
    const rows = page.locator('.class-row');
    expect(await rows.count()).toBe(p.classes.length);
    for (const c of p.classes) {
      const row = page.locator(`.class-row[data-class="${c.name}"]`);
      expect(await row.locator('.weight').textContent(), c.name).toBe(pct(c.weight));
      expect(Number(await row.locator('.weight').getAttribute('data-weight'))).toBe(c.weight);
      if (c.breach) {
        expect(await row.getAttribute('class')).toContain('breach');
        expect(await row.locator('.chip.breach').textContent()).toMatch(c.breach === 'upper' ? /^ABOVE BAND \+\$/ : /^BELOW BAND −\$/);
        expect(await row.locator('.weight').evaluate((e) => getComputedStyle(e).color)).toBe('rgb(200, 37, 29)');
      } else {
        expect(await row.getAttribute('class')).not.toContain('breach');
        expect(await row.locator('.chip').textContent()).toBe('inside band');
      }
    }
    // spot and futures parts: the hedged class shows its futures part
    const hedged = p.classes.find((c) => !c.name.startsWith('Stable') && c.futures !== 0);
    if (hedged) expect(await page.locator(`.class-row[data-class="${hedged.name}"] .bar .fut`).count()).toBe(1);

    const plan = await api<{ text: string; status: string }>('/api/plan');
    expect(await page.locator('#plan-text').textContent()).toBe(plan.text);
    expect(await page.locator('#plan-explain li.breach').count()).toBeGreaterThan(0);
    expect(await page.locator('#plan-explain li.breach').first().textContent()).toMatch(/^Stablecoins: .*BELOW/);

    // weights vs bands per class, drift, equity, hedge notional, cumulative funding
    expect(await page.locator('#history .chart').count()).toBe(p.classes.length + 4);
    expect(await page.locator('#history canvas').count()).toBeGreaterThanOrEqual(p.classes.length + 3);
    const status = await api<{ trading: { state: string } }>('/api/status');
    expect(await page.locator('#state').textContent()).toBe(status.trading.state);
    expect(await page.locator('#live').textContent()).toMatch(/live/);
    expect(await page.locator('#hedges-table tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('#fills-table tbody tr').count()).toBeGreaterThan(0);
    expect(await page.locator('#journal-table tbody tr').count()).toBeGreaterThan(0);

    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(errors).toEqual([]);
  });

  it('at the end of the replay every panel shows the state after the last fills: the API, the journal and the page agree', async () => {
    const p = await api<PortfolioAfter>('/api/portfolio');
    const hedges = await api<{ open: number; hedges: { open: boolean; symbol: string; contracts: number; notional: number; mark: number | null }[] }>('/api/hedges?limit=1000');
    const plan = await api<{ execution: { rebalanceId: number; fills: unknown[] } | null }>('/api/plan');
    const hist = await api<{ times: number[]; tpv: number[]; hedgeNotional: number[] }>('/api/history?maxPoints=1500');
    const out = execFileSync(process.execPath, [join(ROOT, 'bin', 'ballast.js'), 'journal', '--db', server.db, '--json', '--limit', '5'], { cwd: ROOT, encoding: 'utf8' });
    const journal = JSON.parse(out) as { summary: { tpvEnd: number; hedgesOpen: number; latest: { time: number; tpv: number; afterTrades: number | null; positions: { account: string; symbol: string; contracts: number }[] } } };
    const cents = (x: number) => Math.round(x * 100);

    expect(p.afterTrades, 'the replayed slice ends with a rebalance').not.toBeNull();
    expect(plan.execution?.rebalanceId).toBe(p.afterTrades);
    // one moment: the journal's latest state is the API's
    expect(journal.summary.latest.time).toBe(p.time);
    expect(journal.summary.latest.afterTrades).toBe(p.afterTrades);
    expect(cents(journal.summary.latest.tpv)).toBe(cents(p.tpv));
    expect(cents(journal.summary.tpvEnd)).toBe(cents(p.tpv));
    expect(cents(hist.tpv[hist.tpv.length - 1]!)).toBe(cents(p.tpv));
    expect(hist.times[hist.times.length - 1]).toBe(p.time);
    // open positions: the portfolio's, the journal's and the open hedges agree
    const open = (xs: { symbol: string; contracts: number }[]) => xs.filter((x) => x.contracts !== 0).map((x) => `${x.symbol} ${x.contracts}`).sort();
    expect(open(p.positions)).toEqual(open(journal.summary.latest.positions));
    const openHedges = hedges.hedges.filter((h) => h.open);
    expect(hedges.open).toBe(journal.summary.hedgesOpen);
    expect(open(openHedges)).toEqual(open(p.positions));
    for (const h of openHedges) {
      const pos = p.positions.find((x) => x.symbol === h.symbol)!;
      expect(h.mark, h.symbol).toBe(pos.mark);
      expect(cents(h.notional), h.symbol).toBe(cents(pos.notional));
    }
    expect(cents(hist.hedgeNotional[hist.hedgeNotional.length - 1]!)).toBe(cents(p.positions.reduce((s, x) => s + Math.abs(x.notional), 0)));

    // the page shows the same numbers
    await page.reload({ waitUntil: 'domcontentloaded' });
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 15_000 });
    expect(await page.locator('#tpv').textContent()).toBe(money(p.tpv, p.quote));
    expect(await page.locator('#asof').textContent()).toContain(new Date(p.time).toISOString().slice(0, 16).replace('T', ' '));
    expect(await page.locator('#hedges-sum').textContent()).toMatch(new RegExp(`^${hedges.open} open`));
    const positions = (await page.locator('#positions').textContent()) ?? '';
    if (p.positions.length === 0) expect(positions).toBe('');
    for (const x of p.positions) expect(positions).toContain(`${x.symbol} ${+x.contracts.toFixed(6)} contracts`);
    for (const c of p.classes) expect(Number(await page.locator(`.class-row[data-class="${c.name}"] .weight`).getAttribute('data-weight'))).toBe(c.weight);
    if (plan.execution && plan.execution.fills.length > 0) {
      expect(await page.locator('#plan-status').textContent()).toMatch(/^executed/);
      expect(await page.locator('#plan-fills li').count()).toBe(plan.execution.fills.length);
    } else expect(await page.locator('#plan-status').textContent()).not.toMatch(/planned/);
    expect(errors).toEqual([]);
  });

  it('is readable on a phone: one column, no sideways scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => window.scrollTo(0, 0));
    // the charts are redrawn for the narrow screen
    await page.waitForFunction(() => (document.querySelector('#charts-classes canvas') as HTMLCanvasElement | null)?.getBoundingClientRect().width! < 380);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    const w = await page.locator('#allocation').boundingBox();
    expect(w!.width).toBeGreaterThan(340);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png') });
    expect(errors).toEqual([]);
    await page.setViewportSize({ width: 1280, height: 900 });
    // at 1280 px the Hedges table shows its last column (WHY) without scrolling sideways
    await page.waitForFunction(() => (document.querySelector('#charts-classes canvas') as HTMLCanvasElement | null)?.getBoundingClientRect().width! > 200);
    const hedgesOverflow = await page.evaluate(() => {
      const t = document.getElementById('hedges-table')!;
      return t.scrollWidth - t.clientWidth;
    });
    expect(hedgesOverflow).toBeLessThanOrEqual(0);
    await page.locator('#hedges').screenshot({ path: join(ARTIFACTS, 'dashboard-hedges-1280.png') });
  });

  it('without the token: asks for it; a wrong one is refused', async () => {
    const other = await browser.newPage();
    await other.goto(`${server.url}/`, { waitUntil: 'domcontentloaded' });
    await other.waitForSelector('#login:not([hidden])');
    await other.fill('#login-token', 'not-the-token-' + 'x'.repeat(40));
    await other.click('#login-form button');
    await other.waitForFunction(() => document.getElementById('login-error')?.textContent?.includes('refused'));
    expect(await other.locator('#login').isVisible()).toBe(true);
    await other.fill('#login-token', server.token);
    await other.click('#login-form button');
    await other.waitForSelector('body[data-ready="true"]', { state: 'attached' });
    expect(await other.locator('#login').isHidden()).toBe(true);
    await other.close();
  });

  it('halt asks for confirmation (cancel changes nothing), then halts: the API says HALTED', async () => {
    expect((await api<{ trading: { state: string } }>('/api/status')).trading.state).toBe('ACTIVE');

    await page.click('button[data-command="halt"]');
    await page.waitForSelector('dialog#confirm[open]');
    expect(await page.locator('#confirm-title').textContent()).toBe('Halt trading?');
    await page.click('#confirm-cancel');
    await page.waitForSelector('dialog#confirm:not([open])', { state: 'attached' });
    expect((await api<{ trading: { state: string } }>('/api/status')).trading.state).toBe('ACTIVE');

    await page.click('button[data-command="halt"]');
    await page.waitForSelector('dialog#confirm[open]');
    await page.fill('#confirm-reason', 'browser test: halt from the dashboard');
    await page.click('#confirm-ok');
    await expect.poll(async () => (await api<{ trading: { state: string } }>('/api/status')).trading.state, { timeout: 5_000 }).toBe('HALTED');
    const s = await api<{ trading: { state: string; by: string; reason: string } }>('/api/status');
    expect(s.trading).toMatchObject({ by: 'api:dashboard@127.0.0.1', reason: 'browser test: halt from the dashboard' });
    await page.waitForFunction(() => document.getElementById('state')?.textContent === 'HALTED');
    expect(await page.locator('#banner').textContent()).toMatch(/Trading is HALTED/);
    expect(await page.locator('button[data-command="halt"]').isDisabled()).toBe(true);
    const journal = await api<{ events: { type: string; summary: string }[] }>('/api/journal?type=command');
    expect(journal.events[0]!.summary).toBe('halt by api:dashboard@127.0.0.1: browser test: halt from the dashboard');
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-halted.png') });

    // resume, for the tests that follow
    await page.click('button[data-command="resume"]');
    await page.click('#confirm-ok');
    await expect.poll(async () => (await api<{ trading: { state: string } }>('/api/status')).trading.state, { timeout: 5_000 }).toBe('ACTIVE');
    expect(errors).toEqual([]);
  });
});
