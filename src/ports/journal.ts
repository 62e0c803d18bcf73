/**
 * Journal port: the service's persistent memory. Orders are records before they are requests: an order
 * intent is written (and committed) here before the venue hears of it; every fill, funding payment,
 * decision, state change and operator command is appended with its time.
 *
 * The port is synchronous: a write has been COMMITTED (synchronous=FULL for SQLite) when the call returns,
 * so "persist the intent and wait for the commit" is simply "call insertIntent before createOrder". A
 * failing store throws JournalError with a `kind`; callers halt on it and never send an order whose intent
 * was not saved. The journal never receives API keys: payload fields that look like secrets are redacted.
 */
import type { HistoryPoint, HistoryRow } from '../core/history.js';
import type { Side, TradingState } from '../core/types.js';
import type { OrderType } from './exchange.js';

export type { TradingState } from '../core/types.js';

/**
 * Order states (src/execution/orders.ts holds the transition table):
 * NEW (saved, not sent) → SUBMITTING (committed as about to be sent) → OPEN → PARTIALLY_FILLED → FILLED;
 * CANCELING → CANCELED; REJECTED (proven not placed, or refused); UNKNOWN (timeout after send);
 * LOST (not found after N strikes; still accepts fills).
 */
export type OrderState =
  | 'NEW'
  | 'SUBMITTING'
  | 'OPEN'
  | 'PARTIALLY_FILLED'
  | 'FILLED'
  | 'CANCELING'
  | 'CANCELED'
  | 'REJECTED'
  | 'UNKNOWN'
  | 'LOST';

