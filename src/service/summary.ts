/**
 * What a journal says about a run, in numbers: first and last TPV, decisions, rebalances, orders by state,
 * fills and fees, funding, hedges and the trading state. Read-only; used by the final summary of
 * `ballast run` and by `ballast journal`.
 */
import { amount, moneyOut } from '../core/format.js';
import type { Journal, OrderState, RebalanceStatus, TradingStateRecord } from '../ports/journal.js';

export interface RunSummary {
  journal: string;
  /** Time of the first and last decision (epoch ms), null without decisions. */
  firstDecision: number | null;
  lastDecision: number | null;
  /** TPV at the first and last decision that could value the portfolio. */
  tpvStart: number | null;
  tpvEnd: number | null;
  decisions: number;
  /** Decisions by plan status (ok, nothing-to-do, not-due, stale, halted, paused …). */
  decisionsByStatus: Record<string, number>;
  rebalances: number;
  rebalancesByStatus: Partial<Record<RebalanceStatus, number>>;
  /** Order intents (every order ballast decided to send), by state. */
  orders: number;
  ordersByState: Partial<Record<OrderState, number>>;
  /** Intents that reached the venue (have a venue order id). */
  ordersSent: number;
  fills: number;
  externalFills: number;
  /** Fees by currency. */
  fees: Record<string, number>;
  fundingPayments: number;
  /** Net funding by currency (negative = paid). */
  funding: Record<string, number>;
  hedgesOpen: number;
  hedgesClosed: number;
  tradingState: TradingStateRecord;
  /**
   * The state in the last journaled snapshot — taken after the last rebalance's fills when it traded
   * (`afterTrades`: that rebalance's id), so its positions are what the venue holds now. Null without one.
   */
  latest: LatestState | null;
}

export interface LatestState {
  time: number;
  tpv: number | null;
  afterTrades: number | null;
  /** Open perp positions (non-zero contracts) per account. */
  positions: { account: string; symbol: string; contracts: number; entryPrice: number }[];
}

interface SnapshotPayload {
  time?: number;
  tpv?: number;
  after?: number;
  accounts?: { name: string; positions?: { symbol: string; contracts: number; entryPrice: number }[] }[];
}

/** The last journaled snapshot as a LatestState. */
export function latestState(j: Journal): LatestState | null {
  const e = j.events({ type: 'snapshot', limit: 1 })[0];
  if (!e) return null;
  const p = (e.payload ?? {}) as SnapshotPayload;
  return {
    time: typeof p.time === 'number' ? p.time : e.time,
    tpv: typeof p.tpv === 'number' ? moneyOut(p.tpv) : null,
    afterTrades: typeof p.after === 'number' ? p.after : null,
    positions: (p.accounts ?? []).flatMap((a) => (a.positions ?? []).filter((x) => x.contracts !== 0).map((x) => ({ account: a.name, symbol: x.symbol, contracts: x.contracts, entryPrice: x.entryPrice }))),
  };
}

const add = <K extends string>(m: Partial<Record<K, number>>, k: K, x = 1): void => {
  m[k] = (m[k] ?? 0) + x;
};

