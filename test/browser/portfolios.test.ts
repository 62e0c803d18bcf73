/**
 * `ballast serve`'s portfolio list in a real browser (Debian's chromium via scripts/setup-chromium.sh, driven
 * by playwright-core), on the real engines (PostgreSQL and Redis started by test/scale/engines.ts): three
 * paper portfolios on one many-accounts venue, each started off its target by a different amount inside a
 * wide band (so the start-up cycles trade nothing and the drifts stay apart), serve with its dashboard and one
 * worker in this process.
 *
 * Checks: the list opens with the token from the fragment, sorted by |drift| largest first, with the API's
 * numbers; a click on the drift column reverses the order; a click on a name opens that portfolio's
 * single-portfolio dashboard (`/p/NAME/`), whose class weights are its API's. Screenshots in
 * out/test-artifacts/: portfolios.png, portfolio-from-list.png.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortfolioStore } from '../../src/adapters/scale/portfolios.js';
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import { AccountsVenue } from '../../src/adapters/venue/accounts.js';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import { ROOT } from '../../src/apps/cli/main.js';
import { startServe, type ServeHandle } from '../../src/apps/scale/serve.js';
import { startWorker, type WorkerHandle } from '../../src/apps/scale/worker.js';
import { pct } from '../../src/core/format.js';
import { startPostgres, startRedis, type LocalPostgres, type LocalRedis } from '../scale/engines.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(ROOT, 'out', 'test-artifacts');
// paper on live prices: the venue's clock is the wall clock (the dashboard judges data age by it)
const T0 = Date.now() - 60_000;
const BTC = 60_000;

const yaml = `quote: USDT
classes:
  - { name: BTC, target: 50%, band: 20%, assets: [BTC] }
  - { name: Cash, target: 50%, band: 20%, assets: [USDT], cash: true }
rebalance: { mode: threshold, to: target }
execution: { instrument: spot }
accounts:
  - { name: sim, exchange: paper }
orders: { type: market }
risk: { maxDataAgeSeconds: 3600 }
`;

/** BTC weight of each portfolio at the start (target 50%, band ±20 points: all inside). */
const WEIGHTS: Record<string, number> = { alpha: 0.55, bravo: 0.4, charlie: 0.62 };

let pg: LocalPostgres;
let redis: LocalRedis;
let venue: AccountsVenue;
let serve: ServeHandle;
let worker: WorkerHandle;
let browser: Browser;
let dir = '';
let token = '';

interface Row {
  name: string;
  tpv: number | null;
  worstDrift: { class: string; drift: number } | null;
}

async function api<T>(path: string): Promise<T> {
  const r = await fetch(serve.api!.url + path, { headers: { authorization: `Bearer ${token}` } });
  expect(r.status, path).toBe(200);
  return (await r.json()) as T;
}

