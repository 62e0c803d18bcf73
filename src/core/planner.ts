/**
 * The planner: from a portfolio, a snapshot and a context to an explained plan. Pure.
 *
 *   value → check bands → decide what each class must move (adjustments) → choose spot / futures / wait
 *   per adjustment by the cost model and the risk limits → round at the order boundary → order legs
 *   (reduce-only futures first, then spot sells, new futures, spot buys).
 *
 * Every action carries its arithmetic in `reason`; every alternative not taken is in `rejected` with why.
 */
import { bandHalfWidth, breachOf, destinationWeight } from './bands.js';
import { estimateBeta } from './beta.js';
import { fundingCostApr, futuresCost, spotCost } from './costs.js';
import { marginRatioText, money, num, pct } from './format.js';
import {
  accountLeverage,
  liquidationPrice,
  marginUsed,
  SPEND_BUFFER,
  marginAvailable,
  marginRatio,
  withTrade,
  type MarginAccount,
} from './margin.js';
import { floorToStep } from './rounding.js';
import { gainsOf, longTermFrom, realise, taxOn, type Lot, type LotSale } from './lots.js';
import { instrumentOf, NOISE } from './rebalance.js';
import { isRebalanceDue, nextPeriodStart } from './schedule.js';
import type {
  Action,
  ActionLot,
  ActionPurpose,
  AssetClass,
  FundingRate,
  ClassValuation,
  Plan,
  PlanContext,
  PlanTax,
  Portfolio,
  PositionValuation,
  Rejection,
  RiskSummary,
  Snapshot,
  Valuation,
} from './types.js';
import { marketRules, priceOf, ValuationError, valuePortfolio } from './valuation.js';


interface Adjustment {
  cls: AssetClass;
  row: ClassValuation;
  /** Desired change of the class's net exposure, in quote (positive = add exposure). */
  delta: number;
  /** Plain-language arithmetic of why and how much. */
  why: string;
  /** Futures may not be used for this class in this plan (e.g. its hedge was cut for funding). */
  noFutures?: string;
  /** Spot value of this adjustment that converts a closed hedge (its legs are tagged convert-spot). */
  conversion?: number;
  /** A strategy's own futures leg (beta-neutral): not subject to the inner-band and direction rules. */
  strategyLeg?: boolean;
}

interface PendingBuy {
  cls: AssetClass;
  asset: string;
  value: number;
  why: string;
  share: string;
  purpose: ActionPurpose;
}

/** Mutable working state of one planning pass. */
class Work {
  readonly actions: Action[] = [];
  readonly rejected: Rejection[] = [];
  readonly explanation: string[] = [];
  readonly pendingBuys: PendingBuy[] = [];
  /** Spot balances per account, updated as sells are planned. */
  readonly balances = new Map<string, Record<string, number>>();
  /** Futures accounts (margin model), updated as futures legs are planned. */
  readonly margin = new Map<string, MarginAccount>();
  marginRequired = 0;
  readonly accounts: string[];
  /** Tax lots by account and asset (only with `tax:`), updated as sells are planned. */
  readonly lots = new Map<string, Map<string, Lot[]>>();
  readonly taxTotals: PlanTax = { shortTermGain: 0, longTermGain: 0, tax: 0, uncovered: {} };

  constructor(
    readonly portfolio: Portfolio,
    readonly snapshot: Snapshot,
    readonly valuation: Valuation,
    readonly ctx: PlanContext,
  ) {
    this.accounts = snapshot.accounts.map((a) => a.name).sort();
    for (const a of snapshot.accounts) this.balances.set(a.name, { ...a.balances });
    for (const name of this.accounts) this.margin.set(name, marginAccountOf(portfolio, snapshot, valuation, name));
    if (portfolio.tax) {
      for (const a of snapshot.accounts) {
        const byAsset = new Map<string, Lot[]>();
        for (const l of a.lots ?? []) {
          const list = byAsset.get(l.asset) ?? [];
          list.push({ acquired: l.acquired, qty: l.qty, unitCost: l.unitCost });
          byAsset.set(l.asset, list);
        }
        this.lots.set(a.name, byAsset);
      }
    }
  }

  get tpv(): number {
    return this.valuation.tpv;
  }

  get fmt() {
    const q = this.portfolio.quote;
    return (x: number) => money(x, q);
  }
}

export function marginAccountOf(portfolio: Portfolio, snapshot: Snapshot, valuation: Valuation, name: string): MarginAccount {
  const account = snapshot.accounts.find((a) => a.name === name)!;
  const positions = valuation.positions
    .filter((p) => p.account === name)
    .map((p) => ({
      symbol: p.symbol,
      qty: p.contracts * p.contractSize,
      entryPrice: p.entryPrice,
      mark: p.mark,
      mmr: marketRules(snapshot, p.symbol).maintenanceMarginRate,
      leverage: p.leverage,
      isolated: p.marginMode === 'isolated',
      isolatedMargin: p.marginMode === 'isolated' ? p.initialMargin : 0,
    }));
  return { name, wallet: account.balances[portfolio.quote] ?? 0, positions };
}

// ------------------------------------------------------------------------------------------ entry

export function plan(portfolio: Portfolio, snapshot: Snapshot, ctx: PlanContext): Plan {
  const valuation = valuePortfolio(portfolio, snapshot);
  const w = new Work(portfolio, snapshot, valuation, ctx);
  explainValuation(w);

  const stale = staleInputs(portfolio, snapshot, ctx.now);
  if (stale.length > 0) {
    w.explanation.push(`STALE: ${stale.join('; ')}. No orders are planned on stale data.`);
    return finish(w, 'stale', 'stale data');
  }
  if (ctx.state === 'HALTED') {
    w.explanation.push('HALTED: trading is halted (kill switch); no orders are planned.');
    return finish(w, 'halted', 'halted');
  }

  const strategy = portfolio.strategy;
  let trigger: string;
  if (strategy.type === 'beta-neutral') {
    trigger = planBetaNeutral(w, strategy);
  } else {
    const decided = decideAdjustments(w);
    trigger = decided.trigger;
    if (decided.notDue) {
      w.explanation.push(decided.trigger);
      return finish(w, 'not-due', trigger);
    }
    for (const adj of decided.adjustments) executeAdjustment(w, adj);
    settleBuys(w);
  }

  if (ctx.state === 'REDUCING') {
    const kept: Action[] = [];
    for (const a of w.actions) {
      if (a.type === 'wait' || (a.type === 'futures' && a.reduceOnly)) kept.push(a);
      else w.rejected.push({ class: a.class, alternative: 'order', symbol: a.symbol, reason: `REDUCING: only reduce-only legs are allowed; dropped ${a.side} ${num(a.amount)} ${a.symbol}` });
    }
    w.actions.splice(0, w.actions.length, ...kept);
  }
  orderLegs(w.actions);
  const status = w.actions.some((a) => a.type !== 'wait') ? 'ok' : 'nothing-to-do';
  return finish(w, status, trigger);
}

function finish(w: Work, status: Plan['status'], trigger: string): Plan {
  return {
    time: w.snapshot.time,
    status,
    valuation: w.valuation,
    trigger,
    actions: status === 'ok' || status === 'nothing-to-do' ? w.actions : [],
    rejected: w.rejected,
    risk: riskSummary(w),
    ...(w.portfolio.tax ? { tax: { ...w.taxTotals, tax: taxOn({ shortTerm: w.taxTotals.shortTermGain, longTerm: w.taxTotals.longTermGain }, w.portfolio.tax) } } : {}),
    explanation: w.explanation,
  };
}

