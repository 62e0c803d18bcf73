/**
 * SimExchange behaviour beyond the port contract, with hand-computed numbers: fees and slippage,
 * partial fills by volume, next-open market orders, marketable and post-only limits, margin checks,
 * reduce-only expiry, funding from a series, liquidation as a fill, and snapshot/restore.
 */
import { describe, expect, it } from 'vitest';
import { SimExchange } from '../../src/adapters/sim/exchange.js';
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import { ManualClock } from '../../src/ports/clock.js';
import { BadRequest, BadSymbol, InsufficientFunds, InvalidOrder } from '../../src/ports/errors.js';
import { PERP, SPOT, T0, baseConfig, perpMarket, rig } from './helpers.js';

const HOUR = 3_600_000;

describe('spot fills with fees and slippage', () => {
  it('fills a market order at close ± (half-spread + impact × qty / volume) and charges the taker fee', async () => {
    const r = rig(baseConfig({ fill: { halfSpread: 0.001, impact: 0.1 }, fees: { spot: { maker: 0.0005, taker: 0.001 } } }));
    r.bar(SPOT, { close: 100, volume: 1_000 });
    // Buy 10: slippage = 0.001 + 0.1 × 10 / 1,000 = 0.002 → price 100 × 1.002 = 100.2.
    // Cost 10 × 100.2 = 1,002; fee 0.1 % = 1.002 → USDT 100,000 − 1,003.002 = 98,996.998.
    const buy = await r.sim.createOrder({ symbol: SPOT, type: 'market', side: 'buy', amount: 10, clientOrderId: 'b1' });
    expect(buy.status).toBe('closed');
    expect(buy.average).toBeCloseTo(100.2, 12);
    expect(buy.fee.cost).toBeCloseTo(1.002, 12);
    let bal = await r.sim.fetchBalance();
    expect(bal.total.USDT).toBeCloseTo(98_996.998, 9);
    expect(bal.total.BTC).toBeCloseTo(20, 12);
    // Sell 5: slippage = 0.001 + 0.1 × 5 / 1,000 = 0.0015 → 99.85; proceeds 499.25, fee 0.49925
    // → USDT 98,996.998 + 499.25 − 0.49925 = 99,495.74875.
    const sell = await r.sim.createOrder({ symbol: SPOT, type: 'market', side: 'sell', amount: 5, clientOrderId: 's1' });
    expect(sell.average).toBeCloseTo(99.85, 12);
    bal = await r.sim.fetchBalance();
    expect(bal.total.USDT).toBeCloseTo(99_495.74875, 8);
    const trades = await r.sim.fetchMyTrades(SPOT);
    expect(trades.map((t) => [t.side, t.takerOrMaker, t.clientOrderId])).toEqual([
      ['buy', 'taker', 'b1'],
      ['sell', 'taker', 's1'],
    ]);
  });

  it('fills a resting limit at its own price with the maker fee, even on a gap', async () => {
    const r = rig(baseConfig({ fees: { spot: { maker: 0.0005, taker: 0.001 } } }));
    r.bar(SPOT, { close: 100 });
    await r.sim.createOrder({ symbol: SPOT, type: 'limit', side: 'buy', amount: 2, price: 95, clientOrderId: 'l1' });
    r.advance(60_000);
    r.bar(SPOT, { open: 90, high: 91, low: 89, close: 90 }); // gap below the limit
    const o = await r.sim.fetchOrder({ clientOrderId: 'l1' });
    // Filled at 95 (the resting price), fee 2 × 95 × 0.05 % = 0.095.
    expect(o).toMatchObject({ status: 'closed', average: 95, filled: 2 });
    expect(o.fee.cost).toBeCloseTo(0.095, 12);
    const [t] = await r.sim.fetchMyTrades();
    expect(t).toMatchObject({ takerOrMaker: 'maker', price: 95, timestamp: T0 + 60_000 });
  });

  it('fills at most maxVolumeFraction of each bar; the remainder waits for later bars', async () => {
    const r = rig(baseConfig({ fill: { maxVolumeFraction: 0.1 } }));
    r.bar(SPOT, { close: 100 });
    await r.sim.createOrder({ symbol: SPOT, type: 'limit', side: 'buy', amount: 10, price: 99, clientOrderId: 'p' });
    const filled: number[] = [];
    for (const volume of [50, 30, 1_000]) {
      r.bar(SPOT, { open: 100, low: 98, close: 100, volume });
      filled.push((await r.sim.fetchOrder({ clientOrderId: 'p' })).filled);
    }
    // 10 % of 50 = 5; then 10 % of 30 = 3 (total 8); then the last 2.
    expect(filled).toEqual([5, 8, 10]);
    expect((await r.sim.fetchOrder({ clientOrderId: 'p' })).status).toBe('closed');
    expect((await r.sim.fetchMyTrades()).map((t) => t.amount)).toEqual([5, 3, 2]);
  });

  it("fills market orders at the next bar's open in 'next-open' mode", async () => {
    const r = rig(baseConfig({ fill: { marketPrice: 'next-open', impact: 0.1 } }));
    r.bar(SPOT, { close: 100 });
    const o = await r.sim.createOrder({ symbol: SPOT, type: 'market', side: 'buy', amount: 10, clientOrderId: 'n' });
    expect(o).toMatchObject({ status: 'open', filled: 0 });
    // Reserved meanwhile: 10 × (100 × (1 + 0.1 × 10 / 1e9)) × 1.001 ≈ 1,001.
    expect((await r.sim.fetchBalance()).used.USDT).toBeCloseTo(1_001, 3);
    r.advance(60_000);
    // Next bar opens at 101 with volume 2,000: slippage 0.1 × 10 / 2,000 = 0.0005 → 101.0505.
    r.bar(SPOT, { open: 101, high: 103, low: 100, close: 102, volume: 2_000 });
    const done = await r.sim.fetchOrder({ id: o.id });
    expect(done.status).toBe('closed');
    expect(done.average).toBeCloseTo(101.0505, 12);
  });

  it('takes liquidity with a marketable limit, and refuses it with post-only', async () => {
    const r = rig();
    r.bar(SPOT, { close: 100 });
    const err = await r.sim
      .createOrder({ symbol: SPOT, type: 'limit', side: 'buy', amount: 1, price: 101, clientOrderId: 'po', postOnly: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidOrder);
    expect((err as InvalidOrder).reason).toBe('post-only');
    const o = await r.sim.createOrder({ symbol: SPOT, type: 'limit', side: 'buy', amount: 1, price: 101, clientOrderId: 'mk' });
    // Marketable: fills now at the market price 100 (no spread, no impact), taker.
    expect(o).toMatchObject({ status: 'closed', average: 100 });
    expect((await r.sim.fetchMyTrades())[0]!.takerOrMaker).toBe('taker');
  });

  it('names the violated rule on InvalidOrder and never rounds silently', async () => {
    const r = rig();
    r.bar(SPOT, { close: 100 });
    const reason = (p: Promise<unknown>) => p.then(() => 'accepted', (e: InvalidOrder) => e.reason);
    const req = { symbol: SPOT, type: 'limit' as const, side: 'buy' as const, clientOrderId: 'x' };
    expect(await reason(r.sim.createOrder({ ...req, amount: 0.0015, price: 90 }))).toBe('amount-step');
    expect(await reason(r.sim.createOrder({ ...req, amount: 0.3, price: 90.005 }))).toBe('price-step');
    expect(await reason(r.sim.createOrder({ ...req, amount: 0.001, price: 90 }))).toBe('min-notional'); // 0.09 < 5
    // 0.3 is a multiple of 0.001 although 0.3 / 0.001 = 299.99999999999997 in floats.
    expect(await reason(r.sim.createOrder({ ...req, amount: 0.3, price: 90.1 }))).toBe('accepted');
    expect(await r.sim.createOrder({ ...req, symbol: 'ETH/USDT', amount: 1, price: 1 }).catch((e: unknown) => e)).toBeInstanceOf(BadSymbol);
  });
});

describe('perpetuals through the port', () => {
  it('checks initial margin = notional / leverage (+ taker fee) against free quote', async () => {
    const r = rig(baseConfig({ balances: { USDT: 1_000 }, leverage: 2 }));
    r.bar(PERP, { close: 100 });
    // 25 × 100 / 2 = 1,250 > 1,000.
    const e = await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 25, clientOrderId: 'big' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InsufficientFunds);
    // 19 × 100 / 2 = 950 plus fee 19 × 100 × 0.05 % = 0.95 ≤ 1,000.
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 19, clientOrderId: 'ok' });
    const [pos] = await r.sim.fetchPositions();
    expect(pos).toMatchObject({ contracts: 19, entryPrice: 100, leverage: 2, marginMode: 'cross', initialMargin: 950, notional: 1_900 });
    // Wallet 1,000 − 0.95 = 999.05; used = initial margin 950; free 49.05.
    const bal = await r.sim.fetchBalance();
    expect(bal.total.USDT).toBeCloseTo(999.05, 9);
    expect(bal.used.USDT).toBeCloseTo(950, 9);
    expect(bal.free.USDT).toBeCloseTo(49.05, 9);
  });

  it('a reduce-only close is accepted with no free quote left (the margin it frees pays its fee)', async () => {
    const r = rig(baseConfig({ balances: { USDT: 1_000 }, leverage: 2 }));
    r.bar(PERP, { close: 100 });
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 19, clientOrderId: 'short' });
    // The price rises 5 %: unrealised loss 19 × 5 = 95 > the 49.05 left free, so nothing is free.
    r.advance(60_000);
    r.bar(PERP, { close: 105 });
    expect((await r.sim.fetchBalance()).free.USDT).toBe(0);
    // Opening more is refused; closing is not.
    const e = await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 1, clientOrderId: 'more' }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InsufficientFunds);
    const close = await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 19, clientOrderId: 'close', reduceOnly: true });
    expect(close).toMatchObject({ status: 'closed', filled: 19 });
    expect(await r.sim.fetchPositions()).toEqual([]);
    // Wallet 1,000 − 0.95 (open fee) − 95 (loss) − 19 × 105 × 0.05 % = 0.9975 (close fee) = 903.0525.
    expect((await r.sim.fetchBalance()).total.USDT).toBeCloseTo(903.0525, 9);
  });

  it('keeps a position on the lot grid: 0.1 + 0.2 contracts is a position of 0.3, closable by a 0.3 order', async () => {
    const r = rig();
    r.bar(PERP, { close: 100 });
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 0.1, clientOrderId: 'a' });
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 0.2, clientOrderId: 'b' });
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 0.1, clientOrderId: 'c' });
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 0.1, clientOrderId: 'd' });
    const [pos] = await r.sim.fetchPositions();
    // In floats 0.1 + 0.2 = 0.30000000000000004: a close of the reported size would not be a lot multiple.
    expect(pos!.contracts).toBe(0.3);
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: pos!.contracts, clientOrderId: 'close', reduceOnly: true });
    expect(await r.sim.fetchPositions()).toEqual([]);
  });

  it('expires a reduce-only order when the position it reduces is gone', async () => {
    const r = rig();
    r.bar(PERP, { close: 100 });
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 2, clientOrderId: 'open' });
    await r.sim.createOrder({ symbol: PERP, type: 'limit', side: 'sell', amount: 2, price: 110, clientOrderId: 'tp', reduceOnly: true });
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 1.5, clientOrderId: 'cut' });
    r.bar(PERP, { open: 100, high: 111, close: 105 });
    // Only 0.5 was left to reduce: the take-profit fills 0.5 and the rest is canceled.
    const tp = await r.sim.fetchOrder({ clientOrderId: 'tp' });
    expect(tp).toMatchObject({ status: 'canceled', filled: 0.5, remaining: 1.5 });
    expect(await r.sim.fetchPositions()).toEqual([]);
  });

  it('settles funding from the series on the mark: long pays a positive rate', async () => {
    const feed = new ArrayFeed({
      funding: { [PERP]: [{ time: T0 + 8 * HOUR, rate: 0.0001 }, { time: T0 + 16 * HOUR, rate: -0.0003 }] },
      marks: { [PERP]: [{ time: T0 + 8 * HOUR, price: 101 }, { time: T0 + 16 * HOUR, price: 99 }] },
    });
    const r = rig(baseConfig(), feed);
    r.bar(PERP, { close: 100 });
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 2, clientOrderId: 'long' });
    const fr = await r.sim.fetchFundingRate(PERP);
    expect(fr).toMatchObject({ fundingRate: 0.0001, fundingTimestamp: T0 + 8 * HOUR, intervalMs: 8 * HOUR, markPrice: 100 });
    const before = (await r.sim.fetchBalance()).total.USDT!;
    r.advance(16 * HOUR);
    // 08:00: 2 × 101 × 0.0001 = 0.0202 paid. 16:00: 2 × 99 × −0.0003 = −0.0594 → 0.0594 received.
    const hist = await r.sim.fetchFundingHistory(PERP);
    expect(hist.map((h) => h.timestamp)).toEqual([T0 + 8 * HOUR, T0 + 16 * HOUR]);
    expect(hist[0]!.amount).toBeCloseTo(-0.0202, 15);
    expect(hist[1]!.amount).toBeCloseTo(0.0594, 15);
    expect((await r.sim.fetchBalance()).total.USDT! - before).toBeCloseTo(0.0392, 9); // float noise of a 100k wallet
    const t = r.sim.ledger.totals();
    expect(t.fundingPaid).toBeCloseTo(0.0202, 15);
    expect(t.fundingReceived).toBeCloseTo(0.0594, 15);
  });

  it('liquidates an isolated long as a fill with clientOrderId null', async () => {
    const r = rig(baseConfig({ balances: { USDT: 1_000 }, fees: { swap: { maker: 0, taker: 0 } } }));
    await r.sim.setMarginMode('isolated', PERP);
    await r.sim.setLeverage(10, PERP);
    r.bar(PERP, { close: 100 });
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 1, clientOrderId: 'lev' });
    const [pos] = await r.sim.fetchPositions();
    // Margin 10, mmr 1 %: liquidation at 90 / 0.99 = 90.909…
    expect(pos!.liquidationPrice).toBeCloseTo(90 / 0.99, 9);
    expect(pos!.collateral).toBeCloseTo(10, 12);
    r.advance(HOUR);
    r.bar(PERP, { open: 100, close: 90.91 });
    expect(await r.sim.fetchPositions()).toHaveLength(1);
    r.advance(HOUR);
    r.bar(PERP, { open: 90.91, close: 90.9 });
    expect(await r.sim.fetchPositions()).toEqual([]);
    const liq = (await r.sim.fetchMyTrades()).filter((t) => t.liquidation);
    // Sold 1 at 90.9; fee 0.5 % × 90.9 = 0.4545; wallet 990 + 10 − 9.1 − 0.4545 = 990.4455.
    expect(liq).toEqual([expect.objectContaining({ clientOrderId: null, side: 'sell', amount: 1, price: 90.9, timestamp: T0 + 2 * HOUR })]);
    expect(liq[0]!.fee.cost).toBeCloseTo(0.4545, 12);
    expect((await r.sim.fetchBalance()).total.USDT).toBeCloseTo(990.4455, 9);
    const closed = await r.sim.fetchClosedOrders(PERP);
    expect(closed.find((o) => o.id === liq[0]!.order)).toMatchObject({ clientOrderId: null, status: 'closed', reduceOnly: true });
  });

  it('refuses to switch margin mode with a position open', async () => {
    const r = rig();
    r.bar(PERP, { close: 100 });
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 1, clientOrderId: 's' });
    expect(await r.sim.setMarginMode('isolated', PERP).catch((e: unknown) => e)).toBeInstanceOf(BadRequest);
    expect(await r.sim.setLeverage(500, PERP).catch((e: unknown) => e)).toBeInstanceOf(BadRequest);
  });
});

