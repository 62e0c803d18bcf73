/**
 * The Pareto frontier and the objectives. Invariant: a point is on the frontier exactly when no other point
 * is at least as good on both axes and strictly better on one — checked against that definition computed
 * the slow way (every pair), on hand-made points and on random ones.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { choose, paretoFrontier, parseObjective, type Point } from '../../src/tune/frontier.js';
import { TuneSpecError } from '../../src/tune/grid.js';

/** The definition, O(n²). */
function bruteForce(ps: Point[]): number[] {
  return ps
    .map((_, i) => i)
    .filter((i) => !ps.some((q, j) => j !== i && q.trackingError <= ps[i]!.trackingError && q.totalCost <= ps[i]!.totalCost && (q.trackingError < ps[i]!.trackingError || q.totalCost < ps[i]!.totalCost)));
}

const pt = (trackingError: number, totalCost: number): Point => ({ trackingError, totalCost });

describe('paretoFrontier', () => {
  it('keeps exactly the points no other beats, ordered by tracking error', () => {
    const ps = [pt(0.02, 500), pt(0.01, 900), pt(0.03, 100), pt(0.025, 600), pt(0.01, 950), pt(0.04, 100), pt(0.02, 500), pt(0.015, 300)];
    // (0.01, 950) loses to (0.01, 900); (0.025, 600) to (0.02, 500); (0.04, 100) to (0.03, 100); (0.02, 500) ×2 to (0.015, 300).
    expect(paretoFrontier(ps)).toEqual([1, 7, 2]);
    expect(paretoFrontier(ps).slice().sort()).toEqual(bruteForce(ps).sort());
  });

  it('keeps equal points together', () => {
    const ps = [pt(0.02, 10), pt(0.02, 10), pt(0.05, 1)];
    expect(paretoFrontier(ps)).toEqual([0, 1, 2]);
    expect(bruteForce(ps)).toEqual([0, 1, 2]);
  });

  it('agrees with the definition on random points (with ties)', () => {
    const point = fc.record({ trackingError: fc.integer({ min: 0, max: 12 }).map((x) => x / 400), totalCost: fc.integer({ min: -20, max: 20 }).map((x) => x * 50) });
    fc.assert(
      fc.property(fc.array(point, { maxLength: 60 }), (ps) => {
        expect(paretoFrontier(ps).slice().sort((a, b) => a - b)).toEqual(bruteForce(ps));
      }),
      { seed: 12, numRuns: 300 },
    );
  });
});

describe('objectives', () => {
  const ps = [pt(0.012, 6400), pt(0.014, -5200), pt(0.017, -7300), pt(0.03, -9000), pt(0.0235, 4355)];
  const current = pt(0.0235, 4355);
  it('frontier: the cheapest point whose tracking error is at most the current one', () => {
    expect(choose(ps, { kind: 'frontier' }, current, 100_000)).toBe(2);
  });
  it('min-cost under a tracking-error bound; min-tracking-error under a cost bound (money or % of capital)', () => {
    expect(choose(ps, parseObjective('min-cost tracking-error<=1.5%'), current, 100_000)).toBe(1);
    expect(choose(ps, parseObjective('min-cost tracking-error<=1%'), current, 100_000)).toBeNull();
    expect(choose(ps, parseObjective('min-tracking-error cost<=0'), current, 100_000)).toBe(1);
    expect(choose(ps, parseObjective('min-tracking-error cost<=-6%'), current, 100_000)).toBe(2);
    expect(choose(ps, parseObjective('min-tracking-error cost<=5%'), current, 100_000)).toBe(1);
    expect(choose(ps, parseObjective('min-tracking-error cost<=7000'), current, 100_000)).toBe(0);
  });
  it('ties go to the grid order', () => {
    expect(choose([pt(0.01, 5), pt(0.01, 5)], { kind: 'frontier' }, pt(0.02, 9), 1)).toBe(0);
  });
  it.each([
    ['cheapest', /is not "frontier"/],
    ['min-cost tracking-error<=abc%', /"abc%" is not a number/],
    ['min-cost tracking-error<=2.5', /as a percentage/],
    ['min-cost cost<=5', /min-cost is constrained by tracking-error/],
    ['min-tracking-error tracking-error<=5%', /constrained by cost/],
    ['min-cost tracking-error<=0%', /above 0%/],
  ])('rejects %j naming the problem', (spec, msg) => {
    expect(() => parseObjective(spec)).toThrow(TuneSpecError);
    expect(() => parseObjective(spec)).toThrow(msg);
  });
});
