/**
 * What the API shows, read from what exists: the Service (trading state, last cycle with its plan) and the
 * Journal (snapshots, decisions, orders, fills, funding, hedges, rebalances). Nothing here writes.
 *
 * History: the service writes each cycle's valued point into the journal's history table as it journals the
 * cycle, at every resolution level (src/core/history.ts). `/api/history` reads one level through its
 * (level, bucket) key — level 0 (one row per cycle) when the range holds at most `maxPoints` cycles, else the
 * finest bucket level that fits — so a request reads at most `maxPoints` + 1 rows twice, whatever the
 * journal's length, and values nothing. The answer is kept until the journal changes (a new event).
 *
 * The newest journaled snapshot is valued here (for a restart's portfolio and the feed's freshness). Its
 * summary keeps a position's contracts and entry price but not its contract size: it is taken from the last
 * plan's valuation (which has it) and is 1 for symbols never seen there (true of Binance and Bybit linear
 * USDT perps and of the simulated venue).
 */
import { scrub } from '../../adapters/log.js';
import { classJson, planToJson, planToText, positionJson, type PlanJson } from '../shared/plan-view.js';
import { moneyOut } from '../../core/format.js';
import { bucketWidth, levelsFor, type HistoryRow } from '../../core/history.js';
import type { Breach, Plan, Portfolio, TradingState, Valuation } from '../../core/types.js';
import { isSummary, valueSummary, type SnapshotSummary } from '../../service/history.js';
import type { Clock } from '../../ports/clock.js';
import type { EventType, FillRecord, HedgeRecord, Journal, JournalEvent, OrderIntent, OrderState, TradingStateRecord } from '../../ports/journal.js';
import type { Service } from '../../service/service.js';

export type Mode = 'paper' | 'live' | 'replay';

/** The part of LiveSnapshotSource.status() the API reads (per account, each input's data time). */
export interface FeedStatusLike {
  accounts: { name: string; inputs: { key: string; time: number | null; via: string | null }[]; errors: { what: string; time: number; message: string }[]; clockSkewMs?: number | null }[];
}

/**
 * What the read model needs of the service: its last cycle, trading state, status and accounts. A running
 * Service is one; `ballast serve` passes a view of a stored portfolio (journal-backed, no cycle in memory).
 */
export type ServiceView = Pick<Service, 'lastCycle' | 'state' | 'status' | 'accounts'> & { venues: Record<string, { id: string } | undefined> };

export interface ReadModelOptions {
  service: ServiceView;
  journal: Journal;
  portfolio: Portfolio;
  mode: Mode;
  clock: Clock;
  /** The live feed, when there is one: per-input freshness. Otherwise freshness comes from the last snapshot. */
  feed?: { status(): FeedStatusLike };
}

export interface ClassView {
  name: string;
  cash: boolean;
  target: number;
  lower: number;
  upper: number;
  band: { kind: 'absolute'; width: number } | { kind: 'relative'; fraction: number };
  spot: number;
  futures: number;
  net: number;
  weight: number;
  drift: number;
  breach: Breach;
  deviation: number;
  driftValue: number;
}

export interface PortfolioView {
  /** The moment this state describes (the snapshot's time). */
  time: number;
  /** 'cycle': the last cycle in this process; 'journal': revalued from the last journaled snapshot. */
  source: 'cycle' | 'journal';
  /** The rebalance whose fills this state includes (a snapshot taken after them); null: no trades since. */
  afterTrades: number | null;
  quote: string;
  tpv: number;
  spotValue: number;
  unrealizedPnl: number;
  classes: ClassView[];
  positions: { account: string; symbol: string; contracts: number; notional: number; mark: number; entryPrice: number; unrealizedPnl: number; classes: Record<string, number> }[];
  breaches: string[];
}

/** GET /api/status */
export interface StatusView {
  mode: Mode;
  now: number;
  service: string;
  trading: TradingStateRecord;
  accounts: { name: string; venue: string | null }[];
  lastCycle: { time: number; status: string; reason: string; state: TradingState; rebalanceId: number | null } | null;
  lastSnapshot: number | null;
  feed: { maxAgeMs: number; stale: boolean; venues: FeedView[] };
  alerts: number;
}

