/**
 * Executor: a Plan's actions become order intents, then orders — each intent committed before its request.
 *
 * - Leg order: futures reduce-only first, then spot sells, then the rest (new futures), buys last (the
 *   planner orders them so; the executor re-sorts stably to be sure).
 * - Limit orders by default, priced at the touch ± `offsetBps` (buy: bid × (1 + offset), rounded down to the
 *   tick; sell: ask × (1 − offset), rounded up): a positive offset leans into the spread, a negative one
 *   waits behind the touch. `orderType: 'market'` sends market orders.
 * - Large legs are sliced: at most `maxSliceNotional` per child order, `sliceIntervalMs` between slices.
 * - A slice not filled within `repriceAfterMs` is cancelled and sent again at a fresh price under a new
 *   attempt id, at most `maxAttempts` times; the last attempt is cancelled at the end.
 * - Before every spot slice the free balance is read again: a buy (or sell) that no longer fits is scaled
 *   down, or skipped with the reason when what fits is below the venue's minimum. Insufficient funds at the
 *   venue end the leg: no retry loop.
 * - Venue unavailable (maintenance, repeated 5xx/429 on reads) → the rebalance PAUSES; nothing more is sent
 *   and the next cycle reconciles and replans from fresh data.
 * - Trading state is read before every order: HALTED stops; REDUCING lets only reduce-only futures legs on.
 * - A limit price further than `priceCollar` from the touch it was computed from is refused before its intent
 *   is written (the plan itself went through the pre-trade gate, src/execution/pretrade.ts, before this).
 */
import { Decimal } from 'decimal.js';
import { floorToStep } from '../core/rounding.js';
import type { Action, OrdersConfig, Plan, TradingState } from '../core/types.js';
import { baseOf } from '../core/valuation.js';
import type { Clock } from '../ports/clock.js';
import { ExchangeError, retryable } from '../ports/errors.js';
import type { Exchange, Market, OrderType, Side } from '../ports/exchange.js';
import type { Journal, OrderIntent } from '../ports/journal.js';
import type { CrashHook } from './crash.js';
import { isDone } from './orders.js';
import { DEFAULT_READ_RETRY, withReadRetry, type RetryOptions, type Sleep } from './retry.js';
import { OrderTracker, type TrackerConfig } from './tracker.js';
import { DEFAULT_PREFIX } from './ids.js';

export interface ExecutorConfig {
  orderType: OrderType;
  /** Limit price offset from the touch in basis points (positive = more aggressive). */
  offsetBps: number;
  /** Largest child order, in quote notional. Infinity = no slicing. */
  maxSliceNotional: number;
  sliceIntervalMs: number;
  /** Cancel and reprice a limit order not filled after this long. */
  repriceAfterMs: number;
  /** Orders per slice (first send + reprices). */
  maxAttempts: number;
  /** Poll interval while an order works. */
  pollMs: number;
  clientIdPrefix: string;
  notFoundStrikes: number;
  submitAttempts: number;
  read: RetryOptions;
  /** Headroom on the price of market buys when checking free cash. */
  marketBuyBuffer: number;
  /**
   * Pre-trade gate at the order: a limit price further than this from the touch it was computed from is
   * refused before its intent is written (the plan's prices were checked by src/execution/pretrade.ts).
   */
  priceCollar: number;
}

export const DEFAULT_EXECUTOR_CONFIG: ExecutorConfig = {
  orderType: 'limit',
  offsetBps: 0,
  maxSliceNotional: Infinity,
  sliceIntervalMs: 5_000,
  repriceAfterMs: 30_000,
  maxAttempts: 3,
  pollMs: 2_000,
  clientIdPrefix: DEFAULT_PREFIX,
  notFoundStrikes: 3,
  submitAttempts: 3,
  read: DEFAULT_READ_RETRY,
  marketBuyBuffer: 0.01,
  priceCollar: 0.02,
};

/**
 * The portfolio file's `orders` section as executor settings. `cancelAfterMs` (a slice still unfilled after
 * this long is cancelled) becomes the number of attempts: one every `repriceAfterMs` until then.
 */
