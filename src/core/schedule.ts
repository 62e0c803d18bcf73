import type { Schedule } from './types.js';

const DAY = 86_400_000;

/** Start (UTC, ms) of the calendar period containing `t`: the day, the ISO week (Monday) or the month. */
export function periodStart(schedule: Schedule, t: number): number {
  const day = Math.floor(t / DAY) * DAY;
  if (schedule === 'daily') return day;
  if (schedule === 'weekly') {
    const dow = (new Date(day).getUTCDay() + 6) % 7; // Monday = 0
    return day - dow * DAY;
  }
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/**
 * A calendar rebalance is due when `now` lies in a later period than the last rebalance
 * (or there never was one). Pure: the caller passes both times.
 */
export function isRebalanceDue(schedule: Schedule, lastRebalance: number | undefined, now: number): boolean {
  if (lastRebalance === undefined) return true;
  return periodStart(schedule, now) > periodStart(schedule, lastRebalance);
}

/**
 * Start of the calendar period after the one containing `t`. A rebalance last done at `last` is due at
 * `now` exactly when `now ≥ nextPeriodStart(schedule, last)` — `isRebalanceDue` as one comparison.
 */
export function nextPeriodStart(schedule: Schedule, t: number): number {
  if (schedule === 'daily') return periodStart('daily', t) + DAY;
  if (schedule === 'weekly') return periodStart('weekly', t) + 7 * DAY;
  const d = new Date(t);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

