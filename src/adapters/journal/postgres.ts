/**
 * PostgreSQL journal: the Journal port on a server database shared by many workers and many portfolios.
 * Selected by `--db postgres://…` (./open.ts); SQLite stays the default for one portfolio.
 *
 * - Synchronous like the port: statements run on one `pg` connection in a worker thread (./pg-sync.ts), and
 *   a call returns after COMMIT (Postgres' default synchronous_commit=on: the WAL record is flushed).
 * - One portfolio per journal object: every row carries `portfolio` (./pg-schema.ts), so trading state, the
 *   kill switch, intents, fills and the book are per portfolio in one database.
 * - Migrations are versioned (`schema_version`) and run once under an advisory lock even when many workers
 *   start together; a database newer than this ballast is refused ('schema').
 * - Errors are JournalErrors typed from the SQLSTATE: 23xxx → 'constraint', 55P03/40P01/40001 → 'locked',
 *   53xxx → 'full', 25006 → 'readonly', XX001/XX002 → 'corrupt', 08xxx/57Pxx/no reply → 'io', 42P01 → 'schema'.
 * - Account lock: the same row protocol as SQLite (instance, pid, host, heartbeat), taken under a
 *   transaction-scoped advisory lock so two instances cannot both insert it.
 * - Fencing: `fenceFor(account)` (given by a worker that holds a distributed account lock) is written into
 *   every intent; `checkFence` is what the FencedExchange asks before it sends (src/adapters/scale/fence.ts).
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
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
import { pidAlive } from '../process.js';
import type { HistoryPoint, HistoryRow } from '../../core/history.js';
import { HistoryDecoder, upsertHistoryArgs, upsertHistorySql, type HistorySqlRow } from './history-sql.js';
import { MIGRATION_LOCK, PG_MIGRATIONS } from './pg-schema.js';
import { SyncPg, SyncPgFailure } from './pg-sync.js';
import { redact } from './sqlite.js';

export interface PostgresJournalOptions {
  clock: Clock;
  /** The portfolio whose rows this journal reads and writes. Default 'default' (what `ballast run --db postgres://…` uses). */
  portfolio?: string;
  /** A lock whose heartbeat is older than this is stale (holders on other hosts, or in this process). Default 120 s. */
  lockStaleMs?: number;
  /** How long a statement waits for a row or table lock before failing with 'locked'. Default 5000 ms. */
  lockTimeoutMs?: number;
  /** Identifies this instance in the lock table. Default: a random id. */
  instance?: string;
  /** The fencing token under which this process may trade `account` (null: none). Written into each intent. */
  fenceFor?: (account: string) => { key: string; token: number } | null;
  /** Share one connection (portfolios served by one worker). Default: a connection of its own, closed by close(). */
  connection?: SyncPg;
}

