/**
 * Performance and allocation metrics of one backtested policy. Pure functions, no I/O.
 *
 * Definitions (n bars, equity E[0..n−1] at bar closes, times t[0..n−1] in ms):
 *
 * - Returns: simple bar-to-bar returns r[i] = E[i] / E[i−1] − 1 for i = 1..n−1. A return whose
 *   previous equity is ≤ 0 is undefined and left out.
 * - Periods per year P = 365 × 86 400 000 / (median of t[i] − t[i−1]). (Daily bars: 365; hourly: 8 760.)
 * - Volatility = sample standard deviation of the returns (divisor count − 1) × √P; 0 with fewer
 *   than two returns.
 * - Sharpe = mean(r) / stdev(r) × √P, risk-free rate 0; 0 when stdev is 0 or there are fewer than
 *   two returns.
 * - Total return = E[n−1] / E[0] − 1.
 * - CAGR = (E[n−1] / E[0]) ^ (365.25 days / (t[n−1] − t[0])) − 1; 0 when no time elapsed; −1 when
 *   the final equity is ≤ 0.
 * - Max drawdown = max over i of (peak[i] − E[i]) / peak[i] with peak[i] = max(E[0..i]), a positive
 *   fraction (0.25 = the equity fell 25 % below its running peak).
 * - Time in band = share of bars at which every class's weight is within [lower, upper] (inclusive,
 *   with a tolerance of 1e-9 for float rounding at the band edge).
 * - Tracking error = √( mean over bars of Σ_classes (weight − target)² ), a fraction.
 * - Funding (net) = fundingReceived − fundingPaid (both counters are non-negative amounts).
 *
 * ## Series at bounded resolution, metrics from every bar
 *
 * The backtester records its series (equity, weights, hedge notional, funding) at a bounded number of
 * points — every bar up to `BacktestOptions.maxPoints` bars, else every k-th bar plus the last — because
 * a chart cannot show more and writing every minute bar of a year costs more than the run itself. The
 * metrics are NOT computed from those points: the engine accumulates them over every bar while it runs
 * (`RunSummary`), with the definitions above and the same order of operations (returns mean as Σr / n,
 * drawdown peak by peak, time in band and tracking error bar by bar, class by class). The one difference
 * is the variance of the returns: accumulated with Welford's update (one pass) instead of the two-pass
 * Σ(r − mean)², equal to ~1e-15 relative. `computeMetrics` uses the summary when the series has one,
 * else (a series built by hand, every bar present) the series itself.
 */
import type { TaxSummary } from './taxbook.js';

/** Metrics accumulated over every bar of a run, whatever resolution its series were recorded at. */
export interface RunSummary {
  /** Bars in the run. */
  bars: number;
  /** Every bar's time (ms), for the periods per year. */
  barTimes: ArrayLike<number>;
  startEquity: number;
  finalEquity: number;
  /** Defined returns (previous equity > 0), their sum and Welford's Σ(r − mean)². */
  returns: number;
  returnsSum: number;
  returnsM2: number;
  maxDrawdown: number;
  /** Bars with every class inside its band (±BAND_EPSILON). */
  barsInBand: number;
  /** Σ over bars of Σ over classes (weight − target)², in that order. */
  trackingSumSq: number;
}

export interface PolicySeries {
  name: string;
  description: string;
  /** ms, one per recorded point (every bar, or every k-th bar plus the last: see `points`). */
  times: Float64Array;
  /** Bar index of each recorded point; absent when every bar is recorded. */
  points?: Int32Array;
  /** Metrics over every bar (the engine's); absent: computed from the series, which then holds every bar. */
  summary?: RunSummary;
  /** Time and equity at each rebalance bar (aligned with `rebalanceBars`); absent: read from the series. */
  rebalanceTimes?: number[];
  rebalanceEquity?: number[];
  /** TPV at each recorded bar close. */
  equity: Float64Array;
  classNames: string[];
  targets: number[];
  lower: number[];
  upper: number[];
  /** Per class, net weight at each bar (fractions). */
  weights: Float64Array[];
  /** Per class, signed futures notional at each bar. */
  hedgeNotional: Float64Array[];
  /** Cumulative funding received − paid. */
  cumFunding: Float64Array;
  /** Bar indices (in the run's bars, not the recorded points) where the policy traded. */
  rebalanceBars: number[];
}

