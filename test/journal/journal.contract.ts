/**
 * The journal contract: every Journal implementation (SQLite, Postgres) runs these same tests — durable
 * records, schema versions, intents, fills (unique by trade id), events (secrets redacted), the book, the
 * account lock (fault row 12) and a typed error for a locked store (fault row 14). Backend-only checks (WAL
 * pragmas, a damaged SQLite file, a size quota) stay in the backend's own file, beside its call of
 * `journalContract`.
 *
 * A harness gives a fresh store per test and the few raw operations a test needs to play "another process":
 * rewrite the lock row, set the schema version, hold a write lock, and read back what is stored.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HISTORY_LEVELS, bucketOf, historyRow, mergeHistory, type HistoryPoint, type HistoryRow } from '../../src/core/history.js';
import { ManualClock } from '../../src/ports/clock.js';
import { backfillHistory, historyPoint, valueSummary, type SnapshotSummary } from '../../src/service/history.js';
import { cls, portfolio } from '../core/builders.js';
import { AccountLockedError, JournalError, type FillRecord, type Journal, type OrderIntent } from '../../src/ports/journal.js';

export const T0 = Date.UTC(2025, 0, 6);

export interface OpenOptions {
  clock: ManualClock;
  instance?: string;
  lockStaleMs?: number;
  /** How long a write waits for another connection's lock (SQLite busy timeout, Postgres lock_timeout). */
  lockWaitMs?: number;
}

export interface JournalHarness<J extends Journal = Journal> {
  /** A fresh, empty store for the next test. */
  fresh(): void | Promise<void>;
  /** Drop the store of the test that ended. */
  cleanup(): void | Promise<void>;
  /** Open a journal on the current store (creating and migrating it). */
  open(o: OpenOptions): J;
  /** Rewrite the account's lock row as another process would have left it. */
  setLockRow(account: string, row: { pid?: number; instance?: string; heartbeatAt?: number }): void;
  /** Pretend a newer ballast wrote the store. */
  setSchemaVersion(v: number): void;
  /** The latest schema version of this backend. */
  latestVersion: number;
  schemaVersion(j: J): number;
  /** Hold the write lock from another connection until the returned function is called. */
  holdWriteLock(): () => void;
  /** The error code of a write that timed out waiting for that lock. */
  lockedCode: RegExp;
  /** Every byte (or stored text) a reader of the store could see, to search for secrets. */
  storedText(): string;
}

