/**
 * LiveSnapshotSource with fake watchers, a fake REST venue and a manual clock (no network):
 * timestamps travel with every input, silent streams fall back to REST, and stale or future data
 * stops the planner (status 'stale', no orders) until fresh data arrives.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LiveSnapshotSource, type FeedAccount } from '../../src/adapters/feed/live.js';
import { plan } from '../../src/core/planner.js';
import type { Portfolio } from '../../src/core/types.js';
import { ManualClock } from '../../src/ports/clock.js';
import { ExchangeError, NetworkError } from '../../src/ports/errors.js';
import { cls, portfolio } from '../core/builders.js';
import { balances, FakeRest, FakeWatcher, perpMarket, settle, spotMarket, ticker } from './fakes.js';

const T = Date.UTC(2025, 2, 1);
const PERP = 'BTC/USDT:USDT';

/** BTC 50 % ± 5 / USDT 50 % ± 5; stale after 60 s. */
const P: Portfolio = portfolio([cls('BTC', 0.5, 0.05, ['BTC'], { hedge: PERP }), cls('Stablecoins', 0.5, 0.05, ['USDT'], { cash: true })], {
  risk: { maxDataAgeMs: 60_000 },
});

const sources: LiveSnapshotSource[] = [];
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.close()));
});

function setup(opts: { watcher?: FakeWatcher; perps?: boolean } = {}) {
  const clock = new ManualClock(T);
  const rest = new FakeRest(clock, [spotMarket('BTC/USDT'), ...(opts.perps ? [perpMarket(PERP)] : [])], { BTC: 1, USDT: 10_000 });
  rest.tickers['BTC/USDT'] = ticker('BTC/USDT', 50_000, T - 1_000);
  if (opts.perps) {
    rest.tickers[PERP] = ticker(PERP, 50_010, T - 1_000, 50_005);
    rest.funding[PERP] = { symbol: PERP, fundingRate: 0.0001, fundingTimestamp: T + 3_600_000, intervalMs: 8 * 3_600_000, markPrice: 50_004, timestamp: T - 500 };
  }
  const account: FeedAccount = { name: 'main', exchange: rest, ...(opts.watcher ? { watcher: opts.watcher } : {}) };
  const source = new LiveSnapshotSource({ portfolio: P, accounts: [account], clock, restFallbackMs: 10_000, sleep: async () => {} });
  sources.push(source);
  return { clock, rest, source };
}

const planAt = (snap: Awaited<ReturnType<LiveSnapshotSource['take']>>, now: number) => plan(P, snap, { now, state: 'ACTIVE' });