export interface PolicyCounters {
  rebalances: number;
  turnover: number;
  /** All fees (spot + perp). */
  fees: number;
  /** All slippage (spot + perp). */
  slippage: number;
  /** Of `fees` and `slippage`, the perp part. */
  perpFees: number;
  perpSlippage: number;
  fundingPaid: number;
  fundingReceived: number;
  /**
   * P&L of the hedges against a perfect hedge of their class: Σ over bars of hedge notional × (perp return −
   * the class's spot return). It is in the equity already; as a cost line it counts with the opposite sign.
   * For a class hedged by its own asset's perp it is the perp/spot basis; for a proxy hedge (a class hedged
   * by another asset's perp) it is mostly the two assets' different moves.
   */
  basisPnl: number;
  liquidations: number;
  orders: number;
}

/** How the policy's hedges lived and ended. */
export interface HedgeStats {
  opened: number;
  /** Median life of closed hedges, in bars (0 when none closed). */
  medianLifeBars: number;
  closedBy: { unwound: number; converted: number; cutForMargin: number; cutForFunding: number; cutForCap: number; liquidated: number };
  /** Hedges opened on the bar right after a hedge on the same perp was closed. */
  reopenedNextBar: number;
  /** Still open at the end. */
  openAtEnd: number;
  /** Per perp: bars a hedge was held and, of those, bars with a known funding rate. */
  fundingCoverage: Record<string, { heldBars: number; knownFundingBars: number }>;
}

/** Why a bar ended with some class outside its band. */
export interface OutOfBandBars {
  total: number;
  byCause: {
    /** Calendar or hybrid policy between its checks (or buy-and-hold, which never trades). */
    notDue: number;
    /** The plan waited (a futures leg refused with hedges.onRefused: wait, or nothing to trade). */
    waited: number;
    /** Buys scaled down: not enough free quote after margin. */
    cashShort: number;
    /** Orders dropped below the venue minimums. */
    ordersDropped: number;
    /** Orders decided at the close wait for the next bar's open (--fill next-open). */
    pendingFill: number;
    /** Traded, and fees, lot rounding or a band-edge destination left a class just outside. */
    afterTrade: number;
  };
}

export interface PolicyExtras {
  hedges: HedgeStats;
  /** Lots, realised gains and tax of the run (with `tax:` only). */
  tax?: TaxSummary;
  outOfBand: OutOfBandBars;
}

/** Every cost line of a policy in the quote currency (positive = a cost). */
export interface CostLines {
  spotFees: number;
  perpFees: number;
  /** Spot and perp slippage. */
  slippage: number;
  fundingPaid: number;
  fundingReceived: number;
  /** −basisPnl: what the hedges lost against a perfect hedge of their class. */
  basis: number;
  /** Tax on realised spot gains and perp P&L, per calendar year (0 when tax is not modelled, see `taxModelled`). */
  tax: number;
  /** spotFees + perpFees + slippage + fundingPaid − fundingReceived + basis + tax. */
  total: number;
}

export interface PolicyMetrics extends PolicyCounters {
  name: string;
  description: string;
  startEquity: number;
  finalEquity: number;
  totalReturn: number;
  cagr: number;
  volatility: number;
  sharpe: number;
  maxDrawdown: number;
  timeInBand: number;
  trackingError: number;
  /** Net funding: received − paid. */
  funding: number;
  costs: CostLines;
  /** True when the portfolio has a `tax:` section; else realised gains and tax are 0 and say so. */
  taxModelled: boolean;
  realisedGains: { shortTerm: number; longTerm: number };
  /** Gains of the lots still held at the end (shown, not charged). */
  unrealisedGains: { shortTerm: number; longTerm: number };
  /** Final equity less the tax on gains realised during the run (= finalEquity when tax is not modelled). */
  afterTaxFinalEquity: number;
  hedges: HedgeStats;
  outOfBandBars: OutOfBandBars;
}

export function costLines(c: PolicyCounters, tax = 0): CostLines {
  const spotFees = c.fees - c.perpFees;
  const basis = 0 - c.basisPnl; // never −0 (JSON would read it back as 0)
  const total = spotFees + c.perpFees + c.slippage + c.fundingPaid - c.fundingReceived + basis + tax;
  return { spotFees, perpFees: c.perpFees, slippage: c.slippage, fundingPaid: c.fundingPaid, fundingReceived: c.fundingReceived, basis, tax, total };
}

