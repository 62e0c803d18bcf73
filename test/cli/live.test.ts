/**
 * `startRun` wiring of the modes that need the network in production — `--live` (keys, permission check,
 * LiveSnapshotSource) and paper on live prices (PricePump into the simulated venue) — exercised offline: the
 * live venue is a SimExchange on the wall clock behind a fake key-permission answer, the price source a fake.
 * A canary key travels through the whole live path and must not surface in logs, errors or the journal.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clearSecrets } from '../../src/adapters/log.js';
import { SimExchange } from '../../src/adapters/sim/exchange.js';
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import type { PriceSource } from '../../src/adapters/venue/live-prices.js';
import { UsageError } from '../../src/apps/cli/errors.js';
import type { LiveExchangeFactory } from '../../src/apps/cli/live.js';
import { startRun, type RunHandle } from '../../src/apps/cli/run.js';
import { startSimVenue } from '../../src/apps/cli/sim-venue.js';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import { WithdrawalPermissionError, type KeyPermissions } from '../../src/adapters/keys.js';
import { systemClock } from '../../src/ports/clock.js';
import type { Market, Ticker } from '../../src/ports/exchange.js';
import { ensureDir, scratchDir, SEED_CONFIG } from './helpers.js';

const scratch = scratchDir('ballast-cli-live-');
afterAll(() => {
  scratch.remove();
  clearSecrets();
});

const KEY = 'CANARYLIVEKEY-5e4d3c2b1a09';
const SECRET = 'CANARYLIVESECRET-9a8b7c6d5e4f';
const PRICES: Record<string, number> = { BTC: 60_000, ETH: 3_000, SOL: 150, ADA: 0.5, DOT: 7 };

function liveConfig(dir: string, extra = ''): string {
  const f = join(dir, 'live.yaml');
  writeFileSync(f, readFileSync(SEED_CONFIG, 'utf8') + `accounts:\n  - { name: main, exchange: binance }\norders: { maxSliceNotional: 1000000, sliceIntervalSeconds: 0 }\n${extra}`);
  return f;
}

/** A simulated "exchange" on the wall clock with one fresh bar per market. */
function wallClockSim(): SimExchange {
  const feed = new ArrayFeed();
  const t = systemClock.now() - 1_000;
  for (const [a, px] of Object.entries(PRICES)) feed.pushBar(`${a}/USDT`, { time: t, open: px, high: px, low: px, close: px, volume: 1e9 });
  const sim = new SimExchange(
    {
      id: 'binance',
      quote: 'USDT',
      balances: { USDT: 100_000 },
      markets: Object.keys(PRICES).map((a) => ({ symbol: `${a}/USDT`, type: 'spot' as const, base: a, amountStep: 1e-6, priceStep: 1e-4, minAmount: 1e-6, minNotional: 5 })),
    },
    { feed, clock: systemClock },
  );
  sim.sync();
  return sim;
}

function factory(permissions: KeyPermissions, seen: string[]): LiveExchangeFactory {
  return async (account, credentials) => {
    seen.push(`${account.name}:${credentials.apiKey.reveal() === KEY && credentials.secret.reveal() === SECRET ? 'canary' : 'other'}:${credentials.source}`);
    const sim = wallClockSim();
    return { exchange: Object.assign(sim, { fetchKeyPermissions: async () => permissions }) };
  };
}

function expectNoCanary(what: string, text: string | Buffer): void {
  const s = typeof text === 'string' ? text : text.toString('latin1');
  for (const c of [KEY, SECRET]) expect(s.includes(c), `${what} contains the canary`).toBe(false);
}

