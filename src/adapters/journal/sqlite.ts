/**
 * SQLite journal (better-sqlite3): WAL, synchronous=FULL (a committed write survives power loss; back up the
 * `-wal` file with the db), busy_timeout, foreign keys on. Schema in ./schema.ts, applied as migrations.
 *
 * Errors: every SQLite failure surfaces as JournalError with a kind — SQLITE_BUSY/LOCKED → 'locked',
 * SQLITE_CORRUPT/NOTADB → 'corrupt', SQLITE_FULL → 'full', SQLITE_READONLY → 'readonly', SQLITE_IOERR_* /
 * CANTOPEN → 'io', CONSTRAINT → 'constraint'. Opening runs `PRAGMA quick_check` (unless disabled) so a
 * damaged file is refused at start rather than half-read.
 *
 * Account lock: a row (account, instance, pid, host, heartbeat). On this host another process's row blocks us
 * while that pid is alive — a process killed with SIGKILL leaves a row whose pid is dead, and the next start
 * takes it over at once. A holder on another host (shared disk) or in this same process blocks us while its
 * heartbeat is fresh (< lockStaleMs by the injected clock); the service heartbeats every cycle and order.
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { hostname } from 'node:os';
import Database from 'better-sqlite3';
import { Decimal } from 'decimal.js';
import type { Clock } from '../../ports/clock.js';
import {
  AccountLockedError,
  JournalError,
  type EventQuery,
  type EventType,
  type FillQuery,
  type HistoryQuery,
  type FillRecord,
  type FundingRecord,
  type HedgeRecord,
  type IntentQuery,
  type Journal,
  type JournalErrorKind,
  type JournalEvent,
  type JournalTotals,
  type LockHolder,
  type NewEvent,
  type OrderIntent,
  type OrderState,
  type RebalanceRecord,
  type RebalanceStatus,
  type TradingStateRecord,
} from '../../ports/journal.js';
import type { HistoryPoint, HistoryRow } from '../../core/history.js';
import { HISTORY_SELECT, HistoryDecoder, upsertHistoryArgs, upsertHistorySql } from './history-sql.js';
import { MIGRATIONS } from './schema.js';
import { pidAlive } from '../process.js';

export interface SqliteJournalOptions {
  clock: Clock;
  /** How long a write waits for another connection's lock before failing with 'locked'. Default 5000 ms. */
  busyTimeoutMs?: number;
  /** A lock whose heartbeat is older than this is stale and may be taken over (holders on other hosts, or in this process). Default 120 s. */
  lockStaleMs?: number;
  /** Run `PRAGMA quick_check` when opening. Default true. */
  quickCheck?: boolean;
  /** Cap the database size in pages (a quota; writes beyond it fail with 'full'). */
  maxPageCount?: number;
  /** Identifies this instance in the lock table. Default: a random id. */
  instance?: string;
  /**
   * 'full' (default): a write returns once it is on disk — it survives a power loss. 'normal': WAL commits
   * are synced at checkpoints only — a process crash (kill -9) still loses nothing, a power loss may lose the
   * last commits. Only for journals of simulated trading (a replay), where no real order depends on them.
   */
  durability?: 'full' | 'normal';
}

const SECRET_KEY = /secret|api[-_]?key|password|passphrase|private[-_]?key|token|signature/i;

/** Replace secret-looking fields by '[REDACTED]' (the journal never stores keys). Shared by every journal. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 20 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = SECRET_KEY.test(k) ? '[REDACTED]' : redact(v, depth + 1);
  return out;
}

function kindOf(code: string): JournalErrorKind {
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'locked';
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') return 'corrupt';
  if (code === 'SQLITE_FULL') return 'full';
  if (code.startsWith('SQLITE_READONLY')) return 'readonly';
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_CANTOPEN')) return 'io';
  if (code.startsWith('SQLITE_CONSTRAINT')) return 'constraint';
  return 'other';
}

/** The WHERE clause of a read: each filter the query gives adds its condition and its arguments. */
class Where {
  readonly args: unknown[] = [];
  readonly #conditions: string[] = [];

  /** `sql` (one `?`) with `value`, when the value is given. */
  given(sql: string, value: unknown): this {
    if (value !== undefined) this.add(sql, value);
    return this;
  }

