/**
 * One rate limit per exchange key, shared by every worker on every machine: a token bucket kept in Redis
 * and updated by one Lua script (atomic on the server), timed by the Redis server's clock (`TIME`), so the
 * workers' own clocks never matter. The same rules as the in-process limiter (src/adapters/ccxt/limiter.ts):
 *
 * - `capacity` units at most, refilled at `refillPerSecond`; a call that finds too few tokens waits for the
 *   shortfall (one sleep per reply, never a hot loop) and asks again;
 * - `ban(untilMs)` after a 429/418: until then every acquire on this key, in every worker, fails fast with
 *   RateLimitExceeded(retryAfterMs) — no request is sent during a ban.
 *
 * Invariant (test/scale/rate-limit.test.ts, 50 workers on one key): over any window of T seconds the key is
 * granted at most capacity + refillPerSecond × T units. BullMQ's group rate limits are a BullMQ Pro
 * feature; this bucket does the same job per key with plain Redis.
 */
import type { Redis } from 'ioredis';
import type { Exchange } from '../../ports/exchange.js';
import { ExchangeNotAvailable, RateLimitExceeded } from '../../ports/errors.js';

/**
 * KEYS[1] bucket hash {tokens, at}, KEYS[2] ban key. ARGV: capacity, refill per second, cost, log key ('' = none).
 * Returns {0, nowMs} granted; {1, waitMs} wait; {2, banLeftMs} banned.
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ban = redis.call('PTTL', KEYS[2])
if ban > 0 then return {2, ban} end
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2]) / 1000
local cost = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil then tokens = cap; at = now end
if now > at then tokens = math.min(cap, tokens + (now - at) * rate); at = now end
local need = math.min(cost, cap)
if tokens < need then
  redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', at)
  redis.call('PEXPIRE', KEYS[1], math.ceil(cap / rate) + 60000)
  return {1, math.max(1, math.ceil((need - tokens) / rate))}
end
tokens = tokens - cost
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', at)
redis.call('PEXPIRE', KEYS[1], math.ceil(cap / rate) + 60000)
if ARGV[4] ~= '' then redis.call('RPUSH', ARGV[4], now .. ':' .. cost) end
return {0, now}
`;

export interface SharedLimitOptions {
  /** Names the key in Redis and in errors — a hash of venue and API key, never the key itself. */
  key: string;
  capacity: number;
  refillPerSecond: number;
  sleep?: (ms: number) => Promise<void>;
  /** Tests: append "serverMs:cost" of every grant to this Redis list. */
  logKey?: string;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class SharedRateLimiter {
  readonly key: string;
  readonly capacity: number;
  readonly refillPerSecond: number;
  readonly #redis: Redis;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #logKey: string;

  constructor(redis: Redis, o: SharedLimitOptions) {
    if (!(o.capacity > 0) || !(o.refillPerSecond > 0)) throw new RangeError(`SharedRateLimiter ${o.key}: capacity and refillPerSecond must be > 0`);
    this.#redis = redis;
    this.key = o.key;
    this.capacity = o.capacity;
    this.refillPerSecond = o.refillPerSecond;
    this.#sleep = o.sleep ?? realSleep;
    this.#logKey = o.logKey ?? '';
  }

  get #keys(): [string, string] {
    return [`ballast:rate:{${this.key}}:bucket`, `ballast:rate:{${this.key}}:ban`];
  }

  /** Wait until `cost` units are granted; RateLimitExceeded while the key is banned. Returns the server time of the grant. */
  async acquire(cost = 1): Promise<number> {
    for (;;) {
      const [code, value] = (await this.#redis.eval(SCRIPT, 2, ...this.#keys, this.capacity, this.refillPerSecond, cost, this.#logKey)) as [number, number];
      if (code === 0) return value;
      if (code === 2) throw new RateLimitExceeded(`rate limit of ${this.key}: banned for another ${value} ms (shared by every worker)`, value);
      await this.#sleep(value);
    }
  }

  /** No request on this key, by any worker, until `untilMs` from now. */
  async ban(forMs: number): Promise<void> {
    await this.#redis.set(this.#keys[1], '1', 'PX', Math.max(1, Math.ceil(forMs)));
  }
}

/**
 * Every venue call of `inner` first takes one unit of the key's shared budget. When the limiter cannot be
 * asked (Redis down or restarting), nothing was sent: the call fails with ExchangeNotAvailable (retryable,
 * rejection proven), so an order is retried under the same client id or ends "not sent" — never "unknown".
 */
export function limitedExchange(inner: Exchange, limiter: SharedRateLimiter): Exchange {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      const fn = (v as (...a: unknown[]) => unknown).bind(target);
      return async (...args: unknown[]) => {
        try {
          await limiter.acquire(1);
        } catch (e) {
          if (e instanceof RateLimitExceeded) throw e;
          throw new ExchangeNotAvailable(`rate limiter of ${limiter.key} unavailable (${(e as Error).message}); nothing sent`, { exchange: target.id, cause: e });
        }
        return fn(...args);
      };
    },
  });
}
