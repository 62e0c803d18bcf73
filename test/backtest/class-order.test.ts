/**
 * The engine's end of bar has a one-pass form for portfolios whose cash class comes last (or that have
 * none) and the general form for a cash class anywhere else. Moving the cash class changes no
 * arithmetic but the position of the cash term in the tracking-error sum: the same run with the cash
 * class first gives the same equity, counters, rebalances and (permuted) class weights, bit for bit.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_OPTIONS, runPolicy } from '../../src/backtest/engine.js';
import { standardPolicies } from '../../src/backtest/policies.js';
import { randomHistory } from '../../src/backtest/synthetic.js';
import { cls, portfolio } from '../core/builders.js';

const h = randomHistory({ assets: 6, bars: 1200, intervalMs: 3_600_000, seed: 5, fundingEvery: 8, stable: ['USDT'] });
const [a0, a1, a2, a3, a4] = h.assets;
const classes = [
  cls('Majors', 0.4, 0.03, [a0!, a1!]),
  cls('Alts', 0.25, 0.04, [a2!, a3!]),
  cls('Solo', 0.2, 0.02, [a4!]),
];
const cash = cls('Cash', 0.15, 0.03, ['USDT'], { cash: true });
const cashLast = portfolio([...classes, cash], { rebalance: { schedule: 'daily' } });
const cashFirst = portfolio([cash, ...classes], { rebalance: { schedule: 'daily' } });

describe('cash class position', () => {
  const last = standardPolicies(cashLast).filter((s) => s.portfolio === null || s.portfolio.execution.instrument === 'spot');
  const first = standardPolicies(cashFirst);
  for (const spec of last) {
    it(spec.name, () => {
      const other = first.find((s) => s.name === spec.name)!;
      for (const maxPoints of [5000, 97]) {
        const o = { ...DEFAULT_OPTIONS, maxPoints };
        const a = runPolicy(cashLast, spec, h, o);
        const b = runPolicy(cashFirst, other, h, o);
        expect(b.counters).toEqual(a.counters);
        expect(Array.from(b.series.equity)).toEqual(Array.from(a.series.equity));
        expect(b.series.rebalanceBars).toEqual(a.series.rebalanceBars);
        expect(b.series.rebalanceEquity).toEqual(a.series.rebalanceEquity);
        // Weights: class k of cashLast is class k + 1 of cashFirst; the cash class is last / first.
        const n = classes.length;
        for (let k = 0; k < n; k++) expect(Array.from(b.series.weights[k + 1]!)).toEqual(Array.from(a.series.weights[k]!));
        expect(Array.from(b.series.weights[0]!)).toEqual(Array.from(a.series.weights[n]!));
        const { trackingSumSq: ta, ...sa } = a.series.summary!;
        const { trackingSumSq: tb, ...sb } = b.series.summary!;
        expect(sb).toEqual(sa);
        expect(tb).toBeCloseTo(ta, 9);
      }
    });
  }
});
