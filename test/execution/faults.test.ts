/**
 * reliability rules (docs/concepts.md), execution rows, against the SimExchange's deterministic fault injection on
 * virtual time (every wait moves a ManualClock):
 *   1 reply lost after acceptance · 2 network error / 5xx / 4xx · 3 429 then ban · 6 partial fill, cancel,
 *   fill after cancel · 7 not-found lag, fills missed while disconnected · 9 lot / tick / min-notional ·
 *   10 insufficient funds.
 * Each test ends with the ledger check: the journal equals the venue.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { SimExchange } from '../../src/adapters/sim/exchange.js';
import { AuthenticationError, ExchangeNotAvailable, InsufficientFunds, OrderNotFound, RequestTimeout } from '../../src/ports/errors.js';
import type { Exchange, Market, Order, Trade } from '../../src/ports/exchange.js';
import type { Journal } from '../../src/ports/journal.js';
import { Executor, type ExecutorConfig } from '../../src/execution/executor.js';
import { clientOrderId } from '../../src/execution/ids.js';
import { TRANSITIONS } from '../../src/execution/orders.js';
import { Reconciler } from '../../src/execution/reconcile.js';
import { GuardedExchange } from '../../src/execution/retry.js';
import {
  ACCOUNT,
  countSends,
  expectLedgerEqualsVenue,
  MIN,
  orderTransitions,
  planOf,
  quietly,
  recordCalls,
  SPOT,
  T0,
  world,
  type World,
  type WorldOptions,
} from './helpers.js';

let w: World;
const journals: Journal[] = [];
afterEach(() => {
  for (const j of journals.splice(0)) j.close();
  w?.cleanup();
});

interface Rig {
  journal: Journal;
  ex: Executor;
  rec: Reconciler;
  sends: Map<string, number>;
}

async function rig(opts: WorldOptions & { exec?: Partial<ExecutorConfig>; venue?: Exchange } = {}): Promise<Rig> {
  w = world(opts);
  const sends = countSends(w.sim);
  const journal = w.journal();
  journals.push(journal);
  const venue = opts.venue ? new GuardedExchange(opts.venue, { clock: w.clock, sleep: w.sleep }) : w.venue;
  const ex = new Executor(
    { journal, venues: { [ACCOUNT]: venue }, clock: w.clock, sleep: w.sleep },
    { pollMs: 5_000, repriceAfterMs: 60_000, sliceIntervalMs: 10_000, ...opts.exec },
  );
  const rec = new Reconciler({ journal, venues: { [ACCOUNT]: venue }, tracker: ex.tracker, clock: w.clock, sleep: w.sleep });
  expect((await rec.reconcile('start')).ok).toBe(true);
  return { journal, ex, rec, sends };
}

const cid = (leg: number, slice = 0, attempt = 0, rebalanceId = 1) => clientOrderId({ rebalanceId, leg, slice, attempt });

function expectOnlyAllowedTransitions(journal: Journal): void {
  for (const t of orderTransitions(journal)) {
    if (t.from === null || t.from === t.to) continue;
    expect(TRANSITIONS[t.from as keyof typeof TRANSITIONS], `${t.cid}: ${t.from} → ${t.to}`).toContain(t.to);
  }
}

/** Forwards to the sim but lets a test replace single methods. */
function wrap(sim: SimExchange, over: Partial<Record<keyof Exchange, unknown>>): Exchange {
  return new Proxy(sim, {
    get(target, prop, receiver) {
      if (prop in over) return over[prop as keyof Exchange];
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as unknown as Exchange;
}

describe('row 1: order accepted, reply lost', () => {
  it('does not resubmit; resolves the order by its client id; one venue order per intent', async () => {
    const r = await rig({ faults: { script: [{ op: 'createOrder', nth: 1, fault: 'reply-lost' }] } });
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.137 }]), 1);
    expect(rep.legs[0]).toMatchObject({ status: 'filled', filled: 0.137 });
    expect(r.sends.get(cid(0))).toBe(1);
    expect([...r.sends.values()].every((n) => n === 1)).toBe(true);
    const moves = orderTransitions(r.journal).filter((t) => t.cid === cid(0)).map((t) => `${t.from}→${t.to}`);
    expect(moves).toEqual(['null→NEW', 'NEW→SUBMITTING', 'SUBMITTING→UNKNOWN', 'UNKNOWN→FILLED']);
    expect(w.sim.faults.log.map((f) => f.fault)).toEqual(['reply-lost']);
    await r.rec.reconcile();
    await expectLedgerEqualsVenue(w.sim, r.journal);
  });

  it('a resting order whose reply was lost is found open, worked, and filled — still one order', async () => {
    const r = await rig({ faults: { script: [{ op: 'createOrder', nth: 1, fault: 'reply-lost' }] }, exec: { offsetBps: -10 } });
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.137 }]), 1);
    expect(rep.legs[0]!.status).toBe('filled');
    expect(r.sends.get(cid(0))).toBe(1);
    expect(r.journal.intent(cid(0))).toMatchObject({ state: 'FILLED', filled: 0.137, venueOrderId: '1' });
    await r.rec.reconcile();
    await expectLedgerEqualsVenue(w.sim, r.journal);
    expectOnlyAllowedTransitions(r.journal);
  });

  it('a 504 that may have been accepted (outcome unknown) is resolved the same way, never resent', async () => {
    w = world();
    const sim = w.sim;
    const sends = countSends(sim);
    const j = w.journal();
    journals.push(j);
    const venue = new GuardedExchange(
      wrap(sim, {
        createOrder: async (req: Parameters<Exchange['createOrder']>[0]) => {
          await sim.createOrder(req);
          throw new ExchangeNotAvailable('504 gateway timeout', { outcomeUnknown: true });
        },
      }),
      { clock: w.clock, sleep: w.sleep },
    );
    const ex = new Executor({ journal: j, venues: { [ACCOUNT]: venue }, clock: w.clock, sleep: w.sleep }, { pollMs: 5_000 });
    const rep = await ex.execute(planOf([{ side: 'sell', amount: 0.1 }]), 1);
    expect(rep.legs[0]!.status).toBe('filled');
    expect(sends.get(cid(0))).toBe(1);
    expect(j.intent(cid(0))!.reason).toMatch(/outcome unknown/);
  });
});

