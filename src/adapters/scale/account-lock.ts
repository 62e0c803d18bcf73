/**
 * A per-account lock for workers on many machines, with a fencing token — a Redis lock (SET NX PX, renewed
 * while held) plus a token from INCR that only grows. A worker that pauses past its lock's expiry (GC, a
 * frozen VM, a partition) may still believe it holds the account; the token is what stops it:
 *
 *   1. acquire: take the Redis lock, get token N, and raise the account's high-water mark in Postgres to N
 *      (`fences` table) BEFORE doing anything else;
 *   2. every order intent the worker writes carries N (PostgresJournal `fenceFor`);
 *   3. before sending, FencedExchange asks Postgres (one transaction) whether the intent carries N and N is
 *      still the highest token of the account — a worker whose lock was taken over holds N < N' and its order
 *      is refused before it reaches the venue (the intent ends REJECTED with the reason; nothing was sent).
 *
 * The lock key names the exchange account (venue + account), not the portfolio: two portfolios bound to the
 * same exchange account are never traded at once.
 */
import type { Redis } from 'ioredis';
import type { CreateOrderRequest, Exchange, Order } from '../../ports/exchange.js';
import { ExchangeError } from '../../ports/errors.js';
import type { PostgresJournal } from '../journal/postgres.js';

const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local owner, token = string.match(cur, '^(.*)|(%d+)$')
  if owner == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return -redis.call('PTTL', KEYS[1])
end
local floor = tonumber(ARGV[3])
local cur_fence = tonumber(redis.call('GET', KEYS[2]) or '0')
if cur_fence < floor then redis.call('SET', KEYS[2], floor) end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
`;

const RENEW = `
local cur = redis.call('GET', KEYS[1])
if cur and string.match(cur, '^(.*)|') == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`;

const RELEASE = `
local cur = redis.call('GET', KEYS[1])
if cur and string.match(cur, '^(.*)|') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

export interface Held {
  key: string;
  token: number;
}

export class AccountLocks {
  readonly owner: string;
  readonly ttlMs: number;
  readonly #redis: Redis;

  constructor(redis: Redis, o: { owner: string; ttlMs?: number }) {
    this.#redis = redis;
    this.owner = o.owner;
    this.ttlMs = o.ttlMs ?? 30_000;
  }

  /**
   * Take the lock of `key` (or keep it, when this owner holds it). Returns the fencing token, or the time left
   * when another owner holds it. `floor`: the highest token the journal has seen for this key — a new token is
   * always above it, even when Redis lost its counter (a restart without persistence).
   */
  async acquire(key: string, floor = 0): Promise<{ token: number } | { heldForMs: number }> {
    const r = Number(await this.#redis.eval(ACQUIRE, 2, `ballast:lock:{${key}}`, `ballast:fence:{${key}}`, this.owner, this.ttlMs, floor));
    return r > 0 ? { token: r } : { heldForMs: -r };
  }

  /** Extend the lock; false when it expired or another owner has it now. */
  async renew(key: string): Promise<boolean> {
    return Number(await this.#redis.eval(RENEW, 1, `ballast:lock:{${key}}`, this.owner, this.ttlMs)) === 1;
  }

  async release(key: string): Promise<void> {
    await this.#redis.eval(RELEASE, 1, `ballast:lock:{${key}}`, this.owner);
  }
}

/** The order was not sent: this worker's fencing token is stale or does not match the intent. Final: never retried by this worker. */
export class FencedOut extends ExchangeError {
  override name = 'FencedOut';
}

/**
 * An Exchange whose createOrder first asks the journal whether this worker's fencing token is still the
 * account's newest and is the one written in the order's intent; every other call passes through.
 */
export function fencedExchange(inner: Exchange, journal: PostgresJournal, held: Held): Exchange {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'createOrder') {
        return async (req: CreateOrderRequest): Promise<Order> => {
          const ok = journal.checkFence(req.clientOrderId, held.key, held.token);
          if (!ok.ok) throw new FencedOut(`not sent: ${ok.reason}`, { exchange: target.id });
          return target.createOrder(req);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
