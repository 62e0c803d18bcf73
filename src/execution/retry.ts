/**
 * Waiting, retrying and the per-key rate-limit gate. Time comes from an injected Clock and waits go through an
 * injected Sleep, so tests run on virtual time (a sleep that advances a ManualClock).
 *
 * - Reads are retried with exponential backoff on retryable errors (network, 5xx, 429, maintenance), up to
 *   `attempts`; a 429's retryAfter is honoured by the gate, never shortened.
 * - Writes are NOT retried here: the tracker decides (only a proven rejection may be resent).
 * - GuardedExchange: one per API key. After a RateLimitExceeded (429 or ban) it sends nothing on that key
 *   until retryAfter has passed — every caller sharing the key waits — so there is no hot loop and no ban
 *   from ignoring a retry-after.
 */
import type { Clock } from '../ports/clock.js';
import { OnMaintenance, RateLimitExceeded, retryable } from '../ports/errors.js';
import type {
  Balances,
  CreateOrderRequest,
  Exchange,
  FundingPayment,
  FundingRateInfo,
  MarginMode,
  Market,
  Order,
  OrderRef,
  PositionInfo,
  Ticker,
  Trade,
} from '../ports/exchange.js';

export type Sleep = (ms: number) => Promise<void>;

/** Real waiting, for apps. Tests pass a sleep that moves a ManualClock. */
export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export interface RetryOptions {
  /** Total tries including the first. */
  attempts: number;
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_READ_RETRY: RetryOptions = { attempts: 4, baseMs: 500, maxMs: 30_000 };

/** Backoff before retry number `n` (1-based): base × 2^(n−1), capped. Deterministic (no jitter: tests replay exactly). */
export function backoffMs(n: number, o: Pick<RetryOptions, 'baseMs' | 'maxMs'>): number {
  return Math.min(o.maxMs, o.baseMs * 2 ** Math.max(0, n - 1));
}

/**
 * Run a read, retrying retryable errors with backoff. Maintenance with a known end further away than the
 * remaining budget is not waited for: it is thrown at once (the caller pauses).
 */
export async function withReadRetry<T>(fn: () => Promise<T>, sleep: Sleep, o: RetryOptions = DEFAULT_READ_RETRY): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await fn();
    } catch (e) {
      if (!retryable(e) || n >= o.attempts) throw e;
      if (e instanceof OnMaintenance) throw e;
      // A 429 is waited out by the gate on the next call; add the backoff only for other errors.
      if (!(e instanceof RateLimitExceeded)) await sleep(backoffMs(n, o));
    }
  }
}

export interface GateOptions {
  clock: Clock;
  sleep: Sleep;
  /** Minimum spacing between two calls on this key (a simple client-side limiter). Default 0. */
  minIntervalMs?: number;
}

/** An Exchange that waits out 429s and bans before sending anything else on the same key. */
export class GuardedExchange implements Exchange {
  readonly id: string;
  readonly inner: Exchange;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  readonly #minInterval: number;
  #blockedUntil = -Infinity;
  #last = -Infinity;
  /** Calls actually passed to the venue. */
  calls = 0;
  /** Total time spent waiting for the gate (ms, by the clock). */
  waitedMs = 0;

  constructor(inner: Exchange, o: GateOptions) {
    this.inner = inner;
    this.id = inner.id;
    this.#clock = o.clock;
    this.#sleep = o.sleep;
    this.#minInterval = o.minIntervalMs ?? 0;
  }

  /** Until when (epoch ms) the key is blocked by a rate limit; −Infinity when free. */
  get blockedUntil(): number {
    return this.#blockedUntil;
  }

  async #call<T>(fn: () => Promise<T>): Promise<T> {
    for (;;) {
      const now = this.#clock.now();
      const until = Math.max(this.#blockedUntil, this.#last + this.#minInterval);
      if (until <= now) break;
      this.waitedMs += until - now;
      await this.#sleep(until - now);
    }
    this.#last = this.#clock.now();
    this.calls++;
    try {
      return await fn();
    } catch (e) {
      if (e instanceof RateLimitExceeded) this.#blockedUntil = Math.max(this.#blockedUntil, this.#clock.now() + Math.max(0, e.retryAfterMs));
      throw e;
    }
  }

  loadMarkets(): Promise<Record<string, Market>> {
    return this.#call(() => this.inner.loadMarkets());
  }
  fetchBalance(): Promise<Balances> {
    return this.#call(() => this.inner.fetchBalance());
  }
  fetchPositions(symbols?: string[]): Promise<PositionInfo[]> {
    return this.#call(() => this.inner.fetchPositions(symbols));
  }
  fetchTicker(symbol: string): Promise<Ticker> {
    return this.#call(() => this.inner.fetchTicker(symbol));
  }
  fetchTickers(symbols?: string[]): Promise<Record<string, Ticker>> {
    return this.#call(() => this.inner.fetchTickers(symbols));
  }
  fetchFundingRate(symbol: string): Promise<FundingRateInfo> {
    return this.#call(() => this.inner.fetchFundingRate(symbol));
  }
  fetchFundingHistory(symbol?: string, since?: number, limit?: number): Promise<FundingPayment[]> {
    return this.#call(() => this.inner.fetchFundingHistory(symbol, since, limit));
  }
  createOrder(request: CreateOrderRequest): Promise<Order> {
    return this.#call(() => this.inner.createOrder(request));
  }
  cancelOrder(ref: OrderRef, symbol?: string): Promise<Order> {
    return this.#call(() => this.inner.cancelOrder(ref, symbol));
  }
  fetchOrder(ref: OrderRef, symbol?: string): Promise<Order> {
    return this.#call(() => this.inner.fetchOrder(ref, symbol));
  }
  fetchOpenOrders(symbol?: string, since?: number, limit?: number): Promise<Order[]> {
    return this.#call(() => this.inner.fetchOpenOrders(symbol, since, limit));
  }
  fetchClosedOrders(symbol?: string, since?: number, limit?: number): Promise<Order[]> {
    return this.#call(() => this.inner.fetchClosedOrders(symbol, since, limit));
  }
  fetchMyTrades(symbol?: string, since?: number, limit?: number): Promise<Trade[]> {
    return this.#call(() => this.inner.fetchMyTrades(symbol, since, limit));
  }
  setLeverage(leverage: number, symbol: string): Promise<void> {
    return this.#call(() => this.inner.setLeverage(leverage, symbol));
  }
  setMarginMode(marginMode: MarginMode, symbol: string): Promise<void> {
    return this.#call(() => this.inner.setMarginMode(marginMode, symbol));
  }
}

/** Wrap unless already guarded (one gate per key: pass the same guarded object to every user of the key). */
export function guard(exchange: Exchange, o: GateOptions): GuardedExchange {
  return exchange instanceof GuardedExchange ? exchange : new GuardedExchange(exchange, o);
}