/** Extras of a run that never hedged and never left its band (hand-built series). */
export function emptyExtras(): PolicyExtras {
  return {
    hedges: { opened: 0, medianLifeBars: 0, closedBy: { unwound: 0, converted: 0, cutForMargin: 0, cutForFunding: 0, cutForCap: 0, liquidated: 0 }, reopenedNextBar: 0, openAtEnd: 0, fundingCoverage: {} },
    outOfBand: { total: 0, byCause: { notDue: 0, waited: 0, cashShort: 0, ordersDropped: 0, pendingFill: 0, afterTrade: 0 } },
  };
}

export const MS_PER_DAY = 86_400_000;
/** Tolerance for "within the band" (weights are fractions). */
export const BAND_EPSILON = 1e-9;

/** Simple bar-to-bar returns (returns after a non-positive equity are left out). */
export function simpleReturns(equity: ArrayLike<number>): number[] {
  const r: number[] = [];
  for (let i = 1; i < equity.length; i++) {
    const prev = equity[i - 1]!;
    if (prev > 0) r.push(equity[i]! / prev - 1);
  }
  return r;
}

/** 365 days divided by the median bar spacing; NaN with fewer than two bars. */
export function periodsPerYear(times: ArrayLike<number>): number {
  if (times.length < 2) return NaN;
  // Evenly spaced bars (the common case): the median is that spacing, no sort needed.
  const d0 = times[1]! - times[0]!;
  let even = true;
  for (let i = 2; i < times.length && even; i++) if (times[i]! - times[i - 1]! !== d0) even = false;
  if (even) return d0 > 0 ? (365 * MS_PER_DAY) / d0 : NaN;
  const d: number[] = [];
  for (let i = 1; i < times.length; i++) d.push(times[i]! - times[i - 1]!);
  d.sort((a, b) => a - b);
  const m = d.length >> 1;
  const med = d.length % 2 ? d[m]! : (d[m - 1]! + d[m]!) / 2;
  return med > 0 ? (365 * MS_PER_DAY) / med : NaN;
}

export function mean(xs: ArrayLike<number>): number {
  if (xs.length === 0) return 0;
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return s / xs.length;
}

/** Sample standard deviation (divisor n − 1); 0 with fewer than two values. */
export function sampleStdev(xs: ArrayLike<number>): number {
  const n = xs.length;
  if (n < 2) return 0;
  const m = mean(xs);
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (xs[i]! - m) ** 2;
  return Math.sqrt(ss / (n - 1));
}

export function volatility(returns: ArrayLike<number>, ppy: number): number {
  if (returns.length < 2 || !Number.isFinite(ppy)) return 0;
  return sampleStdev(returns) * Math.sqrt(ppy);
}

export function sharpe(returns: ArrayLike<number>, ppy: number): number {
  if (returns.length < 2 || !Number.isFinite(ppy)) return 0;
  const sd = sampleStdev(returns);
  if (sd === 0) return 0;
  return (mean(returns) / sd) * Math.sqrt(ppy);
}

export function cagr(startEquity: number, finalEquity: number, elapsedMs: number): number {
  if (!(elapsedMs > 0) || !(startEquity > 0)) return 0;
  if (finalEquity <= 0) return -1;
  return (finalEquity / startEquity) ** ((365.25 * MS_PER_DAY) / elapsedMs) - 1;
}

/** Largest fall below the running peak, as a positive fraction of the peak. */
export function maxDrawdown(equity: ArrayLike<number>): number {
  let peak = -Infinity;
  let dd = 0;
  for (let i = 0; i < equity.length; i++) {
    const e = equity[i]!;
    if (e > peak) peak = e;
    if (peak > 0) {
      const d = (peak - e) / peak;
      if (d > dd) dd = d;
    }
  }
  return dd;
}

/** Share of bars at which every class is within [lower, upper] (±BAND_EPSILON). */
export function timeInBand(weights: ArrayLike<number>[], lower: number[], upper: number[], bars: number): number {
  if (bars === 0) return 0;
  let inside = 0;
  for (let i = 0; i < bars; i++) {
    let ok = true;
    for (let c = 0; c < weights.length; c++) {
      const w = weights[c]![i]!;
      if (!(w >= lower[c]! - BAND_EPSILON && w <= upper[c]! + BAND_EPSILON)) {
        ok = false;
        break;
      }
    }
    if (ok) inside++;
  }
  return inside / bars;
}

/** √(mean over bars of Σ_classes (weight − target)²). */
export function trackingError(weights: ArrayLike<number>[], targets: number[], bars: number): number {
  if (bars === 0) return 0;
  let sum = 0;
  for (let i = 0; i < bars; i++) {
    for (let c = 0; c < weights.length; c++) sum += (weights[c]![i]! - targets[c]!) ** 2;
  }
  return Math.sqrt(sum / bars);
}

