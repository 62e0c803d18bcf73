/**
 * The SQLite journal: the journal contract (./journal.contract.ts), plus what only a file database has —
 * WAL with synchronous=FULL, a size quota ('full') and a damaged file refused at open ('corrupt') (fault
 * row 14).
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import { MIGRATIONS } from '../../src/adapters/journal/schema.js';
import { ManualClock } from '../../src/ports/clock.js';
import { JournalError } from '../../src/ports/journal.js';
import { fill, journalContract, T0 } from './journal.contract.js';

let dir = '';
let path = '';

function raw<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

journalContract<SqliteJournal>('SQLite', {
  fresh() {
    dir = mkdtempSync(join(tmpdir(), 'ballast-journal-'));
    path = join(dir, 'j.db');
  },
  cleanup() {
    rmSync(dir, { recursive: true, force: true });
  },
  open: (o) =>
    new SqliteJournal(path, {
      clock: o.clock,
      ...(o.instance !== undefined ? { instance: o.instance } : {}),
      ...(o.lockStaleMs !== undefined ? { lockStaleMs: o.lockStaleMs } : {}),
      ...(o.lockWaitMs !== undefined ? { busyTimeoutMs: o.lockWaitMs } : {}),
    }),
  setLockRow(account, row) {
    raw((db) => {
      if (row.pid !== undefined) db.prepare('UPDATE locks SET pid = ? WHERE account = ?').run(row.pid, account);
      if (row.instance !== undefined) db.prepare('UPDATE locks SET instance = ? WHERE account = ?').run(row.instance, account);
      if (row.heartbeatAt !== undefined) db.prepare('UPDATE locks SET heartbeat_at = ? WHERE account = ?').run(row.heartbeatAt, account);
    });
  },
  setSchemaVersion(v) {
    raw((db) => db.prepare('UPDATE schema_version SET version = ?').run(v));
  },
  latestVersion: MIGRATIONS.length,
  schemaVersion: (j) => j.schemaVersion,
  holdWriteLock() {
    const other = new Database(path);
    other.exec('BEGIN EXCLUSIVE');
    return () => {
      other.exec('ROLLBACK');
      other.close();
    };
  },
  lockedCode: /^SQLITE_BUSY/,
  storedText: () => readFileSync(path).toString('latin1'),
});

describe('SQLite only', () => {
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

  it('opens in WAL mode with synchronous=FULL and a busy timeout, at the latest schema version', () => {
    const j = journal({ busyTimeoutMs: 1234 });
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
    expect(j.settings).toEqual({ journalMode: 'wal', synchronous: 2, busyTimeoutMs: 1234 });
    expect(j.schemaVersion).toBe(MIGRATIONS.length);
    expect(j.tradingState().state).toBe('ACTIVE');
  });

  it('a journal written before the history table (schema 3) is migrated and marked for a back-fill', () => {
    raw((db) => {
      db.exec('CREATE TABLE schema_version (version INTEGER NOT NULL); INSERT INTO schema_version (version) VALUES (3)');
      for (const m of MIGRATIONS.slice(0, 3)) db.exec(m);
      db.prepare("INSERT INTO events (time, type, account, payload) VALUES (?, 'snapshot', NULL, '{}')").run(T0);
    });
    const j = journal();
    expect(j.schemaVersion).toBe(MIGRATIONS.length);
    expect(j.getMeta('history.backfill')).toBe('pending');
    expect(j.history({ level: 0, limit: 10 })).toEqual([]);
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