/** Inputs older than maxDataAgeMs, or from the future, relative to `now`. */
export function staleInputs(portfolio: Portfolio, snapshot: Snapshot, now: number): string[] {
  const max = portfolio.risk.maxDataAgeMs;
  const out: string[] = [];
  const check = (what: string, t: number) => {
    if (t > now + 5_000) out.push(`${what} is dated ${new Date(t).toISOString()}, in the future of ${new Date(now).toISOString()}`);
    else if (now - t > max) out.push(`${what} is ${Math.round((now - t) / 1000)} s old (limit ${Math.round(max / 1000)} s)`);
  };
  check('snapshot', snapshot.time);
  for (const [k, t] of Object.entries(snapshot.timestamps ?? {}).sort()) check(k, t);
  return out;
}

// ------------------------------------------------------------------------------------------ explain

function explainValuation(w: Work): void {
  const v = w.valuation;
  const f = w.fmt;
  const upnl = v.unrealizedPnl !== 0 ? ` + unrealised futures PnL ${f(v.unrealizedPnl)}` : '';
  w.explanation.push(`TPV = spot value ${f(v.spotValue)}${upnl} = ${f(v.tpv)} (futures notional is exposure, not equity).`);
  for (const c of v.classes) {
    const parts = c.cash
      ? `effective cash = TPV − other classes' net = ${f(c.net)}`
      : `net ${f(c.net)} = spot ${f(c.spot)} + futures ${f(c.futures)}`;
    const state = c.breach === 'upper' ? `ABOVE upper trigger ${pct(c.upper)}` : c.breach === 'lower' ? `BELOW lower trigger ${pct(c.lower)}` : `inside ${pct(c.lower)}–${pct(c.upper)}`;
    w.explanation.push(`${c.name}: ${parts}; weight ${pct(c.weight)} (target ${pct(c.target)}), ${state}.`);
    const weights = w.portfolio.classes.find((x) => x.name === c.name)?.weights;
    if (weights && c.spot > 0) {
      const shares = Object.entries(weights).map(([a, t]) => `${a} ${pct((v.assetValues[a] ?? 0) / c.spot)} (weight ${pct(t)})`);
      w.explanation.push(`${c.name} inside the class: ${shares.join(', ')}.`);
    }
  }
}

// ------------------------------------------------------------------------------------------ triggers

function decideAdjustments(w: Work): { adjustments: Adjustment[]; trigger: string; notDue: boolean } {
  const { portfolio, valuation, snapshot, ctx } = w;
  const f = w.fmt;
  const tpv = valuation.tpv;
  const rows = valuation.classes;
  const breached = rows.filter((r) => r.breach !== null);
  const mode = portfolio.rebalance.mode;
  const due = mode === 'threshold' ? false : isRebalanceDue(portfolio.rebalance.schedule, snapshot.lastRebalance, ctx.now);
  const cashIdx = portfolio.classes.findIndex((c) => c.cash);

  let act: boolean;
  let trigger: string;
  if (mode === 'threshold') {
    act = breached.length > 0;
    trigger = act ? `threshold: ${breached.map((r) => `${r.name} ${r.breach}`).join(', ')}` : 'threshold: every class inside its band';
  } else if (mode === 'calendar') {
    act = due;
    trigger = due ? `calendar: ${portfolio.rebalance.schedule} rebalance due` : `calendar: next ${portfolio.rebalance.schedule} rebalance not due yet`;
  } else {
    act = due && breached.length > 0;
    trigger = !due
      ? `hybrid: ${portfolio.rebalance.schedule} check not due yet`
      : breached.length > 0
        ? `hybrid: ${portfolio.rebalance.schedule} check due and ${breached.map((r) => `${r.name} ${r.breach}`).join(', ')}`
        : `hybrid: ${portfolio.rebalance.schedule} check due; every class inside its band`;
  }
  if (ctx.force === true) {
    act = true;
    trigger = 'manual: rebalance requested; every class moves to target';
  }

  const adjustments = new Map<string, Adjustment>();
  const classOf = (name: string) => portfolio.classes.find((c) => c.name === name)!;
  const allToTarget = (reason: string) => {
    for (const r of rows) {
      if (r.cash) continue;
      const delta = (r.target - r.weight) * tpv;
      if (Math.abs(delta) <= NOISE * tpv) continue;
      adjustments.set(r.name, {
        cls: classOf(r.name),
        row: r,
        delta,
        why: `${reason}: ${r.name} is ${pct(r.weight)} of ${f(tpv)}; to target ${pct(r.target)} ${delta < 0 ? 'reduce' : 'add'} ${f(Math.abs(delta))}`,
      });
    }
  };

  if (act) {
    if (ctx.force === true) {
      allToTarget('manual rebalance');
    } else if (mode === 'calendar') {
      allToTarget('calendar rebalance');
    } else if (portfolio.rebalance.scope === 'all' || cashIdx < 0) {
      allToTarget(cashIdx < 0 ? 'no cash class, so every class moves to target' : 'scope all');
    } else {
      let cashAfter = rows[cashIdx]!.net;
      for (const r of breached) {
        if (r.cash) continue;
        const dest = destinationWeight(portfolio.rebalance.to, r.target, r.lower, r.upper, r.breach);
        const delta = (dest - r.weight) * tpv;
        cashAfter -= delta;
        const edge = r.breach === 'upper' ? `> upper trigger ${pct(r.upper)}` : `< lower trigger ${pct(r.lower)}`;
        const destName = portfolio.rebalance.to === 'target' ? 'target' : portfolio.rebalance.to === 'band-edge' ? 'band edge' : 'halfway to target';
        adjustments.set(r.name, {
          cls: classOf(r.name),
          row: r,
          delta,
          why: `${r.name} is ${pct(r.weight)} of ${f(tpv)} ${edge}; to ${destName} ${pct(dest)} ${delta < 0 ? 'reduce' : 'add'} ${f(Math.abs(delta))}`,
        });
      }
      const cash = rows[cashIdx]!;
      const cashWeightAfter = cashAfter / tpv;
      if (cashWeightAfter > cash.upper + 1e-9 || cashWeightAfter < cash.lower - 1e-9) {
        adjustments.clear();
        w.explanation.push(
          `${cash.name} (cash) would be ${pct(cashWeightAfter)} after moving the breached classes, outside ${pct(cash.lower)}–${pct(cash.upper)}: every class moves to target.`,
        );
        allToTarget('cash outside its band');
      }
    }
  }

  maintainHedges(w, adjustments);
  const list = portfolio.classes.map((c) => adjustments.get(c.name)).filter((a): a is Adjustment => a !== undefined);
  const hedgeActions = w.actions.length > 0;
  return { adjustments: list, trigger, notDue: !act && list.length === 0 && !hedgeActions && mode !== 'threshold' };
}

/**
 * Hedge maintenance runs whatever the trigger, in this order, each hedge at most once:
 *   1. cut for margin risk (the account would not survive `risk.stressMove`) or the funding budget;
 *   2. convert under the exit rule (`hedges.exit`): close it and move the class by spot instead;
 *   3. the gross cap (`hedges.maxGross` of TPV): convert the oldest hedges until the rest fit;
 *   4. unwind (hysteresis): a class with no adjustment in this plan whose spot weight is back inside its
 *      inner band (target ± unwindInside × half-width) has its hedge closed — only if that keeps the cash
 *      class (and so every class) inside its band.
 * Cuts and conversions keep the class's net exposure (the spot trade replaces the hedge); an unwind moves
 * the class to its spot weight, which is inside its band.
 */