export interface FeedView {
  account: string;
  venue: string | null;
  oldestInput: number | null;
  newestInput: number | null;
  ageMs: number | null;
  stale: boolean;
  inputs: { input: string; time: number | null; ageMs: number | null; via: string | null }[];
  errors: { what: string; time: number; message: string }[];
  /** Measured venue clock offset (ms), null where none was measured. */
  clockSkewMs: number | null;
}

/** GET /api/plan: the latest decision, from this process's last cycle or from the journal. */
export interface PlanView {
  source: 'cycle' | 'journal';
  cycle: { time: number; status: string; reason: string; rebalanceId: number | null } | null;
  /** ISO time of the snapshot the plan was made from. */
  time: string;
  status: string | null;
  trigger: string | null;
  quote?: string;
  tpv: number | null;
  actions: PlanJson['actions'];
  rejected: PlanJson['rejected'];
  risk: PlanJson['risk'] | null;
  explanation: string[];
  /** The rebalance the plan's orders ran in, with its fills; null when no order was sent. */
  execution: PlanExecution | null;
  text: string;
}

/** GET /api/history */
export interface HistoryView {
  quote: string;
  points: number;
  times: number[];
  tpv: number[];
  hedgeNotional: number[];
  classes: { name: string; cash: boolean; target: number; lower: number | null; upper: number | null; weight: (number | null)[]; drift: (number | null)[]; futures: (number | null)[] }[];
  rebalances: { id: number; time: number; finishedAt: number | null; status: string; trigger: string }[];
  funding: { times: number[]; cumulative: number[] };
  /** TPV's lowest and highest value over each point's bucket (level 0: over the cycle, before and after its trades). */
  tpvMin: number[];
  tpvMax: number[];
  /** The level read: 0 = one point per cycle; else each point is the last of a bucket of `bucketMs`. */
  resolution: { level: number; bucketMs: number };
}

export interface HedgeView extends HedgeRecord {
  open: boolean;
  mark: number | null;
  notional: number;
  unrealisedPnl: number;
  netPnl: number;
}

/** GET /api/hedges */
export interface HedgesView {
  open: number;
  closed: number;
  hedges: HedgeView[];
}

/** GET /api/journal: one event with a line a person can read. */
export interface JournalEventView extends JournalEvent {
  summary: string;
}

/** What became of a plan's orders. */
export interface PlanExecution {
  rebalanceId: number;
  status: string;
  startedAt: number;
  finishedAt: number | null;
  /** Order intents of the rebalance. */
  orders: number;
  fills: FillRecord[];
}

/**
 * An answer kept while it cannot change: its JSON text, how often it was served again, and (made by the
 * server once it is served again) its gzip encoding.
 */
export interface CachedAnswer {
  json: string;
  hits: number;
  gzip?: Buffer;
}

export interface JournalQuery {
  types?: EventType[];
  account?: string;
  since?: number;
  beforeId?: number;
  limit: number;
}

export interface HistoryQuery {
  since?: number;
  until?: number;
  maxPoints?: number;
}

const LIVE_STATES: readonly OrderState[] = ['NEW', 'SUBMITTING', 'OPEN', 'PARTIALLY_FILLED', 'CANCELING', 'UNKNOWN'];

export class ReadModel {
  readonly #o: ReadModelOptions;
  #lastSnapshotId = 0;
  #latest: { id: number; summary: SnapshotSummary; valuation: Valuation } | null = null;
  readonly #contractSize = new Map<string, number>();
  #alerts = 0;
  #lastAlertId = 0;
  #lastAlertTime = -Infinity;
  #primed = false;
  /** History answers of the journal's current version (the newest event id and the last cycle). */
  #historyCache: { version: string; views: Map<string, { view: HistoryView; answer?: CachedAnswer }> } = { version: '', views: new Map() };
  readonly #journalCache = new Map<string, { version: string; answer: CachedAnswer }>();

  constructor(o: ReadModelOptions) {
    this.#o = o;
  }

  get mode(): Mode {
    return this.#o.mode;
  }

  get portfolioConfig(): Portfolio {
    return this.#o.portfolio;
  }