  add(sql: string, ...args: unknown[]): this {
    this.#conditions.push(sql);
    this.args.push(...args);
    return this;
  }

  clause(): string {
    return this.#conditions.length > 0 ? `WHERE ${this.#conditions.join(' AND ')}` : '';
  }
}

/** Map any error thrown by better-sqlite3 to a JournalError (JournalErrors pass through). */
export function toJournalError(err: unknown, location: string, doing: string): JournalError {
  if (err instanceof JournalError) return err;
  if (err instanceof Database.SqliteError) {
    const kind = kindOf(err.code);
    const what = { locked: 'database is locked', corrupt: 'database is corrupt', full: 'database or disk is full', readonly: 'database is read-only', io: 'disk I/O error', schema: 'schema', constraint: 'constraint violated', closed: 'closed', other: 'error' }[kind];
    return new JournalError(kind, `journal ${location}: ${doing}: ${what} (${err.code}: ${err.message})`, { code: err.code, cause: err });
  }
  const msg = err instanceof Error ? err.message : String(err);
  if (/database connection is not open/i.test(msg)) return new JournalError('closed', `journal ${location}: ${doing}: the journal is closed`, { cause: err });
  return new JournalError('other', `journal ${location}: ${doing}: ${msg}`, { cause: err });
}

interface IntentRow {
  client_order_id: string;
  rebalance_id: number;
  leg: number;
  slice: number;
  attempt: number;
  account: string;
  symbol: string;
  side: 'buy' | 'sell';
  type: 'limit' | 'market';
  amount: number;
  price: number | null;
  reduce_only: number;
  state: OrderState;
  filled: number;
  avg_price: number | null;
  venue_order_id: string | null;
  strikes: number;
  purpose: string;
  reason: string | null;
  created_at: number;
  updated_at: number;
}