function maintainHedges(w: Work, adjustments: Map<string, Adjustment>): void {
  const { portfolio, valuation, snapshot, ctx } = w;
  const f = w.fmt;
  const hc = portfolio.hedges;
  const rows = valuation.classes;
  const classOf = (name: string) => portfolio.classes.find((c) => c.name === name)!;
  const accountStress = new Map(w.accounts.map((n) => [n, marginRatio(w.margin.get(n)!, portfolio.risk.stressMove).stressed]));
  const closed = new Set<PositionValuation>();
  const close = (r: ClassValuation, h: PositionValuation, purpose: ActionPurpose, why: string) => {
    const cls = classOf(r.name);
    const existing = adjustments.get(r.name);
    const base = existing ?? { cls, row: r, delta: 0, why: `${r.name} keeps its net exposure ${f(r.net)}` };
    pushClose(w, h, why, purpose);
    closed.add(h);
    // Closing the hedge moves net exposure by −notional; spot makes up for it.
    adjustments.set(r.name, {
      ...base,
      delta: base.delta + h.notional,
      noFutures: why,
      conversion: (base.conversion ?? 0) + Math.abs(h.notional),
      why: `${base.why}; after closing the hedge, spot must move ${f(h.notional)}`,
    });
  };
  const hedged: { r: ClassValuation; h: PositionValuation }[] = [];
  for (const r of rows) {
    if (r.cash) continue;
    for (const h of hedgesOf(w, classOf(r.name))) hedged.push({ r, h });
  }
  // 1–2. Cuts and exit-rule conversions.
  for (const { r, h } of hedged) {
    const side = h.notional < 0 ? -1 : 1;
    const sideWord = side < 0 ? 'short' : 'long';
    const funding = snapshot.funding[h.symbol];
    const stressed = accountStress.get(h.account)!;
    if (stressed >= 1) {
      close(r, h, 'hedge-cut-margin', `margin risk: after a ${pct(portfolio.risk.stressMove, 0)} adverse move ${h.account}'s maintenance margin would exceed its equity (${marginRatioText(stressed)}): close the ${sideWord} hedge ${h.symbol} and move the exposure by spot instead`);
      continue;
    }
    const apr = fundingCostApr(side, funding);
    if (funding && apr > portfolio.risk.maxFundingApr) {
      close(r, h, 'hedge-cut-funding', `the ${sideWord} hedge ${h.symbol} pays funding at ${pct(apr)} a year > budget ${pct(portfolio.risk.maxFundingApr)}: close it and move the exposure by spot instead`);
      continue;
    }
    const conv = conversionDue(w, h);
    if (conv) close(r, h, 'hedge-convert', `exit rule: ${conv}: convert the ${sideWord} hedge ${h.symbol} into a spot trade`);
  }
  // 3. Gross cap: oldest first (a hedge of unknown age counts as the oldest).
  const open = hedged.filter((x) => !closed.has(x.h));
  let gross = open.reduce((s, x) => s + Math.abs(x.h.notional), 0);
  const cap = hc.maxGross * w.tpv;
  if (gross > cap + 1e-9) {
    const byAge = [...open].sort((a, b) => (a.h.openedAt ?? -Infinity) - (b.h.openedAt ?? -Infinity));
    for (const { r, h } of byAge) {
      if (gross <= cap + 1e-9) break;
      close(r, h, 'hedge-cut-cap', `gross cap: open hedges total ${f(gross)} > ${pct(hc.maxGross)} of TPV = ${f(cap)}: convert the oldest, ${h.symbol} (${f(Math.abs(h.notional))})`);
      gross -= Math.abs(h.notional);
    }
  }
  // 4. Unwind with hysteresis, keeping the cash class inside its band.
  const cashRow = rows.find((r) => r.cash);
  let cashAfter = cashRow ? cashRow.net : 0;
  for (const a of adjustments.values()) cashAfter -= a.delta;
  for (const { r, h } of hedged) {
    if (closed.has(h) || adjustments.has(r.name) || r.breach !== null || ctx.force === true) continue;
    const spotWeight = r.spot / w.tpv;
    const inner = innerBand(r, classOf(r.name), hc.unwindInside);
    if (breachOf(spotWeight, inner.lower, inner.upper) !== null) continue;
    const sideWord = h.notional < 0 ? 'short' : 'long';
    // Closing moves the class to its spot weight and the cash class by +notional.
    const cashNext = cashAfter + h.notional;
    if (cashRow) {
      const cw = cashNext / w.tpv;
      if (breachOf(cw, cashRow.lower, cashRow.upper) !== null) {
        w.explanation.push(`${r.name} is back inside its inner band on a spot basis (${pct(spotWeight)} within ${pct(inner.lower)}–${pct(inner.upper)}), but unwinding the ${sideWord} hedge ${h.symbol} would put ${cashRow.name} at ${pct(cw)}, outside ${pct(cashRow.lower)}–${pct(cashRow.upper)}: the hedge stays.`);
        continue;
      }
    }
    cashAfter = cashNext;
    pushClose(w, h, `${r.name} is back inside its inner band on a spot basis (${pct(spotWeight)} within ${pct(inner.lower)}–${pct(inner.upper)}, ${pct(hc.unwindInside, 0)} of the band around the target): unwind the ${sideWord} hedge ${h.symbol}`, 'hedge-unwind');
    closed.add(h);
  }
}

/** The inner band of a class: target ± unwindInside × half-width. */
function innerBand(r: ClassValuation, cls: AssetClass, unwindInside: number): { lower: number; upper: number } {
  const hw = bandHalfWidth(cls.target, cls.band) * unwindInside;
  return { lower: r.target - hw, upper: r.target + hw };
}

/**
 * Why the exit rule converts this hedge now, or null. A hedge whose opening time the snapshot does not
 * give (positions[].openedAt) is never converted by age: no order on doubt; the plan says so.
 */
function conversionDue(w: Work, h: PositionValuation): string | null {
  const exit = w.portfolio.hedges.exit;
  const now = w.ctx.now;
  const schedule = w.portfolio.rebalance.schedule;
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  if (exit.kind === 'unwind-only') return null;
  if (h.openedAt === undefined) {
    w.explanation.push(`The exit rule (${exit.kind}) cannot judge the hedge ${h.symbol} on ${h.account}: its opening time is unknown (positions[].openedAt); it is not converted by age.`);
    return null;
  }
  if (exit.kind === 'convert-on-schedule' || (exit.kind === 'convert-when-long-term' && h.notional > 0)) {
    const at = nextPeriodStart(schedule, h.openedAt);
    const rule = exit.kind === 'convert-on-schedule' ? `convert-on-schedule (${schedule})` : `convert-when-long-term (a long hedge: its conversion is a buy, which realises nothing, so it converts at the ${schedule} period start)`;
    return now >= at ? `${rule}: opened ${day(h.openedAt)}, a new period began ${day(at)}` : null;
  }
  if (exit.kind === 'convert-when-long-term') {
    const cls = w.portfolio.classes.find((c) => c.name === Object.keys(h.classes)[0])!;
    const sale = simulateSale(w, cls, Math.abs(h.notional), now);
    const waiting = sale.sales.filter((x) => x.term === 'short' && x.gain > 0);
    if (waiting.length > 0) return null;
    const unknown = sale.uncovered > 0 ? ` (${f6(sale.uncovered)} units without lots: their term is unknown)` : '';
    return `convert-when-long-term: the lots a conversion of ${w.fmt(Math.abs(h.notional))} sells realise no short-term gain now${unknown}`;
  }
  const age = (now - h.openedAt) / 3_600_000;
  return age >= exit.hours - 1e-9 ? `convert-after ${num(exit.hours)} h: open ${num(Math.round(age * 10) / 10)} h since ${day(h.openedAt)}` : null;
}

/**
 * Expected life in hours of a hedge opened now, under the exit rule (the funding horizon of the cost model).
 * convert-when-long-term: a short hedge lives until `longTermAt` (when the lots its conversion sells turn
 * long-term; at least 1 h); a long hedge converts at the next schedule period start.
 */
