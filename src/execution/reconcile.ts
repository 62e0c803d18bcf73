/**
 * Reconciliation: make the journal equal the venue, or say exactly why it cannot.
 *
 * Per account, in this order (at start, and periodically between rebalances):
 *  1. Baseline — the first time an account is seen, the venue's holdings (non-quote balances and signed perp
 *     positions) become the journal's book; trades before that moment are history, not ours to explain.
 *  2. Intents that may be live — NEW (never sent: abandoned, NEVER resent), SUBMITTING/UNKNOWN (resolved by
 *     client id: open, closed orders, trades; strikes before LOST), OPEN/PARTIALLY_FILLED/CANCELING/LOST
 *     (polled). The rebalance that owned them is over, so live ones are cancelled (`orphans: 'cancel'`) or
 *     left working and tracked (`'adopt'`).
 *  3. Open orders on the venue — ours the journal lacks (our prefix; e.g. a journal restored from a backup)
 *     are adopted as intents, then cancelled or kept per `orphans`; other open orders are reported, untouched.
 *  4. Trade sweep since the last known trade (minus an overlap; duplicates are ignored by trade id): fills of
 *     our orders are recorded against their intents; anything else is an EXTERNAL fill (liquidation/ADL:
 *     clientOrderId null; manual trades) → recorded, alert, and trading moves to REDUCING or HALTED.
 *  5. Funding payments since the last one → journal, and onto the open hedge.
 *  6. Compare the book with the venue's balances and positions. A difference no fill explains is a mismatch,
 *     named: "position BTC/USDT:USDT on main: venue -0.3, journal -0.2, no fills explain -0.1".
 *     At start the service refuses to run on a mismatch; later it halts.
 */
import { Decimal } from 'decimal.js';
import type { TradingState } from '../core/types.js';
import type { Clock } from '../ports/clock.js';
import { NotSupported } from '../ports/errors.js';
import type { Exchange, FundingPayment, Order, Trade } from '../ports/exchange.js';
import type { FillRecord, Journal, OrderIntent } from '../ports/journal.js';
import { applyHedgeFunding } from './hedges.js';
import { DEFAULT_PREFIX, isOurs } from './ids.js';
import { isLive } from './orders.js';
import { DEFAULT_READ_RETRY, withReadRetry, type RetryOptions, type Sleep } from './retry.js';
import { fillRecord, type OrderTracker } from './tracker.js';

export interface ReconcileConfig {
  clientIdPrefix: string;
  /** What to do with our orders still open when no rebalance owns them. Default 'cancel'. */
  orphans: 'cancel' | 'adopt';
  /** Re-read trades this far before the last known one (venues publish trades late). */
  overlapMs: number;
  pageSize: number;
  /** Symbols to sweep per account, for venues that need a symbol for orders/trades; absent = one call for all. */
  symbols?: Record<string, string[]>;
  onLiquidation: Exclude<TradingState, 'ACTIVE'>;
  onManualTrade: Exclude<TradingState, 'ACTIVE'>;
  /** Quote currency per account (its balance moves with fees, funding and PnL: not compared). */
  quote: Record<string, string> | string;
  /** Absolute tolerance when comparing the book with the venue. */
  tolerance: number;
  /** LOST intents are looked for again at each reconciliation for this long after their last update. */
  lostWatchMs: number;
  read: RetryOptions;
}

export const DEFAULT_RECONCILE_CONFIG: ReconcileConfig = {
  clientIdPrefix: DEFAULT_PREFIX,
  orphans: 'cancel',
  overlapMs: 60_000,
  pageSize: 500,
  onLiquidation: 'HALTED',
  onManualTrade: 'REDUCING',
  quote: 'USDT',
  tolerance: 1e-8,
  lostWatchMs: 24 * 3_600_000,
  read: DEFAULT_READ_RETRY,
};

export interface AccountReconcile {
  account: string;
  baseline: boolean;
  resolved: Array<{ clientOrderId: string; state: string }>;
  adopted: string[];
  canceled: string[];
  externalFills: FillRecord[];
  fillsRecorded: number;
  fundingRecorded: number;
  mismatches: string[];
  notes: string[];
}

