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
import { ManualClock } from '../../src/ports/clock.js';
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