async function waitFor(ok: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 20_000;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('--live (offline: a simulated venue behind the live wiring)', () => {
  const env = { BALLAST_MAIN_API_KEY: KEY, BALLAST_MAIN_API_SECRET: SECRET };

  it('refuses a key that can withdraw, before any cycle; the error and the logs carry no key', async () => {
    const dir = ensureDir(join(scratch.dir, 'withdraw'));
    const logs: string[] = [];
    const seen: string[] = [];
    const err = await startRun({
      config: liveConfig(dir),
      live: true,
      db: join(dir, 'journal.db'),
      env,
      liveFactory: factory({ canWithdraw: true, detail: 'apiRestrictions.enableWithdrawals = true' }, seen),
      logStream: { write: (s: string) => logs.push(s) },
      out: () => {},
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WithdrawalPermissionError);
    expect((err as Error).message).toMatch(/this API key can WITHDRAW funds \(apiRestrictions\.enableWithdrawals = true\)/);
    expect(seen).toEqual(['main:canary:env:BALLAST_MAIN_API_KEY']);
    expectNoCanary('error', `${(err as Error).message} ${(err as Error).stack}`);
    expectNoCanary('logs', logs.join(''));
    expect(readdirSync(dir)).toEqual(['live.yaml']); // no journal was opened
  });

  it('trades with a read+trade key: permission logged, one cycle, clean stop; no key in logs or journal', async () => {
    const dir = ensureDir(join(scratch.dir, 'trade'));
    const logs: string[] = [];
    const seen: string[] = [];
    let h: RunHandle | null = null;
    try {
      h = await startRun({
        config: liveConfig(dir),
        live: true,
        db: join(dir, 'journal.db'),
        env,
        intervalMs: 3_600_000,
        liveFactory: factory({ canWithdraw: false, detail: 'apiRestrictions.enableWithdrawals = false' }, seen),
        logStream: { write: (s: string) => logs.push(s) },
        logLevel: 'debug',
        out: () => {},
      });
      expect(h.mode).toBe('live');
      const j = h.journal;
      await waitFor(() => j.rebalances().length > 0 && j.rebalances()[0]!.status !== 'running', 'the first rebalance');
      const r = await h.stop('test');
      h = null;
      expect(r.code).toBe(0);
      expect(r.summary.fills).toBe(5);
      expect(r.summary.tpvStart).toBe(100_000);
    } finally {
      await h?.stop();
    }
    const text = logs.join('');
    expect(text).toMatch(/binance: key cannot withdraw \(apiRestrictions\.enableWithdrawals = false\)/);
    expectNoCanary('logs', text);
    for (const f of readdirSync(dir)) expectNoCanary(f, readFileSync(join(dir, f)));
  });

  it('refuses the crash-test hook and paper accounts with --live', async () => {
    const dir = ensureDir(join(scratch.dir, 'refuse'));
    await expect(startRun({ config: liveConfig(dir), live: true, db: join(dir, 'j.db'), env: { ...env, BALLAST_CRASH_AT: 'after-send:1' }, out: () => {} })).rejects.toThrow(UsageError);
    const paper = join(dir, 'paper.yaml');
    writeFileSync(paper, readFileSync(SEED_CONFIG, 'utf8') + `accounts:\n  - { name: sim, exchange: paper }\n`);
    await expect(startRun({ config: paper, live: true, db: join(dir, 'j.db'), env, out: () => {} })).rejects.toThrow(/account sim is a paper account/);
  });
});

describe('paper on live prices (offline: a fake public price source)', () => {
  function fakeSource(): PriceSource & { calls: number } {
    const market = (a: string): Market => ({
      symbol: `${a}/USDT`,
      type: 'spot',
      spot: true,
      swap: false,
      base: a,
      quote: 'USDT',
      settle: null,
      amountStep: 1e-5,
      priceStep: 1e-4,
      minAmount: 1e-5,
      minNotional: 5,
      contractSize: 1,
      maintenanceMarginRate: 0,
      maker: 0.001,
      taker: 0.001,
      active: true,
    });
    const src = {
      id: 'fakeprices',
      calls: 0,
      loadMarkets: async () => Object.fromEntries(Object.keys(PRICES).map((a) => [`${a}/USDT`, market(a)])),
      fetchTickers: async (symbols?: string[]) => {
        src.calls++;
        const now = systemClock.now();
        const out: Record<string, Ticker> = {};
        for (const s of symbols ?? []) {
          const px = PRICES[s.split('/')[0]!];
          if (px) out[s] = { symbol: s, timestamp: now, bid: px, ask: px, last: px, markPrice: null };
        }
        return out;
      },
    };
    return src;
  }

  it('`ballast sim-venue` without --replay: the same venue, priced by the pump, served over HTTP', async () => {
    const dir = ensureDir(join(scratch.dir, 'simvenue-live'));
    const v = await startSimVenue({ config: SEED_CONFIG, state: join(dir, 'venue.json'), priceSource: fakeSource(), capital: 5_000 });
    try {
      const remote = new RemoteExchange({ url: v.url });
      const t = await remote.fetchTickers(['BTC/USDT', 'ADA/USDT']);
      expect(t['BTC/USDT']!.last).toBe(60_000);
      expect(t['ADA/USDT']!.last).toBe(0.5);
      expect(Math.abs(t['BTC/USDT']!.timestamp - systemClock.now())).toBeLessThan(5_000);
      expect((await remote.fetchBalance()).total).toEqual({ USDT: 5_000, BTC: 0, ETH: 0, SOL: 0, ADA: 0, DOT: 0 });
      expect(await remote.schedule()).toEqual([]);
      expect(v.notes.join(' ')).toMatch(/BTC\/USDT:USDT is not listed by the price source/);
    } finally {
      await v.stop();
    }
  });

  it('prices pumped into the simulated venue, the seed portfolio bought, state saved beside the journal', async () => {
    const dir = ensureDir(join(scratch.dir, 'paperlive'));
    const src = fakeSource();
    const h = await startRun({ config: liveConfig(dir), db: join(dir, 'journal.db'), priceSource: src, intervalMs: 3_600_000, logLevel: 'silent', out: () => {} });
    try {
      expect(h.mode).toBe('paper-live');
      await waitFor(() => h.journal.rebalances().length > 0 && h.journal.rebalances()[0]!.status !== 'running', 'the first rebalance');
    } finally {
      const r = await h.stop('test');
      expect(r.code).toBe(0);
      expect(r.summary.fills).toBe(5);
    }
    expect(src.calls).toBeGreaterThanOrEqual(1);
    expect(readdirSync(dir).sort()).toEqual(expect.arrayContaining(['journal.db', 'journal.venue.json']));
    const state = JSON.parse(readFileSync(join(dir, 'journal.venue.json'), 'utf8')) as { meta: unknown; sim: { trades: unknown[] } };
    expect(state.meta).toEqual({ source: 'live', prices: 'fakeprices' });
    expect(state.sim.trades).toHaveLength(5);
  });
});
