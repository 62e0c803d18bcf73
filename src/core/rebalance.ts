/**
 * Definitions the general planner (`plan()`), the rebalance kernel and the backtester share: what counts
 * as float noise, which instrument a class trades, and the rebalance modes as small integers for typed
 * loops.
 */
import type { AssetClass, Instrument, Portfolio } from './types.js';

/** Adjustments smaller than this share of TPV are float noise, not trades. */
export const NOISE = 1e-9;

/** The instrument class `cls` trades: its own setting, futures for a core-satellite core, else the execution's. */
export function instrumentOf(p: Portfolio, cls: AssetClass): Instrument {
  if (cls.instrument) return cls.instrument;
  if (p.strategy.type === 'core-satellite' && p.strategy.core === cls.name) return 'futures';
  return p.execution.instrument;
}

/** Rebalance modes as integers (`modeCode`). */
export const MODE_THRESHOLD = 0;
export const MODE_CALENDAR = 1;
export const MODE_HYBRID = 2;

export function modeCode(mode: Portfolio['rebalance']['mode']): number {
  return mode === 'threshold' ? MODE_THRESHOLD : mode === 'calendar' ? MODE_CALENDAR : MODE_HYBRID;
}
