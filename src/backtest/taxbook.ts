/**
 * The backtest's tax lots (one account): every spot buy is a lot (unit cost = fill price + fee), every
 * spot sell realises lots under the portfolio's `tax.method` (src/core/lots.ts). Realised perp P&L, perp
 * fees and funding are summed per calendar year of the fill or settlement.
 *
 * Tax of a run = Σ per year [ taxOn(that year's short and long gains) + futuresRate × max(0, that year's
 * realised perp P&L − perp fees + funding received − funding paid) ]. No loss is carried into the next
 * year (conservative: the tax can only be higher than with carry-forward).
 */
import { acquire, futuresTax, gainsOf, realise, taxOn, unrealised, yearOf, type Gains, type Lot, type LotSale, type TaxConfig } from '../core/lots.js';
import type { AccountLot } from '../core/types.js';

export interface TaxSale extends LotSale {
  asset: string;
}

export interface TaxYear {
  year: number;
  shortTerm: number;
  longTerm: number;
  /** Tax on the year's spot gains. */
  spotTax: number;
  /** Realised perp P&L of closes, less perp fees. */
  perpPnl: number;
  /** Funding received − paid. */
  funding: number;
  /** futuresRate × max(0, perpPnl + funding). */
  futuresTax: number;
}

export interface TaxSummary {
  config: TaxConfig;
  sales: TaxSale[];
  years: TaxYear[];
  realised: Gains;
  /** Σ years' spot tax + futures tax. */
  tax: number;
  /** Gains of the lots still held at the end, by term as of the last bar (not charged). */
  unrealised: Gains;
}

export class TaxBook {
  private readonly lots: Lot[][];
  readonly sales: TaxSale[] = [];
  /** Quantity sold with no lot to cover it (unknown cost basis), by asset. */
  readonly uncovered: Record<string, number> = {};
  private readonly perp = new Map<number, { pnl: number; funding: number }>();

  constructor(
    readonly config: TaxConfig,
    /** Ledger asset names (index 0 is the quote, which has no lots). */
    readonly assets: readonly string[],
  ) {
    this.lots = assets.map(() => []);
  }

  buy(asset: number, time: number, qty: number, unitCost: number): void {
    if (asset === 0) return;
    this.lots[asset] = acquire(this.lots[asset]!, { acquired: time, qty, unitCost });
  }

  sell(asset: number, time: number, qty: number, unitProceeds: number): void {
    if (asset === 0) return;
    const r = realise(this.lots[asset]!, qty, unitProceeds, time, this.config);
    this.lots[asset] = r.remaining;
    for (const s of r.sales) this.sales.push({ asset: this.assets[asset]!, ...s });
    // In a backtest every unit held was bought by it; a journal may sell coins bought before it began.
    if (r.uncovered > 1e-9 * qty) this.uncovered[this.assets[asset]!] = (this.uncovered[this.assets[asset]!] ?? 0) + r.uncovered;
  }

  /** Realised perp P&L (already net of the fill's fee) of a fill at `time`. */
  perpPnl(time: number, pnl: number): void {
    const y = this.year(time);
    y.pnl += pnl;
  }

  /** Funding settled at `time` (positive = received). */
  funding(time: number, amount: number): void {
    this.year(time).funding += amount;
  }

  private year(time: number): { pnl: number; funding: number } {
    const y = yearOf(time);
    let e = this.perp.get(y);
    if (!e) {
      e = { pnl: 0, funding: 0 };
      this.perp.set(y, e);
    }
    return e;
  }

  /** The lots as a snapshot account's `lots` (for the planner). */
  accountLots(): AccountLot[] {
    const out: AccountLot[] = [];
    this.lots.forEach((ls, a) => {
      for (const l of ls) out.push({ asset: this.assets[a]!, acquired: l.acquired, qty: l.qty, unitCost: l.unitCost });
    });
    return out;
  }

  /** Totals at the end of the run, with `prices` by ledger asset index at time `end`. */
  summary(end: number, prices: ArrayLike<number>): TaxSummary {
    const years = new Map<number, TaxSale[]>();
    for (const s of this.sales) {
      const y = yearOf(s.sold);
      const list = years.get(y) ?? [];
      list.push(s);
      years.set(y, list);
    }
    const all = [...new Set([...years.keys(), ...this.perp.keys()])].sort((a, b) => a - b);
    const out: TaxYear[] = all.map((year) => {
      const g = gainsOf(years.get(year) ?? []);
      const p = this.perp.get(year) ?? { pnl: 0, funding: 0 };
      return {
        year,
        shortTerm: g.shortTerm,
        longTerm: g.longTerm,
        spotTax: taxOn(g, this.config),
        perpPnl: p.pnl,
        funding: p.funding,
        futuresTax: futuresTax(p.pnl + p.funding, this.config),
      };
    });
    const realised = gainsOf(this.sales);
    const un: Gains = { shortTerm: 0, longTerm: 0 };
    this.lots.forEach((ls, a) => {
      if (a === 0 || ls.length === 0) return;
      const g = unrealised(ls, prices[a]!, end, this.config.longTermAfterDays);
      un.shortTerm += g.shortTerm;
      un.longTerm += g.longTerm;
    });
    return {
      config: this.config,
      sales: this.sales,
      years: out,
      realised,
      tax: out.reduce((s, y) => s + y.spotTax + y.futuresTax, 0),
      unrealised: un,
    };
  }
}
