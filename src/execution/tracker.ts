/**
 * OrderTracker: one order's life against the venue, every step persisted before the next request.
 *
 *   create  — derive the client id, save the intent (NEW, committed), crash point 'after-intent-saved'
 *   submit  — commit SUBMITTING, send; crash point 'after-send'; record the venue's answer
 *             · InvalidOrder (lot / tick / min notional / reduce-only) → REJECTED with the reason, never retried
 *             · InsufficientFunds → REJECTED, never retried
 *             · RateLimitExceeded / ExchangeNotAvailable (proven rejection) → resent with the SAME client id,
 *               after the gate's retry-after or a backoff; OnMaintenance → REJECTED "not sent", caller pauses
 *             · RequestTimeout / NetworkError / anything unknown → UNKNOWN, resolved, NEVER resent
 *   resolve — UNKNOWN: fetchOrder by client id, then open orders, closed orders and trades; each
 *             "not found" is a strike; LOST only after N strikes (and LOST still accepts fills)
 *   refresh — poll an order by venue id; sync its fills
 *   cancel  — CANCELING → cancel → CANCELED, or FILLED when a fill raced the cancel
 *   fills   — every venue trade is recorded once (unique trade id) with the intent's fill, the book and the
 *             hedge in one transaction; crash points 'before-fill-recorded' and 'after-fill' around it
 */
import { Decimal } from 'decimal.js';
import { baseOf } from '../core/valuation.js';
import {
  DuplicateOrderId,
  type ExchangeError,
  InsufficientFunds,
  InvalidOrder,
  OnMaintenance,
  OrderNotFound,
  RateLimitExceeded,
  outcomeUnknown,
  retryable,
} from '../ports/errors.js';
import type { Clock } from '../ports/clock.js';
import type { Exchange, Order, OrderRef, Trade } from '../ports/exchange.js';
import type { FillRecord, Journal, OrderIntent } from '../ports/journal.js';
import { noCrash, type CrashHook } from './crash.js';
import { applyHedgeFill } from './hedges.js';
import { clientOrderId, DEFAULT_PREFIX, isOurs, parseClientOrderId } from './ids.js';
import { applyVenueOrder, averagePrice, FILL_STATES, isDone, observeFilled, sumAmounts, transition } from './orders.js';
import { backoffMs, DEFAULT_READ_RETRY, withReadRetry, type RetryOptions, type Sleep } from './retry.js';

export interface TrackerConfig {
  clientIdPrefix: string;
  /** "Not found" answers before an order is declared LOST. */
  notFoundStrikes: number;
  /** Sends of one intent when each failure proves rejection (429, 503). */
  submitAttempts: number;
  read: RetryOptions;
  /** How far before an order's creation to look for its trades and closed order (venue clock skew). */
  skewMs: number;
}

/** The journal row of venue trade `t` on `account`, under `clientOrderId`; `external`: not one of our intents. */
export function fillRecord(account: string, t: Trade, clientOrderId: string | null, external: boolean): FillRecord {
  return {
    account,
    tradeId: t.id,
    venueOrderId: t.order,
    clientOrderId,
    symbol: t.symbol,
    side: t.side,
    amount: t.amount,
    price: t.price,
    cost: t.cost,
    fee: t.fee.cost,
    feeCurrency: t.fee.currency,
    time: t.timestamp,
    liquidation: t.liquidation,
    external,
  };
}

export const DEFAULT_TRACKER_CONFIG: TrackerConfig = {
  clientIdPrefix: DEFAULT_PREFIX,
  notFoundStrikes: 3,
  submitAttempts: 3,
  read: DEFAULT_READ_RETRY,
  skewMs: 60_000,
};

export interface TrackerDeps {
  journal: Journal;
  /** Exchange by account name (one GuardedExchange per API key). */
  venues: Record<string, Exchange>;
  clock: Clock;
  sleep: Sleep;
  crash?: CrashHook;
  /** Class name(s) of a perp for hedge tracking (null: not a hedge). */
  hedgeClassOf?: (symbol: string) => string | null;
  /** Contract size of a perp (default 1). */
  contractSizeOf?: (account: string, symbol: string) => number;
}