describe('row 2: network error, 5xx, 4xx', () => {
  it('a submission refused before acceptance (503) is resent with the same client id; one venue order', async () => {
    const r = await rig({ faults: { script: [{ op: 'createOrder', nth: 1, fault: 'reject' }, { op: 'createOrder', nth: 2, fault: 'reject' }] } });
    const t0 = w.clock.now();
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.137 }]), 1);
    expect(rep.legs[0]!.status).toBe('filled');
    expect(r.sends.get(cid(0))).toBe(3);
    const json = w.sim.toJSON();
    expect(json.orders.filter((o) => o.clientOrderId === cid(0))).toHaveLength(1);
    expect(w.clock.now() - t0).toBeGreaterThanOrEqual(500 + 1_000); // backoff 500 ms then 1 s
    await r.rec.reconcile();
    await expectLedgerEqualsVenue(w.sim, r.journal);
  });

  it('reads are retried with backoff on 5xx', async () => {
    const r = await rig({ faults: { script: [{ op: 'fetchTicker', nth: 1, fault: 'reject' }, { op: 'fetchTicker', nth: 2, fault: 'reject' }] } });
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.05 }]), 1);
    expect(rep.legs[0]!.status).toBe('filled');
    expect(w.sim.faults.calls('fetchTicker')).toBeGreaterThanOrEqual(3);
  });

  it('a final 4xx (authentication) is recorded and never retried', async () => {
    w = world();
    const sends = countSends(w.sim);
    const j = w.journal();
    journals.push(j);
    let n = 0;
    const venue = new GuardedExchange(
      wrap(w.sim, {
        createOrder: async () => {
          n++;
          throw new AuthenticationError('401 invalid signature');
        },
      }),
      { clock: w.clock, sleep: w.sleep },
    );
    const ex = new Executor({ journal: j, venues: { [ACCOUNT]: venue }, clock: w.clock, sleep: w.sleep });
    const rep = await ex.execute(planOf([{ side: 'sell', amount: 0.05 }]), 1);
    expect(n).toBe(1);
    expect(sends.size).toBe(0);
    expect(rep.legs[0]!.status).toBe('rejected');
    expect(j.intent(cid(0))).toMatchObject({ state: 'REJECTED' });
    expect(j.intent(cid(0))!.reason).toMatch(/AuthenticationError.*not retried/);
  });
});

