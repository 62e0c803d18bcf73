/**
 * The history series' levels and merge (src/core/history.ts). Invariants, in words:
 * - a bucket holds the times [bucket, bucket + width); weekly buckets start on Monday 00:00 UTC;
 * - the merge is a join: idempotent, commutative and associative, so points may be written in any order,
 *   and twice, with one result — the later point's values (time, then event id) and TPV's min and max;
 * - `levelsFor` picks a bucket level whose buckets over the span cannot exceed maxPoints (or the coarsest).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  HISTORY_BUCKETS,
  HISTORY_LEVELS,
  bucketOf,
  bucketWidth,
  historyRow,
  levelsFor,
  mergeHistory,
  type HistoryPoint,
} from '../../src/core/history.js';

const point = fc.record({
  cycle: fc.integer({ min: 0, max: 1e12 }),
  time: fc.integer({ min: 0, max: 1e12 }),
  event: fc.integer({ min: 1, max: 1e9 }),
  tpv: fc.double({ min: 1, max: 1e9, noNaN: true }),
  hedgeNotional: fc.double({ min: 0, max: 1e9, noNaN: true }),
  classes: fc.constant([{ name: 'BTC', weight: 0.5, drift: 0, futures: 0 }]),
}) as fc.Arbitrary<HistoryPoint>;

describe('history levels', () => {
  it('widths grow, level 0 is one row per cycle, an unknown level is refused', () => {
    expect(bucketWidth(0)).toBe(0);
    for (let l = 2; l < HISTORY_LEVELS; l++) expect(bucketWidth(l)).toBeGreaterThan(bucketWidth(l - 1));
    expect(HISTORY_BUCKETS[0]).toBe(5 * 60_000);
    expect(() => bucketWidth(HISTORY_LEVELS)).toThrow(/history level 13 does not exist/);
  });

  it('a bucket holds [start, start + width); weeks start on Monday', () => {
    const t = Date.UTC(2025, 0, 8, 13, 7, 21); // a Wednesday
    expect(bucketOf(0, 123, t)).toBe(123);
    expect(bucketOf(1, 0, t)).toBe(Date.UTC(2025, 0, 8, 13, 5));
    expect(bucketOf(7, 0, t)).toBe(Date.UTC(2025, 0, 8));
    expect(new Date(bucketOf(10, 0, t)).toISOString()).toBe('2025-01-06T00:00:00.000Z'); // Monday
    fc.assert(
      fc.property(fc.integer({ min: 1, max: HISTORY_LEVELS - 1 }), fc.integer({ min: 0, max: 4e12 }), (level, time) => {
        const b = bucketOf(level, 0, time);
        return b <= time && time < b + bucketWidth(level);
      }),
    );
  });

  it('the merge keeps the later point and TPV’s range; it is idempotent, commutative and associative', () => {
    fc.assert(
      fc.property(point, point, point, (p, q, r) => {
        const same = (x: HistoryPoint) => ({ ...x, cycle: 0, time: x.time });
        const [a, b, c] = [historyRow(0, same(p)), historyRow(0, same(q)), historyRow(0, same(r))];
        expect(mergeHistory(a, a)).toEqual(a);
        if (a.time !== b.time || a.event !== b.event) expect(mergeHistory(a, b)).toEqual(mergeHistory(b, a));
        expect(mergeHistory(mergeHistory(a, b), c)).toEqual(mergeHistory(a, mergeHistory(b, c)));
        const m = mergeHistory(a, b);
        expect(m.tpvMin).toBe(Math.min(a.tpv, b.tpv));
        expect(m.tpvMax).toBe(Math.max(a.tpv, b.tpv));
        const later = b.time > a.time || (b.time === a.time && b.event >= a.event) ? b : a;
        expect(m.tpv).toBe(later.tpv);
        expect(m.event).toBe(later.event);
      }),
    );
  });

  it('levelsFor: level 0 first, then a level whose buckets over the span fit maxPoints', () => {
    expect(levelsFor(null, 2_000)).toEqual([0]);
    expect(levelsFor(0, 2_000)).toEqual([0, 1]);
    expect(levelsFor(365 * 86_400_000, 2_000)).toEqual([0, 5]); // a year: 6-hour buckets, 1,461 at most
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1e12 }), fc.integer({ min: 3, max: 20_000 }), (span, max) => {
        const [first, level] = levelsFor(span, max) as [number, number];
        expect(first).toBe(0);
        if (level < HISTORY_LEVELS - 1) expect(Math.floor(span / bucketWidth(level)) + 2).toBeLessThanOrEqual(max);
        if (level > 1) expect(Math.floor(span / bucketWidth(level - 1)) + 2).toBeGreaterThan(max);
      }),
    );
  });
});
