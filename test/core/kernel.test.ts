/** Unit and property tests of the kernel's building blocks: exact lot rounding, the due-check, eligibility. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decomposeStep, fastQuotientLimit, floorStepFast, nextPeriodStart, spotKernelApplies } from '../../src/core/kernel.js';
import { floorToStep } from '../../src/core/rounding.js';
import { isRebalanceDue } from '../../src/core/schedule.js';
import { cls, portfolio } from './builders.js';

const fast = (x: number, step: number) => {
  const d = decomposeStep(step);
  return floorStepFast(x, step, 1 / step, d.num, d.div, fastQuotientLimit(d.num));
};

describe('decomposeStep: a lot step as num / 10^d from its shortest decimal form', () => {
  it('powers of ten, multiples and odd steps', () => {
    expect(decomposeStep(1e-8)).toEqual({ num: 1, div: 1e8 });
    expect(decomposeStep(0.001)).toEqual({ num: 1, div: 1000 });
    expect(decomposeStep(0.25)).toEqual({ num: 25, div: 100 });
    expect(decomposeStep(5e-5)).toEqual({ num: 5, div: 1e5 });
    expect(decomposeStep(1)).toEqual({ num: 1, div: 1 });
    expect(decomposeStep(10)).toEqual({ num: 10, div: 1 });
  });
  it('no fast form: non-positive, huge or long-mantissa steps', () => {
    expect(decomposeStep(0).div).toBe(0);
    expect(decomposeStep(1e21).div).toBe(0);
    expect(decomposeStep(0.1234567).div).toBe(0);
    expect(decomposeStep(1 / 3).div).toBe(0);
  });
});

describe('floorStepFast = floorToStep, bit for bit', () => {
  const steps = [1e-8, 1e-6, 1e-4, 0.001, 0.01, 0.1, 1, 10, 0.25, 0.5, 5, 5e-5, 1 / 3, 0.1234567];
  it('worked cases: float noise at a step boundary goes to the exact path', () => {
    expect(fast(0.1 + 0.2, 0.1)).toBe(floorToStep(0.1 + 0.2, 0.1));
    expect(fast(0.1 + 0.2, 0.1)).toBe(0.3);
    expect(fast(0.7, 0.1)).toBe(0.7);
    expect(fast(2.9999999999, 0.001)).toBe(2.999);
    expect(fast(0, 1e-8)).toBe(0);
    expect(fast(-1, 1e-8)).toBe(0);
    expect(fast(1.23, 0)).toBe(1.23);
  });
  it('random amounts on every step', () => {
    fc.assert(
      fc.property(fc.double({ min: 1e-12, max: 1e9, noNaN: true }), fc.constantFrom(...steps), (x, step) => {
        expect(fast(x, step)).toBe(floorToStep(x, step));
      }),
      { numRuns: 20_000, seed: 101 },
    );
  });
  it('amounts at and next to exact multiples of the step', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.constantFrom(...steps), fc.integer({ min: -3, max: 3 }), (k, step, ulps) => {
        let x = k * step;
        for (let i = 0; i < Math.abs(ulps); i++) x = ulps > 0 ? x + Number.EPSILON * Math.abs(x) : x - Number.EPSILON * Math.abs(x);
        expect(fast(x, step)).toBe(floorToStep(x, step));
      }),
      { numRuns: 20_000, seed: 103 },
    );
  });
});

describe('nextPeriodStart: due exactly when now ≥ the start of the period after the last rebalance', () => {
  it('matches isRebalanceDue for random times on every schedule', () => {
    const t0 = Date.UTC(2019, 0, 1);
    fc.assert(
      fc.property(
        fc.constantFrom('daily' as const, 'weekly' as const, 'monthly' as const),
        fc.integer({ min: 0, max: 3 * 365 * 86_400_000 }),
        fc.integer({ min: 0, max: 70 * 86_400_000 }),
        (schedule, a, gap) => {
          const last = t0 + a;
          const now = last + gap;
          expect(now >= nextPeriodStart(schedule, last)).toBe(isRebalanceDue(schedule, last, now));
        },
      ),
      { numRuns: 20_000, seed: 107 },
    );
  });
  it('worked cases: Monday weeks, month ends', () => {
    // 2024-01-03 is a Wednesday: the next week starts Monday 2024-01-08.
    expect(nextPeriodStart('weekly', Date.UTC(2024, 0, 3, 15))).toBe(Date.UTC(2024, 0, 8));
    expect(nextPeriodStart('monthly', Date.UTC(2024, 0, 31, 23, 59))).toBe(Date.UTC(2024, 1, 1));
    expect(nextPeriodStart('monthly', Date.UTC(2024, 11, 5))).toBe(Date.UTC(2025, 0, 1));
    expect(nextPeriodStart('daily', Date.UTC(2024, 1, 29, 12))).toBe(Date.UTC(2024, 2, 1));
  });
});

describe('spotKernelApplies: every decision of plan() would be a spot decision', () => {
  const classes = [cls('BTC', 0.5, 0.05, ['BTC'], { hedge: 'BTC/USDT:USDT' }), cls('Cash', 0.5, 0.05, ['USDT'], { cash: true })];
  it('spot execution, targets strategy: yes', () => {
    expect(spotKernelApplies(portfolio(classes))).toBe(true);
  });
  it('futures or auto execution, a futures class, a core-satellite core, beta-neutral: no', () => {
    expect(spotKernelApplies(portfolio(classes, { execution: { instrument: 'futures' } }))).toBe(false);
    expect(spotKernelApplies(portfolio(classes, { execution: { instrument: 'auto' } }))).toBe(false);
    expect(spotKernelApplies(portfolio([{ ...classes[0]!, instrument: 'futures' }, classes[1]!]))).toBe(false);
    expect(spotKernelApplies(portfolio(classes, { strategy: { type: 'core-satellite', core: 'BTC' } }))).toBe(false);
    expect(spotKernelApplies(portfolio(classes, { strategy: { type: 'beta-neutral', long: 'BTC', short: 'BTC', tolerance: 0.1 } }))).toBe(false);
  });
  it('futures execution but every class pinned to spot: yes', () => {
    expect(spotKernelApplies(portfolio([{ ...classes[0]!, instrument: 'spot' }, classes[1]!], { execution: { instrument: 'futures' } }))).toBe(true);
  });
});
