/**
 * The dashboard's history series, kept at bounded resolutions as it is written (the way the backtester
 * records at most `maxPoints` points of a run instead of every bar).
 *
 * Every cycle gives one point: TPV, each class's weight, drift and futures exposure, and the hedge notional.
 * It is written once per level:
 *
 * - level 0 holds one row per cycle (key: the cycle's time). A cycle that traded writes twice, before and
 *   after its fills; the row ends with the state after them.
 * - levels 1… are time buckets (5 min up to 28 days, each about twice the one before). A bucket keeps the
 *   values of its LAST point (the newest time; the higher event id on equal times), so a coarse series still
 *   ends on the exact newest state. It keeps TPV's minimum and maximum over the bucket too, so a dip between
 *   two kept points is not lost.
 *
 * `mergeHistory` is the merge the journals do in SQL: it is idempotent, commutative and associative (a
 * maximum by (time, event) and a min/max), so the same points written in any order, or twice (a back-fill
 * resumed after a crash, a back-fill racing the live writer), give the same rows.
 *
 * A read picks the finest level whose rows over the range fit `maxPoints` (`levelsFor`), so a year of minute
 * cycles is read as at most a few thousand rows through the (level, bucket) key, whatever the range.
 */

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** Bucket widths (ms) of levels 1…; level 0 is one row per cycle. */
export const HISTORY_BUCKETS: readonly number[] = [
  5 * MIN,
  15 * MIN,
  HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  4 * DAY,
  7 * DAY,
  14 * DAY,
  28 * DAY,
];

/** Number of levels (level 0 and one per bucket width). */
export const HISTORY_LEVELS = HISTORY_BUCKETS.length + 1;

/** Weeks start on Monday (1970-01-05T00:00Z): buckets of 7, 14 and 28 days are aligned to it. */
const MONDAY = 4 * DAY;

/** Width of a level's buckets in ms; 0 for level 0 (one row per cycle). */
export function bucketWidth(level: number): number {
  if (level === 0) return 0;
  const w = HISTORY_BUCKETS[level - 1];
  if (w === undefined) throw new RangeError(`history level ${level} does not exist (0…${HISTORY_LEVELS - 1})`);
  return w;
}

/** The key of the row a point of `cycle` at `time` merges into, at `level`. */
export function bucketOf(level: number, cycle: number, time: number): number {
  const w = bucketWidth(level);
  if (w === 0) return cycle;
  const origin = w % (7 * DAY) === 0 ? MONDAY : 0;
  return Math.floor((time - origin) / w) * w + origin;
}

/** One class's state at a point. */
export interface HistoryClass {
  name: string;
  weight: number;
  drift: number;
  /** Signed futures notional mapped to the class. */
  futures: number;
}

/** What a cycle writes: the valued state at one moment. */
export interface HistoryPoint {
  /** The cycle this point belongs to (the time of its first snapshot): one level-0 row per cycle. */
  cycle: number;
  /** The snapshot's time. */
  time: number;
  /** The journal event of the snapshot (orders points of equal time; provenance). */
  event: number;
  tpv: number;
  /** Σ |notional| of open futures positions. */
  hedgeNotional: number;
  classes: HistoryClass[];
}

/** A stored row: a level's bucket with its last point and TPV's range over the bucket. */
export interface HistoryRow {
  level: number;
  /** Level 0: the cycle's time. Else the bucket's start. */
  bucket: number;
  /** The last point's time, event and values. */
  time: number;
  event: number;
  tpv: number;
  hedgeNotional: number;
  /** The classes' names, and their weight, drift and futures notional: values[3k], [3k + 1], [3k + 2]. */
  names: readonly string[];
  values: Float64Array;
  /** TPV's minimum and maximum over the points of the bucket. */
  tpvMin: number;
  tpvMax: number;
}

/** The classes of a point as the flat values a row keeps. */
export function classValues(classes: readonly HistoryClass[]): Float64Array {
  const v = new Float64Array(classes.length * 3);
  classes.forEach((c, k) => {
    v[3 * k] = c.weight;
    v[3 * k + 1] = c.drift;
    v[3 * k + 2] = c.futures;
  });
  return v;
}

/** The row a lone point makes at `level`. */
export function historyRow(level: number, p: HistoryPoint): HistoryRow {
  return {
    level,
    bucket: bucketOf(level, p.cycle, p.time),
    time: p.time,
    event: p.event,
    tpv: p.tpv,
    hedgeNotional: p.hedgeNotional,
    names: p.classes.map((c) => c.name),
    values: classValues(p.classes),
    tpvMin: p.tpv,
    tpvMax: p.tpv,
  };
}

/** Is `b` the later point of the two (time, then event id)? */
export function isLater(b: { time: number; event: number }, a: { time: number; event: number }): boolean {
  return b.time > a.time || (b.time === a.time && b.event >= a.event);
}

/** Two rows of the same (level, bucket) as one: the later point's values, TPV's range over both. */
export function mergeHistory(a: HistoryRow, b: HistoryRow): HistoryRow {
  const last = isLater(b, a) ? b : a;
  return { ...last, tpvMin: Math.min(a.tpvMin, b.tpvMin), tpvMax: Math.max(a.tpvMax, b.tpvMax) };
}

/**
 * The levels to try for a read of `span` ms (null: unknown) at most `maxPoints` points, finest first:
 * level 0 (its row count is not known from the span: a cycle may be a minute or a day), then the finest
 * bucket level whose buckets over the span cannot exceed `maxPoints` (⌊span / width⌋ + 2 buckets touch
 * the span at most), or the coarsest level.
 */
export function levelsFor(span: number | null, maxPoints: number): number[] {
  if (span === null) return [0];
  for (let level = 1; level < HISTORY_LEVELS; level++) {
    if (Math.floor(span / bucketWidth(level)) + 2 <= maxPoints) return [0, level];
  }
  return [0, HISTORY_LEVELS - 1];
}