export function hedgeLifeHours(portfolio: Portfolio, now: number, side: 1 | -1 = -1, longTermAt?: number): { hours: number; converts: boolean; why: string } {
  const exit = portfolio.hedges.exit;
  if (exit.kind === 'convert-after') return { hours: exit.hours, converts: true, why: `converted after ${num(exit.hours)} h` };
  if (exit.kind === 'convert-when-long-term' && side < 0) {
    const at = longTermAt ?? now;
    const hours = Math.max(1, (at - now) / 3_600_000);
    if (at <= now) return { hours, converts: true, why: 'converted at the next decision: the lots it would protect realise no short-term gain now (convert-when-long-term)' };
    return { hours, converts: true, why: `converted when the lots it protects turn long-term, ${new Date(at).toISOString().slice(0, 10)}, in ${num(Math.round(hours / 24))} days` };
  }
  if (exit.kind === 'convert-on-schedule' || exit.kind === 'convert-when-long-term') {
    const hours = Math.max(1, (nextPeriodStart(portfolio.rebalance.schedule, now) - now) / 3_600_000);
    return { hours, converts: true, why: `converted at the next ${portfolio.rebalance.schedule} period start, in ${num(Math.round(hours * 10) / 10)} h` };
  }
  return { hours: portfolio.execution.expectedHoldingHours, converts: false, why: `unwind-only: expected life ${num(portfolio.execution.expectedHoldingHours)} h (execution.expectedHoldingHours)` };
}

/** Single-class futures positions of a class (its hedges), sorted by account and symbol. */
function hedgesOf(w: Work, cls: AssetClass): PositionValuation[] {
  return w.valuation.positions.filter((p) => Object.keys(p.classes).length === 1 && p.classes[cls.name] === 1);
}

function pushClose(w: Work, h: PositionValuation, why: string, purpose: ActionPurpose): void {
  const rules = marketRules(w.snapshot, h.symbol);
  const contracts = Math.abs(h.contracts);
  const side = h.contracts < 0 ? 'buy' : 'sell';
  w.actions.push({
    type: 'futures',
    class: Object.keys(h.classes)[0]!,
    account: h.account,
    symbol: h.symbol,
    side,
    notional: contracts * rules.contractSize * h.mark,
    amount: contracts,
    price: h.mark,
    reduceOnly: true,
    purpose,
    reason: `${why}: ${side} ${num(contracts)} contracts reduce-only (${w.fmt(Math.abs(h.notional))} at mark ${w.fmt(h.mark)}).`,
  });
  applyFutures(w, h.account, h.symbol, (side === 'buy' ? 1 : -1) * contracts * rules.contractSize, h.mark);
}

function applyFutures(w: Work, account: string, symbol: string, qty: number, price: number): void {
  const rules = marketRules(w.snapshot, symbol);
  const a = w.margin.get(account)!;
  w.margin.set(account, withTrade(a, symbol, qty, price, { mmr: rules.maintenanceMarginRate, leverage: w.portfolio.execution.leverage, isolated: false }));
}

// ------------------------------------------------------------------------------------------ execution choice

function executeAdjustment(w: Work, adj: Adjustment): void {
  const f = w.fmt;
  let delta = adj.delta;
  const tpv = w.tpv;

  // 1. Shrink open hedges of this class that point the other way (reduce-only), unless just closed.
  if (!adj.noFutures) {
    for (const h of hedgesOf(w, adj.cls)) {
      if (Math.abs(delta) <= NOISE * tpv) break;
      if (Math.sign(h.notional) === Math.sign(delta)) continue;
      const rules = marketRules(w.snapshot, h.symbol);
      const unit = rules.contractSize * h.mark;
      const take = Math.min(Math.abs(delta), Math.abs(h.notional));
      const closesAll = take >= Math.abs(h.notional) - 1e-9;
      const contracts = closesAll ? Math.abs(h.contracts) : floorToStep(take / unit, rules.amountStep);
      if (contracts <= 0) continue;
      const side = h.notional < 0 ? 'buy' : 'sell';
      const notional = contracts * unit;
      if (!closesAll && notional < rules.minNotional) {
        w.rejected.push({ class: adj.cls.name, alternative: 'order', symbol: h.symbol, reason: `reducing ${h.symbol} by ${f(notional)} is below the minimum notional ${f(rules.minNotional)}` });
        continue;
      }
      w.actions.push({
        type: 'futures',
        class: adj.cls.name,
        account: h.account,
        symbol: h.symbol,
        side,
        notional,
        amount: contracts,
        price: h.mark,
        reduceOnly: true,
        purpose: 'hedge-unwind',
        reason: `${adj.why}: first shrink the open ${h.notional < 0 ? 'short' : 'long'} hedge ${h.symbol} (${f(Math.abs(h.notional))}) that points the other way: ${side} ${num(contracts)} contracts reduce-only = ${f(notional)}.`,
      });
      applyFutures(w, h.account, h.symbol, (side === 'buy' ? 1 : -1) * contracts * rules.contractSize, h.mark);
      delta -= Math.sign(delta) * notional;
    }
  }
  if (Math.abs(delta) <= NOISE * tpv || Math.abs(delta) < 0.01) return;

  const rest: Adjustment = { ...adj, delta, why: delta === adj.delta ? adj.why : `${adj.why}; ${f(Math.abs(delta))} remains` };
  const instrument = adj.noFutures ? 'spot' : instrumentOf(w.portfolio, adj.cls);
  if (instrument === 'spot') {
    planSpot(w, rest);
    return;
  }
  const hc = w.portfolio.hedges;
  const sell = delta < 0;
  const n = Math.abs(delta);
  if (!adj.strategyLeg) {
    // A long hedge is for an underweight class only where configured (direction both).
    if (!sell && hc.direction === 'short-only') {
      planSpot(w, { ...rest, why: `${rest.why}; bought spot (hedges.direction short-only: only overweight classes are hedged)` });
      return;
    }
    // Hysteresis: a hedge opened while the class's spot weight is inside its inner band would be unwound
    // at the next decision with no price move; such a deviation is traded spot.
    const inner = innerBand(adj.row, adj.cls, hc.unwindInside);
    const spotWeight = adj.row.spot / tpv;
    if (breachOf(spotWeight, inner.lower, inner.upper) === null) {
      planSpot(w, { ...rest, why: `${rest.why}; spot, not a hedge: ${adj.cls.name}'s spot weight ${pct(spotWeight)} is inside its inner band ${pct(inner.lower)}–${pct(inner.upper)}, where a hedge would be unwound` });
      return;
    }
  }
  const fut = evaluateFutures(w, rest);
  const refused = (reason: string) => {
    w.rejected.push({ class: adj.cls.name, alternative: 'futures', symbol: adj.cls.hedge ?? null, reason });
    const spotFeasible = spotCapacity(w, adj.cls, sell) > 0;
    if (hc.onRefused === 'spot' && spotFeasible) planSpot(w, { ...rest, why: `${rest.why}; spot, because the futures leg was refused (${reason}; hedges.onRefused: spot)` });
    else pushWait(w, rest, `futures refused (${reason}) and ${hc.onRefused === 'wait' ? 'hedges.onRefused is wait' : `nothing to ${sell ? 'sell' : 'buy with'} on spot`}`);
  };
  if (!fut.ok) {
    refused(fut.reason);
    return;
  }
  if (instrument === 'futures') {
    commitFutures(w, rest, fut);
    return;
  }
  // auto.
  const ex = w.portfolio.execution;
  if (!sell) {
    // A long perp serves an underweight class only when the cash class cannot fund the buy: spot buys
    // may spend free quote down to the cash class's lower trigger.
    const cashRow = w.valuation.classes.find((r) => r.cash);
    const pending = w.pendingBuys.reduce((s, b) => s + b.value, 0);
    const sizing = 1 + ex.fees.spotTaker + ex.slippage;
    const free = spendableQuote(w) - pending * sizing;
    const floorValue = cashRow ? cashRow.lower * tpv : 0;
    const stable = realQuote(w) - pending;
    const fundable = Math.max(0, Math.min(free, stable - floorValue) / sizing);
    if (n <= fundable + 1e-9) {
      planSpot(w, { ...rest, why: `${rest.why}; bought spot: the cash class can fund ${f(n)} (up to ${f(fundable)} before ${cashRow ? `${cashRow.name} reaches its lower trigger ${pct(cashRow.lower)}` : 'the free quote runs out'})` });
    } else {
      commitFutures(w, { ...rest, why: `${rest.why}; long perp: the cash class can fund only ${f(fundable)} of ${f(n)} by spot without leaving its band` }, fut);
    }
    return;
  }
  const spotFeasible = spotCapacity(w, adj.cls, true) > 0;
  const sc = spotCost(n, true, ex);
  const taxNow = w.portfolio.tax ? taxOn(gainsOf(simulateSale(w, adj.cls, n, w.ctx.now).sales), w.portfolio.tax) : 0;
  const spotTotal = sc.total + taxNow;
  const spotPerUnit = spotTotal / n;
  const futPerUnit = fut.cost.total / fut.notional;
  const taxed = hedgeTax(w, adj.cls, -1, fut.notional);
  const life = hedgeLifeHours(w.portfolio, w.ctx.now, -1, taxed?.longTermAt);
  const saleLine = w.portfolio.tax ? `tax of the lots sold now ${f(taxNow)}` : `sale penalty ${f(sc.salePenalty)}`;
  const convLine = life.converts ? ` + spot at conversion ${f(fut.cost.conversion)}${w.portfolio.tax ? ' incl. the tax then' : ''}` : '';
  const costLine = `cost model: spot now ${f(spotTotal)} (fees ${f(sc.fees)} + slippage ${f(sc.slippage)} + ${saleLine}) = ${pct(spotPerUnit, 3)} of ${f(n)}; hedge ${f(fut.cost.total)} (perp fees ${f(fut.cost.fees)} + slippage ${f(fut.cost.slippage)} open and close + expected funding ${f(fut.cost.funding)} over ${num(Math.round(life.hours))} h, ${life.why}${convLine}) = ${pct(futPerUnit, 3)} of ${f(fut.notional)}`;
  if (!spotFeasible || futPerUnit < spotPerUnit) {
    if (spotFeasible) w.rejected.push({ class: adj.cls.name, alternative: 'spot', symbol: null, reason: `${costLine}: spot costs more per unit of exposure corrected` });
    commitFutures(w, { ...rest, why: `${rest.why}; ${costLine}: the hedge is cheaper` }, fut);
  } else {
    w.rejected.push({ class: adj.cls.name, alternative: 'futures', symbol: adj.cls.hedge ?? null, reason: `${costLine}: the hedge costs more per unit of exposure corrected` });
    planSpot(w, { ...rest, why: `${rest.why}; ${costLine}: spot is cheaper` });
  }
}

