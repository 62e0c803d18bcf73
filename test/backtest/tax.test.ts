/**
 * Tax in the backtest: the tax book by hand, and a run on the bundled history whose tax lines add up
 * to the lots its fills realised.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPortfolio } from '../../src/adapters/files/portfolio.js';
import type { BacktestFill } from '../../src/backtest/engine.js';
import { runBacktest } from '../../src/backtest/run.js';
import { TaxBook } from '../../src/backtest/taxbook.js';
import { taxOn, type TaxConfig } from '../../src/core/lots.js';
import type { Portfolio } from '../../src/core/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DATA = join(ROOT, 'data');
const US: TaxConfig = { method: 'hifo', shortTermRate: 0.37, longTermRate: 0.2, longTermAfterDays: 365, futuresRate: 0.37 };
const t = (iso: string) => Date.parse(iso);

describe('tax book (by hand)', () => {
  it('HIFO lots from fills, gains and tax per calendar year, perp P&L and funding taxed per year', () => {
    const b = new TaxBook(US, ['USDT', 'BTC']);
    b.buy(1, t('2021-01-10T00:00:00Z'), 1, 10_010);
    b.buy(1, t('2021-06-01T00:00:00Z'), 1, 20_020);
    // 2021-12-01: sell 1 at 29,970 net: HIFO takes the 20,020 lot, short-term gain 9,950.
    b.sell(1, t('2021-12-01T00:00:00Z'), 1, 29_970);
    // 2022-02-01: sell 0.5 at 40,000 net: the 2021-01-10 lot, held 387 days, long-term gain 0.5 × 29,990 = 14,995.
    b.sell(1, t('2022-02-01T00:00:00Z'), 0.5, 40_000);
    b.perpPnl(t('2021-07-01T00:00:00Z'), -1_000);
    b.funding(t('2021-08-01T00:00:00Z'), 300);
    b.perpPnl(t('2022-03-01T00:00:00Z'), 2_000);
    const s = b.summary(t('2022-06-01T00:00:00Z'), [1, 50_000]);
    expect(s.years.map((y) => [y.year, y.shortTerm, y.longTerm, y.perpPnl, y.funding])).toEqual([
      [2021, 9_950, 0, -1_000, 300],
      [2022, 0, 14_995, 2_000, 0],
    ]);
    expect(s.years[0]!.spotTax).toBeCloseTo(3_681.5, 9);
    expect(s.years[0]!.futuresTax).toBe(0); // net perp −700: no tax, not carried forward
    expect(s.years[1]!.spotTax).toBeCloseTo(2_999, 9);
    expect(s.years[1]!.futuresTax).toBeCloseTo(740, 9);
    expect(s.tax).toBeCloseTo(3_681.5 + 2_999 + 740, 9);
    expect(s.realised).toEqual({ shortTerm: 9_950, longTerm: 14_995 });
    // 0.5 BTC left from 2021-01-10 at 50,000 on 2022-06-01: long-term unrealised 0.5 × 39,990.
    expect(s.unrealised).toEqual({ shortTerm: 0, longTerm: 19_995 });
    expect(b.accountLots()).toEqual([{ asset: 'BTC', acquired: t('2021-01-10T00:00:00Z'), qty: 0.5, unitCost: 10_010 }]);
  });
});

describe('tax in a backtest run', () => {
  const base = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
  const taxed: Portfolio = { ...base, tax: US };
  const from = Date.UTC(2021, 0, 1);
  const to = Date.UTC(2022, 11, 31);

  it('realised gains are those of the sells, tax is in the total cost, after-tax equity = final − tax; without tax: nothing changes', () => {
    const fills: { policy: string; f: BacktestFill }[] = [];
    const r = runBacktest({ portfolio: taxed, dataDir: DATA, interval: '1d', from, to, policies: ['threshold', 'tax-aware', 'hedge-bridge'], options: {}, onFill: (policy, f) => fills.push({ policy, f }) });
    const plain = runBacktest({ portfolio: base, dataDir: DATA, interval: '1d', from, to, policies: ['threshold'], options: {} });
    for (const m of r.metrics) {
      const s = r.tax[m.name]!;
      expect(m.taxModelled).toBe(true);
      expect(m.realisedGains).toEqual(s.realised);
      expect(m.costs.tax).toBeCloseTo(s.tax, 6);
      expect(m.afterTaxFinalEquity).toBeCloseTo(m.finalEquity - s.tax, 6);
      const spot = fills.filter((x) => x.policy === m.name && !x.f.symbol.includes(':'));
      // Every unit sold on spot was realised from a lot (the initial allocation is a fill too).
      const soldQty = spot.filter((x) => x.f.side === 'sell').reduce((a, x) => a + x.f.qty, 0);
      expect(s.sales.reduce((a, x) => a + x.qty, 0)).toBeCloseTo(soldQty, 6);
      const byYear = new Map<number, { shortTerm: number; longTerm: number }>();
      for (const x of s.sales) {
        const y = new Date(x.sold).getUTCFullYear();
        const g = byYear.get(y) ?? { shortTerm: 0, longTerm: 0 };
        if (x.term === 'long') g.longTerm += x.gain;
        else g.shortTerm += x.gain;
        byYear.set(y, g);
      }
      for (const y of s.years) expect(y.spotTax).toBeCloseTo(taxOn(byYear.get(y.year) ?? { shortTerm: 0, longTerm: 0 }, US), 6);
    }
    // Threshold is spot-only: its fills and equity do not depend on tax.
    const th = r.metrics.find((m) => m.name === 'threshold')!;
    expect(th.finalEquity).toBeCloseTo(plain.metrics[0]!.finalEquity, 6);
    expect(plain.metrics[0]!.taxModelled).toBe(false);
    expect(plain.metrics[0]!.costs.tax).toBe(0);
    expect(th.costs.total).toBeCloseTo(plain.metrics[0]!.costs.total + th.costs.tax, 6);
    expect(r.metrics.map((m) => m.name)).toContain('tax-aware');
  });
});