beforeAll(() => {
  execFileSync('bash', [join(ROOT, 'scripts', 'setup-chromium.sh')], { stdio: 'inherit', timeout: 20 * 60_000 });
}, 20 * 60_000);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'ballast-list-'));
  [pg, redis, browser] = await Promise.all([startPostgres(), startRedis(), chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] })]);
  venue = new AccountsVenue({
    stateDir: join(dir, 'venue'),
    sync: false,
    config: {
      id: 'sim',
      quote: 'USDT',
      balances: { USDT: 0 },
      markets: [{ symbol: 'BTC/USDT', type: 'spot', base: 'BTC', amountStep: 1e-6, priceStep: 0.01, minAmount: 1e-6, minNotional: 5 }],
    },
    makeFeed: () => new ArrayFeed(),
    startTime: T0,
  });
  await venue.start(0);
  const root = new RemoteExchange({ url: venue.url });
  await root.pushBar('BTC/USDT', { open: BTC, high: BTC, low: BTC, close: BTC, volume: 1e9 });
  const store = new PortfolioStore(pg.url);
  try {
    for (const [name, w] of Object.entries(WEIGHTS)) {
      const url = await root.createAccount(name, { BTC: (10_000 * w) / BTC, USDT: 10_000 * (1 - w) });
      store.add({ name, source: yaml, fileName: `${name}.yaml`, bindings: { sim: { venue: url } }, time: T0 });
    }
  } finally {
    store.close();
  }
  worker = await startWorker({ db: pg.url, redis: redis.url, concurrency: 2 });
  serve = await startServe({ db: pg.url, redis: redis.url, feedEveryMs: 300, api: { port: 0, tokenFile: join(dir, 'token') } });
  token = /#token=(.+)$/.exec(serve.api!.dashboardUrl)![1]!;
  // start-up cycles journal each portfolio's snapshot; serve's monitor is rebuilt from them
  for (let n = 0; ; n++) {
    const rows = (await api<{ portfolios: Row[] }>('/api/portfolios')).portfolios;
    if (rows.length === 3 && rows.every((r) => r.worstDrift !== null)) break;
    if (n > 300) throw new Error(`serve's monitor has no drift for every portfolio: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await serve?.close();
  await worker?.close();
  await venue?.stop();
  await redis?.stop();
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('serve: the portfolio list', () => {
  it('sorts by drift and links to each portfolio’s dashboard', async () => {
    const errors: string[] = [];
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(serve.api!.dashboardUrl, { waitUntil: 'domcontentloaded' });
    await page.waitForSelector('#rows tr', { timeout: 15_000 });
    expect(page.url()).toBe(`${serve.api!.url}/`);

    const names = () => page.locator('#rows tr').evaluateAll((trs) => trs.map((t) => t.getAttribute('data-name')));
    // opened sorted by |drift|, largest first: charlie +12, bravo −10, alpha +5 points
    expect(await names()).toEqual(['charlie', 'bravo', 'alpha']);
    const rows = (await api<{ portfolios: Row[] }>('/api/portfolios?sort=drift')).portfolios;
    expect(rows.map((r) => r.name)).toEqual(['charlie', 'bravo', 'alpha']);
    for (const r of rows) {
      expect(r.worstDrift!.drift).toBeCloseTo(WEIGHTS[r.name]! - 0.5, 3);
      const text = await page.locator(`#rows tr[data-name="${r.name}"] td.drift`).textContent();
      expect(text).toBe(`${r.worstDrift!.drift >= 0 ? '+' : '−'}${Math.abs(r.worstDrift!.drift * 100).toFixed(2)} pts`);
    }
    await page.screenshot({ path: join(ARTIFACTS, 'portfolios.png'), fullPage: true });

    // the drift column again: smallest first, and back
    await page.click('button.sort[data-sort="drift"]');
    expect(await names()).toEqual(['alpha', 'bravo', 'charlie']);
    expect(await page.getAttribute('button.sort[data-sort="drift"]', 'aria-sort')).toBe('ascending');
    await page.click('button.sort[data-sort="drift"]');
    expect(await names()).toEqual(['charlie', 'bravo', 'alpha']);

    // follow the link of the most drifted portfolio: its single-portfolio dashboard, from its own journal
    await page.click('#rows tr[data-name="charlie"] a.portfolio-link');
    await page.waitForURL(`${serve.api!.url}/p/charlie/`);
    await page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 15_000 }).catch(async (e) => {
      await page.screenshot({ path: join(ARTIFACTS, 'portfolio-from-list.png'), fullPage: true });
      throw new Error(`${(e as Error).message}; page errors: ${errors.join(' | ')}`);
    });
    const p = await api<{ tpv: number; classes: { name: string; weight: number }[] }>('/p/charlie/api/portfolio');
    expect(p.classes.find((c) => c.name === 'BTC')!.weight).toBeCloseTo(0.62, 3);
    for (const c of p.classes) expect(await page.locator(`.class-row[data-class="${c.name}"] .weight`).textContent(), c.name).toBe(pct(c.weight));
    const status = await api<{ trading: { state: string } }>('/p/charlie/api/status');
    expect(await page.locator('#state').textContent()).toBe(status.trading.state);
    await page.screenshot({ path: join(ARTIFACTS, 'portfolio-from-list.png'), fullPage: true });

    // without the token the API answers 401; an unknown portfolio 404
    expect((await fetch(`${serve.api!.url}/p/charlie/api/portfolio`)).status).toBe(401);
    expect((await fetch(`${serve.api!.url}/p/nobody/api/portfolio`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(404);
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);
});
