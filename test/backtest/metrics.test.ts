import { describe, expect, it } from 'vitest';
import {
  cagr,
  computeMetrics,
  maxDrawdown,
  periodsPerYear,
  sampleStdev,
  sharpe,
  simpleReturns,
  timeInBand,
  trackingError,
  volatility,
  type PolicyCounters,
  type PolicySeries,
} from '../../src/backtest/metrics.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const f64 = (xs: number[]) => Float64Array.from(xs);

const counters: PolicyCounters = {
  perpFees: 0,
  perpSlippage: 0,
  basisPnl: 0,
  rebalances: 2,
  turnover: 1234.5,
  fees: 1.5,
  slippage: 0.75,
  fundingPaid: 3,
  fundingReceived: 5,
  liquidations: 0,
  orders: 4,
};

function series(equity: number[], step = DAY): PolicySeries {
  const n = equity.length;
  return {
    name: 'p',
    description: 'd',
    times: f64(equity.map((_, i) => i * step)),
    equity: f64(equity),
    classNames: ['A', 'B'],
    targets: [0.5, 0.5],
    lower: [0.45, 0.45],
    upper: [0.55, 0.55],
    weights: [f64([0.5, 0.56, 0.55, 0.44]).slice(0, n), f64([0.5, 0.44, 0.45, 0.56]).slice(0, n)],
    hedgeNotional: [new Float64Array(n), new Float64Array(n)],
    cumFunding: new Float64Array(n),
    rebalanceBars: [1, 3],
  };
}

describe('building blocks, by hand', () => {
  it('simple returns', () => {
    const r = simpleReturns([100, 110, 99, 108.9]);
    expect(r).toHaveLength(3);
    expect(r[0]).toBeCloseTo(0.1, 12);
    expect(r[1]).toBeCloseTo(-0.1, 12);
    expect(r[2]).toBeCloseTo(0.1, 12);
    // a return after zero equity is undefined and left out
    expect(simpleReturns([100, 0, 50])).toEqual([-1]);
  });

  it('periods per year from the median spacing', () => {
    expect(periodsPerYear([0, DAY, 2 * DAY])).toBe(365);
    expect(periodsPerYear([0, HOUR, 2 * HOUR, 5 * HOUR])).toBe(8760); // spacings 1h, 1h, 3h → median 1h
    expect(periodsPerYear([0, 7 * DAY, 14 * DAY])).toBeCloseTo(365 / 7, 12);
    expect(periodsPerYear([0])).toBeNaN();
  });

  it('sample standard deviation (n − 1)', () => {
    expect(sampleStdev([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 12); // Σ(x−2.5)² = 5, /3
    expect(sampleStdev([7])).toBe(0);
  });

  it('volatility and Sharpe on returns 0.1, −0.1, 0.1 with daily bars', () => {
    // mean 1/30; deviations 2/30, −4/30, 2/30; variance (4 + 16 + 4)/900 / 2 = 1/75
    const r = [0.1, -0.1, 0.1];
    expect(volatility(r, 365)).toBeCloseTo(Math.sqrt(365 / 75), 12);
    expect(sharpe(r, 365)).toBeCloseTo((1 / 30 / Math.sqrt(1 / 75)) * Math.sqrt(365), 12);
    expect(sharpe([0, 0, 0], 365)).toBe(0);
    expect(volatility([0.1], 365)).toBe(0);
  });

  it('CAGR', () => {
    expect(cagr(100, 121, 2 * 365.25 * DAY)).toBeCloseTo(0.1, 12); // 1.21 over two years
    expect(cagr(100, 50, 365.25 * DAY)).toBeCloseTo(-0.5, 12);
    expect(cagr(100, 0, 365.25 * DAY)).toBe(-1);
    expect(cagr(100, 150, 0)).toBe(0);
  });

  it('max drawdown as a positive fraction of the running peak', () => {
    expect(maxDrawdown([100, 80, 120, 60, 130])).toBeCloseTo(0.5, 12); // 120 → 60
    expect(maxDrawdown([100, 110, 99, 108.9])).toBeCloseTo(0.1, 12); // 110 → 99
    expect(maxDrawdown([1, 2, 3])).toBe(0);
  });

  it('time in band: every class inside [lower, upper], edges inclusive', () => {
    const w = [f64([0.5, 0.56, 0.55, 0.44]), f64([0.5, 0.44, 0.45, 0.56])];
    // bar 0 in; bar 1 A above 0.55; bar 2 on the edges (in); bar 3 out
    expect(timeInBand(w, [0.45, 0.45], [0.55, 0.55], 4)).toBe(0.5);
    expect(timeInBand([f64([0.55 + 1e-12])], [0.45], [0.55], 1)).toBe(1); // float noise at the edge
    expect(timeInBand([f64([0.5501])], [0.45], [0.55], 1)).toBe(0);
  });

  it('tracking error = √(mean over bars of Σ (w − target)²)', () => {
    const w = [f64([0.5, 0.56, 0.55, 0.44]), f64([0.5, 0.44, 0.45, 0.56])];
    // bars: 0; 2 × 0.06²; 2 × 0.05²; 2 × 0.06² → (0 + 0.0072 + 0.005 + 0.0072) / 4 = 0.00485
    expect(trackingError(w, [0.5, 0.5], 4)).toBeCloseTo(Math.sqrt(0.00485), 12);
  });
});

describe('computeMetrics', () => {
  it('combines the definitions on a tiny daily series', () => {
    const m = computeMetrics(series([100, 110, 99, 108.9]), counters);
    expect(m.name).toBe('p');
    expect(m.description).toBe('d');
    expect(m.startEquity).toBe(100);
    expect(m.finalEquity).toBe(108.9);
    expect(m.totalReturn).toBeCloseTo(0.089, 12);
    expect(m.cagr).toBeCloseTo(1.089 ** (365.25 / 3) - 1, 9);
    expect(m.volatility).toBeCloseTo(Math.sqrt(365 / 75), 10);
    expect(m.sharpe).toBeCloseTo(Math.sqrt(75) / 30 * Math.sqrt(365), 10);
    expect(m.maxDrawdown).toBeCloseTo(0.1, 12);
    expect(m.timeInBand).toBe(0.5);
    expect(m.trackingError).toBeCloseTo(Math.sqrt(0.00485), 12);
    expect(m.funding).toBe(2);
    expect(m).toMatchObject(counters);
  });

  it('is finite on degenerate input', () => {
    const one = computeMetrics(series([100]), counters);
    for (const k of ['totalReturn', 'cagr', 'volatility', 'sharpe', 'maxDrawdown', 'timeInBand', 'trackingError'] as const) {
      expect(Number.isFinite(one[k])).toBe(true);
    }
    expect(one.cagr).toBe(0);
    expect(one.sharpe).toBe(0);
    const flat = computeMetrics(series([100, 100, 100]), counters);
    expect(flat.sharpe).toBe(0);
    expect(flat.volatility).toBe(0);
    expect(flat.maxDrawdown).toBe(0);
  });
});
