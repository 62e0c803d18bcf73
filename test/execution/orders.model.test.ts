/**
 * Model-based test of the order state machine against the SimExchange (fast-check `commands`).
 *
 * Random sequences of: place an order (with a lost reply, a 503 or a 429 injected on the send), let a bar
 * trade (fills, partial fills capped by bar volume), poll an order, cancel an order (with a fill racing the
 * cancel), reconcile. After EVERY command:
 *   1. only allowed transitions appear in the journal's order events;
 *   2. 0 ≤ filled ≤ amount for every intent, and filled never decreases;
 *   3. at most one venue order per intent (client id) — a send is repeated only when its rejection was proven;
 *   4. every client id is derived from (rebalance, leg, slice, attempt) and its intent was committed, in state
 *      SUBMITTING, before the venue saw the request;
 * and after every reconciliation:
 *   5. the journal equals the venue (fills, filled amounts and states, holdings).
 *
 * Reconciliation faults (after NautilusTrader's reconciliation property tests): a reconciliation whose
 * fetchMyTrades answers are faulty —
 *   - duplicate: every trade reported twice        → each fill is still recorded once; 5. holds;
 *   - reordered: trades newest first               → nothing is missed or recorded twice; 5. holds;
 *   - dropped:   the newest trade of every answer is missing (a venue publishing late) → the journal records
 *                no fill the venue lacks and none twice (it may lag, and may report a mismatch: a missing report
 *                is unknown, never flat); the next clean reconciliation restores 5.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import { clientOrderId } from '../../src/execution/ids.js';
import { canTransition, isDone } from '../../src/execution/orders.js';
import { Reconciler } from '../../src/execution/reconcile.js';
import { OrderTracker } from '../../src/execution/tracker.js';
import { RequestTimeout } from '../../src/ports/errors.js';
import type { Side } from '../../src/ports/exchange.js';
import type { Journal, OrderIntent } from '../../src/ports/journal.js';
import { ACCOUNT, expectLedgerEqualsVenue, MIN, quietly, SPOT, world, type World } from './helpers.js';

interface Model {
  /** Client ids placed, in order. */
  orders: string[];
  /** Highest filled amount seen per client id. */
  filled: Map<string, number>;
  nextLeg: number;
}

interface Real {
  w: World;
  journal: Journal;
  tracker: OrderTracker;
  rec: Reconciler;
  /** Violations seen at createOrder time (id not derived / intent not committed first). */
  violations: string[];
  /** The next request never reaches the venue, and times out (outcome unknown, but truly absent). */
  dropNext: boolean;
  /** While set, fetchMyTrades answers are altered this way. */
  tradesFault: TradesFault | null;
}

type TradesFault = 'duplicate' | 'reordered' | 'dropped';

const TICK = 0.01;
const px = (offset: number) => Math.round((58_000 * (1 + offset * 0.0005)) / TICK) * TICK;

function checkInvariants(m: Model, r: Real): void {
  const j = r.journal;
  // 1. allowed transitions only
  for (const e of j.events({ type: 'order' })) {
    const p = e.payload as { clientOrderId: string; from: OrderIntent['state'] | null; to: OrderIntent['state'] };
    if (p.from === null) continue;
    expect(canTransition(p.from, p.to), `${p.clientOrderId}: ${p.from} → ${p.to}`).toBe(true);
  }
  // 2. 0 ≤ filled ≤ amount, never decreasing
  for (const o of j.intents()) {
    expect(o.filled).toBeGreaterThanOrEqual(0);
    expect(o.filled).toBeLessThanOrEqual(o.amount + 1e-12);
    const before = m.filled.get(o.clientOrderId) ?? 0;
    expect(o.filled, `${o.clientOrderId} filled never decreases`).toBeGreaterThanOrEqual(before - 1e-12);
    m.filled.set(o.clientOrderId, o.filled);
  }
  // 3. ≤ 1 venue order per intent
  const perCid = new Map<string, number>();
  for (const o of r.w.sim.toJSON().orders) if (o.clientOrderId) perCid.set(o.clientOrderId, (perCid.get(o.clientOrderId) ?? 0) + 1);
  for (const [cid, n] of perCid) expect(n, `venue orders for ${cid}`).toBeLessThanOrEqual(1);
  // 4. derived id, committed before sending
  expect(r.violations).toEqual([]);
}