/** Hide the password of a connection URL (locations appear in errors and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://(unparseable url)';
  }
}

function kindOf(code: string | undefined): JournalErrorKind {
  if (code === undefined) return 'io';
  if (code === 'CLOSED') return 'closed';
  if (code.startsWith('23')) return 'constraint';
  if (code === '55P03' || code === '40P01' || code === '40001') return 'locked';
  if (code.startsWith('53')) return 'full';
  if (code === '25006') return 'readonly';
  if (code === 'XX001' || code === 'XX002') return 'corrupt';
  if (code === '42P01' || code === '42703') return 'schema';
  if (code.startsWith('08') || code.startsWith('57P') || code.startsWith('E')) return 'io';
  return 'other';
}

export function pgJournalError(err: unknown, location: string, doing: string): JournalError {
  if (err instanceof JournalError) return err;
  if (err instanceof SyncPgFailure) {
    const kind = kindOf(err.code);
    return new JournalError(kind, `journal ${location}: ${doing}: ${kind === 'closed' ? 'the journal is closed' : err.message}${err.code && kind !== 'closed' ? ` (${err.code})` : ''}`, {
      ...(err.code !== undefined ? { code: err.code } : {}),
      cause: err,
    });
  }
  return new JournalError('other', `journal ${location}: ${doing}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

type Row = Record<string, unknown>;

const intentFromRow = (r: Row): OrderIntent => ({
  clientOrderId: r.client_order_id as string,
  rebalanceId: r.rebalance_id as number,
  leg: r.leg as number,
  slice: r.slice as number,
  attempt: r.attempt as number,
  account: r.account as string,
  symbol: r.symbol as string,
  side: r.side as OrderIntent['side'],
  type: r.type as OrderIntent['type'],
  amount: r.amount as number,
  price: r.price as number | null,
  reduceOnly: r.reduce_only as boolean,
  state: r.state as OrderState,
  filled: r.filled as number,
  avgPrice: r.avg_price as number | null,
  venueOrderId: r.venue_order_id as string | null,
  notFoundStrikes: r.strikes as number,
  purpose: r.purpose as string,
  reason: r.reason as string | null,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

const fillFromRow = (r: Row): FillRecord => ({
  account: r.account as string,
  tradeId: r.trade_id as string,
  venueOrderId: r.venue_order_id as string,
  clientOrderId: r.client_order_id as string | null,
  symbol: r.symbol as string,
  side: r.side as FillRecord['side'],
  amount: r.amount as number,
  price: r.price as number,
  cost: r.cost as number,
  fee: r.fee as number,
  feeCurrency: r.fee_currency as string,
  time: r.time as number,
  liquidation: r.liquidation as boolean,
  external: r.external as boolean,
});

const hedgeFromRow = (r: Row): HedgeRecord => ({
  id: r.id as number,
  account: r.account as string,
  class: r.class as string,
  symbol: r.symbol as string,
  contracts: r.contracts as number,
  entryPrice: r.entry_price as number,
  openedAt: r.opened_at as number,
  closedAt: r.closed_at as number | null,
  openReason: r.open_reason as string,
  closeReason: r.close_reason as string | null,
  fundingPaid: r.funding_paid as number,
  realisedPnl: r.realised_pnl as number,
  fees: r.fees as number,
});

const rebalanceFromRow = (r: Row): RebalanceRecord => ({
  id: r.id as number,
  startedAt: r.started_at as number,
  finishedAt: r.finished_at as number | null,
  status: r.status as RebalanceStatus,
  trigger: r.trigger as string,
  decisionEvent: r.decision_event as number | null,
  summary: r.summary === null ? null : JSON.parse(r.summary as string),
});

const lockFromRow = (r: Row): LockHolder => ({
  account: r.account as string,
  instance: r.instance as string,
  pid: r.pid as number,
  host: r.host as string,
  acquiredAt: r.acquired_at as number,
  heartbeatAt: r.heartbeat_at as number,
});

/** Builds a WHERE clause with $n placeholders after the fixed `portfolio = $1`. */
class Where {
  readonly parts: string[] = ['portfolio = $1'];
  readonly args: unknown[];
  constructor(portfolio: string) {
    this.args = [portfolio];
  }
  add(sql: string, ...values: unknown[]): this {
    let s = sql;
    for (const v of values) {
      this.args.push(v);
      s = s.replace('?', `$${this.args.length}`);
    }
    this.parts.push(s);
    return this;
  }
  next(v: unknown): string {
    this.args.push(v);
    return `$${this.args.length}`;
  }
  get sql(): string {
    return `WHERE ${this.parts.join(' AND ')}`;
  }
}

/** Apply the migrations (once, under an advisory lock). Returns the schema version. */
export function migratePostgres(db: SyncPg, location: string): number {
  db.query('BEGIN');
  try {
    db.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    db.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = db.query<{ version: number }>('SELECT version FROM schema_version').rows[0];
    const current = row?.version ?? 0;
    if (current > PG_MIGRATIONS.length) {
      throw new JournalError('schema', `journal ${location}: schema version ${current} is newer than this ballast understands (${PG_MIGRATIONS.length})`);
    }
    for (let v = current; v < PG_MIGRATIONS.length; v++) db.query(PG_MIGRATIONS[v]!);
    if (row === undefined) db.query('INSERT INTO schema_version (version) VALUES ($1)', [PG_MIGRATIONS.length]);
    else if (current !== PG_MIGRATIONS.length) db.query('UPDATE schema_version SET version = $1', [PG_MIGRATIONS.length]);
    db.query('COMMIT');
    return PG_MIGRATIONS.length;
  } catch (e) {
    try {
      db.query('ROLLBACK');
    } catch {
      // the connection is gone: the server rolled back
    }
    throw e;
  }
}

export class PostgresJournal implements Journal {
  readonly location: string;
  readonly portfolio: string;
  readonly instance: string;
  readonly #db: SyncPg;
  readonly #ownsConnection: boolean;
  readonly #clock: Clock;
  readonly #lockStaleMs: number;
  readonly #fenceFor: PostgresJournalOptions['fenceFor'];
  readonly #host = hostname();
  #depth = 0;
  #closed = false;

