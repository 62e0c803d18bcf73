/**
 * The long-running service: one cycle is
 *
 *   reconcile (at start, after every rebalance, and every `reconcileEveryMs`)
 *   → snapshot (SnapshotSource; each input stamped with its time)
 *   → plan (core `plan`; stale or future-dated inputs give status 'stale' and no orders)
 *   → pre-trade risk gate (src/execution/pretrade.ts: every order checked by rules of its own; one refusal
 *     sends nothing, and `risk.maxRefusals` refused plans in a row put trading in REDUCING)
 *   → journal the decision with its explanation and the gate's verdict
 *   → executor (intents committed before requests)
 *   → journal the outcome
 *
 * States: trading state ACTIVE / REDUCING / HALTED lives in the journal (kill switch: halt / reduceOnly /
 * resume, each journaled with who, when and why). The cycle status says what happened: 'traded',
 * 'nothing-to-do', 'not-due', 'stale', 'halted', 'paused' (venue unavailable: maintenance, network, bans —
 * the service stays up and replans from fresh data next cycle) or 'mismatch'.
 *
 * Failure rules: a JournalError anywhere HALTS the service (in memory if the journal cannot even record it)
 * and nothing more is sent; an unexplained reconciliation mismatch refuses the start (ReconcileMismatchError)
 * and halts a running service. One instance per account: `start()` takes each account's lock.
 */
import { plan as makePlan } from '../core/planner.js';
import { realise, type Lot, type TaxConfig } from '../core/lots.js';
import type { AccountLot, Plan, PlanContext, Portfolio, PretradeRefusal, PretradeRule, Snapshot, TradingState, Valuation } from '../core/types.js';
import { perpClasses, valuePortfolio, ValuationError } from '../core/valuation.js';
import type { Clock } from '../ports/clock.js';
import { ExchangeError } from '../ports/errors.js';
import type { Exchange } from '../ports/exchange.js';
import { JournalError, type FillRecord, type HedgeRecord, type Journal, type TradingStateRecord } from '../ports/journal.js';
import type { SnapshotSource } from '../ports/snapshot-source.js';
import { ensureHistory, historyPoint } from './history.js';
import type { CrashHook } from '../execution/crash.js';
import { Executor, executorConfigFromOrders, type ExecutionReport, type ExecutorConfig } from '../execution/executor.js';
import { ReconcileMismatchError, Reconciler, type ReconcileConfig, type ReconcileReport } from '../execution/reconcile.js';
import { guard, realSleep, type Sleep } from '../execution/retry.js';
import type { OrderTracker } from '../execution/tracker.js';
import { checkPlan, pretradeLimits, type PreviousFill } from '../execution/pretrade.js';

export interface ServiceOptions {
  portfolio: Portfolio;
  /** Pause between cycles of the loop. Default 60 s. */
  intervalMs?: number;
  /** Reconcile at least this often. Default 5 min. */
  reconcileEveryMs?: number;
  /** Executor settings; default: the portfolio's `orders` section, if any, then the executor defaults. */
  execution?: Partial<ExecutorConfig>;
  reconcile?: Partial<Omit<ReconcileConfig, 'clientIdPrefix'>>;
  /** Name used in the journal for the service's own actions. Default 'service'. */
  actor?: string;
}

export interface ServiceLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ServiceDeps {
  journal: Journal;
  /**
   * Exchange by account name (the snapshot's account names). Each is wrapped in a GuardedExchange unless it
   * already is one: pass the same guarded objects to the SnapshotSource so a key has one rate limiter.
   */
  venues: Record<string, Exchange>;
  source: SnapshotSource;
  clock: Clock;
  sleep?: Sleep;
  crash?: CrashHook;
  log?: ServiceLog;
  /** The planner (default: the core planner). Tests pass a faulty one to prove the pre-trade gate stops it. */
  planner?: (portfolio: Portfolio, snapshot: Snapshot, ctx: PlanContext) => Plan;
}

export type CycleStatus = 'traded' | 'nothing-to-do' | 'not-due' | 'stale' | 'halted' | 'paused' | 'mismatch' | 'refused';