class Place implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly side: Side,
    readonly steps: number,
    readonly offset: number,
    readonly fault: 'none' | 'reply-lost' | 'reject' | 'rate-limit' | 'request-lost',
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const leg = m.nextLeg++;
    if (this.fault === 'request-lost') r.dropNext = true;
    else if (this.fault !== 'none') r.w.sim.faults.schedule({ op: 'createOrder', fault: this.fault, retryAfterMs: 2_000 });
    const res = await r.tracker.place({
      rebalanceId: 1,
      leg,
      slice: 0,
      attempt: 0,
      account: ACCOUNT,
      symbol: SPOT,
      side: this.side,
      type: 'limit',
      amount: this.steps / 1000,
      price: px(this.offset),
      reduceOnly: false,
      purpose: 'model',
    });
    expect(res.intent.clientOrderId).toBe(clientOrderId({ rebalanceId: 1, leg, slice: 0, attempt: 0 }));
    expect(res.intent.state).not.toBe('UNKNOWN'); // resolved (or LOST) before returning
    if (this.fault === 'request-lost') expect(res.intent.state).toBe('LOST');
    m.orders.push(res.intent.clientOrderId);
    checkInvariants(m, r);
  }
  toString(): string {
    return `place(${this.side} ${this.steps / 1000} @${this.offset}, ${this.fault})`;
  }
}

class Bar implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.w.clock.advance(MIN);
    checkInvariants(m, r);
  }
  toString(): string {
    return 'bar';
  }
}

class Poll implements fc.AsyncCommand<Model, Real> {
  constructor(readonly i: number) {}
  check(m: Readonly<Model>): boolean {
    return m.orders.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const o = r.journal.intent(m.orders[this.i % m.orders.length]!)!;
    await r.tracker.refresh(o);
    checkInvariants(m, r);
  }
  toString(): string {
    return `poll(${this.i})`;
  }
}

class Cancel implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly i: number,
    readonly lateFill: number,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.orders.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const o = r.journal.intent(m.orders[this.i % m.orders.length]!)!;
    if (this.lateFill > 0 && !isDone(o.state)) r.w.sim.faults.schedule({ op: 'cancelOrder', fault: 'late-fill', fraction: this.lateFill });
    const after = await r.tracker.cancel(o);
    if (o.state !== 'LOST') expect(['CANCELED', 'FILLED', 'REJECTED', 'LOST']).toContain(after.state);
    checkInvariants(m, r);
  }
  toString(): string {
    return `cancel(${this.i}, late ${this.lateFill})`;
  }
}

class Reconcile implements fc.AsyncCommand<Model, Real> {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const rep = await r.rec.reconcile();
    expect(rep.mismatches).toEqual([]);
    checkInvariants(m, r);
    // 5. the journal equals the venue
    await expectLedgerEqualsVenue(r.w.sim, r.journal);
  }
  toString(): string {
    return 'reconcile';
  }
}

class FaultyReconcile implements fc.AsyncCommand<Model, Real> {
  constructor(readonly fault: TradesFault) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.tradesFault = this.fault;
    let mismatches: string[];
    try {
      mismatches = (await r.rec.reconcile()).mismatches;
    } finally {
      r.tradesFault = null;
    }
    checkInvariants(m, r);
    if (this.fault !== 'dropped') {
      expect(mismatches).toEqual([]);
      await expectLedgerEqualsVenue(r.w.sim, r.journal);
      return;
    }
    // dropped: no fill the venue lacks, none twice
    const venue = new Map((await quietly(r.w.sim, () => r.w.sim.fetchMyTrades())).map((t) => [t.id, t]));
    const fills = r.journal.fills({ account: ACCOUNT });
    expect(new Set(fills.map((f) => f.tradeId)).size).toBe(fills.length);
    for (const f of fills) expect(venue.has(f.tradeId), `journal fill ${f.tradeId} is not a venue trade`).toBe(true);
  }
  toString(): string {
    return `reconcile(trades ${this.fault})`;
  }
}