describe('row 3: 429 then ban', () => {
  it('honours retry-after: no request on the key until it has passed, so the venue never bans', async () => {
    const r = await rig({ faults: { rateLimit: { maxCalls: 4, windowMs: 1_000, banAfter: 2, banMs: 60_000 } }, exec: { maxSliceNotional: 1_500, sliceIntervalMs: 0 } });
    const calls = recordCalls(w.sim, w.clock);
    const base = new Map(['createOrder', 'fetchTicker', 'fetchBalance', 'fetchMyTrades', 'fetchOrder', 'loadMarkets'].map((op) => [op, w.sim.faults.calls(op as 'createOrder')]));
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.137 }]), 1);
    expect(rep.legs[0]!.status).toBe('filled');
    const log = w.sim.faults.log;
    expect(log.filter((f) => f.fault === 'rate-limit' && f.call > base.get(f.op)!).length).toBeGreaterThan(0);
    expect(log.some((f) => f.fault === 'ban')).toBe(false);
    // after each 429 the next call waits out the retry-after
    // after each 429 nothing more is sent until later (the gate waited out the retry-after)
    for (const f of log.filter((x) => x.fault === 'rate-limit' && x.call > base.get(x.op)!)) {
      const at = calls.map((c, i) => ({ c, i })).filter(({ c }) => c.op === f.op)[f.call - 1 - base.get(f.op)!]!.i;
      expect(calls[at]!.time).toBe(f.time);
      for (const later of calls.slice(at + 1)) expect(later.time).toBeGreaterThan(f.time);
    }
    await r.rec.reconcile();
    await expectLedgerEqualsVenue(w.sim, r.journal);
  });

  it('during a ban (418) nothing is sent on the key until it ends; no hot loop', async () => {
    const banFrom = T0 + 30_000;
    const banTo = banFrom + 120_000;
    const r = await rig({ faults: { bans: [{ from: banFrom, to: banTo }] }, exec: { maxSliceNotional: 2_000, sliceIntervalMs: 20_000 } });
    const calls = recordCalls(w.sim, w.clock);
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.137 }]), 1);
    expect(rep.legs[0]!.status).toBe('filled');
    const bans = w.sim.faults.log.filter((f) => f.fault === 'ban');
    expect(bans).toHaveLength(1);
    const during = calls.filter((c) => c.time >= banFrom && c.time < banTo);
    expect(during).toHaveLength(1); // the call that learnt of the ban
    expect(calls.filter((c) => c.time >= banTo).length).toBeGreaterThan(0);
    expect(calls.length).toBeLessThan(60);
  });
});

describe('row 6: partial fill then cancel; fill after cancel', () => {
  it('keeps the filled total of a partially filled, cancelled order and replans the rest', async () => {
    // resting sells, each bar fills at most 0.05 BTC; two attempts per slice
    const r = await rig({ volume: 0.05, exec: { offsetBps: -10, maxAttempts: 2, repriceAfterMs: 60_000 } });
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.137 }]), 1);
    const leg = rep.legs[0]!;
    expect(leg.status).toBe('partial');
    const a0 = r.journal.intent(cid(0, 0, 0))!;
    const a1 = r.journal.intent(cid(0, 0, 1))!;
    expect(a0.state).toBe('CANCELED');
    expect(a0.filled).toBeGreaterThan(0);
    expect(a1.amount).toBeCloseTo(0.137 - a0.filled, 12);
    expect(leg.filled).toBeCloseTo(a0.filled + a1.filled, 12);
    expect(leg.reasons.join(' ')).toMatch(/left for the next plan/);
    // every order respected the venue minimums (no unsellable dust was sent)
    for (const o of w.sim.toJSON().orders) expect(o.amount * 58_000).toBeGreaterThanOrEqual(5);
    await r.rec.reconcile();
    await expectLedgerEqualsVenue(w.sim, r.journal);
    expectOnlyAllowedTransitions(r.journal);
  });

  it('a fill racing the cancel is kept: canceled with its partial fill, or FILLED when it filled completely', async () => {
    const r = await rig({
      volume: 1e9,
      range: 0.0001,
      exec: { offsetBps: -50, maxAttempts: 1, repriceAfterMs: 30_000 },
      faults: { script: [{ op: 'cancelOrder', nth: 1, fault: 'late-fill', fraction: 0.5 }, { op: 'cancelOrder', nth: 2, fault: 'late-fill', fraction: 1 }] },
    });
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.1 }, { side: 'sell', amount: 0.02 }]), 1);
    const first = r.journal.intent(cid(0))!;
    expect(first).toMatchObject({ state: 'CANCELED', filled: 0.05 });
    const second = r.journal.intent(cid(1))!;
    expect(second).toMatchObject({ state: 'FILLED', filled: 0.02 });
    expect(rep.legs.map((l) => l.status)).toEqual(['partial', 'filled']);
    await r.rec.reconcile();
    await expectLedgerEqualsVenue(w.sim, r.journal);
    expectOnlyAllowedTransitions(r.journal);
  });
});