export interface CycleReport {
  time: number;
  status: CycleStatus;
  reason: string;
  state: TradingState;
  plan?: Plan;
  execution?: ExecutionReport;
  reconcile?: ReconcileReport;
  rebalanceId?: number;
  /**
   * The portfolio after this cycle's fills (a traded cycle takes a second snapshot once its orders have run,
   * journaled as a `snapshot` event with `after: rebalanceId`). Absent when nothing was traded — the plan's
   * valuation is then the current state — or when the venue could not be read after trading.
   */
  after?: { time: number; valuation: Valuation; rebalanceId: number };
}

export type ServiceStatus = 'stopped' | 'running' | 'paused' | 'halted';

const REFUSALS_KEY = 'pretrade.refusalsInARow';

/** What the previous rebalance filled (its execution report, as journaled), for the gate's churn guard. */
function previousFills(summary: unknown): PreviousFill[] {
  const legs = (summary as { legs?: unknown } | null)?.legs;
  if (!Array.isArray(legs)) return [];
  const out: PreviousFill[] = [];
  for (const l of legs as Partial<{ account: string; symbol: string; side: string; filled: number }>[]) {
    if (typeof l.account === 'string' && typeof l.symbol === 'string' && (l.side === 'buy' || l.side === 'sell') && typeof l.filled === 'number' && l.filled > 0) {
      out.push({ account: l.account, symbol: l.symbol, side: l.side, amount: l.filled });
    }
  }
  return out;
}

const quietLog: ServiceLog = { info() {}, warn() {}, error() {} };

/**
 * Each position's opening time from the hedge journal (the venue does not say), so the planner's exit rules
 * (convert-on-schedule, convert-after) and the gross cap can judge its age. A position the journal does not
 * know (opened by hand) keeps an unknown age.
 */
export function withHedgeOpenTimes(snapshot: Snapshot, open: HedgeRecord[]): Snapshot {
  if (open.length === 0) return snapshot;
  const at = new Map(open.map((h) => [`${h.account}\u0000${h.symbol}`, h.openedAt]));
  return {
    ...snapshot,
    accounts: snapshot.accounts.map((a) => ({
      ...a,
      positions: a.positions.map((p) => {
        const t = p.openedAt ?? at.get(`${a.name}\u0000${p.symbol}`);
        return t === undefined ? p : { ...p, openedAt: t };
      }),
    })),
  };
}

/**
 * With `tax:`, each account's spot lots from the journal's fills (the venue does not say): a buy is a lot
 * at (cost + fee) / amount, a sell realises lots under `tax.method`. Where the lots of an asset exceed its
 * balance (coins that left outside the journal), the excess is taken out by the same method; where they
 * fall short (coins from before the journal), the rest has no lot and the planner reports it as sold
 * without lots (unknown cost basis). A snapshot that already carries lots keeps them.
 */
export function withJournalLots(snapshot: Snapshot, fills: readonly FillRecord[], tax: TaxConfig, quote: string): Snapshot {
  const book = new Map<string, Map<string, Lot[]>>();
  for (const f of [...fills].sort((a, b) => a.time - b.time)) {
    if (f.symbol.includes(':') || f.amount <= 0) continue;
    const asset = f.symbol.split('/')[0]!;
    const fee = f.feeCurrency === quote ? f.fee : f.feeCurrency === asset ? f.fee * f.price : 0;
    const byAsset = book.get(f.account) ?? new Map<string, Lot[]>();
    book.set(f.account, byAsset);
    const lots = byAsset.get(asset) ?? [];
    if (f.side === 'buy') byAsset.set(asset, [...lots, { acquired: f.time, qty: f.amount, unitCost: (f.cost + fee) / f.amount }]);
    else byAsset.set(asset, realise(lots, f.amount, (f.cost - fee) / f.amount, f.time, tax).remaining);
  }
  return {
    ...snapshot,
    accounts: snapshot.accounts.map((a) => {
      if (a.lots) return a;
      const byAsset = book.get(a.name);
      if (!byAsset) return a;
      const lots: AccountLot[] = [];
      for (const [asset, ls] of [...byAsset].sort((x, y) => x[0].localeCompare(y[0]))) {
        const bal = a.balances[asset] ?? 0;
        const held = ls.reduce((s, l) => s + l.qty, 0);
        const kept = held > bal ? realise(ls, held - bal, 0, snapshot.time, tax).remaining : ls;
        for (const l of kept) lots.push({ asset, acquired: l.acquired, qty: l.qty, unitCost: l.unitCost });
      }
      return { ...a, lots };
    }),
  };
}