/** A planned spot leg moves the account's quote, which is also its futures wallet (the margin model). */
function moveWallet(w: Work, account: string, delta: number): void {
  const m = w.margin.get(account)!;
  w.margin.set(account, { ...m, wallet: m.wallet + delta });
}

/** Quote held on every account now (after planned sells). */
function realQuote(w: Work): number {
  let q = 0;
  for (const b of w.balances.values()) q += b[w.portfolio.quote] ?? 0;
  return q;
}

/** Quote spot buys may spend: every account's quote after planned sells, less what its futures hold (margin). */
function spendableQuote(w: Work): number {
  let s = 0;
  for (const n of w.accounts) s += spendableOn(w, n);
  return s;
}

function spendableOn(w: Work, account: string): number {
  return Math.max(0, (w.balances.get(account)![w.portfolio.quote] ?? 0) - marginUsed(w.margin.get(account)!));
}

function pushWait(w: Work, adj: Adjustment, why: string): void {
  w.actions.push({
    type: 'wait',
    class: adj.cls.name,
    account: null,
    symbol: null,
    side: null,
    notional: 0,
    amount: 0,
    price: 0,
    reduceOnly: false,
    reason: `${adj.why}; wait: ${why}.`,
  });
}

// ------------------------------------------------------------------------------------------ futures

type FuturesEval =
  | { ok: false; reason: string }
  | {
      ok: true;
      account: string;
      symbol: string;
      side: 'buy' | 'sell';
      contracts: number;
      notional: number;
      mark: number;
      margin: number;
      cost: ReturnType<typeof futuresCost>;
      detail: string;
    };

/**
 * The funding rate of a hedge perp, or why none is usable. A perp with no rate is unknown, never 0 %:
 * `hedges.fundingWhenUnknown` says whether to refuse (default), assume zero, or read a proxy perp's rate.
 */
function knownFunding(w: Work, symbol: string): { ok: true; funding: FundingRate; note: string } | { ok: false; reason: string } {
  const own = w.snapshot.funding[symbol];
  if (own) return { ok: true, funding: own, note: '' };
  const rule = w.portfolio.hedges.fundingWhenUnknown;
  if (rule.kind === 'zero') return { ok: true, funding: { rate: 0, intervalHours: 8 }, note: ` (${symbol} has no funding data: assumed 0 % by hedges.fundingWhenUnknown: zero)` };
  if (rule.kind === 'proxy') {
    const proxy = w.snapshot.funding[rule.symbol];
    if (proxy) return { ok: true, funding: proxy, note: ` (${symbol} has no funding data: the rate of ${rule.symbol}, hedges.fundingWhenUnknown proxy)` };
    return { ok: false, reason: `funding unknown: no rate for ${symbol} nor for its proxy ${rule.symbol}; no hedge is opened on an unknown rate` };
  }
  return { ok: false, reason: `funding unknown: no rate for ${symbol}; no hedge is opened on an unknown rate (hedges.fundingWhenUnknown: zero or { proxy: SYMBOL } to allow it)` };
}