export interface ReconcileReport {
  time: number;
  ok: boolean;
  accounts: AccountReconcile[];
  mismatches: string[];
  /** Trading state after reconciliation (escalated on external fills or mismatches). */
  state: TradingState;
}

/** The journal and the venue disagree in a way no recorded fill explains. */
export class ReconcileMismatchError extends Error {
  override name = 'ReconcileMismatchError';
  readonly mismatches: string[];

  constructor(mismatches: string[]) {
    super(`refusing to trade: the journal does not match the venue and no fills explain it:\n  ${mismatches.join('\n  ')}\nInvestigate, then re-baseline with the operator command if the venue is right.`);
    this.mismatches = mismatches;
  }
}

export interface ReconcilerDeps {
  journal: Journal;
  venues: Record<string, Exchange>;
  tracker: OrderTracker;
  clock: Clock;
  sleep: Sleep;
}

const RANK: Record<TradingState, number> = { ACTIVE: 0, REDUCING: 1, HALTED: 2 };
const fmt = (x: number): string => String(+x.toPrecision(12));

export class Reconciler {
  readonly config: ReconcileConfig;
  readonly #d: ReconcilerDeps;

  constructor(deps: ReconcilerDeps, config: Partial<ReconcileConfig> = {}) {
    this.#d = deps;
    this.config = { ...DEFAULT_RECONCILE_CONFIG, clientIdPrefix: deps.tracker.config.clientIdPrefix, ...config };
  }

