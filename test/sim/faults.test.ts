/**
 * Every fault the simulated venue can inject (the reliability rules (docs/concepts.md)), each on a schedule.
 */
import { describe, expect, it } from 'vitest';
import { FaultInjector } from '../../src/adapters/sim/faults.js';
import { Mulberry32 } from '../../src/model/random.js';
import {
  ExchangeNotAvailable,
  OnMaintenance,
  OrderNotFound,
  RateLimitExceeded,
  RequestTimeout,
  outcomeUnknown,
  retryable,
} from '../../src/ports/errors.js';
import type { SimConfig } from '../../src/adapters/sim/exchange.js';
import { SPOT, T0, baseConfig, rig } from './helpers.js';

const caught = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);

function withFaults(faults: SimConfig['faults']) {
  const r = rig(baseConfig({ faults }));
  r.bar(SPOT, { close: 100 });
  return r;
}

const limitBuy = (clientOrderId: string, amount = 1) =>
  ({ symbol: SPOT, type: 'limit', side: 'buy', amount, price: 90, clientOrderId }) as const;

describe('reply lost after acceptance', () => {
  it('places the order but throws RequestTimeout (outcome unknown); the client id resolves it', async () => {
    const r = withFaults({ script: [{ op: 'createOrder', nth: 1, fault: 'reply-lost' }] });
    const err = await caught(r.sim.createOrder(limitBuy('intent-1')));
    expect(err).toBeInstanceOf(RequestTimeout);
    expect(retryable(err)).toBe(true);
    expect(outcomeUnknown(err)).toBe(true);
    // The order exists: resolving by client id finds it, so no second order is needed.
    const o = await r.sim.fetchOrder({ clientOrderId: 'intent-1' });
    expect(o.status).toBe('open');
    expect(await r.sim.fetchOpenOrders()).toHaveLength(1);
    // A blind resubmit with the same id is refused while the first is open.
    expect((await caught(r.sim.createOrder(limitBuy('intent-1'))))?.constructor.name).toBe('DuplicateOrderId');
  });

  it('executes a cancel whose reply is lost', async () => {
    const r = withFaults({ script: [{ op: 'cancelOrder', nth: 1, fault: 'reply-lost' }] });
    await r.sim.createOrder(limitBuy('c'));
    expect(await caught(r.sim.cancelOrder({ clientOrderId: 'c' }))).toBeInstanceOf(RequestTimeout);
    expect((await r.sim.fetchOrder({ clientOrderId: 'c' })).status).toBe('canceled');
  });
});

describe('reject before acceptance', () => {
  it('throws ExchangeNotAvailable and places nothing; rejection is proven so a retry is safe', async () => {
    const r = withFaults({ script: [{ op: 'createOrder', nth: 1, fault: 'reject' }] });
    const err = await caught(r.sim.createOrder(limitBuy('r')));
    expect(err).toBeInstanceOf(ExchangeNotAvailable);
    expect(retryable(err)).toBe(true);
    expect(outcomeUnknown(err)).toBe(false);
    expect(await r.sim.fetchOpenOrders()).toEqual([]);
    expect((await r.sim.createOrder(limitBuy('r'))).status).toBe('open');
  });
});

describe('rate limit and ban', () => {
  it('answers 429 with the exact retryAfter; ignoring it twice starts a ban during which every call fails', async () => {
    const r = withFaults({ rateLimit: { maxCalls: 3, windowMs: 1_000, banAfter: 2, banMs: 60_000 } });
    for (let i = 0; i < 3; i++) await r.sim.fetchBalance();
    r.clock.advance(400);
    const e1 = await caught(r.sim.fetchBalance());
    expect(e1).toBeInstanceOf(RateLimitExceeded);
    // The window frees at T0 + 1,000: 600 ms from now.
    expect((e1 as RateLimitExceeded).retryAfterMs).toBe(600);
    expect(outcomeUnknown(e1)).toBe(false);
    expect(await caught(r.sim.fetchBalance())).toBeInstanceOf(RateLimitExceeded); // violation 1
    const ban = await caught(r.sim.fetchBalance()); // violation 2 → ban
    expect((ban as RateLimitExceeded).retryAfterMs).toBe(60_000);
    r.clock.advance(30_000);
    const during = await caught(r.sim.fetchTicker(SPOT));
    expect((during as RateLimitExceeded).retryAfterMs).toBe(30_000);
    r.clock.advance(30_000);
    await expect(r.sim.fetchBalance()).resolves.toBeDefined();
    expect(r.sim.faults.log.map((f) => f.fault)).toEqual(['rate-limit', 'rate-limit', 'ban', 'ban']);
  });

  it('never bans a client that waits for retryAfter', async () => {
    const r = withFaults({ rateLimit: { maxCalls: 2, windowMs: 1_000, banAfter: 1, banMs: 60_000 } });
    let ok = 0;
    for (let i = 0; i < 20; i++) {
      const e = await caught(r.sim.fetchBalance());
      if (e instanceof RateLimitExceeded) r.clock.advance(e.retryAfterMs);
      else ok++;
    }
    expect(ok).toBeGreaterThanOrEqual(13);
    expect(r.sim.faults.log.some((f) => f.fault === 'ban')).toBe(false);
  });

  it('fails every call inside an explicit ban window, and scripted 429s fire once', async () => {
    const r = withFaults({
      bans: [{ from: T0 + 1_000, to: T0 + 2_000 }],
      script: [{ op: 'fetchTicker', nth: 2, fault: 'rate-limit', retryAfterMs: 250 }],
    });
    await r.sim.fetchTicker(SPOT);
    expect(((await caught(r.sim.fetchTicker(SPOT))) as RateLimitExceeded).retryAfterMs).toBe(250);
    r.clock.advance(1_500);
    expect(((await caught(r.sim.fetchOpenOrders())) as RateLimitExceeded).retryAfterMs).toBe(500);
    r.clock.advance(500);
    await expect(r.sim.fetchTicker(SPOT)).resolves.toMatchObject({ last: 100 });
  });
});

