/**
 * The PostgreSQL journal: the same journal contract as SQLite (./journal.contract.ts), against a real
 * PostgreSQL started by this suite on a loopback port (test/scale/engines.ts installs it with
 * scripts/setup-services.sh when missing). Plus what only the server journal has: many portfolios in one
 * database, each with its own rows and kill switch; migrations by many workers at once; the fencing check.
 *
 * Not here, with the reason: a size quota ('full') and a damaged file ('corrupt') are SQLite file tests —
 * Postgres reports them as SQLSTATE 53100 / XX001, mapped in pgJournalError and checked below without a
 * full disk or a damaged cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresJournal, pgJournalError } from '../../src/adapters/journal/postgres.js';
import { PG_MIGRATIONS } from '../../src/adapters/journal/pg-schema.js';
import { SyncPg, SyncPgFailure } from '../../src/adapters/journal/pg-sync.js';
import { ManualClock } from '../../src/ports/clock.js';
import { JournalError } from '../../src/ports/journal.js';
import { startPostgres, type LocalPostgres } from '../scale/engines.js';
import { intent, journalContract, T0 } from './journal.contract.js';

let server: LocalPostgres;
let url = '';
let n = 0;
let admin: SyncPg | undefined;
const adminQ = (sql: string, params: unknown[] = []) => {
  admin ??= new SyncPg(url);
  return admin.query(sql, params);
};

beforeAll(async () => {
  server = await startPostgres();
}, 1_200_000);
afterAll(async () => {
  admin?.close();
  await server?.stop();
}, 60_000);

journalContract<PostgresJournal>('PostgreSQL', {
  fresh() {
    admin?.close();
    admin = undefined;
    url = server.createDatabase(`contract_${++n}`);
  },
  cleanup() {
    admin?.close();
    admin = undefined;
  },
  open: (o) =>
    new PostgresJournal(url, {
      clock: o.clock,
      ...(o.instance !== undefined ? { instance: o.instance } : {}),
      ...(o.lockStaleMs !== undefined ? { lockStaleMs: o.lockStaleMs } : {}),
      ...(o.lockWaitMs !== undefined ? { lockTimeoutMs: o.lockWaitMs } : {}),
    }),
  setLockRow(account, row) {
    if (row.pid !== undefined) adminQ('UPDATE locks SET pid = $1 WHERE account = $2', [row.pid, account]);
    if (row.instance !== undefined) adminQ('UPDATE locks SET instance = $1 WHERE account = $2', [row.instance, account]);
    if (row.heartbeatAt !== undefined) adminQ('UPDATE locks SET heartbeat_at = $1 WHERE account = $2', [row.heartbeatAt, account]);
  },
  setSchemaVersion(v) {
    adminQ('UPDATE schema_version SET version = $1', [v]);
  },
  latestVersion: PG_MIGRATIONS.length,
  schemaVersion: (j) => j.schemaVersion,
  holdWriteLock() {
    const other = new SyncPg(url);
    other.query('BEGIN');
    other.query('LOCK TABLE intents IN ACCESS EXCLUSIVE MODE');
    return () => {
      other.query('ROLLBACK');
      other.close();
    };
  },
  lockedCode: /^55P03$/,
  storedText: () =>
    ['events', 'rebalances', 'intents', 'meta']
      .map((t) => JSON.stringify(adminQ(`SELECT * FROM ${t}`).rows))
      .join('\n'),
});

describe('PostgreSQL only', () => {
  it('many portfolios in one database: each sees only its own rows and has its own kill switch', () => {
    url = server.createDatabase('many');
    const clock = new ManualClock(T0);
    const a = new PostgresJournal(url, { clock, portfolio: 'alpha' });
    const b = new PostgresJournal(url, { clock, portfolio: 'beta' });
    try {
      a.insertIntent(intent());
      // the same client id in another portfolio is another row
      b.insertIntent(intent({ amount: 2 }));
      expect(a.intent(intent().clientOrderId)?.amount).toBe(0.137);
      expect(b.intent(intent().clientOrderId)?.amount).toBe(2);
      a.setTradingState({ state: 'HALTED', by: 'ops', at: T0, reason: 'alpha only' });
      expect(a.tradingState().state).toBe('HALTED');
      expect(b.tradingState().state).toBe('ACTIVE');
      // ids come from one sequence: rebalance ids (and so client ids) never collide between portfolios
      const r1 = a.createRebalance({ time: T0, trigger: 'start', decisionEvent: null });
      const r2 = b.createRebalance({ time: T0, trigger: 'start', decisionEvent: null });
      expect(r1).not.toBe(r2);
      expect(a.rebalances().map((r) => r.id)).toEqual([r1]);
      a.acquireLock('main');
      b.acquireLock('main');
      expect(a.lockHolder('main')?.instance).toBe(a.instance);
      expect(b.lockHolder('main')?.instance).toBe(b.instance);
    } finally {
      a.close();
      b.close();
    }
  });

  it('a database written before the history table (schema 2): migrated, its portfolios with snapshots marked for a back-fill, rows per portfolio', () => {
    url = server.createDatabase('old');
    adminQ('CREATE TABLE schema_version (version INTEGER NOT NULL)');
    adminQ('INSERT INTO schema_version (version) VALUES (2)');
    for (const m of PG_MIGRATIONS.slice(0, 2)) adminQ(m);
    adminQ("INSERT INTO events (portfolio, time, type, payload) VALUES ('alpha', $1, 'snapshot', '{}')", [T0]);
    const clock = new ManualClock(T0);
    const a = new PostgresJournal(url, { clock, portfolio: 'alpha' });
    const b = new PostgresJournal(url, { clock, portfolio: 'beta' });
    try {
      expect(a.schemaVersion).toBe(PG_MIGRATIONS.length);
      expect(a.getMeta('history.backfill')).toBe('pending');
      expect(b.getMeta('history.backfill')).toBeUndefined();
      a.recordHistory({ cycle: T0, time: T0, event: 1, tpv: 1, hedgeNotional: 0, classes: [] });
      expect(a.history({ level: 0, limit: 10 })).toHaveLength(1);
      expect(b.history({ level: 0, limit: 10 })).toEqual([]);
    } finally {
      a.close();
      b.close();
      admin?.close();
      admin = undefined;
    }
  });

  it('twenty journals opening a new database at once migrate it exactly once', async () => {
    const fresh = server.createDatabase('race');
    const { Worker } = await import('node:worker_threads');
    // Each opener is its own thread with its own connection, as separate worker processes would be.
    const src = `
      const { workerData, parentPort } = require('node:worker_threads');
      const pg = require(workerData.pg);
      (async () => {
        const c = new pg.Client({ connectionString: workerData.url });
        await c.connect();
        await c.query('BEGIN');
        await c.query('SELECT pg_advisory_xact_lock($1)', [workerData.lock]);
        await c.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
        await c.query('COMMIT');
        await c.end();
        parentPort.postMessage('ok');
      })().catch((e) => parentPort.postMessage(String(e)));`;
    const { createRequire } = await import('node:module');
    const pgPath = createRequire(import.meta.url).resolve('pg');
    const { MIGRATION_LOCK } = await import('../../src/adapters/journal/pg-schema.js');
    const warm = await Promise.all(
      Array.from({ length: 4 }, () => new Promise((res) => new Worker(src, { eval: true, workerData: { url: fresh, pg: pgPath, lock: MIGRATION_LOCK } }).once('message', res))),
    );
    expect(warm).toEqual(['ok', 'ok', 'ok', 'ok']);
    const clock = new ManualClock(T0);
    const journals = Array.from({ length: 20 }, (_, i) => new PostgresJournal(fresh, { clock, portfolio: `p${i}` }));
    try {
      const c = new SyncPg(fresh);
      expect(c.query('SELECT version FROM schema_version').rows).toEqual([{ version: PG_MIGRATIONS.length }]);
      c.close();
    } finally {
      for (const j of journals) j.close();
    }
  });

  it('fencing: an intent carries the token it was written under; a stale token is refused before sending', () => {
    url = server.createDatabase('fence');
    const clock = new ManualClock(T0);
    let token = 7;
    const j = new PostgresJournal(url, { clock, portfolio: 'p', fenceFor: () => ({ key: 'venue-1:key-a', token }) });
    try {
      j.insertIntent(intent());
      expect(j.intentFence(intent().clientOrderId)).toBe(7);
      expect(j.checkFence(intent().clientOrderId, 'venue-1:key-a', 7)).toEqual({ ok: true });
      // another worker took the account lock over with token 8 and checked an order of its own
      token = 8;
      j.insertIntent(intent({ clientOrderId: 'bl0000000100000009', leg: 9 }));
      expect(j.checkFence('bl0000000100000009', 'venue-1:key-a', 8)).toEqual({ ok: true });
      // the old holder (token 7) is now refused, even for its own intent
      const stale = j.checkFence(intent().clientOrderId, 'venue-1:key-a', 7);
      expect(stale.ok).toBe(false);
      expect(!stale.ok && stale.reason).toMatch(/fencing token 7 .* stale: a newer holder has 8/);
      // and an intent written under another token cannot be sent under this one
      expect(j.checkFence(intent().clientOrderId, 'venue-1:key-a', 8)).toMatchObject({ ok: false, reason: expect.stringMatching(/written under fencing token 7/) });
    } finally {
      j.close();
    }
  });

  it('server errors are typed by SQLSTATE; an unreachable server is an io error naming the place, not the password', () => {
    expect(pgJournalError(new SyncPgFailure({ message: 'could not extend file', code: '53100' }), 'x', 'save').kind).toBe('full');
    expect(pgJournalError(new SyncPgFailure({ message: 'invalid page', code: 'XX001' }), 'x', 'read').kind).toBe('corrupt');
    expect(pgJournalError(new SyncPgFailure({ message: 'read-only', code: '25006' }), 'x', 'save').kind).toBe('readonly');
    let err: unknown;
    try {
      new PostgresJournal(`postgres://ballast:hunter2@127.0.0.1:${server.port + 1}/none`, { clock: new ManualClock(T0) });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(JournalError);
    expect((err as JournalError).kind).toBe('io');
    expect((err as Error).message).toMatch(/journal postgres:\/\/ballast:\*\*\*@127\.0\.0\.1:\d+\/none#default: open: /);
    expect((err as Error).message).not.toContain('hunter2');
  });
});
