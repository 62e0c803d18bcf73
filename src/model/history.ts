/**
 * Aligned market history as data: bar times, per-asset OHLCV columns, perp closes, funding settlements and
 * marks, and what the loader found about coverage. A pure data type: the loader that reads it from the
 * data folder is src/adapters/history; the backtester, the tuner and synthetic history use this type.
 */

export interface FundingSeries {
  /** Settlement times, UTC epoch ms. */
  time: Float64Array;
  /** Rate per funding interval as a fraction; positive = longs pay shorts. */
  rate: Float64Array;
}

export interface MarkSeries {
  time: Float64Array;
  price: Float64Array;
}

export type HistoryInterval = '1d' | '1h';

export const INTERVAL_MS: Record<HistoryInterval, number> = { '1d': 86_400_000, '1h': 3_600_000 };

export interface FundingEvents extends FundingSeries {
  /** Index into `times` of the aligned bar each event falls in. */
  bar: Int32Array;
}

export interface GapRun {
  /** Open time of the first skipped bar. */
  from: number;
  /** Open time of the last skipped bar. */
  to: number;
  bars: number;
  /** Assets without a candle somewhere in this run. */
  missing: string[];
}

export interface AssetCoverage {
  asset: string;
  /** Path of the file read; null for stablecoins. */
  file: string | null;
  stable: boolean;
  /** First / last bar open time in the file (null for stablecoins). */
  fileFirst: number | null;
  fileLast: number | null;
  rows: number;
  /** Grid bars inside the aligned range for which this asset has no candle. */
  missingBars: number;
}

export interface PerpCoverage {
  asset: string;
  perpFile: string | null;
  /** Aligned bars priced from the perp file / from the spot close. */
  perpBars: number;
  perpFromSpot: number;
  fundingFile: string | null;
  /** First / last settlement in the whole funding file (null when no file or empty). */
  fundingFirst: number | null;
  fundingLast: number | null;
  fundingIntervalHours: number;
  /** Settlements inside the range. */
  fundingEvents: number;
  /** Settlements expected on the funding grid inside the range but not recorded. */
  missingSettlements: number;
  barsWithFunding: number;
  barsWithoutFunding: number;
  marksFile: string | null;
  marks: number;
}

export interface HistoryCoverage {
  interval: HistoryInterval;
  requestedFrom: number | null;
  requestedTo: number | null;
  /** Open time of the first / last aligned bar. */
  start: number;
  end: number;
  /** Aligned bars (= times.length). */
  bars: number;
  /** Grid bars from start to end inclusive (= bars + skippedBars). */
  gridBars: number;
  skippedBars: number;
  gaps: GapRun[];
  assets: AssetCoverage[];
  perps: PerpCoverage[];
  /** Plain-language lines for reports. */
  notes: string[];
}

export interface MarketHistory {
  interval: HistoryInterval;
  intervalMs: number;
  quote: string;
  assets: string[];
  /** Per asset: true when priced at 1 (stablecoin or the quote). */
  stable: boolean[];
  /** Bar open times (ms), ascending. */
  times: Float64Array;
  /** Per asset index, aligned with `times`. */
  open: Float64Array[];
  high: Float64Array[];
  low: Float64Array[];
  close: Float64Array[];
  volume: Float64Array[];
  /** Perp base assets, and for each the index of its asset in `assets`. */
  perps: string[];
  perpAsset: number[];
  /** Per perp: perp close where available else spot close (see rule 4). */
  perpClose: Float64Array[];
  /** Per perp and bar: 1 when perpClose came from the perp file, 0 when from the spot close. */
  perpFromPerpFile: Uint8Array[];
  perpFromSpot: number[];
  /** Per perp: funding settlements in range. */
  funding: FundingEvents[];
  /** Per perp: mark prices at funding settlements in range (empty when no file). */
  marks: MarkSeries[];
  coverage: HistoryCoverage;
}