/** Welford's update of (count, mean, M2) with x, in a 3-element array — the engine's online variance. */
export function welford(state: Float64Array, x: number): void {
  const n = state[0]! + 1;
  const d = x - state[1]!;
  const m = state[1]! + d / n;
  state[0] = n;
  state[1] = m;
  state[2] = state[2]! + d * (x - m);
}

/** The metrics of a run from its summary (accumulated over every bar). */
export function summaryMetrics(s: PolicySeries, sum: RunSummary, c: PolicyCounters, capital?: number): BaseMetrics {
  const n = sum.bars;
  const startEquity = capital ?? sum.startEquity;
  const ppy = periodsPerYear(sum.barTimes);
  const elapsed = n > 1 ? sum.barTimes[n - 1]! - sum.barTimes[0]! : 0;
  const count = sum.returns;
  const ok = count >= 2 && Number.isFinite(ppy);
  const sd = ok ? Math.sqrt(sum.returnsM2 / (count - 1)) : 0;
  const meanR = count > 0 ? sum.returnsSum / count : 0;
  return {
    name: s.name,
    description: s.description,
    ...c,
    startEquity,
    finalEquity: sum.finalEquity,
    totalReturn: startEquity > 0 ? sum.finalEquity / startEquity - 1 : 0,
    cagr: cagr(startEquity, sum.finalEquity, elapsed),
    volatility: ok ? sd * Math.sqrt(ppy) : 0,
    sharpe: ok && sd !== 0 ? (meanR / sd) * Math.sqrt(ppy) : 0,
    maxDrawdown: sum.maxDrawdown,
    timeInBand: n === 0 ? 0 : sum.barsInBand / n,
    trackingError: n === 0 ? 0 : Math.sqrt(sum.trackingSumSq / n),
    funding: c.fundingReceived - c.fundingPaid,
  };
}

/**
 * `capital`: what the user put in. Given, total return and CAGR are measured from it — the initial purchase's
 * fees count against the returns — rather than from the equity after that purchase (the series' first point).
 * `extras`: the run's hedge statistics and out-of-band bars (a hand-built series has none).
 */
export function computeMetrics(s: PolicySeries, c: PolicyCounters, extras: PolicyExtras = emptyExtras(), capital?: number): PolicyMetrics {
  const base = baseMetrics(s, c, capital);
  const t = extras.tax;
  return {
    ...base,
    costs: costLines(c, t ? t.tax : 0),
    taxModelled: t !== undefined,
    realisedGains: t ? { ...t.realised } : { shortTerm: 0, longTerm: 0 },
    unrealisedGains: t ? { ...t.unrealised } : { shortTerm: 0, longTerm: 0 },
    afterTaxFinalEquity: base.finalEquity - (t ? t.tax : 0),
    hedges: extras.hedges,
    outOfBandBars: extras.outOfBand,
  };
}

type BaseMetrics = Omit<PolicyMetrics, 'costs' | 'taxModelled' | 'realisedGains' | 'unrealisedGains' | 'afterTaxFinalEquity' | 'hedges' | 'outOfBandBars'>;

function baseMetrics(s: PolicySeries, c: PolicyCounters, capital?: number): BaseMetrics {
  if (s.summary) return summaryMetrics(s, s.summary, c, capital);
  const n = s.equity.length;
  const startEquity = capital ?? (n > 0 ? s.equity[0]! : 0);
  const finalEquity = n > 0 ? s.equity[n - 1]! : 0;
  const returns = simpleReturns(s.equity);
  const ppy = periodsPerYear(s.times);
  const elapsed = n > 1 ? s.times[n - 1]! - s.times[0]! : 0;
  return {
    name: s.name,
    description: s.description,
    ...c,
    startEquity,
    finalEquity,
    totalReturn: startEquity > 0 ? finalEquity / startEquity - 1 : 0,
    cagr: cagr(startEquity, finalEquity, elapsed),
    volatility: volatility(returns, ppy),
    sharpe: sharpe(returns, ppy),
    maxDrawdown: maxDrawdown(s.equity),
    timeInBand: timeInBand(s.weights, s.lower, s.upper, n),
    trackingError: trackingError(s.weights, s.targets, n),
    funding: c.fundingReceived - c.fundingPaid,
  };
}
