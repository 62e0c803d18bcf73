/**
 * The order state machine. Pure: functions from an intent and an observation to the next intent; the
 * tracker persists each result before acting on it.
 *
 *   NEW ──► SUBMITTING ──► OPEN ──► PARTIALLY_FILLED ──► FILLED
 *    │          │  │  │      │  \          │   \
 *    │          │  │  │      │   └─► CANCELING ─► CANCELED ─► FILLED (a late fill completes it)
 *    │          │  │  └─► UNKNOWN (timeout after send) ──► OPEN / PARTIALLY_FILLED / FILLED / CANCELED / LOST
 *    └──► REJECTED / CANCELED (never sent)                  LOST (N not-found strikes) ──► any fill state
 *
 * Invariants (checked here, property-tested in test/execution/orders.model.test.ts):
 * - only the transitions in TRANSITIONS; a state may be re-entered to record more fills or strikes;
 * - 0 ≤ filled ≤ amount, and filled never decreases (fills observed twice are not counted twice:
 *   `filled` is the maximum of what the venue reported and what the journal's fills add up to);
 * - FILLED and REJECTED are final; CANCELED and LOST still accept fills (late fills, resurfacing orders).
 */
import { Decimal } from 'decimal.js';
import type { Order } from '../ports/exchange.js';
import type { OrderIntent, OrderState } from '../ports/journal.js';

export type { OrderState } from '../ports/journal.js';

export const ORDER_STATES: readonly OrderState[] = ['NEW', 'SUBMITTING', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELING', 'CANCELED', 'REJECTED', 'UNKNOWN', 'LOST'];

/** Allowed moves to a DIFFERENT state. */
export const TRANSITIONS: Readonly<Record<OrderState, readonly OrderState[]>> = {
  NEW: ['SUBMITTING', 'REJECTED', 'CANCELED'],
  SUBMITTING: ['OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELED', 'REJECTED', 'UNKNOWN'],
  UNKNOWN: ['OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELING', 'CANCELED', 'REJECTED', 'LOST'],
  OPEN: ['PARTIALLY_FILLED', 'FILLED', 'CANCELING', 'CANCELED', 'LOST'],
  PARTIALLY_FILLED: ['FILLED', 'CANCELING', 'CANCELED', 'LOST'],
  CANCELING: ['CANCELED', 'FILLED', 'LOST'],
  CANCELED: ['FILLED'],
  LOST: ['OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELING', 'CANCELED'],
  FILLED: [],
  REJECTED: [],
};

/** States that may be re-entered (more fills, more strikes, a new reason). */
const REENTRANT: ReadonlySet<OrderState> = new Set(['SUBMITTING', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED', 'CANCELING', 'CANCELED', 'LOST']);

/** States in which the venue may hold a live order for the intent (or may have had one we do not know). */
export const LIVE_STATES: readonly OrderState[] = ['SUBMITTING', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED', 'CANCELING'];
/** States in which a fill may be recorded. */
export const FILL_STATES: readonly OrderState[] = ['SUBMITTING', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED', 'CANCELING', 'CANCELED', 'LOST', 'FILLED'];

export const isLive = (s: OrderState): boolean => LIVE_STATES.includes(s);
/** Done from the executor's point of view: no order of this intent can still be working at the venue. */
export const isDone = (s: OrderState): boolean => s === 'FILLED' || s === 'REJECTED' || s === 'CANCELED';

export function canTransition(from: OrderState, to: OrderState): boolean {
  return from === to ? REENTRANT.has(from) : TRANSITIONS[from].includes(to);
}

export class OrderStateError extends Error {
  override name = 'OrderStateError';
}

/** Filled amounts are compared with this slack (float noise below any lot step). */
const EPS = 1e-12;

/** Move `o` to `to` (throws OrderStateError on a disallowed move). */
export function transition(o: OrderIntent, to: OrderState, at: number, patch: Partial<Pick<OrderIntent, 'reason' | 'venueOrderId' | 'notFoundStrikes'>> = {}): OrderIntent {
  if (!canTransition(o.state, to)) throw new OrderStateError(`order ${o.clientOrderId}: ${o.state} → ${to} is not allowed`);
  return { ...o, ...patch, state: to, updatedAt: Math.max(at, o.updatedAt) };
}

/**
 * Record that the venue says `total` has filled (cumulative). Never decreases `filled`; fills beyond the
 * amount are an invariant breach (OrderStateError). Moves the state along when the fill says so.
 */
export function observeFilled(o: OrderIntent, total: number, at: number, avgPrice?: number | null): OrderIntent {
  if (!Number.isFinite(total) || total < 0) throw new OrderStateError(`order ${o.clientOrderId}: filled must be ≥ 0, got ${total}`);
  if (total <= o.filled + EPS) return o;
  if (!FILL_STATES.includes(o.state)) throw new OrderStateError(`order ${o.clientOrderId}: a fill of ${total} in state ${o.state} is impossible`);
  if (total > o.amount * (1 + 1e-9) + EPS) throw new OrderStateError(`order ${o.clientOrderId}: filled ${total} exceeds the amount ${o.amount}`);
  const filled = Math.min(total, o.amount);
  const full = filled >= o.amount - EPS;
  let state = o.state;
  if (full) state = 'FILLED';
  else if (state === 'SUBMITTING' || state === 'UNKNOWN' || state === 'OPEN' || state === 'LOST') state = 'PARTIALLY_FILLED';
  const next = transition(o, state, at);
  return { ...next, filled: full ? o.amount : filled, avgPrice: avgPrice ?? o.avgPrice };
}

/** The intent state that a venue order report implies, given where the intent is now. */
export function stateFromVenue(o: OrderIntent, v: Order): OrderState {
  const full = v.filled >= o.amount - EPS || v.status === 'closed';
  switch (v.status) {
    case 'closed':
      return 'FILLED';
    case 'open':
      if (full) return 'FILLED';
      if (o.state === 'CANCELING') return 'CANCELING';
      return v.filled > 0 || o.filled > 0 ? 'PARTIALLY_FILLED' : 'OPEN';
    case 'canceled':
    case 'expired':
      return full ? 'FILLED' : 'CANCELED';
    case 'rejected':
      return v.filled > 0 ? 'CANCELED' : 'REJECTED';
  }
}

/**
 * Merge a venue order report into the intent: venue id, cumulative fill (never decreasing), state.
 * A state the machine does not allow from here (e.g. a report older than what we know) keeps the current state.
 */
export function applyVenueOrder(o: OrderIntent, v: Order, at: number): OrderIntent {
  let next: OrderIntent = o.venueOrderId === v.id ? o : { ...o, venueOrderId: v.id, updatedAt: Math.max(at, o.updatedAt) };
  if (v.filled > next.filled + EPS) next = observeFilled(next, Math.min(v.filled, next.amount), at, v.average);
  const to = stateFromVenue(next, v);
  if (to !== next.state && canTransition(next.state, to)) next = transition(next, to, at);
  return next;
}

/** Volume-weighted average of fills. */
export function averagePrice(fills: ReadonlyArray<{ amount: number; price: number }>): number | null {
  let qty = new Decimal(0);
  let cost = new Decimal(0);
  for (const f of fills) {
    qty = qty.plus(f.amount);
    cost = cost.plus(new Decimal(f.amount).mul(f.price));
  }
  return qty.isZero() ? null : cost.div(qty).toNumber();
}

/** Exact sum of fill amounts. */
export function sumAmounts(fills: ReadonlyArray<{ amount: number }>): number {
  return fills.reduce((s, f) => s.plus(f.amount), new Decimal(0)).toNumber();
}