describe('row 7: not-found lag; fills missed during a disconnect', () => {
  /** The sim, except that every read hides order `hide` (and its trades) until `until()`; createOrder's reply is lost. */
  function hidingVenue(hide: string, until: () => number): Exchange {
    const sim = w.sim;
    const hidden = (o: { clientOrderId: string | null }) => w.clock.now() < until() && o.clientOrderId === hide;
    return wrap(sim, {
      createOrder: async (req: Parameters<Exchange['createOrder']>[0]) => {
        await sim.createOrder(req);
        throw new RequestTimeout('no reply');
      },
      fetchOrder: async (ref: Parameters<Exchange['fetchOrder']>[0], symbol?: string) => {
        const o = await sim.fetchOrder(ref, symbol);
        if (hidden(o)) throw new OrderNotFound('unknown order');
        return o;
      },
      fetchOpenOrders: async (...a: Parameters<Exchange['fetchOpenOrders']>) => (await sim.fetchOpenOrders(...a)).filter((o: Order) => !hidden(o)),
      fetchClosedOrders: async (...a: Parameters<Exchange['fetchClosedOrders']>) => (await sim.fetchClosedOrders(...a)).filter((o: Order) => !hidden(o)),
      fetchMyTrades: async (...a: Parameters<Exchange['fetchMyTrades']>) => (await sim.fetchMyTrades(...a)).filter((t: Trade) => !hidden(t)),
    });
  }

  function setup(until: () => number) {
    w = world({ range: 0.002 });
    const sends = countSends(w.sim);
    const venue = new GuardedExchange(hidingVenue(cid(0), until), { clock: w.clock, sleep: w.sleep });
    const journal = w.journal();
    journals.push(journal);
    const ex = new Executor({ journal, venues: { [ACCOUNT]: venue }, clock: w.clock, sleep: w.sleep }, { notFoundStrikes: 3, offsetBps: -10 });
    const rec = new Reconciler({ journal, venues: { [ACCOUNT]: venue }, tracker: ex.tracker, clock: w.clock, sleep: w.sleep });
    return { sends, journal, ex, rec };
  }

  const strikeNotes = (j: Journal) =>
    j
      .events({ type: 'order' })
      .map((e) => (e.payload as { note?: string }).note)
      .filter((n): n is string => n?.startsWith('not found') === true);

  it('the sim\'s read-side lag: fetchOrder by client id says "not found", the order lists show it — adopted, not LOST', async () => {
    const r = await rig({ faults: { notFoundLag: 2, script: [{ op: 'createOrder', nth: 1, fault: 'reply-lost' }] }, exec: { offsetBps: -10 } });
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.1 }]), 1);
    expect(rep.legs[0]!.status).toBe('filled');
    expect(w.sim.faults.log.some((f) => f.fault === 'not-found-lag')).toBe(true);
    expect(orderTransitions(r.journal).some((t) => t.to === 'LOST')).toBe(false);
    expect(r.sends.get(cid(0))).toBe(1);
  });

  it('"not found" everywhere is a strike; found before N strikes → adopted, never LOST', async () => {
    let until = Infinity;
    const r = setup(() => until);
    until = T0 + 1_200; // strikes at +0 and +0.5 s; found at +1.5 s
    await r.rec.reconcile('start');
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.1 }]), 1);
    expect(strikeNotes(r.journal)).toEqual(['not found: strike 1 of 3 (fetchOrder by client id)', 'not found: strike 2 of 3 (fetchOrder by client id)']);
    expect(orderTransitions(r.journal).some((t) => t.to === 'LOST')).toBe(false);
    expect(rep.legs[0]!.status).toBe('filled');
    expect(r.journal.intent(cid(0))!.notFoundStrikes).toBe(0);
    expect(r.sends.get(cid(0))).toBe(1);
  });

  it('an order hidden from every read is LOST only after N strikes, still accepts its fill, and the trade sweep finds it', async () => {
    let until = Infinity;
    const r = setup(() => until);
    await r.rec.reconcile('start');
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.1 }]), 1);
    expect(rep.legs[0]!.status).toBe('lost');
    const o = r.journal.intent(cid(0))!;
    expect(o.state).toBe('LOST');
    expect(o.notFoundStrikes).toBe(3);
    expect(strikeNotes(r.journal)).toHaveLength(2); // the third strike is the move to LOST
    expect(r.sends.get(cid(0))).toBe(1); // never resent, and no new attempt while it may be live
    expect(r.sends.size).toBe(1);
    // the order was live all along and filled on the next bar; the venue's read side catches up
    w.clock.advance(2 * MIN);
    until = w.clock.now();
    const after = await r.rec.reconcile();
    expect(after.ok).toBe(true);
    expect(r.journal.intent(cid(0))).toMatchObject({ state: 'FILLED', filled: 0.1, venueOrderId: '1' });
    await expectLedgerEqualsVenue(w.sim, r.journal);
    expectOnlyAllowedTransitions(r.journal);
  });
});