function evaluateFutures(w: Work, adj: Adjustment): FuturesEval {
  const { portfolio, snapshot } = w;
  const f = w.fmt;
  const symbol = adj.cls.hedge;
  if (!symbol) return { ok: false, reason: `${adj.cls.name} has no hedge perp configured` };
  // A hedge perp without a mark (not listed, no data) is an alternative the plan cannot price: refused, never
  // priced at zero. (An open position without a mark is a valuation error.)
  const mark = snapshot.marks[symbol];
  if (mark === undefined) return { ok: false, reason: `no mark price for ${symbol}, the hedge of ${adj.cls.name}` };
  const rules = marketRules(snapshot, symbol);
  const ex = portfolio.execution;
  const side: 1 | -1 = adj.delta < 0 ? -1 : 1;
  const deviation = Math.abs(adj.delta);
  const wanted = deviation * ex.hedgeRatio;
  const unit = rules.contractSize * mark;
  const contracts = floorToStep(wanted / unit, rules.amountStep);
  const notional = contracts * unit;
  const sizeLine = `${side < 0 ? 'short' : 'long'} ${f(notional)} of ${symbol} (deviation ${f(deviation)} × hedge ratio ${ex.hedgeRatio.toFixed(2)} = ${f(wanted)}; ${num(contracts)} contracts at mark ${f(mark)})`;
  if (contracts <= 0 || notional < rules.minNotional || contracts < rules.minAmount) {
    return { ok: false, reason: `min notional: ${f(notional)} of ${symbol} is below the venue minimum ${f(rules.minNotional)}` };
  }
  const known = knownFunding(w, symbol);
  if (!known.ok) return known;
  const funding = known.funding;
  const apr = fundingCostApr(side, funding);
  if (apr > portfolio.risk.maxFundingApr) {
    return { ok: false, reason: `funding cost: a ${side < 0 ? 'short' : 'long'} pays ${pct(apr)} a year at rate ${pct(funding.rate, 4)} per ${funding.intervalHours} h${known.note}, above the budget ${pct(portfolio.risk.maxFundingApr)}` };
  }
  // The gross cap (not for a strategy's own leg): open hedges after this plan's closes, plus this one.
  if (!adj.strategyLeg) {
    let gross = notional;
    for (const acc of w.margin.values()) for (const p of acc.positions) gross += Math.abs(p.qty) * p.mark;
    const cap = portfolio.hedges.maxGross * w.tpv;
    if (gross > cap + 1e-9) {
      return { ok: false, reason: `gross cap: hedges would total ${f(gross)} > ${pct(portfolio.hedges.maxGross)} of TPV = ${f(cap)} (hedges.maxGross)` };
    }
  }
  // The account: where a position in the symbol already is, else the one with most margin available.
  let account = w.accounts.find((n) => w.margin.get(n)!.positions.some((p) => p.symbol === symbol));
  if (!account) {
    let best = -1;
    for (const n of w.accounts) {
      const avail = marginAvailable(w.margin.get(n)!);
      if (avail > best) {
        best = avail;
        account = n;
      }
    }
  }
  if (!account) return { ok: false, reason: 'no account to hold the position' };
  const before = w.margin.get(account)!;
  const available = marginAvailable(before);
  const margin = notional / ex.leverage;
  if (margin > available + 1e-9) {
    return { ok: false, reason: `margin: ${f(notional)} at ${ex.leverage}x needs ${f(margin)} initial margin, ${account} has ${f(Math.max(0, available))} available` };
  }
  const after = withTrade(before, symbol, side * contracts * rules.contractSize, mark, { mmr: rules.maintenanceMarginRate, leverage: ex.leverage, isolated: false });
  const lev = accountLeverage(after);
  if (lev > portfolio.risk.maxLeverage + 1e-9) {
    return { ok: false, reason: `leverage: ${account} would carry ${lev.toFixed(2)}x of futures notional on its equity, above the cap ${portfolio.risk.maxLeverage}x` };
  }
  const stress = marginRatio(after, portfolio.risk.stressMove);
  const liq = liquidationPrice(after, symbol);
  if (stress.stressed >= 1) {
    return { ok: false, reason: `liquidation distance: after a ${pct(portfolio.risk.stressMove, 0)} adverse move ${account}'s maintenance margin would exceed its equity (${marginRatioText(stress.stressed)}; liquidation at ${liq === null ? 'none' : f(liq)})` };
  }
  const taxed = hedgeTax(w, adj.cls, side, notional);
  const life = hedgeLifeHours(portfolio, w.ctx.now, side, taxed?.longTermAt);
  const cost = futuresCost(notional, side, funding, ex, life.hours, life.converts, life.converts && taxed ? taxed.taxAt(w.ctx.now + life.hours * 3_600_000) : 0);
  const mean = funding.mean !== undefined ? ` (trailing mean ${pct(funding.mean, 4)}, used for the expected cost)` : '';
  const fundingWord = `funding ${pct(funding.rate, 4)} per ${funding.intervalHours} h${known.note}: a ${side < 0 ? 'short' : 'long'} ${apr > 0 ? 'pays' : 'receives'} ${pct(Math.abs(apr))} a year${mean}`;
  const detail = `${sizeLine}; initial margin ${f(notional)} / ${ex.leverage}x = ${f(margin)} of ${f(available)} available on ${account}; liquidation ${liq === null ? 'none' : `at ${f(liq)}`}, margin ratio after a ${pct(portfolio.risk.stressMove, 0)} adverse move ${pct(stress.stressed)}; ${fundingWord}`;
  return { ok: true, account, symbol, side: side < 0 ? 'sell' : 'buy', contracts, notional, mark, margin, cost, detail };
}

function commitFutures(w: Work, adj: Adjustment, fut: Extract<FuturesEval, { ok: true }>): void {
  const rules = marketRules(w.snapshot, fut.symbol);
  w.actions.push({
    type: 'futures',
    class: adj.cls.name,
    account: fut.account,
    symbol: fut.symbol,
    side: fut.side,
    notional: fut.notional,
    amount: fut.contracts,
    price: fut.mark,
    reduceOnly: false,
    purpose: 'hedge-open',
    reason: `${adj.why}: ${fut.detail}.`,
  });
  w.marginRequired += fut.margin;
  applyFutures(w, fut.account, fut.symbol, (fut.side === 'buy' ? 1 : -1) * fut.contracts * rules.contractSize, fut.mark);
}

// ------------------------------------------------------------------------------------------ spot

function spotSymbol(w: Work, asset: string): string {
  return `${asset}/${w.portfolio.quote}`;
}

/** How much of the class could be sold (its spot value) or bought (quote on all accounts), in quote. */
function spotCapacity(w: Work, cls: AssetClass, sell: boolean): number {
  if (sell) {
    let v = 0;
    for (const a of cls.assets) v += w.valuation.assetValues[a] ?? 0;
    return v;
  }
  let q = 0;
  for (const b of w.balances.values()) q += b[w.portfolio.quote] ?? 0;
  return q;
}

/**
 * Split a sale or purchase of `value` across the class's assets.
 * - Configured weights are targets inside the class: with V the class's spot value and V' = V ∓ value after
 *   the trade, asset a's target is weight_a × V'; a sale takes from the assets above their target, a
 *   purchase goes to the assets below it, each in proportion to its gap, so holdings move toward the
 *   weights and never away from them.
 * - Else pro rata to holdings, else equally.
 */
function splitAcrossAssets(w: Work, cls: AssetClass, value: number, sell: boolean): { asset: string; value: number; share: string }[] {
  const assets = cls.assets.filter((a) => a !== w.portfolio.quote);
  if (cls.weights) {
    const weights = cls.weights;
    const held = assets.map((a) => w.valuation.assetValues[a] ?? 0);
    const total = held.reduce((s, x) => s + x, 0);
    const after = total + (sell ? -value : value);
    const gaps = assets.map((a, k) => {
      const gap = (weights[a] ?? 0) * after - held[k]!;
      return sell ? Math.max(0, -gap) : Math.max(0, gap);
    });
    const sum = gaps.reduce((s, x) => s + x, 0);
    if (sum <= 0) return [];
    return assets
      .map((a, k) => ({
        asset: a,
        value: (value * gaps[k]!) / sum,
        share: `${pct(held[k]! / (total || 1))} of the class against its weight ${pct(weights[a] ?? 0)}`,
      }))
      .filter((x) => x.value > 0);
  }
  let held = 0;
  for (const a of assets) held += w.valuation.assetValues[a] ?? 0;
  if (held > 0) {
    return assets
      .map((a) => {
        const s = (w.valuation.assetValues[a] ?? 0) / held;
        return { asset: a, value: value * s, share: `${pct(s)} pro rata to holdings` };
      })
      .filter((x) => x.value > 0);
  }
  return assets.map((a) => ({ asset: a, value: value / assets.length, share: `equal split over ${assets.length} assets (none held)` }));
}

function planSpot(w: Work, adj: Adjustment): void {
  const f = w.fmt;
  const sell = adj.delta < 0;
  let n = Math.abs(adj.delta);
  if (sell) {
    const cap = spotCapacity(w, adj.cls, true);
    if (n > cap + 1e-9) {
      w.rejected.push({ class: adj.cls.name, alternative: 'spot', symbol: null, reason: `${adj.cls.name} holds only ${f(cap)} of spot; cannot sell ${f(n)} (no accidental shorts): selling what is held` });
      n = cap;
    }
    for (const part of splitAcrossAssets(w, adj.cls, n, true)) sellAsset(w, adj, part.asset, part.value, part.share);
  } else {
    const purpose: ActionPurpose = adj.conversion ? 'convert-spot' : 'rebalance';
    for (const part of splitAcrossAssets(w, adj.cls, n, false)) w.pendingBuys.push({ cls: adj.cls, asset: part.asset, value: part.value, why: adj.why, share: part.share, purpose });
  }
}