export interface OrderIntent {
  /** Derived from (prefix, rebalanceId, leg, slice, attempt): src/execution/ids.ts. */
  clientOrderId: string;
  rebalanceId: number;
  leg: number;
  slice: number;
  attempt: number;
  account: string;
  symbol: string;
  side: Side;
  type: OrderType;
  amount: number;
  /** Limit price; null for market orders. */
  price: number | null;
  reduceOnly: boolean;
  state: OrderState;
  filled: number;
  avgPrice: number | null;
  venueOrderId: string | null;
  notFoundStrikes: number;
  /** Why the order exists (the plan action's explanation). */
  purpose: string;
  /** Why it ended as it did (rejection reason, lost, abandoned…); null while nothing to say. */
  reason: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface FillRecord {
  account: string;
  /** Venue trade id: unique per account; a second record with the same id is ignored. */
  tradeId: string;
  venueOrderId: string;
  clientOrderId: string | null;
  symbol: string;
  side: Side;
  amount: number;
  price: number;
  cost: number;
  fee: number;
  feeCurrency: string;
  time: number;
  liquidation: boolean;
  /** Not from one of our intents (liquidation, ADL, manual trade, another bot). */
  external: boolean;
}

export interface FundingRecord {
  account: string;
  /** Venue id of the payment (unique per account). */
  id: string;
  symbol: string;
  time: number;
  /** Signed: negative = paid, positive = received. */
  amount: number;
  currency: string;
  rate: number;
}

export type EventType =
  | 'snapshot'
  | 'decision'
  | 'order'
  | 'fill'
  | 'funding'
  | 'state'
  | 'command'
  | 'alert'
  | 'reconcile'
  | 'hedge'
  | 'execution'
  | 'lock';

export interface NewEvent {
  time: number;
  type: EventType;
  account?: string | null;
  payload: unknown;
}

export interface JournalEvent {
  id: number;
  time: number;
  type: EventType;
  account: string | null;
  payload: unknown;
}

export interface EventQuery {
  type?: EventType;
  /**
   * Any of these types (with `limit`: the newest `limit` of them all). Each type's ids are read from the
   * (type, id) index alone and merged, then only the rows kept are read: a page costs the same whatever
   * the journal's length.
   */
  types?: readonly EventType[];
  account?: string;
  since?: number;
  /** Only events with an id below this one (the next page back, with `limit`). */
  beforeId?: number;
  /** Newest first when set (the last `limit` events); otherwise all, oldest first. */
  limit?: number;
}

export type RebalanceStatus = 'running' | 'done' | 'partial' | 'paused' | 'halted' | 'failed' | 'crashed';

export interface RebalanceRecord {
  id: number;
  startedAt: number;
  finishedAt: number | null;
  status: RebalanceStatus;
  trigger: string;
  decisionEvent: number | null;
  summary: unknown;
}

export interface HedgeRecord {
  id: number;
  account: string;
  class: string;
  symbol: string;
  /** Signed contracts now (0 once closed). */
  contracts: number;
  entryPrice: number;
  openedAt: number;
  closedAt: number | null;
  openReason: string;
  closeReason: string | null;
  /** Net funding paid over the hedge's life (negative = received). */
  fundingPaid: number;
  /** Realised price PnL of the closes (fees and funding excluded). */
  realisedPnl: number;
  fees: number;
}

export interface TradingStateRecord {
  state: TradingState;
  by: string;
  at: number;
  reason: string;
}

/** What `Journal.totals` counts. */
export interface JournalTotals {
  intents: number;
  /** Intents in one of the states asked for. */
  liveIntents: number;
  fills: number;
  openHedges: number;
  /** Net funding over every journaled payment (+ received, − paid). */
  fundingNet: number;
}

/** A read of one level of the history series (src/core/history.ts). */
export interface HistoryQuery {
  level: number;
  /** Rows whose bucket (level 0: cycle) starts at or after this time. */
  since?: number;
  /** Rows whose bucket starts at or before this time. */
  until?: number;
  /** At most this many rows: the newest (default) or, with `oldest`, the oldest. Always returned oldest first. */
  limit: number;
  oldest?: boolean;
}

export interface IntentQuery {
  rebalanceId?: number;
  account?: string;
  states?: readonly OrderState[];
}

export interface FillQuery {
  account?: string;
  clientOrderId?: string;
  venueOrderId?: string;
  symbol?: string;
  since?: number;
  external?: boolean;
}

export interface LockHolder {
  account: string;
  instance: string;
  pid: number;
  host: string;
  acquiredAt: number;
  /** The service clock's time of the last heartbeat (a replay's time in a replay). */
  heartbeatAt: number;
  /** Wall-clock time of the last heartbeat (null in journals written before it was kept). */
  heartbeatWall?: number | null;
}

export interface Journal {
  /** Where the journal lives (file path, ':memory:'). */
  readonly location: string;

  // ---- one running instance per account
  /** Take the account lock or throw AccountLockedError naming the holder. Re-entrant for this instance. */
  acquireLock(account: string): void;
  /** Refresh this instance's heartbeat; throws AccountLockedError if another instance took the lock over. */
  heartbeat(account: string): void;
  releaseLock(account: string): void;
  lockHolder(account: string): LockHolder | undefined;

  /** Run `fn` in one transaction (all or nothing). Nested calls join the outer transaction. */
  transaction<T>(fn: () => T): T;
  close(): void;

  // ---- events
  appendEvent(e: NewEvent): number;
  events(q?: EventQuery): JournalEvent[];

  // ---- rebalances
  createRebalance(r: { time: number; trigger: string; decisionEvent: number | null }): number;
  finishRebalance(id: number, status: RebalanceStatus, time: number, summary?: unknown): void;
  rebalance(id: number): RebalanceRecord | undefined;
  /** Oldest first; with `limit`, the newest `limit` (started in [since, until] when given). */
  rebalances(q?: { status?: RebalanceStatus; since?: number; until?: number; limit?: number }): RebalanceRecord[];

