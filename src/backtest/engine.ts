/**
 * The backtester: replays aligned history bar by bar through the decision core and the simulator's
 * ledger (the same accounting the SimExchange uses for paper trading).
 *
 * Per bar i (time t = times[i]):
 *   1. with --fill next-open, orders decided at the previous close fill at this bar's open;
 *   2. funding settlements recorded in [t, t + bar) are paid on the perp close (positive rate: longs pay);
 *   3. liquidation check at the bar's adverse extreme (high for shorts, low for longs);
 *   4. decision at the close: is a rebalance due, is a band breached? If the trigger can fire, decide the
 *      orders, and with --fill close fill them at the close ± slippage, taker fees in the quote currency;
 *   5. the bar's metrics are accumulated (returns, drawdown, time in band, tracking error: every bar), and
 *      at a recorded point (every bar up to `maxPoints` bars, else every k-th bar and the last) equity,
 *      class weights, hedge notional and cumulative funding are recorded.
 * The run starts fully invested at the targets at the first bar (fees paid), buy-and-hold never trades again.
 *
 * ## One engine, struct-of-arrays, two decision paths
 *
 * State is struct-of-arrays: the ledger's typed arrays (balances, contracts, …) plus the engine's own
 * (prices, marks, class values, funding cursors), all indexed by integers resolved once at load time.
 * The recorded series are preallocated Float64Arrays of at most `maxPoints` points. The per-bar path —
 * prices, funding, liquidation, valuation, the trigger pre-check, the metrics, the recorded series —
 * allocates nothing (no boxed doubles either: counters and accumulators live in typed arrays) and looks
 * nothing up by name.
 *
 * The decision itself:
 * - spot-only policies with no open futures position (the common case) decide with the rebalance kernel
 *   (`SpotKernel`, src/core/kernel.ts): `plan()`'s arithmetic over typed arrays, the same orders, no
 *   allocation. It is asked only when its trigger can fire (a calendar period began, or a band is breached);
 * - every other policy (futures overlay, auto, beta-neutral, or a spot policy while a position is open)
 *   builds a snapshot and calls the general planner `plan()` — hedges, margin, funding budget and the
 *   cost model live there. A spot-only policy asks it only when its trigger can fire, others every bar.
 *   `BacktestOptions.kernel = false` sends every decision there (the same numbers, slower).
 *
 * Funding settlement and liquidation checks run for every policy; while no futures position is open they
 * have nothing to settle or check and cost one comparison a bar (funding cursors catch up, without
 * payment, before a rate is read or a position can open). The calendar due-check is one comparison
 * against the next period's start (`nextPeriodStart`).
 *
 * Between decisions a flat book (no futures position, nothing pending) changes value only with prices, so
 * such stretches are computed a block of bars at a time, column by column (`flatBlock`), with the very
 * same arithmetic as the per-bar path; the bar where the trigger can fire goes through the per-bar path.
 */
import { bandEdges } from '../core/bands.js';
import { nextPeriodStart, SpotKernel, spotKernelApplies } from '../core/kernel.js';
import { plan } from '../core/planner.js';
import type { Action, ActionPurpose, MarketRules, Plan, Portfolio, Position, Rejection, Snapshot } from '../core/types.js';
import type { MarketHistory } from '../adapters/history/history.js';
import { Ledger } from '../adapters/sim/ledger.js';
import { slippageFraction } from '../adapters/sim/slippage.js';
import { TaxBook } from './taxbook.js';
import { BAND_EPSILON, welford, type HedgeStats, type OutOfBandBars, type PolicyCounters, type PolicyExtras, type PolicySeries, type RunSummary } from './metrics.js';
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
  /**
   * Decide spot-only policies with the rebalance kernel (default). false: every decision goes through the
   * general planner — slower, the same numbers (test/backtest/kernel-path.test.ts checks it).
   */
  kernel?: boolean;
  /**
   * Most points the series keep (default {@link SERIES_POINTS}): every bar when the run has at most that
   * many, else every k-th bar (k = ⌈(bars − 1) / (maxPoints − 1)⌉) plus the last. The metrics do not
   * depend on it: they are accumulated over every bar (`PolicySeries.summary`).
   */
  maxPoints?: number;
  /** Called for every fill (the initial allocation included), for `--trades`. */
  onFill?: (fill: BacktestFill) => void;
}

/** One fill of a backtest (`ballast backtest --trades`). */
export interface BacktestFill {
  time: number;
  symbol: string;
  side: 'buy' | 'sell';
  qty: number;
  price: number;
  fee: number;
  /** The leg's purpose (rebalance, hedge-open, hedge-convert, …), 'initial', or 'liquidation'. */
  reason: string;
  /** The class the leg serves ('' when unknown). */
  class: string;
}

/** Default most points per recorded series: the report's chart resolution (report.ts MAX_POINTS). */
export const SERIES_POINTS = 5000;

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
  extras: PolicyExtras;
  /** Decisions computed (for the benchmark and progress): general planner calls + kernel calls. */
  plans: number;
  /** Of `plans`, how many the rebalance kernel computed. */
  kernelPlans: number;
}

/** Perp symbol of a base asset in the backtest universe: `BTC/USDT:USDT`. */
export const perpSymbol = (base: string, quote: string) => `${base}/${quote}:${quote}`;

/** Lot steps the backtest venue uses (spot and perps) — the snapshot's market rules. */
const SPOT_STEP = 1e-8;
const PERP_STEP = 1e-6;

/**
 * The run's counters (PolicyCounters), accumulated in place. Numeric fields of one class: V8 keeps each
 * in a double field (a write updates it in place, nothing allocated per bar).
 */
class Counters implements PolicyCounters {
  rebalances = 0;
  turnover = 0;
  fees = 0;
  slippage = 0;
  fundingPaid = 0;
  fundingReceived = 0;
  liquidations = 0;
  orders = 0;
  perpFees = 0;
  perpSlippage = 0;
  basisPnl = 0;
}

/** Settlements averaged for the expected funding rate the planner sees (a week of 8 h intervals). */
const FUNDING_MEAN_WINDOW = 21;
/** A perp's funding is known at a bar when a settlement was recorded within this long before it. */
const FUNDING_KNOWN_MS = 24 * 3_600_000;

// Causes of out-of-band bars (OutOfBandBars.byCause), set by the bar's decision.
const OOB_NOT_DUE = 0;
const OOB_WAITED = 1;
const OOB_CASH_SHORT = 2;
const OOB_DROPPED = 3;
const OOB_PENDING = 4;
const OOB_AFTER_TRADE = 5;

/**
 * The life of every hedge (a perp position opened by the policy): when it opened, how it ended, which bars
 * it was held with a known funding rate. Fed by the engine's perp fills and liquidations.
 */
class HedgeBook {
  readonly openBar: Int32Array;
  readonly closeBar: Int32Array;
  readonly heldBars: Float64Array;
  readonly knownBars: Float64Array;
  readonly lives: number[] = [];
  readonly closedBy = { unwound: 0, converted: 0, cutForMargin: 0, cutForFunding: 0, cutForCap: 0, liquidated: 0 };
  opened = 0;
  reopenedNextBar = 0;