export function executorConfigFromOrders(o: OrdersConfig): Partial<ExecutorConfig> {
  const reprice = Math.max(1, o.repriceAfterMs);
  return {
    orderType: o.type,
    offsetBps: o.offsetBps,
    maxSliceNotional: o.maxSliceNotional,
    sliceIntervalMs: o.sliceIntervalMs,
    repriceAfterMs: o.repriceAfterMs,
    maxAttempts: Math.max(1, Math.ceil(o.cancelAfterMs / reprice)),
    notFoundStrikes: o.notFoundStrikes,
  };
}

export interface ExecutorDeps {
  journal: Journal;
  venues: Record<string, Exchange>;
  clock: Clock;
  sleep: Sleep;
  crash?: CrashHook;
  /** Current trading state (read before every order). Default: the journal's. */
  tradingState?: () => TradingState;
  hedgeClassOf?: (symbol: string) => string | null;
  /** Share an existing tracker (the service shares one between executor and reconciler). */
  tracker?: OrderTracker;
  /** Called before every order (the service refreshes its account locks; throwing stops the rebalance). */
  heartbeat?: () => void;
}

export type LegStatus = 'filled' | 'partial' | 'unfilled' | 'skipped' | 'rejected' | 'lost' | 'paused' | 'halted';

export interface LegReport {
  leg: number;
  class: string;
  account: string;
  symbol: string;
  side: Side;
  reduceOnly: boolean;
  requested: number;
  filled: number;
  avgPrice: number | null;
  status: LegStatus;
  reasons: string[];
  orders: string[];
}

export type ExecutionStatus = 'done' | 'partial' | 'paused' | 'halted';

export interface ExecutionReport {
  rebalanceId: number;
  status: ExecutionStatus;
  legs: LegReport[];
  reasons: string[];
}

/** Rank of a leg: reduce-only futures, spot sells, other futures, spot buys. */
export function legRank(a: Pick<Action, 'type' | 'side' | 'reduceOnly'>): number {
  if (a.type === 'futures' && a.reduceOnly) return 0;
  if (a.type === 'spot' && a.side === 'sell') return 1;
  if (a.type === 'futures') return 2;
  if (a.type === 'spot') return 3;
  return 4;
}

function ceilToStep(x: number, step: number): number {
  if (!(step > 0)) return x;
  return new Decimal(x).div(step).toDecimalPlaces(9, Decimal.ROUND_HALF_UP).ceil().mul(step).toNumber();
}

/** Split `amount` into child orders of at most `maxNotional` each, every one above the venue's minimums. */
export function sliceAmounts(amount: number, price: number, m: Pick<Market, 'amountStep' | 'minAmount' | 'minNotional' | 'contractSize'>, maxNotional: number): number[] {
  const notional = amount * m.contractSize * price;
  if (!(maxNotional > 0) || !Number.isFinite(maxNotional) || notional <= maxNotional) return [amount];
  let n = Math.ceil(notional / maxNotional);
  for (; n > 1; n--) {
    const base = floorToStep(amount / n, m.amountStep);
    if (base > 0 && base >= m.minAmount && base * m.contractSize * price >= m.minNotional) break;
  }
  if (n <= 1) return [amount];
  const base = floorToStep(amount / n, m.amountStep);
  const last = new Decimal(amount).minus(new Decimal(base).mul(n - 1)).toNumber();
  return [...Array.from({ length: n - 1 }, () => base), last];
}

class Paused extends Error {
  override name = 'Paused';
}

export class Executor {
  readonly config: ExecutorConfig;
  readonly tracker: OrderTracker;
  readonly #d: ExecutorDeps;
  #markets = new Map<string, Record<string, Market>>();

  constructor(deps: ExecutorDeps, config: Partial<ExecutorConfig> = {}) {
    this.#d = deps;
    this.config = { ...DEFAULT_EXECUTOR_CONFIG, ...config };
    const tc: Partial<TrackerConfig> = {
      clientIdPrefix: this.config.clientIdPrefix,
      notFoundStrikes: this.config.notFoundStrikes,
      submitAttempts: this.config.submitAttempts,
      read: this.config.read,
    };
    this.tracker =
      deps.tracker ??
      new OrderTracker(
        {
          journal: deps.journal,
          venues: deps.venues,
          clock: deps.clock,
          sleep: deps.sleep,
          ...(deps.crash ? { crash: deps.crash } : {}),
          ...(deps.hedgeClassOf ? { hedgeClassOf: deps.hedgeClassOf } : {}),
          contractSizeOf: (account, symbol) => this.#markets.get(account)?.[symbol]?.contractSize ?? 1,
        },
        tc,
      );
  }

