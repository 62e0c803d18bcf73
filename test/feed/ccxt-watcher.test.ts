/** The ccxt.pro Watcher: shapes mapped to the port (signed contracts, NaN for missing times), capabilities honoured. No network. */
import ccxt from 'ccxt';
import { describe, expect, it } from 'vitest';
import { CcxtProWatcher, positionFromCcxt, tickerFromCcxt, type CcxtProLike } from '../../src/adapters/feed/ccxt-watcher.js';

function fakePro(has: Record<string, boolean>): CcxtProLike & { closed: boolean } {
  return {
    id: 'fakepro',
    has,
    options: {},
    closed: false,
    async watchTickers(symbols?: string[]) {
      return Object.fromEntries((symbols ?? []).map((s) => [s, { symbol: s, timestamp: 1_000, bid: 9, ask: 11, last: 10, info: {} }]));
    },
    async watchTicker(symbol: string) {
      return { symbol, timestamp: undefined, close: 7, markPrice: 7.1 };
    },
    async watchBalance() {
      return { timestamp: 2_000, free: { USDT: 5, BTC: undefined }, used: { USDT: 1 }, total: { USDT: 6 } };
    },
    async watchPositions() {
      return [
        { symbol: 'BTC/USDT:USDT', side: 'short', contracts: 0.5, contractSize: 1, entryPrice: 100, markPrice: 110, notional: 55, leverage: 5, marginMode: 'cross', timestamp: 3_000 },
        { symbol: 'ETH/USDT:USDT', side: 'long', contracts: 0, contractSize: 1 },
      ];
    },
    async close() {
      this.closed = true;
    },
  };
}

describe('CcxtProWatcher', () => {
  it('maps tickers, balances and positions to the port shapes', async () => {
    const ex = fakePro({ watchTickers: true, watchBalance: true, watchPositions: true });
    const w = new CcxtProWatcher(ex);
    expect(ex.options.newUpdates).toBe(false);
    expect(await w.watchTickers!(['BTC/USDT'])).toEqual({ 'BTC/USDT': { symbol: 'BTC/USDT', timestamp: 1_000, bid: 9, ask: 11, last: 10, markPrice: null } });
    expect(await w.watchBalance!()).toEqual({ timestamp: 2_000, free: { USDT: 5 }, used: { USDT: 1 }, total: { USDT: 6 } });
    const [p, ...rest] = await w.watchPositions!();
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ symbol: 'BTC/USDT:USDT', side: 'short', contracts: -0.5, notional: -55, marginMode: 'cross', collateral: null, liquidationPrice: null });
    await w.close();
    expect(ex.closed).toBe(true);
  });

  it('falls back to one watchTicker per symbol and leaves out streams the venue lacks', async () => {
    const w = new CcxtProWatcher(fakePro({ watchTicker: true }));
    expect(w.watchBalance).toBeUndefined();
    expect(w.watchPositions).toBeUndefined();
    const got = await w.watchTickers!(['SOL/USDT', 'ADA/USDT']);
    const t = Object.values(got)[0]!;
    expect(t).toMatchObject({ last: 7, bid: NaN, ask: NaN, markPrice: 7.1 });
    expect(Number.isNaN(t.timestamp)).toBe(true);
  });

  it('accepts a real ccxt.pro instance (built offline, never connected)', async () => {
    const pro = new ccxt.pro.binance({ enableRateLimit: true });
    const w = new CcxtProWatcher(pro); // a real instance fits CcxtProLike without a cast
    expect(typeof w.watchTickers).toBe('function');
    expect(typeof w.watchBalance).toBe('function');
    expect(typeof w.watchPositions).toBe('function');
    expect(pro.options.newUpdates).toBe(false);
    await w.close();
    expect(tickerFromCcxt({ symbol: 'X/USDT', last: 1 }).markPrice).toBeNull();
    expect(positionFromCcxt({ symbol: 'X/USDT:USDT', contracts: 0 })).toBeNull();
  });
});
