/**
 * One exchange key's rate limit, shared by every worker (issue: "fifty workers never exceed one key's
 * limit"). Fifty workers — each with its own Redis connection and its own SharedRateLimiter object, as
 * fifty worker processes would have; the bucket lives only in Redis — hammer one key for ~2.5 s. Every
 * grant is logged with the Redis server's time. Invariant: over every window [a, b] of the log, the units
 * granted are at most capacity + refillPerSecond × (b − a) (a token bucket's bound), and the workers got
 * close to that rate (the limit is shared, not merely low). A ban stops every worker at once.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharedRateLimiter } from '../../src/adapters/scale/rate-limit.js';
import { RateLimitExceeded } from '../../src/ports/errors.js';
import { startRedis, type LocalRedis } from './engines.js';

let redis: LocalRedis;
const conns: Redis[] = [];
const connect = () => {
  const c = new Redis(redis.url, { maxRetriesPerRequest: null, lazyConnect: false });
  conns.push(c);
  return c;
};

beforeAll(async () => {
  redis = await startRedis();
}, 1_200_000);
afterAll(async () => {
  for (const c of conns) c.disconnect();
  await redis?.stop();
}, 60_000);

describe('shared rate limit (Redis token bucket)', () => {
  it('50 workers on one key never exceed capacity + rate × window, and together reach the rate', async () => {
    const capacity = 10;
    const rate = 40; // units per second
    const log = 'test:grants';
    const workers = Array.from({ length: 50 }, () => new SharedRateLimiter(connect(), { key: 'binance:key-a', capacity, refillPerSecond: rate, logKey: log }));
    const until = Date.now() + 2_500;
    let calls = 0;
    await Promise.all(
      workers.map(async (w, i) => {
        while (Date.now() < until) {
          await w.acquire(i % 7 === 0 ? 2 : 1); // some requests weigh 2
          calls++;
        }
      }),
    );
    const grants = (await conns[0]!.lrange(log, 0, -1)).map((s) => s.split(':').map(Number) as [number, number]);
    expect(grants.length).toBe(calls);
    grants.sort((a, b) => a[0] - b[0]);
    let worst = -Infinity;
    for (let i = 0; i < grants.length; i++) {
      let units = 0;
      for (let j = i; j < grants.length; j++) {
        units += grants[j]![1];
        // +1 ms: the server clock has millisecond resolution in the log
        const bound = capacity + (rate * (grants[j]![0] - grants[i]![0] + 1)) / 1000;
        worst = Math.max(worst, units - bound);
      }
    }
    const span = (grants.at(-1)![0] - grants[0]![0]) / 1000;
    const units = grants.reduce((s, g) => s + g[1], 0);
    console.log(`50 workers, one key (capacity ${capacity}, ${rate}/s): ${grants.length} grants, ${units} units in ${span.toFixed(2)} s = ${(units / span).toFixed(1)}/s; worst window excess ${worst.toFixed(3)} (must be ≤ 0)`);
    expect(worst).toBeLessThanOrEqual(1e-9);
    // the workers together used the key's budget (not a vacuous pass by being idle)
    expect(units).toBeGreaterThan(capacity + rate * span * 0.8);
  });

  it('a ban stops every worker on that key at once, with the time left; other keys are untouched', async () => {
    const a = new SharedRateLimiter(connect(), { key: 'bybit:key-b', capacity: 5, refillPerSecond: 5 });
    const b = new SharedRateLimiter(connect(), { key: 'bybit:key-b', capacity: 5, refillPerSecond: 5 });
    const other = new SharedRateLimiter(connect(), { key: 'bybit:key-c', capacity: 5, refillPerSecond: 5 });
    await a.acquire();
    await a.ban(60_000);
    const err = await b.acquire().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitExceeded);
    expect((err as RateLimitExceeded).retryAfterMs).toBeGreaterThan(59_000);
    expect((err as Error).message).toMatch(/bybit:key-b: banned for another \d+ ms/);
    await expect(other.acquire()).resolves.toBeTypeOf('number');
  });
});
