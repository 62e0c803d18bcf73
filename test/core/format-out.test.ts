/** Output helpers: margin ratios in words (never "Infinity%"), money and fractions without float noise. */
import { describe, expect, it } from 'vitest';
import { fractionOut, marginRatioText, moneyOut } from '../../src/core/format.js';

describe('output formatting', () => {
  it('a margin ratio with no equity left says so instead of "Infinity%"', () => {
    expect(marginRatioText(0.4213)).toBe('margin ratio 42.13%');
    expect(marginRatioText(Infinity)).toBe('no equity left: margin ratio unbounded');
    expect(marginRatioText(Infinity)).not.toMatch(/Infinity/);
  });

  it('money leaves rounded to 8 decimals, fractions to 14: float noise goes, real digits stay', () => {
    expect(moneyOut(28399.999999999996)).toBe(28400);
    expect(moneyOut(0.1 + 0.2)).toBe(0.3);
    expect(moneyOut(7.946)).toBe(7.946);
    expect(moneyOut(-1e-12)).toBe(0);
    expect(Object.is(moneyOut(-1e-12), -0)).toBe(false);
    expect(fractionOut(0.36000000000000004)).toBe(0.36);
    expect(fractionOut(0.5005793)).toBe(0.5005793);
    expect(moneyOut(NaN)).toBeNaN();
  });
});
