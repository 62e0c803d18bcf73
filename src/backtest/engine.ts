/**
 * The backtester: replays aligned history bar by bar through the decision core (`plan`) and the
 * simulator's ledger (the same accounting the SimExchange uses for paper trading).
 *
 * Per bar i (time t = times[i]):
 *   1. with --fill next-open, orders decided at the previous close fill at this bar's open;
 *   2. funding settlements recorded in [t, t + bar) are paid on the perp close (positive rate: longs pay);
 *   3. liquidation check at the bar's adverse extreme (high for shorts, low for longs);
 *   4. decision at the close: the ledger becomes a snapshot, `plan` decides, and with --fill close the
 *      orders fill at the close ± slippage, taker fees in the quote currency;
 *   5. equity, class weights, hedge notional and cumulative funding are recorded.
 * The run starts fully invested at the targets at the first bar (fees paid), buy-and-hold never trades again.
 *
 * State lives in the ledger's typed arrays; the per-bar path allocates nothing unless the planner runs,
 * and a spot-only policy without open futures asks the planner only when its trigger can fire
 * (a band is breached, or a calendar period began): the same rule the planner applies first.
 */
import { bandEdges } from '../core/bands.js';
import { plan } from '../core/planner.js';
import { isRebalanceDue } from '../core/schedule.js';
import type { Action, MarketRules, Portfolio, Position, Snapshot } from '../core/types.js';
import type { MarketHistory } from '../adapters/history/history.js';
import { Ledger } from '../adapters/sim/ledger.js';
import { slippedPrice } from '../adapters/sim/slippage.js';
import type { PolicyCounters, PolicySeries } from './metrics.js';
import type { PolicySpec } from './policies.js';

export interface BacktestOptions {
  /** Starting capital in the quote currency. */
  capital: number;
  /** Half-spread slippage as a fraction of price (5 bps = 0.0005). */
  slippage: number;
  /** Market impact coefficient: extra slippage = impact × order quantity / bar volume. */
  impact: number;
  fill: 'close' | 'next-open';
  /** Minimum order notional (venue rule applied by the planner). */
  minNotional: number;
  /** Liquidation fee as a fraction of liquidated notional. */
  liquidationFee: number;
  /** Maintenance margin rate of the perps. */
  maintenanceMarginRate: number;
}

export const DEFAULT_OPTIONS: BacktestOptions = {
  capital: 100_000,
  slippage: 0.0005,
  impact: 0,
  fill: 'close',
  minNotional: 10,
  liquidationFee: 0.005,
  maintenanceMarginRate: 0.004,
};

export interface PolicyRun {
  series: PolicySeries;
  counters: PolicyCounters;
  /** Planner calls made (for the benchmark and progress). */
  plans: number;
}

/** Perp symbol of a base asset in the backtest universe: `BTC/USDT:USDT`. */
export const perpSymbol = (base: string, quote: string) => `${base}/${quote}:${quote}`;

interface Universe {
  /** History asset index → ledger asset index. */
  ledgerAsset: Int32Array;
  /** Class index per history asset (−1: none). */
  assetClass: Int32Array;
  /** History perp index → ledger perp index and class index. */
  perpClass: Int32Array;
  classNames: string[];
  targets: number[];
  lower: number[];
  upper: number[];
  cashClass: number;
}

function universe(p: Portfolio, h: MarketHistory, ledger: Ledger): Universe {
  const assetClass = new Int32Array(h.assets.length).fill(-1);
  const ledgerAsset = new Int32Array(h.assets.length);
  h.assets.forEach((a, i) => {
    ledgerAsset[i] = ledger.assetIndex(a);
    assetClass[i] = p.classes.findIndex((c) => c.assets.includes(a));
  });
  const perpClass = new Int32Array(h.perps.length).fill(-1);
  h.perps.forEach((base, k) => {
    const sym = perpSymbol(base, p.quote);
    perpClass[k] = p.classes.findIndex((c) => c.hedge === sym);
    if (perpClass[k] < 0) perpClass[k] = p.classes.findIndex((c) => c.assets.includes(base));
  });
  const edges = p.classes.map((c) => bandEdges(c.target, c.band));
  return {
    ledgerAsset,
    assetClass,
    perpClass,
    classNames: p.classes.map((c) => c.name),
    targets: p.classes.map((c) => c.target),
    lower: edges.map((e) => e.lower),
    upper: edges.map((e) => e.upper),
    cashClass: p.classes.findIndex((c) => c.cash),
  };
}

