/**
 * Hedges journaled from open to close. A hedge is a futures position of a class's hedge perp (or an index
 * perp); its life is read from futures fills: a fill that takes the position away from 0 opens a hedge, one
 * that brings it back to 0 closes it (a flip closes one and opens the next). Each record carries the reason
 * it was opened and closed (the plan action's explanation, or "liquidation" / "external trade"), the realised
 * price PnL of its closes, its fees, and the funding paid while it was open.
 *
 * Called inside the fill's journal transaction, so a hedge can never disagree with the fills.
 */
import { Decimal } from 'decimal.js';
import type { HedgeRecord, Journal } from '../ports/journal.js';

export interface HedgeFill {
  account: string;
  symbol: string;
  /** Class(es) the perp belongs to, e.g. 'BTC' or 'BTC+ETH' for an index perp. */
  cls: string;
  /** Signed contracts before and the signed change of this fill. */
  before: number;
  delta: number;
  price: number;
  contractSize: number;
  fee: number;
  time: number;
  reason: string;
}

const sign = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0);

function open(journal: Journal, f: HedgeFill, contracts: number, reason: string): HedgeRecord {
  const h: Omit<HedgeRecord, 'id'> = {
    account: f.account,
    class: f.cls,
    symbol: f.symbol,
    contracts,
    entryPrice: f.price,
    openedAt: f.time,
    closedAt: null,
    openReason: reason,
    closeReason: null,
    fundingPaid: 0,
    realisedPnl: 0,
    fees: 0,
  };
  const id = journal.insertHedge(h);
  journal.appendEvent({ time: f.time, type: 'hedge', account: f.account, payload: { opened: id, class: f.cls, symbol: f.symbol, contracts, price: f.price, reason } });
  return { ...h, id };
}

/** Apply one futures fill to the account's open hedge of that symbol. */
export function applyHedgeFill(journal: Journal, f: HedgeFill): void {
  if (f.delta === 0) return;
  let h = journal.openHedge(f.account, f.symbol);
  if (!h) {
    // A position the journal never saw open (held at the baseline): start tracking it at this fill's price.
    h = open(journal, f, f.before, f.before === 0 ? f.reason : `position of ${f.before} held before tracking began; ${f.reason}`);
  }
  const q0 = h.contracts;
  const d = f.delta;
  const cs = f.contractSize;
  let next: HedgeRecord = { ...h, fees: new Decimal(h.fees).plus(f.fee).toNumber() };
  if (q0 === 0 || sign(q0) === sign(d)) {
    const q1 = new Decimal(q0).plus(d);
    next.entryPrice = new Decimal(q0).mul(h.entryPrice).plus(new Decimal(d).mul(f.price)).div(q1).toNumber();
    next.contracts = q1.toNumber();
    journal.updateHedge(next);
    return;
  }
  const closed = Math.min(Math.abs(d), Math.abs(q0));
  next.realisedPnl = new Decimal(h.realisedPnl).plus(new Decimal(closed).mul(cs).mul(f.price - h.entryPrice).mul(sign(q0))).toNumber();
  const q1 = new Decimal(q0).plus(d).toNumber();
  if (q1 === 0 || sign(q1) !== sign(q0)) {
    next = { ...next, contracts: 0, closedAt: f.time, closeReason: f.reason };
    journal.updateHedge(next);
    journal.appendEvent({
      time: f.time,
      type: 'hedge',
      account: f.account,
      payload: { closed: next.id, class: next.class, symbol: next.symbol, realisedPnl: next.realisedPnl, fundingPaid: next.fundingPaid, fees: next.fees, reason: f.reason },
    });
    if (q1 !== 0) open(journal, f, q1, `${f.reason} (position flipped)`);
    return;
  }
  next.contracts = q1;
  journal.updateHedge(next);
}

/** Attribute a funding payment (signed: negative = paid) to the open hedge of its symbol, if any. */
export function applyHedgeFunding(journal: Journal, account: string, symbol: string, amount: number): void {
  const h = journal.openHedge(account, symbol);
  if (!h) return;
  journal.updateHedge({ ...h, fundingPaid: new Decimal(h.fundingPaid).minus(amount).toNumber() });
}