export function summarizeJournal(j: Journal): RunSummary {
  const decisions = j.events({ type: 'decision' });
  const byStatus: Record<string, number> = {};
  let tpvStart: number | null = null;
  let tpvEnd: number | null = null;
  for (const d of decisions) {
    const p = (d.payload ?? {}) as { status?: string; tpv?: number };
    add(byStatus, p.status ?? 'unknown');
    if (typeof p.tpv === 'number' && Number.isFinite(p.tpv)) {
      tpvStart ??= p.tpv;
      tpvEnd = p.tpv;
    }
  }
  const rebalances = j.rebalances();
  const rbByStatus: Partial<Record<RebalanceStatus, number>> = {};
  for (const r of rebalances) add(rbByStatus, r.status);
  const intents = j.intents();
  const byState: Partial<Record<OrderState, number>> = {};
  for (const o of intents) add(byState, o.state);
  const fills = j.fills();
  const fees: Record<string, number> = {};
  for (const f of fills) if (f.fee !== 0) add(fees, f.feeCurrency, f.fee);
  const funding = j.funding();
  const net: Record<string, number> = {};
  for (const f of funding) add(net, f.currency, f.amount);
  const hedges = j.hedges();
  const latest = latestState(j);
  // Every decision follows its cycle's snapshot, so the last snapshot is the newest state (and includes the
  // last rebalance's fills): the end TPV is its TPV.
  if (latest?.tpv != null) tpvEnd = latest.tpv;
  return {
    journal: j.location,
    firstDecision: decisions[0]?.time ?? null,
    lastDecision: decisions[decisions.length - 1]?.time ?? null,
    tpvStart: tpvStart === null ? null : moneyOut(tpvStart),
    tpvEnd: tpvEnd === null ? null : moneyOut(tpvEnd),
    decisions: decisions.length,
    decisionsByStatus: byStatus,
    rebalances: rebalances.length,
    rebalancesByStatus: rbByStatus,
    orders: intents.length,
    ordersByState: byState,
    ordersSent: intents.filter((o) => o.venueOrderId !== null).length,
    fills: fills.length,
    externalFills: fills.filter((f) => f.external).length,
    fees,
    fundingPayments: funding.length,
    funding: net,
    hedgesOpen: hedges.filter((h) => h.closedAt === null).length,
    hedgesClosed: hedges.filter((h) => h.closedAt !== null).length,
    tradingState: j.tradingState(),
    latest,
  };
}

const counts = (m: Record<string, number | undefined>): string =>
  Object.entries(m)
    .filter(([, n]) => n)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${k} ${n}`)
    .join(', ') || 'none';
const perCurrency = (m: Record<string, number>): string =>
  Object.entries(m)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([c, x]) => `${amount(x)} ${c}`)
    .join(' + ') || '0.00';
const iso = (t: number | null): string => (t === null ? '—' : new Date(t).toISOString().replace('.000Z', 'Z'));

/** The summary as aligned text lines. */
export function summaryLines(s: RunSummary, quote: string): string[] {
  const tpv =
    s.tpvStart === null
      ? '—'
      : `${amount(s.tpvStart)} → ${amount(s.tpvEnd ?? s.tpvStart)} ${quote} (${s.tpvEnd !== null && s.tpvStart > 0 ? `${(((s.tpvEnd - s.tpvStart) / s.tpvStart) * 100).toFixed(2)}%` : '—'})`;
  return [
    `  journal     ${s.journal}`,
    `  period      ${iso(s.firstDecision)} → ${iso(s.lastDecision)}`,
    `  TPV         ${tpv}`,
    `  decisions   ${s.decisions} (${counts(s.decisionsByStatus)})`,
    `  rebalances  ${s.rebalances} (${counts(s.rebalancesByStatus)})`,
    `  orders      ${s.orders} intents, ${s.ordersSent} sent (${counts(s.ordersByState)})`,
    `  fills       ${s.fills}${s.externalFills ? ` (${s.externalFills} external)` : ''}, fees ${perCurrency(s.fees)}`,
    `  funding     ${s.fundingPayments} payments, net ${perCurrency(s.funding)}`,
    `  hedges      ${s.hedgesOpen} open, ${s.hedgesClosed} closed`,
    `  positions   ${s.latest === null ? '—' : s.latest.positions.length === 0 ? 'no open futures position' : s.latest.positions.map((x) => `${x.symbol} ${+x.contracts.toPrecision(10)}`).join(', ')}${s.latest ? ` (as of ${iso(s.latest.time)}${s.latest.afterTrades !== null ? `, after rebalance #${s.latest.afterTrades}` : ''})` : ''}`,
    `  trading     ${s.tradingState.state} (by ${s.tradingState.by}: ${s.tradingState.reason})`,
  ];
}