  constructor(
    readonly symbols: readonly string[],
    readonly times: Float64Array,
  ) {
    const n = symbols.length;
    this.openBar = new Int32Array(n).fill(-1);
    this.closeBar = new Int32Array(n).fill(-2);
    this.heldBars = new Float64Array(n);
    this.knownBars = new Float64Array(n);
  }

  /** A fill on perp k took its position from `before` to `after` contracts at bar i. */
  fill(k: number, before: number, after: number, i: number, purpose: ActionPurpose | 'liquidation' | undefined): void {
    if (before !== 0 && (after === 0 || Math.sign(after) !== Math.sign(before))) this.close(k, i, purpose);
    if (after !== 0 && (before === 0 || Math.sign(after) !== Math.sign(before))) {
      this.opened++;
      if (this.closeBar[k] === i - 1) this.reopenedNextBar++;
      this.openBar[k] = i;
    }
  }

  private close(k: number, i: number, purpose: ActionPurpose | 'liquidation' | undefined): void {
    this.lives.push(i - this.openBar[k]!);
    this.closeBar[k] = i;
    this.openBar[k] = -1;
    const by = this.closedBy;
    if (purpose === 'liquidation') by.liquidated++;
    else if (purpose === 'hedge-convert') by.converted++;
    else if (purpose === 'hedge-cut-margin') by.cutForMargin++;
    else if (purpose === 'hedge-cut-funding') by.cutForFunding++;
    else if (purpose === 'hedge-cut-cap') by.cutForCap++;
    else by.unwound++;
  }

  /** Bar i ends with perp k held; `known`: its funding rate was known. */
  held(k: number, known: boolean): void {
    this.heldBars[k]!++;
    if (known) this.knownBars[k]!++;
  }

  /** When the open position on perp k was opened (epoch ms), if it is one the book saw open. */
  openedAt(k: number): number | undefined {
    const b = this.openBar[k]!;
    return b >= 0 ? this.times[b]! : undefined;
  }

  stats(): HedgeStats {
    const lives = [...this.lives].sort((a, b) => a - b);
    const m = lives.length >> 1;
    const median = lives.length === 0 ? 0 : lives.length % 2 ? lives[m]! : (lives[m - 1]! + lives[m]!) / 2;
    const fundingCoverage: HedgeStats['fundingCoverage'] = {};
    this.symbols.forEach((sym, k) => {
      if (this.heldBars[k]! > 0) fundingCoverage[sym] = { heldBars: this.heldBars[k]!, knownFundingBars: this.knownBars[k]! };
    });
    let open = 0;
    for (let k = 0; k < this.openBar.length; k++) if (this.openBar[k]! >= 0) open++;
    return { opened: this.opened, medianLifeBars: median, closedBy: { ...this.closedBy }, reopenedNextBar: this.reopenedNextBar, openAtEnd: open, fundingCoverage };
  }
}

const MODE_THRESHOLD = 0;
const MODE_CALENDAR = 1;
const MODE_HYBRID = 2;

interface Universe {
  /** History asset index → ledger asset index. */
  ledgerAsset: Int32Array;
  /** Ledger asset index → history asset index (−1: not in the history). */
  historyAsset: Int32Array;
  /** Class index per history asset (−1: none). */
  assetClass: Int32Array;
  /** History perp index → class index (the ledger's perps are in history order). */
  perpClass: Int32Array;
  classNames: string[];
  targets: number[];
  lower: number[];
  upper: number[];
  lowerArr: Float64Array;
  upperArr: Float64Array;
  cashClass: number;
}