const commands = [
  fc
    .tuple(fc.constantFrom<Side>('buy', 'sell'), fc.integer({ min: 1, max: 60 }), fc.integer({ min: -6, max: 6 }), fc.constantFrom('none', 'none', 'none', 'reply-lost', 'reject', 'rate-limit', 'request-lost') as fc.Arbitrary<Place['fault']>)
    .map(([side, steps, offset, fault]) => new Place(side, steps, offset, fault)),
  fc.constant(new Bar()),
  fc.nat(20).map((i) => new Poll(i)),
  fc.tuple(fc.nat(20), fc.constantFrom(0, 0, 0.5, 1)).map(([i, f]) => new Cancel(i, f)),
  fc.constant(new Reconcile()),
  fc.constantFrom<TradesFault>('duplicate', 'reordered', 'dropped').map((f) => new FaultyReconcile(f)),
];

describe('order state machine, model-based against the simulator', () => {
  it('keeps its invariants under random commands and faults', async () => {
    /** Non-empty fetchMyTrades answers each fault altered, over all runs. */
    const altered = new Map<TradesFault, number>();
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 40, size: 'large' }), async (cmds) => {
        const w = world({ volume: 0.02, balances: { USDT: 10_000_000, BTC: 100 }, faults: { notFoundLag: 1 } });
        const journal = new SqliteJournal(':memory:', { clock: w.clock });
        const violations: string[] = [];
        const real: Real = { w, journal, tracker: undefined as unknown as OrderTracker, rec: undefined as unknown as Reconciler, violations, dropNext: false, tradesFault: null };
        const createOrder = w.sim.createOrder.bind(w.sim);
        w.sim.createOrder = async (req) => {
          if (real.dropNext) {
            real.dropNext = false;
            throw new RequestTimeout('request lost before reaching the venue');
          }
          const i = journal.intent(req.clientOrderId);
          if (!i) violations.push(`${req.clientOrderId} sent without a saved intent`);
          else {
            if (i.state !== 'SUBMITTING') violations.push(`${req.clientOrderId} sent in state ${i.state}`);
            if (clientOrderId(i) !== req.clientOrderId) violations.push(`${req.clientOrderId} is not derived from its intent`);
          }
          return createOrder(req);
        };
        const fetchMyTrades = w.sim.fetchMyTrades.bind(w.sim);
        w.sim.fetchMyTrades = async (...a) => {
          const t = await fetchMyTrades(...a);
          if (real.tradesFault && t.length > 0) altered.set(real.tradesFault, (altered.get(real.tradesFault) ?? 0) + 1);
          if (real.tradesFault === 'duplicate') return t.flatMap((x) => [x, { ...x }]);
          if (real.tradesFault === 'reordered') return [...t].reverse();
          if (real.tradesFault === 'dropped') return t.slice(0, -1);
          return t;
        };
        const tracker = new OrderTracker({ journal, venues: { [ACCOUNT]: w.venue }, clock: w.clock, sleep: w.sleep });
        const rec = new Reconciler({ journal, venues: { [ACCOUNT]: w.venue }, tracker, clock: w.clock, sleep: w.sleep }, { orphans: 'adopt' });
        real.tracker = tracker;
        real.rec = rec;
        try {
          await rec.reconcile('start');
          const model: Model = { orders: [], filled: new Map(), nextLeg: 0 };
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          // a final reconciliation settles everything
          await new Reconcile().run(model, real);
        } finally {
          journal.close();
          w.cleanup();
        }
      }),
      { numRuns: 80, seed: 20_261_203 },
    );
    // each reconciliation fault met real trades, so the runs above exercised it
    for (const f of ['duplicate', 'reordered', 'dropped'] as const) expect(altered.get(f) ?? 0, f).toBeGreaterThan(5);
  });
});
