/**
 * The history series as the service writes it (src/service/history.ts): one point per cycle into every
 * level of the journal's history table, in the cycle's own transaction; and the back-fill of a journal
 * written before the table existed, which must give exactly the rows the live writer gives.
 *
 * World: the seed portfolio (BTC 50 % ± 5 / Stablecoins) on the simulated venue, BTC swinging ±30 % every 6.3 hours
 * (so the service sells and buys back), a cycle every 10 minutes for a day.
 */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ReadModel } from '../../src/apps/api/read-model.js';
import { HISTORY_LEVELS, bucketWidth } from '../../src/core/history.js';
import type { Journal } from '../../src/ports/journal.js';
import { BACKFILL_KEY, backfillHistory, ensureHistory } from '../../src/service/history.js';
import type { Service } from '../../src/service/service.js';
import { T0, world, type World } from '../execution/helpers.js';

const HOUR = 3_600_000;
let w: World | undefined;
let svc: Service | undefined;

afterEach(async () => {
  await svc?.stop();
  svc?.journal.close();
  w?.cleanup();
  w = undefined;
  svc = undefined;
});

async function day(cycles = 144): Promise<{ w: World; svc: Service }> {
  w = world({ hours: 30, price: (t) => 58_000 * (1 + 0.3 * Math.sin((t - T0) / HOUR)) });
  svc = w.service();
  await svc.start({ loop: false });
  for (let k = 0; k < cycles; k++) {
    await svc.runOnce();
    w.clock.set(T0 + (k + 1) * 10 * 60_000);
  }
  return { w, svc };
}

const allRows = (j: Journal) =>
  Array.from({ length: HISTORY_LEVELS }, (_, level) => j.history({ level, limit: 1_000_000 }));

/** Make the journal look like one written before the history table: no rows, the migration's mark. */
function forget(path: string): void {
  const db = new Database(path);
  db.exec(`DELETE FROM history; INSERT OR REPLACE INTO meta (key, value) VALUES ('${BACKFILL_KEY}', 'pending')`);
  db.close();
}

describe('history series', () => {
  it('one level-0 row per cycle; a traded cycle’s row holds the state after its fills', async () => {
    const { svc } = await day(60);
    const j = svc.journal;
    const snaps = j.events({ type: 'snapshot' });
    const after = snaps.filter((e) => typeof (e.payload as { after?: number }).after === 'number');
    expect(after.length).toBeGreaterThan(2); // the swing made it trade
    expect(j.events({ type: 'decision' }).filter((e) => (e.payload as { status: string }).status === 'stale')).toEqual(
      [],
    );
    const level0 = j.history({ level: 0, limit: 10_000 });
    expect(level0).toHaveLength(snaps.length - after.length);
    for (const e of after) {
      const row = level0.find((r) => r.event === e.id)!;
      expect(row.tpv).toBeCloseTo((e.payload as { tpv: number }).tpv, 9);
      expect(row.tpvMin).toBeLessThanOrEqual(row.tpv);
    }
    expect(j.getMeta(BACKFILL_KEY)).toBeUndefined();
  });

  it('a back-fill of an old journal gives exactly the rows the live writer gave, and resumes after a crash', async () => {
    const { w, svc } = await day();
    const live = allRows(svc.journal);
    await svc.stop();
    svc.journal.close();

    forget(w.dbPath);
    const j = w.journal();
    expect(allRows(j)[0]).toEqual([]);
    const read = ensureHistory(j, w.portfolio);
    expect(read).toBe(j.events({ type: 'snapshot' }).length);
    expect(allRows(j)).toEqual(live);
    expect(j.getMeta(BACKFILL_KEY)).toBe('done');
    expect(ensureHistory(j, w.portfolio)).toBe(0);
    j.close();

    // Cut short after two chunks of 7 snapshots, then resumed: the same rows.
    forget(w.dbPath);
    const k = w.journal();
    let chunks = 0;
    expect(() =>
      backfillHistory(k, w.portfolio, {
        chunk: 7,
        onProgress: () => {
          if (++chunks === 2) throw new Error('killed');
        },
      }),
    ).toThrow('killed');
    expect(k.getMeta(BACKFILL_KEY)).toMatch(/^\d+$/);
    expect(allRows(k)).not.toEqual(live);
    ensureHistory(k, w.portfolio, { chunk: 7 });
    expect(allRows(k)).toEqual(live);
    k.close();
    // A service started on an old journal back-fills before its first cycle.
    forget(w.dbPath);
    const again = w.service();
    await again.start({ loop: false });
    expect(allRows(again.journal)).toEqual(live);
    await again.stop();
    again.journal.close();
  });

  it('the read model answers from the table: at most maxPoints, the newest point equal to the portfolio now', async () => {
    const { w, svc } = await day();
    const model = new ReadModel({
      service: svc,
      journal: svc.journal,
      portfolio: w.portfolio,
      mode: 'paper',
      clock: w.clock,
    });
    model.refresh();
    const now = model.portfolio()!;
    const level0 = svc.journal.history({ level: 0, limit: 10_000 });
    expect(level0.length).toBeGreaterThan(100);

    const full = model.history();
    expect(full.resolution).toEqual({ level: 0, bucketMs: 0 });
    expect(full.times).toEqual(level0.map((r) => r.time));

    for (const max of [2, 10, 40, 100]) {
      const h = model.history({ maxPoints: max });
      expect(h.points).toBeLessThanOrEqual(max);
      expect(h.points).toBeGreaterThan(0);
      expect(h.resolution.level).toBeGreaterThan(0);
      expect(h.times[h.points - 1]).toBe(now.time);
      expect(h.tpv[h.points - 1]).toBe(now.tpv);
      for (const [i, c] of h.classes.entries()) expect(c.weight[h.points - 1]).toBeCloseTo(now.classes[i]!.weight, 8);
      // each point is the last cycle of its bucket; TPV's range is the cycles' range in the bucket
      const width = h.resolution.bucketMs;
      expect(width).toBe(bucketWidth(h.resolution.level));
      for (let p = 0; p < h.points; p++) {
        const inBucket = level0.filter((r) => Math.floor(r.time / width) === Math.floor(h.times[p]! / width));
        expect(h.times[p]).toBe(inBucket[inBucket.length - 1]!.time);
        expect(h.tpvMin[p]).toBeCloseTo(Math.min(...inBucket.map((r) => r.tpvMin)), 6);
        expect(h.tpvMax[p]).toBeCloseTo(Math.max(...inBucket.map((r) => r.tpvMax)), 6);
      }
    }

    // No snapshot is read to answer (the snapshots' events are gone; a fresh model answers the same).
    const db = new Database(w.dbPath);
    db.exec("DELETE FROM events WHERE type = 'snapshot'");
    db.close();
    const fresh = new ReadModel({
      service: svc,
      journal: svc.journal,
      portfolio: w.portfolio,
      mode: 'paper',
      clock: w.clock,
    });
    fresh.refresh();
    expect(fresh.history({ maxPoints: 40 })).toEqual(model.history({ maxPoints: 40 }));
  });
});