  /** Connect and migrate. Throws JournalError ('io' when the server cannot be reached, 'schema' when it is newer). */
  constructor(url: string, options: PostgresJournalOptions) {
    this.portfolio = options.portfolio ?? 'default';
    this.location = `${redactUrl(url)}#${this.portfolio}`;
    this.#clock = options.clock;
    this.#lockStaleMs = options.lockStaleMs ?? 120_000;
    this.instance = options.instance ?? randomUUID().slice(0, 13);
    this.#fenceFor = options.fenceFor;
    this.#ownsConnection = options.connection === undefined;
    this.#db = options.connection ?? new SyncPg(url, { lockTimeoutMs: options.lockTimeoutMs ?? 5_000 });
    try {
      migratePostgres(this.#db, this.location);
    } catch (e) {
      if (this.#ownsConnection) this.#db.close();
      throw pgJournalError(e, this.location, 'open');
    }
  }

  /** Schema version of the database. */
  get schemaVersion(): number {
    return this.#run('schema version', () => this.#q<{ version: number }>('SELECT version FROM schema_version')[0]!.version);
  }

  #q<R = Row>(sql: string, params: readonly unknown[] = []): R[] {
    return this.#db.query<R>(sql, params).rows;
  }

  #n(sql: string, params: readonly unknown[] = []): number {
    return this.#db.query(sql, params).rowCount;
  }

  #run<T>(doing: string, fn: () => T): T {
    if (this.#closed) throw new JournalError('closed', `journal ${this.location}: ${doing}: the journal is closed`);
    try {
      return fn();
    } catch (e) {
      if (e instanceof SyncPgFailure) throw pgJournalError(e, this.location, doing);
      throw e;
    }
  }

  // ================================================================== lock