describe('LiveSnapshotSource', () => {
  it('builds the snapshot with a timestamp for every price, mark, funding rate, balance and position list', async () => {
    const { source, clock } = setup({ perps: true });
    const snap = await source.take();
    expect(snap.time).toBe(clock.now());
    expect(snap.prices).toEqual({ BTC: 50_000 });
    expect(snap.marks).toEqual({ [PERP]: 50_005 });
    expect(snap.funding).toEqual({ [PERP]: { rate: 0.0001, intervalHours: 8 } });
    expect(snap.accounts).toEqual([{ name: 'main', balances: { BTC: 1, USDT: 10_000 }, positions: [] }]);
    expect(snap.timestamps).toEqual({
      BTC: T - 1_000,
      [PERP]: T - 1_000,
      [`funding:${PERP}`]: T - 500,
      'balances:main': T,
      'positions:main': T,
    });
    expect(snap.markets['BTC/USDT']).toMatchObject({ amountStep: 0.00001, priceStep: 0.01, minNotional: 5 });
    expect(snap.markets[PERP]).toMatchObject({ maintenanceMarginRate: 0.004 });
  });

  it('uses the ticker stream while it speaks, and REST only for what is silent; a balance event prompts a REST re-read', async () => {
    const watcher = new FakeWatcher(['tickers', 'balance']);
    const { source, clock, rest } = setup({ watcher });
    await source.take(); // first take: markets, REST for everything, streams start
    expect(rest.calls).toMatchObject({ loadMarkets: 1, fetchTickers: 1, fetchBalance: 1 });
    await settle();
    expect(watcher.symbolsAsked[0]).toEqual(['BTC/USDT']);

    clock.advance(2_000);
    watcher.push('tickers', { 'BTC/USDT': ticker('BTC/USDT', 51_000, clock.now()) });
    // A balance stream event is a prompt, never the balance: venue streams carry deltas or one wallet.
    rest.balance = balances({ BTC: 1.5, USDT: 9_000, DOGE: 1e6 }, clock.now());
    watcher.push('balance', balances({ BTC: 100 }, clock.now()));
    await settle();
    clock.advance(1_000);
    const snap = await source.take();
    expect(rest.calls).toMatchObject({ fetchTickers: 1, fetchBalance: 2 }); // tickers from the stream, balance re-read
    expect(snap.prices.BTC).toBe(51_000);
    expect(snap.accounts[0]!.balances).toEqual({ BTC: 1.5, USDT: 9_000 }); // REST's; DOGE is not in the portfolio
    expect(snap.timestamps).toMatchObject({ BTC: T + 2_000, 'balances:main': T + 3_000 });
    expect(source.status().accounts[0]!.inputs).toEqual(
      expect.arrayContaining([
        { key: 'BTC/USDT', time: T + 2_000, via: 'stream' },
        { key: 'balances:main', time: T + 3_000, via: 'rest' },
      ]),
    );
    // no new balance event: no re-read while the stream is alive
    clock.advance(1_000);
    await source.take();
    expect(rest.calls).toMatchObject({ fetchBalance: 2 });

    // silent for longer than restFallbackMs → REST
    clock.advance(12_000);
    rest.tickers['BTC/USDT'] = ticker('BTC/USDT', 52_000, clock.now() - 100);
    const later = await source.take();
    expect(rest.calls).toMatchObject({ fetchTickers: 2, fetchBalance: 3 });
    expect(later.prices.BTC).toBe(52_000);
    expect(later.timestamps!.BTC).toBe(clock.now() - 100);
    expect(source.status().accounts[0]!.inputs).toEqual(expect.arrayContaining([{ key: 'BTC/USDT', time: clock.now() - 100, via: 'rest' }]));
  });

  it('end to end: a stale stream with REST down → plan STALE, no orders; fresh again → trading resumes', async () => {
    const watcher = new FakeWatcher(['tickers', 'balance']);
    const { source, clock, rest } = setup({ watcher });
    const first = await source.take();
    await settle();
    // BTC is 50,000 of 60,000 = 83 % > 55 %: a rebalance is due
    const ok = planAt(first, clock.now());
    expect(ok.status).toBe('ok');
    expect(ok.actions.some((a) => a.type === 'spot' && a.side === 'sell')).toBe(true);

    // the stream goes silent and REST is down: the data ages
    rest.down = true;
    clock.advance(61_000);
    const old = await source.take(); // no throw: the old values are kept with their old times
    expect(old.timestamps!.BTC).toBe(T - 1_000);
    const stale = planAt(old, clock.now());
    expect(stale.status).toBe('stale');
    expect(stale.actions).toEqual([]);
    expect(stale.explanation.join('\n')).toMatch(/STALE: .*BTC is 62 s old \(limit 60 s\)/);
    expect(source.status().accounts[0]!.errors.map((e) => e.what)).toEqual(expect.arrayContaining(['tickers', 'balance']));

    // the stream speaks again, and REST is back for the balance it prompts
    rest.down = false;
    watcher.push('tickers', { 'BTC/USDT': ticker('BTC/USDT', 50_500, clock.now()) });
    watcher.push('balance', balances({ BTC: 1, USDT: 10_000 }, clock.now()));
    await settle();
    const fresh = await source.take();
    const resumed = planAt(fresh, clock.now());
    expect(resumed.status).toBe('ok');
    expect(resumed.actions.length).toBeGreaterThan(0);
  });

  it('data from the future stops trading until a correctly dated value replaces it', async () => {
    const watcher = new FakeWatcher(['tickers', 'balance']);
    const { source, clock, rest } = setup({ watcher });
    await source.take();
    await settle();
    // with REST up, a future-dated stream value is replaced at once by the REST answer
    watcher.push('tickers', { 'BTC/USDT': ticker('BTC/USDT', 50_000, clock.now() + 120_000) });
    await settle();
    expect((await source.take()).timestamps!.BTC).toBe(T - 1_000);
    // with REST down it stays, and stops trading
    rest.down = true;
    watcher.push('tickers', { 'BTC/USDT': ticker('BTC/USDT', 50_000, clock.now() + 120_000) });
    await settle();
    const future = planAt(await source.take(), clock.now());
    expect(future.status).toBe('stale');
    expect(future.explanation.join('\n')).toContain('in the future');
    expect(future.actions).toEqual([]);

    clock.advance(1_000);
    watcher.push('tickers', { 'BTC/USDT': ticker('BTC/USDT', 50_100, clock.now()) });
    await settle();
    expect(planAt(await source.take(), clock.now()).status).toBe('ok');
  });

  it('keeps the newer of a stream value and a late REST answer', async () => {
    const watcher = new FakeWatcher(['tickers']);
    const { source, clock, rest } = setup({ watcher });
    await source.take();
    await settle();
    clock.advance(20_000);
    watcher.push('tickers', { 'BTC/USDT': ticker('BTC/USDT', 53_000, clock.now() - 15_000) }); // old data, just received
    await settle();
    rest.tickers['BTC/USDT'] = ticker('BTC/USDT', 54_000, clock.now() - 1_000); // newer over REST
    const snap = await source.take();
    expect(rest.calls.fetchTickers).toBe(2); // the streamed value's data was older than restFallbackMs
    expect(snap.prices.BTC).toBe(54_000);
    expect(snap.timestamps!.BTC).toBe(clock.now() - 1_000);
  });

  it('streams positions and marks of perps; funding comes over REST', async () => {
    const watcher = new FakeWatcher(['tickers', 'balance', 'positions']);
    const { source, clock, rest } = setup({ watcher, perps: true });
    await source.take();
    await settle();
    expect(watcher.symbolsAsked[0]).toEqual(['BTC/USDT', PERP]);
    clock.advance(1_000);
    watcher.push('positions', [
      {
        symbol: PERP,
        side: 'short',
        contracts: -0.2,
        contractSize: 1,
        entryPrice: 50_000,
        markPrice: 50_020,
        notional: -10_004,
        unrealizedPnl: -4,
        leverage: 2,
        marginMode: 'isolated',
        liquidationPrice: 74_000,
        initialMargin: 5_002,
        maintenanceMargin: 40,
        collateral: 5_000,
        timestamp: T - 3_600_000, // last change an hour ago: not the freshness of the list
      },
    ]);
    watcher.push('tickers', { [PERP]: ticker(PERP, 50_030, clock.now(), 50_025) });
    await settle();
    const snap = await source.take();
    expect(snap.accounts[0]!.positions).toEqual([{ symbol: PERP, contracts: -0.2, contractSize: 1, entryPrice: 50_000, leverage: 2, marginMode: 'isolated', isolatedMargin: 5_000 }]);
    expect(snap.marks[PERP]).toBe(50_025);
    expect(snap.timestamps).toMatchObject({ [PERP]: T + 1_000, 'positions:main': T + 1_000, [`funding:${PERP}`]: T - 500 });
    expect(rest.calls.fetchFundingRate).toBe(1);
    expect(rest.calls.fetchPositions).toBe(1); // only the first take, before the stream spoke
  });

  it('retries a failing stream and serves REST meanwhile', async () => {
    const watcher = new FakeWatcher(['tickers']);
    const { source, clock } = setup({ watcher });
    watcher.fail('tickers', new NetworkError('socket closed'));
    await source.take();
    await settle();
    expect(watcher.calls.tickers).toBeGreaterThanOrEqual(2); // failed, slept, watching again
    expect(source.status().accounts[0]!.errors.map((e) => e.what)).toContain('stream:tickers');
    watcher.push('tickers', { 'BTC/USDT': ticker('BTC/USDT', 49_000, clock.now()) });
    await settle();
    expect(source.status().accounts[0]!.errors.map((e) => e.what)).not.toContain('stream:tickers');
    expect((await source.take()).prices.BTC).toBe(49_000);
  });

  it('throws a typed error when an input the valuation needs was never obtained', async () => {
    const { source, rest } = setup();
    rest.down = true;
    await expect(source.take()).rejects.toBeInstanceOf(NetworkError);
    rest.down = false;
    await expect(source.take()).resolves.toMatchObject({ prices: { BTC: 50_000 } });

    const { source: s2, rest: r2 } = setup();
    delete r2.tickers['BTC/USDT']; // the venue never prices a held asset
    const err = await s2.take().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExchangeError);
    expect((err as Error).message).toContain('price of BTC (held)');
  });

  it('picks the newest price over several accounts; close() ends the streams', async () => {
    const clock = new ManualClock(T);
    const a = new FakeRest(clock, [spotMarket('BTC/USDT')], { USDT: 5_000 }, 'a');
    const b = new FakeRest(clock, [spotMarket('BTC/USDT')], { BTC: 0.1 }, 'b');
    a.tickers['BTC/USDT'] = ticker('BTC/USDT', 50_000, T - 5_000);
    b.tickers['BTC/USDT'] = ticker('BTC/USDT', 50_100, T - 2_000);
    const wb = new FakeWatcher(['balance']);
    const source = new LiveSnapshotSource({
      portfolio: P,
      accounts: [
        { name: 'a', exchange: a },
        { name: 'b', exchange: b, watcher: wb },
      ],
      clock,
      restFallbackMs: 10_000,
    });
    const snap = await source.take();
    expect(snap.prices.BTC).toBe(50_100);
    expect(snap.accounts.map((x) => x.name)).toEqual(['a', 'b']);
    expect(Object.keys(snap.timestamps!).sort()).toEqual(['BTC', 'balances:a', 'balances:b']);
    await source.close();
    expect(wb.closed).toBe(true);
    await expect(source.take()).rejects.toThrow(/closed/);
  });
});