/** Short, JSON-safe summary of a snapshot for the journal (`extra`: what the service knows about it). */
export function summarize(s: Snapshot, extra: Record<string, unknown> = {}): unknown {
  const ts = Object.values(s.timestamps ?? {});
  return {
    ...extra,
    time: s.time,
    prices: s.prices,
    marks: s.marks,
    funding: s.funding,
    accounts: s.accounts.map((a) => ({ name: a.name, balances: a.balances, positions: a.positions.map((p) => ({ symbol: p.symbol, contracts: p.contracts, entryPrice: p.entryPrice })) })),
    oldestInput: ts.length > 0 ? Math.min(...ts) : null,
    newestInput: ts.length > 0 ? Math.max(...ts) : null,
  };
}

export class Service {
  readonly config: ServiceOptions;
  readonly journal: Journal;
  readonly executor: Executor;
  readonly reconciler: Reconciler;
  readonly tracker: OrderTracker;
  readonly venues: Record<string, Exchange>;
  readonly #d: ServiceDeps;
  readonly #sleep: Sleep;
  readonly #log: ServiceLog;
  #status: ServiceStatus = 'stopped';
  /** Set when the journal failed: nothing may be sent any more. */
  #fatal: string | null = null;
  /** Who asked for a manual rebalance that the next cycle will carry out (null: none pending). */
  #forceNext: string | null = null;
  #reconciled = false;
  #lastReconcile = -Infinity;
  #reconcileDue = true;
  #running = false;
  #loop: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  #lastCycle: CycleReport | null = null;
  /** Pre-trade refusals since start, by rule (for /metrics). */
  readonly #refusals = new Map<PretradeRule, number>();