describe('maintenance', () => {
  it('throws OnMaintenance on every call inside the window, with its end', async () => {
    const r = withFaults({ maintenance: [{ from: T0 + 10_000, to: T0 + 70_000 }] });
    await r.sim.createOrder(limitBuy('m'));
    r.clock.advance(10_000);
    for (const call of [() => r.sim.fetchBalance(), () => r.sim.fetchOrder({ clientOrderId: 'm' }), () => r.sim.createOrder(limitBuy('m2'))]) {
      const e = await caught(call());
      expect(e).toBeInstanceOf(OnMaintenance);
      expect((e as OnMaintenance).untilMs).toBe(T0 + 70_000);
      expect(outcomeUnknown(e)).toBe(false);
    }
    r.clock.advance(60_000);
    expect(await r.sim.fetchOpenOrders()).toHaveLength(1);
  });
});

describe('late fill racing a cancel', () => {
  it('a full fill wins: the cancel throws OrderNotFound and the order ends closed', async () => {
    const r = withFaults({ script: [{ op: 'cancelOrder', nth: 1, fault: 'late-fill' }] });
    await r.sim.createOrder(limitBuy('lf', 2));
    expect(await caught(r.sim.cancelOrder({ clientOrderId: 'lf' }))).toBeInstanceOf(OrderNotFound);
    expect(await r.sim.fetchOrder({ clientOrderId: 'lf' })).toMatchObject({ status: 'closed', filled: 2 });
    expect(await r.sim.fetchMyTrades()).toEqual([expect.objectContaining({ clientOrderId: 'lf', amount: 2, price: 90 })]);
  });

  it('a partial fill is kept and the rest canceled', async () => {
    const r = withFaults({ script: [{ op: 'cancelOrder', nth: 1, fault: 'late-fill', fraction: 0.5 }] });
    await r.sim.createOrder(limitBuy('lp', 2));
    const o = await r.sim.cancelOrder({ clientOrderId: 'lp' });
    expect(o).toMatchObject({ status: 'canceled', filled: 1, remaining: 1 });
    expect((await r.sim.fetchBalance()).total.BTC).toBe(11);
  });
});

describe('"order not found" lag', () => {
  it('hides a new order from fetchOrder by clientOrderId for the first N calls', async () => {
    const r = withFaults({ notFoundLag: 2 });
    const placed = await r.sim.createOrder(limitBuy('lag'));
    expect(await caught(r.sim.fetchOrder({ clientOrderId: 'lag' }))).toBeInstanceOf(OrderNotFound);
    expect(await caught(r.sim.fetchOrder({ clientOrderId: 'lag' }))).toBeInstanceOf(OrderNotFound);
    expect((await r.sim.fetchOrder({ clientOrderId: 'lag' })).id).toBe(placed.id);
    // By venue id it was visible all along.
    const r2 = withFaults({ notFoundLag: 5 });
    const p2 = await r2.sim.createOrder(limitBuy('lag2'));
    expect((await r2.sim.fetchOrder({ id: p2.id })).clientOrderId).toBe('lag2');
  });
});

describe('seeded random faults', () => {
  async function run(seed: number): Promise<string[]> {
    const r = withFaults({ seed, probability: { reject: 0.2, rateLimit: 0.05, replyLost: 0.3 }, retryAfterMs: 10 });
    for (let i = 0; i < 60; i++) {
      r.clock.advance(100);
      await caught(r.sim.createOrder(limitBuy(`s${i}`)));
      await caught(r.sim.fetchOpenOrders());
    }
    return r.sim.faults.log.map((f) => `${f.time - T0}:${f.op}:${f.fault}`);
  }

  it('is reproducible from the seed and changes with it', async () => {
    const a = await run(42);
    expect(await run(42)).toEqual(a);
    expect(await run(43)).not.toEqual(a);
    for (const kind of ['reject', 'rate-limit', 'reply-lost']) expect(a.some((x) => x.endsWith(`:${kind}`))).toBe(true);
  });

  it('mulberry32 is deterministic and uniform enough', () => {
    const g = new Mulberry32(1);
    const xs = Array.from({ length: 10_000 }, () => g.next());
    expect(new Mulberry32(1).next()).toBe(xs[0]);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.reduce((s, x) => s + x, 0) / xs.length).toBeCloseTo(0.5, 1);
  });

  it('carries its whole state through JSON', () => {
    const f = new FaultInjector({ seed: 9, probability: { reject: 0.5 } });
    const outcome = (x: FaultInjector, t: number) => {
      try {
        x.before('fetchBalance', t);
        return 'ok';
      } catch (e) {
        return (e as Error).name;
      }
    };
    for (let t = 0; t < 10; t++) outcome(f, t);
    const g = FaultInjector.fromJSON(JSON.parse(JSON.stringify(f.toJSON())));
    const a = Array.from({ length: 20 }, (_, t) => outcome(f, 10 + t));
    const b = Array.from({ length: 20 }, (_, t) => outcome(g, 10 + t));
    expect(b).toEqual(a);
  });
});