function universe(p: Portfolio, h: MarketHistory, ledger: Ledger): Universe {
  const assetClass = new Int32Array(h.assets.length).fill(-1);
  const ledgerAsset = new Int32Array(h.assets.length);
  const historyAsset = new Int32Array(ledger.assets.length).fill(-1);
  h.assets.forEach((a, i) => {
    ledgerAsset[i] = ledger.assetIndex(a);
    historyAsset[ledgerAsset[i]!] = i;
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
    historyAsset,
    assetClass,
    perpClass,
    classNames: p.classes.map((c) => c.name),
    targets: p.classes.map((c) => c.target),
    lower: edges.map((e) => e.lower),
    upper: edges.map((e) => e.upper),
    lowerArr: Float64Array.from(edges.map((e) => e.lower)),
    upperArr: Float64Array.from(edges.map((e) => e.upper)),
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
  const nL = ledger.assets.length;

  // ---- load time: everything the loop needs, as typed arrays and integer indices.
  const times = h.times;
  const closeCol = h.close;
  const openCol = h.open;
  const highCol = h.high;
  const lowCol = h.low;
  const volumeCol = h.volume;
  const perpCloseCol = h.perpClose;
  const perpAsset = Int32Array.from(h.perpAsset);
  const fundingBar = h.funding.map((f) => f.bar);
  const fundingRate = h.funding.map((f) => f.rate);
  const ledgerAsset = u.ledgerAsset;
  const historyAsset = u.historyAsset;
  const assetClass = u.assetClass;
  const perpClass = u.perpClass;
  const cashClass = u.cashClass;
  const lowerArr = u.lowerArr;
  const upperArr = u.upperArr;
  const balance = ledger.balance;
  const contracts = ledger.contracts;
  const spotFee = p.execution.fees.spotTaker;
  const futuresFee = p.execution.fees.futuresTaker;
  const halfSpread = o.slippage;
  const impact = o.impact;
  // slippageFraction(halfSpread, impact, ·, ·) when impact is 0: the same value for every order.
  const spotSlip = slippageFraction(halfSpread, 0, 0, 0);
  const nextOpen = o.fill === 'next-open';

  // Per-bar state, indexed like the ledger.
  const prices = new Float64Array(nL);
  const marks = new Float64Array(nP);
  const adverse = new Float64Array(nP);
  const lastRate = new Float64Array(nP);
  const fundingCursor = new Int32Array(nP);
  const classValue = new Float64Array(nC);
  const hedge = new Float64Array(nC);
  prices[0] = 1;

  // Recorded points: every bar up to maxPoints bars, else every `stride`-th bar plus the last.
  const points = recordedPoints(n, o.maxPoints ?? SERIES_POINTS);
  const nPts = points.length;
  // Series at the recorded points, one array each: at most maxPoints × 8 bytes (40 KiB by default), small
  // enough for the allocator to serve from memory it already has (no fresh pages to fault in per run).
  const equityOut = new Float64Array(nPts);
  const cumFunding = new Float64Array(nPts);
  const weights = u.classNames.map(() => new Float64Array(nPts));
  // Per-class hedge notional series, allocated when a futures position first opens (zero before).
  let hedgeNotional: Float64Array[] | null = null;
  let point = 0;
  let nextPoint = nPts > 0 ? points[0]! : -1;
  let rebalanceBars = new Int32Array(64);
  let rebalanceEquity = new Float64Array(64);
  let nRebalanceBars = 0;
  let nRebalanceEquity = 0;
  // Metrics over every bar (see metrics.ts): previous equity, peak, max drawdown, returns (Welford),
  // returns sum, bars in band, tracking Σ². A typed array: no boxed doubles in the closures' context.
  const st = new Float64Array(8);
  const ST_PREV = 0;
  const ST_PEAK = 1;
  const ST_MAXDD = 2;
  const ST_RSUM = 3;
  const ST_INBAND = 4;
  const ST_TRACK = 5;
  st[ST_PEAK] = -Infinity;
  const wf = new Float64Array(3);
  const targetArr = Float64Array.from(u.targets);
  const lowerEps = lowerArr.map((x) => x - BAND_EPSILON);
  const upperEps = upperArr.map((x) => x + BAND_EPSILON);
  const wBar = new Float64Array(nC);
  // Class weights at recorded points, WTILE points at a time (point-major: point k's row at
  // (k mod WTILE) × nC), copied to the per-class series when the tile is full and at the last point: a
  // point writes one contiguous row, and each series gets WTILE values per visit.
  const WTILE = 8;
  const wTile = new Float64Array(WTILE * nC);
  const acc = new Counters();
  // Out-of-band bars by cause (OOB_*), and the cause the current bar's decision leaves.
  const oob = new Float64Array(6);
  let barCause = OOB_NOT_DUE;
  const book = new HedgeBook(ledger.perps, times);
  // Tax lots from every spot fill (the initial allocation included) under the portfolio's method.
  const taxBook = p.tax ? new TaxBook(p.tax, ledger.assets) : null;
  const lastSettleBar = new Int32Array(nP).fill(-1);
  const prevMark = new Float64Array(nP);
  const prevClassSpot = new Float64Array(nC);
  const contractsBefore = new Float64Array(nP);
  const onFill = o.onFill;
  // The purpose and class of the leg being filled (for the hedge book and --trades).
  let legPurpose: ActionPurpose | undefined;
  let legClass = '';
  let plans = 0;
  let kernelPlans = 0;
  let lastRebalance: number | undefined;
  let nextDue = -Infinity;
  let pending: Action[] | null = null;
  let pendingKernel = 0;
  const decides = spec.portfolio !== null;
  const betaNeutral = p.strategy.type === 'beta-neutral';
  const spotOnly = spec.portfolio !== null && spec.portfolio.execution.instrument === 'spot' && spec.portfolio.classes.every((c) => !c.instrument || c.instrument === 'spot');
  const mode = p.rebalance.mode === 'threshold' ? MODE_THRESHOLD : p.rebalance.mode === 'calendar' ? MODE_CALENDAR : MODE_HYBRID;
  const schedule = p.rebalance.schedule;
  const kernel = decides && o.kernel !== false && spotKernelApplies(p) ? new SpotKernel(p, ledger.assets, () => ({ amountStep: SPOT_STEP, minAmount: 0, minNotional: o.minNotional })) : null;

  // Symbols of the general path, resolved once.
  const spotSymbols = ledger.assets.map((a) => `${a}/${quote}`);
  const spotBySymbol = new Map<string, number>();
  for (let li = 1; li < nL; li++) spotBySymbol.set(spotSymbols[li]!, li);
  const perpBySymbol = new Map<string, number>();
  ledger.perps.forEach((s, k) => perpBySymbol.set(s, k));
  let markets: Record<string, Partial<MarketRules>> | null = null;

  let openCount = 0;
  const countOpen = () => {
    let c = 0;
    for (let k = 0; k < nP; k++) if (contracts[k] !== 0) c++;
    openCount = c;
  };

  /**
   * Funding cursors: fundingCursor[k] is the first event of perp k not yet processed. While every
   * position is flat, the kernel path leaves the cursors behind (an event on a flat book pays nothing) and
   * `fundingBehind` says so; `syncFunding(upTo)` catches them up, recording the last rate, before anything
   * reads a rate or a futures position can open.
   */
  let nextFunding = n;
  let fundingBehind = false;
  const syncFunding = (upTo: number) => {
    if (!fundingBehind) return;
    for (let k = 0; k < nP; k++) {
      const bars = fundingBar[k]!;
      let j = fundingCursor[k]!;
      while (j < bars.length && bars[j]! <= upTo) j++;
      if (j > fundingCursor[k]!) {
        lastRate[k] = fundingRate[k]![j - 1]!;
        lastSettleBar[k] = bars[j - 1]!;
      }
      fundingCursor[k] = j;
    }
    fundingBehind = false;
    findNextFunding();
  };
  const findNextFunding = () => {
    let next = n;
    for (let k = 0; k < nP; k++) {
      const j = fundingCursor[k]!;
      const bars = fundingBar[k]!;
      if (j < bars.length && bars[j]! < next) next = bars[j]!;
    }
    nextFunding = next;
  };

  const setPrices = (i: number, useOpen: boolean) => {
    const src = useOpen ? openCol : closeCol;
    for (let a = 0; a < nA; a++) prices[ledgerAsset[a]!] = src[a]![i]!;
  };
  const setMarks = (i: number, useOpen: boolean) => {
    for (let k = 0; k < nP; k++) {
      const a = perpAsset[k]!;
      const perp = perpCloseCol[k]![i]!;
      marks[k] = useOpen ? (openCol[a]![i]! * perp) / closeCol[a]![i]! : perp;
    }
  };

  const markRebalance = (i: number) => {
    acc.rebalances++;
    if (nRebalanceBars === rebalanceBars.length) {
      const grown = new Int32Array(2 * rebalanceBars.length);
      grown.set(rebalanceBars);
      rebalanceBars = grown;
    }
    rebalanceBars[nRebalanceBars++] = i;
  };

  /**
   * The end of bar i at `equity` with the class values in `classValue`: class weights (cash = the rest),
   * the metrics over every bar (returns, drawdown, time in band, tracking error — metrics.ts's
   * arithmetic), the equity of a rebalance made at this bar, and the series if i is a recorded point.
   */
  const endBar = (i: number, equity: number) => {
    const cash = cashClass;
    const classes = nC;
    const val = classValue;
    // The weights go to wBar, or at a recorded point straight to its row of the weight tile.
    const rec = i === nextPoint;
    const w8 = rec ? wTile : wBar;
    const off = rec ? (point % WTILE) * classes : 0;
    const lo = lowerEps;
    const hi = upperEps;
    const tg = targetArr;
    let inside = 1;
    let track = st[ST_TRACK]!;
    if (cash < 0 || cash === classes - 1) {
      // The cash class (if any) comes last: one pass over the non-cash classes (their values summed in
      // class order as weightsOf sums them), then the cash weight — the same values in the same order.
      const last = cash < 0 ? classes : cash;
      let nonCash = 0;
      for (let c = 0; c < last; c++) {
        const v = val[c]!;
        nonCash += v;
        const w = v / equity;
        w8[off + c] = w;
        if (!(w >= lo[c]! && w <= hi[c]!)) inside = 0;
        track += (w - tg[c]!) ** 2;
      }
      if (cash >= 0) {
        const w = (equity - nonCash) / equity;
        w8[off + cash] = w;
        if (!(w >= lo[cash]! && w <= hi[cash]!)) inside = 0;
        track += (w - tg[cash]!) ** 2;
      }
    } else {
      // weightsOf and accountBar's class loop in one pass: the cash weight (the rest) first, from the
      // non-cash values summed in class order as weightsOf sums them.
      let nonCash = 0;
      for (let c = 0; c < classes; c++) if (c !== cash) nonCash += val[c]!;
      const cashWeight = (equity - nonCash) / equity;
      for (let c = 0; c < classes; c++) {
        const w = c === cash ? cashWeight : val[c]! / equity;
        w8[off + c] = w;
        if (!(w >= lo[c]! && w <= hi[c]!)) inside = 0;
        track += (w - tg[c]!) ** 2;
      }
    }
    st[ST_TRACK] = track;
    finishBar(i, equity, inside);
  };

  /** Bar i's metrics and recorded point, from `equity` and the weights in wBar. */
  const accountBar = (i: number, equity: number) => {
    const w8 = wBar;
    const lo = lowerEps;
    const hi = upperEps;
    const tg = targetArr;
    const classes = nC;
    let inside = 1;
    let track = st[ST_TRACK]!;
    for (let c = 0; c < classes; c++) {
      const w = w8[c]!;
      if (!(w >= lo[c]! && w <= hi[c]!)) inside = 0;
      track += (w - tg[c]!) ** 2;
    }
    st[ST_TRACK] = track;
    if (i === nextPoint) wTile.set(w8, (point % WTILE) * classes);
    finishBar(i, equity, inside);
  };

  /** The rest of bar i's metrics (time in band, returns, drawdown), a rebalance's equity, the recorded point. */
  const finishBar = (i: number, equity: number, inside: number) => {
    st[ST_INBAND]! += inside;
    if (inside === 0) oob[barCause]!++;
    if (i > 0) {
      const prev = st[ST_PREV]!;
      if (prev > 0) {
        const r = equity / prev - 1;
        st[ST_RSUM]! += r;
        welford(wf, r);
      }
    }
    st[ST_PREV] = equity;
    if (equity > st[ST_PEAK]!) st[ST_PEAK] = equity;
    const peak = st[ST_PEAK]!;
    if (peak > 0) {
      const d = (peak - equity) / peak;
      if (d > st[ST_MAXDD]!) st[ST_MAXDD] = d;
    }
    if (nRebalanceEquity < nRebalanceBars) {
      if (nRebalanceEquity === rebalanceEquity.length) {
        const grown = new Float64Array(2 * rebalanceEquity.length);
        grown.set(rebalanceEquity);
        rebalanceEquity = grown;
      }
      rebalanceEquity[nRebalanceEquity++] = equity;
    }
    if (i === nextPoint) {
      const k = point;
      equityOut[k] = equity;
      // The point's weights are in its tile row (endBar, accountBar): the tile goes to the series when
      // full and at the last point.
      const r = k % WTILE;
      if (r === WTILE - 1 || k === nPts - 1) {
        const k0 = k - r;
        const tile = wTile;
        const classes = nC;
        for (let c = 0; c < classes; c++) {
          const col = weights[c]!;
          for (let t = 0, x = c; t <= r; t++, x += classes) col[k0 + t] = tile[x]!;
        }
      }
      // Hedge notionals are zero (the arrays' initial value) while no position is open.
      if (openCount > 0) {
        hedgeNotional ??= u.classNames.map(() => new Float64Array(nPts));
        for (let c = 0; c < nC; c++) hedgeNotional[c]![k] = hedge[c]!;
      }
      cumFunding[k] = acc.fundingReceived - acc.fundingPaid;
      point = k + 1;
      nextPoint = point < nPts ? points[point]! : -1;
    }
  };

  /** One spot fill at the current prices ± slippage; with next-open fills never spends cash that is not there. */
  const fillSpot = (li: number, buy: boolean, amount: number, i: number): boolean => {
    const ref = prices[li]!;
    // The bar's volume matters only to the impact term.
    const s = slippageFraction(halfSpread, impact, amount, impact > 0 ? volumeCol[historyAsset[li]!]![i]! : 0);
    const px = buy ? ref * (1 + s) : ref * (1 - s);
    let qty = amount;
    if (buy) {
      // qty ≤ cash / cost for sure when qty × cost < cash × (1 − 1e-15) (float error ≤ 3 × 2⁻⁵³); else divide.
      const cost = px * (1 + spotFee);
      const cash = balance[0]!;
      if (!(qty * cost < cash * (1 - 1e-15))) {
        const afford = cash / cost;
        if (qty > afford) qty = Math.max(0, afford);
      }
    } else if (qty > balance[li]!) qty = balance[li]!;
    if (qty <= 0) return false;
    ledger.applySpotFill(li, buy ? qty : -qty, px, spotFee);
    if (taxBook) {
      if (buy) taxBook.buy(li, times[i]!, qty, px * (1 + spotFee));
      else taxBook.sell(li, times[i]!, qty, px * (1 - spotFee));
    }
    acc.fees += ledger.lastFee;
    acc.slippage += Math.abs(px - ref) * qty;
    acc.turnover += qty * px;
    acc.orders++;
    if (onFill) onFill({ time: times[i]!, symbol: spotSymbols[li]!, side: buy ? 'buy' : 'sell', qty, price: px, fee: ledger.lastFee, reason: legPurpose ?? 'rebalance', class: legClass });
    return true;
  };

  const fillKernel = (count: number, i: number) => {
    if (impact > 0 || onFill || taxBook) {
      // fillSpot order by order (the inline loop below is its arithmetic without impact or a fill recorder).
      let traded = false;
      legPurpose = 'rebalance';
      for (let j = 0; j < count; j++) {
        legClass = u.classNames[kernel!.orderClass[j]!] ?? '';
        if (fillSpot(kernel!.orderAsset[j]!, kernel!.orderSide[j]! > 0, kernel!.orderAmount[j]!, i)) traded = true;
      }
      if (traded) markRebalance(i);
      return;
    }
    // No market impact: fillSpot's arithmetic with the slippage fraction a constant, the counters
    // accumulated in locals (the same additions in the same order) and stored once.
    const s = spotSlip;
    const orderAsset = kernel!.orderAsset;
    const orderSide = kernel!.orderSide;
    const orderAmount = kernel!.orderAmount;
    const bal = balance;
    const px0 = prices;
    // (+ 0: an unboxed double for the loop; the fee rate is ≥ 0.)
    const feeRate = spotFee + 0;
    const costFactor = 1 + s;
    let fees = acc.fees;
    let slip = acc.slippage;
    let turnover = acc.turnover;
    let orders = acc.orders;
    let spotFees = ledger.spotFees;
    let lastFee = ledger.lastFee;
    let traded = false;
    // The quote wallet in a local (the kernel's orders never trade asset 0, the quote), stored once below.
    let cash = bal[0]!;
    for (let j = 0; j < count; j++) {
      const li = orderAsset[j]!;
      const buy = orderSide[j]! > 0;
      const ref = px0[li]!;
      const px = buy ? ref * costFactor : ref * (1 - s);
      let qty = orderAmount[j]!;
      const held = bal[li]!;
      if (buy) {
        const cost = px * (1 + feeRate);
        if (!(qty * cost < cash * (1 - 1e-15))) {
          const afford = cash / cost;
          if (qty > afford) qty = Math.max(0, afford);
        }
      } else if (qty > held) qty = held;
      if (qty <= 0) continue;
      // ledger.applySpotFill(li, ±qty, px, feeRate), inline (its spotFees and lastFee stored below).
      const signed = buy ? qty : -qty;
      const value = signed * px;
      const fee = (value < 0 ? -value : value) * feeRate;
      bal[li] = held + signed;
      cash = cash - (value + fee);
      spotFees += fee;
      lastFee = fee;
      fees += fee;
      slip += Math.abs(px - ref) * qty;
      turnover += qty * px;
      orders++;
      traded = true;
    }
    bal[0] = cash;
    acc.fees = fees;
    acc.slippage = slip;
    acc.turnover = turnover;
    acc.orders = orders;
    ledger.spotFees = spotFees;
    ledger.lastFee = lastFee;
    if (traded) markRebalance(i);
  };

  const fillAction = (a: Action, i: number): boolean => {
    if (a.type === 'spot') {
      const li = spotBySymbol.get(a.symbol!);
      if (li === undefined) throw new Error(`backtest: no history for ${a.symbol}`);
      legPurpose = a.purpose;
      legClass = a.class;
      return fillSpot(li, a.side === 'buy', a.amount, i);
    }
    if (a.type !== 'futures') return false;
    const k = perpBySymbol.get(a.symbol!);
    if (k === undefined) throw new Error(`backtest: no history for ${a.symbol}`);
    // At the open of bar i (next-open fills) this bar's funding is still to come; at its close it has passed.
    syncFunding(nextOpen ? i - 1 : i);
    const ref = marks[k]!;
    const s = slippageFraction(halfSpread, impact, a.amount, volumeCol[perpAsset[k]!]![i]!);
    const px = a.side === 'buy' ? ref * (1 + s) : ref * (1 - s);
    let qty = a.amount;
    if (a.reduceOnly) qty = Math.min(qty, Math.abs(contracts[k]!));
    if (qty <= 0) return false;
    const before = contracts[k]!;
    const realisedPnl = ledger.applyPerpFill(k, a.side === 'buy' ? qty : -qty, px, futuresFee);
    taxBook?.perpPnl(times[i]!, realisedPnl - ledger.lastFee);
    book.fill(k, before, contracts[k]!, i, a.purpose);
    acc.fees += ledger.lastFee;
    acc.perpFees += ledger.lastFee;
    const slip = Math.abs(px - ref) * qty;
    acc.slippage += slip;
    acc.perpSlippage += slip;
    acc.turnover += qty * px;
    acc.orders++;
    if (onFill) onFill({ time: times[i]!, symbol: a.symbol!, side: a.side!, qty, price: px, fee: ledger.lastFee, reason: a.purpose ?? 'rebalance', class: a.class });
    return true;
  };

  const execute = (actions: Action[], i: number) => {
    let traded = false;
    for (const a of actions) {
      if (a.type === 'wait') continue;
      if (fillAction(a, i)) traded = true;
    }
    if (traded) markRebalance(i);
    countOpen();
  };

  /** Is perp k's funding rate known at bar i (a settlement recorded within FUNDING_KNOWN_MS)? */
  const fundingKnown = (k: number, i: number): boolean => {
    const b = lastSettleBar[k]!;
    return b >= 0 && times[i]! - times[b]! <= FUNDING_KNOWN_MS;
  };

  /** The general planner's input: the ledger as a snapshot (built only when `plan()` is asked). */
  const snapshotAt = (i: number): Snapshot => {
    if (markets === null) {
      markets = {};
      for (let a = 1; a < nL; a++) markets[spotSymbols[a]!] = { amountStep: SPOT_STEP, minNotional: o.minNotional };
      for (let k = 0; k < nP; k++) markets[ledger.perps[k]!] = { amountStep: PERP_STEP, minNotional: o.minNotional, maintenanceMarginRate: o.maintenanceMarginRate };
    }
    const balances: Record<string, number> = {};
    const priceMap: Record<string, number> = {};
    for (let a = 0; a < nL; a++) {
      const name = ledger.assets[a]!;
      if (balance[a]! > 0) balances[name] = balance[a]!;
      priceMap[name] = prices[a]!;
    }
    const positions: Position[] = [];
    const markMap: Record<string, number> = {};
    const funding: Snapshot['funding'] = {};
    for (let k = 0; k < nP; k++) {
      const sym = ledger.perps[k]!;
      markMap[sym] = marks[k]!;
      // A rate is known only when a settlement was recorded within FUNDING_KNOWN_MS: a hole in the
      // history is unknown funding, never 0 %.
      if (fundingKnown(k, i)) {
        const rates = fundingRate[k]!;
        const j = fundingCursor[k]!;
        const from = Math.max(0, j - FUNDING_MEAN_WINDOW);
        let sum = 0;
        for (let x = from; x < j; x++) sum += rates[x]!;
        funding[sym] = { rate: lastRate[k]!, intervalHours: 8, mean: sum / (j - from) };
      }
      const c = contracts[k]!;
      if (c !== 0) {
        const opened = book.openedAt(k);
        positions.push({ symbol: sym, contracts: c, contractSize: 1, entryPrice: ledger.entryPrice[k]!, leverage: ledger.leverage[k]!, marginMode: ledger.isolated[k] ? 'isolated' : 'cross', ...(opened !== undefined ? { openedAt: opened } : {}) });
      }
    }
    return {
      time: times[i]!,
      prices: priceMap,
      marks: markMap,
      funding,
      accounts: [{ name: 'backtest', balances, positions, ...(taxBook ? { lots: taxBook.accountLots() } : {}) }],
      markets,
      ...(lastRebalance !== undefined ? { lastRebalance } : {}),
    };
  };

  /** Is a band breached (by the engine's class values)? The cheap pre-check of the threshold trigger. */
  const breached = (equity: number): boolean => {
    let nonCash = 0;
    let breach = false;
    for (let c = 0; c < nC; c++) {
      if (c === cashClass) continue;
      nonCash += classValue[c]!;
      const w = classValue[c]! / equity;
      if (w > upperArr[c]! + 1e-9 || w < lowerArr[c]! - 1e-9) breach = true;
    }
    if (cashClass >= 0) {
      const w = (equity - nonCash) / equity;
      if (w > upperArr[cashClass]! + 1e-9 || w < lowerArr[cashClass]! - 1e-9) breach = true;
    }
    return breach;
  };

  /**
   * Can a decision at bar i trade? Without an open futures position `plan()` has no hedge to maintain, so
   * it acts only when its trigger fires (a calendar period began; a band is breached) — checked here on the
   * engine's class values, without building a snapshot. With a position open (hedge maintenance: unwind,
   * funding budget, margin risk) or a beta-neutral strategy (its own trigger), `plan()` is asked every bar.
   */
  const mayAct = (due: boolean, equity: number): boolean => {
    if (openCount > 0 || betaNeutral) return true;
    if (mode === MODE_CALENDAR) return due;
    if (mode === MODE_HYBRID && !due) return false;
    return breached(equity) || (mode === MODE_HYBRID && due);
  };

  /** Spot value of class c's assets at the current prices. */
  const classSpot = (c: number): number => {
    let v = 0;
    for (let a = 0; a < nA; a++) {
      if (assetClass[a] !== c) continue;
      const li = ledgerAsset[a]!;
      v += balance[li]! * prices[li]!;
    }
    return v;
  };

  const valueClasses = () => {
    classValue.fill(0);
    for (let a = 0; a < nA; a++) {
      const c = assetClass[a]!;
      if (c < 0) continue;
      const li = ledgerAsset[a]!;
      classValue[c]! += balance[li]! * prices[li]!;
    }
    if (openCount === 0) return;
    hedge.fill(0);
    for (let k = 0; k < nP; k++) {
      const c = perpClass[k]!;
      const q = contracts[k]!;
      if (c < 0 || q === 0) continue;
      const notional = q * marks[k]!;
      classValue[c]! += notional;
      hedge[c]! += notional;
    }
  };

  /**
   * The closes bar-major, CLOSE_ROWS bars at a time: closeRows[(i − rowsFrom) × nA + a] = close of history
   * asset a at bar i, copied column by column (sequential reads) when the per-bar path reaches a bar past
   * the block. A per-bar pass then reads one row, not one element of each of nA columns. A block that
   * continues the previous one holds CLOSE_ROWS bars; one after a jump (flat blocks in between), 8.
   */
  const CLOSE_ROWS = 128;
  const closeRows = new Float64Array(CLOSE_ROWS * nA);
  let rowsFrom = -1;
  let rowsTo = -1;
  /** Offset of bar i's row in closeRows (refilled from bar i when i is outside the cached block). */
  const closeRow = (i: number): number => {
    if (i < rowsFrom || i >= rowsTo) {
      const end = Math.min(n, i + (i === rowsTo ? CLOSE_ROWS : 8));
      const rows = closeRows;
      for (let a = 0; a < nA; a++) {
        const col = closeCol[a]!;
        for (let k = i, x = a; k < end; k++, x += nA) rows[x] = col[k]!;
      }
      rowsFrom = i;
      rowsTo = end;
    }
    return (i - rowsFrom) * nA;
  };

  /**
   * The flat-book bar in one pass: close prices, equity and class values. Equity adds the spot terms in
   * the ledger's order (its assets are the history's, quote first), as ledger.equity does; with no
   * position open its perp terms are all zero. Class values add in history order, as valueClasses does.
   */
  const flatBar = (i: number): number => {
    const rows = closeRows;
    const x0 = closeRow(i);
    classValue.fill(0);
    let e = balance[0]!;
    for (let a = 0; a < nA; a++) {
      const li = ledgerAsset[a]!;
      const px = rows[x0 + a]!;
      prices[li] = px;
      const v = balance[li]! * px;
      if (li !== 0 && balance[li] !== 0) e += v;
      const c = assetClass[a]!;
      if (c >= 0) classValue[c]! += v;
    }
    return e;
  };

  /**
   * flatBar without the class values: close prices and equity only (the same arithmetic), for a bar where
   * the kernel decides (the revalue after its fills recomputes the class values; `flatClasses` otherwise).
   */
  const flatPrices = (i: number): number => {
    const rows = closeRows;
    const x0 = closeRow(i);
    let e = balance[0]!;
    for (let a = 0; a < nA; a++) {
      const li = ledgerAsset[a]!;
      const px = rows[x0 + a]!;
      prices[li] = px;
      const b = balance[li]!;
      if (li !== 0 && b !== 0) e += b * px;
    }
    return e;
  };

  /** flatBar's class values at the current prices (the balances unchanged since `flatPrices`). */
  const flatClasses = () => {
    classValue.fill(0);
    for (let a = 0; a < nA; a++) {
      const c = assetClass[a]!;
      if (c < 0) continue;
      const li = ledgerAsset[a]!;
      classValue[c]! += balance[li]! * prices[li]!;
    }
  };

  /** Equity and class values after fills, at the current prices (flatBar's arithmetic on a flat book). */
  const revalue = (): number => {
    if (openCount > 0) {
      const e = ledger.equity(prices, marks);
      valueClasses();
      return e;
    }
    classValue.fill(0);
    let e = balance[0]!;
    for (let a = 0; a < nA; a++) {
      const li = ledgerAsset[a]!;
      const v = balance[li]! * prices[li]!;
      if (li !== 0 && balance[li] !== 0) e += v;
      const c = assetClass[a]!;
      if (c >= 0) classValue[c]! += v;
    }
    return e;
  };

  /** ledger.equity(prices, marks); with no position open the perp terms are all zero and skipped. */
  const equityNow = (): number => {
    if (openCount > 0) return ledger.equity(prices, marks);
    let e = balance[0]!;
    for (let a = 1; a < nL; a++) {
      const b = balance[a]!;
      if (b !== 0) e += b * prices[a]!;
    }
    return e;
  };

  /** Any other bar: prices and marks, funding settlements in this bar on the perp close, liquidation at the bar's adverse extreme. */
  const generalBar = (i: number): number => {
    // Basis: each hedge's move against its class's spot move (holdings constant within the bar).
    if (openCount > 0) {
      for (let k = 0; k < nP; k++) {
        prevMark[k] = marks[k]!;
        const c = perpClass[k]!;
        if (contracts[k] !== 0 && c >= 0) prevClassSpot[c] = classSpot(c);
      }
    }
    setPrices(i, false);
    setMarks(i, false);
    if (openCount > 0) {
      for (let k = 0; k < nP; k++) {
        const q = contracts[k]!;
        const c = perpClass[k]!;
        if (q === 0 || c < 0 || !(prevMark[k]! > 0) || i === 0) continue;
        const a = perpAsset[k]!;
        const before = prevClassSpot[c]!;
        const classReturn = before > 0 ? classSpot(c) / before - 1 : closeCol[a]![i]! / closeCol[a]![i - 1]! - 1;
        acc.basisPnl += q * prevMark[k]! * (marks[k]! / prevMark[k]! - 1 - classReturn);
      }
    }
    syncFunding(i - 1);
    if (i >= nextFunding) {
      for (let k = 0; k < nP; k++) {
        const bars = fundingBar[k]!;
        const rates = fundingRate[k]!;
        let j = fundingCursor[k]!;
        while (j < bars.length && bars[j]! <= i) {
          const rate = rates[j]!;
          lastRate[k] = rate;
          lastSettleBar[k] = bars[j]!;
          if (contracts[k] !== 0) {
            const paid = ledger.settleFunding(k, rate, marks[k]!);
            taxBook?.funding(times[i]!, -paid);
            if (paid > 0) acc.fundingPaid += paid;
            else acc.fundingReceived -= paid;
          }
          j++;
        }
        fundingCursor[k] = j;
      }
      findNextFunding();
    }
    // Liquidation at the adverse extreme of the bar.
    if (openCount > 0) {
      for (let k = 0; k < nP; k++) {
        const q = contracts[k]!;
        if (q === 0) {
          adverse[k] = marks[k]!;
          continue;
        }
        const a = perpAsset[k]!;
        const ratio = marks[k]! / closeCol[a]![i]!;
        adverse[k] = (q < 0 ? highCol[a]![i]! : lowCol[a]![i]!) * ratio;
      }
      contractsBefore.set(contracts);
      const records = ledger.liquidations.length;
      const liquidated = ledger.checkLiquidation(adverse, times[i]!);
      if (liquidated > 0) {
        acc.liquidations += liquidated;
        for (let k = 0; k < nP; k++) if (contractsBefore[k] !== 0 && contracts[k] === 0) book.fill(k, contractsBefore[k]!, 0, i, 'liquidation');
        if (taxBook) for (const r of ledger.liquidations.slice(records)) taxBook.perpPnl(times[i]!, r.realisedPnl - r.fee);
        if (onFill) {
          for (const r of ledger.liquidations.slice(records)) onFill({ time: times[i]!, symbol: r.symbol, side: r.contracts > 0 ? 'buy' : 'sell', qty: Math.abs(r.contracts), price: r.price, fee: r.fee, reason: 'liquidation', class: u.classNames[perpClass[r.perp]!] ?? '' });
        }
        countOpen();
      }
    }

    const e = equityNow();
    valueClasses();
    return e;
  };

  // ---- flat stretches, column by column. While a kernel policy holds no futures position and nothing
  // is pending, holdings only change at decision bars; between them a bar's equity and class values
  // depend on that bar's closes alone. A block of such bars is computed one column (asset) at a time —
  // sequential reads — into block scratch, with exactly the per-bar arithmetic: equity = quote wallet
  // + Σ balance × close in ledger order; class value = 0 + Σ balance × close in history order. Then bar
  // by bar: weights, the decision pre-check (mayAct's), and — for every bar before the first where a
  // decision is to be asked — the end of the bar (metrics, recorded point). That bar goes through the
  // per-bar path. The calendar's next due bar is known in advance, so the block stops there; under the
  // threshold rule the block length adapts (a breach wastes the rest of the block).
  const MAX_BLOCK = 1024;
  const blockable = (kernel !== null && spotOnly) || !decides;
  // Block scratch, allocated by the first block (a run that decides every bar has none).
  let eqBlock = new Float64Array(0);
  // Class values of the block, bar-major: valBlock[k × nC + c] (read bar by bar, the cash slot unused).
  let valBlock = new Float64Array(0);
  const assigned = new Uint8Array(nC);
  let blockLength = 64;

  /** Computes bars [i0, i1) as flat bars; returns the first bar in it where a decision is to be asked (else i1). */
  const flatBlock = (i0: number, i1: number): number => {
    const len = i1 - i0;
    // No decision inside a block: a bar out of band here waits for its policy's next check.
    barCause = OOB_NOT_DUE;
    if (eqBlock.length === 0) {
      eqBlock = new Float64Array(MAX_BLOCK);
      valBlock = new Float64Array(MAX_BLOCK * nC);
    }
    const eq = eqBlock;
    eq.fill(balance[0]!, 0, len);
    assigned.fill(0);
    // One pass per asset column: its value goes to the equity (ledger order) and to its class (history order).
    for (let a = 0; a < nA; a++) {
      const li = ledgerAsset[a]!;
      const b = balance[li]!;
      const toEquity = li !== 0 && b !== 0;
      const c = assetClass[a]!;
      const toClass = c >= 0 && c !== cashClass;
      if (!toEquity && !toClass) continue;
      const col = closeCol[a]!;
      if (!toClass) {
        for (let k = 0, i = i0; k < len; k++, i++) eq[k]! += b * col[i]!;
        continue;
      }
      const w = valBlock;
      const first = assigned[c] === 0;
      assigned[c] = 1;
      if (toEquity && first) {
        for (let k = 0, i = i0, x = c; k < len; k++, i++, x += nC) {
          const v = b * col[i]!;
          eq[k]! += v;
          w[x] = 0 + v;
        }
      } else if (toEquity) {
        for (let k = 0, i = i0, x = c; k < len; k++, i++, x += nC) {
          const v = b * col[i]!;
          eq[k]! += v;
          w[x]! += v;
        }
      } else if (first) {
        for (let i = i0, x = c; i < i1; i++, x += nC) w[x] = 0 + b * col[i]!;
      } else {
        for (let i = i0, x = c; i < i1; i++, x += nC) w[x]! += b * col[i]!;
      }
    }
    for (let c = 0; c < nC; c++) {
      if (c === cashClass || assigned[c] !== 0) continue;
      for (let k = 0, x = c; k < len; k++, x += nC) valBlock[x] = 0;
    }
    if (i1 - 1 >= nextFunding) fundingBehind = true;
    const calendar = decides && mode !== MODE_THRESHOLD;
    const threshold = decides && mode === MODE_THRESHOLD;
    const val = valBlock;
    const w8 = wBar;
    const classes = nC;
    const cash = cashClass;
    const due = nextDue;
    for (let k = 0, i = i0, x0 = 0; k < len; k++, i++, x0 += classes) {
      const e = eq[k]!;
      // The per-bar path asks for a decision when decides, i > 0, equity > 0 and mayAct.
      if (calendar && times[i]! >= due && e > 0 && i > 0) return i;
      // endBar's weights (cash: the rest), on the block's class values.
      let nonCash = 0;
      for (let c = 0; c < classes; c++) {
        if (c === cash) continue;
        const v = val[x0 + c]!;
        nonCash += v;
        w8[c] = v / e;
      }
      if (cash >= 0) w8[cash] = (e - nonCash) / e;
      if (threshold && e > 0 && i > 0) {
        let breach = false;
        for (let c = 0; c < classes; c++) {
          const x = w8[c]!;
          if (x > upperArr[c]! + 1e-9 || x < lowerArr[c]! - 1e-9) breach = true;
        }
        if (breach) return i;
      }
      accountBar(i, e);
    }
    return i1;
  };

  // ---- initial allocation at the first bar's close: every non-cash class at its target, spot.
  if (n > 0) {
    setPrices(0, false);
    setMarks(0, false);
    for (const a of initialOrders(p, o.capital, prices, ledger)) fillAction({ ...a, purpose: 'rebalance' }, 0);
    countOpen();
    // The initial allocation is the first calendar rebalance: the next one is due at the next period's
    // start (a start on Friday 2021-01-01: weekly on Monday 2021-01-04, monthly on 2021-02-01), not on bar 1.
    if (decides && mode !== MODE_THRESHOLD) {
      lastRebalance = times[0]!;
      nextDue = nextPeriodStart(schedule, times[0]!);
    }
  }
  findNextFunding();
  const tick = Math.max(1, Math.floor(n / 200));
  let untilTick = tick;

  for (let i = 0; i < n; i++) {
    if (blockable && openCount === 0 && pendingKernel === 0 && pending === null && i > 0) {
      let end = Math.min(n, i + blockLength);
      if (decides && mode !== MODE_THRESHOLD) {
        // Stop before the calendar's next due bar (it takes the per-bar path): no wasted bars.
        let due = i;
        while (due < end && times[due]! < nextDue) due++;
        end = due;
        blockLength = MAX_BLOCK;
      }
      const stop = end > i ? flatBlock(i, end) : i;
      if (!decides || mode === MODE_THRESHOLD) blockLength = stop === end ? Math.min(MAX_BLOCK, blockLength * 2) : 64;
      untilTick -= stop - i;
      while (untilTick <= 0) {
        untilTick += tick;
        onBar?.(tick);
      }
      if (stop === end && end > i) {
        // No decision in the block: the next block starts at `end` (or, if `end` is due, the per-bar path).
        i = end - 1;
        continue;
      }
      // Bar `stop` asks for a decision: it takes the per-bar path below.
      i = stop;
    }
    barCause = OOB_NOT_DUE;
    if (pendingKernel > 0 || pending !== null) {
      setPrices(i, true);
      if (pendingKernel > 0) {
        fillKernel(pendingKernel, i);
        pendingKernel = 0;
      } else {
        setMarks(i, true);
        execute(pending!, i);
        pending = null;
      }
    }
    let equity: number;
    // Class values still to compute for endBar (a calendar kernel bar that is due: the kernel decides, and
    // when it trades, the revalue after the fills computes them).
    let classesDue = false;
    if (kernel !== null && openCount === 0) {
      // Flat book, kernel policy: nothing to settle or liquidate; funding cursors catch up when needed.
      if (decides && i > 0 && mode === MODE_CALENDAR && !nextOpen && times[i]! >= nextDue) {
        equity = flatPrices(i);
        classesDue = true;
      } else equity = flatBar(i);
      if (i >= nextFunding) fundingBehind = true;
    } else {
      equity = generalBar(i);
    }

    if (decides && i > 0 && equity > 0) {
      const t = times[i]!;
      const due = mode !== MODE_THRESHOLD && t >= nextDue;
      if (mayAct(due, equity)) {
        plans++;
        if (kernel !== null && openCount === 0) {
          const count = kernel.plan(balance, prices, due);
          kernelPlans++;
          if (kernel.acted && mode !== MODE_THRESHOLD) {
            lastRebalance = t;
            nextDue = nextPeriodStart(schedule, t);
          }
          if (count > 0) {
            barCause = nextOpen ? OOB_PENDING : OOB_AFTER_TRADE;
            if (nextOpen) pendingKernel = count;
            else {
              fillKernel(count, i);
              equity = revalue();
              classesDue = false;
            }
          } else if (kernel.acted) barCause = OOB_DROPPED;
        } else {
          syncFunding(i);
          const result = plan(p, snapshotAt(i), { now: t, state: 'ACTIVE' });
          if (result.status !== 'not-due' && mode !== MODE_THRESHOLD) {
            lastRebalance = t;
            nextDue = nextPeriodStart(schedule, t);
          }
          barCause = decisionCause(result.status, result.actions, result.rejected, nextOpen);
          if (result.status === 'ok') {
            if (nextOpen) pending = result.actions;
            else execute(result.actions, i);
          }
          equity = revalue();
        }
      }
    }
    if (classesDue) flatClasses();
    if (openCount > 0) for (let k = 0; k < nP; k++) if (contracts[k] !== 0) book.held(k, fundingKnown(k, i));
    endBar(i, equity);
    if (--untilTick === 0) {
      untilTick = tick;
      onBar?.(tick);
    }
  }
  if (onBar) onBar(n % tick);
  // A run that never held a futures position shares one all-zero hedge series between its classes.
  if (hedgeNotional === null) {
    const zero = new Float64Array(nPts);
    hedgeNotional = u.classNames.map(() => zero);
  }
  const counters: PolicyCounters = { ...acc };
  const outOfBand: OutOfBandBars = {
    total: oob.reduce((x, y) => x + y, 0),
    byCause: { notDue: oob[OOB_NOT_DUE]!, waited: oob[OOB_WAITED]!, cashShort: oob[OOB_CASH_SHORT]!, ordersDropped: oob[OOB_DROPPED]!, pendingFill: oob[OOB_PENDING]!, afterTrade: oob[OOB_AFTER_TRADE]! },
  };
  const extras: PolicyExtras = { hedges: book.stats(), outOfBand, ...(taxBook && n > 0 ? { tax: taxBook.summary(times[n - 1]!, prices) } : {}) };
  const summary: RunSummary = {
    bars: n,
    barTimes: h.times,
    startEquity: n > 0 && nPts > 0 ? equityOut[0]! : 0,
    finalEquity: n > 0 ? st[ST_PREV]! : 0,
    returns: wf[0]!,
    returnsSum: st[ST_RSUM]!,
    returnsM2: wf[2]!,
    maxDrawdown: st[ST_MAXDD]!,
    barsInBand: st[ST_INBAND]!,
    trackingSumSq: st[ST_TRACK]!,
  };
  const rebalanceList = Array.from(rebalanceBars.subarray(0, nRebalanceBars));
  const series: PolicySeries = {
    name: spec.name,
    description: spec.description,
    times: nPts === n ? h.times : Float64Array.from(points, (i) => h.times[i]!),
    ...(nPts === n ? {} : { points }),
    summary,
    rebalanceTimes: rebalanceList.map((i) => h.times[i]!),
    rebalanceEquity: Array.from(rebalanceEquity.subarray(0, nRebalanceEquity)),
    equity: equityOut,
    classNames: u.classNames,
    targets: u.targets,
    lower: u.lower,
    upper: u.upper,
    weights,
    hedgeNotional,
    cumFunding,
    rebalanceBars: rebalanceList,
  };
  return { series, counters, extras, plans, kernelPlans };
}

/** The cause an out-of-band bar gets from its decision (OutOfBandBars.byCause). */
function decisionCause(status: Plan['status'], actions: Action[], rejected: Rejection[], nextOpen: boolean): number {
  if (status === 'not-due') return OOB_NOT_DUE;
  if (actions.some((a) => a.type === 'wait')) return OOB_WAITED;
  if (rejected.some((r) => r.reason.startsWith('cash:'))) return OOB_CASH_SHORT;
  if (rejected.some((r) => r.alternative === 'order')) return OOB_DROPPED;
  if (status === 'ok') return nextOpen ? OOB_PENDING : OOB_AFTER_TRADE;
  return OOB_WAITED;
}

/**
 * The bars a run records: all of them when there are at most `maxPoints`, else bars 0, k, 2k, … with
 * k = ⌈(n − 1) / (maxPoints − 1)⌉, plus the last bar — at most maxPoints, ascending.
 */
export function recordedPoints(n: number, maxPoints: number): Int32Array {
  const m = Math.max(2, Math.floor(maxPoints));
  if (n <= m) return Int32Array.from({ length: n }, (_, i) => i);
  const k = Math.ceil((n - 1) / (m - 1));
  const out: number[] = [];
  for (let i = 0; i < n; i += k) out.push(i);
  if (out[out.length - 1] !== n - 1) out.push(n - 1);
  return Int32Array.from(out);
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