  #now(): number {
    return this.#d.clock.now();
  }

  #read<T>(fn: () => Promise<T>): Promise<T> {
    return withReadRetry(fn, this.#d.sleep, this.config.read);
  }

  #quote(account: string): string {
    const q = this.config.quote;
    return typeof q === 'string' ? q : (q[account] ?? 'USDT');
  }

  /** Raise the trading state (never lowers it), journaling who/when/why and an alert. */
  escalate(to: TradingState, why: string, account: string | null): TradingState {
    const j = this.#d.journal;
    const cur = j.tradingState();
    if (RANK[to] <= RANK[cur.state]) return cur.state;
    const now = this.#now();
    j.transaction(() => {
      j.setTradingState({ state: to, by: 'reconciler', at: now, reason: why });
      j.appendEvent({ time: now, type: 'state', account, payload: { from: cur.state, to, by: 'reconciler', reason: why } });
      j.appendEvent({ time: now, type: 'alert', account, payload: { state: to, reason: why } });
    });
    return to;
  }

  /** Reconcile every account. Venue errors propagate (the caller pauses); mismatches are in the report. */
  async reconcile(phase: 'start' | 'periodic' = 'periodic'): Promise<ReconcileReport> {
    const accounts: AccountReconcile[] = [];
    for (const account of Object.keys(this.#d.venues).sort()) accounts.push(await this.reconcileAccount(account));
    const mismatches = accounts.flatMap((a) => a.mismatches);
    const j = this.#d.journal;
    let state = j.tradingState().state;
    if (mismatches.length > 0 && phase === 'periodic') state = this.escalate('HALTED', `reconciliation mismatch: ${mismatches.join('; ')}`, null);
    const report: ReconcileReport = { time: this.#now(), ok: mismatches.length === 0, accounts, mismatches, state };
    j.appendEvent({ time: report.time, type: 'reconcile', payload: { phase, ...report } });
    return report;
  }

  async reconcileAccount(account: string): Promise<AccountReconcile> {
    const j = this.#d.journal;
    const t = this.#d.tracker;
    const v = t.venue(account);
    const r: AccountReconcile = { account, baseline: false, resolved: [], adopted: [], canceled: [], externalFills: [], fillsRecorded: 0, fundingRecorded: 0, mismatches: [], notes: [] };
    const quote = this.#quote(account);

    // 1. baseline
    if (j.book(account) === null) {
      const held = await this.#holdings(v, quote);
      const now = this.#now();
      // Trades up to now are already in these holdings: keep them as history (so a later sweep does not apply
      // them again), without touching the book.
      const history = await this.#trades(account, v, now - this.config.overlapMs);
      j.transaction(() => {
        for (const t of history) {
          j.insertFill(fillRecord(account, t, t.clientOrderId, !isOurs(t.clientOrderId, this.config.clientIdPrefix)));
        }
        j.setBook(account, held, now);
        j.setMeta(`sweep:${account}`, String(now));
        j.setMeta(`funding:${account}`, String(now));
        j.appendEvent({ time: now, type: 'reconcile', account, payload: { baseline: held, note: 'first start on this account: the venue holdings are the baseline' } });
      });
      r.baseline = true;
    }

    // 2. intents that may be live
    const now = this.#now();
    const pending = j
      .intents({ account, states: ['NEW', 'SUBMITTING', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED', 'CANCELING', 'LOST'] })
      .filter((o) => o.state !== 'LOST' || now - o.updatedAt <= this.config.lostWatchMs);
    for (const o0 of pending) {
      let o: OrderIntent = o0;
      if (o.state === 'NEW') o = await t.cancel(o);
      else if (o.state === 'SUBMITTING' || o.state === 'UNKNOWN') o = await t.resolve(o);
      else o = await t.refresh(o);
      if (isLive(o.state) && o.state !== 'UNKNOWN' && this.config.orphans === 'cancel') {
        o = await t.cancel(o);
        r.canceled.push(o.clientOrderId);
      }
      r.resolved.push({ clientOrderId: o.clientOrderId, state: o.state });
    }

    // 3. open orders on the venue
    for (const order of await this.#openOrders(account, v)) {
      if (!isOurs(order.clientOrderId, this.config.clientIdPrefix)) {
        r.notes.push(`open order ${order.id} (${order.side} ${order.amount} ${order.symbol}, client id ${order.clientOrderId ?? 'none'}) was not placed by ballast: left alone`);
        continue;
      }
      let o = j.intent(order.clientOrderId!);
      if (!o) {
        o = t.adoptVenueOrder(account, order, 'open order the journal did not know');
        if (!o) continue;
        r.adopted.push(o.clientOrderId);
        j.appendEvent({ time: this.#now(), type: 'alert', account, payload: { adopted: o.clientOrderId, order } });
      } else if (!isLive(o.state)) {
        o = await t.refresh(o);
      }
      if (isLive(o.state) && this.config.orphans === 'cancel') {
        o = await t.cancel(o);
        if (!r.canceled.includes(o.clientOrderId)) r.canceled.push(o.clientOrderId);
      }
    }

    // 4. trade sweep
    const cursorKey = `sweep:${account}`;
    const since = Number(j.getMeta(cursorKey) ?? '0') - this.config.overlapMs;
    let newest = Number(j.getMeta(cursorKey) ?? '0');
    for (const trade of await this.#trades(account, v, since)) {
      newest = Math.max(newest, trade.timestamp);
      if (isOurs(trade.clientOrderId, this.config.clientIdPrefix) && !j.intent(trade.clientOrderId!) && !j.intentByVenueOrder(account, trade.order)) {
        const adopted = await this.#adoptFromTrade(account, v, trade);
        if (adopted) r.adopted.push(adopted);
      }
      const res = t.recordTrade(account, trade);
      if (!res.recorded) continue;
      r.fillsRecorded++;
      if (res.external) {
        r.externalFills.push(res.fill);
        const what = trade.liquidation ? 'liquidation' : 'manual or foreign trade';
        const to = trade.liquidation ? this.config.onLiquidation : this.config.onManualTrade;
        this.escalate(to, `external fill (${what}): ${trade.side} ${trade.amount} ${trade.symbol} at ${trade.price} (trade ${trade.id}, client id ${trade.clientOrderId ?? 'none'})`, account);
      }
    }
    j.setMeta(cursorKey, String(newest));

    // 5. funding
    r.fundingRecorded = await this.#funding(account, v);

    // 6. compare
    r.mismatches = await this.#compare(account, v, quote);
    return r;
  }

  async #adoptFromTrade(account: string, v: Exchange, trade: Trade): Promise<string | undefined> {
    let order: Order | undefined;
    try {
      order = await this.#read(() => v.fetchOrder({ id: trade.order }, trade.symbol));
    } catch {
      order = undefined;
    }
    if (!order) return undefined;
    const o = this.#d.tracker.adoptVenueOrder(account, order, `trade ${trade.id} of an order the journal did not know`);
    return o?.clientOrderId;
  }

  async #openOrders(account: string, v: Exchange): Promise<Order[]> {
    const symbols = this.config.symbols?.[account];
    if (!symbols) return this.#read(() => v.fetchOpenOrders());
    const out: Order[] = [];
    for (const s of symbols) out.push(...(await this.#read(() => v.fetchOpenOrders(s))));
    return out;
  }

  /** Every trade since `since`, oldest first, paging by time (duplicates at page edges are harmless). */
  async #trades(account: string, v: Exchange, since: number): Promise<Trade[]> {
    const symbols = this.config.symbols?.[account] ?? [undefined];
    const out = new Map<string, Trade>();
    for (const s of symbols) {
      let from = since;
      for (;;) {
        const page = await this.#read(() => v.fetchMyTrades(s, from, this.config.pageSize));
        for (const t of page) out.set(t.id, t);
        if (page.length < this.config.pageSize) break;
        const last = page[page.length - 1]!.timestamp;
        if (last <= from) break;
        from = last;
      }
    }
    return [...out.values()].sort((a, b) => a.timestamp - b.timestamp || (a.id < b.id ? -1 : 1));
  }

  async #funding(account: string, v: Exchange): Promise<number> {
    const j = this.#d.journal;
    const key = `funding:${account}`;
    const since = Number(j.getMeta(key) ?? '0') - this.config.overlapMs;
    let payments: FundingPayment[];
    try {
      payments = await this.#read(() => v.fetchFundingHistory(undefined, since));
    } catch (e) {
      if (e instanceof NotSupported) return 0;
      throw e;
    }
    let n = 0;
    let newest = Number(j.getMeta(key) ?? '0');
    for (const p of payments) {
      newest = Math.max(newest, p.timestamp);
      const added = j.transaction(() => {
        if (!j.insertFunding({ account, id: p.id, symbol: p.symbol, time: p.timestamp, amount: p.amount, currency: p.currency, rate: p.rate })) return false;
        applyHedgeFunding(j, account, p.symbol, p.amount);
        j.appendEvent({ time: p.timestamp, type: 'funding', account, payload: p });
        return true;
      });
      if (added) n++;
    }
    j.setMeta(key, String(newest));
    return n;
  }

  async #holdings(v: Exchange, quote: string): Promise<Record<string, number>> {
    const [bal, pos] = [await this.#read(() => v.fetchBalance()), await this.#read(() => v.fetchPositions())];
    const out: Record<string, number> = {};
    for (const [asset, total] of Object.entries(bal.total)) if (asset !== quote && total !== 0) out[asset] = total;
    for (const p of pos) if (p.contracts !== 0) out[p.symbol] = new Decimal(out[p.symbol] ?? 0).plus(p.contracts).toNumber();
    return out;
  }

  async #compare(account: string, v: Exchange, quote: string): Promise<string[]> {
    const book = this.#d.journal.book(account) ?? {};
    const venue = await this.#holdings(v, quote);
    const keys = [...new Set([...Object.keys(book), ...Object.keys(venue)])].sort();
    const out: string[] = [];
    for (const k of keys) {
      const want = book[k] ?? 0;
      const got = venue[k] ?? 0;
      const diff = new Decimal(got).minus(want).toNumber();
      if (Math.abs(diff) <= this.config.tolerance * Math.max(1, Math.abs(got))) continue;
      const what = k.includes('/') ? 'position' : 'balance';
      out.push(`${what} ${k} on ${account}: venue ${fmt(got)}, journal ${fmt(want)}, no fills explain ${fmt(diff)}`);
    }
    return out;
  }

  /**
   * Operator: accept the venue's holdings as the new book (after investigating a mismatch). Journaled with
   * who and why.
   */
  async rebaseline(account: string, who: string, why: string): Promise<Record<string, number>> {
    const j = this.#d.journal;
    const v = this.#d.tracker.venue(account);
    const held = await this.#holdings(v, this.#quote(account));
    const now = this.#now();
    j.transaction(() => {
      const before = j.book(account);
      j.setBook(account, held, now);
      j.appendEvent({ time: now, type: 'command', account, payload: { command: 'rebaseline', by: who, reason: why, before, after: held } });
    });
    return held;
  }
}