function sellAsset(w: Work, adj: Adjustment, asset: string, value: number, share: string): void {
  const f = w.fmt;
  const symbol = spotSymbol(w, asset);
  const price = priceOf(w.portfolio, w.snapshot, asset, ['prices', asset]);
  const rules = marketRules(w.snapshot, symbol);
  const fee = w.portfolio.execution.fees.spotTaker;
  // Sell from each account in proportion to what it holds.
  const holders = w.accounts.map((n) => ({ n, qty: w.balances.get(n)![asset] ?? 0 })).filter((h) => h.qty > 0);
  const total = holders.reduce((s, h) => s + h.qty, 0);
  for (const h of holders) {
    const wantQty = (value / price) * (h.qty / total);
    const amount = Math.min(floorToStep(wantQty, rules.amountStep), floorToStep(h.qty, rules.amountStep));
    const notional = amount * price;
    if (amount <= 0 || notional < rules.minNotional || amount < rules.minAmount) {
      w.rejected.push({ class: adj.cls.name, alternative: 'order', symbol, reason: `sell ${num(wantQty)} ${asset} on ${h.n} (${f(wantQty * price)}) dropped: below the minimum ${rules.minNotional > 0 ? `notional ${f(rules.minNotional)}` : `amount (lot step ${num(rules.amountStep, 12)})`}` });
      continue;
    }
    const bal = w.balances.get(h.n)!;
    bal[asset] = (bal[asset] ?? 0) - amount;
    const proceeds = notional * (1 - fee);
    bal[w.portfolio.quote] = (bal[w.portfolio.quote] ?? 0) + proceeds;
    moveWallet(w, h.n, proceeds);
    const acct = holders.length > 1 ? ` on ${h.n}` : '';
    const split = adj.cls.assets.length > 1 ? ` (${share})` : '';
    const taxed = w.portfolio.tax ? realiseLots(w, h.n, asset, amount, price) : null;
    w.actions.push({
      type: 'spot',
      class: adj.cls.name,
      account: h.n,
      symbol,
      side: 'sell',
      notional,
      amount,
      price,
      reduceOnly: false,
      purpose: adj.conversion ? 'convert-spot' : 'rebalance',
      ...(taxed ? { lots: taxed.lots, tax: taxed.tax } : {}),
      reason: `${adj.why}: sell ${num(amount)} ${asset} spot${acct} = ${f(notional)} at ${f(price)}${split}${taxed ? `; ${taxed.line}` : ''}.`,
    });
  }
}

// ------------------------------------------------------------------------------------------ tax lots

function f6(x: number): string {
  return String(Number(x.toPrecision(6)));
}

/** Realise `amount` of `asset` on `account` from the plan's lots (they shrink), and add to the plan totals. */
function realiseLots(w: Work, account: string, asset: string, amount: number, price: number): { lots: ActionLot[]; tax: number; line: string } {
  const tax = w.portfolio.tax!;
  const fee = w.portfolio.execution.fees.spotTaker;
  const byAsset = w.lots.get(account) ?? new Map<string, Lot[]>();
  const r = realise(byAsset.get(asset) ?? [], amount, price * (1 - fee), w.ctx.now, tax);
  byAsset.set(asset, r.remaining);
  w.lots.set(account, byAsset);
  const g = gainsOf(r.sales);
  const t = taxOn(g, tax);
  w.taxTotals.shortTermGain += g.shortTerm;
  w.taxTotals.longTermGain += g.longTerm;
  if (r.uncovered > 0) w.taxTotals.uncovered[asset] = (w.taxTotals.uncovered[asset] ?? 0) + r.uncovered;
  const lots = r.sales.map((x): ActionLot => ({ acquired: x.acquired, qty: x.qty, costBasis: x.costBasis, proceeds: x.proceeds, gain: x.gain, term: x.term }));
  const f = w.fmt;
  const parts = r.sales.map((x) => `${f6(x.qty)} from ${new Date(x.acquired).toISOString().slice(0, 10)} (${x.term}-term ${x.gain >= 0 ? 'gain' : 'loss'} ${f(Math.abs(x.gain))})`);
  const unknown = r.uncovered > 0 ? `; ${f6(r.uncovered)} ${asset} has no lot (unknown cost basis, not counted)` : '';
  const line = `${tax.method} lots: ${parts.join(', ') || 'none'}${unknown}; tax estimate ${f(t)}`;
  return { lots, tax: t, line };
}

/**
 * The lots a sale of `value` of the class would realise at time `at` (at today's prices), without
 * changing the plan's lots: split across assets and accounts as sellAsset does.
 */
function simulateSale(w: Work, cls: AssetClass, value: number, at: number): { sales: LotSale[]; uncovered: number } {
  const tax = w.portfolio.tax;
  const sales: LotSale[] = [];
  let uncovered = 0;
  if (!tax || value <= 0) return { sales, uncovered };
  const fee = w.portfolio.execution.fees.spotTaker;
  for (const part of splitAcrossAssets(w, cls, value, true)) {
    const price = priceOf(w.portfolio, w.snapshot, part.asset, ['prices', part.asset]);
    const holders = w.accounts.map((n) => ({ n, qty: w.balances.get(n)![part.asset] ?? 0 })).filter((h) => h.qty > 0);
    const total = holders.reduce((s, h) => s + h.qty, 0);
    for (const h of holders) {
      const qty = Math.min(h.qty, (part.value / price) * (h.qty / total));
      const r = realise(w.lots.get(h.n)?.get(part.asset) ?? [], qty, price * (1 - fee), at, tax);
      sales.push(...r.sales);
      uncovered += r.uncovered;
    }
  }
  return { sales, uncovered };
}

/**
 * With `tax:`, for a short hedge of `notional`: when the lots its conversion would sell turn long-term
 * (the latest long-term date of the lots sold now at a short-term gain; now if none), and the tax of that
 * sale at a given date. Null without tax or for a long hedge (its conversion is a buy).
 */
function hedgeTax(w: Work, cls: AssetClass, side: 1 | -1, notional: number): { longTermAt: number; taxAt: (t: number) => number } | null {
  const tax = w.portfolio.tax;
  if (!tax || side > 0) return null;
  const now = simulateSale(w, cls, notional, w.ctx.now);
  let longTermAt = w.ctx.now;
  for (const x of now.sales) if (x.term === 'short' && x.gain > 0) longTermAt = Math.max(longTermAt, longTermFrom(x.acquired, tax.longTermAfterDays));
  return { longTermAt, taxAt: (t: number) => taxOn(gainsOf(simulateSale(w, cls, notional, t).sales), tax) };
}

/**
 * Buys after all sells: each account spends its quote balance (plus sell proceeds) minus margin locked by
 * new futures legs; buys + fees never exceed that. Buys are split across accounts by spendable quote and
 * scaled down together, with a reason, when the cash is short.
 */
