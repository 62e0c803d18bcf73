/**
 * Series at bounded resolution, metrics from every bar: the engine records at most `maxPoints` points
 * (every k-th bar plus the last) but accumulates the metrics over every bar while it runs. Checked here:
 * - the recorded points of a decimated run are exactly the full-resolution run's values at those bars;
 * - the metrics do not depend on the resolution (bit for bit);
 * - with every bar recorded, the online metrics equal metrics.ts's series-based definitions (the
 *   returns' variance to ~1e-15 relative: Welford's one-pass update instead of the two-pass sum; every
 *   other metric bit for bit);
 * - the kernel's flat-stretch blocks and the per-bar path accumulate the same summary.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, recordedPoints, runPolicy } from '../../src/backtest/engine.js';
import { computeMetrics, type PolicySeries } from '../../src/backtest/metrics.js';
import { standardPolicies } from '../../src/backtest/policies.js';
import { renderReport } from '../../src/backtest/report.js';
import { randomHistory } from '../../src/backtest/synthetic.js';
import { cls, portfolio } from '../core/builders.js';

const h = randomHistory({ assets: 6, bars: 3000, intervalMs: 3_600_000, seed: 7, fundingEvery: 8, stable: ['USDT'] });
const [a0, a1, a2, a3, a4, a5] = h.assets;
const p = portfolio(
  [
    cls('Majors', 0.4, 0.03, [a0!, a1!], { hedge: `${a0}/USDT:USDT` }),
    cls('Alts', 0.25, 0.04, [a2!, a3!]),
    cls('Solo', 0.2, 0.02, [a4!, a5!]),
    cls('Cash', 0.15, 0.03, ['USDT'], { cash: true }),
  ],
  { rebalance: { schedule: 'daily' } },
);

/** metrics.ts's definitions applied to a series that holds every bar (no summary). */
function fromSeries(s: PolicySeries): PolicySeries {
  const { summary: _summary, points: _points, ...rest } = s;
  return rest;
}

describe('recordedPoints', () => {
  it('keeps every bar up to maxPoints, else every k-th bar and the last, at most maxPoints', () => {
    expect(Array.from(recordedPoints(5, 10))).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(recordedPoints(10, 10))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(recordedPoints(11, 10))).toEqual([0, 2, 4, 6, 8, 10]);
    expect(Array.from(recordedPoints(12, 10))).toEqual([0, 2, 4, 6, 8, 10, 11]);
    for (const [n, m] of [[525_600, 5000], [10_000, 5000], [5001, 5000], [99_999, 7]] as const) {
      const pts = recordedPoints(n, m);
      expect(pts.length).toBeLessThanOrEqual(m);
      expect(pts[0]).toBe(0);
      expect(pts[pts.length - 1]).toBe(n - 1);
      for (let i = 1; i < pts.length; i++) expect(pts[i]!).toBeGreaterThan(pts[i - 1]!);
    }
    expect(recordedPoints(0, 10).length).toBe(0);
  });
});

describe('series resolution never changes a result', () => {
  for (const spec of standardPolicies(p)) {
    it(spec.name, () => {
      const full = runPolicy(p, spec, h, { ...DEFAULT_OPTIONS, maxPoints: Infinity });
      const coarse = runPolicy(p, spec, h, { ...DEFAULT_OPTIONS, maxPoints: 250 });
      expect(full.series.points).toBeUndefined();
      expect(full.series.times.length).toBe(h.times.length);
      const pts = coarse.series.points!;
      expect(pts.length).toBeLessThanOrEqual(250);
      expect(coarse.counters).toEqual(full.counters);
      expect(coarse.series.summary).toEqual(full.series.summary);
      expect(coarse.series.rebalanceBars).toEqual(full.series.rebalanceBars);
      expect(coarse.series.rebalanceEquity).toEqual(full.series.rebalanceBars.map((b) => full.series.equity[b]!));
      expect(coarse.series.rebalanceTimes).toEqual(full.series.rebalanceBars.map((b) => h.times[b]!));
      const at = (xs: Float64Array) => Array.from(pts, (b) => xs[b]!);
      expect(Array.from(coarse.series.times)).toEqual(at(h.times));
      expect(Array.from(coarse.series.equity)).toEqual(at(full.series.equity));
      expect(Array.from(coarse.series.cumFunding)).toEqual(at(full.series.cumFunding));
      for (const [c, w] of coarse.series.weights.entries()) expect(Array.from(w)).toEqual(at(full.series.weights[c]!));
      for (const [c, x] of coarse.series.hedgeNotional.entries()) expect(Array.from(x)).toEqual(at(full.series.hedgeNotional[c]!));
      expect(computeMetrics(coarse.series, coarse.counters)).toEqual(computeMetrics(full.series, full.counters));

      // Online metrics = the series-based definitions over every bar.
      const online = computeMetrics(full.series, full.counters);
      const offline = computeMetrics(fromSeries(full.series), full.counters);
      const { volatility: v1, sharpe: s1, ...rest1 } = online;
      const { volatility: v2, sharpe: s2, ...rest2 } = offline;
      expect(rest1).toEqual(rest2);
      expect(Math.abs(v1 - v2)).toBeLessThanOrEqual(1e-13 * Math.abs(v2));
      expect(Math.abs(s1 - s2)).toBeLessThanOrEqual(1e-13 * Math.max(1, Math.abs(s2)));
    });
  }

  it('the kernel path (flat-stretch blocks) and the planner path (every bar) accumulate the same summary', () => {
    for (const spec of standardPolicies(p).filter((s) => s.portfolio !== null && s.portfolio.execution.instrument === 'spot')) {
      const k = runPolicy(p, spec, h, { ...DEFAULT_OPTIONS, kernel: true, maxPoints: 300 });
      const pl = runPolicy(p, spec, h, { ...DEFAULT_OPTIONS, kernel: false, maxPoints: 300 });
      expect(k.series.summary, spec.name).toEqual(pl.series.summary);
    }
  });

  it('the report charts a decimated run at its recorded points, rebalance markers at the exact bars', () => {
    const runs = standardPolicies(p).map((spec) => runPolicy(p, spec, h, { ...DEFAULT_OPTIONS, maxPoints: 400 }));
    const html = renderReport({ title: 't', quote: 'USDT', series: runs.map((r) => r.series), metrics: runs.map((r) => computeMetrics(r.series, r.counters)), notes: [] });
    const json = /<script type="application\/json"[^>]*>([^<]*)<\/script>/.exec(html)![1]!;
    const data = JSON.parse(json) as { times: number[]; policies: { equity: number[]; rebalanceTimes: number[] }[] };
    expect(data.times.length).toBe(runs[0]!.series.times.length);
    expect(data.times[data.times.length - 1]).toBe(h.times[h.times.length - 1]! / 1000);
    for (const [i, r] of runs.entries()) expect(data.policies[i]!.rebalanceTimes).toEqual(r.series.rebalanceBars.map((b) => h.times[b]! / 1000));
    expect(html).toContain(`of ${h.times.length.toLocaleString('en-US')} bars (the backtest recorded every k-th bar and the last)`);
  });
});