  #now(): number {
    return this.#o.clock.now();
  }

  #maxAgeMs(): number {
    return this.#o.portfolio.feed?.maxAgeMs ?? this.#o.portfolio.risk.maxDataAgeMs;
  }

  // ---------------------------------------------------------------- incremental reading of the journal

  /** Read new journal events into the caches. Cheap when nothing is new: the newest snapshot is valued only when it changed. */
  refresh(): void {
    const j = this.#o.journal;
    const plan = this.#o.service.lastCycle?.plan;
    if (plan) for (const p of plan.valuation.positions) this.#contractSize.set(p.symbol, p.contractSize);

    // The newest snapshot the valuation accepts (an unvaluable one, e.g. a missing price, is skipped).
    let before: number | undefined;
    const seen = this.#lastSnapshotId;
    for (let tries = 0; tries < 20; tries++) {
      const e = j.events({ type: 'snapshot', limit: 1, ...(before !== undefined ? { beforeId: before } : {}) })[0];
      if (!e || e.id <= seen) break;
      if (tries === 0) this.#lastSnapshotId = e.id;
      const v = isSummary(e.payload) ? valueSummary(this.#o.portfolio, e.payload, (sym) => this.#contractSize.get(sym) ?? 1) : null;
      if (v && isSummary(e.payload)) {
        this.#latest = { id: e.id, summary: e.payload, valuation: v };
        break;
      }
      before = e.id;
    }

    const alerts = this.#primed ? j.events({ type: 'alert', since: this.#lastAlertTime }).filter((e) => e.id > this.#lastAlertId) : j.events({ type: 'alert' });
    for (const e of alerts) {
      this.#alerts++;
      this.#lastAlertId = Math.max(this.#lastAlertId, e.id);
      this.#lastAlertTime = Math.max(this.#lastAlertTime, e.time);
    }
    this.#primed = true;
  }

  /** Changes whenever anything the dashboard shows may have changed. */
  version(): string {
    const j = this.#o.journal;
    const last = j.events({ limit: 1 })[0];
    const st = this.#o.service.state();
    return `${last?.id ?? 0}|${this.#o.service.lastCycle?.time ?? ''}|${st.state}|${st.at}|${this.#o.service.status}`;
  }

  // ---------------------------------------------------------------- views

  status(): StatusView {
    const svc = this.#o.service;
    const now = this.#now();
    const c = svc.lastCycle;
    const maxAgeMs = this.#maxAgeMs();
    const venues = this.#feedViews(now, maxAgeMs);
    return {
      mode: this.#o.mode,
      now,
      service: svc.status,
      trading: svc.state(),
      accounts: svc.accounts.map((a) => ({ name: a, venue: svc.venues[a]?.id ?? null })),
      lastCycle: c ? { time: c.time, status: c.status, reason: c.reason, state: c.state, rebalanceId: c.rebalanceId ?? null } : null,
      lastSnapshot: this.#latest ? this.#latest.summary.time : null,
      feed: { maxAgeMs, stale: venues.some((v) => v.stale), venues },
      alerts: this.#alerts,
    };
  }

  #feedViews(now: number, maxAgeMs: number): FeedView[] {
    const svc = this.#o.service;
    const age = (t: number | null) => (t === null ? null : now - t);
    if (this.#o.feed) {
      return this.#o.feed.status().accounts.map((a) => {
        const times = a.inputs.map((i) => i.time).filter((t): t is number => t !== null);
        const oldest = times.length > 0 && times.length === a.inputs.length ? Math.min(...times) : null;
        const newest = times.length > 0 ? Math.max(...times) : null;
        const ageMs = age(oldest);
        return {
          account: a.name,
          venue: svc.venues[a.name]?.id ?? null,
          oldestInput: oldest,
          newestInput: newest,
          ageMs,
          stale: ageMs === null || ageMs > maxAgeMs || ageMs < -5_000,
          inputs: a.inputs.map((i) => ({ input: i.key, time: i.time, ageMs: age(i.time), via: i.via })),
          errors: a.errors,
          // venue clock offset (local − venue, ms) measured by the live adapter; null when unknown
          clockSkewMs: a.clockSkewMs ?? null,
        };
      });
    }
    const s = this.#latest?.summary;
    return svc.accounts.map((a) => {
      const oldest = s?.oldestInput ?? null;
      const ageMs = age(oldest);
      return {
        account: a,
        venue: svc.venues[a]?.id ?? null,
        oldestInput: oldest,
        newestInput: s?.newestInput ?? null,
        ageMs,
        stale: ageMs === null || ageMs > maxAgeMs || ageMs < -5_000,
        inputs: [],
        errors: [],
        clockSkewMs: null,
      };
    });
  }

  /**
   * The newest valuation: after the last cycle's fills when it traded, else the last cycle's plan (nothing
   * was traded: the plan saw the current state), or the last journaled snapshot if that is newer (after a
   * restart: the journal's last snapshot is the one taken after the last trades).
   */
  valuation(): { time: number; source: 'cycle' | 'journal'; valuation: Valuation; afterTrades: number | null } | null {
    const c = this.#o.service.lastCycle;
    const j = this.#latest;
    const cur = c?.after ? { time: c.after.time, valuation: c.after.valuation, afterTrades: c.after.rebalanceId } : c?.plan ? { time: c.plan.time, valuation: c.plan.valuation, afterTrades: null } : null;
    if (cur && (!j || cur.time >= j.summary.time)) return { ...cur, source: 'cycle' };
    if (j) return { time: j.summary.time, source: 'journal', valuation: j.valuation, afterTrades: typeof j.summary.after === 'number' ? j.summary.after : null };
    return null;
  }

  portfolio(): PortfolioView | null {
    const cur = this.valuation();
    if (!cur) return null;
    const v = cur.valuation;
    const cfg = new Map(this.#o.portfolio.classes.map((c) => [c.name, c]));
    return {
      time: cur.time,
      source: cur.source,
      afterTrades: cur.afterTrades,
      quote: v.quote,
      tpv: moneyOut(v.tpv),
      spotValue: moneyOut(v.spotValue),
      unrealizedPnl: moneyOut(v.unrealizedPnl),
      classes: v.classes.map((c) => ({
        ...classJson(c),
        band: cfg.get(c.name)?.band ?? { kind: 'absolute', width: (c.upper - c.lower) / 2 },
        driftValue: moneyOut(c.driftValue),
      })),
      positions: v.positions.map(positionJson),
      breaches: v.classes.filter((c) => c.breach).map((c) => c.name),
    };
  }

  /** What became of a decision's orders: the rebalance it started, its status and its fills. */
  #execution(rebalanceId: number): PlanExecution | null {
    const j = this.#o.journal;
    const rb = j.rebalances().find((r) => r.id === rebalanceId);
    if (!rb) return null;
    const ids = new Set(j.intents({ rebalanceId }).map((i) => i.clientOrderId));
    const fills = ids.size === 0 ? [] : j.fills({ since: rb.startedAt }).filter((f) => f.clientOrderId !== null && ids.has(f.clientOrderId));
    return { rebalanceId, status: rb.status, startedAt: rb.startedAt, finishedAt: rb.finishedAt, orders: ids.size, fills };
  }

  /** The latest plan with its explanation and the same text as `ballast plan`. */
  plan(): PlanView | null {
    const c = this.#o.service.lastCycle;
    if (c?.plan) {
      const execution = c.rebalanceId !== undefined ? this.#execution(c.rebalanceId) : null;
      return { source: 'cycle', cycle: { time: c.time, status: c.status, reason: c.reason, rebalanceId: c.rebalanceId ?? null }, ...planToJson(c.plan), execution, text: planToText(c.plan) };
    }
    const d = this.#o.journal.events({ type: 'decision', limit: 1 })[0];
    if (!d) return null;
    const rb = this.#o.journal.rebalances().find((r) => r.decisionEvent === d.id);
    const p = d.payload as Partial<Plan> & { tpv?: number; state?: string; reason?: string };
    const explanation = Array.isArray(p.explanation) ? p.explanation : p.reason ? [p.reason] : [];
    return {
      source: 'journal',
      cycle: null,
      time: new Date(d.time).toISOString(),
      status: p.status ?? null,
      trigger: p.trigger ?? null,
      tpv: p.tpv ?? null,
      // As `planToJson` writes them: the lots' acquisition times as ISO strings.
      actions: (p.actions ?? []).map(({ lots, ...a }) => ({ ...a, ...(lots ? { lots: lots.map((l) => ({ ...l, acquired: new Date(l.acquired).toISOString() })) } : {}) })),
      rejected: p.rejected ?? [],
      risk: p.risk ?? null,
      explanation,
      execution: rb ? this.#execution(rb.id) : null,
      text: explanation.join('\n'),
    };
  }

  /**
   * The history series from the journal's history table: the finest level whose points over the range fit
   * `maxPoints` (src/core/history.ts), at most `maxPoints` rebalances (the newest) and funding payments
   * (evenly thinned, the newest kept). The newest point is the newest cycle's state (after its trades).
   */
  history(q: HistoryQuery = {}): HistoryView {
    return this.#cachedHistory(q).view;
  }

  /** The history answer as JSON text, scrubbed like every answer (what /api/history sends). */
  historyJson(q: HistoryQuery = {}): CachedAnswer {
    const c = this.#cachedHistory(q);
    if (c.answer) c.answer.hits++;
    else c.answer = { json: JSON.stringify(scrub(c.view)), hits: 0 };
    return c.answer;
  }

  #cachedHistory(q: HistoryQuery): { view: HistoryView; answer?: CachedAnswer } {
    const version = this.version();
    if (this.#historyCache.version !== version) this.#historyCache = { version, views: new Map() };
    const key = `${q.since ?? ''}|${q.until ?? ''}|${q.maxPoints ?? ''}`;
    const hit = this.#historyCache.views.get(key);
    if (hit) return hit;
    const entry: { view: HistoryView; answer?: CachedAnswer } = { view: this.#history(q) };
    if (this.#historyCache.views.size >= 16) this.#historyCache.views.clear();
    this.#historyCache.views.set(key, entry);
    return entry;
  }

  /** The rows of the finest level that holds the range in at most `max` points. */
  historyRows(q: { since?: number; until?: number; max: number }): { level: number; rows: HistoryRow[] } {
    const j = this.#o.journal;
    const range = { ...(q.since !== undefined ? { since: q.since } : {}), ...(q.until !== undefined ? { until: q.until } : {}) };
    // Level 0 when its rows in the range fit (counted on the key alone), else the bucket level for the span.
    const levels = j.historyCount({ level: 0, limit: q.max + 1, ...range }) <= q.max ? [0] : levelsFor(this.#span(q), q.max).slice(1);
    const level = levels[0] ?? 0;
    return { level, rows: j.history({ level, limit: q.max, ...range }) };
  }

  /** The range's length: from `since` (or the oldest cycle) to `until` (or the newest). */
  #span(q: { since?: number; until?: number }): number | null {
    const j = this.#o.journal;
    const range = { ...(q.since !== undefined ? { since: q.since } : {}), ...(q.until !== undefined ? { until: q.until } : {}) };
    const first = q.since ?? j.history({ level: 0, limit: 1, oldest: true, ...range })[0]?.bucket;
    const last = q.until ?? j.history({ level: 0, limit: 1, ...range })[0]?.time;
    return first === undefined || last === undefined ? null : Math.max(0, last - first);
  }

  #history(q: HistoryQuery): HistoryView {
    const max = q.maxPoints ?? 2_000;
    const { level, rows } = this.historyRows({ max, ...(q.since !== undefined ? { since: q.since } : {}), ...(q.until !== undefined ? { until: q.until } : {}) });
    const sel = q.until === undefined ? rows : rows.filter((r) => r.time <= q.until!);
    const classes = this.#o.portfolio.classes.map((c) => {
      const v = this.#latest?.valuation.classes.find((x) => x.name === c.name) ?? this.#o.service.lastCycle?.plan?.valuation.classes.find((x) => x.name === c.name);
      // The class's place in each row (rows share their names array: one lookup per distinct list).
      const at = new Map<readonly string[], number>();
      const value = (r: HistoryRow, offset: number): number | undefined => {
        let k = at.get(r.names);
        if (k === undefined) {
          k = r.names.indexOf(c.name);
          at.set(r.names, k);
        }
        return k < 0 ? undefined : r.values[3 * k + offset];
      };
      return {
        name: c.name,
        cash: c.cash,
        target: c.target,
        lower: v?.lower ?? null,
        upper: v?.upper ?? null,
        weight: sel.map((r) => fraction9(value(r, 0))),
        drift: sel.map((r) => fraction9(value(r, 1))),
        futures: sel.map((r) => money8(value(r, 2))),
      };
    });
    const range = { ...(q.since !== undefined ? { since: q.since } : {}), ...(q.until !== undefined ? { until: q.until } : {}) };
    const rebalances = this.#o.journal
      .rebalances({ ...range, limit: max })
      .map((r) => ({ id: r.id, time: r.startedAt, finishedAt: r.finishedAt, status: r.status, trigger: r.trigger }))
      .reverse();
    let cum = 0;
    const fundingTimes: number[] = [];
    const fundingCum: number[] = [];
    for (const f of this.#o.journal.funding()) {
      cum += f.amount;
      if ((q.since === undefined || f.time >= q.since) && (q.until === undefined || f.time <= q.until)) {
        fundingTimes.push(f.time);
        fundingCum.push(cum);
      }
    }
    const keep = thinned(fundingTimes.length, max);
    return {
      quote: this.#o.portfolio.quote,
      points: sel.length,
      times: sel.map((r) => r.time),
      tpv: sel.map((r) => moneyOut(r.tpv)),
      hedgeNotional: sel.map((r) => moneyOut(r.hedgeNotional)),
      classes,
      rebalances,
      funding: { times: keep.map((k) => fundingTimes[k]!), cumulative: keep.map((k) => fundingCum[k]!) },
      tpvMin: sel.map((r) => moneyOut(r.tpvMin)),
      tpvMax: sel.map((r) => moneyOut(r.tpvMax)),
      resolution: { level, bucketMs: bucketWidth(level) },
    };
  }

  funding(q: { account?: string; symbol?: string; since?: number; limit: number }): object {
    const all = this.#o.journal.funding({ ...(q.account ? { account: q.account } : {}), ...(q.symbol ? { symbol: q.symbol } : {}) });
    let cum = 0;
    const rows = all.map((f) => {
      cum += f.amount;
      return { ...f, cumulative: cum };
    });
    const inRange = q.since === undefined ? rows : rows.filter((f) => f.time >= q.since!);
    const rates = Object.entries(this.#latest?.summary.funding ?? {}).map(([symbol, r]) => ({
      symbol,
      rate: r.rate,
      intervalHours: r.intervalHours,
      apr: r.intervalHours > 0 ? r.rate * (8760 / r.intervalHours) : null,
    }));
    return {
      quote: this.#o.portfolio.quote,
      total: cum,
      count: inRange.length,
      payments: inRange.slice(-q.limit).reverse(),
      rates,
    };
  }

  hedges(q: { open?: boolean; account?: string; limit: number }): HedgesView {
    const marks = this.valuation()?.valuation.positions ?? [];
    const rows = this.#o.journal.hedges({ ...(q.account ? { account: q.account } : {}), ...(q.open !== undefined ? { open: q.open } : {}) });
    const view = (h: HedgeRecord): HedgeView => {
      const pos = marks.find((p) => p.account === h.account && p.symbol === h.symbol);
      const open = h.closedAt === null;
      const mark = open ? (pos?.mark ?? null) : null;
      const size = pos?.contractSize ?? 1;
      const unrealisedPnl = open && mark !== null ? h.contracts * size * (mark - h.entryPrice) : 0;
      return {
        ...h,
        open,
        mark,
        notional: moneyOut(open && mark !== null ? h.contracts * size * mark : 0),
        unrealisedPnl: moneyOut(unrealisedPnl),
        /** Price PnL (realised + unrealised) − fees − funding paid. */
        netPnl: moneyOut(h.realisedPnl + unrealisedPnl - h.fees - h.fundingPaid),
      };
    };
    const all = rows.map(view).reverse();
    return { open: all.filter((h) => h.open).length, closed: all.filter((h) => !h.open).length, hedges: all.slice(0, q.limit) };
  }

  orders(q: { account?: string; state?: OrderState[]; rebalanceId?: number; live?: boolean; limit: number }): { count: number; orders: OrderIntent[] } {
    const states = q.live ? LIVE_STATES : q.state;
    const rows: OrderIntent[] = this.#o.journal.intents({
      ...(q.account ? { account: q.account } : {}),
      ...(states ? { states } : {}),
      ...(q.rebalanceId !== undefined ? { rebalanceId: q.rebalanceId } : {}),
    });
    rows.sort((a, b) => b.createdAt - a.createdAt || b.rebalanceId - a.rebalanceId || b.leg - a.leg || b.slice - a.slice || b.attempt - a.attempt);
    return { count: rows.length, orders: rows.slice(0, q.limit) };
  }

  fills(q: { account?: string; symbol?: string; since?: number; external?: boolean; limit: number }): { count: number; fills: FillRecord[] } {
    const rows: FillRecord[] = this.#o.journal.fills({
      ...(q.account ? { account: q.account } : {}),
      ...(q.symbol ? { symbol: q.symbol } : {}),
      ...(q.since !== undefined ? { since: q.since } : {}),
      ...(q.external !== undefined ? { external: q.external } : {}),
    });
    return { count: rows.length, fills: rows.slice(-q.limit).reverse() };
  }

  /**
   * The newest `limit` events of the types (newest first), each type's ids read from the (type, id) index,
   * then only the page's rows; `beforeId` pages back. `nextBefore`: the id to pass as `before` for the next
   * page (null on the oldest page). `journalJson`: the same as JSON text, kept while it cannot change (the
   * newest page until the journal changes; an older page for good, in a cache of 64 pages).
   */
  journalJson(q: JournalQuery): CachedAnswer {
    // A page below `beforeId` never changes (events are only appended); the newest page changes with the journal.
    const version = q.beforeId !== undefined ? '*' : this.version();
    const key = JSON.stringify(q);
    const hit = this.#journalCache.get(key);
    if (hit && hit.version === version) {
      hit.answer.hits++;
      return hit.answer;
    }
    const answer = { json: JSON.stringify(scrub(this.journal(q))), hits: 0 };
    this.#journalCache.delete(key);
    if (this.#journalCache.size >= 64) this.#journalCache.delete(this.#journalCache.keys().next().value!);
    this.#journalCache.set(key, { version, answer });
    return answer;
  }

  journal(q: JournalQuery): { events: JournalEventView[]; nextBefore: number | null } {
    const j = this.#o.journal;
    const types = q.types ?? DEFAULT_JOURNAL_TYPES;
    // One more than the page: whether an older page exists.
    const rows = j
      .events({ types, ...(q.account ? { account: q.account } : {}), ...(q.since !== undefined ? { since: q.since } : {}), ...(q.beforeId !== undefined ? { beforeId: q.beforeId } : {}), limit: q.limit + 1 })
      .reverse();
    const more = rows.length > q.limit;
    rows.splice(q.limit);
    // Scrub before summarizing: a summary may cut a text short, and a cut secret would escape the scrubbing.
    const events = rows.map((e) => {
      const clean = { ...e, payload: scrub(e.payload) };
      return { ...clean, summary: summarizeEvent(clean) };
    });
    const last = rows[rows.length - 1];
    return { events, nextBefore: last && more ? last.id : null };
  }

  /** Counters and gauges for /metrics. */
  metrics(): { alerts: number; orders: number; liveOrders: number; fills: number; hedgesOpen: number; fundingTotal: number } {
    const t = this.#o.journal.totals(LIVE_STATES);
    return { alerts: this.#alerts, orders: t.intents, liveOrders: t.liveIntents, fills: t.fills, hedgesOpen: t.openHedges, fundingTotal: t.fundingNet };
  }
}

/** A chart's fraction: 9 decimals (a billionth of a weight; the rest is float noise on a chart). */
function fraction9(x: number | undefined): number | null {
  if (x === undefined) return null;
  const r = Math.round(x * 1e9) / 1e9;
  return Object.is(r, -0) ? 0 : r;
}

function money8(x: number | undefined): number | null {
  return x === undefined ? null : moneyOut(x);
}

/** Indexes of at most `max` of `n` items, evenly spread, always with the last. */
function thinned(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, k) => k);
  const stride = n / max;
  const out: number[] = [];
  for (let k = 0; k < max - 1; k++) out.push(Math.floor(k * stride));
  out.push(n - 1);
  return out;
}