describe('row 9: lot, tick and min-notional violations', () => {
  it('a leg off the lot step or below the minimum is dropped with its reason; nothing is sent', async () => {
    const r = await rig();
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.1375 }, { side: 'sell', amount: 0.00005 }]), 1);
    expect(rep.legs.map((l) => l.status)).toEqual(['unfilled', 'unfilled']);
    expect(rep.legs[0]!.reasons.join()).toMatch(/not a multiple of the lot step 0.001/);
    expect(rep.legs[1]!.reasons.join()).toMatch(/below the minimum amount 0.001/);
    expect(r.sends.size).toBe(0);
  });

  it('a venue rejection (min notional) is recorded with the reason and never retried', async () => {
    w = world({ minNotional: 10_000 });
    const sends = countSends(w.sim);
    const j = w.journal();
    journals.push(j);
    // the adapter under-reports the venue's minimum, so the order reaches the venue
    const venue = new GuardedExchange(
      wrap(w.sim, {
        loadMarkets: async () => {
          const ms = await w.sim.loadMarkets();
          for (const m of Object.values(ms) as Market[]) m.minNotional = 5;
          return ms;
        },
      }),
      { clock: w.clock, sleep: w.sleep },
    );
    const ex = new Executor({ journal: j, venues: { [ACCOUNT]: venue }, clock: w.clock, sleep: w.sleep });
    const rep = await ex.execute(planOf([{ side: 'sell', amount: 0.1 }]), 1);
    expect(rep.legs[0]!.status).toBe('rejected');
    expect(sends.get(cid(0))).toBe(1);
    expect(sends.size).toBe(1);
    expect(j.intent(cid(0))).toMatchObject({ state: 'REJECTED' });
    expect(j.intent(cid(0))!.reason).toMatch(/invalid order \(min-notional\).*not retried/);
  });
});

