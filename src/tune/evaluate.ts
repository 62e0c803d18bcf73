/**
 * The one place `ballast tune` calls the backtest engine: a grid cell's portfolio, run over (a window
 * of) the history as a policy of its own — the portfolio's rebalance and execution settings as the cell
 * sets them — reduced to the figures tuning compares.
 *
 * Total cost = fees + slippage − net funding (net funding = received − paid), in the quote currency,
 * including the purchase at the targets on the first bar (the same for every configuration). Basis
 * and tax are not counted: the engine does not report them yet.
 */
import { runPolicy, type BacktestOptions } from '../backtest/engine.js';
import { computeMetrics } from '../backtest/metrics.js';
import type { MarketHistory } from '../adapters/history/history.js';
import type { Portfolio } from '../core/types.js';

/** What total cost counts, in words (printed with every result). */
export const COST_COUNTED = 'total cost = fees + slippage − net funding (received − paid); basis and tax not counted';

export interface CellMetrics {
  bars: number;
  trackingError: number;
  timeInBand: number;
  totalCost: number;
  fees: number;
  slippage: number;
  fundingPaid: number;
  fundingReceived: number;
  turnover: number;
  rebalances: number;
  orders: number;
  liquidations: number;
  startEquity: number;
  finalEquity: number;
  cagr: number;
  maxDrawdown: number;
}

/** Runs `portfolio` (a cell applied to the user's portfolio) over `h` and returns its figures. */
export function evaluate(portfolio: Portfolio, h: MarketHistory, options: BacktestOptions): CellMetrics {
  // The series are not needed, only the metrics the engine accumulates over every bar: record 2 points.
  const run = runPolicy(portfolio, { name: 'tune', description: 'grid cell', portfolio }, h, { ...options, maxPoints: 2 });
  const m = computeMetrics(run.series, run.counters);
  return {
    bars: h.times.length,
    trackingError: m.trackingError,
    timeInBand: m.timeInBand,
    totalCost: m.fees + m.slippage - (m.fundingReceived - m.fundingPaid),
    fees: m.fees,
    slippage: m.slippage,
    fundingPaid: m.fundingPaid,
    fundingReceived: m.fundingReceived,
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