  #state(): TradingState {
    return this.#d.tradingState ? this.#d.tradingState() : this.#d.journal.tradingState().state;
  }

  #read<T>(fn: () => Promise<T>): Promise<T> {
    return withReadRetry(fn, this.#d.sleep, this.config.read);
  }

  #now(): number {
    return this.#d.clock.now();
  }

  #event(account: string | null, payload: unknown): void {
    this.#d.journal.appendEvent({ time: this.#now(), type: 'execution', account, payload });
  }

  async #market(account: string, symbol: string): Promise<Market> {
    let ms = this.#markets.get(account);
    if (!ms) {
      const v = this.tracker.venue(account);
      ms = await this.#read(() => v.loadMarkets());
      this.#markets.set(account, ms);
    }
    const m = ms[symbol];
    if (!m) throw new ExchangeError(`account ${account}: the venue lists no market ${symbol}`);
    return m;
  }

  /** Run every non-wait action of `plan` under rebalance `rebalanceId`. JournalErrors propagate (halt). */
  async execute(plan: Plan, rebalanceId: number): Promise<ExecutionReport> {
    this.#markets = new Map();
    const legs = plan.actions
      .map((a, i) => ({ a, i }))
      .filter(({ a }) => a.type !== 'wait' && a.symbol !== null && a.side !== null && a.account !== null && a.amount > 0)
      .sort((x, y) => legRank(x.a) - legRank(y.a) || x.i - y.i);
    const report: ExecutionReport = { rebalanceId, status: 'done', legs: [], reasons: [] };
    this.#event(null, { rebalanceId, start: true, legs: legs.map(({ a, i }) => ({ leg: i, account: a.account, symbol: a.symbol, side: a.side, amount: a.amount, reduceOnly: a.reduceOnly })) });
    let stopped: ExecutionStatus | null = null;
    for (const { a, i } of legs) {
      const leg: LegReport = {
        leg: i,
        class: a.class,
        account: a.account!,
        symbol: a.symbol!,
        side: a.side!,
        reduceOnly: a.reduceOnly,
        requested: a.amount,
        filled: 0,
        avgPrice: null,
        status: 'unfilled',
        reasons: [],
        orders: [],
      };
      report.legs.push(leg);
      if (stopped) {
        leg.status = stopped === 'paused' ? 'paused' : 'halted';
        leg.reasons.push(`not started: the rebalance is ${stopped}`);
        continue;
      }
      try {
        await this.#runLeg(rebalanceId, a, leg);
      } catch (e) {
        if (e instanceof Paused || (e instanceof ExchangeError && retryable(e))) {
          leg.status = 'paused';
          leg.reasons.push(`venue unavailable: ${(e as Error).message}`);
          stopped = 'paused';
          report.reasons.push(`paused at leg ${i} (${a.symbol}): ${(e as Error).message}`);
        } else if (e instanceof ExchangeError) {
          leg.status = 'skipped';
          leg.reasons.push(`venue refused: ${e.name}: ${e.message}`);
        } else {
          throw e;
        }
      }
      if (leg.status === 'halted') stopped = 'halted';
    }
    report.status = stopped ?? (report.legs.every((l) => l.status === 'filled') ? 'done' : 'partial');
    this.#event(null, { rebalanceId, done: true, status: report.status, legs: report.legs });
    return report;
  }

  async #runLeg(rebalanceId: number, a: Action, leg: LegReport): Promise<void> {
    const account = leg.account;
    const symbol = leg.symbol;
    const side = leg.side;
    const m = await this.#market(account, symbol);
    const v = this.tracker.venue(account);
    const spot = m.spot;
    const firstTicker = await this.#read(() => v.fetchTicker(symbol));
    const refPrice = side === 'buy' ? firstTicker.ask || firstTicker.last : firstTicker.bid || firstTicker.last;
    const slices = sliceAmounts(a.amount, refPrice, m, this.config.maxSliceNotional);
    let filledQty = new Decimal(0);
    let filledCost = new Decimal(0);
    let anyLost = false;
    let anyRejected = false;
    for (let s = 0; s < slices.length; s++) {
      if (s > 0 && this.config.sliceIntervalMs > 0) await this.#d.sleep(this.config.sliceIntervalMs);
      let remaining = slices[s]!;
      for (let attempt = 0; attempt < this.config.maxAttempts && remaining > 0; attempt++) {
        this.#d.heartbeat?.();
        const state = this.#state();
        if (state === 'HALTED') {
          leg.status = 'halted';
          leg.reasons.push('trading HALTED (kill switch): no further orders');
          return this.#finishLeg(leg, filledQty, filledCost, anyLost, anyRejected);
        }
        if (state === 'REDUCING' && !(a.type === 'futures' && a.reduceOnly)) {
          leg.reasons.push('trading REDUCING: only reduce-only legs may trade; leg skipped');
          leg.status = 'skipped';
          return this.#finishLeg(leg, filledQty, filledCost, anyLost, anyRejected);
        }
        const ticker = await this.#read(() => v.fetchTicker(symbol));
        const bid = ticker.bid > 0 ? ticker.bid : ticker.last;
        const ask = ticker.ask > 0 ? ticker.ask : ticker.last;
        const off = this.config.offsetBps / 10_000;
        const type = this.config.orderType;
        const price = type === 'market' ? null : side === 'buy' ? floorToStep(bid * (1 + off), m.priceStep) : ceilToStep(ask * (1 - off), m.priceStep);
        const checkPrice = price ?? (side === 'buy' ? ask * (1 + this.config.marketBuyBuffer) : bid);
        if (!(checkPrice > 0)) {
          leg.reasons.push(`no usable price for ${symbol} (bid ${ticker.bid}, ask ${ticker.ask}, last ${ticker.last})`);
          leg.status = 'skipped';
          return this.#finishLeg(leg, filledQty, filledCost, anyLost, anyRejected);
        }
        const touch = side === 'buy' ? bid : ask;
        if (price !== null && Math.abs(price - touch) > this.config.priceCollar * touch * (1 + 1e-9)) {
          const why = `pre-trade gate [price-collar]: limit ${price} is ${((Math.abs(price - touch) / touch) * 100).toFixed(2)}% from the touch ${touch}, outside the ${(this.config.priceCollar * 100).toFixed(2)}% collar; no order`;
          leg.reasons.push(why);
          this.#event(account, { leg: leg.leg, pretradeRefused: { rule: 'price-collar', symbol, side, price, touch, limit: this.config.priceCollar } });
          return this.#finishLeg(leg, filledQty, filledCost, anyLost, true);
        }
        if (spot) {
          const fit = await this.#fitToBalance(account, m, side, remaining, checkPrice, leg);
          if (fit <= 0) return this.#finishLeg(leg, filledQty, filledCost, anyLost, anyRejected);
          remaining = fit;
        }
        const tooSmall = this.#belowMinimum(m, remaining, checkPrice, a.reduceOnly);
        if (tooSmall) {
          leg.reasons.push(`slice ${s}: remaining ${remaining} ${symbol} ${tooSmall}; left for the next plan`);
          break;
        }
        const res = await this.tracker.place({
          rebalanceId,
          leg: leg.leg,
          slice: s,
          attempt,
          account,
          symbol,
          side,
          type,
          amount: remaining,
          price,
          reduceOnly: a.reduceOnly,
          purpose: a.reason,
        });
        let o = res.intent;
        leg.orders.push(o.clientOrderId);
        if (res.paused) throw new Paused(o.reason ?? 'venue unavailable');
        if (o.state === 'REJECTED') {
          anyRejected = true;
          leg.reasons.push(`${o.clientOrderId}: ${o.reason ?? 'rejected'}`);
          return this.#finishLeg(leg, filledQty, filledCost, anyLost, anyRejected);
        }
        o = await this.#work(o);
        if (o.state === 'LOST' || !isDone(o.state)) {
          anyLost = true;
          leg.reasons.push(`${o.clientOrderId}: ${o.state}${o.reason ? ` (${o.reason})` : ''}; no new attempt while it may still be live — reconciliation will settle it`);
          filledQty = filledQty.plus(o.filled);
          filledCost = filledCost.plus(new Decimal(o.filled).mul(o.avgPrice ?? 0));
          return this.#finishLeg(leg, filledQty, filledCost, anyLost, anyRejected);
        }
        filledQty = filledQty.plus(o.filled);
        filledCost = filledCost.plus(new Decimal(o.filled).mul(o.avgPrice ?? 0));
        // Keep the running total on the report: a pause (thrown) must not lose what was already done.
        leg.filled = filledQty.toNumber();
        leg.avgPrice = filledQty.gt(0) ? filledCost.div(filledQty).toNumber() : null;
        remaining = new Decimal(remaining).minus(o.filled).toNumber();
        if (remaining > 0 && attempt + 1 < this.config.maxAttempts) leg.reasons.push(`${o.clientOrderId}: ${o.filled} of ${o.amount} filled in time; repricing the rest`);
        else if (remaining > 0) leg.reasons.push(`${o.clientOrderId}: ${o.filled} of ${o.amount} filled; last attempt cancelled, ${remaining} left for the next plan`);
      }
    }
    this.#finishLeg(leg, filledQty, filledCost, anyLost, anyRejected);
  }

  /** Wait for an order to fill until the reprice deadline, then cancel it. Returns the settled intent. */
  async #work(intent: OrderIntent): Promise<OrderIntent> {
    let o = intent;
    const wait = o.type === 'market' ? this.config.pollMs : this.config.repriceAfterMs;
    const deadline = this.#now() + wait;
    while (!isDone(o.state) && o.state !== 'LOST' && this.#now() < deadline) {
      await this.#d.sleep(Math.min(this.config.pollMs, Math.max(1, deadline - this.#now())));
      o = await this.tracker.refresh(o);
      if (this.#state() === 'HALTED') break;
    }
    if (!isDone(o.state) && o.state !== 'LOST') o = await this.tracker.cancel(o);
    return o;
  }

  #belowMinimum(m: Market, amount: number, price: number, reduceOnly: boolean): string | null {
    if (!(amount > 0)) return 'is zero';
    if (amount < m.minAmount) return `is below the minimum amount ${m.minAmount}`;
    if (floorToStep(amount, m.amountStep) !== amount) return `is not a multiple of the lot step ${m.amountStep}`;
    if (!reduceOnly && amount * m.contractSize * price < m.minNotional) return `(${(amount * m.contractSize * price).toFixed(2)} ${m.quote}) is below the minimum notional ${m.minNotional}`;
    return null;
  }

  /** Re-read the free balance; return the amount that fits (scaled down), or 0 to skip (reason recorded). */
  async #fitToBalance(account: string, m: Market, side: Side, want: number, price: number, leg: LegReport): Promise<number> {
    const v = this.tracker.venue(account);
    const bal = await this.#read(() => v.fetchBalance());
    const base = m.base || baseOf(m.symbol);
    let fits: number;
    let what: string;
    if (side === 'buy') {
      const free = bal.free[m.quote] ?? 0;
      const fee = Math.max(m.maker, m.taker);
      fits = floorToStep(free / (price * (1 + fee)), m.amountStep);
      what = `free ${free.toFixed(2)} ${m.quote} buys ${fits} ${base} at ${price} with fees`;
    } else {
      const free = bal.free[base] ?? 0;
      fits = floorToStep(free, m.amountStep);
      what = `free ${free} ${base}`;
    }
    if (fits >= want) return want;
    if (fits <= 0 || fits < m.minAmount || fits * m.contractSize * price < m.minNotional) {
      leg.reasons.push(`insufficient funds: ${side} ${want} ${m.symbol} needs more than the ${what}; what fits is below the venue minimum — skipped (no retry)`);
      leg.status = 'skipped';
      this.#event(account, { leg: leg.leg, skipped: true, symbol: m.symbol, side, want, fits, reason: what });
      return 0;
    }
    leg.reasons.push(`scaled down from ${want} to ${fits} ${base}: ${what}`);
    this.#event(account, { leg: leg.leg, scaled: true, symbol: m.symbol, side, want, fits, reason: what });
    return fits;
  }

  #finishLeg(leg: LegReport, qty: Decimal, cost: Decimal, lost: boolean, rejected: boolean): void {
    leg.filled = qty.toNumber();
    leg.avgPrice = qty.gt(0) ? cost.div(qty).toNumber() : null;
    if (leg.status === 'halted') return;
    if (lost) leg.status = 'lost';
    else if (leg.filled >= leg.requested - 1e-12) leg.status = 'filled';
    else if (leg.filled > 0) leg.status = 'partial';
    else if (rejected) leg.status = 'rejected';
    else if (leg.status !== 'skipped') leg.status = 'unfilled';
  }
}
