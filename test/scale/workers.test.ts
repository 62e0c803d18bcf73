/**
 * Many portfolios on the real engines: PostgreSQL (journal, portfolios) and Redis (BullMQ queue, account
 * locks, shared rate limits), both started by this suite on loopback ports, with three paper portfolios
 * on three simulated venues (in this process, priced by a fake public price source: no network).
 *
 * - portfolios as data: `ballast portfolios add|list|show|remove` through the CLI, with located errors;
 * - serve queues a start-up cycle per portfolio; two workers run them: every portfolio trades to its
 *   target, every intent carries its account's fencing token, no client order id is used twice;
 * - one job id per portfolio and cycle: queuing the same cycle twice gives one job;
 * - the monitor: a price move that breaks a band queues a 'monitor' cycle for exactly the portfolios holding it;
 * - fencing: a worker whose account lock was taken over cannot send an order (FencedOut before the venue).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresJournal } from '../../src/adapters/journal/postgres.js';
import { AccountLocks, FencedOut, fencedExchange } from '../../src/adapters/scale/account-lock.js';
import { PortfolioStore } from '../../src/adapters/scale/portfolios.js';
import type { PriceSource } from '../../src/adapters/venue/live-prices.js';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import { buildProgram } from '../../src/apps/cli/main.js';
import { startSimVenue, type SimVenueHandle } from '../../src/apps/cli/sim-venue.js';
import type { CycleResult } from '../../src/apps/scale/cycle.js';
import { CycleQueue } from '../../src/apps/scale/queue.js';
import { startServe, type ServeHandle } from '../../src/apps/scale/serve.js';
import { startWorker, type WorkerHandle } from '../../src/apps/scale/worker.js';
import { systemClock } from '../../src/ports/clock.js';
import type { Exchange, Market, Ticker } from '../../src/ports/exchange.js';
import { startPostgres, startRedis, type LocalPostgres, type LocalRedis } from './engines.js';
import { halfCashYaml } from './portfolio.js';

const PRICES: Record<string, number> = { BTC: 60_000, ETH: 3_000 };

function fakeSource(): PriceSource {
  const market = (a: string): Market => ({
    symbol: `${a}/USDT`,
    type: 'spot',
    spot: true,
    swap: false,
    base: a,
    quote: 'USDT',
    settle: null,
    amountStep: 1e-5,
    priceStep: 1e-2,
    minAmount: 1e-5,
    minNotional: 5,
    contractSize: 1,
    maintenanceMarginRate: 0,
    maker: 0.001,
    taker: 0.001,
    active: true,
  });
  return {
    id: 'fakeprices',
    loadMarkets: async () => Object.fromEntries(Object.keys(PRICES).map((a) => [`${a}/USDT`, market(a)])),
    fetchTickers: async (symbols?: string[]) => {
      const out: Record<string, Ticker> = {};
      for (const s of symbols ?? Object.keys(PRICES).map((a) => `${a}/USDT`)) {
        const px = PRICES[s.split('/')[0]!];
        if (px) out[s] = { symbol: s, timestamp: systemClock.now(), bid: px, ask: px, last: px, markPrice: null };
      }
      return out;
    },
  };
}

let pg: LocalPostgres;
let redis: LocalRedis;
let dir = '';
let db = '';
const venues: SimVenueHandle[] = [];
const workers: WorkerHandle[] = [];
let serve: ServeHandle | undefined;
const results: CycleResult[] = [];

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const lines: string[] = [];
  const errs: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (errs.push(String(s)), true)) as typeof process.stderr.write;
  try {
    const ctx = { code: 0 };
    await buildProgram((s) => lines.push(s), ctx).parseAsync(['node', 'ballast', ...args]);
    return { code: ctx.code, out: lines.join('\n'), err: errs.join('') };
  } catch (e) {
    const { reportError } = await import('../../src/apps/cli/main.js');
    return { code: reportError(e), out: lines.join('\n'), err: errs.join('') };
  } finally {
    process.stderr.write = write;
  }
}

async function until<T>(what: string, fn: () => T | Promise<T>, ms = 60_000): Promise<NonNullable<T>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  db = pg.url;
  dir = mkdtempSync(join(tmpdir(), 'ballast-scale-'));
  writeFileSync(join(dir, 'btc.yaml'), halfCashYaml('BTC'));
  writeFileSync(join(dir, 'eth.yaml'), halfCashYaml('ETH'));
  for (let i = 0; i < 3; i++) {
    venues.push(await startSimVenue({ config: join(dir, i < 2 ? 'btc.yaml' : 'eth.yaml'), state: join(dir, `venue${i}.json`), priceSource: fakeSource(), capital: 10_000 }));
  }
}, 1_200_000);

afterAll(async () => {
  await serve?.close();
  for (const w of workers) await w.close();
  for (const v of venues) await v.stop();
  await redis?.stop();
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('portfolios as data (CLI)', () => {
  it('add validates the file and the bindings; list, show and remove', async () => {
    const add = await cli('portfolios', 'add', join(dir, 'btc.yaml'), '--db', db, '--name', 'alpha', '--venue', `sim=${venues[0]!.url}`);
    expect(add.err).toBe('');
    expect(add.out).toMatch(/portfolio alpha stored: 2 classes \(BTC, Stablecoins\), accounts sim/);
    expect((await cli('portfolios', 'add', join(dir, 'btc.yaml'), '--db', db, '--name', 'beta', '--venue', `sim=${venues[1]!.url}`)).code).toBe(0);
    expect((await cli('portfolios', 'add', join(dir, 'eth.yaml'), '--db', db, '--name', 'gamma', '--venue', `sim=${venues[2]!.url}`)).code).toBe(0);
    // errors: exit 2, naming the problem
    const dup = await cli('portfolios', 'add', join(dir, 'btc.yaml'), '--db', db, '--name', 'alpha', '--venue', `sim=${venues[0]!.url}`);
    expect(dup).toMatchObject({ code: 2, err: expect.stringMatching(/portfolio "alpha" already exists/) });
    const unbound = await cli('portfolios', 'add', join(dir, 'btc.yaml'), '--db', db, '--name', 'delta');
    expect(unbound).toMatchObject({ code: 2, err: expect.stringMatching(/account "sim" is a paper account: bind it/) });
    writeFileSync(join(dir, 'bad.yaml'), halfCashYaml('BTC').replace('target: 50%, band: 5%, assets: [BTC]', 'target: 70%, band: 5%, assets: [BTC]'));
    const bad = await cli('portfolios', 'add', join(dir, 'bad.yaml'), '--db', db, '--venue', `sim=${venues[0]!.url}`);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/bad\.yaml/);
    expect((await cli('portfolios', 'add', join(dir, 'btc.yaml'), '--db', 'journal.db')).code).toBe(2);
    const list = await cli('portfolios', 'list', '--db', db, '--json');
    expect(JSON.parse(list.out).map((r: { name: string; state: string }) => [r.name, r.state])).toEqual([
      ['alpha', 'ACTIVE'],
      ['beta', 'ACTIVE'],
      ['gamma', 'ACTIVE'],
    ]);
    expect((await cli('portfolios', 'show', 'gamma', '--db', db)).out).toMatch(/assets: \[ETH\]/);
    expect((await cli('portfolios', 'add', join(dir, 'btc.yaml'), '--db', db, '--name', 'tmp', '--venue', `sim=${venues[0]!.url}`)).code).toBe(0);
    expect((await cli('portfolios', 'remove', 'tmp', '--db', db)).out).toBe('portfolio tmp removed');
    expect((await cli('portfolios', 'remove', 'tmp', '--db', db)).code).toBe(2);
  });

  it('the kill switch is per portfolio', async () => {
    expect((await cli('halt', '--db', db, '--portfolio', 'beta', '--reason', 'test')).out).toMatch(/ACTIVE → HALTED/);
    const list = JSON.parse((await cli('portfolios', 'list', '--db', db, '--json')).out) as Array<{ name: string; state: string }>;
    expect(list.map((r) => r.state)).toEqual(['ACTIVE', 'HALTED', 'ACTIVE']);
    expect((await cli('resume', '--db', db, '--portfolio', 'beta')).out).toMatch(/HALTED → ACTIVE/);
  });
});

describe('serve + workers on BullMQ', () => {
  it('start-up cycles: two workers bring every portfolio to its target, orders fenced, no client id twice', async () => {
    for (let i = 0; i < 2; i++) workers.push(await startWorker({ db, redis: redis.url, concurrency: 2, lockTtlMs: 10_000, onResult: (r) => results.push(r) }));
    serve = await startServe({ db, redis: redis.url, feedEveryMs: 3_600_000, checkEveryMs: 3_600_000, cooldownMs: 0, api: { port: 0, tokenFile: join(dir, 'api-token') } });
    await until('three traded start-up cycles', () => ['alpha', 'beta', 'gamma'].every((n) => results.some((r) => r.portfolio === n && r.status === 'traded')), 120_000);
    const store = new PortfolioStore(db);
    try {
      for (const [i, name] of ['alpha', 'beta', 'gamma'].entries()) {
        const j = new PostgresJournal(db, { clock: systemClock, portfolio: name });
        try {
          const intents = j.intents();
          expect(intents.length).toBeGreaterThan(0);
          expect(new Set(intents.map((x) => x.clientOrderId)).size).toBe(intents.length);
          for (const x of intents) expect(j.intentFence(x.clientOrderId)).toBeGreaterThan(0);
          expect(intents.every((x) => x.state === 'FILLED')).toBe(true);
          // journal = venue: what the journal believes it holds is what the venue holds
          const bal = (await new RemoteExchange({ url: venues[i]!.url }).fetchBalance()).total;
          const asset = i < 2 ? 'BTC' : 'ETH';
          expect(j.book('sim')?.[asset]).toBeCloseTo(bal[asset]!, 9);
          // traded to target: ~50% of ~10,000 USDT
          expect((bal[asset]! * PRICES[asset]!) / 10_000).toBeGreaterThan(0.45);
        } finally {
          j.close();
        }
      }
      expect(store.list().every((r) => r.lastCycle !== null)).toBe(true);
    } finally {
      store.close();
    }
    console.log(`cycles run: ${results.length} (${results.map((r) => `${r.portfolio}:${r.status}:${r.orders} orders`).join(', ')})`);
  });

  it('one job id per portfolio and cycle: the same cycle queued twice is one job', async () => {
    const q = new CycleQueue(redis.url);
    try {
      const t = 1_700_000_000_000;
      const a = await q.enqueue('nosuch', 'calendar', 42, t);
      const b = await q.enqueue('nosuch', 'calendar', 42, t);
      expect(a).toBe(b);
      expect(a).toBe('nosuch.calendar.42');
      const jobs = await q.queue.getJobs(['waiting', 'active', 'completed', 'delayed', 'failed']);
      expect(jobs.filter((j) => j.id === a)).toHaveLength(1);
    } finally {
      await q.close();
    }
  });

  it('the monitor queues a cycle for exactly the portfolios a price move takes out of band', async () => {
    serve!.rebuildMonitor();
    const m = serve!.monitor()!;
    expect([...m.ids].sort()).toEqual(['alpha', 'beta', 'gamma']);
    expect(await serve!.feedOnce()).toEqual([]); // at target: nothing to do
    PRICES.BTC = 60_000 * 1.4; // BTC +40%: 58% BTC > 55% for both BTC portfolios; ETH untouched
    await until('the venues to see the new price', async () => (await new RemoteExchange({ url: venues[0]!.url }).fetchTickers(['BTC/USDT']))['BTC/USDT']!.last === PRICES.BTC && (await new RemoteExchange({ url: venues[1]!.url }).fetchTickers(['BTC/USDT']))['BTC/USDT']!.last === PRICES.BTC, 60_000);
    const queued = await serve!.feedOnce();
    expect([...new Set(queued)].sort()).toEqual(['alpha', 'beta']);
    // /api/portfolios: token required; every portfolio with TPV, worst drift and its class, state, last cycle
    const url = `${serve!.api!.url}/api/portfolios?sort=drift`;
    expect((await fetch(url)).status).toBe(401);
    const token = readFileSync(join(dir, 'api-token'), 'utf8').trim();
    const body = (await (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).json()) as { portfolios: Array<{ name: string; tpv: number; worstDrift: { class: string; drift: number }; bandDistance: number; state: string; lastCycle: unknown }> };
    expect(body.portfolios.map((p) => p.name).slice(0, 2).sort()).toEqual(['alpha', 'beta']); // the BTC rally: largest drift first
    expect(body.portfolios[0]!.worstDrift.class).toMatch(/BTC|Stablecoins/);
    expect(body.portfolios[0]!.bandDistance).toBeGreaterThan(0);
    expect(body.portfolios[2]).toMatchObject({ name: 'gamma', state: 'ACTIVE', lastCycle: expect.objectContaining({ status: 'done' }) });
    expect(body.portfolios[2]!.bandDistance).toBeLessThan(0);
    await until('monitor cycles to trade alpha and beta back', () => ['alpha', 'beta'].every((n) => results.some((r) => r.portfolio === n && r.status === 'traded' && results.indexOf(r) >= 3)), 120_000);
    // rebuilt from the journal after those cycles and valued at the feed's prices: every portfolio is inside
    // its bands again, so the next feed pass queues nothing (a stale price would re-queue in-band portfolios)
    serve!.rebuildMonitor();
    expect(await serve!.feedOnce()).toEqual([]);
    expect(Array.from(serve!.monitor()!.distance).every((d) => d < 0)).toBe(true);
  });
});

describe('fencing across workers', () => {
  it('a worker whose account lock was taken over cannot send: FencedOut before the venue', async () => {
    const r1 = new Redis(redis.url, { maxRetriesPerRequest: null });
    const r2 = new Redis(redis.url, { maxRetriesPerRequest: null });
    const a = new AccountLocks(r1, { owner: 'worker-a', ttlMs: 200 });
    const b = new AccountLocks(r2, { owner: 'worker-b', ttlMs: 10_000 });
    const key = 'paper:fence-test';
    let sent = 0;
    const venue = { id: 'sim', createOrder: async () => (sent++, { id: '1' }) } as unknown as Exchange;
    try {
      const ta = await a.acquire(key);
      expect('token' in ta).toBe(true);
      const tokenA = (ta as { token: number }).token;
      expect(await b.acquire(key)).toMatchObject({ heldForMs: expect.any(Number) });
      const ja = new PostgresJournal(db, { clock: systemClock, portfolio: 'fence', fenceFor: () => ({ key, token: tokenA }) });
      ja.raiseFence(key, tokenA);
      const intent = {
        clientOrderId: 'blfence0001', rebalanceId: 1, leg: 0, slice: 0, attempt: 0, account: 'sim', symbol: 'BTC/USDT', side: 'buy' as const, type: 'market' as const,
        amount: 0.01, price: null, reduceOnly: false, state: 'NEW' as const, filled: 0, avgPrice: null, venueOrderId: null, notFoundStrikes: 0, purpose: 't', reason: null, createdAt: 0, updatedAt: 0,
      };
      ja.insertIntent(intent);
      // worker A stalls past its lock's life; worker B takes the account over and raises the fence
      await new Promise((r) => setTimeout(r, 300));
      const tb = await b.acquire(key);
      expect((tb as { token: number }).token).toBe(tokenA + 1);
      ja.raiseFence(key, (tb as { token: number }).token);
      const err = await fencedExchange(venue, ja, { key, token: tokenA })
        .createOrder({ symbol: 'BTC/USDT', side: 'buy', type: 'market', amount: 0.01, clientOrderId: intent.clientOrderId })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FencedOut);
      expect((err as Error).message).toMatch(new RegExp(`fencing token ${tokenA} for ${key} is stale: a newer holder has ${tokenA + 1}`));
      expect(sent).toBe(0);
      ja.close();
    } finally {
      r1.disconnect();
      r2.disconnect();
    }
  });
});