  // ---- order intents
  /** Insert a new intent; throws JournalError('constraint') if the client id exists. */
  insertIntent(i: OrderIntent): void;
  /** Replace the stored row of `i.clientOrderId`. */
  updateIntent(i: OrderIntent): void;
  intent(clientOrderId: string): OrderIntent | undefined;
  /** The intent whose venue order id is `venueOrderId` on `account` (trades often lack the client id). */
  intentByVenueOrder(account: string, venueOrderId: string): OrderIntent | undefined;
  intents(q?: IntentQuery): OrderIntent[];

  // ---- fills and funding
  /** False when a fill with this (account, tradeId) is already recorded (duplicate ignored). */
  insertFill(f: FillRecord): boolean;
  hasFill(account: string, tradeId: string): boolean;
  fills(q?: FillQuery): FillRecord[];
  insertFunding(f: FundingRecord): boolean;
  funding(q?: { account?: string; symbol?: string; since?: number }): FundingRecord[];
  /** Counts and sums over the whole journal without reading its rows (for monitoring). */
  totals(liveStates: readonly OrderState[]): JournalTotals;

  // ---- the book: what the journal believes the venue holds (base assets and signed perp contracts)
  /** Null until a baseline was taken for the account. */
  book(account: string): Record<string, number> | null;
  setBook(account: string, entries: Record<string, number>, time: number): void;
  adjustBook(account: string, key: string, delta: number, time: number): number;

  // ---- cursors and small settings
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;

  // ---- hedges
  insertHedge(h: Omit<HedgeRecord, 'id'>): number;
  updateHedge(h: HedgeRecord): void;
  openHedge(account: string, symbol: string): HedgeRecord | undefined;
  hedges(q?: { account?: string; open?: boolean }): HedgeRecord[];

  // ---- the history series (src/core/history.ts): one point per cycle, merged into every level in one write
  recordHistory(p: HistoryPoint): void;
  history(q: HistoryQuery): HistoryRow[];
  /** How many rows `history(q)` would return (at most `q.limit`), counted on the key alone. */
  historyCount(q: HistoryQuery): number;

  // ---- trading state (kill switch)
  tradingState(): TradingStateRecord;
  setTradingState(s: TradingStateRecord): void;
}

export type JournalErrorKind = 'locked' | 'corrupt' | 'full' | 'readonly' | 'io' | 'schema' | 'constraint' | 'closed' | 'other';

/** The store failed. `locked`/`full`/`io` may pass; `corrupt`/`schema` will not. Either way: halt, send nothing. */
export class JournalError extends Error {
  override name = 'JournalError';
  readonly kind: JournalErrorKind;
  /** SQLite result code (e.g. SQLITE_BUSY) when the store is SQLite. */
  readonly code: string | undefined;

  constructor(kind: JournalErrorKind, message: string, options: { code?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.kind = kind;
    this.code = options.code;
  }
}

/** Another running instance holds the account. */
/** When the holder was last seen, in wall-clock time (a replay's clock would read as long stale to a person). */
function heartbeatText(h: LockHolder): string {
  if (h.heartbeatWall == null) return `last heartbeat ${new Date(h.heartbeatAt).toISOString()} (service clock)`;
  const ago = Math.max(0, Math.round((Date.now() - h.heartbeatWall) / 1000));
  const when = ago < 120 ? `${ago} s ago` : ago < 7200 ? `${Math.round(ago / 60)} min ago` : `${Math.round(ago / 3600)} h ago`;
  return `last heartbeat ${when}, at ${new Date(h.heartbeatWall).toISOString().replace(/\.\d{3}Z$/, 'Z')}`;
}

export class AccountLockedError extends JournalError {
  override name = 'AccountLockedError';
  readonly holder: LockHolder;

  constructor(holder: LockHolder, location: string) {
    super(
      'locked',
      `account ${holder.account} is locked by another ballast instance (pid ${holder.pid} on ${holder.host}, instance ${holder.instance}, ` +
        `${heartbeatText(holder)}) in journal ${location}; stop it first, or wait for its heartbeat to go stale`,
    );
    this.holder = holder;
  }
}