  constructor(config: ServiceOptions, deps: ServiceDeps) {
    this.config = config;
    this.#d = deps;
    this.journal = deps.journal;
    this.#sleep = deps.sleep ?? realSleep;
    this.#log = deps.log ?? quietLog;
    const accounts = Object.keys(deps.venues);
    if (accounts.length === 0) throw new Error('Service: at least one venue (account) is needed');
    this.venues = Object.fromEntries(accounts.map((a) => [a, guard(deps.venues[a]!, { clock: deps.clock, sleep: this.#sleep })]));
    const p = config.portfolio;
    const hedgeClassOf = (symbol: string): string | null => {
      const c = perpClasses(p, symbol);
      return c ? Object.keys(c).sort().join('+') : null;
    };
    const ex = { ...(p.orders ? executorConfigFromOrders(p.orders) : {}), priceCollar: pretradeLimits(p.risk).priceCollar, ...config.execution };
    this.executor = new Executor(
      {
        journal: deps.journal,
        venues: this.venues,
        clock: deps.clock,
        sleep: this.#sleep,
        ...(deps.crash ? { crash: deps.crash } : {}),
        hedgeClassOf,
        tradingState: () => this.#tradingState(),
        heartbeat: () => {
          for (const a of this.accounts) this.journal.heartbeat(a);
        },
      },
      ex,
    );
    this.tracker = this.executor.tracker;
    this.reconciler = new Reconciler(
      { journal: deps.journal, venues: this.venues, tracker: this.tracker, clock: deps.clock, sleep: this.#sleep },
      { quote: p.quote, ...config.reconcile, clientIdPrefix: this.tracker.config.clientIdPrefix },
    );
  }

  get status(): ServiceStatus {
    return this.#status;
  }

  get lastCycle(): CycleReport | null {
    return this.#lastCycle;
  }

  /** Pre-trade refusals since this process started, by rule. */
  get pretradeRefusals(): ReadonlyMap<PretradeRule, number> {
    return this.#refusals;
  }

  /** Plans refused in a row (kept in the journal, so a restart does not reset it). */
  get refusalsInARow(): number {
    return Number(this.journal.getMeta(REFUSALS_KEY) ?? '0') || 0;
  }

  get accounts(): string[] {
    return Object.keys(this.venues).sort();
  }

  #now(): number {
    return this.#d.clock.now();
  }

  #tradingState(): TradingState {
    if (this.#fatal) return 'HALTED';
    return this.journal.tradingState().state;
  }

  /** Trading state record (who/when/why). */
  state(): TradingStateRecord {
    if (this.#fatal) return { state: 'HALTED', by: 'service', at: this.#now(), reason: this.#fatal };
    return this.journal.tradingState();
  }

  // ================================================================== kill switch

  #command(state: TradingState, who: string, why: string, command: string): TradingStateRecord {
    const now = this.#now();
    const j = this.journal;
    const prev = j.tradingState();
    const rec: TradingStateRecord = { state, by: who, at: now, reason: why };
    j.transaction(() => {
      j.appendEvent({ time: now, type: 'command', payload: { command, by: who, reason: why } });
      j.setTradingState(rec);
      j.appendEvent({ time: now, type: 'state', payload: { from: prev.state, to: state, by: who, reason: why } });
    });
    this.#log.warn({ command, by: who, reason: why, from: prev.state, to: state }, `trading ${state}`);
    if (this.#status !== 'stopped') this.#status = state === 'HALTED' ? 'halted' : this.#status === 'halted' ? 'running' : this.#status;
    return rec;
  }

  /** Kill switch: no new orders (an order working now is cancelled at its next check). */
  halt(who: string, why: string): TradingStateRecord {
    return this.#command('HALTED', who, why, 'halt');
  }

  /** Only reduce-only legs may trade. */
  reduceOnly(who: string, why: string): TradingStateRecord {
    return this.#command('REDUCING', who, why, 'reduce-only');
  }

  resume(who: string, why: string): TradingStateRecord {
    return this.#command('ACTIVE', who, why, 'resume');
  }

  /**
   * "Rebalance now": the next cycle moves every class to target whatever the trigger mode says, through the
   * same sizing, cost and risk rules (stale data and HALTED still stop it). Journaled by the caller.
   */
  requestRebalance(who: string): void {
    this.#forceNext = who;
    this.#log.warn({ by: who }, 'manual rebalance requested for the next cycle');
  }

  /** A manual rebalance is waiting for the next cycle. */
  get rebalancePending(): boolean {
    return this.#forceNext !== null;
  }

  /** Operator: accept the venue's holdings as the journal's book after a mismatch was investigated. */
  async rebaseline(who: string, why: string): Promise<void> {
    for (const a of this.accounts) await this.reconciler.rebaseline(a, who, why);
    this.#reconcileDue = true;
  }

  // ================================================================== lifecycle

  /**
   * Take the account locks, then reconcile. Throws AccountLockedError (another instance runs) and
   * ReconcileMismatchError (refuses to start); a venue that is down leaves the service up and PAUSED, with the
   * reconciliation retried first thing next cycle. `loop: false` starts without the background loop (tests,
   * one-shot runs call runOnce).
   */
  async start(opts: { loop?: boolean } = {}): Promise<ReconcileReport | null> {
    const j = this.journal;
    const taken: string[] = [];
    try {
      for (const a of this.accounts) {
        j.acquireLock(a);
        taken.push(a);
      }
    } catch (e) {
      for (const a of taken) this.#tryRelease(a);
      throw e;
    }
    j.appendEvent({ time: this.#now(), type: 'state', payload: { service: 'started', accounts: this.accounts, trading: j.tradingState() } });
    // A journal written before the history table: value its snapshots once (src/service/history.ts).
    const backfilled = ensureHistory(j, this.config.portfolio, { onProgress: (n) => this.#log.info({ snapshots: n }, 'history: back-filling from journaled snapshots') });
    if (backfilled > 0) this.#log.info({ snapshots: backfilled }, 'history: back-fill done');
    // A rebalance still 'running' belonged to a process that died: its orders are settled by the reconciliation.
    for (const rb of j.rebalances({ status: 'running' })) j.finishRebalance(rb.id, 'crashed', this.#now(), { note: 'found running at start: the previous process died mid-rebalance' });
    let report: ReconcileReport | null = null;
    try {
      report = await this.#reconcile('start');
    } catch (e) {
      if (e instanceof ReconcileMismatchError) {
        for (const a of this.accounts) this.#tryRelease(a);
        throw e;
      }
      if (e instanceof JournalError) {
        this.#fail(e);
        throw e;
      }
      if (!(e instanceof ExchangeError)) throw e;
      this.#status = 'paused';
      this.#note('alert', { paused: `reconciliation at start failed: ${e.name}: ${e.message}; retrying next cycle` });
    }
    if (this.#status === 'stopped') this.#status = 'running';
    if (opts.loop ?? true) {
      this.#running = true;
      this.#loop = this.#runLoop();
    }
    return report;
  }

  async #runLoop(): Promise<void> {
    while (this.#running) {
      try {
        await this.runOnce();
      } catch (e) {
        this.#log.error({ err: e }, 'cycle failed');
        this.#note('alert', { cycleFailed: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
        this.#running = false;
        this.#status = 'halted';
        return;
      }
      if (!this.#running) break;
      await Promise.race([this.#sleep(this.config.intervalMs ?? 60_000), new Promise<void>((r) => (this.#wake = r))]);
      this.#wake = null;
      // Never starve the event loop, even with a virtual sleep that resolves at once.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  /** Stop the loop after the current cycle and release the locks. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    if (this.#loop) await this.#loop.catch(() => {});
    this.#loop = null;
    if (!this.#fatal) {
      this.#note('state', { service: 'stopped' });
      for (const a of this.accounts) this.#tryRelease(a);
    }
    this.#status = 'stopped';
  }

  #tryRelease(account: string): void {
    try {
      this.journal.releaseLock(account);
    } catch {
      // a broken journal keeps its lock row; its heartbeat goes stale
    }
  }

  #note(type: 'alert' | 'state' | 'execution', payload: unknown): void {
    if (this.#fatal) return;
    try {
      this.journal.appendEvent({ time: this.#now(), type, payload });
    } catch (e) {
      if (e instanceof JournalError) this.#fail(e);
    }
  }

  /** The journal failed: halt for good (this process). Try to leave a HALTED state behind. */
  #fail(e: JournalError): void {
    if (this.#fatal) return;
    this.#fatal = `journal failure (${e.kind}): ${e.message}`;
    this.#status = 'halted';
    this.#log.error({ err: e }, 'journal failure: halting');
    try {
      this.journal.setTradingState({ state: 'HALTED', by: 'service', at: this.#now(), reason: this.#fatal });
    } catch {
      // the journal is unusable; the in-memory halt holds
    }
  }

  async #reconcile(phase: 'start' | 'periodic'): Promise<ReconcileReport> {
    const report = await this.reconciler.reconcile(phase);
    this.#reconciled = true;
    this.#reconcileDue = false;
    this.#lastReconcile = this.#now();
    if (!report.ok && phase === 'start') throw new ReconcileMismatchError(report.mismatches);
    return report;
  }

  // ================================================================== one cycle

  async runOnce(): Promise<CycleReport> {
    const report = await this.#cycle();
    this.#lastCycle = report;
    if (report.status === 'paused') this.#status = 'paused';
    else if (report.status === 'halted' || report.status === 'mismatch') this.#status = 'halted';
    else if (this.#status !== 'stopped') this.#status = 'running';
    this.#log.info({ status: report.status, reason: report.reason, state: report.state }, 'cycle');
    return report;
  }

  async #cycle(): Promise<CycleReport> {
    const now = this.#now();
    const halted = (reason: string): CycleReport => ({ time: now, status: 'halted', reason, state: 'HALTED' });
    if (this.#fatal) return halted(this.#fatal);
    try {
      for (const a of this.accounts) this.journal.heartbeat(a);

      let reconcile: ReconcileReport | undefined;
      if (!this.#reconciled || this.#reconcileDue || now - this.#lastReconcile >= (this.config.reconcileEveryMs ?? 300_000)) {
        try {
          reconcile = await this.#reconcile(this.#reconciled ? 'periodic' : 'start');
        } catch (e) {
          if (e instanceof ReconcileMismatchError) {
            this.reconciler.escalate('HALTED', e.message, null);
            return { time: now, status: 'mismatch', reason: e.message, state: 'HALTED' };
          }
          if (e instanceof ExchangeError) return this.#paused(now, `reconciliation: ${e.name}: ${e.message}`);
          throw e;
        }
        if (!reconcile.ok) return { time: now, status: 'mismatch', reason: reconcile.mismatches.join('; '), state: this.#tradingState(), reconcile };
      }

      let snapshot: Snapshot;
      try {
        snapshot = await this.#d.source.take();
      } catch (e) {
        if (e instanceof ExchangeError) return this.#paused(now, `snapshot: ${e.name}: ${e.message}`, reconcile);
        throw e;
      }
      const last = this.journal.rebalances({ status: 'done', limit: 1 })[0];
      if (last && snapshot.lastRebalance === undefined) snapshot = { ...snapshot, lastRebalance: last.startedAt };
      snapshot = withHedgeOpenTimes(snapshot, this.journal.hedges({ open: true }));
      const tax = this.config.portfolio.tax;
      if (tax) snapshot = withJournalLots(snapshot, this.journal.fills(), tax, this.config.portfolio.quote);

      const state = this.#tradingState();
      let plan: Plan;
      try {
        const force = this.#forceNext !== null;
        this.#forceNext = null;
        plan = (this.#d.planner ?? makePlan)(this.config.portfolio, snapshot, { now: this.#now(), state, ...(force ? { force } : {}) });
        const valued = plan.valuation;
        this.journal.transaction(() => {
          const event = this.journal.appendEvent({ time: this.#now(), type: 'snapshot', payload: summarize(snapshot, { tpv: valued.tpv }) });
          this.journal.recordHistory(historyPoint(snapshot.time, snapshot.time, event, valued));
        });
      } catch (e) {
        if (e instanceof ValuationError) {
          this.journal.appendEvent({ time: this.#now(), type: 'snapshot', payload: summarize(snapshot) });
          const why = `cannot value the portfolio: ${e.message}`;
          if (state === 'HALTED') {
            this.journal.appendEvent({ time: this.#now(), type: 'decision', payload: { status: 'halted', reason: why, state } });
            return { time: now, status: 'halted', reason: `HALTED: ${this.journal.tradingState().reason}; ${why}`, state, ...(reconcile ? { reconcile } : {}) };
          }
          this.journal.appendEvent({ time: this.#now(), type: 'decision', payload: { status: 'paused', reason: why, state } });
          return this.#paused(now, why, reconcile);
        }
        throw e;
      }
      // The pre-trade gate: checks of its own on every order, before any intent is written.
      if (plan.status === 'ok') {
        // "The previous cycle": the last rebalance, if the last decision before this one started it.
        const prev = this.journal.rebalances({ limit: 1 })[0];
        const lastDecision = this.journal.events({ type: 'decision', limit: 1 })[0];
        const fills = prev && lastDecision && prev.decisionEvent === lastDecision.id ? previousFills(prev.summary) : [];
        plan = { ...plan, pretrade: checkPlan(this.config.portfolio, snapshot, plan, { previousFills: fills }) };
      }
      const decision = this.journal.appendEvent({
        time: this.#now(),
        type: 'decision',
        payload: {
          status: plan.status,
          trigger: plan.trigger,
          explanation: plan.explanation,
          actions: plan.actions,
          rejected: plan.rejected,
          risk: plan.risk,
          tpv: plan.valuation.tpv,
          state,
          ...(plan.pretrade ? { pretrade: plan.pretrade } : {}),
        },
      });
      const base = { time: now, plan, state, ...(reconcile ? { reconcile } : {}) };
      if (plan.pretrade && !plan.pretrade.ok) return this.#refused(base, plan.pretrade.refusals);
      if (plan.status === 'stale') return { ...base, status: 'stale', reason: `STALE: ${plan.explanation.find((l) => l.startsWith('STALE')) ?? 'stale inputs'}` };
      if (plan.status === 'halted') return { ...base, status: 'halted', reason: 'HALTED: trading is halted (kill switch)' };
      if (plan.status === 'not-due') return { ...base, status: 'not-due', reason: plan.trigger };
      if (plan.status !== 'ok') return { ...base, status: 'nothing-to-do', reason: plan.trigger };

      if (plan.pretrade && this.refusalsInARow > 0) this.journal.setMeta(REFUSALS_KEY, '0');
      const rebalanceId = this.journal.createRebalance({ time: this.#now(), trigger: plan.trigger, decisionEvent: decision });
      const execution = await this.executor.execute(plan, rebalanceId);
      const rbStatus = execution.status === 'done' ? 'done' : execution.status === 'paused' ? 'paused' : execution.status === 'halted' ? 'halted' : 'partial';
      this.journal.finishRebalance(rebalanceId, rbStatus, this.#now(), execution);
      this.#reconcileDue = true;
      const after = await this.#afterTrades(rebalanceId, snapshot.time);
      const withAfter = after ? { after } : {};
      if (execution.status === 'paused') return { ...base, status: 'paused', reason: execution.reasons.join('; ') || 'venue unavailable', execution, rebalanceId, ...withAfter };
      return { ...base, status: 'traded', reason: `${plan.trigger}: ${execution.status}`, execution, rebalanceId, ...withAfter };
    } catch (e) {
      if (e instanceof JournalError) {
        this.#fail(e);
        return halted(this.#fatal!);
      }
      throw e;
    }
  }

  /**
   * The gate refused the plan: nothing is sent. Journaled as an alert with every rule and its numbers;
   * `risk.maxRefusals` refusals in a row put trading in REDUCING (only reduce-only legs may trade).
   */
  #refused(base: Omit<CycleReport, 'status' | 'reason'>, refusals: PretradeRefusal[]): CycleReport {
    for (const r of refusals) this.#refusals.set(r.rule, (this.#refusals.get(r.rule) ?? 0) + 1);
    const inARow = this.refusalsInARow + 1;
    const limit = pretradeLimits(this.config.portfolio.risk).maxRefusals;
    const rules = [...new Set(refusals.map((r) => r.rule))].join(', ');
    this.journal.transaction(() => {
      this.journal.setMeta(REFUSALS_KEY, String(inARow));
      this.journal.appendEvent({ time: this.#now(), type: 'alert', payload: { pretradeRefused: refusals, inARow, limit } });
    });
    this.#log.warn({ refusals: refusals.map((r) => `[${r.rule}] ${r.message}`), inARow }, 'pre-trade gate refused the plan; nothing sent');
    let state = base.state;
    if (inARow >= limit && this.#tradingState() === 'ACTIVE') {
      this.#command('REDUCING', 'risk-gate', `${inARow} plans in a row refused by the pre-trade gate (last: ${rules})`, 'reduce-only');
      state = 'REDUCING';
    }
    return { ...base, state, status: 'refused', reason: `pre-trade gate refused the plan (${rules}): ${refusals[0]!.message}` };
  }

  /**
   * The state after a rebalance's fills: a second snapshot, journaled (`after: rebalanceId`, with its TPV) so
   * that the API, the dashboard and `ballast journal` show the positions the venue holds now, not the ones
   * the plan started from. A venue that cannot be read now leaves the next cycle's snapshot to say it.
   */
  async #afterTrades(rebalanceId: number, cycle: number): Promise<CycleReport['after']> {
    let snapshot: Snapshot;
    try {
      snapshot = await this.#d.source.take();
    } catch (e) {
      if (e instanceof ExchangeError) {
        this.#note('alert', { afterTrades: `could not read the venue after rebalance ${rebalanceId}: ${e.name}: ${e.message}` });
        return undefined;
      }
      throw e;
    }
    let valuation: Valuation | null = null;
    try {
      valuation = valuePortfolio(this.config.portfolio, snapshot);
    } catch (e) {
      if (!(e instanceof ValuationError)) throw e;
    }
    this.journal.transaction(() => {
      const event = this.journal.appendEvent({ time: this.#now(), type: 'snapshot', payload: summarize(snapshot, { after: rebalanceId, ...(valuation ? { tpv: valuation.tpv } : {}) }) });
      if (valuation) this.journal.recordHistory(historyPoint(cycle, snapshot.time, event, valuation));
    });
    return valuation ? { time: snapshot.time, valuation, rebalanceId } : undefined;
  }

  #paused(now: number, reason: string, reconcile?: ReconcileReport): CycleReport {
    this.#note('alert', { paused: reason });
    this.#reconcileDue = true;
    return { time: now, status: 'paused', reason, state: this.#fatal ? 'HALTED' : this.#tradingStateSafe(), ...(reconcile ? { reconcile } : {}) };
  }

  #tradingStateSafe(): TradingState {
    try {
      return this.#tradingState();
    } catch {
      return 'HALTED';
    }
  }
}
