/** Backtests small enough to check by hand: every expected number is computed here from first principles. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, runPolicy } from '../../src/backtest/engine.js';
import { standardPolicies } from '../../src/backtest/policies.js';
import { explicitHistory } from '../../src/backtest/synthetic.js';
import { floorToStep } from '../../src/core/rounding.js';
import { cls, portfolio } from '../core/builders.js';

const DAY = 86_400_000;
const days = (n: number) => Array.from({ length: n }, (_, i) => Date.UTC(2024, 0, 1) + i * DAY);

describe('spot-only threshold backtest, zero slippage, fills at the close', () => {
  const p = portfolio([cls('A', 0.5, 0.05, ['AAA']), cls('Cash', 0.5, 0.05, ['USDT'], { cash: true })], { execution: { fees: { spotTaker: 0.001, spotMaker: 0.001, futuresTaker: 0.0005, futuresMaker: 0.0005 } } });
  const closes = [10, 12, 13, 13, 9];
  const h = explicitHistory({ times: days(5), assets: [{ name: 'AAA', close: closes }], stable: ['USDT'] });
  const spec = standardPolicies(p).find((s) => s.name === 'threshold')!;
  const run = runPolicy(p, spec, h, { ...DEFAULT_OPTIONS, capital: 1000, slippage: 0 });

  it('reproduces every bar by hand', () => {
    const fee = 0.001;
    // Bar 0: invest 50% of 1,000 including the fee: 1,000 × 0.5 / 1.001 = 499.5005 of AAA at 10.
    let q = (1000 * 0.5) / (1 + fee) / 10;
    let cash = 1000 - q * 10 * (1 + fee); // = 500
    const equity = (px: number) => q * px + cash;
    expect(cash).toBeCloseTo(500, 9);
    expect(run.series.equity[0]).toBeCloseTo(equity(10), 9);
    // Bar 1 at 12: A = 599.40 of 1,099.40 = 54.52%, inside 45–55%: nothing.
    expect(q * 12 / equity(12)).toBeLessThan(0.55);
    expect(run.series.equity[1]).toBeCloseTo(equity(12), 9);
    // Bar 2 at 13: A = 649.35 of 1,149.35 = 56.50% > 55%: sell (0.5 × E − A) / 13, floored to 1e-8.
    expect(q * 13 / equity(13)).toBeGreaterThan(0.55);
    const sell = floorToStep((q * 13 - 0.5 * equity(13)) / 13, 1e-8);
    q -= sell;
    cash += sell * 13 * (1 - fee);
    expect(run.series.equity[2]).toBeCloseTo(equity(13), 9);
    // Bar 3 at 13: back at 50.00%: nothing.
    expect(run.series.equity[3]).toBeCloseTo(equity(13), 9);
    // Bar 4 at 9: A = 397.85 of 972.45 = 40.91% < 45%: buy (0.5 × E − A) / 9, floored to 1e-8.
    expect(q * 9 / equity(9)).toBeLessThan(0.45);
    const buy = floorToStep((0.5 * equity(9) - q * 9) / 9, 1e-8);
    q += buy;
    cash -= buy * 9 * (1 + fee);
    expect(run.series.equity[4]).toBeCloseTo(equity(9), 9);
    expect(run.series.weights[0]![4]).toBeCloseTo((q * 9) / equity(9), 12);
    // Counters: two rebalances, three orders (with the initial buy), fees = 0.1% of everything traded.
    expect(run.counters.rebalances).toBe(2);
    expect(run.series.rebalanceBars).toEqual([2, 4]);
    expect(run.counters.orders).toBe(3);
    const traded = 499.5004995004995 + sell * 13 + buy * 9;
    expect(run.counters.turnover).toBeCloseTo(traded, 9);
    expect(run.counters.fees).toBeCloseTo(traded * fee, 9);
    expect(run.counters.slippage).toBe(0);
  });

  it('buy-and-hold never trades after the start', () => {
    const hold = runPolicy(p, standardPolicies(p).find((s) => s.name === 'buy-and-hold')!, h, { ...DEFAULT_OPTIONS, capital: 1000, slippage: 0 });
    const q = (1000 * 0.5) / 1.001 / 10;
    expect(hold.counters.rebalances).toBe(0);
    expect(hold.series.equity[4]).toBeCloseTo(q * 9 + 500, 9);
  });

  it('slippage moves fill prices against the order: the initial buy at 10 with 5 bps fills at 10.005', () => {
    const slipped = runPolicy(p, standardPolicies(p).find((s) => s.name === 'buy-and-hold')!, h, { ...DEFAULT_OPTIONS, capital: 1000, slippage: 0.0005 });
    const q = (1000 * 0.5) / 1.001 / 10;
    expect(slipped.counters.slippage).toBeCloseTo(q * 0.005, 9);
  });
});

describe('futures overlay: funding received on a short, then liquidation at the bar high', () => {
  const zero = { spotTaker: 0, spotMaker: 0, futuresTaker: 0, futuresMaker: 0 };
  const p = portfolio([cls('BTC', 0.5, 0.05, ['BTC'], { hedge: 'BTC/USDT:USDT' }), cls('Cash', 0.5, 0.05, ['USDT'], { cash: true })], { execution: { fees: zero, leverage: 2 } });
  const t = days(4);
  const h = explicitHistory({
    times: t,
    assets: [{ name: 'BTC', close: [100, 130, 130, 990], high: [100, 130, 130, 1000] }],
    stable: ['USDT'],
    perps: ['BTC'],
    // A first settlement at bar 0 makes the rate known when the hedge opens at bar 1 (unknown funding opens none).
    funding: { BTC: [[t[0]! + 8 * 3600_000, 0.0001], [t[2]! + 8 * 3600_000, 0.001]] },
  });
  const spec = standardPolicies(p).find((s) => s.name === 'futures-overlay')!;
  const run = runPolicy(p, spec, h, { ...DEFAULT_OPTIONS, capital: 1000, slippage: 0 });

  it('hand-computed', () => {
    // Bar 0: 5 BTC at 100, 500 USDT. Bar 1 at 130: BTC 650 of 1,150 = 56.5% > 55% → short (575 − 650) = 75
    // notional: floor(75 / 130, 1e-6) = 0.576923 BTC/USDT:USDT.
    const short = floorToStep(75 / 130, 1e-6);
    expect(run.series.hedgeNotional[0]![1]).toBeCloseTo(-short * 130, 9);
    // Bar 2: funding 0.1% at mark 130 — positive rate, the short receives 0.576923 × 130 × 0.001.
    const received = short * 130 * 0.001;
    expect(run.counters.fundingReceived).toBeCloseTo(received, 12);
    expect(run.counters.fundingPaid).toBe(0);
    expect(run.series.cumFunding[2]).toBeCloseTo(received, 12);
    // Bar 3: the high 1,000 is the adverse extreme for the short: wallet 500 + received + uPnL
    // 0.576923 × (130 − 1,000) = −501.92 is below maintenance → liquidated (and the wallet is exhausted).
    expect(run.counters.liquidations).toBe(1);
    expect(run.series.hedgeNotional[0]![3]).toBe(0);
    // What is left is the spot BTC: 5 × 990; the insurance fund takes the shortfall.
    expect(run.series.equity[3]).toBeCloseTo(5 * 990, 9);
    // The hedge's life: opened at bar 1, liquidated at bar 3; held 2 bars with a known rate.
    expect(run.extras.hedges).toMatchObject({ opened: 1, medianLifeBars: 2, reopenedNextBar: 0, openAtEnd: 0 });
    expect(run.extras.hedges.closedBy.liquidated).toBe(1);
    expect(run.extras.hedges.fundingCoverage).toEqual({ 'BTC/USDT:USDT': { heldBars: 2, knownFundingBars: 2 } });
    // The perp is priced at the spot close (no perp candles): the hedge tracks its class exactly, basis 0.
    expect(run.counters.basisPnl).toBe(0);
  });

  it('without funding data the hedge is not opened (unknown funding), and the class is moved by spot', () => {
    const noFunding = explicitHistory({ times: t, assets: [{ name: 'BTC', close: [100, 130, 130, 990], high: [100, 130, 130, 1000] }], stable: ['USDT'], perps: ['BTC'], funding: { BTC: [] } });
    const r = runPolicy(p, spec, noFunding, { ...DEFAULT_OPTIONS, capital: 1000, slippage: 0 });
    expect(r.extras.hedges.opened).toBe(0);
    expect(r.counters.perpFees).toBe(0);
    // Bar 1 (56.5% > 55%) and bar 3 (BTC at 990) are breaches; both are sold spot.
    expect(r.series.rebalanceBars).toEqual([1, 3]);
  });
});
