/**
 * One unit of work of a sweep: a grid cell run over a window of bars. The same function runs it in a
 * worker thread and in the main thread (`--workers 0`), so the results cannot depend on where it ran.
 */
import type { BacktestOptions } from '../backtest/engine.js';
import type { MarketHistory } from '../model/history.js';
import type { Portfolio } from '../core/types.js';
import { evaluate, initialCost, type CellMetrics, type InitialCost } from './evaluate.js';
import { applyCell, type Cell } from './grid.js';
import { sliceHistory } from './shared-history.js';

export interface Task {
  /** Position of the task in the sweep (results are reported by it). */
  id: number;
  cell: Cell;
  /** Bars [from, to) of the shared history. */
  from: number;
  to: number;
}

export interface TaskResult {
  id: number;
  metrics: CellMetrics;
}

/** What every task of a sweep shares: the user's portfolio and the engine options. */
export interface SweepContext {
  portfolio: Portfolio;
  options: BacktestOptions;
}

/** Runs tasks against one history, keeping each window's sliced view for the next task on it. */
export class TaskRunner {
  private readonly windows = new Map<string, { h: MarketHistory; initial: InitialCost }>();
  constructor(
    private readonly history: MarketHistory,
    private readonly ctx: SweepContext,
  ) {}

  run(t: Task): TaskResult {
    const key = `${t.from}:${t.to}`;
    let w = this.windows.get(key);
    if (!w) {
      const h = sliceHistory(this.history, t.from, t.to);
      w = { h, initial: initialCost(this.ctx.portfolio, h, this.ctx.options) };
      this.windows.set(key, w);
    }
    return { id: t.id, metrics: evaluate(applyCell(this.ctx.portfolio, t.cell), w.h, this.ctx.options, w.initial) };
  }
}