describe('snapshot and restore', () => {
  it('continues identically after toJSON → JSON text → fromJSON', async () => {
    const bars = Array.from({ length: 40 }, (_, i) => {
      const c = 100 + 10 * Math.sin(i / 3);
      return { time: T0 + i * HOUR, open: c - 0.5, high: c + 2, low: c - 2, close: c, volume: 50 };
    });
    const data = {
      bars: { [SPOT]: bars, [PERP]: bars },
      funding: { [PERP]: [8, 16, 24, 32].map((h) => ({ time: T0 + h * HOUR, rate: 0.0001 * (h % 16 === 0 ? -1 : 1) })) },
    };
    const config = baseConfig({ fill: { maxVolumeFraction: 0.05 }, faults: { seed: 7, probability: { reject: 0.1 } } });
    const clockA = new ManualClock(T0);
    const a = new SimExchange(config, { feed: new ArrayFeed(data), clock: clockA });
    const script = async (sim: SimExchange, clock: ManualClock, from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i++) {
        clock.set(T0 + i * HOUR);
        const side = i % 2 === 0 ? 'buy' : 'sell';
        for (const [symbol, amount] of [[SPOT, 3], [PERP, 4]] as const) {
          await sim
            .createOrder({ symbol, type: 'limit', side, amount, price: side === 'buy' ? 99 : 101, clientOrderId: `${symbol}-${i}` })
            .catch(() => undefined);
        }
        if (i % 5 === 0) await sim.cancelOrder({ clientOrderId: `${SPOT}-${i - 1}` }).catch(() => undefined);
      }
    };
    await script(a, clockA, 0, 20);
    const text = JSON.stringify(a.toJSON());
    const snap = JSON.parse(text) as ReturnType<SimExchange['toJSON']>;
    const feedB = new ArrayFeed(data);
    feedB.advance(snap.time!);
    const clockB = new ManualClock(clockA.now());
    const b = SimExchange.fromJSON(snap, { feed: feedB, clock: clockB });
    expect(JSON.stringify(b.toJSON())).toBe(text);
    await script(a, clockA, 20, 40);
    await script(b, clockB, 20, 40);
    expect(b.toJSON()).toEqual(a.toJSON());
    expect((await a.fetchMyTrades()).length).toBeGreaterThan(10);
  });
});