/** Journal event types shown by default (snapshots and lock heartbeats are left out: they are many and dull). */
export const DEFAULT_JOURNAL_TYPES: EventType[] = ['decision', 'command', 'state', 'alert', 'order', 'fill', 'funding', 'hedge', 'reconcile', 'execution'];
export const EVENT_TYPES: EventType[] = ['snapshot', 'decision', 'order', 'fill', 'funding', 'state', 'command', 'alert', 'reconcile', 'hedge', 'execution', 'lock'];

function n(x: unknown, d = 6): string {
  return typeof x === 'number' && Number.isFinite(x) ? String(Number(x.toFixed(d))) : String(x);
}

/** One line a person can read, per journal event. */
export function summarizeEvent(e: JournalEvent): string {
  const p = (e.payload ?? {}) as Record<string, unknown>;
  switch (e.type) {
    case 'decision': {
      const acts = Array.isArray(p.actions) ? p.actions.length : 0;
      return `${p.status ?? '?'}${p.trigger ? `: ${p.trigger}` : ''}${p.reason ? `: ${p.reason}` : ''}${acts ? ` (${acts} action${acts > 1 ? 's' : ''})` : ''}`;
    }
    case 'command':
      return `${p.command ?? '?'} by ${p.by ?? '?'}${p.reason ? `: ${p.reason}` : ''}`;
    case 'state':
      if (p.service) return `service ${p.service}`;
      return `${p.from ?? '?'} → ${p.to ?? '?'}${p.by ? ` by ${p.by}` : ''}${p.reason ? `: ${p.reason}` : ''}`;
    case 'order':
      return `${p.clientOrderId ?? '?'}: ${p.from ?? 'new'} → ${p.to ?? '?'}${p.reason ? ` (${p.reason})` : ''}`;
    case 'fill': {
      return `${p.side ?? '?'} ${n(p.amount)} ${p.symbol ?? '?'} @ ${n(p.price, 8)}${p.liquidation ? ' LIQUIDATION' : ''}${p.external ? ' (external)' : ''}`;
    }
    case 'funding':
      return `${p.symbol ?? '?'} ${n(p.amount, 4)} ${p.currency ?? ''} (rate ${n(p.rate, 8)})`;
    case 'hedge':
      if (p.opened !== undefined) return `opened #${p.opened} ${p.class ?? ''} ${n(p.contracts)} ${p.symbol ?? ''} @ ${n(p.price, 8)}${p.reason ? `: ${p.reason}` : ''}`;
      if (p.closed !== undefined) return `closed #${p.closed} ${p.class ?? ''} ${p.symbol ?? ''}: realised PnL ${n(p.realisedPnl, 2)}, funding paid ${n(p.fundingPaid, 2)}, fees ${n(p.fees, 2)}${p.reason ? ` (${p.reason})` : ''}`;
      return JSON.stringify(p).slice(0, 200);
    case 'reconcile':
      if (p.baseline) return `baseline taken${p.note ? `: ${p.note}` : ''}`;
      return `reconciliation (${p.phase ?? '?'})${p.ok === false ? ': MISMATCH' : ': ok'}`;
    case 'execution':
      if (p.start) return `rebalance ${p.rebalanceId ?? '?'} started: ${Array.isArray(p.legs) ? p.legs.length : 0} leg(s)`;
      if (p.done) return `rebalance ${p.rebalanceId ?? '?'} ${p.status ?? 'done'}`;
      if (p.skipped || p.scaled) return `leg ${p.leg ?? '?'} ${p.skipped ? 'skipped' : 'scaled'}: ${p.reason ?? ''}`;
      return JSON.stringify(p).slice(0, 200);
    case 'alert':
      return Object.entries(p)
        .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join('; ')
        .slice(0, 300);
    default:
      return JSON.stringify(p).slice(0, 200);
  }
}