/** What a new order intent is made of: the OrderIntent fields a caller chooses (the rest start empty). */
export type IntentSpec = Pick<
  OrderIntent,
  'rebalanceId' | 'leg' | 'slice' | 'attempt' | 'account' | 'symbol' | 'side' | 'type' | 'amount' | 'price' | 'reduceOnly' | 'purpose'
>;

export interface SubmitResult {
  intent: OrderIntent;
  /** The error that ended the submission, if any. */
  error?: unknown;
  /** The venue is unavailable (maintenance, repeated 5xx/429): stop trading until fresh data. */
  paused?: boolean;
}

export interface RecordResult {
  recorded: boolean;
  external: boolean;
  fill: FillRecord;
}

const isPerp = (symbol: string): boolean => symbol.includes(':');

export class OrderTracker {
  readonly config: TrackerConfig;
  readonly #d: TrackerDeps;
  readonly #crash: CrashHook;

  constructor(deps: TrackerDeps, config: Partial<TrackerConfig> = {}) {
    this.#d = deps;
    this.#crash = deps.crash ?? noCrash;
    this.config = { ...DEFAULT_TRACKER_CONFIG, ...config };
  }

  get journal(): Journal {
    return this.#d.journal;
  }

  venue(account: string): Exchange {
    const v = this.#d.venues[account];
    if (!v) throw new Error(`no venue configured for account ${account}`);
    return v;
  }

