/**
 * The SQLite journal: durable settings, schema and migrations, intents, fills (unique by trade id), events
 * (secrets redacted), the book, the account lock (fault row 12) and typed errors for a locked, corrupt or full
 * database (fault row 14).
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import { MIGRATIONS } from '../../src/adapters/journal/schema.js';
import { ManualClock } from '../../src/ports/clock.js';
import { AccountLockedError, JournalError, type FillRecord, type OrderIntent } from '../../src/ports/journal.js';

const T0 = Date.UTC(2025, 0, 6);
let dir: string;
let path: string;
let clock: ManualClock;
const open: SqliteJournal[] = [];

function journal(opts: Partial<ConstructorParameters<typeof SqliteJournal>[1]> = {}): SqliteJournal {
  const j = new SqliteJournal(path, { clock, ...opts });
  open.push(j);
  return j;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ballast-journal-'));
  path = join(dir, 'j.db');
  clock = new ManualClock(T0);
});
afterEach(() => {
  for (const j of open.splice(0)) j.close();
  rmSync(dir, { recursive: true, force: true });
});

function intent(over: Partial<OrderIntent> = {}): OrderIntent {
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

const fill = (over: Partial<FillRecord> = {}): FillRecord => ({
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

describe('durability and schema', () => {
  it('opens in WAL mode with synchronous=FULL and a busy timeout, at the latest schema version', () => {
    const j = journal({ busyTimeoutMs: 1234 });
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    expect(j.settings).toEqual({ journalMode: 'wal', synchronous: 2, busyTimeoutMs: 1234 });
    expect(j.schemaVersion).toBe(MIGRATIONS.length);
    expect(j.tradingState().state).toBe('ACTIVE');
  });

  it('migrations are idempotent: reopening keeps the data', () => {
    const j = journal();
    j.insertIntent(intent());
    j.close();
    const j2 = journal();
    expect(j2.intent('bl0000000100000000')?.amount).toBe(0.137);
    expect(j2.schemaVersion).toBe(MIGRATIONS.length);
  });

  it('refuses a journal written by a newer ballast', () => {
    journal().close();
    const raw = new Database(path);
    raw.prepare('UPDATE schema_version SET version = 99').run();
    raw.close();
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
    expect(readFileSync(path).toString('latin1')).not.toContain('canary');
    expect(j.events({ type: 'command', limit: 1 })).toHaveLength(1);
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
    const raw = new Database(path);
    raw.prepare('UPDATE locks SET pid = ?, instance = ? WHERE account = ?').run(dead, 'killed', 'main');
    raw.close();
    const c = journal({ instance: 'third' });
    c.acquireLock('main');
    expect(c.lockHolder('main')?.instance).toBe('third');
    // …while a live process on this host keeps it, however old its heartbeat (it may be busy, not dead)
    const raw2 = new Database(path);
    raw2.prepare('UPDATE locks SET pid = ?, instance = ?, heartbeat_at = ? WHERE account = ?').run(process.ppid, 'parent', T0 - 3_600_000, 'main');
    raw2.close();
    expect(() => journal({ instance: 'fourth' }).acquireLock('main')).toThrow(new RegExp(`pid ${process.ppid}`));
  });
});

describe('fault row 14: locked, full or corrupt database → typed errors', () => {
  it('locked: a write that cannot get the lock fails with kind "locked"', () => {
    const j = journal({ busyTimeoutMs: 20 });
    const other = new Database(path);
    other.exec('BEGIN EXCLUSIVE');
    try {
      let err: unknown;
      try {
        j.insertIntent(intent());
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(JournalError);
      expect((err as JournalError).kind).toBe('locked');
      expect((err as JournalError).code).toMatch(/^SQLITE_BUSY/);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    j.insertIntent(intent());
    expect(j.intent(intent().clientOrderId)).toBeDefined();
  });

  it('full: a write beyond the size quota fails with kind "full"', () => {
    const j = journal({ maxPageCount: 40 });
    let err: unknown;
    try {
      for (let i = 0; i < 10_000; i++) j.appendEvent({ time: T0, type: 'snapshot', payload: { pad: 'x'.repeat(500), i } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JournalError);
    expect((err as JournalError).kind).toBe('full');
  });

  it('corrupt: a file that is not a database is refused at open with kind "corrupt"', () => {
    writeFileSync(path, Buffer.alloc(8192, 0x5a));
    expect(() => journal()).toThrow(expect.objectContaining({ name: 'JournalError', kind: 'corrupt' }));
  });

  it('corrupt: a damaged page is found by the quick check at open', () => {
    const j = journal();
    for (let i = 0; i < 200; i++) j.insertFill(fill({ tradeId: `t${i}` }));
    j.close();
    // checkpoint the WAL into the main file, then damage every page after the first (the schema page stays readable)
    const raw = new Database(path);
    raw.pragma('wal_checkpoint(TRUNCATE)');
    const pageSize = raw.pragma('page_size', { simple: true }) as number;
    raw.close();
    const size = readFileSync(path).length;
    const fd = openSync(path, 'r+');
    for (let at = pageSize; at < size; at += pageSize) writeSync(fd, Buffer.alloc(64, 0xff), 0, 64, at + 8);
    closeSync(fd);
    expect(() => journal()).toThrow(expect.objectContaining({ name: 'JournalError', kind: 'corrupt' }));
  });
});
