/**
 * Backtests that let a user judge hedging, on the bundled history:
 * - the loop the hedge lifecycle removed: the seed portfolio (Altcoins hedged by the SOL perp, as before)
 *   over 2020-08-18 → 2020-09-01, where futures-overlay used to rebalance on 7 consecutive days (78.6 % in
 *   band) while threshold rebalanced once;
 * - the `configured` policy runs the file as written (here `to: halfway` and `calendar monthly`);
 * - the cost lines add up, and `--trades` rows are the fills the counters count.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPortfolio } from '../../src/adapters/files/portfolio.js';
import { loadHistory } from '../../src/adapters/history/history.js';
import { DEFAULT_OPTIONS, runPolicy, type BacktestFill } from '../../src/backtest/engine.js';
import { standardPolicies } from '../../src/backtest/policies.js';
import { historyNeeds, runBacktest } from '../../src/backtest/run.js';
import type { Portfolio } from '../../src/core/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DATA = join(ROOT, 'data');

describe('the two-bar loop is gone', () => {
  it('futures-overlay: ≤ 2 rebalances and 100 % in band over 2020-08-18 → 2020-09-01 (threshold: 1)', () => {
    const p = loadPortfolio(join(ROOT, 'test', 'fixtures', 'backtest', 'seed-sol.yaml'));
    const r = runBacktest({ portfolio: p, dataDir: DATA, interval: '1d', from: Date.UTC(2020, 7, 18), to: Date.UTC(2020, 8, 1), policies: ['threshold', 'futures-overlay', 'auto'], options: {} });
    const by = Object.fromEntries(r.metrics.map((m) => [m.name, m]));
    expect(by.threshold!.rebalances).toBe(1);
    expect(by['futures-overlay']!.rebalances).toBe(2);
    expect(by['futures-overlay']!.timeInBand).toBe(1);
    expect(by.auto!.timeInBand).toBe(1);
    // No hedge lived one bar and none was reopened the bar after it closed.
    expect(by['futures-overlay']!.hedges.reopenedNextBar).toBe(0);
  });

  it('over all the bundled history no hedging policy reopens more than a handful of hedges the bar after closing one', () => {
    const p = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
    const r = runBacktest({ portfolio: p, dataDir: DATA, interval: '1d', policies: ['futures-overlay', 'auto', 'hedge-bridge'], options: {} });
    for (const m of r.metrics) {
      expect(m.timeInBand, m.name).toBe(1);
      // Was 411 of 496 hedges living exactly one bar (futures-overlay) before the lifecycle.
      expect(m.hedges.reopenedNextBar, m.name).toBeLessThanOrEqual(5);
      expect(m.hedges.medianLifeBars, m.name).toBeGreaterThanOrEqual(3);
      expect(m.outOfBandBars.total, m.name).toBe(0);
    }
  });
});

describe('the configured policy is the file as written', () => {
  const base = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
  const needs = historyNeeds(base);
  const h = loadHistory({ dir: DATA, interval: '1d', assets: needs.assets, stable: needs.stable, perps: needs.perps, quote: 'USDT', from: Date.UTC(2021, 0, 1), to: Date.UTC(2023, 0, 1) });

  it('is listed first and honours to: halfway (spot threshold to halfway, by hand)', () => {
    const halfway: Portfolio = { ...base, rebalance: { ...base.rebalance, to: 'halfway' }, execution: { ...base.execution, instrument: 'spot' } };
    const specs = standardPolicies(halfway);
    expect(specs[0]!.name).toBe('configured');
    expect(specs[0]!.description).toBe('the portfolio file as written: threshold, to halfway, scope breached, instrument spot, hedges both exit convert-on-schedule');
    const configured = runPolicy(halfway, specs[0]!, h, DEFAULT_OPTIONS);
    const threshold = runPolicy(halfway, specs.find((s) => s.name === 'threshold')!, h, DEFAULT_OPTIONS);
    // The standard threshold policy goes to target; the configured one stops halfway: more, smaller trades.
    expect(configured.counters.rebalances).toBeGreaterThan(threshold.counters.rebalances);
    // Every configured rebalance lands its breached class halfway between its trigger and its target:
    // its weight after the trade is inside the band but not at the target.
    const bars = configured.series.rebalanceBars;
    expect(bars.length).toBe(configured.counters.rebalances);
    const off = bars.filter((b) => configured.series.weights.some((w, c) => !configured.series.classNames[c]!.startsWith('Stable') && Math.abs(w[b]! - configured.series.targets[c]!) > 0.005));
    expect(off.length).toBeGreaterThan(bars.length / 2);
  });

  it('honours mode calendar monthly with futures (a configuration no standard policy covers)', () => {
    const monthlyFutures: Portfolio = { ...base, rebalance: { ...base.rebalance, mode: 'calendar', schedule: 'monthly' }, execution: { ...base.execution, instrument: 'futures' } };
    const spec = standardPolicies(monthlyFutures)[0]!;
    const run = runPolicy(monthlyFutures, spec, h, DEFAULT_OPTIONS);
    // Decisions only at month starts (24 months) plus hedge maintenance in between.
    const months = new Set(run.series.rebalanceBars.map((b) => new Date(h.times[b]!).toISOString().slice(0, 7)));
    expect(months.size).toBeGreaterThan(12);
    expect(run.extras.hedges.opened).toBeGreaterThan(0);
    expect(run.counters.perpFees).toBeGreaterThan(0);
  });
});

describe('cost lines and trades', () => {
  it('total cost = spot fees + perp fees + slippage − net funding + basis; --trades rows are the counted fills', () => {
    const p = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
    const fills: { policy: string; f: BacktestFill }[] = [];
    const r = runBacktest({ portfolio: p, dataDir: DATA, interval: '1d', from: Date.UTC(2021, 0, 1), to: Date.UTC(2022, 0, 1), policies: ['threshold', 'hedge-bridge'], options: {}, onFill: (policy, f) => fills.push({ policy, f }) });
    for (const m of r.metrics) {
      const c = m.costs;
      expect(c.spotFees + c.perpFees).toBeCloseTo(m.fees, 6);
      expect(c.total).toBeCloseTo(c.spotFees + c.perpFees + c.slippage + c.fundingPaid - c.fundingReceived + c.basis + c.tax, 6);
      expect(m.taxModelled).toBe(false);
      expect(m.afterTaxFinalEquity).toBe(m.finalEquity);
      const mine = fills.filter((x) => x.policy === m.name);
      expect(mine.length).toBe(m.orders);
      expect(mine.reduce((t, x) => t + x.f.fee, 0)).toBeCloseTo(m.fees, 6);
      const perp = mine.filter((x) => x.f.symbol.includes(':'));
      expect(perp.reduce((t, x) => t + x.f.fee, 0)).toBeCloseTo(m.costs.perpFees, 6);
    }
    const bridge = r.metrics.find((m) => m.name === 'hedge-bridge')!;
    expect(bridge.hedges.opened).toBeGreaterThan(0);
    expect(bridge.hedges.closedBy.converted).toBeGreaterThan(0);
    // hedge-bridge never opens a long hedge.
    expect(fills.filter((x) => x.policy === 'hedge-bridge' && x.f.reason === 'hedge-open' && x.f.side === 'buy')).toEqual([]);
  });
});
