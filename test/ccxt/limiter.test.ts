/**
 * The per-key rate limiter: token bucket (waits, FIFO, one sleep per shortfall), ban (fails fast,
 * nothing sent), registry shared by key hash. Clock and sleep are injected: deterministic.
 */
import { describe, expect, it } from 'vitest';
import { createCcxtClient } from '../../src/adapters/ccxt/client.js';
import { CcxtExchange } from '../../src/adapters/ccxt/exchange.js';
import { limiterCount, limiterForKey, limiterKey, RateLimiter, resetLimiterRegistry } from '../../src/adapters/ccxt/limiter.js';
import { Secret } from '../../src/adapters/keys.js';
import { ManualClock } from '../../src/ports/clock.js';
import { RateLimitExceeded } from '../../src/ports/errors.js';
import { caught, CANARY } from './helpers.js';

/** A fake sleep that moves the manual clock and records every wait. */
function fakeTime(start = 0) {
  const clock = new ManualClock(start);
  const sleeps: number[] = [];
  const sleep = async (ms: number) => {
    sleeps.push(ms);
    clock.advance(ms);
  };
  return { clock, sleeps, sleep };
}

describe('token bucket', () => {
  it('lets a burst of `capacity` through, then paces at the refill rate', async () => {
    const t = fakeTime();
    const lim = new RateLimiter({ capacity: 5, refillPerSecond: 10, clock: t.clock, sleep: t.sleep });
    for (let i = 0; i < 5; i++) await lim.acquire(1);
    expect(t.sleeps).toEqual([]);
    await lim.acquire(1);
    expect(t.sleeps).toEqual([100]); // one token per 100 ms
    await lim.acquire(3);
    expect(t.sleeps).toEqual([100, 300]);
    expect(t.clock.now()).toBe(400);
  });

  it('serves waiters in FIFO order with one sleep per shortfall (no hot loop)', async () => {
    const t = fakeTime();
    const lim = new RateLimiter({ capacity: 1, refillPerSecond: 1, clock: t.clock, sleep: t.sleep });
    const order: number[] = [];
    await Promise.all([1, 2, 3, 4].map((i) => lim.acquire(1).then(() => order.push(i))));
    expect(order).toEqual([1, 2, 3, 4]);
    expect(t.sleeps).toEqual([1000, 1000, 1000]);
  });

  it('an oversized request waits for a full bucket and leaves it in debt', async () => {
    const t = fakeTime();
    const lim = new RateLimiter({ capacity: 2, refillPerSecond: 2, clock: t.clock, sleep: t.sleep });
    await lim.acquire(1);
    await lim.acquire(5);
    expect(t.sleeps).toEqual([500]);
    expect(lim.tokens).toBe(-3);
    await lim.acquire(1);
    expect(t.sleeps).toEqual([500, 2000]);
  });
});

describe('ban', () => {
  it('fails fast with the remaining wait while banned, and recovers after', async () => {
    const t = fakeTime(1_000);
    const lim = new RateLimiter({ capacity: 10, refillPerSecond: 10, clock: t.clock, sleep: t.sleep });
    lim.ban(61_000, 'HTTP 418');
    const e = await caught(lim.acquire());
    expect(e).toBeInstanceOf(RateLimitExceeded);
    expect((e as RateLimitExceeded).retryAfterMs).toBe(60_000);
    expect((e as Error).message).toMatch(/suspended for 60000 ms more \(HTTP 418\); nothing was sent/);
    expect(t.sleeps).toEqual([]); // never waits out a ban
    t.clock.advance(30_000);
    expect(((await caught(lim.acquire())) as RateLimitExceeded).retryAfterMs).toBe(30_000);
    t.clock.set(61_000);
    expect(lim.bannedUntil()).toBeNull();
    await lim.acquire(); // bucket was emptied by the ban but has refilled over 60 s
    expect(t.sleeps).toEqual([]);
  });

  it('a ban is never shortened by a later, shorter one', () => {
    const t = fakeTime();
    const lim = new RateLimiter({ capacity: 1, refillPerSecond: 1, clock: t.clock, sleep: t.sleep });
    lim.ban(10_000);
    lim.ban(5_000);
    expect(lim.bannedUntil()).toBe(10_000);
  });

  it('callers queued for tokens when a ban starts fail too, without sending', async () => {
    const t = fakeTime();
    let sleeps = 0;
    const lim = new RateLimiter({
      capacity: 1,
      refillPerSecond: 1,
      clock: t.clock,
      sleep: async (ms) => {
        sleeps++;
        if (sleeps === 1) lim.ban(t.clock.now() + 5_000, '429'); // the venue answered 429 to someone else meanwhile
        t.clock.advance(ms);
      },
    });
    await lim.acquire();
    const e = await caught(lim.acquire());
    expect(e).toBeInstanceOf(RateLimitExceeded);
    expect(sleeps).toBe(1);
  });
});

describe('registry: one limiter per API key', () => {
  it('shares the limiter between adapters built with the same key, keyed by a hash', () => {
    resetLimiterRegistry();
    const clock = new ManualClock(0);
    const opts = { capacity: 1, refillPerSecond: 1, clock, sleep: async () => undefined };
    const a = limiterForKey('binance', CANARY.apiKey, opts);
    const b = limiterForKey('binance', CANARY.apiKey, opts);
    const c = limiterForKey('binance', 'another-key', opts);
    const d = limiterForKey('bybit', CANARY.apiKey, opts);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
    expect(a).not.toBe(d);
    expect(limiterCount()).toBe(3);
    const k = limiterKey('binance', CANARY.apiKey);
    expect(k).toMatch(/^[0-9a-f]{64}$/);
    expect(k).not.toContain(CANARY.apiKey);
  });

  it('two CcxtExchange instances on the same key share one ban', () => {
    resetLimiterRegistry();
    const clock = new ManualClock(0);
    const creds = { apiKey: new Secret(CANARY.apiKey), secret: new Secret(CANARY.secret), source: 'test' };
    const x = new CcxtExchange(createCcxtClient('binance', creds), { clock });
    const y = new CcxtExchange(createCcxtClient('binance', creds), { clock });
    const other = new CcxtExchange(createCcxtClient('binance', { ...creds, apiKey: new Secret('other-key-123') }), { clock });
    expect(x.limiter).toBe(y.limiter);
    expect(other.limiter).not.toBe(x.limiter);
    x.limiter.ban(10_000);
    expect(y.limiter.bannedUntil()).toBe(10_000);
    expect(other.limiter.bannedUntil()).toBeNull();
  });
});
