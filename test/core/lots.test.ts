import { describe, expect, it } from 'vitest';
import { daysHeld, gainsOf, longTermFrom, realise, saleOrder, taxOn, termOf, unrealised, type Lot, type TaxConfig } from '../../src/core/lots.js';

const t = (iso: string) => Date.parse(iso);
const US: TaxConfig = { method: 'fifo', shortTermRate: 0.37, longTermRate: 0.2, longTermAfterDays: 365, futuresRate: 0.37 };

// Three BTC lots, hand-checked below. Sold 1.5 BTC at 40,000 (net of fee) on 2024-03-01.
//   L1 2023-01-01  1 @ 20,000  held 425 days → long
//   L2 2023-06-01  1 @ 45,000  held 274 days → short (a loss at 40,000)
//   L3 2024-01-15  1 @ 35,000  held  46 days → short
const lots: Lot[] = [
  { acquired: t('2023-01-01T00:00:00Z'), qty: 1, unitCost: 20_000 },
  { acquired: t('2023-06-01T00:00:00Z'), qty: 1, unitCost: 45_000 },
  { acquired: t('2024-01-15T00:00:00Z'), qty: 1, unitCost: 35_000 },
];
const sold = t('2024-03-01T10:00:00Z');

describe('lots: which lots a sale realises', () => {
  it('FIFO takes the oldest lot first: +20,000 long, then half of L2 −2,500 short; the short loss offsets the long gain', () => {
    const r = realise(lots, 1.5, 40_000, sold, { ...US, method: 'fifo' });
    expect(r.sales.map((s) => [s.acquired, s.qty, s.costBasis, s.proceeds, s.gain, s.term])).toEqual([
      [lots[0]!.acquired, 1, 20_000, 40_000, 20_000, 'long'],
      [lots[1]!.acquired, 0.5, 22_500, 20_000, -2_500, 'short'],
    ]);
    expect(r.remaining).toEqual([{ ...lots[1]!, qty: 0.5 }, lots[2]]);
    expect(r.uncovered).toBe(0);
    const g = gainsOf(r.sales);
    expect(g).toEqual({ shortTerm: -2_500, longTerm: 20_000 });
    // Net long 20,000 − 2,500 = 17,500 × 20 % = 3,500.
    expect(taxOn(g, US)).toBeCloseTo(3_500, 9);
  });

  it('LIFO takes the newest lot first: +5,000 short from L3, then −2,500 short from half of L2 → 2,500 × 37 % = 925', () => {
    const r = realise(lots, 1.5, 40_000, sold, { ...US, method: 'lifo' });
    expect(r.sales.map((s) => [s.acquired, s.qty, s.gain, s.term])).toEqual([
      [lots[2]!.acquired, 1, 5_000, 'short'],
      [lots[1]!.acquired, 0.5, -2_500, 'short'],
    ]);
    expect(taxOn(gainsOf(r.sales), US)).toBeCloseTo(925, 9);
  });

  it('HIFO harvests the loss first: all of L2 (−5,000 short), then half of L3 (+2,500 short) → net −2,500, no tax', () => {
    expect(saleOrder(lots, 'hifo')).toEqual([1, 2, 0]);
    const r = realise(lots, 1.5, 40_000, sold, { ...US, method: 'hifo' });
    expect(r.sales.map((s) => [s.acquired, s.qty, s.costBasis, s.gain, s.term])).toEqual([
      [lots[1]!.acquired, 1, 45_000, -5_000, 'short'],
      [lots[2]!.acquired, 0.5, 17_500, 2_500, 'short'],
    ]);
    expect(gainsOf(r.sales)).toEqual({ shortTerm: -2_500, longTerm: 0 });
    expect(taxOn(gainsOf(r.sales), US)).toBe(0);
    // The untouched lot L1 and what is left of L3 remain, in their order.
    expect(r.remaining).toEqual([lots[0], { ...lots[2]!, qty: 0.5 }]);
  });

  it('a sale larger than the lots reports the quantity no lot covers', () => {
    const r = realise(lots, 3.25, 40_000, sold, US);
    expect(r.sales.reduce((s, x) => s + x.qty, 0)).toBe(3);
    expect(r.uncovered).toBeCloseTo(0.25, 12);
    expect(r.remaining).toEqual([]);
  });
});

describe('lots: holding period', () => {
  const bought = t('2023-01-01T12:00:00Z');
  it('a lot bought 2023-01-01 is short-term on 2024-01-01 (365 days) and long-term on 2024-01-02, its 366th day', () => {
    expect(daysHeld(bought, t('2024-01-01T23:59:59Z'))).toBe(365);
    expect(termOf(bought, t('2024-01-01T23:59:59Z'), 365)).toBe('short');
    expect(daysHeld(bought, t('2024-01-02T00:00:00Z'))).toBe(366);
    expect(termOf(bought, t('2024-01-02T00:00:00Z'), 365)).toBe('long');
    expect(longTermFrom(bought, 365)).toBe(t('2024-01-02T00:00:00Z'));
    const lot: Lot[] = [{ acquired: bought, qty: 2, unitCost: 16_000 }];
    // Sold 1 at 42,000: gain 26,000, taxed 37 % the day before and 20 % on the 366th day.
    const before = realise(lot, 1, 42_000, t('2024-01-01T15:00:00Z'), US);
    const after = realise(lot, 1, 42_000, t('2024-01-02T15:00:00Z'), US);
    expect(taxOn(gainsOf(before.sales), US)).toBeCloseTo(9_620, 9);
    expect(taxOn(gainsOf(after.sales), US)).toBeCloseTo(5_200, 9);
    // Germany-like: tax-free on the 366th day.
    const DE = { ...US, shortTermRate: 0.42, longTermRate: 0 };
    expect(taxOn(gainsOf(after.sales), DE)).toBe(0);
    expect(taxOn(gainsOf(before.sales), DE)).toBeCloseTo(10_920, 9);
  });
  it('unrealised gains split by term at a date', () => {
    expect(unrealised(lots, 40_000, sold, 365)).toEqual({ shortTerm: -5_000 + 5_000, longTerm: 20_000 });
  });
});

describe('lots: tax with offsets', () => {
  it('a net long-term loss offsets short-term gains, and the reverse; a net loss gives no tax', () => {
    expect(taxOn({ shortTerm: 10_000, longTerm: -4_000 }, US)).toBeCloseTo(0.37 * 6_000, 9);
    expect(taxOn({ shortTerm: -3_000, longTerm: 10_000 }, US)).toBeCloseTo(0.2 * 7_000, 9);
    expect(taxOn({ shortTerm: -3_000, longTerm: -1 }, US)).toBe(0);
    expect(taxOn({ shortTerm: 1_000, longTerm: 2_000 }, US)).toBeCloseTo(370 + 400, 9);
  });
});