const intentFromRow = (r: IntentRow): OrderIntent => ({
  clientOrderId: r.client_order_id,
  rebalanceId: r.rebalance_id,
  leg: r.leg,
  slice: r.slice,
  attempt: r.attempt,
  account: r.account,
  symbol: r.symbol,
  side: r.side,
  type: r.type,
  amount: r.amount,
  price: r.price,
  reduceOnly: r.reduce_only === 1,
  state: r.state,
  filled: r.filled,
  avgPrice: r.avg_price,
  venueOrderId: r.venue_order_id,
  notFoundStrikes: r.strikes,
  purpose: r.purpose,
  reason: r.reason,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const intentParams = (i: OrderIntent) => ({
  client_order_id: i.clientOrderId,
  rebalance_id: i.rebalanceId,
  leg: i.leg,
  slice: i.slice,
  attempt: i.attempt,
  account: i.account,
  symbol: i.symbol,
  side: i.side,
  type: i.type,
  amount: i.amount,
  price: i.price,
  reduce_only: i.reduceOnly ? 1 : 0,
  state: i.state,
  filled: i.filled,
  avg_price: i.avgPrice,
  venue_order_id: i.venueOrderId,
  strikes: i.notFoundStrikes,
  purpose: i.purpose,
  reason: i.reason,
  created_at: i.createdAt,
  updated_at: i.updatedAt,
});

interface FillRow {
  account: string;
  trade_id: string;
  venue_order_id: string;
  client_order_id: string | null;
  symbol: string;
  side: 'buy' | 'sell';
  amount: number;
  price: number;
  cost: number;
  fee: number;
  fee_currency: string;
  time: number;
  liquidation: number;
  external: number;
}

const fillFromRow = (r: FillRow): FillRecord => ({
  account: r.account,
  tradeId: r.trade_id,
  venueOrderId: r.venue_order_id,
  clientOrderId: r.client_order_id,
  symbol: r.symbol,
  side: r.side,
  amount: r.amount,
  price: r.price,
  cost: r.cost,
  fee: r.fee,
  feeCurrency: r.fee_currency,
  time: r.time,
  liquidation: r.liquidation === 1,
  external: r.external === 1,
});

interface HedgeRow {
  id: number;
  account: string;
  class: string;
  symbol: string;
  contracts: number;
  entry_price: number;
  opened_at: number;
  closed_at: number | null;
  open_reason: string;
  close_reason: string | null;
  funding_paid: number;
  realised_pnl: number;
  fees: number;
}

const hedgeFromRow = (r: HedgeRow): HedgeRecord => ({
  id: r.id,
  account: r.account,
  class: r.class,
  symbol: r.symbol,
  contracts: r.contracts,
  entryPrice: r.entry_price,
  openedAt: r.opened_at,
  closedAt: r.closed_at,
  openReason: r.open_reason,
  closeReason: r.close_reason,
  fundingPaid: r.funding_paid,
  realisedPnl: r.realised_pnl,
  fees: r.fees,
});

interface RebalanceRow {
  id: number;
  started_at: number;
  finished_at: number | null;
  status: RebalanceStatus;
  trigger: string;
  decision_event: number | null;
  summary: string | null;
}

const rebalanceFromRow = (r: RebalanceRow): RebalanceRecord => ({
  id: r.id,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
  status: r.status,
  trigger: r.trigger,
  decisionEvent: r.decision_event,
  summary: r.summary === null ? null : JSON.parse(r.summary),
});

interface LockRow {
  account: string;
  instance: string;
  pid: number;
  host: string;
  acquired_at: number;
  heartbeat_at: number;
  heartbeat_wall: number | null;
}

const lockFromRow = (r: LockRow): LockHolder => ({
  account: r.account,
  instance: r.instance,
  pid: r.pid,
  host: r.host,
  acquiredAt: r.acquired_at,
  heartbeatAt: r.heartbeat_at,
  heartbeatWall: r.heartbeat_wall ?? null,
});

export class SqliteJournal implements Journal {
  readonly location: string;
  readonly instance: string;
  readonly #db: Database.Database;
  readonly #clock: Clock;
  readonly #lockStaleMs: number;
  readonly #host = hostname();
  #closed = false;

  /** Open (creating and migrating if needed). Throws JournalError on a locked, corrupt or unreadable file. */
  constructor(location: string, options: SqliteJournalOptions) {
    this.location = location;
    this.#clock = options.clock;
    this.#lockStaleMs = options.lockStaleMs ?? 120_000;
    this.instance = options.instance ?? randomUUID().slice(0, 13);
    let db: Database.Database | undefined;
    try {
      // A new journal is created 0600, like the API token beside it: it holds balances, orders and fills.
      // SQLite gives the -wal and -shm files the database file's mode.
      if (location !== ':memory:' && !location.startsWith('file:')) {
        try {
          closeSync(openSync(location, 'wx', 0o600));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      }
      db = new Database(location, { timeout: options.busyTimeoutMs ?? 5_000 });
      db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5_000))}`);
      if (location !== ':memory:') db.pragma('journal_mode = WAL');
      db.pragma(options.durability === 'normal' && location !== ':memory:' ? 'synchronous = NORMAL' : 'synchronous = FULL');
      db.pragma('foreign_keys = ON');
      if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.floor(options.maxPageCount)}`);
      if (options.quickCheck ?? true) {
        const rows = db.pragma('quick_check') as Array<{ quick_check: string }>;
        const bad = rows.map((r) => r.quick_check).filter((r) => r !== 'ok');
        if (bad.length > 0) throw new JournalError('corrupt', `journal ${location}: database is corrupt (quick_check: ${bad.slice(0, 3).join('; ')})`);
      }
      this.#db = db;
      this.#migrate();
    } catch (e) {
      try {
        db?.close();
      } catch {
        // already failing
      }
      throw toJournalError(e, location, 'open');
    }
  }

  #migrate(): void {
    const db = this.#db;
    db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
    const current = row?.version ?? 0;
    if (current > MIGRATIONS.length) {
      throw new JournalError('schema', `journal ${this.location}: schema version ${current} is newer than this ballast understands (${MIGRATIONS.length})`);
    }
    if (current === MIGRATIONS.length) return;
    db.transaction(() => {
      for (let v = current; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]!);
      if (row) db.prepare('UPDATE schema_version SET version = ?').run(MIGRATIONS.length);
      else db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(MIGRATIONS.length);
      const now = this.#clock.now();
      db.prepare("INSERT OR IGNORE INTO trading_state (id, state, by, at, reason) VALUES (1, 'ACTIVE', 'journal', ?, 'new journal')").run(now);
    }).immediate();
  }

  /** The durability settings in force on this connection (journal_mode, synchronous: 2 = FULL, busy_timeout ms). */
  get settings(): { journalMode: string; synchronous: number; busyTimeoutMs: number } {
    return this.#run('read settings', () => ({
      journalMode: String(this.#db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.#db.pragma('synchronous', { simple: true })),
      busyTimeoutMs: Number(this.#db.pragma('busy_timeout', { simple: true })),
    }));
  }

  /** Schema version of the open database. */
  get schemaVersion(): number {
    return this.#run('schema version', () => (this.#db.prepare('SELECT version FROM schema_version').get() as { version: number }).version);
  }

  #run<T>(doing: string, fn: () => T): T {
    if (this.#closed) throw new JournalError('closed', `journal ${this.location}: ${doing}: the journal is closed`);
    try {
      return fn();
    } catch (e) {
      // Store failures become JournalErrors; anything else (a caller's invariant error inside a transaction) passes unchanged.
      if (e instanceof Database.SqliteError || (e instanceof Error && /database connection is not open/i.test(e.message))) {
        throw toJournalError(e, this.location, doing);
      }
      throw e;
    }
  }

  // ================================================================== lock

  lockHolder(account: string): LockHolder | undefined {
    return this.#run('read lock', () => {
      const r = this.#db.prepare('SELECT * FROM locks WHERE account = ?').get(account) as LockRow | undefined;
      return r && lockFromRow(r);
    });
  }

  /**
   * Is another instance's lock stale? On this host, another process holds it exactly while that process is
   * alive (a SIGKILLed holder frees it at once; a live one keeps it even if stuck). Another instance in this
   * process, or one on another host, holds it while its heartbeat is fresh.
   */
  #stale(h: LockHolder, now: number): boolean {
    if (h.host === this.#host && h.pid !== process.pid) return !pidAlive(h.pid);
    return now - h.heartbeatAt > this.#lockStaleMs;
  }

  acquireLock(account: string): void {
    this.#run('acquire lock', () =>
      this.#db
        .transaction(() => {
          const now = this.#clock.now();
          const r = this.#db.prepare('SELECT * FROM locks WHERE account = ?').get(account) as LockRow | undefined;
          if (r && r.instance !== this.instance) {
            const holder = lockFromRow(r);
            if (!this.#stale(holder, now)) throw new AccountLockedError(holder, this.location);
            this.#insertEvent({ time: now, type: 'lock', account, payload: { takeover: true, previous: holder, instance: this.instance, pid: process.pid } });
          }
          if (r && r.instance === this.instance) {
            this.#db.prepare('UPDATE locks SET heartbeat_at = ?, heartbeat_wall = ? WHERE account = ?').run(now, Date.now(), account);
            return;
          }
          this.#db
            .prepare('INSERT OR REPLACE INTO locks (account, instance, pid, host, acquired_at, heartbeat_at, heartbeat_wall) VALUES (?, ?, ?, ?, ?, ?, ?)')
            .run(account, this.instance, process.pid, this.#host, now, now, Date.now());
          this.#insertEvent({ time: now, type: 'lock', account, payload: { acquired: true, instance: this.instance, pid: process.pid, host: this.#host } });
        })
        .immediate(),
    );
  }

  heartbeat(account: string): void {
    this.#run('heartbeat', () =>
      this.#db
        .transaction(() => {
          const r = this.#db.prepare('SELECT * FROM locks WHERE account = ?').get(account) as LockRow | undefined;
          if (!r) throw new JournalError('locked', `journal ${this.location}: account ${account} is not locked by this instance`);
          if (r.instance !== this.instance) throw new AccountLockedError(lockFromRow(r), this.location);
          this.#db.prepare('UPDATE locks SET heartbeat_at = ?, heartbeat_wall = ? WHERE account = ?').run(this.#clock.now(), Date.now(), account);
        })
        .immediate(),
    );
  }

  releaseLock(account: string): void {
    this.#run('release lock', () => {
      this.#db.prepare('DELETE FROM locks WHERE account = ? AND instance = ?').run(account, this.instance);
    });
  }

  transaction<T>(fn: () => T): T {
    return this.#run('transaction', () => {
      const tx = this.#db.transaction(fn);
      return this.#db.inTransaction ? tx() : tx.immediate();
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#db.close();
    } catch {
      // closing a broken database must not hide the original error
    }
  }

  // ================================================================== events

  #insertEvent(e: NewEvent): number {
    const payload = JSON.stringify(redact(e.payload) ?? null);
    return Number(this.#db.prepare('INSERT INTO events (time, type, account, payload) VALUES (?, ?, ?, ?)').run(e.time, e.type, e.account ?? null, payload).lastInsertRowid);
  }

  appendEvent(e: NewEvent): number {
    return this.#run(`append ${e.type} event`, () => this.#insertEvent(e));
  }

  events(q: EventQuery = {}): JournalEvent[] {
    if (q.types !== undefined && q.limit !== undefined) return this.#eventsOfTypes(q, q.types, q.limit);
    return this.#run('read events', () => {
      const where = new Where().given('type = ?', q.type).given('account = ?', q.account).given('time >= ?', q.since).given('id < ?', q.beforeId);
      const w = where.clause();
      const args = where.args;
      const sql = q.limit !== undefined ? `SELECT * FROM (SELECT * FROM events ${w} ORDER BY id DESC LIMIT ?) ORDER BY id` : `SELECT * FROM events ${w} ORDER BY id`;
      if (q.limit !== undefined) args.push(q.limit);
      const rows = this.#db.prepare(sql).all(...args) as Array<{ id: number; time: number; type: EventType; account: string | null; payload: string }>;
      return rows.map((r) => ({ id: r.id, time: r.time, type: r.type, account: r.account, payload: JSON.parse(r.payload) }));
    });
  }

  /** The newest `limit` events of any of `types`: ids per type from the (type, id) index, then the rows kept. */
  #eventsOfTypes(q: EventQuery, types: readonly EventType[], limit: number): JournalEvent[] {
    return this.#run('read events', () => {
      const ids: number[] = [];
      for (const type of types) {
        const where = new Where().add('type = ?', type).given('account = ?', q.account).given('time >= ?', q.since).given('id < ?', q.beforeId);
        // The (type, id) index even with a time filter: (type, time) would sort every event of the type since then.
        const sql = `SELECT id FROM events INDEXED BY events_type_id ${where.clause()} ORDER BY id DESC LIMIT ?`;
        for (const r of this.#db.prepare(sql).all(...where.args, limit) as { id: number }[]) ids.push(r.id);
      }
      const keep = ids.sort((a, b) => b - a).slice(0, limit);
      if (keep.length === 0) return [];
      const rows = this.#db.prepare(`SELECT * FROM events WHERE id IN (${keep.map(() => '?').join(', ')}) ORDER BY id`).all(...keep) as Array<{ id: number; time: number; type: EventType; account: string | null; payload: string }>;
      return rows.map((r) => ({ id: r.id, time: r.time, type: r.type, account: r.account, payload: JSON.parse(r.payload) }));
    });
  }

  // ================================================================== rebalances

  createRebalance(r: { time: number; trigger: string; decisionEvent: number | null }): number {
    return this.#run('create rebalance', () =>
      Number(
        this.#db
          .prepare("INSERT INTO rebalances (started_at, status, trigger, decision_event) VALUES (?, 'running', ?, ?)")
          .run(r.time, r.trigger, r.decisionEvent).lastInsertRowid,
      ),
    );
  }

  finishRebalance(id: number, status: RebalanceStatus, time: number, summary?: unknown): void {
    this.#run('finish rebalance', () => {
      this.#db
        .prepare('UPDATE rebalances SET status = ?, finished_at = ?, summary = ? WHERE id = ?')
        .run(status, time, summary === undefined ? null : JSON.stringify(redact(summary)), id);
    });
  }

  rebalance(id: number): RebalanceRecord | undefined {
    return this.#run('read rebalance', () => {
      const r = this.#db.prepare('SELECT * FROM rebalances WHERE id = ?').get(id) as RebalanceRow | undefined;
      return r && rebalanceFromRow(r);
    });
  }

  rebalances(q: { status?: RebalanceStatus; since?: number; until?: number; limit?: number } = {}): RebalanceRecord[] {
    return this.#run('read rebalances', () => {
      const where = new Where().given('status = ?', q.status).given('started_at >= ?', q.since).given('started_at <= ?', q.until);
      const rows = this.#db.prepare(`SELECT * FROM rebalances ${where.clause()} ORDER BY id DESC LIMIT ?`).all(...where.args, q.limit ?? -1) as RebalanceRow[];
      return rows.map(rebalanceFromRow).reverse();
    });
  }

  // ================================================================== intents

  insertIntent(i: OrderIntent): void {
    this.#run(`save intent ${i.clientOrderId}`, () => {
      this.#db
        .prepare(
          `INSERT INTO intents (client_order_id, rebalance_id, leg, slice, attempt, account, symbol, side, type, amount, price, reduce_only,
             state, filled, avg_price, venue_order_id, strikes, purpose, reason, created_at, updated_at)
           VALUES (@client_order_id, @rebalance_id, @leg, @slice, @attempt, @account, @symbol, @side, @type, @amount, @price, @reduce_only,
             @state, @filled, @avg_price, @venue_order_id, @strikes, @purpose, @reason, @created_at, @updated_at)`,
        )
        .run(intentParams(i));
    });
  }

  updateIntent(i: OrderIntent): void {
    this.#run(`update intent ${i.clientOrderId}`, () => {
      const res = this.#db
        .prepare(
          `UPDATE intents SET state = @state, filled = @filled, avg_price = @avg_price, venue_order_id = @venue_order_id, strikes = @strikes,
             reason = @reason, updated_at = @updated_at, price = @price, amount = @amount
           WHERE client_order_id = @client_order_id`,
        )
        .run(intentParams(i));
      if (res.changes !== 1) throw new JournalError('constraint', `journal ${this.location}: no intent ${i.clientOrderId} to update`);
    });
  }

  intent(clientOrderId: string): OrderIntent | undefined {
    return this.#run('read intent', () => {
      const r = this.#db.prepare('SELECT * FROM intents WHERE client_order_id = ?').get(clientOrderId) as IntentRow | undefined;
      return r && intentFromRow(r);
    });
  }

  intentByVenueOrder(account: string, venueOrderId: string): OrderIntent | undefined {
    return this.#run('read intent', () => {
      const r = this.#db.prepare('SELECT * FROM intents WHERE account = ? AND venue_order_id = ? LIMIT 1').get(account, venueOrderId) as IntentRow | undefined;
      return r && intentFromRow(r);
    });
  }

  intents(q: IntentQuery = {}): OrderIntent[] {
    return this.#run('read intents', () => {
      const where = new Where().given('rebalance_id = ?', q.rebalanceId).given('account = ?', q.account);
      if (q.states !== undefined) {
        if (q.states.length === 0) return [];
        where.add(`state IN (${q.states.map(() => '?').join(', ')})`, ...q.states);
      }
      const rows = this.#db.prepare(`SELECT * FROM intents ${where.clause()} ORDER BY created_at, rebalance_id, leg, slice, attempt`).all(...where.args) as IntentRow[];
      return rows.map(intentFromRow);
    });
  }

  // ================================================================== fills and funding

  insertFill(f: FillRecord): boolean {
    return this.#run(`record fill ${f.tradeId}`, () => {
      const res = this.#db
        .prepare(
          `INSERT OR IGNORE INTO fills (account, trade_id, venue_order_id, client_order_id, symbol, side, amount, price, cost, fee, fee_currency, time, liquidation, external)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(f.account, f.tradeId, f.venueOrderId, f.clientOrderId, f.symbol, f.side, f.amount, f.price, f.cost, f.fee, f.feeCurrency, f.time, f.liquidation ? 1 : 0, f.external ? 1 : 0);
      return res.changes === 1;
    });
  }

  hasFill(account: string, tradeId: string): boolean {
    return this.#run('read fill', () => this.#db.prepare('SELECT 1 FROM fills WHERE account = ? AND trade_id = ?').get(account, tradeId) !== undefined);
  }

  fills(q: FillQuery = {}): FillRecord[] {
    return this.#run('read fills', () => {
      const where = new Where()
        .given('account = ?', q.account)
        .given('client_order_id = ?', q.clientOrderId)
        .given('venue_order_id = ?', q.venueOrderId)
        .given('symbol = ?', q.symbol)
        .given('time >= ?', q.since)
        .given('external = ?', q.external === undefined ? undefined : q.external ? 1 : 0);
      return (this.#db.prepare(`SELECT * FROM fills ${where.clause()} ORDER BY time, rowid`).all(...where.args) as FillRow[]).map(fillFromRow);
    });
  }

  insertFunding(f: FundingRecord): boolean {
    return this.#run(`record funding ${f.id}`, () => {
      const res = this.#db
        .prepare('INSERT OR IGNORE INTO funding (account, id, symbol, time, amount, currency, rate) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(f.account, f.id, f.symbol, f.time, f.amount, f.currency, f.rate);
      return res.changes === 1;
    });
  }

  funding(q: { account?: string; symbol?: string; since?: number } = {}): FundingRecord[] {
    return this.#run('read funding', () => {
      const where = new Where().given('account = ?', q.account).given('symbol = ?', q.symbol).given('time >= ?', q.since);
      return this.#db.prepare(`SELECT * FROM funding ${where.clause()} ORDER BY time, rowid`).all(...where.args) as FundingRecord[];
    });
  }

  totals(liveStates: readonly OrderState[]): JournalTotals {
    return this.#run('count journal', () => {
      const one = (sql: string, ...args: unknown[]) => Number((this.#db.prepare(sql).get(...args) as { n: number | null }).n ?? 0);
      const live = liveStates.length === 0 ? 0 : one(`SELECT COUNT(*) AS n FROM intents WHERE state IN (${liveStates.map(() => '?').join(', ')})`, ...liveStates);
      return {
        intents: one('SELECT COUNT(*) AS n FROM intents'),
        liveIntents: live,
        fills: one('SELECT COUNT(*) AS n FROM fills'),
        openHedges: one('SELECT COUNT(*) AS n FROM hedges WHERE closed_at IS NULL'),
        fundingNet: one('SELECT TOTAL(amount) AS n FROM funding'),
      };
    });
  }

  // ================================================================== book

  book(account: string): Record<string, number> | null {
    return this.#run('read book', () => {
      const base = this.#db.prepare('SELECT time FROM baselines WHERE account = ?').get(account);
      if (!base) return null;
      const rows = this.#db.prepare('SELECT key, qty FROM book WHERE account = ? ORDER BY key').all(account) as Array<{ key: string; qty: number }>;
      const out: Record<string, number> = {};
      for (const r of rows) if (r.qty !== 0) out[r.key] = r.qty;
      return out;
    });
  }

  setBook(account: string, entries: Record<string, number>, time: number): void {
    this.transaction(() => {
      this.#db.prepare('DELETE FROM book WHERE account = ?').run(account);
      const ins = this.#db.prepare('INSERT INTO book (account, key, qty, updated_at) VALUES (?, ?, ?, ?)');
      for (const [k, v] of Object.entries(entries)) if (v !== 0) ins.run(account, k, v, time);
      this.#db.prepare('INSERT OR REPLACE INTO baselines (account, time) VALUES (?, ?)').run(account, time);
    });
  }

  adjustBook(account: string, key: string, delta: number, time: number): number {
    return this.#run('adjust book', () => {
      const r = this.#db.prepare('SELECT qty FROM book WHERE account = ? AND key = ?').get(account, key) as { qty: number } | undefined;
      const next = new Decimal(r?.qty ?? 0).plus(delta).toNumber();
      this.#db.prepare('INSERT OR REPLACE INTO book (account, key, qty, updated_at) VALUES (?, ?, ?, ?)').run(account, key, next, time);
      return next;
    });
  }

  // ================================================================== meta

  getMeta(key: string): string | undefined {
    return this.#run('read meta', () => (this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value);
  }

  setMeta(key: string, value: string): void {
    this.#run('write meta', () => {
      this.#db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(key, value);
    });
  }

  // ================================================================== hedges

  insertHedge(h: Omit<HedgeRecord, 'id'>): number {
    return this.#run('open hedge', () =>
      Number(
        this.#db
          .prepare(
            `INSERT INTO hedges (account, class, symbol, contracts, entry_price, opened_at, closed_at, open_reason, close_reason, funding_paid, realised_pnl, fees)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(h.account, h.class, h.symbol, h.contracts, h.entryPrice, h.openedAt, h.closedAt, h.openReason, h.closeReason, h.fundingPaid, h.realisedPnl, h.fees).lastInsertRowid,
      ),
    );
  }

  updateHedge(h: HedgeRecord): void {
    this.#run('update hedge', () => {
      this.#db
        .prepare(
          `UPDATE hedges SET contracts = ?, entry_price = ?, closed_at = ?, close_reason = ?, funding_paid = ?, realised_pnl = ?, fees = ? WHERE id = ?`,
        )
        .run(h.contracts, h.entryPrice, h.closedAt, h.closeReason, h.fundingPaid, h.realisedPnl, h.fees, h.id);
    });
  }

  openHedge(account: string, symbol: string): HedgeRecord | undefined {
    return this.#run('read hedge', () => {
      const r = this.#db.prepare('SELECT * FROM hedges WHERE account = ? AND symbol = ? AND closed_at IS NULL ORDER BY id DESC LIMIT 1').get(account, symbol) as HedgeRow | undefined;
      return r && hedgeFromRow(r);
    });
  }

  hedges(q: { account?: string; open?: boolean } = {}): HedgeRecord[] {
    return this.#run('read hedges', () => {
      const where = new Where().given('account = ?', q.account);
      if (q.open !== undefined) where.add(q.open ? 'closed_at IS NULL' : 'closed_at IS NOT NULL');
      return (this.#db.prepare(`SELECT * FROM hedges ${where.clause()} ORDER BY id`).all(...where.args) as HedgeRow[]).map(hedgeFromRow);
    });
  }

  // ================================================================== history series

  #upsertHistory: Database.Statement | undefined;

  readonly #decoder = new HistoryDecoder();

  recordHistory(p: HistoryPoint): void {
    this.#run('record history', () => {
      this.#upsertHistory ??= this.#db.prepare(upsertHistorySql('sqlite'));
      this.#upsertHistory.run(...upsertHistoryArgs(p));
    });
  }

  historyCount(q: HistoryQuery): number {
    return this.#run('count history', () => {
      const where = new Where().add('level = ?', q.level).given('bucket >= ?', q.since).given('bucket <= ?', q.until);
      return (this.#db.prepare(`SELECT COUNT(*) AS n FROM (SELECT 1 FROM history ${where.clause()} LIMIT ?)`).get(...where.args, q.limit) as { n: number }).n;
    });
  }

  history(q: HistoryQuery): HistoryRow[] {
    return this.#run('read history', () => {
      const where = new Where().add('level = ?', q.level).given('bucket >= ?', q.since).given('bucket <= ?', q.until);
      const sql = `SELECT ${HISTORY_SELECT} FROM history ${where.clause()} ORDER BY bucket ${q.oldest ? 'ASC' : 'DESC'} LIMIT ?`;
      // Rows as arrays: no object per row from the driver.
      const rows = this.#db.prepare(sql).raw(true).all(...where.args, q.limit) as unknown[][];
      if (!q.oldest) rows.reverse();
      return rows.map((r) => this.#decoder.array(r));
    });
  }

  // ================================================================== trading state

  tradingState(): TradingStateRecord {
    return this.#run('read trading state', () => {
      const r = this.#db.prepare('SELECT state, by, at, reason FROM trading_state WHERE id = 1').get() as TradingStateRecord | undefined;
      return r ?? { state: 'ACTIVE', by: 'journal', at: 0, reason: 'default' };
    });
  }

  setTradingState(s: TradingStateRecord): void {
    this.#run('write trading state', () => {
      this.#db.prepare('INSERT OR REPLACE INTO trading_state (id, state, by, at, reason) VALUES (1, ?, ?, ?, ?)').run(s.state, s.by, s.at, s.reason);
    });
  }
}