  #now(): number {
    return this.#d.clock.now();
  }

  #read<T>(fn: () => Promise<T>): Promise<T> {
    return withReadRetry(fn, this.#d.sleep, this.config.read);
  }

  /** Persist `next` (and an order event when the state moves or a note is given). Returns `next`. */
  #save(prev: OrderIntent, next: OrderIntent, note?: string): OrderIntent {
    const j = this.#d.journal;
    j.transaction(() => {
      j.updateIntent(next);
      if (prev.state !== next.state || note !== undefined) {
        j.appendEvent({
          time: this.#now(),
          type: 'order',
          account: next.account,
          payload: { clientOrderId: next.clientOrderId, from: prev.state, to: next.state, filled: next.filled, venueOrderId: next.venueOrderId, reason: next.reason, ...(note !== undefined ? { note } : {}) },
        });
      }
    });
    return next;
  }

  #reload(cid: string): OrderIntent {
    const o = this.#d.journal.intent(cid);
    if (!o) throw new Error(`intent ${cid} vanished from the journal`);
    return o;
  }

  // ================================================================== create and submit

  /** Derive the client id and commit the intent (state NEW). Nothing is sent. */
  create(spec: IntentSpec): OrderIntent {
    const cid = clientOrderId(spec, this.config.clientIdPrefix);
    const now = this.#now();
    const o: OrderIntent = {
      clientOrderId: cid,
      rebalanceId: spec.rebalanceId,
      leg: spec.leg,
      slice: spec.slice,
      attempt: spec.attempt,
      account: spec.account,
      symbol: spec.symbol,
      side: spec.side,
      type: spec.type,
      amount: spec.amount,
      price: spec.type === 'limit' ? spec.price : null,
      reduceOnly: spec.reduceOnly,
      state: 'NEW',
      filled: 0,
      avgPrice: null,
      venueOrderId: null,
      notFoundStrikes: 0,
      purpose: spec.purpose,
      reason: null,
      createdAt: now,
      updatedAt: now,
    };
    const j = this.#d.journal;
    j.transaction(() => {
      j.insertIntent(o);
      j.appendEvent({ time: now, type: 'order', account: o.account, payload: { clientOrderId: cid, from: null, to: 'NEW', intent: o } });
    });
    this.#crash('after-intent-saved', { account: o.account, clientOrderId: cid });
    return o;
  }

  /** create + submit. */
  async place(spec: IntentSpec): Promise<SubmitResult> {
    return this.submit(this.create(spec));
  }

  /** Send a committed NEW intent. Resolves an unknown outcome before returning. */
  async submit(intent: OrderIntent): Promise<SubmitResult> {
    let o = this.#save(intent, transition(intent, 'SUBMITTING', this.#now()));
    const venue = this.venue(o.account);
    const req = {
      symbol: o.symbol,
      type: o.type,
      side: o.side,
      amount: o.amount,
      clientOrderId: o.clientOrderId,
      ...(o.type === 'limit' && o.price !== null ? { price: o.price } : {}),
      ...(o.reduceOnly ? { reduceOnly: true } : {}),
    };
    for (let n = 1; ; n++) {
      let order: Order;
      try {
        order = await venue.createOrder(req);
      } catch (e) {
        if (e instanceof DuplicateOrderId) {
          o = this.#save(o, transition(o, 'UNKNOWN', this.#now(), { reason: `venue reports the client id as in use: ${e.message}` }));
          return { intent: await this.resolve(o) };
        }
        if (e instanceof InvalidOrder) {
          o = this.#save(o, transition(o, 'REJECTED', this.#now(), { reason: `invalid order (${e.reason}): ${e.message}; not retried` }));
          return { intent: o, error: e };
        }
        if (e instanceof InsufficientFunds) {
          o = this.#save(o, transition(o, 'REJECTED', this.#now(), { reason: `insufficient funds: ${e.message}; not retried` }));
          return { intent: o, error: e };
        }
        if (outcomeUnknown(e)) {
          const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
          o = this.#save(o, transition(o, 'UNKNOWN', this.#now(), { reason: `outcome unknown after ${what}; resolving by client id, never resending` }));
          return { intent: await this.resolve(o) };
        }
        if (retryable(e)) {
          // Rejection proven (429 / 503 / maintenance): nothing was placed.
          const err = e as ExchangeError;
          if (err instanceof OnMaintenance || n >= this.config.submitAttempts) {
            o = this.#save(o, transition(o, 'REJECTED', this.#now(), { reason: `not sent: ${err.name}: ${err.message}` }));
            return { intent: o, error: e, paused: true };
          }
          this.#save(o, o, `send ${n} refused before acceptance (${err.name}); resending the same client id`);
          if (!(err instanceof RateLimitExceeded)) await this.#d.sleep(backoffMs(n, this.config.read));
          continue;
        }
        const what = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        o = this.#save(o, transition(o, 'REJECTED', this.#now(), { reason: `refused: ${what}; not retried` }));
        return { intent: o, error: e };
      }
      this.#crash('after-send', { account: o.account, clientOrderId: o.clientOrderId });
      o = this.#adopt(o, order);
      if (order.filled > 0 || order.status !== 'open') o = await this.syncFills(o);
      return { intent: o };
    }
  }

  /** Merge a venue report (resets not-found strikes: the order exists). */
  #adopt(o: OrderIntent, v: Order): OrderIntent {
    let next = applyVenueOrder(o, v, this.#now());
    if (next.notFoundStrikes !== 0) next = { ...next, notFoundStrikes: 0 };
    if (next === o) return o;
    return this.#save(o, next);
  }

  // ================================================================== resolve, refresh, cancel

  /** Look for the order of `o` by client id everywhere the venue lists orders; undefined if nowhere. */
  async #search(o: OrderIntent): Promise<Order | undefined> {
    const v = this.venue(o.account);
    const cid = o.clientOrderId;
    const since = o.createdAt - this.config.skewMs;
    const open = await this.#read(() => v.fetchOpenOrders(o.symbol));
    const hit = open.find((x) => x.clientOrderId === cid || (o.venueOrderId !== null && x.id === o.venueOrderId));
    if (hit) return hit;
    const closed = await this.#read(() => v.fetchClosedOrders(o.symbol, since));
    const done = closed.find((x) => x.clientOrderId === cid || (o.venueOrderId !== null && x.id === o.venueOrderId));
    if (done) return done;
    const trades = await this.#read(() => v.fetchMyTrades(o.symbol, since));
    const t = trades.find((x) => x.clientOrderId === cid || (o.venueOrderId !== null && x.order === o.venueOrderId));
    if (t) {
      try {
        return await this.#read(() => v.fetchOrder({ id: t.order }, o.symbol));
      } catch (e) {
        if (!(e instanceof OrderNotFound)) throw e;
      }
    }
    return undefined;
  }

  async #strike(o: OrderIntent, why: string): Promise<OrderIntent> {
    const strikes = o.notFoundStrikes + 1;
    let next: OrderIntent = { ...o, notFoundStrikes: strikes, updatedAt: Math.max(this.#now(), o.updatedAt) };
    if (strikes >= this.config.notFoundStrikes && o.state !== 'LOST') {
      next = transition(next, 'LOST', this.#now(), { reason: `not found after ${strikes} strikes (${why}); still accepting fills` });
      this.#save(o, next);
      this.#d.journal.appendEvent({ time: this.#now(), type: 'alert', account: o.account, payload: { lost: o.clientOrderId, reason: next.reason } });
      return next;
    }
    return this.#save(o, next, `not found: strike ${strikes} of ${this.config.notFoundStrikes} (${why})`);
  }

  /**
   * Resolve an intent whose outcome is unknown (UNKNOWN, SUBMITTING after a restart, LOST): adopt the venue's
   * order if it exists anywhere; otherwise strike, wait and look again, until LOST.
   */
  async resolve(intent: OrderIntent): Promise<OrderIntent> {
    let o = intent;
    const v = this.venue(o.account);
    for (;;) {
      let found: Order | undefined;
      let notFound = false;
      try {
        found = await this.#read(() => v.fetchOrder({ clientOrderId: o.clientOrderId }, o.symbol));
      } catch (e) {
        if (!(e instanceof OrderNotFound)) throw e;
        notFound = true;
      }
      if (!found) found = await this.#search(o);
      if (found) {
        if (o.state === 'SUBMITTING') o = this.#save(o, transition(o, 'UNKNOWN', this.#now(), { reason: 'resolved after restart' }));
        o = this.#adopt(o, found);
        return this.syncFills(o);
      }
      if (o.state === 'SUBMITTING') o = this.#save(o, transition(o, 'UNKNOWN', this.#now(), { reason: 'sent before a restart; outcome unknown' }));
      o = await this.#strike(o, notFound ? 'fetchOrder by client id' : 'order lists');
      if (o.state === 'LOST') return this.syncFills(o);
      await this.#d.sleep(backoffMs(o.notFoundStrikes, this.config.read));
    }
  }

  /** Poll the venue for an intent's order and sync its fills. */
  async refresh(intent: OrderIntent): Promise<OrderIntent> {
    let o = intent;
    if (o.state === 'NEW' || o.state === 'REJECTED') return o;
    if (o.state === 'SUBMITTING' || o.state === 'UNKNOWN') return this.resolve(o);
    if (o.venueOrderId === null) {
      // LOST without ever being seen: look once more by client id, no new strike.
      const found = await this.#search(o);
      if (found) o = this.#adopt(o, found);
      return this.syncFills(o);
    }
    const ref: OrderRef = { id: o.venueOrderId };
    let order: Order;
    try {
      order = await this.#read(() => this.venue(o.account).fetchOrder(ref, o.symbol));
    } catch (e) {
      if (!(e instanceof OrderNotFound)) throw e;
      if (o.state === 'FILLED' || o.state === 'CANCELED') return this.syncFills(o);
      o = await this.#strike(o, 'fetchOrder by venue id');
      return this.syncFills(o);
    }
    o = this.#adopt(o, order);
    return this.syncFills(o);
  }

  /** Cancel the intent's order (if it may be live); ends CANCELED, or FILLED when a fill beat the cancel. */
  async cancel(intent: OrderIntent): Promise<OrderIntent> {
    let o = intent;
    if (o.state === 'NEW') return this.#save(o, transition(o, 'CANCELED', this.#now(), { reason: 'never sent: abandoned' }));
    if (o.state === 'SUBMITTING' || o.state === 'UNKNOWN') o = await this.resolve(o);
    if (isDone(o.state)) return this.syncFills(o);
    const v = this.venue(o.account);
    if (o.state !== 'CANCELING') o = this.#save(o, transition(o, 'CANCELING', this.#now()));
    const ref: OrderRef = o.venueOrderId !== null ? { id: o.venueOrderId } : { clientOrderId: o.clientOrderId };
    for (let n = 1; ; n++) {
      try {
        const order = await v.cancelOrder(ref, o.symbol);
        o = this.#adopt(o, order);
        break;
      } catch (e) {
        if (e instanceof OrderNotFound || outcomeUnknown(e)) {
          // Not open any more (filled before the cancel landed?) or the cancel's outcome is unknown: ask.
          let order: Order | undefined;
          try {
            order = await this.#read(() => v.fetchOrder(ref, o.symbol));
          } catch (e2) {
            if (!(e2 instanceof OrderNotFound)) throw e2;
          }
          if (!order) {
            o = await this.#strike(o, 'cancel and fetchOrder');
            if (o.state === 'LOST' || n >= this.config.submitAttempts) break;
            continue;
          }
          o = this.#adopt(o, order);
          if (order.status !== 'open') break;
          if (n >= this.config.submitAttempts) break;
          continue;
        }
        if (retryable(e) && n < this.config.submitAttempts && !(e instanceof OnMaintenance)) {
          if (!(e instanceof RateLimitExceeded)) await this.#d.sleep(backoffMs(n, this.config.read));
          continue;
        }
        throw e;
      }
    }
    return this.syncFills(o);
  }

  // ================================================================== fills

  /** Fetch the venue's trades of the intent's order and record the new ones. */
  async syncFills(intent: OrderIntent): Promise<OrderIntent> {
    const o = intent;
    if (o.state === 'NEW' || o.state === 'REJECTED') return o;
    if (o.venueOrderId === null && o.state !== 'LOST' && o.state !== 'UNKNOWN') return o;
    const j = this.#d.journal;
    const known = j.fills({ account: o.account, clientOrderId: o.clientOrderId });
    if (o.venueOrderId !== null) known.push(...j.fills({ account: o.account, venueOrderId: o.venueOrderId }).filter((f) => f.clientOrderId !== o.clientOrderId));
    // Nothing to fetch when the journal's fills already add up to what the venue reported (and the order is done).
    if (isDone(o.state) && sumAmounts(known) >= o.filled && o.filled > 0) return o;
    if (o.filled === 0 && o.state === 'CANCELED') return o;
    const v = this.venue(o.account);
    const trades = await this.#read(() => v.fetchMyTrades(o.symbol, o.createdAt - this.config.skewMs));
    const seen = new Set(known.map((f) => f.tradeId));
    for (const t of trades) {
      const mine = t.clientOrderId === o.clientOrderId || (o.venueOrderId !== null && t.order === o.venueOrderId);
      if (!mine || seen.has(t.id)) continue;
      this.recordTrade(o.account, t);
    }
    return this.#reload(o.clientOrderId);
  }

  /**
   * Record one venue trade: fill row (duplicates ignored), the intent's filled amount and state, the book
   * (expected holdings) and the hedge — in one transaction. `external`: not one of our intents.
   */
  recordTrade(account: string, t: Trade): RecordResult {
    const j = this.#d.journal;
    const prefix = this.config.clientIdPrefix;
    const ctx = { account, clientOrderId: t.clientOrderId ?? '', tradeId: t.id };
    const intent = (t.clientOrderId !== null ? j.intent(t.clientOrderId) : undefined) ?? j.intentByVenueOrder(account, t.order);
    const external = intent === undefined && !isOurs(t.clientOrderId, prefix);
    const fill = fillRecord(account, t, intent?.clientOrderId ?? t.clientOrderId, external);
    // Crash points fire only for fills not yet recorded (a sweep re-reads known trades).
    const fresh = !j.hasFill(account, t.id);
    if (fresh) this.#crash('before-fill-recorded', ctx);
    const now = this.#now();
    const recorded = j.transaction(() => {
      if (!j.insertFill(fill)) return false;
      const signed = t.side === 'buy' ? t.amount : -t.amount;
      if (isPerp(t.symbol)) {
        const after = j.adjustBook(account, t.symbol, signed, now);
        const cls = this.#d.hedgeClassOf?.(t.symbol) ?? null;
        if (cls !== null) {
          const reason = intent ? intent.purpose : t.liquidation ? 'liquidation by the venue' : `external trade (client id ${t.clientOrderId ?? 'none'})`;
          applyHedgeFill(j, {
            account,
            symbol: t.symbol,
            cls,
            before: new Decimal(after).minus(signed).toNumber(),
            delta: signed,
            price: t.price,
            contractSize: this.#d.contractSizeOf?.(account, t.symbol) ?? 1,
            fee: t.fee.cost,
            time: t.timestamp,
            reason,
          });
        }
      } else {
        const base = baseOf(t.symbol);
        const feeInBase = t.fee.currency === base ? t.fee.cost : 0;
        j.adjustBook(account, base, new Decimal(signed).minus(feeInBase).toNumber(), now);
      }
      if (intent) {
        const fills = j.fills({ account, clientOrderId: intent.clientOrderId });
        const byVenue = intent.venueOrderId !== null ? j.fills({ account, venueOrderId: intent.venueOrderId }).filter((f) => f.clientOrderId !== intent.clientOrderId) : [];
        const all = [...fills, ...byVenue];
        const total = sumAmounts(all);
        const next0 = intent.venueOrderId === null ? { ...intent, venueOrderId: t.order } : intent;
        if (!FILL_STATES.includes(intent.state) || total > intent.amount * (1 + 1e-9)) {
          // The venue contradicts the journal (a fill of an order we hold as never sent or rejected, or more
          // than its amount). Keep the fill and the book (they are the venue's truth) and raise an alert.
          j.appendEvent({ time: now, type: 'alert', account, payload: { contradiction: intent.clientOrderId, state: intent.state, amount: intent.amount, filledByTrades: total, tradeId: t.id } });
        }
        const next = FILL_STATES.includes(intent.state) ? observeFilled(next0, Math.min(total, intent.amount), now, averagePrice(all)) : intent;
        if (next !== intent) {
          j.updateIntent(next);
          if (next.state !== intent.state) {
            j.appendEvent({ time: now, type: 'order', account, payload: { clientOrderId: intent.clientOrderId, from: intent.state, to: next.state, filled: next.filled, venueOrderId: next.venueOrderId, reason: 'fill' } });
          }
        }
      }
      j.appendEvent({ time: now, type: 'fill', account, payload: fill });
      return true;
    });
    if (recorded) this.#crash('after-fill', ctx);
    return { recorded, external, fill };
  }

  /**
   * Insert an intent for one of our orders the journal lacks (the journal was restored from a backup, or
   * another instance with the same prefix). State UNKNOWN, then merged with the venue's report.
   */
  adoptVenueOrder(account: string, v: Order, note: string): OrderIntent | undefined {
    const f = parseClientOrderId(v.clientOrderId, this.config.clientIdPrefix);
    if (!f || v.clientOrderId === null) return undefined;
    const now = this.#now();
    const o: OrderIntent = {
      clientOrderId: v.clientOrderId,
      ...f,
      account,
      symbol: v.symbol,
      side: v.side,
      type: v.type,
      amount: v.amount,
      price: v.price,
      reduceOnly: v.reduceOnly,
      state: 'UNKNOWN',
      filled: 0,
      avgPrice: null,
      venueOrderId: v.id,
      notFoundStrikes: 0,
      purpose: `adopted from the venue: ${note}`,
      reason: null,
      createdAt: Math.min(v.timestamp, now),
      updatedAt: now,
    };
    const j = this.#d.journal;
    j.transaction(() => {
      j.insertIntent(o);
      j.appendEvent({ time: now, type: 'order', account, payload: { clientOrderId: o.clientOrderId, from: null, to: 'UNKNOWN', adopted: true, note, venueOrder: v } });
    });
    return this.#adopt(o, v);
  }
}