describe('snapshot edge cases', () => {
  it('keeps open-ended tiers and an uncapped volume fraction through JSON (no Infinity → null → 0)', async () => {
    const config = baseConfig({
      fill: { maxVolumeFraction: Infinity },
      markets: [
        {
          ...perpMarket,
          tiers: [
            { maxNotional: 1_000, maintenanceMarginRate: 0.01, maintenanceAmount: 0 },
            { maxNotional: Infinity, maintenanceMarginRate: 0.05, maintenanceAmount: 40 },
          ],
        },
      ],
    });
    const r = rig(config);
    r.bar(PERP, { close: 100 });
    await r.sim.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 20, clientOrderId: 'x' });
    const snap = JSON.parse(JSON.stringify(r.sim.toJSON())) as ReturnType<SimExchange['toJSON']>;
    const feed = new ArrayFeed();
    feed.advance(snap.time!);
    const b = SimExchange.fromJSON(snap, { feed, clock: new ManualClock(r.clock.now()) });
    // Notional 2,000 is in the open-ended tier: 2,000 × 5 % − 40 = 60.
    expect((await b.fetchPositions())[0]!.maintenanceMargin).toBeCloseTo(60, 9);
    await b.createOrder({ symbol: PERP, type: 'limit', side: 'buy', amount: 5, price: 99, clientOrderId: 'y' });
    feed.pushBar(PERP, { time: r.clock.now(), open: 100, high: 100, low: 98, close: 99, volume: 0.001 });
    b.sync();
    // Uncapped: fills in full although the bar traded almost nothing.
    expect((await b.fetchOrder({ clientOrderId: 'y' })).filled).toBe(5);
  });
});

describe('market data', () => {
  it('reports the bar time as the ticker timestamp and the spread around the close', async () => {
    const r = rig(baseConfig({ fill: { halfSpread: 0.0005 } }));
    r.bar(SPOT, { close: 200 });
    r.advance(5_000);
    const t = await r.sim.fetchTicker(SPOT);
    expect(t).toEqual({ symbol: SPOT, timestamp: T0, bid: 199.9, ask: 200.1, last: 200, markPrice: null });
    expect(Object.keys(await r.sim.fetchTickers())).toEqual([SPOT]);
  });

  it('hides bars until they close when stamped with their open time', () => {
    const feed = new ArrayFeed({ bars: { X: [{ time: 0, open: 1, high: 2, low: 1, close: 2, volume: 1 }] } }, { barVisibleAfterMs: HOUR });
    feed.advance(HOUR - 1);
    expect(feed.bar('X')).toBeUndefined();
    feed.advance(HOUR);
    expect(feed.bar('X')?.close).toBe(2);
    expect(() => feed.pushBar('X', { time: -10 * HOUR, open: 1, high: 1, low: 1, close: 1, volume: 0 })).toThrow(RangeError);
    expect(perpMarket.contractSize).toBe(1);
  });
});
