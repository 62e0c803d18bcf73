/** Client order ids and the order state machine, rule by rule. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { clientOrderId, ClientIdError, isOurs, parseClientOrderId } from '../../src/execution/ids.js';
import { applyVenueOrder, canTransition, observeFilled, ORDER_STATES, OrderStateError, transition, TRANSITIONS } from '../../src/execution/orders.js';
import { legRank, sliceAmounts } from '../../src/execution/executor.js';
import type { Order } from '../../src/ports/exchange.js';
import type { OrderIntent } from '../../src/ports/journal.js';

const T0 = Date.UTC(2025, 0, 6);

const intent = (over: Partial<OrderIntent> = {}): OrderIntent => ({
  clientOrderId: 'bl0000000100000000',
  rebalanceId: 1,
  leg: 0,
  slice: 0,
  attempt: 0,
  account: 'main',
  symbol: 'BTC/USDT',
  side: 'sell',
  type: 'limit',
  amount: 0.3,
  price: 58_000,
  reduceOnly: false,
  state: 'OPEN',
  filled: 0,
  avgPrice: null,
  venueOrderId: '7',
  notFoundStrikes: 0,
  purpose: 'test',
  reason: null,
  createdAt: T0,
  updatedAt: T0,
  ...over,
});

const venue = (over: Partial<Order> = {}): Order => ({
  id: '7',
  clientOrderId: 'bl0000000100000000',
  timestamp: T0,
  lastTradeTimestamp: null,
  lastUpdateTimestamp: T0,
  symbol: 'BTC/USDT',
  type: 'limit',
  side: 'sell',
  price: 58_000,
  average: null,
  amount: 0.3,
  filled: 0,
  remaining: 0.3,
  cost: 0,
  status: 'open',
  fee: { cost: 0, currency: 'USDT' },
  reduceOnly: false,
  postOnly: false,
  ...over,
});

describe('client order ids', () => {
  it('are derived from (rebalance, leg, slice, attempt): same fields, same id; ≤ 32 venue-safe characters', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 36 ** 8 - 1 }),
        fc.integer({ min: 0, max: 36 ** 3 - 1 }),
        fc.integer({ min: 0, max: 36 ** 3 - 1 }),
        fc.integer({ min: 0, max: 36 ** 2 - 1 }),
        fc.constantFrom('bl', 'b', 'ballast1'),
        (rebalanceId, leg, slice, attempt, prefix) => {
          const f = { rebalanceId, leg, slice, attempt };
          const id = clientOrderId(f, prefix);
          expect(id).toBe(clientOrderId({ ...f }, prefix));
          expect(id.length).toBeLessThanOrEqual(32);
          expect(id).toMatch(/^[A-Za-z0-9]+$/);
          expect(parseClientOrderId(id, prefix)).toEqual(f);
          expect(isOurs(id, prefix)).toBe(true);
        },
      ),
    );
  });

  it('differ whenever any field differs; other ids are not ours', () => {
    const a = clientOrderId({ rebalanceId: 1, leg: 2, slice: 3, attempt: 0 });
    expect(a).toBe('bl00000001002003' + '00');
    expect(clientOrderId({ rebalanceId: 1, leg: 2, slice: 3, attempt: 1 })).not.toBe(a);
    expect(isOurs('manual-1')).toBe(false);
    expect(isOurs(null)).toBe(false);
    expect(isOurs('blX')).toBe(false);
    expect(() => clientOrderId({ rebalanceId: -1, leg: 0, slice: 0, attempt: 0 })).toThrow(ClientIdError);
    expect(() => clientOrderId({ rebalanceId: 1, leg: 0, slice: 0, attempt: 1296 })).toThrow(ClientIdError);
    expect(() => clientOrderId({ rebalanceId: 1, leg: 0, slice: 0, attempt: 0 }, 'b-l')).toThrow(ClientIdError);
  });
});

describe('order state machine', () => {
  it('allows exactly the listed transitions', () => {
    for (const from of ORDER_STATES) {
      for (const to of ORDER_STATES) {
        if (from === to) continue;
        expect(canTransition(from, to), `${from} → ${to}`).toBe(TRANSITIONS[from].includes(to));
      }
    }
    expect(() => transition(intent({ state: 'FILLED' }), 'OPEN', T0)).toThrow(OrderStateError);
    expect(() => transition(intent({ state: 'REJECTED' }), 'FILLED', T0)).toThrow(OrderStateError);
    expect(() => transition(intent({ state: 'NEW' }), 'OPEN', T0)).toThrow(OrderStateError);
    expect(canTransition('UNKNOWN', 'LOST')).toBe(true);
    expect(canTransition('LOST', 'FILLED')).toBe(true);
    expect(canTransition('CANCELED', 'FILLED')).toBe(true);
  });

  it('filled never decreases, never exceeds the amount; a repeated report is a no-op', () => {
    const o1 = observeFilled(intent(), 0.1, T0 + 1, 58_000);
    expect(o1).toMatchObject({ state: 'PARTIALLY_FILLED', filled: 0.1 });
    expect(observeFilled(o1, 0.1, T0 + 2)).toBe(o1);
    expect(observeFilled(o1, 0.05, T0 + 2)).toBe(o1);
    const o2 = observeFilled(o1, 0.3, T0 + 3);
    expect(o2).toMatchObject({ state: 'FILLED', filled: 0.3 });
    expect(() => observeFilled(o1, 0.31, T0 + 3)).toThrow(OrderStateError);
    expect(() => observeFilled(intent({ state: 'REJECTED' }), 0.1, T0)).toThrow(OrderStateError);
  });

  it('CANCELED and LOST still accept fills (a late fill; a lost order resurfacing)', () => {
    const c = observeFilled(intent({ state: 'CANCELED', filled: 0.1 }), 0.2, T0);
    expect(c).toMatchObject({ state: 'CANCELED', filled: 0.2 });
    expect(observeFilled(c, 0.3, T0).state).toBe('FILLED');
    expect(observeFilled(intent({ state: 'LOST' }), 0.1, T0).state).toBe('PARTIALLY_FILLED');
  });

  it('merges venue reports: canceled with a partial fill keeps the fill; an older report never lowers it', () => {
    const canceling = intent({ state: 'CANCELING', filled: 0.1 });
    const done = applyVenueOrder(canceling, venue({ status: 'canceled', filled: 0.2 }), T0 + 5);
    expect(done).toMatchObject({ state: 'CANCELED', filled: 0.2 });
    const stale = applyVenueOrder(done, venue({ status: 'open', filled: 0.1 }), T0 + 6);
    expect(stale.filled).toBe(0.2);
    expect(stale.state).toBe('CANCELED');
    const raced = applyVenueOrder(canceling, venue({ status: 'closed', filled: 0.3 }), T0 + 5);
    expect(raced.state).toBe('FILLED');
    const unknown = applyVenueOrder(intent({ state: 'UNKNOWN', venueOrderId: null }), venue(), T0);
    expect(unknown).toMatchObject({ state: 'OPEN', venueOrderId: '7' });
  });
});

describe('legs and slices', () => {
  it('orders legs: reduce-only futures, spot sells, other futures, spot buys', () => {
    const legs = [
      { type: 'spot', side: 'buy', reduceOnly: false },
      { type: 'futures', side: 'sell', reduceOnly: false },
      { type: 'spot', side: 'sell', reduceOnly: false },
      { type: 'futures', side: 'buy', reduceOnly: true },
    ] as const;
    expect([...legs].sort((a, b) => legRank(a) - legRank(b))).toEqual([legs[3], legs[2], legs[1], legs[0]]);
  });

  it('slices a large leg into child orders of at most the max notional, each above the minimums, summing exactly', () => {
    const m = { amountStep: 0.001, minAmount: 0.001, minNotional: 5, contractSize: 1 };
    const s = sliceAmounts(0.137, 58_000, m, 2_000);
    expect(s.length).toBe(4);
    expect(s.slice(0, 3).every((x) => x === 0.034)).toBe(true);
    expect(s[3]).toBe(0.035);
    expect(s.reduce((a, b) => a + b, 0)).toBeCloseTo(0.137, 12);
    expect(sliceAmounts(0.137, 58_000, m, Infinity)).toEqual([0.137]);
    // slices that would fall below the minimum notional are merged
    expect(sliceAmounts(0.002, 58_000, { ...m, minNotional: 100 }, 50)).toEqual([0.002]);
  });
});
