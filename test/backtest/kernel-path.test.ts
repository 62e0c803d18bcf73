/**
 * One engine, two decision paths: a spot-only policy decided by the rebalance kernel gives the very same
 * backtest — every equity point, every class weight, every counter, every rebalance bar, bit for bit —
 * as the same policy decided by the general planner `plan()` (BacktestOptions.kernel = false).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, runPolicy, type BacktestOptions, type PolicyRun } from '../../src/backtest/engine.js';
import { standardPolicies, type PolicySpec } from '../../src/backtest/policies.js';
import { randomHistory } from '../../src/backtest/synthetic.js';
import type { Portfolio } from '../../src/core/types.js';
import { cls, portfolio } from '../core/builders.js';

const h = randomHistory({ assets: 9, bars: 1500, intervalMs: 3_600_000, seed: 11, fundingEvery: 8, stable: ['USDT'] });
const [a0, a1, a2, a3, a4, a5, a6, a7] = h.assets;
const base = portfolio(
  [
    cls('Majors', 0.35, 0.03, [a0!, a1!], { hedge: `${a0}/USDT:USDT` }),
    // No intra-class weights: they are targets only the planner trades toward (the kernel does not apply).
    cls('Alts', 0.25, 0.04, [a2!, a3!, a4!]),
    cls('Small', 0.1, 0.02, [a5!, a6!]),
    cls('Solo', 0.15, 0.015, [a7!]),
    cls('Cash', 0.15, 0.03, ['USDT'], { cash: true }),
  ],
  { rebalance: { schedule: 'daily' } },
);

/** Every spot policy of `p`, plus threshold variants with other destinations and scopes. */
function spotPolicies(p: Portfolio): PolicySpec[] {
  const out = standardPolicies(p).filter((s) => s.portfolio !== null && s.portfolio.execution.instrument === 'spot');
  const threshold = out.find((s) => s.name === 'threshold')!;
  for (const [name, rb] of [
    ['halfway', { to: 'halfway' }],
    ['scope-all', { scope: 'all' }],
    ['band-edge-all', { to: 'band-edge', scope: 'all' }],
  ] as const) {
    out.push({ ...threshold, name, portfolio: { ...threshold.portfolio!, rebalance: { ...threshold.portfolio!.rebalance, ...rb } } });
  }
  return out;
}

function expectSameRun(kernel: PolicyRun, planner: PolicyRun): void {
  expect(kernel.counters).toEqual(planner.counters);
  expect(kernel.series.rebalanceBars).toEqual(planner.series.rebalanceBars);
  expect(Array.from(kernel.series.equity)).toEqual(Array.from(planner.series.equity));
  expect(Array.from(kernel.series.cumFunding)).toEqual(Array.from(planner.series.cumFunding));
  kernel.series.weights.forEach((w, c) => expect(Array.from(w), kernel.series.classNames[c]).toEqual(Array.from(planner.series.weights[c]!)));
  kernel.series.hedgeNotional.forEach((x, c) => expect(Array.from(x)).toEqual(Array.from(planner.series.hedgeNotional[c]!)));
}

describe('kernel path = planner path, bit for bit', () => {
  const fills: [string, Partial<BacktestOptions>][] = [
    ['close fills', {}],
    ['next-open fills with market impact', { fill: 'next-open', impact: 0.5 }],
    ['coarse minimum notional', { minNotional: 2_000, capital: 250_000 }],
  ];
  for (const [label, over] of fills) {
    for (const spec of spotPolicies(base)) {
      it(`${spec.name}, ${label}`, () => {
        const o = { ...DEFAULT_OPTIONS, ...over };
        const k = runPolicy(base, spec, h, { ...o, kernel: true });
        const pl = runPolicy(base, spec, h, { ...o, kernel: false });
        expect(pl.kernelPlans).toBe(0);
        expect(k.kernelPlans).toBe(k.plans);
        expect(k.plans).toBeGreaterThan(0);
        expect(k.counters.orders).toBeGreaterThan(0);
        expectSameRun(k, pl);
      });
    }
  }

  it('progress reports every bar exactly once, whichever path computed it', () => {
    for (const spec of [...standardPolicies(base), ...spotPolicies(base)]) {
      let bars = 0;
      runPolicy(base, spec, h, DEFAULT_OPTIONS, (k) => (bars += k));
      expect(bars, spec.name).toBe(h.times.length);
    }
  });

  it('a policy that uses futures never takes the kernel path', () => {
    const overlay = standardPolicies(base).find((s) => s.name === 'futures-overlay')!;
    const run = runPolicy(base, overlay, h, DEFAULT_OPTIONS);
    expect(run.kernelPlans).toBe(0);
    expect(run.plans).toBeGreaterThan(0);
  });
});