function settleBuys(w: Work): void {
  const f = w.fmt;
  const quote = w.portfolio.quote;
  // Margin is not cash: each account spends its quote less what its futures hold after this plan's legs
  // (freeQuote's arithmetic, the simulated venue's free balance), and sizes buys with fee and slippage.
  const fee = w.portfolio.execution.fees.spotTaker + w.portfolio.execution.slippage;
  const spendable = new Map<string, number>();
  for (const n of w.accounts) spendable.set(n, spendableOn(w, n) * (1 - SPEND_BUFFER));
  const totalSpendable = [...spendable.values()].reduce((s, v) => s + v, 0);
  const wanted = w.pendingBuys.reduce((s, b) => s + b.value, 0);
  if (wanted <= 0) return;
  const scale = wanted * (1 + fee) > totalSpendable ? totalSpendable / (wanted * (1 + fee)) : 1;
  if (scale < 1) {
    w.rejected.push({ class: w.pendingBuys[0]!.cls.name, alternative: 'spot', symbol: null, reason: `cash: buys of ${f(wanted)} plus fees and slippage ${f(wanted * fee)} exceed the ${f(totalSpendable)} of ${quote} free after sells and the margin futures hold; every buy scaled by ${(scale * 100).toFixed(2)}%` });
  }
  for (const b of w.pendingBuys) {
    const symbol = spotSymbol(w, b.asset);
    const price = priceOf(w.portfolio, w.snapshot, b.asset, ['prices', b.asset]);
    const rules = marketRules(w.snapshot, symbol);
    for (const n of w.accounts) {
      const share = totalSpendable > 0 ? spendable.get(n)! / totalSpendable : 0;
      if (share <= 0) continue;
      const wantQty = ((b.value * scale) / price) * share;
      const amount = floorToStep(wantQty, rules.amountStep);
      const notional = amount * price;
      if (amount <= 0 || notional < rules.minNotional || amount < rules.minAmount) {
        w.rejected.push({ class: b.cls.name, alternative: 'order', symbol, reason: `buy ${num(wantQty)} ${b.asset} on ${n} (${f(wantQty * price)}) dropped: below the minimum ${rules.minNotional > 0 ? `notional ${f(rules.minNotional)}` : `amount (lot step ${num(rules.amountStep, 12)})`}` });
        continue;
      }
      const bal = w.balances.get(n)!;
      const cost = notional * (1 + w.portfolio.execution.fees.spotTaker);
      bal[quote] = (bal[quote] ?? 0) - cost;
      bal[b.asset] = (bal[b.asset] ?? 0) + amount;
      moveWallet(w, n, -cost);
      const acct = w.accounts.length > 1 ? ` on ${n}` : '';
      const split = b.cls.assets.length > 1 ? ` (${b.share})` : '';
      const scaled = scale < 1 ? ` (scaled to ${(scale * 100).toFixed(2)}% for cash)` : '';
      w.actions.push({
        type: 'spot',
        class: b.cls.name,
        account: n,
        symbol,
        side: 'buy',
        notional,
        amount,
        price,
        reduceOnly: false,
        purpose: b.purpose,
        reason: `${b.why}: buy ${num(amount)} ${b.asset} spot${acct} = ${f(notional)} at ${f(price)}${split}${scaled}.`,
      });
    }
  }
}

// ------------------------------------------------------------------------------------------ beta-neutral

function planBetaNeutral(w: Work, s: Extract<Portfolio['strategy'], { type: 'beta-neutral' }>): string {
  const f = w.fmt;
  const rows = w.valuation.classes;
  const longRow = rows.find((r) => r.name === s.long)!;
  const shortRow = rows.find((r) => r.name === s.short)!;
  const longCls = w.portfolio.classes.find((c) => c.name === s.long)!;
  const shortCls = w.portfolio.classes.find((c) => c.name === s.short)!;
  let beta = s.beta;
  let betaWhy = `beta ${beta} from config`;
  if (beta === undefined) {
    beta = betaFromHistory(w, longCls, shortCls);
    betaWhy = `beta ${beta.toFixed(4)} estimated from ${w.snapshot.history ? 'snapshot.history' : '?'} returns`;
  }
  const exposure = shortRow.net + beta * longRow.net;
  const limit = s.tolerance * Math.abs(longRow.net);
  const line = `beta-neutral: net beta-weighted exposure = ${s.short} net ${f(shortRow.net)} + ${beta.toFixed(4)} × ${s.long} net ${f(longRow.net)} = ${f(exposure)} (${betaWhy}); tolerance ${pct(s.tolerance)} × ${f(Math.abs(longRow.net))} = ${f(limit)}`;
  w.explanation.push(line + '.');
  if (Math.abs(exposure) <= limit) return `beta-neutral: |${f(exposure)}| within ${f(limit)}`;
  const adj: Adjustment = {
    cls: shortCls,
    row: shortRow,
    delta: -exposure,
    why: `${line}: exposure is ${exposure > 0 ? 'long' : 'short'} by more than the tolerance; move ${s.short} by ${f(-exposure)} to restore the hedge ratio`,
  };
  const before = w.actions.length;
  // Futures first (enlarge/shrink the short); if the futures leg is impossible, reduce the long by spot.
  const fut = evaluateFutures(w, { ...adj, strategyLeg: true });
  const reduces = hedgesOf(w, shortCls).some((h) => Math.sign(h.notional) !== Math.sign(adj.delta));
  if (fut.ok || reduces) {
    executeAdjustment(w, { ...adj, strategyLeg: true, cls: { ...shortCls, instrument: 'futures' } });
  }
  const placed = w.actions.slice(before).some((a) => a.type === 'futures');
  if (!placed) {
    if (!fut.ok) w.rejected.push({ class: s.short, alternative: 'futures', symbol: shortCls.hedge ?? null, reason: fut.reason });
    w.actions.splice(before);
    if (exposure > 0) {
      planSpot(w, { cls: longCls, row: longRow, delta: -exposure / beta, why: `${line}: futures unavailable, so reduce the ${s.long} long by ${f(exposure)} / ${beta.toFixed(4)} = ${f(exposure / beta)}` });
      settleBuys(w);
    } else {
      pushWait(w, adj, 'futures unavailable and no spot sale restores the hedge ratio');
    }
  }
  return `beta-neutral: |${f(exposure)}| > ${f(limit)}`;
}

function betaFromHistory(w: Work, longCls: AssetClass, shortCls: AssetClass): number {
  const h = w.snapshot.history ?? {};
  const ref = h[shortCls.assets[0]!];
  if (!ref) throw new ValuationError(['history', shortCls.assets[0]!], `beta not configured and no price history for ${shortCls.assets[0]} to estimate it`);
  // Value-weighted basket of the long class's assets, from their histories.
  const assets = longCls.assets.filter((a) => h[a]);
  if (assets.length === 0) throw new ValuationError(['history', longCls.assets[0]!], `beta not configured and no price history for ${longCls.name}'s assets`);
  const n = Math.min(ref.length, ...assets.map((a) => h[a]!.length));
  const weights = assets.map((a) => w.valuation.assetValues[a] ?? 1);
  const wsum = weights.reduce((s, x) => s + x, 0);
  const basket: number[] = [];
  for (let i = 0; i < n; i++) {
    let v = 0;
    assets.forEach((a, k) => {
      const series = h[a]!;
      const first = series[series.length - n]!;
      v += (weights[k]! / wsum) * (series[series.length - n + i]! / first);
    });
    basket.push(v);
  }
  return estimateBeta(basket, ref.slice(ref.length - n));
}

// ------------------------------------------------------------------------------------------ ordering and risk

const legRank = (a: Action): number => {
  if (a.type === 'futures' && a.reduceOnly) {
    // A conversion is a spot trade, then the reduce-only close: a short's close follows the spot sell (the
    // class is never unhedged and long at once); a long's close goes first and frees the margin the spot buy spends.
    const converting = a.purpose === 'hedge-convert' || a.purpose === 'hedge-cut-cap' || a.purpose === 'hedge-cut-funding';
    return converting && a.side === 'buy' ? 1.5 : 0;
  }
  return a.type === 'spot' && a.side === 'sell' ? 1 : a.type === 'futures' ? 2 : a.type === 'spot' ? 3 : 4;
};

/**
 * Reduce-only futures first, then spot sells, the closes of converted shorts, new futures, spot buys,
 * waits; stable within a rank.
 */
function orderLegs(actions: Action[]): void {
  const ranked = actions.map((a, i) => ({ a, i })).sort((x, y) => legRank(x.a) - legRank(y.a) || x.i - y.i);
  actions.splice(0, actions.length, ...ranked.map((r) => r.a));
}

function riskSummary(w: Work): RiskSummary {
  const liquidationPrices: Record<string, number | null> = {};
  const ratio: Record<string, { now: number; stressed: number }> = {};
  let available = 0;
  for (const n of w.accounts) {
    const before = marginAccountOf(w.portfolio, w.snapshot, w.valuation, n);
    available += marginAvailable(before);
    const after = w.margin.get(n)!;
    for (const p of after.positions) liquidationPrices[p.symbol] = liquidationPrice(after, p.symbol);
    if (after.positions.length > 0) ratio[n] = marginRatio(after, w.portfolio.risk.stressMove);
  }
  return { marginRequired: w.marginRequired, marginAvailable: available, liquidationPrices, marginRatio: ratio, maxLeverage: w.portfolio.risk.maxLeverage };
}