describe('row 10: insufficient funds', () => {
  it('sells before buys, re-reads the balance, scales the buy down to what the sale freed', async () => {
    const r = await rig({ balances: { USDT: 1_000, BTC: 1 } });
    // the buy is listed first; the executor still sells first
    const rep = await r.ex.execute(planOf([{ side: 'buy', amount: 0.1 }, { side: 'sell', amount: 0.05 }]), 1);
    const order = w.sim.toJSON().orders.map((o) => `${o.side} ${o.amount}`);
    expect(order[0]).toBe('sell 0.05');
    expect(order[1]).toMatch(/^buy 0\.06\d$/);
    const buy = rep.legs.find((l) => l.side === 'buy')!;
    expect(buy.status).toBe('partial');
    expect(buy.reasons.join()).toMatch(/scaled down from 0.1 to 0.06\d BTC: free/);
    await r.rec.reconcile();
    await expectLedgerEqualsVenue(w.sim, r.journal);
  });

  it('a buy that no longer fits above the venue minimum is skipped with the reason: no order, no retry loop', async () => {
    const r = await rig({ balances: { USDT: 3, BTC: 1 } });
    const rep = await r.ex.execute(planOf([{ side: 'buy', amount: 0.1 }]), 1);
    expect(rep.legs[0]!.status).toBe('skipped');
    expect(rep.legs[0]!.reasons.join()).toMatch(/insufficient funds/);
    expect(r.sends.size).toBe(0);
    expect(w.sim.faults.calls('fetchBalance')).toBeLessThan(4);
  });

  it('InsufficientFunds from the venue ends the leg: one send, REJECTED, not retried', async () => {
    w = world({ balances: { USDT: 1_000, BTC: 1 } });
    const sends = countSends(w.sim);
    const j = w.journal();
    journals.push(j);
    const venue = new GuardedExchange(
      wrap(w.sim, {
        fetchBalance: async () => {
          const b = await w.sim.fetchBalance();
          b.free['USDT'] = 1e9; // a stale balance says there is cash
          return b;
        },
      }),
      { clock: w.clock, sleep: w.sleep },
    );
    const ex = new Executor({ journal: j, venues: { [ACCOUNT]: venue }, clock: w.clock, sleep: w.sleep });
    const rep = await ex.execute(planOf([{ side: 'buy', amount: 0.1 }]), 1);
    expect(rep.legs[0]!.status).toBe('rejected');
    expect(sends.get(cid(0))).toBe(1);
    expect(sends.size).toBe(1);
    expect(j.intent(cid(0))!.reason).toMatch(/insufficient funds/);
    void InsufficientFunds;
  });
});

describe('reads through the gate', () => {
  it('quietly() and the gate leave the sim usable', async () => {
    w = world();
    expect((await quietly(w.sim, () => w.sim.fetchTicker(SPOT))).last).toBe(58_000);
  });
});

describe('executor basics', () => {
  it('market orders; large legs sliced into child orders spaced by the slice interval', async () => {
    const r = await rig({ exec: { orderType: 'market', maxSliceNotional: 3_000, sliceIntervalMs: 20_000 } });
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.137 }]), 1);
    expect(rep.legs[0]).toMatchObject({ status: 'filled', filled: 0.137 });
    const orders = w.sim.toJSON().orders;
    expect(orders.map((o) => o.type)).toEqual(['market', 'market', 'market']);
    expect(orders.map((o) => o.amount)).toEqual([0.045, 0.045, 0.047]);
    expect(orders.map((o) => o.clientOrderId)).toEqual([cid(0, 0), cid(0, 1), cid(0, 2)]);
    expect(orders[1]!.timestamp - orders[0]!.timestamp).toBeGreaterThanOrEqual(20_000);
    await r.rec.reconcile();
    await expectLedgerEqualsVenue(w.sim, r.journal);
  });

  it('an unfilled limit order is cancelled and repriced under a new attempt id; the last attempt is cancelled at the end', async () => {
    // the bars never trade down to a resting sell 1% above the touch
    const r = await rig({ exec: { offsetBps: -100, maxAttempts: 2, repriceAfterMs: 30_000 } });
    const rep = await r.ex.execute(planOf([{ side: 'sell', amount: 0.05 }]), 1);
    expect(rep.legs[0]!.status).toBe('unfilled');
    expect(r.journal.intent(cid(0, 0, 0))).toMatchObject({ state: 'CANCELED', price: 58_580 });
    expect(r.journal.intent(cid(0, 0, 1))).toMatchObject({ state: 'CANCELED', price: 58_580 });
    expect(await quietly(w.sim, () => w.sim.fetchOpenOrders())).toEqual([]);
    expect(w.clock.now() - T0).toBeGreaterThanOrEqual(60_000);
  });
});
