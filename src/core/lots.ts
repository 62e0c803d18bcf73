/**
 * Tax lots: which lots a spot sale realises, their gains, short or long term, and the tax. Pure.
 *
 * A lot is one acquisition of an asset on an account: when, how much, and its unit cost in the quote
 * currency including the buy fee. A sale takes quantity from the lots in the order of the method:
 *   fifo  oldest acquired first;
 *   lifo  newest acquired first;
 *   hifo  highest unit cost first (so losses, then the smallest gains, are realised first).
 * Ties keep the earlier-acquired lot first.
 *
 * Holding period: whole UTC calendar days from the acquisition day to the sale day. A gain is long-term
 * when the lot was held MORE than `longTermAfterDays` days, i.e. from day longTermAfterDays + 1 on:
 * with 365, a lot bought 2023-01-01 is short-term when sold on 2024-01-01 (365 days) and long-term
 * when sold on 2024-01-02 (its 366th day).
 *
 * Tax on a set of realised gains (one plan, or one calendar year of a backtest):
 *   net short = Σ short-term gains − losses; net long = Σ long-term gains − losses;
 *   a net loss in one term offsets the other term's net gain (short-term first, as in the US);
 *   tax = shortTermRate × max(0, short after offset) + longTermRate × max(0, long after offset).
 * A remaining net loss is not carried forward and never gives a negative tax.
 */

export type LotMethod = 'fifo' | 'lifo' | 'hifo';
export const LOT_METHODS: readonly LotMethod[] = ['fifo', 'lifo', 'hifo'];

export interface TaxConfig {
  method: LotMethod;
  /** Rate on net short-term gains (fraction). */
  shortTermRate: number;
  /** Rate on net long-term gains (fraction; 0 where long-held coins are tax-free). */
  longTermRate: number;
  /** A lot is long-term when held more than this many days. */
  longTermAfterDays: number;
  /** Rate on net realised perp P&L and funding (fraction). */
  futuresRate: number;
}

export interface Lot {
  /** Epoch ms of the acquisition. */
  acquired: number;
  qty: number;
  /** Cost per unit in the quote currency, buy fee included. */
  unitCost: number;
}

export type Term = 'short' | 'long';

export interface LotSale {
  acquired: number;
  sold: number;
  qty: number;
  costBasis: number;
  proceeds: number;
  gain: number;
  term: Term;
  /** Whole UTC days held. */
  heldDays: number;
}

export interface Realised {
  sales: LotSale[];
  /** Lots left, in their original order. */
  remaining: Lot[];
  /** Quantity sold that no lot covers (unknown cost basis); 0 when the lots cover the sale. */
  uncovered: number;
}

export interface Gains {
  shortTerm: number;
  longTerm: number;
}

const DAY = 86_400_000;
/** Quantities below this are float noise. */
const QTY_EPS = 1e-12;

/** Whole UTC calendar days between two instants (sale day − acquisition day). */
export function daysHeld(acquired: number, sold: number): number {
  return Math.floor(sold / DAY) - Math.floor(acquired / DAY);
}

export function termOf(acquired: number, sold: number, longTermAfterDays: number): Term {
  return daysHeld(acquired, sold) > longTermAfterDays ? 'long' : 'short';
}

/** The first instant (UTC midnight) at which a lot acquired at `acquired` is long-term. */
export function longTermFrom(acquired: number, longTermAfterDays: number): number {
  return (Math.floor(acquired / DAY) + longTermAfterDays + 1) * DAY;
}

/** Indices of `lots` in the order a sale takes them under `method`. */
export function saleOrder(lots: readonly Lot[], method: LotMethod): number[] {
  const idx = lots.map((_, i) => i);
  const byAcq = (a: number, b: number) => lots[a]!.acquired - lots[b]!.acquired || a - b;
  if (method === 'fifo') return idx.sort(byAcq);
  if (method === 'lifo') return idx.sort((a, b) => lots[b]!.acquired - lots[a]!.acquired || a - b);
  return idx.sort((a, b) => lots[b]!.unitCost - lots[a]!.unitCost || byAcq(a, b));
}

/**
 * Sell `qty` out of `lots` at `unitProceeds` per unit (net of the sell fee) at time `sold`. Pure: the
 * input lots are not changed.
 */
export function realise(lots: readonly Lot[], qty: number, unitProceeds: number, sold: number, tax: Pick<TaxConfig, 'method' | 'longTermAfterDays'>): Realised {
  const left = lots.map((l) => ({ ...l }));
  const sales: LotSale[] = [];
  let need = qty;
  for (const i of saleOrder(lots, tax.method)) {
    if (need <= QTY_EPS) break;
    const lot = left[i]!;
    if (lot.qty <= QTY_EPS) continue;
    const take = Math.min(lot.qty, need);
    lot.qty -= take;
    need -= take;
    const costBasis = take * lot.unitCost;
    const proceeds = take * unitProceeds;
    sales.push({
      acquired: lot.acquired,
      sold,
      qty: take,
      costBasis,
      proceeds,
      gain: proceeds - costBasis,
      term: termOf(lot.acquired, sold, tax.longTermAfterDays),
      heldDays: daysHeld(lot.acquired, sold),
    });
  }
  return { sales, remaining: left.filter((l) => l.qty > QTY_EPS), uncovered: need > QTY_EPS ? need : 0 };
}

export function gainsOf(sales: readonly LotSale[]): Gains {
  let shortTerm = 0;
  let longTerm = 0;
  for (const s of sales) {
    if (s.term === 'long') longTerm += s.gain;
    else shortTerm += s.gain;
  }
  return { shortTerm, longTerm };
}

/** Tax on net gains of one period, with the offsets described in the header. */
export function taxOn(g: Gains, tax: Pick<TaxConfig, 'shortTermRate' | 'longTermRate'>): number {
  let st = g.shortTerm;
  let lt = g.longTerm;
  if (st < 0 && lt > 0) {
    lt = Math.max(0, lt + st);
    st = 0;
  } else if (lt < 0 && st > 0) {
    st = Math.max(0, st + lt);
    lt = 0;
  }
  return tax.shortTermRate * Math.max(0, st) + tax.longTermRate * Math.max(0, lt);
}

/** Tax on net realised perp P&L and funding of one period (a net loss gives 0). */
export function futuresTax(netPnl: number, tax: Pick<TaxConfig, 'futuresRate'>): number {
  return tax.futuresRate * Math.max(0, netPnl);
}

/** Add a purchase to the lots (a new lot; the input is not changed). */
export function acquire(lots: readonly Lot[], lot: Lot): Lot[] {
  return lot.qty > QTY_EPS ? [...lots, { ...lot }] : [...lots];
}

/** Unrealised gains of the lots at `price`, split by term as of `now`. */
export function unrealised(lots: readonly Lot[], price: number, now: number, longTermAfterDays: number): Gains {
  const g = { shortTerm: 0, longTerm: 0 };
  for (const l of lots) {
    const gain = l.qty * (price - l.unitCost);
    if (termOf(l.acquired, now, longTermAfterDays) === 'long') g.longTerm += gain;
    else g.shortTerm += gain;
  }
  return g;
}

/** Per calendar year (UTC) of the sale. */
export function yearOf(t: number): number {
  return new Date(t).getUTCFullYear();
}