  lockHolder(account: string): LockHolder | undefined {
    return this.#run('read lock', () => {
      const r = this.#q('SELECT * FROM locks WHERE portfolio = $1 AND account = $2', [this.portfolio, account])[0];
      return r && lockFromRow(r);
    });
  }

  #stale(h: LockHolder, now: number): boolean {
    if (h.host === this.#host && h.pid !== process.pid) return !pidAlive(h.pid);
    return now - h.heartbeatAt > this.#lockStaleMs;
  }

  #lockRow(account: string): LockHolder | undefined {
    this.#q("SELECT pg_advisory_xact_lock(hashtext('ballast-lock:' || $1 || ':' || $2))", [this.portfolio, account]);
    const r = this.#q('SELECT * FROM locks WHERE portfolio = $1 AND account = $2', [this.portfolio, account])[0];
    return r && lockFromRow(r);
  }

  acquireLock(account: string): void {
    this.#run('acquire lock', () =>
      this.transaction(() => {
        const now = this.#clock.now();
        const holder = this.#lockRow(account);
        if (holder && holder.instance !== this.instance) {
          if (!this.#stale(holder, now)) throw new AccountLockedError(holder, this.location);
          this.#insertEvent({ time: now, type: 'lock', account, payload: { takeover: true, previous: holder, instance: this.instance, pid: process.pid } });
        }
        if (holder && holder.instance === this.instance) {
          this.#q('UPDATE locks SET heartbeat_at = $3 WHERE portfolio = $1 AND account = $2', [this.portfolio, account, now]);
          return;
        }
        this.#q(
          `INSERT INTO locks (portfolio, account, instance, pid, host, acquired_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6, $6)
           ON CONFLICT (portfolio, account) DO UPDATE SET instance = EXCLUDED.instance, pid = EXCLUDED.pid, host = EXCLUDED.host,
             acquired_at = EXCLUDED.acquired_at, heartbeat_at = EXCLUDED.heartbeat_at`,
          [this.portfolio, account, this.instance, process.pid, this.#host, now],
        );
        this.#insertEvent({ time: now, type: 'lock', account, payload: { acquired: true, instance: this.instance, pid: process.pid, host: this.#host } });
      }),
    );
  }

  heartbeat(account: string): void {
    this.#run('heartbeat', () =>
      this.transaction(() => {
        const holder = this.#lockRow(account);
        if (!holder) throw new JournalError('locked', `journal ${this.location}: account ${account} is not locked by this instance`);
        if (holder.instance !== this.instance) throw new AccountLockedError(holder, this.location);
        this.#q('UPDATE locks SET heartbeat_at = $3 WHERE portfolio = $1 AND account = $2', [this.portfolio, account, this.#clock.now()]);
      }),
    );
  }

  releaseLock(account: string): void {
    this.#run('release lock', () => {
      this.#q('DELETE FROM locks WHERE portfolio = $1 AND account = $2 AND instance = $3', [this.portfolio, account, this.instance]);
    });
  }

  transaction<T>(fn: () => T): T {
    return this.#run('transaction', () => {
      if (this.#depth > 0) {
        this.#depth++;
        try {
          return fn();
        } finally {
          this.#depth--;
        }
      }
      this.#db.query('BEGIN');
      this.#depth = 1;
      try {
        const out = fn();
        this.#db.query('COMMIT');
        return out;
      } catch (e) {
        try {
          this.#db.query('ROLLBACK');
        } catch {
          // the connection is gone: the server rolled back
        }
        throw e;
      } finally {
        this.#depth = 0;
      }
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsConnection) this.#db.close();
  }

  // ================================================================== events

  #insertEvent(e: NewEvent): number {
    const payload = JSON.stringify(redact(e.payload) ?? null);
    return this.#q<{ id: number }>('INSERT INTO events (portfolio, time, type, account, payload) VALUES ($1, $2, $3, $4, $5) RETURNING id', [
      this.portfolio,
      e.time,
      e.type,
      e.account ?? null,
      payload,
    ])[0]!.id;
  }

  appendEvent(e: NewEvent): number {
    return this.#run(`append ${e.type} event`, () => this.#insertEvent(e));
  }

  events(q: EventQuery = {}): JournalEvent[] {
    if (q.types !== undefined && q.limit !== undefined) return this.#eventsOfTypes(q, q.types, q.limit);
    return this.#run('read events', () => {
      const w = new Where(this.portfolio);
      if (q.type !== undefined) w.add('type = ?', q.type);
      if (q.account !== undefined) w.add('account = ?', q.account);
      // −Infinity ("from the beginning", as a reader that has seen nothing asks) is no bound: bigint has no infinities
      if (q.since !== undefined && q.since !== -Infinity) w.add('time >= ?', q.since);
      if (q.beforeId !== undefined) w.add('id < ?', q.beforeId);
      const sql =
        q.limit !== undefined
          ? `SELECT * FROM (SELECT * FROM events ${w.sql} ORDER BY id DESC LIMIT ${w.next(q.limit)}) AS e ORDER BY id`
          : `SELECT * FROM events ${w.sql} ORDER BY id`;
      return this.#q(sql, w.args).map((r) => ({
        id: r.id as number,
        time: r.time as number,
        type: r.type as EventType,
        account: r.account as string | null,
        payload: JSON.parse(r.payload as string),
      }));
    });
  }

  /** The newest `limit` events of any of `types`: ids per type from the (portfolio, type, id) index, then the rows kept. */
  #eventsOfTypes(q: EventQuery, types: readonly EventType[], limit: number): JournalEvent[] {
    return this.#run('read events', () => {
      if (types.length === 0) return [];
      const w = new Where(this.portfolio);
      if (q.account !== undefined) w.add('account = ?', q.account);
      if (q.since !== undefined && q.since !== -Infinity) w.add('time >= ?', q.since);
      if (q.beforeId !== undefined) w.add('id < ?', q.beforeId);
      const lim = w.next(limit);
      // One statement: a LATERAL read of each type's newest ids, merged and cut to the page, then those rows.
      const list = types.map((t) => w.next(t)).join(', ');
      const sql = `SELECT e.* FROM (
          SELECT x.id FROM unnest(ARRAY[${list}]::text[]) AS t(type)
          CROSS JOIN LATERAL (SELECT id FROM events ${w.sql} AND type = t.type ORDER BY id DESC LIMIT ${lim}) AS x
          ORDER BY x.id DESC LIMIT ${lim}
        ) AS k JOIN events e ON e.id = k.id ORDER BY e.id`;
      return this.#q(sql, w.args).map((r) => ({
        id: r.id as number,
        time: r.time as number,
        type: r.type as EventType,
        account: r.account as string | null,
        payload: JSON.parse(r.payload as string),
      }));
    });
  }

  // ================================================================== rebalances

  createRebalance(r: { time: number; trigger: string; decisionEvent: number | null }): number {
    return this.#run('create rebalance', () =>
      this.#q<{ id: number }>("INSERT INTO rebalances (portfolio, started_at, status, trigger, decision_event) VALUES ($1, $2, 'running', $3, $4) RETURNING id", [
        this.portfolio,
        r.time,
        r.trigger,
        r.decisionEvent,
      ])[0]!.id,
    );
  }

  finishRebalance(id: number, status: RebalanceStatus, time: number, summary?: unknown): void {
    this.#run('finish rebalance', () => {
      this.#q('UPDATE rebalances SET status = $3, finished_at = $4, summary = $5 WHERE portfolio = $1 AND id = $2', [
        this.portfolio,
        id,
        status,
        time,
        summary === undefined ? null : JSON.stringify(redact(summary)),
      ]);
    });
  }

  rebalance(id: number): RebalanceRecord | undefined {
    return this.#run('read rebalance', () => {
      const r = this.#q('SELECT * FROM rebalances WHERE portfolio = $1 AND id = $2', [this.portfolio, id])[0];
      return r && rebalanceFromRow(r);
    });
  }

  rebalances(q: { status?: RebalanceStatus; since?: number; until?: number; limit?: number } = {}): RebalanceRecord[] {
    return this.#run('read rebalances', () => {
      const w = new Where(this.portfolio);
      if (q.status !== undefined) w.add('status = ?', q.status);
      if (q.since !== undefined && q.since !== -Infinity) w.add('started_at >= ?', q.since);
      if (q.until !== undefined && q.until !== Infinity) w.add('started_at <= ?', q.until);
      const rows = this.#q(`SELECT * FROM rebalances ${w.sql} ORDER BY id DESC LIMIT ${w.next(q.limit ?? null)}`, w.args);
      return rows.map(rebalanceFromRow).reverse();
    });
  }

  // ================================================================== intents

  insertIntent(i: OrderIntent): void {
    this.#run(`save intent ${i.clientOrderId}`, () => {
      const fence = this.#fenceFor?.(i.account) ?? null;
      this.#q(
        `INSERT INTO intents (portfolio, client_order_id, rebalance_id, leg, slice, attempt, account, symbol, side, type, amount, price, reduce_only,
           state, filled, avg_price, venue_order_id, strikes, purpose, reason, created_at, updated_at, fence)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)`,
        [
          this.portfolio,
          i.clientOrderId,
          i.rebalanceId,
          i.leg,
          i.slice,
          i.attempt,
          i.account,
          i.symbol,
          i.side,
          i.type,
          i.amount,
          i.price,
          i.reduceOnly,
          i.state,
          i.filled,
          i.avgPrice,
          i.venueOrderId,
          i.notFoundStrikes,
          i.purpose,
          i.reason,
          i.createdAt,
          i.updatedAt,
          fence?.token ?? null,
        ],
      );
    });
  }

  updateIntent(i: OrderIntent): void {
    this.#run(`update intent ${i.clientOrderId}`, () => {
      const n = this.#n(
        `UPDATE intents SET state = $3, filled = $4, avg_price = $5, venue_order_id = $6, strikes = $7, reason = $8, updated_at = $9, price = $10, amount = $11
         WHERE portfolio = $1 AND client_order_id = $2`,
        [this.portfolio, i.clientOrderId, i.state, i.filled, i.avgPrice, i.venueOrderId, i.notFoundStrikes, i.reason, i.updatedAt, i.price, i.amount],
      );
      if (n !== 1) throw new JournalError('constraint', `journal ${this.location}: no intent ${i.clientOrderId} to update`);
    });
  }

  intent(clientOrderId: string): OrderIntent | undefined {
    return this.#run('read intent', () => {
      const r = this.#q('SELECT * FROM intents WHERE portfolio = $1 AND client_order_id = $2', [this.portfolio, clientOrderId])[0];
      return r && intentFromRow(r);
    });
  }

  intentByVenueOrder(account: string, venueOrderId: string): OrderIntent | undefined {
    return this.#run('read intent', () => {
      const r = this.#q('SELECT * FROM intents WHERE portfolio = $1 AND account = $2 AND venue_order_id = $3 LIMIT 1', [this.portfolio, account, venueOrderId])[0];
      return r && intentFromRow(r);
    });
  }

  intents(q: IntentQuery = {}): OrderIntent[] {
    return this.#run('read intents', () => {
      if (q.states !== undefined && q.states.length === 0) return [];
      const w = new Where(this.portfolio);
      if (q.rebalanceId !== undefined) w.add('rebalance_id = ?', q.rebalanceId);
      if (q.account !== undefined) w.add('account = ?', q.account);
      if (q.states !== undefined) w.add('state = ANY(?)', [...q.states]);
      return this.#q(`SELECT * FROM intents ${w.sql} ORDER BY created_at, rebalance_id, leg, slice, attempt`, w.args).map(intentFromRow);
    });
  }

  /** The fencing token written into an intent (null when it was written without a distributed lock). */
  intentFence(clientOrderId: string): number | null | undefined {
    return this.#run('read intent fence', () => {
      const r = this.#q<{ fence: number | null }>('SELECT fence FROM intents WHERE portfolio = $1 AND client_order_id = $2', [this.portfolio, clientOrderId])[0];
      return r === undefined ? undefined : r.fence;
    });
  }

  /**
   * May the order of this intent be sent? Records `token` as the lock key's high-water mark and answers
   * false when a newer token was seen (another worker took the account lock over), or when the intent was
   * written under another token than `token`. Atomic in the database, so two workers cannot both pass.
   */
  checkFence(clientOrderId: string, key: string, token: number): { ok: true } | { ok: false; reason: string } {
    return this.#run('check fencing token', () =>
      this.transaction(() => {
        const written = this.#q<{ fence: number | null }>('SELECT fence FROM intents WHERE portfolio = $1 AND client_order_id = $2', [this.portfolio, clientOrderId])[0];
        if (written === undefined) return { ok: false as const, reason: `no saved intent ${clientOrderId}` };
        if (written.fence !== token) return { ok: false as const, reason: `intent ${clientOrderId} was written under fencing token ${written.fence ?? 'none'}, this worker holds ${token}` };
        const high = this.#q<{ token: number }>(
          `INSERT INTO fences (lock_key, token) VALUES ($1, $2)
           ON CONFLICT (lock_key) DO UPDATE SET token = GREATEST(fences.token, EXCLUDED.token) RETURNING token`,
          [key, token],
        )[0]!.token;
        if (high > token) return { ok: false as const, reason: `fencing token ${token} for ${key} is stale: a newer holder has ${high}` };
        return { ok: true as const };
      }),
    );
  }

  /** Raise the lock key's fencing high-water mark to `token` (a new lock holder does this before anything else). Returns the mark. */
  raiseFence(key: string, token: number): number {
    return this.#run('raise fencing token', () =>
      this.#q<{ token: number }>(
        `INSERT INTO fences (lock_key, token) VALUES ($1, $2)
         ON CONFLICT (lock_key) DO UPDATE SET token = GREATEST(fences.token, EXCLUDED.token) RETURNING token`,
        [key, token],
      )[0]!.token,
    );
  }

  // ================================================================== fills and funding

  insertFill(f: FillRecord): boolean {
    return this.#run(`record fill ${f.tradeId}`, () =>
      this.#n(
        `INSERT INTO fills (portfolio, account, trade_id, venue_order_id, client_order_id, symbol, side, amount, price, cost, fee, fee_currency, time, liquidation, external)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON CONFLICT DO NOTHING`,
        [this.portfolio, f.account, f.tradeId, f.venueOrderId, f.clientOrderId, f.symbol, f.side, f.amount, f.price, f.cost, f.fee, f.feeCurrency, f.time, f.liquidation, f.external],
      ) === 1,
    );
  }

  hasFill(account: string, tradeId: string): boolean {
    return this.#run('read fill', () => this.#q('SELECT 1 FROM fills WHERE portfolio = $1 AND account = $2 AND trade_id = $3', [this.portfolio, account, tradeId]).length > 0);
  }

  fills(q: FillQuery = {}): FillRecord[] {
    return this.#run('read fills', () => {
      const w = new Where(this.portfolio);
      if (q.account !== undefined) w.add('account = ?', q.account);
      if (q.clientOrderId !== undefined) w.add('client_order_id = ?', q.clientOrderId);
      if (q.venueOrderId !== undefined) w.add('venue_order_id = ?', q.venueOrderId);
      if (q.symbol !== undefined) w.add('symbol = ?', q.symbol);
      // −Infinity ("from the beginning", as a reader that has seen nothing asks) is no bound: bigint has no infinities
      if (q.since !== undefined && q.since !== -Infinity) w.add('time >= ?', q.since);
      if (q.external !== undefined) w.add('external = ?', q.external);
      return this.#q(`SELECT * FROM fills ${w.sql} ORDER BY time, seq`, w.args).map(fillFromRow);
    });
  }

  insertFunding(f: FundingRecord): boolean {
    return this.#run(`record funding ${f.id}`, () =>
      this.#n('INSERT INTO funding (portfolio, account, id, symbol, time, amount, currency, rate) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING', [
        this.portfolio,
        f.account,
        f.id,
        f.symbol,
        f.time,
        f.amount,
        f.currency,
        f.rate,
      ]) === 1,
    );
  }

  funding(q: { account?: string; symbol?: string; since?: number } = {}): FundingRecord[] {
    return this.#run('read funding', () => {
      const w = new Where(this.portfolio);
      if (q.account !== undefined) w.add('account = ?', q.account);
      if (q.symbol !== undefined) w.add('symbol = ?', q.symbol);
      // −Infinity ("from the beginning", as a reader that has seen nothing asks) is no bound: bigint has no infinities
      if (q.since !== undefined && q.since !== -Infinity) w.add('time >= ?', q.since);
      return this.#q<FundingRecord>(`SELECT account, id, symbol, time, amount, currency, rate FROM funding ${w.sql} ORDER BY time, seq`, w.args);
    });
  }

  totals(liveStates: readonly OrderState[]): JournalTotals {
    return this.#run('count journal', () => {
      const r = this.#q<Record<keyof JournalTotals, number>>(
        `SELECT (SELECT COUNT(*) FROM intents WHERE portfolio = $1)::bigint AS "intents",
                (SELECT COUNT(*) FROM intents WHERE portfolio = $1 AND state = ANY($2))::bigint AS "liveIntents",
                (SELECT COUNT(*) FROM fills WHERE portfolio = $1)::bigint AS "fills",
                (SELECT COUNT(*) FROM hedges WHERE portfolio = $1 AND closed_at IS NULL)::bigint AS "openHedges",
                (SELECT COALESCE(SUM(amount), 0) FROM funding WHERE portfolio = $1)::double precision AS "fundingNet"`,
        [this.portfolio, [...liveStates]],
      )[0]!;
      return { intents: r.intents, liveIntents: r.liveIntents, fills: r.fills, openHedges: r.openHedges, fundingNet: r.fundingNet };
    });
  }

  // ================================================================== book

  book(account: string): Record<string, number> | null {
    return this.#run('read book', () => {
      if (this.#q('SELECT time FROM baselines WHERE portfolio = $1 AND account = $2', [this.portfolio, account]).length === 0) return null;
      const out: Record<string, number> = {};
      for (const r of this.#q<{ key: string; qty: number }>('SELECT key, qty FROM book WHERE portfolio = $1 AND account = $2 ORDER BY key', [this.portfolio, account])) {
        if (r.qty !== 0) out[r.key] = r.qty;
      }
      return out;
    });
  }

  setBook(account: string, entries: Record<string, number>, time: number): void {
    this.transaction(() => {
      this.#q('DELETE FROM book WHERE portfolio = $1 AND account = $2', [this.portfolio, account]);
      for (const [k, v] of Object.entries(entries)) {
        if (v !== 0) this.#q('INSERT INTO book (portfolio, account, key, qty, updated_at) VALUES ($1, $2, $3, $4, $5)', [this.portfolio, account, k, v, time]);
      }
      this.#q('INSERT INTO baselines (portfolio, account, time) VALUES ($1, $2, $3) ON CONFLICT (portfolio, account) DO UPDATE SET time = EXCLUDED.time', [
        this.portfolio,
        account,
        time,
      ]);
    });
  }

  adjustBook(account: string, key: string, delta: number, time: number): number {
    return this.#run('adjust book', () =>
      this.transaction(() => {
        const r = this.#q<{ qty: number }>('SELECT qty FROM book WHERE portfolio = $1 AND account = $2 AND key = $3 FOR UPDATE', [this.portfolio, account, key])[0];
        const next = new Decimal(r?.qty ?? 0).plus(delta).toNumber();
        this.#q(
          'INSERT INTO book (portfolio, account, key, qty, updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (portfolio, account, key) DO UPDATE SET qty = EXCLUDED.qty, updated_at = EXCLUDED.updated_at',
          [this.portfolio, account, key, next, time],
        );
        return next;
      }),
    );
  }

  // ================================================================== meta

  getMeta(key: string): string | undefined {
    return this.#run('read meta', () => this.#q<{ value: string }>('SELECT value FROM meta WHERE portfolio = $1 AND key = $2', [this.portfolio, key])[0]?.value);
  }

  setMeta(key: string, value: string): void {
    this.#run('write meta', () => {
      this.#q('INSERT INTO meta (portfolio, key, value) VALUES ($1, $2, $3) ON CONFLICT (portfolio, key) DO UPDATE SET value = EXCLUDED.value', [this.portfolio, key, value]);
    });
  }

  // ================================================================== hedges

  insertHedge(h: Omit<HedgeRecord, 'id'>): number {
    return this.#run('open hedge', () =>
      this.#q<{ id: number }>(
        `INSERT INTO hedges (portfolio, account, class, symbol, contracts, entry_price, opened_at, closed_at, open_reason, close_reason, funding_paid, realised_pnl, fees)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
        [this.portfolio, h.account, h.class, h.symbol, h.contracts, h.entryPrice, h.openedAt, h.closedAt, h.openReason, h.closeReason, h.fundingPaid, h.realisedPnl, h.fees],
      )[0]!.id,
    );
  }

  updateHedge(h: HedgeRecord): void {
    this.#run('update hedge', () => {
      this.#q(
        'UPDATE hedges SET contracts = $3, entry_price = $4, closed_at = $5, close_reason = $6, funding_paid = $7, realised_pnl = $8, fees = $9 WHERE portfolio = $1 AND id = $2',
        [this.portfolio, h.id, h.contracts, h.entryPrice, h.closedAt, h.closeReason, h.fundingPaid, h.realisedPnl, h.fees],
      );
    });
  }

  openHedge(account: string, symbol: string): HedgeRecord | undefined {
    return this.#run('read hedge', () => {
      const r = this.#q('SELECT * FROM hedges WHERE portfolio = $1 AND account = $2 AND symbol = $3 AND closed_at IS NULL ORDER BY id DESC LIMIT 1', [
        this.portfolio,
        account,
        symbol,
      ])[0];
      return r && hedgeFromRow(r);
    });
  }

  hedges(q: { account?: string; open?: boolean } = {}): HedgeRecord[] {
    return this.#run('read hedges', () => {
      const w = new Where(this.portfolio);
      if (q.account !== undefined) w.add('account = ?', q.account);
      if (q.open !== undefined) w.parts.push(q.open ? 'closed_at IS NULL' : 'closed_at IS NOT NULL');
      return this.#q(`SELECT * FROM hedges ${w.sql} ORDER BY id`, w.args).map(hedgeFromRow);
    });
  }

  // ================================================================== history series

  readonly #decoder = new HistoryDecoder();

  recordHistory(p: HistoryPoint): void {
    this.#run('record history', () => {
      this.#q(upsertHistorySql('postgres', ['portfolio']), upsertHistoryArgs(p, [this.portfolio]));
    });
  }

  historyCount(q: HistoryQuery): number {
    return this.#run('count history', () => {
      const w = new Where(this.portfolio).add('level = ?', q.level);
      if (q.since !== undefined && q.since !== -Infinity) w.add('bucket >= ?', q.since);
      if (q.until !== undefined && q.until !== Infinity) w.add('bucket <= ?', q.until);
      return Number(this.#q<{ n: number | string }>(`SELECT COUNT(*) AS n FROM (SELECT 1 FROM history ${w.sql} LIMIT ${w.next(q.limit)}) AS h`, w.args)[0]!.n);
    });
  }

  history(q: HistoryQuery): HistoryRow[] {
    return this.#run('read history', () => {
      const w = new Where(this.portfolio).add('level = ?', q.level);
      if (q.since !== undefined && q.since !== -Infinity) w.add('bucket >= ?', q.since);
      if (q.until !== undefined && q.until !== Infinity) w.add('bucket <= ?', q.until);
      const rows = this.#q<HistorySqlRow>(`SELECT * FROM history ${w.sql} ORDER BY bucket ${q.oldest ? 'ASC' : 'DESC'} LIMIT ${w.next(q.limit)}`, w.args);
      if (!q.oldest) rows.reverse();
      return rows.map((r) => this.#decoder.row(r));
    });
  }

  // ================================================================== trading state

  tradingState(): TradingStateRecord {
    return this.#run('read trading state', () => {
      const r = this.#q<TradingStateRecord>('SELECT state, by, at, reason FROM trading_state WHERE portfolio = $1', [this.portfolio])[0];
      return r ?? { state: 'ACTIVE', by: 'journal', at: 0, reason: 'default' };
    });
  }

  setTradingState(s: TradingStateRecord): void {
    this.#run('write trading state', () => {
      this.#q(
        `INSERT INTO trading_state (portfolio, state, by, at, reason) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (portfolio) DO UPDATE SET state = EXCLUDED.state, by = EXCLUDED.by, at = EXCLUDED.at, reason = EXCLUDED.reason`,
        [this.portfolio, s.state, s.by, s.at, s.reason],
      );
    });
  }
}
