/**
 * One rate limiter per API key, shared by every CcxtExchange built with that key: a token bucket
 * (request weight, in ccxt's cost units) plus a ban state.
 *
 * Token bucket: `capacity` units at most, refilled at `refillPerSecond`. A call that finds too few
 * tokens WAITS (injected `sleep`, one sleep per shortfall — never a hot loop) in FIFO order. A call
 * whose cost exceeds the capacity waits for a full bucket and leaves it negative (ccxt does the same).
 *
 * Ban: after a 429 / 418 (or a venue rate-limit code) the adapter calls `ban(until)`. Until then no
 * request is sent on this key: `acquire` FAILS FAST with `RateLimitExceeded(retryAfterMs)` instead of
 * waiting. Why fail fast: a ban can last from seconds to days (Binance escalates 418 bans up to 3
 * days); a caller parked inside `acquire` would hold its whole rebalance hostage and hide the state
 * from the service, whereas an error tells the execution layer exactly when to come back, and the
 * journal/dashboard can show it. Callers queued behind the bucket when a ban starts fail the same way.
 *
 * Registry: `limiterForKey(venue, apiKey)` returns the limiter of that key, creating it on first use.
 * The registry is keyed by SHA-256(venue, key) — the key itself is never stored here.
 */

import { createHash } from 'node:crypto';
import type { Clock } from '../../ports/clock.js';
import { RateLimitExceeded } from '../../ports/errors.js';

export type Sleep = (ms: number) => Promise<void>;

export const realSleep: Sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export interface RateLimiterOptions {
  /** Burst size in cost units (ccxt cost: 1 = one request of the venue's base weight). */
  capacity: number;
  /** Cost units regained per second. */
  refillPerSecond: number;
  clock: Clock;
  sleep: Sleep;
  /** Name used in error messages (venue id). */
  name?: string;
}

export class RateLimiter {
  readonly capacity: number;
  readonly refillPerSecond: number;
  readonly name: string;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  #tokens: number;
  #last: number;
  #bannedUntil = -Infinity;
  #banReason = '';
  /** FIFO: each acquire chains on the previous one. */
  #tail: Promise<void> = Promise.resolve();

  constructor(options: RateLimiterOptions) {
    if (!(options.capacity > 0) || !(options.refillPerSecond > 0)) {
      throw new RangeError(`RateLimiter: capacity and refillPerSecond must be > 0, got ${options.capacity} and ${options.refillPerSecond}`);
    }
    this.capacity = options.capacity;
    this.refillPerSecond = options.refillPerSecond;
    this.name = options.name ?? 'venue';
    this.#clock = options.clock;
    this.#sleep = options.sleep;
    this.#tokens = options.capacity;
    this.#last = options.clock.now();
  }

  /** Tokens available now (after refill); may be negative after an oversized request. */
  get tokens(): number {
    this.#refill();
    return this.#tokens;
  }

  /** End of the current ban (epoch ms), or null when not banned. */
  bannedUntil(): number | null {
    return this.#clock.now() < this.#bannedUntil ? this.#bannedUntil : null;
  }

  /** Start (or extend) a ban: no request on this key before `untilMs`. Never shortens a ban. */
  ban(untilMs: number, reason = 'rate limit'): void {
    if (!Number.isFinite(untilMs)) return;
    if (untilMs > this.#bannedUntil) {
      this.#bannedUntil = untilMs;
      this.#banReason = reason;
    }
    // A ban also empties the bucket: the venue thinks we spent everything.
    this.#refill();
    this.#tokens = Math.min(this.#tokens, 0);
  }

  /**
   * Wait for `cost` tokens (FIFO). Throws RateLimitExceeded at once — sending nothing — while a ban
   * is in force, including for calls that were already waiting when the ban started.
   */
  acquire(cost = 1): Promise<void> {
    const c = Number.isFinite(cost) && cost > 0 ? cost : 1;
    const run = this.#tail.then(() => this.#take(c));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  #checkBan(): void {
    const now = this.#clock.now();
    if (now < this.#bannedUntil) {
      const wait = this.#bannedUntil - now;
      throw new RateLimitExceeded(
        `${this.name}: requests on this API key are suspended for ${wait} ms more (${this.#banReason}); nothing was sent`,
        wait,
        { exchange: this.name },
      );
    }
  }

  #refill(): void {
    const now = this.#clock.now();
    if (now > this.#last) {
      this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#last) / 1000) * this.refillPerSecond);
      this.#last = now;
    }
  }

  async #take(cost: number): Promise<void> {
    const need = Math.min(cost, this.capacity);
    for (;;) {
      this.#checkBan();
      this.#refill();
      if (this.#tokens >= need) {
        this.#tokens -= cost;
        return;
      }
      const waitMs = Math.max(1, Math.ceil(((need - this.#tokens) / this.refillPerSecond) * 1000));
      await this.#sleep(waitMs);
    }
  }
}

// ================================================================== registry (one limiter per key)

const registry = new Map<string, RateLimiter>();

/** Registry key: SHA-256 of venue and API key (hex). The key itself never leaves the caller. */
export function limiterKey(venue: string, apiKey: string | undefined): string {
  return createHash('sha256')
    .update(venue)
    .update('\0')
    .update(apiKey ?? '<public>')
    .digest('hex');
}

/**
 * The limiter shared by every adapter using `apiKey` on `venue` (requests without a key share one
 * per venue). `options` apply only when the limiter is created; later callers get the existing one.
 */
export function limiterForKey(venue: string, apiKey: string | undefined, options: RateLimiterOptions): RateLimiter {
  const k = limiterKey(venue, apiKey);
  let limiter = registry.get(k);
  if (!limiter) {
    limiter = new RateLimiter({ ...options, name: options.name ?? venue });
    registry.set(k, limiter);
  }
  return limiter;
}

/** Forget every shared limiter (tests only). */
export function resetLimiterRegistry(): void {
  registry.clear();
}

/** Number of distinct keys with a limiter (tests and diagnostics). */
export function limiterCount(): number {
  return registry.size;
}
