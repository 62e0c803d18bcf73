/**
 * The live feed over ballast's real ccxt client on recorded venue replies (REST through ccxt's
 * `fetchImplementation`), with stream events parsed by ccxt.pro's own handlers.
 *
 * Issue 15, item 1: a Binance balance stream event (a delta, spot wallet only) must never replace the
 * account's balance; it prompts a REST re-read of every wallet.
 * Item 11: a perp whose ticker stream carries no mark price (OKX) gets its mark over REST.
 */
import ccxt from 'ccxt';
import { afterEach, describe, expect, it } from 'vitest';
import { LiveSnapshotSource } from '../../src/adapters/feed/live.js';
import type { Portfolio } from '../../src/core/types.js';
import type { Balances } from '../../src/ports/exchange.js';
import { balanceFromCcxt, type CcxtBalanceLike } from '../../src/adapters/feed/ccxt-watcher.js';
import { cls, portfolio } from '../core/builders.js';
import { rec, venueRig } from '../ccxt/venue-replay.js';
import { T0 } from '../ccxt/helpers.js';
import { FakeWatcher, settle, ticker } from './fakes.js';

const sources: LiveSnapshotSource[] = [];
afterEach(async () => {
  await Promise.all(sources.splice(0).map((s) => s.close()));
});

/** What ccxt.pro binance's watchBalance resolves with for one user-data message (no REST snapshot). */
function proBalance(message: Record<string, unknown>): CcxtBalanceLike {
  const pro = new ccxt.pro.binance();
  let got: unknown;
  const client = { subscriptions: { spot: true }, resolve: (v: unknown) => (got = v) };
  (pro as unknown as { handleBalance(c: unknown, m: unknown): void }).handleBalance(client, message);
  return got as CcxtBalanceLike;
}

describe('Binance balance stream (item 1)', () => {
  // Binance's documented `balanceUpdate` event (spot user data stream): a deposit of 100 BTC.
  const deposit = { e: 'balanceUpdate', E: 1573200697110, a: 'BTC', d: '100.00000000', T: 1573200697068 };

  it('ccxt.pro reads the delta as the whole balance: 100 BTC and nothing else (the defect the feed must not pass on)', () => {
    const b = balanceFromCcxt(proBalance(deposit));
    expect(b.total).toEqual({});
    expect(b.free).toEqual({ BTC: 100 });
  });

  it('the feed values REST balances of every wallet; the stream event only prompts a re-read', async () => {
    const P: Portfolio = portfolio([cls('BTC', 0.5, 0.05, ['BTC']), cls('Stablecoins', 0.5, 0.05, ['USDT'], { cash: true })], { risk: { maxDataAgeMs: 60_000 } });
    const r = venueRig('binance', {
      'GET /api/v3/account': rec('binance', 'account-spot'),
      'GET /fapi/v3/account': rec('binance', 'account-futures'),
      'GET /api/v3/ticker/24hr': rec('binance', 'ticker-24hr-BTCUSDT'),
      'GET /api/v3/time': { body: { serverTime: T0 + 250 } },
    }, { symbols: ['BTC/USDT'] });
    const watcher = new FakeWatcher(['balance']);
    const source = new LiveSnapshotSource({ portfolio: P, accounts: [{ name: 'main', exchange: r.ex, watcher }], clock: r.clock, restFallbackMs: 10_000, sleep: async () => {} });
    sources.push(source);
    const first = await source.take();
    // spot BTC 0 (left out), the 31.02 USDT of the futures wallet
    expect(first.accounts[0]!.balances).toEqual({ USDT: 31.022612 });
    expect(r.replay.calls('/api/v3/account')).toHaveLength(1);
    await settle();

    r.clock.advance(1_000);
    const parsed = proBalance(deposit);
    watcher.push('balance', { ...balanceFromCcxt(parsed), total: { BTC: 100 } } satisfies Balances);
    await settle();
    const after = await source.take();
    // REST says what the account holds; the futures wallet is still there.
    expect(after.accounts[0]!.balances).toEqual({ USDT: 31.022612 });
    expect(r.replay.calls('/api/v3/account')).toHaveLength(2);
    expect(r.replay.calls('/fapi/v3/account')).toHaveLength(2);
    expect(after.timestamps!['balances:main']).toBe(T0 + 1_000);
    expect(source.status().accounts[0]!.inputs).toEqual(expect.arrayContaining([{ key: 'balances:main', time: T0 + 1_000, via: 'rest' }]));
    // the venue clock offset the adapter measured is in the feed status (→ /api/status feed.venues[].clockSkewMs)
    expect(source.status().accounts[0]!.clockSkewMs).toBeNull();
    await r.ex.syncClock();
    expect(source.status().accounts[0]!.clockSkewMs).toBe(1_000 - 250);
  });
});

