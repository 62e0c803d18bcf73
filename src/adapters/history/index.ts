export { HistoryError, readBars, readFunding, readMarks, describeTime, BARS_HEADER, FUNDING_HEADER, MARKS_HEADER } from './csv.js';
export type { Bars, FundingSeries, MarkSeries } from './csv.js';
export { loadHistory, INTERVAL_MS } from './history.js';
export type {
  HistoryInterval,
  LoadHistoryOptions,
  MarketHistory,
  FundingEvents,
  GapRun,
  AssetCoverage,
  PerpCoverage,
  HistoryCoverage,
} from './history.js';