export function intent(over: Partial<OrderIntent> = {}): OrderIntent {
  return {
    clientOrderId: 'bl0000000100000000',
    rebalanceId: 1,
    leg: 0,
    slice: 0,
    attempt: 0,
    account: 'main',
    symbol: 'BTC/USDT',
    side: 'sell',
    type: 'limit',
    amount: 0.137,
    price: 58_000,
    reduceOnly: false,
    state: 'NEW',
    filled: 0,
    avgPrice: null,
    venueOrderId: null,
    notFoundStrikes: 0,
    purpose: 'BTC is 58% > 55%: sell 0.137 BTC',
    reason: null,
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

export const fill = (over: Partial<FillRecord> = {}): FillRecord => ({
  account: 'main',
  tradeId: 't1',
  venueOrderId: '1',
  clientOrderId: 'bl0000000100000000',
  symbol: 'BTC/USDT',
  side: 'sell',
  amount: 0.1,
  price: 58_000,
  cost: 5_800,
  fee: 5.8,
  feeCurrency: 'USDT',
  time: T0,
  liquidation: false,
  external: false,
  ...over,
});

/** `n` history points over about ten days (seeded): cycles a few minutes apart, some traded (a second point). */
export function historyPoints(n: number, seed = 7): HistoryPoint[] {
  let x = seed;
  const rnd = () => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x / 2_147_483_648;
  };
  const out: HistoryPoint[] = [];
  let t = T0;
  let event = 1;
  for (let k = 0; out.length < n; k++) {
    t += Math.floor(rnd() * 40) * 60_000; // 0 to 39 minutes: cycles sometimes share a time
    const point = (time: number): HistoryPoint => {
      const w = 0.4 + rnd() * 0.2;
      return {
        cycle: t,
        time,
        event: event++,
        tpv: 100_000 * (0.9 + rnd() * 0.2),
        hedgeNotional: rnd() < 0.3 ? rnd() * 5_000 : 0,
        classes: [
          { name: 'BTC', weight: w, drift: w - 0.5, futures: -rnd() * 1_000 },
          { name: 'Stablecoins', weight: 1 - w, drift: 0.5 - w, futures: 0 },
        ],
      };
    };
    out.push(point(t));
    if (rnd() < 0.25 && out.length < n) out.push(point(t + (k % 2 === 0 ? 0 : 1_000))); // after its fills
  }
  return out;
}

/** The rows `points` give, by the core's merge (what the journals do in SQL), per level, oldest first. */
export function expectedRows(points: readonly HistoryPoint[]): HistoryRow[][] {
  const levels = Array.from({ length: HISTORY_LEVELS }, () => new Map<number, HistoryRow>());
  for (const p of points) {
    for (let level = 0; level < HISTORY_LEVELS; level++) {
      const r = historyRow(level, p);
      const had = levels[level]!.get(r.bucket);
      levels[level]!.set(r.bucket, had ? mergeHistory(had, r) : r);
    }
  }
  return levels.map((m) => [...m.values()].sort((a, b) => a.bucket - b.bucket));
}

export function journalContract<J extends Journal>(name: string, h: JournalHarness<J>): void {
  describe(`journal contract: ${name}`, () => {
    let clock: ManualClock;
    const open: J[] = [];
    const journal = (o: Omit<OpenOptions, 'clock'> = {}): J => {
      const j = h.open({ clock, ...o });
      open.push(j);
      return j;
    };
    beforeEach(async () => {
      clock = new ManualClock(T0);
      await h.fresh();
    });
    afterEach(async () => {
      for (const j of open.splice(0)) j.close();
      await h.cleanup();
    });

    describe('durability and schema', () => {
      it('opens at the latest schema version, trading ACTIVE', () => {
        const j = journal();
        expect(h.schemaVersion(j)).toBe(h.latestVersion);
        expect(j.tradingState().state).toBe('ACTIVE');
      });

      it('migrations are idempotent: reopening keeps the data', () => {
        const j = journal();
        j.insertIntent(intent());
        j.close();
        const j2 = journal();
        expect(j2.intent('bl0000000100000000')?.amount).toBe(0.137);
        expect(h.schemaVersion(j2)).toBe(h.latestVersion);
      });

      it('refuses a journal written by a newer ballast', () => {
        journal().close();
        h.setSchemaVersion(99);
        const e = (() => {
          try {
            journal();
          } catch (err) {
            return err;
          }
          return undefined;
        })();
        expect(e).toBeInstanceOf(JournalError);
        expect((e as JournalError).kind).toBe('schema');
      });
    });

    describe('records', () => {
      it('intents round-trip; a client id can be saved only once', () => {
        const j = journal();
        j.insertIntent(intent());
        const got = j.intent('bl0000000100000000')!;
        expect(got).toEqual(intent());
        j.updateIntent({ ...got, state: 'SUBMITTING', updatedAt: T0 + 1 });
        expect(j.intent(got.clientOrderId)?.state).toBe('SUBMITTING');
        expect(() => j.insertIntent(intent())).toThrow(JournalError);
        expect(j.intents({ states: ['SUBMITTING'] })).toHaveLength(1);
        expect(j.intents({ states: ['OPEN'] })).toHaveLength(0);
      });

      it('fills are unique by venue trade id: a duplicate is ignored', () => {
        const j = journal();
        expect(j.insertFill(fill())).toBe(true);
        expect(j.insertFill(fill({ amount: 999 }))).toBe(false);
        expect(j.fills()).toEqual([fill()]);
        expect(j.insertFill(fill({ tradeId: 't2' }))).toBe(true);
        expect(j.fills({ clientOrderId: 'bl0000000100000000' })).toHaveLength(2);
      });

      it('events keep their time and JSON payload; secret-looking fields are redacted', () => {
        const j = journal();
        j.appendEvent({ time: T0, type: 'decision', payload: { status: 'ok', explanation: ['TPV = …'] } });
        j.appendEvent({ time: T0 + 1, type: 'command', payload: { by: 'ops', apiKey: 'AKIA-canary', nested: { secret: 'canary-secret', ok: 1 } } });
        const ev = j.events();
        expect(ev.map((e) => e.type)).toEqual(['decision', 'command']);
        expect(ev[1]!.payload).toEqual({ by: 'ops', apiKey: '[REDACTED]', nested: { secret: '[REDACTED]', ok: 1 } });
        expect(h.storedText()).not.toContain('canary');
        expect(j.events({ type: 'command', limit: 1 })).toHaveLength(1);
        // `since`: from a time on; −Infinity (a reader that has seen nothing yet) is no bound
        expect(j.events({ since: T0 + 1 }).map((e) => e.type)).toEqual(['command']);
        expect(j.events({ since: -Infinity })).toHaveLength(2);
        expect(j.fills({ since: -Infinity })).toEqual([]);
        expect(j.funding({ since: -Infinity })).toEqual([]);
      });

      it('totals count intents (all and in the states asked for), fills and open hedges, and sum funding, without reading rows', () => {
        const j = journal();
        expect(j.totals(['OPEN'])).toEqual({ intents: 0, liveIntents: 0, fills: 0, openHedges: 0, fundingNet: 0 });
        j.insertIntent(intent());
        j.insertIntent(intent({ clientOrderId: 'bl0000000100000001', leg: 1, state: 'OPEN' }));
        j.insertIntent(intent({ clientOrderId: 'bl0000000100000002', leg: 2, state: 'FILLED' }));
        j.insertFill(fill());
        j.insertFill(fill({ tradeId: 't2' }));
        j.insertFill(fill({ tradeId: 't2' }));
        const hedge = { account: 'main', class: 'BTC', symbol: 'BTC/USDT:USDT', contracts: -0.1, entryPrice: 50_000, openedAt: T0, closedAt: null, openReason: 'over band', closeReason: null, fundingPaid: 0, realisedPnl: 0, fees: 0 };
        j.insertHedge(hedge);
        j.insertHedge({ ...hedge, closedAt: T0 + 1, closeReason: 'back inside' });
        j.insertFunding({ account: 'main', id: 'f1', symbol: 'BTC/USDT:USDT', time: T0, amount: 1.25, currency: 'USDT', rate: 0.0002 });
        j.insertFunding({ account: 'main', id: 'f2', symbol: 'BTC/USDT:USDT', time: T0 + 1, amount: -0.5, currency: 'USDT', rate: -0.0001 });
        expect(j.totals(['NEW', 'OPEN'])).toEqual({ intents: 3, liveIntents: 2, fills: 2, openHedges: 1, fundingNet: 0.75 });
        expect(j.totals([]).liveIntents).toBe(0);
      });

      it('the book adds exactly (0.1 + 0.2 = 0.3) and is null before a baseline', () => {
        const j = journal();
        expect(j.book('main')).toBeNull();
        j.setBook('main', { BTC: 1 }, T0);
        j.adjustBook('main', 'BTC', -0.1, T0);
        j.adjustBook('main', 'BTC', -0.2, T0);
        expect(j.book('main')).toEqual({ BTC: 0.7 });
      });

      it('trading state with who, when and why', () => {
        const j = journal();
        j.setTradingState({ state: 'HALTED', by: 'alice', at: T0 + 5, reason: 'manual check' });
        expect(journal().tradingState()).toEqual({ state: 'HALTED', by: 'alice', at: T0 + 5, reason: 'manual check' });
      });
    });

    describe('history series (src/core/history.ts)', () => {
      const all = (j: Journal) => Array.from({ length: HISTORY_LEVELS }, (_, level) => j.history({ level, limit: 1_000_000 }));

      it('events page back by id: the newest `limit` of a type below `beforeId`', () => {
        const j = journal();
        const ids = Array.from({ length: 7 }, (_, k) => j.appendEvent({ time: T0 + k, type: k % 2 === 0 ? 'snapshot' : 'decision', payload: { k } }));
        const snaps = ids.filter((_, k) => k % 2 === 0);
        expect(j.events({ type: 'snapshot', limit: 2 }).map((e) => e.id)).toEqual(snaps.slice(2));
        expect(j.events({ type: 'snapshot', limit: 2, beforeId: snaps[2] }).map((e) => e.id)).toEqual(snaps.slice(0, 2));
        expect(j.events({ type: 'snapshot', limit: 2, beforeId: snaps[0] })).toEqual([]);
        // several types at once: the newest `limit` of them all, oldest first, paged the same way
        j.appendEvent({ time: T0 + 9, type: 'command', payload: { k: 9 } });
        const page = j.events({ types: ['decision', 'command', 'alert'], limit: 3 });
        expect(page.map((e) => e.type)).toEqual(['decision', 'decision', 'command']);
        expect(page.map((e) => e.payload)).toEqual([{ k: 3 }, { k: 5 }, { k: 9 }]);
        expect(j.events({ types: ['decision', 'command'], limit: 3, beforeId: page[0]!.id }).map((e) => e.payload)).toEqual([{ k: 1 }]);
        expect(j.events({ types: [], limit: 3 })).toEqual([]);
      });

      it('a new journal has no rows and needs no back-fill', () => {
        const j = journal();
        expect(j.getMeta('history.backfill')).toBeUndefined();
        expect(j.history({ level: 0, limit: 10 })).toEqual([]);
      });

      it('a point goes into every level: its cycle’s row at level 0, its bucket above', () => {
        const j = journal();
        const [p] = historyPoints(1);
        j.recordHistory(p!);
        const rows = all(j);
        for (let level = 0; level < HISTORY_LEVELS; level++) {
          expect(rows[level]).toEqual([historyRow(level, p!)]);
          expect(rows[level]![0]!.bucket).toBe(bucketOf(level, p!.cycle, p!.time));
        }
      });

      it('a cycle that traded: its second point (after the fills) gives the row its values; TPV’s range spans both', () => {
        const j = journal();
        const classes = [{ name: 'BTC', weight: 0.58, drift: 0.08, futures: 0 }];
        j.recordHistory({ cycle: T0, time: T0, event: 10, tpv: 100_000, hedgeNotional: 0, classes });
        j.recordHistory({ cycle: T0, time: T0, event: 12, tpv: 99_990, hedgeNotional: 5_000, classes: [{ name: 'BTC', weight: 0.5, drift: 0, futures: -5_000 }] });
        const [row] = j.history({ level: 0, limit: 10 });
        expect(row).toEqual({ level: 0, bucket: T0, time: T0, event: 12, tpv: 99_990, hedgeNotional: 5_000, names: ['BTC'], values: new Float64Array([0.5, 0, -5_000]), tpvMin: 99_990, tpvMax: 100_000 });
        // the same pre-trade point again (a resumed back-fill) changes nothing
        j.recordHistory({ cycle: T0, time: T0, event: 10, tpv: 100_000, hedgeNotional: 0, classes });
        expect(j.history({ level: 0, limit: 10 })).toEqual([row]);
      });

      it('the merge is idempotent and order-free: shuffled points written twice give the core merge of one pass', () => {
        const points = historyPoints(300);
        const want = expectedRows(points);
        const j = journal();
        const shuffled = [...points].reverse();
        for (let k = 0; k < shuffled.length; k += 2) [shuffled[k], shuffled[k + 1]] = [shuffled[k + 1] ?? shuffled[k]!, shuffled[k]!];
        j.transaction(() => {
          for (const p of shuffled) j.recordHistory(p);
          for (const p of points.slice(0, 100)) j.recordHistory(p);
        });
        expect(all(j)).toEqual(want);
        expect(want[0]!.length).toBeLessThan(300); // cycles with two points have one row
        expect(want[HISTORY_LEVELS - 1]!.length).toBeLessThan(want[0]!.length);
      });

      it('a back-fill over this journal (old snapshots, paged back by id in chunks) gives the rows of the live writer', () => {
        const j = journal();
        const p = portfolio([cls('BTC', 0.5, 0.05, ['BTC']), cls('Stablecoins', 0.5, 0.05, ['USDT'], { cash: true })]);
        const points: HistoryPoint[] = [];
        let cycle = T0;
        for (let k = 0; k < 23; k++) {
          const time = T0 + k * 60_000;
          const after = k % 4 === 3 ? { after: k } : {};
          if (!('after' in after)) cycle = time;
          const s: SnapshotSummary = { ...after, time, prices: { BTC: 50_000 + 500 * k }, marks: {}, funding: {}, accounts: [{ name: 'main', balances: { BTC: 1, USDT: 50_000 - k }, positions: [] }], oldestInput: time, newestInput: time };
          const id = j.appendEvent({ time, type: 'snapshot', payload: s });
          j.appendEvent({ time, type: 'decision', payload: { status: 'not-due' } });
          points.push(historyPoint(cycle, time, id, valueSummary(p, s)!));
        }
        j.setMeta('history.backfill', 'pending');
        expect(backfillHistory(j, p, { chunk: 4 })).toBe(23);
        expect(all(j)).toEqual(expectedRows(points));
        expect(j.getMeta('history.backfill')).toBe('done');
      });

      it('reads are bounded: the newest (or oldest) `limit` rows of a level whose bucket is in [since, until], oldest first', () => {
        const j = journal();
        const points = historyPoints(200);
        for (const p of points) j.recordHistory(p);
        const level0 = expectedRows(points)[0]!;
        expect(j.history({ level: 0, limit: 5 })).toEqual(level0.slice(-5));
        expect(j.history({ level: 0, limit: 5, oldest: true })).toEqual(level0.slice(0, 5));
        const since = level0[20]!.bucket;
        const until = level0[60]!.bucket;
        expect(j.history({ level: 0, since, until, limit: 1_000 })).toEqual(level0.slice(20, 61));
        expect(j.history({ level: 0, since, until, limit: 3 })).toEqual(level0.slice(58, 61));
        expect(j.historyCount({ level: 0, since, until, limit: 1_000 })).toBe(41);
        expect(j.historyCount({ level: 0, since, until, limit: 3 })).toBe(3);
        expect(j.historyCount({ level: 0, limit: 10_000 })).toBe(level0.length);
        const hourly = expectedRows(points)[3]!;
        expect(j.history({ level: 3, since, limit: 1_000 })).toEqual(hourly.filter((r) => r.bucket >= since));
      });
    });

    describe('fault row 12: one running instance per account', () => {
      it('a second instance gets a clear error naming the holder', () => {
        const a = journal({ instance: 'first' });
        a.acquireLock('main');
        const b = journal({ instance: 'second' });
        let err: unknown;
        try {
          b.acquireLock('main');
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(AccountLockedError);
        expect((err as AccountLockedError).holder).toMatchObject({ account: 'main', instance: 'first', pid: process.pid });
        expect((err as Error).message).toMatch(new RegExp(`account main is locked by another ballast instance \\(pid ${process.pid}`));
        // another account is free
        b.acquireLock('other');
        // the holder keeps it while its heartbeat is fresh
        clock.advance(5_000);
        a.heartbeat('main');
        expect(() => b.acquireLock('main')).toThrow(AccountLockedError);
        // released: the second instance may take it
        a.releaseLock('main');
        b.acquireLock('main');
        expect(b.lockHolder('main')?.instance).toBe('second');
        expect(() => a.heartbeat('main')).toThrow(AccountLockedError);
      });

      it('a lock whose heartbeat went stale (same process or another host), or whose process is dead, is taken over', () => {
        const a = journal({ instance: 'crashed', lockStaleMs: 30_000 });
        a.acquireLock('main');
        const b = journal({ instance: 'restarted', lockStaleMs: 30_000 });
        expect(() => b.acquireLock('main')).toThrow(AccountLockedError);
        clock.advance(30_001);
        b.acquireLock('main');
        expect(b.lockHolder('main')?.instance).toBe('restarted');
        // a row left by a killed process on this host (its pid no longer exists) is stale at once
        let dead = 4_000_000;
        for (; ; dead++) {
          try {
            process.kill(dead, 0);
          } catch {
            break;
          }
        }
        h.setLockRow('main', { pid: dead, instance: 'killed' });
        const c = journal({ instance: 'third' });
        c.acquireLock('main');
        expect(c.lockHolder('main')?.instance).toBe('third');
        // …while a live process on this host keeps it, however old its heartbeat (it may be busy, not dead)
        h.setLockRow('main', { pid: process.ppid, instance: 'parent', heartbeatAt: T0 - 3_600_000 });
        expect(() => journal({ instance: 'fourth' }).acquireLock('main')).toThrow(new RegExp(`pid ${process.ppid}`));
      });
    });

    describe('fault row 14: a locked store → a typed error', () => {
      it('locked: a write that cannot get the lock fails with kind "locked"', () => {
        const j = journal({ lockWaitMs: 20 });
        const release = h.holdWriteLock();
        try {
          let err: unknown;
          try {
            j.insertIntent(intent());
          } catch (e) {
            err = e;
          }
          expect(err).toBeInstanceOf(JournalError);
          expect((err as JournalError).kind).toBe('locked');
          expect((err as JournalError).code).toMatch(h.lockedCode);
        } finally {
          release();
        }
        j.insertIntent(intent());
        expect(j.intent(intent().clientOrderId)).toBeDefined();
      });
    });
  });
}