describe('OKX perp mark while the ticker stream is live (item 11)', () => {
  it('a streamed perp ticker without a mark: the mark comes from REST (mark-price endpoint)', async () => {
    const PERP = 'BTC/USDT:USDT';
    const P: Portfolio = portfolio([cls('BTC', 0.5, 0.05, ['BTC'], { hedge: PERP }), cls('Stablecoins', 0.5, 0.05, ['USDT'], { cash: true })], { risk: { maxDataAgeMs: 60_000 } });
    const okxTicker = { code: '0', msg: '', data: [{ instType: 'SWAP', instId: 'BTC-USDT-SWAP', last: '67040.1', lastSz: '1', askPx: '67040.2', askSz: '10', bidPx: '67040.1', bidSz: '10', open24h: '66000', high24h: '68000', low24h: '65000', volCcy24h: '1', vol24h: '1', ts: String(T0 - 1_000), sodUtc0: '1', sodUtc8: '1' }] };
    const r = venueRig('okx', {
      'GET /api/v5/account/balance': { body: { code: '0', msg: '', data: [{ details: [{ ccy: 'USDT', cashBal: '1000', availBal: '1000' }] }] } },
      'GET /api/v5/account/positions': { body: { code: '0', msg: '', data: [] } },
      'GET /api/v5/market/ticker': (q) => ({ body: { ...okxTicker, data: [{ ...okxTicker.data[0], instId: q.query['instId'] ?? 'BTC-USDT-SWAP', instType: q.query['instId']?.endsWith('SWAP') ? 'SWAP' : 'SPOT' }] } }),
      'GET /api/v5/public/mark-price': rec('okx', 'mark-price'),
      'GET /api/v5/public/funding-rate': { body: { code: '0', msg: '', data: [{ instId: 'BTC-USDT-SWAP', instType: 'SWAP', fundingRate: '0.0001', fundingTime: String(T0 + 3_600_000), nextFundingTime: String(T0 + 7_200_000), ts: String(T0) }] } },
      'GET /api/v5/public/position-tiers': rec('okx', 'position-tiers'),
    }, { symbols: ['BTC/USDT', PERP] });
    const watcher = new FakeWatcher(['tickers']);
    const source = new LiveSnapshotSource({ portfolio: P, accounts: [{ name: 'okx', exchange: r.ex, watcher }], clock: r.clock, restFallbackMs: 10_000, sleep: async () => {} });
    sources.push(source);
    await source.take();
    await settle();
    r.clock.advance(11_000); // the REST mark is now older than the fallback
    // the ticker stream speaks for both markets, without a mark (OKX's tickers channel has none)
    watcher.push('tickers', { 'BTC/USDT': ticker('BTC/USDT', 67_000, r.clock.now()), [PERP]: ticker(PERP, 67_010, r.clock.now()) });
    await settle();
    const calls = r.replay.calls('/public/mark-price').length;
    const snap = await source.take();
    expect(r.replay.calls('/public/mark-price').length).toBe(calls + 1);
    expect(snap.marks[PERP]).toBe(2403.98); // the recorded mark-price reply
  });
});