/** Runs one policy over the history. `onBar` is called every `tickEvery` bars for progress. */
export function runPolicy(
  base: Portfolio,
  spec: PolicySpec,
  h: MarketHistory,
  o: BacktestOptions,
  onBar?: (bars: number) => void,
): PolicyRun {
  const p = spec.portfolio ?? base;
  const quote = p.quote;
  const n = h.times.length;
  const nA = h.assets.length;
  const nP = h.perps.length;
  const ledger = new Ledger({
    quote,
    assets: h.assets.filter((a) => a !== quote),
    perps: h.perps.map((b) => ({ symbol: perpSymbol(b, quote), contractSize: 1, maintenanceMarginRate: o.maintenanceMarginRate, leverage: p.execution.leverage })),
    balances: { [quote]: o.capital },
    liquidationFeeRate: o.liquidationFee,
  });
  const u = universe(p, h, ledger);
  const nC = u.classNames.length;

  // Typed state, indexed like the ledger.
  const prices = new Float64Array(ledger.assets.length);
  const marks = new Float64Array(nP);
  const adverse = new Float64Array(nP);
  const lastRate = new Float64Array(nP);
  const fundingCursor = new Int32Array(nP);
  const classValue = new Float64Array(nC);
  const hedge = new Float64Array(nC);
  prices[0] = 1;

  const series: PolicySeries = {
    name: spec.name,
    description: spec.description,
    times: h.times,
    equity: new Float64Array(n),
    classNames: u.classNames,
    targets: u.targets,
    lower: u.lower,
    upper: u.upper,
    weights: u.classNames.map(() => new Float64Array(n)),
    hedgeNotional: u.classNames.map(() => new Float64Array(n)),
    cumFunding: new Float64Array(n),
    rebalanceBars: [],
  };
  const counters: PolicyCounters = { rebalances: 0, turnover: 0, fees: 0, slippage: 0, fundingPaid: 0, fundingReceived: 0, liquidations: 0, orders: 0 };
  const fee = p.execution.fees;
  let plans = 0;
  let lastRebalance: number | undefined;
  let pending: Action[] = [];
  const spotOnly = spec.portfolio !== null && spec.portfolio.execution.instrument === 'spot' && spec.portfolio.classes.every((c) => !c.instrument || c.instrument === 'spot');

  const setPrices = (i: number, useOpen: boolean) => {
    const src = useOpen ? h.open : h.close;
    for (let a = 0; a < nA; a++) prices[u.ledgerAsset[a]!] = src[a]![i]!;
    for (let k = 0; k < nP; k++) {
      const spot = h.close[h.perpAsset[k]!]![i]!;
      const perp = h.perpClose[k]![i]!;
      marks[k] = useOpen ? (h.open[h.perpAsset[k]!]![i]! * perp) / spot : perp;
    }
  };

  const fill = (a: Action, i: number) => {
    const vol = h.volume;
    if (a.type === 'spot') {
      const asset = a.symbol!.slice(0, a.symbol!.indexOf('/'));
      const hi = h.assets.indexOf(asset);
      const li = ledger.assetIndex(asset);
      const ref = prices[li]!;
      const px = slippedPrice(ref, a.side!, o.slippage, o.impact, a.amount, vol[hi]![i]!);
      let qty = a.amount;
      if (a.side === 'buy') {
        // With next-open fills the price may have moved: never spend cash that is not there.
        const afford = ledger.balance[0]! / (px * (1 + fee.spotTaker));
        if (qty > afford) qty = Math.max(0, afford);
      } else if (qty > ledger.balance[li]!) qty = ledger.balance[li]!;
      if (qty <= 0) return;
      ledger.applySpotFill(li, a.side === 'buy' ? qty : -qty, px, fee.spotTaker);
      counters.fees += ledger.lastFee;
      counters.slippage += Math.abs(px - ref) * qty;
      counters.turnover += qty * px;
    } else if (a.type === 'futures') {
      const k = ledger.perpIndex(a.symbol!);
      const base = a.symbol!.slice(0, a.symbol!.indexOf('/'));
      const hi = h.assets.indexOf(base);
      const ref = marks[k]!;
      const px = slippedPrice(ref, a.side!, o.slippage, o.impact, a.amount, vol[hi]![i]!);
      let qty = a.amount;
      if (a.reduceOnly) qty = Math.min(qty, Math.abs(ledger.contracts[k]!));
      if (qty <= 0) return;
      ledger.applyPerpFill(k, a.side === 'buy' ? qty : -qty, px, fee.futuresTaker);
      counters.fees += ledger.lastFee;
      counters.slippage += Math.abs(px - ref) * qty;
      counters.turnover += qty * px;
    } else return;
    counters.orders++;
  };

  const execute = (actions: Action[], i: number) => {
    let traded = false;
    for (const a of actions) {
      if (a.type === 'wait') continue;
      const before = counters.orders;
      fill(a, i);
      traded ||= counters.orders > before;
    }
    if (traded) {
      counters.rebalances++;
      series.rebalanceBars.push(i);
    }
  };

  const snapshotAt = (i: number): Snapshot => {
    const balances: Record<string, number> = {};
    const priceMap: Record<string, number> = {};
    const markets: Record<string, Partial<MarketRules>> = {};
    for (let a = 0; a < ledger.assets.length; a++) {
      const name = ledger.assets[a]!;
      if (ledger.balance[a]! > 0) balances[name] = ledger.balance[a]!;
      priceMap[name] = prices[a]!;
      if (a > 0) markets[`${name}/${quote}`] = { amountStep: 1e-8, minNotional: o.minNotional };
    }
    const positions: Position[] = [];
    const markMap: Record<string, number> = {};
    const funding: Snapshot['funding'] = {};
    for (let k = 0; k < nP; k++) {
      const sym = ledger.perps[k]!;
      markMap[sym] = marks[k]!;
      markets[sym] = { amountStep: 1e-6, minNotional: o.minNotional, maintenanceMarginRate: o.maintenanceMarginRate };
      funding[sym] = { rate: lastRate[k]!, intervalHours: 8 };
      const c = ledger.contracts[k]!;
      if (c !== 0) {
        positions.push({ symbol: sym, contracts: c, contractSize: 1, entryPrice: ledger.entryPrice[k]!, leverage: ledger.leverage[k]!, marginMode: ledger.isolated[k] ? 'isolated' : 'cross' });
      }
    }
    return {
      time: h.times[i]!,
      prices: priceMap,
      marks: markMap,
      funding,
      accounts: [{ name: 'backtest', balances, positions }],
      markets,
      ...(lastRebalance !== undefined ? { lastRebalance } : {}),
    };
  };

  /** Can the planner act at bar i? A cheap, exact pre-check for spot-only policies without futures. */
  const mayAct = (i: number, equity: number): boolean => {
    if (!spotOnly) return true;
    for (let k = 0; k < nP; k++) if (ledger.contracts[k] !== 0) return true;
    const mode = p.rebalance.mode;
    const due = mode !== 'threshold' && isRebalanceDue(p.rebalance.schedule, lastRebalance, h.times[i]!);
    if (mode === 'calendar') return due;
    if (mode === 'hybrid' && !due) return false;
    let breach = false;
    let nonCash = 0;
    for (let c = 0; c < nC; c++) {
      if (c === u.cashClass) continue;
      nonCash += classValue[c]!;
      const w = classValue[c]! / equity;
      if (w > u.upper[c]! + 1e-9 || w < u.lower[c]! - 1e-9) breach = true;
    }
    if (u.cashClass >= 0) {
      const w = (equity - nonCash) / equity;
      if (w > u.upper[u.cashClass]! + 1e-9 || w < u.lower[u.cashClass]! - 1e-9) breach = true;
    }
    return breach || (mode === 'hybrid' && due);
  };

  const valueClasses = () => {
    classValue.fill(0);
    hedge.fill(0);
    for (let a = 0; a < nA; a++) {
      const c = u.assetClass[a]!;
      if (c < 0) continue;
      const li = u.ledgerAsset[a]!;
      classValue[c] += ledger.balance[li]! * prices[li]!;
    }
    for (let k = 0; k < nP; k++) {
      const c = u.perpClass[k]!;
      const q = ledger.contracts[k]!;
      if (c < 0 || q === 0) continue;
      const notional = q * marks[k]!;
      classValue[c] += notional;
      hedge[c] += notional;
    }
  };

  // ---- initial allocation at the first bar's close: every non-cash class at its target, spot.
  setPrices(0, false);
  for (const a of initialOrders(p, o.capital, prices, ledger)) fill(a, 0);
  const tick = Math.max(1, Math.floor(n / 200));

  for (let i = 0; i < n; i++) {
    if (pending.length > 0) {
      setPrices(i, true);
      execute(pending, i);
      pending = [];
    }
    setPrices(i, false);
    // Funding settlements that fall in this bar, on the perp close.
    for (let k = 0; k < nP; k++) {
      const f = h.funding[k]!;
      let j = fundingCursor[k]!;
      while (j < f.bar.length && f.bar[j]! <= i) {
        const rate = f.rate[j]!;
        lastRate[k] = rate;
        if (ledger.contracts[k] !== 0) {
          const paid = ledger.settleFunding(k, rate, marks[k]!);
          if (paid > 0) counters.fundingPaid += paid;
          else counters.fundingReceived -= paid;
        }
        j++;
      }
      fundingCursor[k] = j;
    }
    // Liquidation at the adverse extreme of the bar.
    let open = false;
    for (let k = 0; k < nP; k++) {
      const q = ledger.contracts[k]!;
      if (q === 0) {
        adverse[k] = marks[k]!;
        continue;
      }
      open = true;
      const a = h.perpAsset[k]!;
      const ratio = marks[k]! / h.close[a]![i]!;
      adverse[k] = (q < 0 ? h.high[a]![i]! : h.low[a]![i]!) * ratio;
    }
    if (open) counters.liquidations += ledger.checkLiquidation(adverse, h.times[i]!);

    let equity = ledger.equity(prices, marks);
    if (spec.portfolio !== null && i > 0 && equity > 0) {
      valueClasses();
      if (mayAct(i, equity)) {
        const result = plan(p, snapshotAt(i), { now: h.times[i]!, state: 'ACTIVE' });
        plans++;
        if (result.status !== 'not-due' && p.rebalance.mode !== 'threshold') lastRebalance = h.times[i]!;
        if (result.status === 'ok') {
          if (o.fill === 'close') execute(result.actions, i);
          else pending = result.actions;
        }
        equity = ledger.equity(prices, marks);
      }
    }
    valueClasses();
    series.equity[i] = equity;
    let nonCash = 0;
    for (let c = 0; c < nC; c++) {
      if (c === u.cashClass) continue;
      nonCash += classValue[c]!;
      series.weights[c]![i] = classValue[c]! / equity;
      series.hedgeNotional[c]![i] = hedge[c]!;
    }
    if (u.cashClass >= 0) series.weights[u.cashClass]![i] = (equity - nonCash) / equity;
    series.cumFunding[i] = counters.fundingReceived - counters.fundingPaid;
    if (onBar && (i + 1) % tick === 0) onBar(tick);
  }
  if (onBar) onBar(n % tick);
  return { series, counters, plans };
}

/** Spot buys that put every non-cash class at its target at the first bar (assets split by weights or equally). */
function initialOrders(p: Portfolio, capital: number, prices: Float64Array, ledger: Ledger): Action[] {
  const out: Action[] = [];
  const fee = p.execution.fees.spotTaker;
  for (const c of p.classes) {
    if (c.cash) continue;
    const assets = c.assets.filter((a) => a !== p.quote);
    for (const a of assets) {
      const share = c.weights ? (c.weights[a] ?? 0) : 1 / assets.length;
      const price = prices[ledger.assetIndex(a)]!;
      // Spend target × capital including the fee, so the cash class keeps its share.
      const value = (c.target * share * capital) / (1 + fee);
      if (value <= 0) continue;
      out.push({ type: 'spot', class: c.name, account: 'backtest', symbol: `${a}/${p.quote}`, side: 'buy', notional: value, amount: value / price, price, reduceOnly: false, reason: 'initial allocation at the targets' });
    }
  }
  return out;
}
