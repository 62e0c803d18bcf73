/**
 * Shapes of the API answers the dashboard reads: the API's own view types (src/apps/api/read-model.ts, the
 * journal port's records), imported as types only — nothing of the server reaches the browser bundle.
 */
export type {
  ClassView,
  HedgeView as Hedge,
  HistoryView,
  JournalEventView as JournalEvent,
  PlanExecution,
  PlanView,
  PortfolioView,
  StatusView as Status,
} from '../api/read-model.js';
export type { FillRecord as Fill, OrderIntent as Order, TradingState } from '../../ports/journal.js';
