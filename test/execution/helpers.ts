/**
 * A world for execution and service tests: a SimExchange on a ManualClock with a minute-bar feed, a sleep that
 * moves the clock (virtual time: no real waiting), a SQLite journal in a temp dir, the seed's first portfolio
 * (BTC 50% ± 5 / Stablecoins 50% ± 5) and a checker that the journal equals the venue.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { SqliteJournal, type SqliteJournalOptions } from '../../src/adapters/journal/sqlite.js';
import { SimExchange, type SimConfig } from '../../src/adapters/sim/exchange.js';
import type { FaultConfig } from '../../src/adapters/sim/faults.js';
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import type { Action, Plan, Portfolio } from '../../src/core/types.js';
import { ManualClock } from '../../src/ports/clock.js';
import type { Journal } from '../../src/ports/journal.js';
import type { CrashHook } from '../../src/execution/crash.js';
import type { ExecutorConfig } from '../../src/execution/executor.js';
import { isOurs } from '../../src/execution/ids.js';
import type { ReconcileConfig } from '../../src/execution/reconcile.js';
import { GuardedExchange } from '../../src/execution/retry.js';
import { OrderTracker, type TrackerConfig } from '../../src/execution/tracker.js';
import { Service, type ServiceDeps } from '../../src/service/service.js';
import { ExchangeSnapshotSource } from '../../src/service/sim-source.js';
import type { SnapshotSource } from '../../src/ports/snapshot-source.js';
import { cls, portfolio as makePortfolio } from '../core/builders.js';

export const T0 = Date.UTC(2025, 0, 6);
export const SPOT = 'BTC/USDT';
export const PERP = 'BTC/USDT:USDT';
export const ACCOUNT = 'main';
export const MIN = 60_000;

export interface WorldOptions {
  balances?: Record<string, number>;
  faults?: FaultConfig;
  fill?: SimConfig['fill'];
  /** Price of BTC at time t (spot close and perp close). Default 58 000. */
  price?: (t: number) => number;
  /** Bar range high/low around the close, as a fraction. Default 0.002. */
  range?: number;
  volume?: number;
  hours?: number;
  leverage?: number;
  portfolio?: Portfolio;
  minNotional?: number;
}

export interface World {
  clock: ManualClock;
  feed: ArrayFeed;
  sim: SimExchange;
  /** The sim behind a rate-limit gate (one per key): what the code under test talks to. */
  venue: GuardedExchange;
  sleep: (ms: number) => Promise<void>;
  portfolio: Portfolio;
  dir: string;
  dbPath: string;
  journal(opts?: Partial<SqliteJournalOptions>): SqliteJournal;
  source(): SnapshotSource;
  service(opts?: ServiceOptions): Service;
  tracker(journal: Journal, opts?: { crash?: CrashHook; config?: Partial<TrackerConfig> }): OrderTracker;
  cleanup(): void;
}

export interface ServiceOptions {
  journal?: Journal;
  crash?: CrashHook;
  execution?: Partial<ExecutorConfig>;
  reconcile?: Partial<Omit<ReconcileConfig, 'clientIdPrefix'>>;
  source?: SnapshotSource;
  planner?: ServiceDeps['planner'];
}

export function seedPortfolio(): Portfolio {
  return makePortfolio([cls('BTC', 0.5, 0.05, ['BTC'], { hedge: PERP }), cls('Stablecoins', 0.5, 0.05, ['USDT'], { cash: true })], {
    risk: { maxDataAgeMs: 300_000 },
  });
}

