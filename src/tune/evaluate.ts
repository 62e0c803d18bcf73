/**
 * The one place `ballast tune` calls the backtest engine: a grid cell's portfolio, run over (a window
 * of) the history as a policy of its own — the portfolio's rebalance and execution settings as the cell
 * sets them — reduced to the figures tuning compares.
 *
 * Total cost = fees + slippage − net funding (net funding = received − paid) + basis (what hedges lost
 * against a perfect hedge of their class: the backtest's cost line), in the quote currency, of
 * the trading after the start. Every run starts by buying the targets at the first bar's close; those
 * orders are the same for every configuration (they depend on the targets, not on bands or policy), so
 * their fees and slippage — a buy-and-hold run's — are taken out of `fees` and `slippage` and reported
 * apart (`initialFees`, `initialSlippage`). Without that, a six-month test window's cost would be mostly
 * the purchase every configuration makes. Tax is not counted: tax lots are not modelled.
 */
import { runPolicy, type BacktestOptions } from '../backtest/engine.js';
import { computeMetrics } from '../backtest/metrics.js';
import type { MarketHistory } from '../model/history.js';
import type { Portfolio } from '../core/types.js';

/** What total cost counts, in words (printed with every result). */
export const COST_COUNTED = 'total cost = fees + slippage − net funding (received − paid) + basis of hedges, after the initial purchase at the targets (the same for every configuration, reported apart); tax not counted (not modelled)';

export interface CellMetrics {
  bars: number;
  trackingError: number;
  timeInBand: number;
  totalCost: number;
  fees: number;
  slippage: number;
  fundingPaid: number;
  fundingReceived: number;
  /** What hedges lost (+) or gained (−) against a perfect hedge of their class (the backtest's basis line). */
  basis: number;
  /** Fees and slippage of the purchase at the targets on the first bar (not in `fees`, `slippage`, `totalCost`). */
  initialFees: number;
  initialSlippage: number;
  turnover: number;
  rebalances: number;
  orders: number;
  liquidations: number;
  startEquity: number;
  finalEquity: number;
  cagr: number;
  maxDrawdown: number;
}

export interface InitialCost {
  fees: number;
  slippage: number;
}

/** Fees and slippage of the first bar's purchase at the targets: what a buy-and-hold run pays. */
export function initialCost(base: Portfolio, h: MarketHistory, options: BacktestOptions): InitialCost {
  const run = runPolicy(base, { name: 'buy-and-hold', description: 'initial purchase', portfolio: null }, h, { ...options, maxPoints: 2 });
  return { fees: run.counters.fees, slippage: run.counters.slippage };
}

/** Runs `portfolio` (a cell applied to the user's portfolio) over `h` and returns its figures. */
export function evaluate(portfolio: Portfolio, h: MarketHistory, options: BacktestOptions, initial: InitialCost): CellMetrics {
  // The series are not needed, only the metrics the engine accumulates over every bar: record 2 points.
  const run = runPolicy(portfolio, { name: 'tune', description: 'grid cell', portfolio }, h, { ...options, maxPoints: 2 });
  const m = computeMetrics(run.series, run.counters, run.extras);
  return {
    bars: h.times.length,
    trackingError: m.trackingError,
    timeInBand: m.timeInBand,
    totalCost: m.fees - initial.fees + (m.slippage - initial.slippage) - (m.fundingReceived - m.fundingPaid) + m.costs.basis,
    fees: m.fees - initial.fees,
    slippage: m.slippage - initial.slippage,
    fundingPaid: m.fundingPaid,
    fundingReceived: m.fundingReceived,
    basis: m.costs.basis,
    initialFees: initial.fees,
    initialSlippage: initial.slippage,
    turnover: m.turnover,
    rebalances: m.rebalances,
    orders: m.orders,
    liquidations: m.liquidations,
    startEquity: m.startEquity,
    finalEquity: m.finalEquity,
    cagr: m.cagr,
    maxDrawdown: m.maxDrawdown,
  };
}