export function world(o: WorldOptions = {}): World {
  const clock = new ManualClock(T0);
  const feed = new ArrayFeed();
  const price = o.price ?? (() => 58_000);
  const range = o.range ?? 0.002;
  const hours = o.hours ?? 6;
  for (let t = T0 - 5 * MIN; t <= T0 + hours * 3_600_000; t += MIN) {
    const c = price(t);
    for (const s of [SPOT, PERP]) feed.pushBar(s, { time: t, open: c, high: c * (1 + range), low: c * (1 - range), close: c, volume: o.volume ?? 1e6 });
  }
  const minNotional = o.minNotional ?? 5;
  const sim = new SimExchange(
    {
      quote: 'USDT',
      balances: o.balances ?? { USDT: 42_000, BTC: 1 },
      leverage: o.leverage ?? 3,
      markets: [
        { symbol: SPOT, type: 'spot', base: 'BTC', amountStep: 0.001, priceStep: 0.01, minAmount: 0.001, minNotional },
        { symbol: PERP, type: 'swap', base: 'BTC', amountStep: 0.001, priceStep: 0.1, minAmount: 0.001, minNotional, contractSize: 1, maintenanceMarginRate: 0.004 },
      ],
      ...(o.fill ? { fill: o.fill } : {}),
      ...(o.faults ? { faults: o.faults } : {}),
    },
    { feed, clock },
  );
  sim.faults.enabled = false;
  sim.sync();
  sim.faults.enabled = true;
  const sleep = async (ms: number): Promise<void> => {
    if (ms > 0) clock.advance(ms);
  };
  const venue = new GuardedExchange(sim, { clock, sleep });
  const dir = mkdtempSync(join(tmpdir(), 'ballast-exec-'));
  const dbPath = join(dir, 'journal.db');
  const portfolio = o.portfolio ?? seedPortfolio();
  const w: World = {
    clock,
    feed,
    sim,
    venue,
    sleep,
    portfolio,
    dir,
    dbPath,
    journal: (opts = {}) => new SqliteJournal(dbPath, { clock, lockStaleMs: 10_000, ...opts }),
    source: () => new ExchangeSnapshotSource({ accounts: [{ name: ACCOUNT, exchange: venue }], clock, quote: 'USDT', portfolio }),
    service: (opts = {}) =>
      new Service(
        {
          portfolio,
          intervalMs: MIN,
          execution: { pollMs: 5_000, repriceAfterMs: 60_000, sliceIntervalMs: 10_000, ...opts.execution },
          ...(opts.reconcile ? { reconcile: opts.reconcile } : {}),
        },
        {
          journal: opts.journal ?? w.journal(),
          venues: { [ACCOUNT]: venue },
          source: opts.source ?? w.source(),
          clock,
          sleep,
          ...(opts.crash ? { crash: opts.crash } : {}),
          ...(opts.planner ? { planner: opts.planner } : {}),
        },
      ),
    tracker: (journal, opts = {}) =>
      new OrderTracker({ journal, venues: { [ACCOUNT]: venue }, clock, sleep, ...(opts.crash ? { crash: opts.crash } : {}), hedgeClassOf: (s) => (s === PERP ? 'BTC' : null) }, opts.config),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
  return w;
}

/** Call the sim without faults (test set-up and inspection). */
export async function quietly<T>(sim: SimExchange, fn: () => Promise<T>): Promise<T> {
  const was = sim.faults.enabled;
  sim.faults.enabled = false;
  try {
    return await fn();
  } finally {
    sim.faults.enabled = was;
  }
}

/** Count createOrder requests per client id (wrap the sim's createOrder). */
export function countSends(sim: SimExchange): Map<string, number> {
  const sends = new Map<string, number>();
  const orig = sim.createOrder.bind(sim);
  sim.createOrder = async (req) => {
    sends.set(req.clientOrderId, (sends.get(req.clientOrderId) ?? 0) + 1);
    return orig(req);
  };
  return sends;
}

/**
 * The journal equals the venue:
 * - every venue trade since the baseline is in the journal's fills exactly once, and the journal has no fill the
 *   venue does not;
 * - each of our venue orders has exactly one intent, with the venue's filled amount and a matching state;
 *   at most one venue order per client id;
 * - the book (expected holdings) equals the venue's balances and positions.
 */
export async function expectLedgerEqualsVenue(sim: SimExchange, journal: Journal, account = ACCOUNT, prefix = 'bl'): Promise<void> {
  const json = sim.toJSON();
  const fills = journal.fills({ account });
  const byTrade = new Map(fills.map((f) => [f.tradeId, f]));
  const baseline = Math.min(...journal.events({ type: 'reconcile', account }).filter((e) => (e.payload as { baseline?: unknown }).baseline).map((e) => e.time));
  for (const t of json.trades) {
    if (t.timestamp < baseline) continue;
    const f = byTrade.get(t.id);
    expect(f, `venue trade ${t.id} (${t.side} ${t.amount} ${t.symbol}, order ${t.order}) is in the journal`).toBeDefined();
    expect(f!.amount).toBe(t.amount);
    expect(f!.price).toBe(t.price);
  }
  const venueTradeIds = new Set(json.trades.map((t) => t.id));
  for (const f of fills) expect(venueTradeIds.has(f.tradeId), `journal fill ${f.tradeId} exists on the venue`).toBe(true);

  const perCid = new Map<string, number>();
  for (const o of json.orders) {
    if (!isOurs(o.clientOrderId, prefix)) continue;
    perCid.set(o.clientOrderId!, (perCid.get(o.clientOrderId!) ?? 0) + 1);
    const i = journal.intent(o.clientOrderId!);
    expect(i, `venue order ${o.id} (${o.clientOrderId}) has an intent`).toBeDefined();
    expect(i!.venueOrderId).toBe(o.id);
    expect(i!.filled, `intent ${i!.clientOrderId} filled = venue filled`).toBeCloseTo(o.filled, 12);
    const expected = o.status === 'closed' ? ['FILLED'] : o.status === 'open' ? ['OPEN', 'PARTIALLY_FILLED', 'CANCELING'] : o.filled >= o.amount ? ['FILLED'] : ['CANCELED'];
    expect(expected, `intent ${i!.clientOrderId} state ${i!.state} vs venue ${o.status}`).toContain(i!.state);
  }
  for (const [cid, n] of perCid) expect(n, `venue orders with client id ${cid}`).toBe(1);

  const book = journal.book(account) ?? {};
  const bal = await quietly(sim, () => sim.fetchBalance());
  const pos = await quietly(sim, () => sim.fetchPositions());
  for (const [asset, total] of Object.entries(bal.total)) if (asset !== 'USDT') expect(book[asset] ?? 0, `book ${asset}`).toBeCloseTo(total, 9);
  for (const p of pos) expect(book[p.symbol] ?? 0, `book ${p.symbol}`).toBeCloseTo(p.contracts, 9);
  for (const k of Object.keys(book)) {
    if (k.includes('/')) expect(pos.find((p) => p.symbol === k)?.contracts ?? 0, `venue position ${k}`).toBeCloseTo(book[k]!, 9);
  }
}

/** Allowed-transition audit over the journal's order events. */
export function orderTransitions(journal: Journal): Array<{ cid: string; from: string | null; to: string }> {
  return journal.events({ type: 'order' }).map((e) => {
    const p = e.payload as { clientOrderId: string; from: string | null; to: string };
    return { cid: p.clientOrderId, from: p.from, to: p.to };
  });
}

const PORT_OPS = [
  'loadMarkets',
  'fetchBalance',
  'fetchPositions',
  'fetchTicker',
  'fetchTickers',
  'fetchFundingRate',
  'fetchFundingHistory',
  'createOrder',
  'cancelOrder',
  'fetchOrder',
  'fetchOpenOrders',
  'fetchClosedOrders',
  'fetchMyTrades',
] as const;

/** Record every call that reaches the sim (after the gate): op and clock time. */
export function recordCalls(sim: SimExchange, clock: ManualClock): Array<{ op: string; time: number }> {
  const calls: Array<{ op: string; time: number }> = [];
  const target = sim as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const op of PORT_OPS) {
    const orig = target[op]!.bind(sim);
    target[op] = (...args: unknown[]) => {
      calls.push({ op, time: clock.now() });
      return orig(...args);
    };
  }
  return calls;
}

/** A plan with the given actions (the executor reads only `actions`). */
export function planOf(actions: Array<Partial<Action> & Pick<Action, 'side' | 'amount'>>, time = T0): Plan {
  return {
    time,
    status: 'ok',
    valuation: { quote: 'USDT', tpv: 0, spotValue: 0, unrealizedPnl: 0, classes: [], positions: [], assetValues: {} },
    trigger: 'test',
    actions: actions.map((a) => ({
      type: 'spot',
      class: 'BTC',
      account: ACCOUNT,
      symbol: SPOT,
      notional: a.amount * 58_000,
      price: 58_000,
      reduceOnly: false,
      reason: `test: ${a.side} ${a.amount}`,
      ...a,
    })),
    rejected: [],
    risk: { marginRequired: 0, marginAvailable: 0, liquidationPrices: {}, marginRatio: {}, maxLeverage: 0 },
    explanation: [],
  };
}
