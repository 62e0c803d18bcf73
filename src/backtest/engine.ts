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
 * A run is a `Replay`: its state is struct-of-arrays — the ledger's typed arrays (balances, contracts, …)
 * plus the engine's own (prices, marks, class values), all indexed by integers resolved once at load
 * time — and each phase of a bar is one of its methods (see the class). Beside it: `Recorder` (the
 * metrics over every bar and the recorded series, preallocated Float64Arrays of at most `maxPoints`
 * points), `FundingCursors` (the funding events and the cursors over them), `HedgeBook` (each hedge's
 * life) and `Counters` (the run's named counters). The per-bar path — prices, funding, liquidation,
 * valuation, the trigger pre-check, the metrics, the recorded series — allocates nothing (counters and
 * accumulators are double fields of one class each, updated in place) and looks nothing up by name.
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
import { MODE_CALENDAR, MODE_HYBRID, MODE_THRESHOLD, modeCode } from '../core/rebalance.js';
import type { Action, ActionPurpose, MarketRules, Plan, Portfolio, Position, Rejection, Snapshot } from '../core/types.js';
import type { MarketHistory } from '../model/history.js';
import { Ledger } from '../model/ledger.js';
import { slippageFraction } from '../model/slippage.js';
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

/**
 * What a run records. Over every bar, the metrics (returns, drawdown, time in band, tracking error,
 * out-of-band bars by cause: metrics.ts's arithmetic). At the recorded points (every bar up to `maxPoints`
 * bars, else every k-th bar plus the last): equity, class weights, hedge notional, cumulative funding.
 * At every rebalance: its bar and the equity that bar ends at.
 *
 * The series are preallocated, one Float64Array each: at most maxPoints × 8 bytes (40 KiB by default),
 * small enough for the allocator to serve from memory it already has (no fresh pages to fault in per run).
 */
class Recorder {
  readonly points: Int32Array;
  readonly nPts: number;
  readonly equity: Float64Array;
  readonly cumFunding: Float64Array;
  readonly weights: Float64Array[];
  /** Per-class hedge notional series, allocated when a futures position first opens (zero before). */
  hedgeNotional: Float64Array[] | null = null;
  /** The next recorded point's index in `points`, and its bar (−1: none left). */
  point = 0;
  nextPoint: number;
  rebalanceBars = new Int32Array(64);
  rebalanceEquity = new Float64Array(64);
  nRebalanceBars = 0;
  nRebalanceEquity = 0;
  // Metrics over every bar (see metrics.ts): previous equity, peak, max drawdown, returns (Welford, in
  // `wf`), returns sum, bars in band, tracking Σ².
  prevEquity = 0;
  peak = -Infinity;
  maxDrawdown = 0;
  returnsSum = 0;
  barsInBand = 0;
  trackingSumSq = 0;
  readonly wf = new Float64Array(3);
  /** Out-of-band bars by cause (OOB_*), and the cause the current bar's decision leaves. */
  readonly oob = new Float64Array(6);
  barCause = OOB_NOT_DUE;
  readonly nC: number;
  readonly cashClass: number;
  readonly targets: Float64Array;
  readonly lowerEps: Float64Array;
  readonly upperEps: Float64Array;
  /** The class weights of a bar that is not a recorded point. */
  readonly wBar: Float64Array;
  /**
   * Class weights at recorded points, WTILE points at a time (point-major: point k's row at
   * (k mod WTILE) × nC), copied to the per-class series when the tile is full and at the last point: a
   * point writes one contiguous row, and each series gets WTILE values per visit.
   */
  readonly wTile: Float64Array;

  constructor(
    bars: number,
    maxPoints: number,
    readonly u: Universe,
    /** The run's class values and per-class hedge notionals (endBar reads them). */
    readonly classValue: Float64Array,
    readonly hedge: Float64Array,
    readonly counters: Counters,
  ) {
    this.points = recordedPoints(bars, maxPoints);
    this.nPts = this.points.length;
    this.nextPoint = this.nPts > 0 ? this.points[0]! : -1;
    this.equity = new Float64Array(this.nPts);
    this.cumFunding = new Float64Array(this.nPts);
    this.weights = u.classNames.map(() => new Float64Array(this.nPts));
    this.nC = u.classNames.length;
    this.cashClass = u.cashClass;
    this.targets = Float64Array.from(u.targets);
    this.lowerEps = u.lowerArr.map((x) => x - BAND_EPSILON);
    this.upperEps = u.upperArr.map((x) => x + BAND_EPSILON);
    this.wBar = new Float64Array(this.nC);
    this.wTile = new Float64Array(WTILE * this.nC);
  }

  markRebalance(i: number): void {
    this.counters.rebalances++;
    if (this.nRebalanceBars === this.rebalanceBars.length) {
      const grown = new Int32Array(2 * this.rebalanceBars.length);
      grown.set(this.rebalanceBars);
      this.rebalanceBars = grown;
    }
    this.rebalanceBars[this.nRebalanceBars++] = i;
  }

  /**
   * The end of bar i at `equity` with the class values in `classValue`: class weights (cash = the rest),
   * then `finishBar`. `openCount`: futures positions open.
   */
  endBar(i: number, equity: number, openCount: number): void {
    const cash = this.cashClass;
    const classes = this.nC;
    const val = this.classValue;
    // The weights go to wBar, or at a recorded point straight to its row of the weight tile.
    const rec = i === this.nextPoint;
    const w8 = rec ? this.wTile : this.wBar;
    const off = rec ? (this.point % WTILE) * classes : 0;
    const lo = this.lowerEps;
    const hi = this.upperEps;
    const tg = this.targets;
    let inside = 1;
    let track = this.trackingSumSq;
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
    this.trackingSumSq = track;
    this.finishBar(i, equity, inside, openCount);
  }

  /** Bar i's metrics and recorded point, from `equity` and the weights in wBar. */
  accountBar(i: number, equity: number, openCount: number): void {
    const w8 = this.wBar;
    const lo = this.lowerEps;
    const hi = this.upperEps;
    const tg = this.targets;
    const classes = this.nC;
    let inside = 1;
    let track = this.trackingSumSq;
    for (let c = 0; c < classes; c++) {
      const w = w8[c]!;
      if (!(w >= lo[c]! && w <= hi[c]!)) inside = 0;
      track += (w - tg[c]!) ** 2;
    }
    this.trackingSumSq = track;
    if (i === this.nextPoint) this.wTile.set(w8, (this.point % WTILE) * classes);
    this.finishBar(i, equity, inside, openCount);
  }

  /** The rest of bar i's metrics (time in band, returns, drawdown), a rebalance's equity, the recorded point. */
  private finishBar(i: number, equity: number, inside: number, openCount: number): void {
    this.barsInBand += inside;
    if (inside === 0) this.oob[this.barCause]!++;
    if (i > 0) {
      const prev = this.prevEquity;
      if (prev > 0) {
        const r = equity / prev - 1;
        this.returnsSum += r;
        welford(this.wf, r);
      }
    }
    this.prevEquity = equity;
    if (equity > this.peak) this.peak = equity;
    const peak = this.peak;
    if (peak > 0) {
      const d = (peak - equity) / peak;
      if (d > this.maxDrawdown) this.maxDrawdown = d;
    }
    if (this.nRebalanceEquity < this.nRebalanceBars) {
      if (this.nRebalanceEquity === this.rebalanceEquity.length) {
        const grown = new Float64Array(2 * this.rebalanceEquity.length);
        grown.set(this.rebalanceEquity);
        this.rebalanceEquity = grown;
      }
      this.rebalanceEquity[this.nRebalanceEquity++] = equity;
    }
    if (i === this.nextPoint) this.recordPoint(equity, openCount);
  }

  /** The recorded point `point` (this bar): equity, the weight tile when full, hedge notional, funding. */
  private recordPoint(equity: number, openCount: number): void {
    const k = this.point;
    const classes = this.nC;
    this.equity[k] = equity;
    // The point's weights are in its tile row (endBar, accountBar): the tile goes to the series when
    // full and at the last point.
    const r = k % WTILE;
    if (r === WTILE - 1 || k === this.nPts - 1) {
      const k0 = k - r;
      const tile = this.wTile;
      for (let c = 0; c < classes; c++) {
        const col = this.weights[c]!;
        for (let t = 0, x = c; t <= r; t++, x += classes) col[k0 + t] = tile[x]!;
      }
    }
    // Hedge notionals are zero (the arrays' initial value) while no position is open.
    if (openCount > 0) {
      this.hedgeNotional ??= this.u.classNames.map(() => new Float64Array(this.nPts));
      for (let c = 0; c < classes; c++) this.hedgeNotional[c]![k] = this.hedge[c]!;
    }
    this.cumFunding[k] = this.counters.fundingReceived - this.counters.fundingPaid;
    this.point = k + 1;
    this.nextPoint = this.point < this.nPts ? this.points[this.point]! : -1;
  }

  outOfBand(): OutOfBandBars {
    const oob = this.oob;
    return {
      total: oob.reduce((x, y) => x + y, 0),
      byCause: { notDue: oob[OOB_NOT_DUE]!, waited: oob[OOB_WAITED]!, cashShort: oob[OOB_CASH_SHORT]!, ordersDropped: oob[OOB_DROPPED]!, pendingFill: oob[OOB_PENDING]!, afterTrade: oob[OOB_AFTER_TRADE]! },
    };
  }

  /** The recorded series of a run over `h` (n bars). */
  series(spec: PolicySpec, h: MarketHistory): PolicySeries {
    const n = h.times.length;
    const nPts = this.nPts;
    const u = this.u;
    const summary: RunSummary = {
      bars: n,
      barTimes: h.times,
      startEquity: n > 0 && nPts > 0 ? this.equity[0]! : 0,
      finalEquity: n > 0 ? this.prevEquity : 0,
      returns: this.wf[0]!,
      returnsSum: this.returnsSum,
      returnsM2: this.wf[2]!,
      maxDrawdown: this.maxDrawdown,
      barsInBand: this.barsInBand,
      trackingSumSq: this.trackingSumSq,
    };
    // A run that never held a futures position shares one all-zero hedge series between its classes.
    if (this.hedgeNotional === null) {
      const zero = new Float64Array(nPts);
      this.hedgeNotional = u.classNames.map(() => zero);
    }
    const rebalanceList = Array.from(this.rebalanceBars.subarray(0, this.nRebalanceBars));
    return {
      name: spec.name,
      description: spec.description,
      times: nPts === n ? h.times : Float64Array.from(this.points, (i) => h.times[i]!),
      ...(nPts === n ? {} : { points: this.points }),
      summary,
      rebalanceTimes: rebalanceList.map((i) => h.times[i]!),
      rebalanceEquity: Array.from(this.rebalanceEquity.subarray(0, this.nRebalanceEquity)),
      equity: this.equity,
      classNames: u.classNames,
      targets: u.targets,
      lower: u.lower,
      upper: u.upper,
      weights: this.weights,
      hedgeNotional: this.hedgeNotional,
      cumFunding: this.cumFunding,
      rebalanceBars: rebalanceList,
    };
  }
}

/** Rows of the weight tile (Recorder.wTile). */
const WTILE = 8;

/**
 * Funding events per perp and the cursors over them: cursor[k] is the first event of perp k not yet
 * processed. While every position is flat, the kernel path leaves the cursors behind (an event on a flat
 * book pays nothing) and `behind` says so; `sync(upTo)` catches them up, recording the last rate, before
 * anything reads a rate or a futures position can open. `next`: the earliest bar with an unprocessed event.
 */
class FundingCursors {
  readonly bar: Int32Array[];
  readonly rate: Float64Array[];
  readonly cursor: Int32Array;
  readonly lastRate: Float64Array;
  /** The bar of perp k's last settlement processed (−1: none). */
  readonly lastSettleBar: Int32Array;
  readonly nP: number;
  next: number;
  behind = false;

  constructor(
    h: MarketHistory,
    readonly n: number,
  ) {
    this.bar = h.funding.map((f) => f.bar);
    this.rate = h.funding.map((f) => f.rate);
    this.nP = h.perps.length;
    this.cursor = new Int32Array(this.nP);
    this.lastRate = new Float64Array(this.nP);
    this.lastSettleBar = new Int32Array(this.nP).fill(-1);
    this.next = n;
  }

  sync(upTo: number): void {
    if (!this.behind) return;
    for (let k = 0; k < this.nP; k++) {
      const bars = this.bar[k]!;
      let j = this.cursor[k]!;
      while (j < bars.length && bars[j]! <= upTo) j++;
      if (j > this.cursor[k]!) {
        this.lastRate[k] = this.rate[k]![j - 1]!;
        this.lastSettleBar[k] = bars[j - 1]!;
      }
      this.cursor[k] = j;
    }
    this.behind = false;
    this.findNext();
  }

  findNext(): void {
    let next = this.n;
    for (let k = 0; k < this.nP; k++) {
      const j = this.cursor[k]!;
      const bars = this.bar[k]!;
      if (j < bars.length && bars[j]! < next) next = bars[j]!;
    }
    this.next = next;
  }

  /** Is perp k's funding rate known at bar i (a settlement recorded within FUNDING_KNOWN_MS)? */
  known(k: number, i: number, times: Float64Array): boolean {
    const b = this.lastSettleBar[k]!;
    return b >= 0 && times[i]! - times[b]! <= FUNDING_KNOWN_MS;
  }

  /** The mean of perp k's last FUNDING_MEAN_WINDOW settlements processed. */
  mean(k: number): number {
    const rates = this.rate[k]!;
    const j = this.cursor[k]!;
    const from = Math.max(0, j - FUNDING_MEAN_WINDOW);
    let sum = 0;
    for (let x = from; x < j; x++) sum += rates[x]!;
    return sum / (j - from);
  }
}

/** Bars of closes cached bar-major (Replay.closeRow): a block continuing the previous one. */
const CLOSE_ROWS = 128;
/** Most bars a flat block computes at once. */
const MAX_BLOCK = 1024;

/** The run's ledger: the quote, the history's assets and its perps (contract size 1), the capital in the quote. */
function runLedger(p: Portfolio, h: MarketHistory, o: BacktestOptions): Ledger {
  const quote = p.quote;
  return new Ledger({
    quote,
    assets: h.assets.filter((a) => a !== quote),
    perps: h.perps.map((b) => ({ symbol: perpSymbol(b, quote), contractSize: 1, maintenanceMarginRate: o.maintenanceMarginRate, leverage: p.execution.leverage })),
    balances: { [quote]: o.capital },
    liquidationFeeRate: o.liquidationFee,
  });
}

/**
 * One policy's run over a history: its state (the ledger's typed arrays plus the engine's own, all
 * indexed by integers resolved once here) and its phases, one method each: per bar `fillPending` (orders
 * decided at the previous close, with --fill next-open), `generalBar` (prices and marks, `trackBasis`,
 * `settleFunding`, `liquidate`) or the flat-book `flatPrices`, then `decide` (`decideKernel` or
 * `decidePlanner`, filling by `fillKernel` / `execute`), then the recorder's `endBar`; flat stretches a
 * block at a time (`flatStretch`, `flatBlock`).
 */
class Replay {
  readonly p: Portfolio;
  readonly o: BacktestOptions;
  readonly n: number;
  readonly nA: number;
  readonly nP: number;
  readonly nC: number;
  readonly nL: number;
  readonly times: Float64Array;
  readonly closeCol: Float64Array[];
  readonly openCol: Float64Array[];
  readonly highCol: Float64Array[];
  readonly lowCol: Float64Array[];
  readonly volumeCol: Float64Array[];
  readonly perpCloseCol: Float64Array[];
  readonly perpAsset: Int32Array;
  readonly ledger: Ledger;
  readonly balance: Float64Array;
  readonly contracts: Float64Array;
  readonly u: Universe;
  readonly ledgerAsset: Int32Array;
  readonly historyAsset: Int32Array;
  readonly assetClass: Int32Array;
  readonly perpClass: Int32Array;
  readonly cashClass: number;
  readonly lowerArr: Float64Array;
  readonly upperArr: Float64Array;
  readonly spotFee: number;
  readonly futuresFee: number;
  readonly halfSpread: number;
  readonly impact: number;
  /** slippageFraction(halfSpread, impact, ·, ·) when impact is 0: the same value for every order. */
  readonly spotSlip: number;
  readonly nextOpen: boolean;
  // Per-bar state, indexed like the ledger (prices), its perps (marks, …) or the classes.
  readonly prices: Float64Array;
  readonly marks: Float64Array;
  readonly adverse: Float64Array;
  readonly classValue: Float64Array;
  readonly hedge: Float64Array;
  readonly prevMark: Float64Array;
  readonly prevClassSpot: Float64Array;
  readonly contractsBefore: Float64Array;
  readonly counters = new Counters();
  readonly rec: Recorder;
  readonly book: HedgeBook;
  /** Tax lots from every spot fill (the initial allocation included) under the portfolio's method. */
  readonly taxBook: TaxBook | null;
  readonly funding: FundingCursors;
  readonly onFill: ((fill: BacktestFill) => void) | undefined;
  /** The purpose and class of the leg being filled (for the hedge book and --trades). */
  legPurpose: ActionPurpose | undefined = undefined;
  legClass = '';
  plans = 0;
  kernelPlans = 0;
  lastRebalance: number | undefined = undefined;
  nextDue = -Infinity;
  /** Orders decided at the previous close, filled at this bar's open (--fill next-open). */
  pending: Action[] | null = null;
  pendingKernel = 0;
  readonly decides: boolean;
  readonly betaNeutral: boolean;
  readonly spotOnly: boolean;
  readonly mode: number;
  readonly schedule: Portfolio['rebalance']['schedule'];
  readonly kernel: SpotKernel | null;
  // Symbols of the general path, resolved once; the snapshot's market rules, built when first asked.
  readonly spotSymbols: string[];
  readonly spotBySymbol = new Map<string, number>();
  readonly perpBySymbol = new Map<string, number>();
  markets: Record<string, Partial<MarketRules>> | null = null;
  /** Futures positions open. */
  openCount = 0;
  /** Class values still to compute for endBar (a calendar kernel bar that is due: see `bar`). */
  classesDue = false;
  /**
   * The closes bar-major, CLOSE_ROWS bars at a time: closeRows[(i − rowsFrom) × nA + a] = close of history
   * asset a at bar i, copied column by column (sequential reads) when the per-bar path reaches a bar past
   * the block. A per-bar pass then reads one row, not one element of each of nA columns. A block that
   * continues the previous one holds CLOSE_ROWS bars; one after a jump (flat blocks in between), 8.
   */
  readonly closeRows: Float64Array;
  rowsFrom = -1;
  rowsTo = -1;
  /** Flat blocks apply (see flatBlock), and their scratch (allocated by the first block). */
  readonly blockable: boolean;
  eqBlock = new Float64Array(0);
  /** Class values of the block, bar-major: valBlock[k × nC + c] (read bar by bar, the cash slot unused). */
  valBlock = new Float64Array(0);
  readonly assigned: Uint8Array;
  blockLength = 64;
  /** The end of the block `flatStretch` last computed. */
  blockEnd = 0;

  constructor(base: Portfolio, spec: PolicySpec, h: MarketHistory, o: BacktestOptions) {
    const p = spec.portfolio ?? base;
    this.p = p;
    this.o = o;
    this.n = h.times.length;
    this.nA = h.assets.length;
    this.nP = h.perps.length;
    this.ledger = runLedger(p, h, o);
    this.u = universe(p, h, this.ledger);
    this.nC = this.u.classNames.length;
    this.nL = this.ledger.assets.length;
    this.times = h.times;
    this.closeCol = h.close;
    this.openCol = h.open;
    this.highCol = h.high;
    this.lowCol = h.low;
    this.volumeCol = h.volume;
    this.perpCloseCol = h.perpClose;
    this.perpAsset = Int32Array.from(h.perpAsset);
    this.ledgerAsset = this.u.ledgerAsset;
    this.historyAsset = this.u.historyAsset;
    this.assetClass = this.u.assetClass;
    this.perpClass = this.u.perpClass;
    this.cashClass = this.u.cashClass;
    this.lowerArr = this.u.lowerArr;
    this.upperArr = this.u.upperArr;
    this.balance = this.ledger.balance;
    this.contracts = this.ledger.contracts;
    this.spotFee = p.execution.fees.spotTaker;
    this.futuresFee = p.execution.fees.futuresTaker;
    this.halfSpread = o.slippage;
    this.impact = o.impact;
    this.spotSlip = slippageFraction(this.halfSpread, 0, 0, 0);
    this.nextOpen = o.fill === 'next-open';
    const { nL, nP, nC } = this;
    this.prices = new Float64Array(nL);
    this.prices[0] = 1;
    this.marks = new Float64Array(nP);
    this.adverse = new Float64Array(nP);
    this.classValue = new Float64Array(nC);
    this.hedge = new Float64Array(nC);
    this.prevMark = new Float64Array(nP);
    this.prevClassSpot = new Float64Array(nC);
    this.contractsBefore = new Float64Array(nP);
    this.rec = new Recorder(this.n, o.maxPoints ?? SERIES_POINTS, this.u, this.classValue, this.hedge, this.counters);
    this.book = new HedgeBook(this.ledger.perps, this.times);
    this.taxBook = p.tax ? new TaxBook(p.tax, this.ledger.assets) : null;
    this.funding = new FundingCursors(h, this.n);
    this.onFill = o.onFill;
    this.decides = spec.portfolio !== null;
    this.betaNeutral = p.strategy.type === 'beta-neutral';
    this.spotOnly = spec.portfolio !== null && spec.portfolio.execution.instrument === 'spot' && spec.portfolio.classes.every((c) => !c.instrument || c.instrument === 'spot');
    this.mode = modeCode(p.rebalance.mode);
    this.schedule = p.rebalance.schedule;
    this.kernel = this.decides && o.kernel !== false && spotKernelApplies(p) ? new SpotKernel(p, this.ledger.assets, () => ({ amountStep: SPOT_STEP, minAmount: 0, minNotional: o.minNotional })) : null;
    this.spotSymbols = this.ledger.assets.map((a) => `${a}/${p.quote}`);
    for (let li = 1; li < nL; li++) this.spotBySymbol.set(this.spotSymbols[li]!, li);
    for (const [k, s] of this.ledger.perps.entries()) this.perpBySymbol.set(s, k);
    this.closeRows = new Float64Array(CLOSE_ROWS * this.nA);
    this.blockable = (this.kernel !== null && this.spotOnly) || !this.decides;
    this.assigned = new Uint8Array(nC);
  }

  /** Runs every bar; `onBar` is called every `tick` bars (n / 200) for progress. */
  run(onBar?: (bars: number) => void): void {
    const n = this.n;
    if (n > 0) this.initialAllocation();
    this.funding.findNext();
    const tick = Math.max(1, Math.floor(n / 200));
    let untilTick = tick;
    for (let i = 0; i < n; i++) {
      if (this.blockable && this.openCount === 0 && this.pendingKernel === 0 && this.pending === null && i > 0) {
        const stop = this.flatStretch(i);
        untilTick -= stop - i;
        while (untilTick <= 0) {
          untilTick += tick;
          onBar?.(tick);
        }
        if (stop === this.blockEnd && stop > i) {
          // No decision in the block: the next block starts at its end (or, if that is due, the per-bar path).
          i = stop - 1;
          continue;
        }
        // Bar `stop` asks for a decision: it takes the per-bar path below.
        i = stop;
      }
      this.bar(i);
      if (--untilTick === 0) {
        untilTick = tick;
        onBar?.(tick);
      }
    }
    if (onBar) onBar(n % tick);
  }

  /** The initial allocation at the first bar's close: every non-cash class at its target, spot. */
  private initialAllocation(): void {
    this.setPrices(0, false);
    this.setMarks(0, false);
    for (const a of initialOrders(this.p, this.o.capital, this.prices, this.ledger)) this.fillAction({ ...a, purpose: 'rebalance' }, 0);
    this.countOpen();
    // The initial allocation is the first calendar rebalance: the next one is due at the next period's
    // start (a start on Friday 2021-01-01: weekly on Monday 2021-01-04, monthly on 2021-02-01), not on bar 1.
    if (this.decides && this.mode !== MODE_THRESHOLD) {
      this.lastRebalance = this.times[0]!;
      this.nextDue = nextPeriodStart(this.schedule, this.times[0]!);
    }
  }

  /** Bar i through the per-bar path: pending fills, prices (funding, liquidation), the decision, the bar's end. */
  private bar(i: number): void {
    this.rec.barCause = OOB_NOT_DUE;
    if (this.pendingKernel > 0 || this.pending !== null) this.fillPending(i);
    let equity: number;
    this.classesDue = false;
    if (this.kernel !== null && this.openCount === 0) {
      // Flat book, kernel policy: nothing to settle or liquidate; funding cursors catch up when needed.
      equity = this.flatPrices(i);
      // A calendar kernel bar that is due: the kernel decides, and when it trades, the revalue after the
      // fills computes the class values.
      if (this.decides && i > 0 && this.mode === MODE_CALENDAR && !this.nextOpen && this.times[i]! >= this.nextDue) this.classesDue = true;
      else this.valueClasses();
      if (i >= this.funding.next) this.funding.behind = true;
    } else {
      equity = this.generalBar(i);
    }
    if (this.decides && i > 0 && equity > 0) equity = this.decide(i, equity);
    if (this.classesDue) this.valueClasses();
    if (this.openCount > 0) for (let k = 0; k < this.nP; k++) if (this.contracts[k] !== 0) this.book.held(k, this.funding.known(k, i, this.times));
    this.rec.endBar(i, equity, this.openCount);
  }

  /** Orders decided at the previous close fill at bar i's open (--fill next-open). */
  private fillPending(i: number): void {
    this.setPrices(i, true);
    if (this.pendingKernel > 0) {
      this.fillKernel(this.pendingKernel, i);
      this.pendingKernel = 0;
    } else {
      this.setMarks(i, true);
      this.execute(this.pending!, i);
      this.pending = null;
    }
  }

  /** The decision at bar i's close (if its trigger can fire); returns the equity after any fills. */
  private decide(i: number, equity: number): number {
    const t = this.times[i]!;
    const due = this.mode !== MODE_THRESHOLD && t >= this.nextDue;
    if (!this.mayAct(due, equity)) return equity;
    this.plans++;
    if (this.kernel !== null && this.openCount === 0) return this.decideKernel(this.kernel, i, t, due, equity);
    return this.decidePlanner(i, t);
  }

  /** The rebalance kernel decides (spot-only policy, flat book). */
  private decideKernel(kernel: SpotKernel, i: number, t: number, due: boolean, equity: number): number {
    const count = kernel.plan(this.balance, this.prices, due);
    this.kernelPlans++;
    if (kernel.acted && this.mode !== MODE_THRESHOLD) {
      this.lastRebalance = t;
      this.nextDue = nextPeriodStart(this.schedule, t);
    }
    if (count > 0) {
      this.rec.barCause = this.nextOpen ? OOB_PENDING : OOB_AFTER_TRADE;
      if (this.nextOpen) this.pendingKernel = count;
      else {
        this.fillKernel(count, i);
        this.classesDue = false;
        return this.revalue();
      }
    } else if (kernel.acted) this.rec.barCause = OOB_DROPPED;
    return equity;
  }

  /** The general planner `plan()` decides, on a snapshot of the ledger. */
  private decidePlanner(i: number, t: number): number {
    this.funding.sync(i);
    const result = plan(this.p, this.snapshotAt(i), { now: t, state: 'ACTIVE' });
    if (result.status !== 'not-due' && this.mode !== MODE_THRESHOLD) {
      this.lastRebalance = t;
      this.nextDue = nextPeriodStart(this.schedule, t);
    }
    this.rec.barCause = decisionCause(result.status, result.actions, result.rejected, this.nextOpen);
    if (result.status === 'ok') {
      if (this.nextOpen) this.pending = result.actions;
      else this.execute(result.actions, i);
    }
    return this.revalue();
  }

  private countOpen(): void {
    let c = 0;
    for (let k = 0; k < this.nP; k++) if (this.contracts[k] !== 0) c++;
    this.openCount = c;
  }

  private setPrices(i: number, useOpen: boolean): void {
    const src = useOpen ? this.openCol : this.closeCol;
    const prices = this.prices;
    const ledgerAsset = this.ledgerAsset;
    for (let a = 0; a < this.nA; a++) prices[ledgerAsset[a]!] = src[a]![i]!;
  }

  private setMarks(i: number, useOpen: boolean): void {
    for (let k = 0; k < this.nP; k++) {
      const a = this.perpAsset[k]!;
      const perp = this.perpCloseCol[k]![i]!;
      this.marks[k] = useOpen ? (this.openCol[a]![i]! * perp) / this.closeCol[a]![i]! : perp;
    }
  }

  /** One spot fill at the current prices ± slippage; with next-open fills never spends cash that is not there. */
  private fillSpot(li: number, buy: boolean, amount: number, i: number): boolean {
    const ref = this.prices[li]!;
    const balance = this.balance;
    const spotFee = this.spotFee;
    // The bar's volume matters only to the impact term.
    const s = slippageFraction(this.halfSpread, this.impact, amount, this.impact > 0 ? this.volumeCol[this.historyAsset[li]!]![i]! : 0);
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
    const ledger = this.ledger;
    ledger.applySpotFill(li, buy ? qty : -qty, px, spotFee);
    const time = this.times[i]!;
    if (this.taxBook) {
      if (buy) this.taxBook.buy(li, time, qty, px * (1 + spotFee));
      else this.taxBook.sell(li, time, qty, px * (1 - spotFee));
    }
    const acc = this.counters;
    acc.fees += ledger.lastFee;
    acc.slippage += Math.abs(px - ref) * qty;
    acc.turnover += qty * px;
    acc.orders++;
    if (this.onFill) this.onFill({ time, symbol: this.spotSymbols[li]!, side: buy ? 'buy' : 'sell', qty, price: px, fee: ledger.lastFee, reason: this.legPurpose ?? 'rebalance', class: this.legClass });
    return true;
  }

  /** The kernel's `count` orders, filled at the current prices. */
  private fillKernel(count: number, i: number): void {
    const kernel = this.kernel!;
    if (this.impact > 0 || this.onFill || this.taxBook) {
      // fillSpot order by order (fillKernelInline is its arithmetic without impact or a fill recorder).
      let traded = false;
      this.legPurpose = 'rebalance';
      for (let j = 0; j < count; j++) {
        this.legClass = this.u.classNames[kernel.orderClass[j]!] ?? '';
        if (this.fillSpot(kernel.orderAsset[j]!, kernel.orderSide[j]! > 0, kernel.orderAmount[j]!, i)) traded = true;
      }
      if (traded) this.rec.markRebalance(i);
      return;
    }
    if (this.fillKernelInline(kernel, count)) this.rec.markRebalance(i);
  }

  /**
   * No market impact: fillSpot's arithmetic with the slippage fraction a constant, the counters
   * accumulated in locals (the same additions in the same order) and stored once. Returns: anything traded.
   */
  private fillKernelInline(kernel: SpotKernel, count: number): boolean {
    const s = this.spotSlip;
    const orderAsset = kernel.orderAsset;
    const orderSide = kernel.orderSide;
    const orderAmount = kernel.orderAmount;
    const bal = this.balance;
    const px0 = this.prices;
    const ledger = this.ledger;
    const acc = this.counters;
    // (+ 0: an unboxed double for the loop; the fee rate is ≥ 0.)
    const feeRate = this.spotFee + 0;
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
    return traded;
  }

  /** One action of the general planner, filled at bar i; returns whether anything traded. */
  private fillAction(a: Action, i: number): boolean {
    if (a.type === 'spot') {
      const li = this.spotBySymbol.get(a.symbol!);
      if (li === undefined) throw new Error(`backtest: no history for ${a.symbol}`);
      this.legPurpose = a.purpose;
      this.legClass = a.class;
      return this.fillSpot(li, a.side === 'buy', a.amount, i);
    }
    if (a.type !== 'futures') return false;
    const k = this.perpBySymbol.get(a.symbol!);
    if (k === undefined) throw new Error(`backtest: no history for ${a.symbol}`);
    return this.fillPerp(a, k, i);
  }

  /** A futures action on perp k at its mark ± slippage, taker fee. */
  private fillPerp(a: Action, k: number, i: number): boolean {
    // At the open of bar i (next-open fills) this bar's funding is still to come; at its close it has passed.
    this.funding.sync(this.nextOpen ? i - 1 : i);
    const contracts = this.contracts;
    const ledger = this.ledger;
    const ref = this.marks[k]!;
    const s = slippageFraction(this.halfSpread, this.impact, a.amount, this.volumeCol[this.perpAsset[k]!]![i]!);
    const px = a.side === 'buy' ? ref * (1 + s) : ref * (1 - s);
    let qty = a.amount;
    if (a.reduceOnly) qty = Math.min(qty, Math.abs(contracts[k]!));
    if (qty <= 0) return false;
    const before = contracts[k]!;
    const realisedPnl = ledger.applyPerpFill(k, a.side === 'buy' ? qty : -qty, px, this.futuresFee);
    this.taxBook?.perpPnl(this.times[i]!, realisedPnl - ledger.lastFee);
    this.book.fill(k, before, contracts[k]!, i, a.purpose);
    const acc = this.counters;
    acc.fees += ledger.lastFee;
    acc.perpFees += ledger.lastFee;
    const slip = Math.abs(px - ref) * qty;
    acc.slippage += slip;
    acc.perpSlippage += slip;
    acc.turnover += qty * px;
    acc.orders++;
    if (this.onFill) this.onFill({ time: this.times[i]!, symbol: a.symbol!, side: a.side!, qty, price: px, fee: ledger.lastFee, reason: a.purpose ?? 'rebalance', class: a.class });
    return true;
  }

  private execute(actions: Action[], i: number): void {
    let traded = false;
    for (const a of actions) {
      if (a.type === 'wait') continue;
      if (this.fillAction(a, i)) traded = true;
    }
    if (traded) this.rec.markRebalance(i);
    this.countOpen();
  }

  /** The general planner's input: the ledger as a snapshot (built only when `plan()` is asked). */
  private snapshotAt(i: number): Snapshot {
    const { ledger, balance, prices, nL, nP, o } = this;
    if (this.markets === null) {
      const markets: Record<string, Partial<MarketRules>> = {};
      for (let a = 1; a < nL; a++) markets[this.spotSymbols[a]!] = { amountStep: SPOT_STEP, minNotional: o.minNotional };
      for (let k = 0; k < nP; k++) markets[ledger.perps[k]!] = { amountStep: PERP_STEP, minNotional: o.minNotional, maintenanceMarginRate: o.maintenanceMarginRate };
      this.markets = markets;
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
      markMap[sym] = this.marks[k]!;
      // A rate is known only when a settlement was recorded within FUNDING_KNOWN_MS: a hole in the
      // history is unknown funding, never 0 %.
      if (this.funding.known(k, i, this.times)) funding[sym] = { rate: this.funding.lastRate[k]!, intervalHours: 8, mean: this.funding.mean(k) };
      const c = this.contracts[k]!;
      if (c !== 0) {
        const opened = this.book.openedAt(k);
        positions.push({ symbol: sym, contracts: c, contractSize: 1, entryPrice: ledger.entryPrice[k]!, leverage: ledger.leverage[k]!, marginMode: ledger.isolated[k] ? 'isolated' : 'cross', ...(opened !== undefined ? { openedAt: opened } : {}) });
      }
    }
    return {
      time: this.times[i]!,
      prices: priceMap,
      marks: markMap,
      funding,
      accounts: [{ name: 'backtest', balances, positions, ...(this.taxBook ? { lots: this.taxBook.accountLots() } : {}) }],
      markets: this.markets,
      ...(this.lastRebalance !== undefined ? { lastRebalance: this.lastRebalance } : {}),
    };
  }

  /** Is a band breached (by the engine's class values)? The cheap pre-check of the threshold trigger. */
  private breached(equity: number): boolean {
    const { classValue, upperArr, lowerArr, cashClass } = this;
    let nonCash = 0;
    let breach = false;
    for (let c = 0; c < this.nC; c++) {
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
  }

  /**
   * Can a decision at bar i trade? Without an open futures position `plan()` has no hedge to maintain, so
   * it acts only when its trigger fires (a calendar period began; a band is breached) — checked here on the
   * engine's class values, without building a snapshot. With a position open (hedge maintenance: unwind,
   * funding budget, margin risk) or a beta-neutral strategy (its own trigger), `plan()` is asked every bar.
   */
  private mayAct(due: boolean, equity: number): boolean {
    if (this.openCount > 0 || this.betaNeutral) return true;
    const mode = this.mode;
    if (mode === MODE_CALENDAR) return due;
    if (mode === MODE_HYBRID && !due) return false;
    return this.breached(equity) || (mode === MODE_HYBRID && due);
  }

  /** Spot value of class c's assets at the current prices. */
  private classSpot(c: number): number {
    let v = 0;
    for (let a = 0; a < this.nA; a++) {
      if (this.assetClass[a] !== c) continue;
      const li = this.ledgerAsset[a]!;
      v += this.balance[li]! * this.prices[li]!;
    }
    return v;
  }

  /**
   * Class values at the current prices: spot holdings in history order, then (a position open) each
   * perp's notional, also kept per class in `hedge`. The only class valuation besides flatBlock's columns.
   */
  private valueClasses(): void {
    const { classValue, assetClass, ledgerAsset, balance, prices } = this;
    classValue.fill(0);
    for (let a = 0; a < this.nA; a++) {
      const c = assetClass[a]!;
      if (c < 0) continue;
      const li = ledgerAsset[a]!;
      classValue[c]! += balance[li]! * prices[li]!;
    }
    if (this.openCount === 0) return;
    const hedge = this.hedge;
    hedge.fill(0);
    for (let k = 0; k < this.nP; k++) {
      const c = this.perpClass[k]!;
      const q = this.contracts[k]!;
      if (c < 0 || q === 0) continue;
      const notional = q * this.marks[k]!;
      classValue[c]! += notional;
      hedge[c]! += notional;
    }
  }

  /** Offset of bar i's row in closeRows (refilled from bar i when i is outside the cached block). */
  private closeRow(i: number): number {
    const nA = this.nA;
    if (i < this.rowsFrom || i >= this.rowsTo) {
      const end = Math.min(this.n, i + (i === this.rowsTo ? CLOSE_ROWS : 8));
      const rows = this.closeRows;
      for (let a = 0; a < nA; a++) {
        const col = this.closeCol[a]!;
        for (let k = i, x = a; k < end; k++, x += nA) rows[x] = col[k]!;
      }
      this.rowsFrom = i;
      this.rowsTo = end;
    }
    return (i - this.rowsFrom) * nA;
  }

  /**
   * A flat-book bar's close prices and equity. Equity adds the spot terms in the ledger's order (its assets
   * are the history's, quote first), as ledger.equity does; with no position open its perp terms are all zero.
   */
  private flatPrices(i: number): number {
    const rows = this.closeRows;
    const x0 = this.closeRow(i);
    const { balance, prices, ledgerAsset } = this;
    let e = balance[0]!;
    for (let a = 0; a < this.nA; a++) {
      const li = ledgerAsset[a]!;
      const px = rows[x0 + a]!;
      prices[li] = px;
      const b = balance[li]!;
      if (li !== 0 && b !== 0) e += b * px;
    }
    return e;
  }

  /** Equity and class values after fills, at the current prices. */
  private revalue(): number {
    const e = this.equityNow();
    this.valueClasses();
    return e;
  }

  /**
   * ledger.equity(prices, marks); with no position open the perp terms are all zero and skipped (the spot
   * terms in ledger order, as flatPrices and flatBlock add them).
   */
  private equityNow(): number {
    if (this.openCount > 0) return this.ledger.equity(this.prices, this.marks);
    const { balance, prices } = this;
    let e = balance[0]!;
    for (let a = 1; a < this.nL; a++) {
      const b = balance[a]!;
      if (b !== 0) e += b * prices[a]!;
    }
    return e;
  }

  /** Any other bar: prices and marks, funding settlements in this bar on the perp close, liquidation at the bar's adverse extreme. */
  private generalBar(i: number): number {
    const open = this.openCount > 0;
    if (open) this.basisBefore();
    this.setPrices(i, false);
    this.setMarks(i, false);
    if (open) this.trackBasis(i);
    this.funding.sync(i - 1);
    if (i >= this.funding.next) this.settleFunding(i);
    if (this.openCount > 0) this.liquidate(i);
    const e = this.equityNow();
    this.valueClasses();
    return e;
  }

  /** Before a bar's prices: each hedge's mark and its class's spot value (for trackBasis). */
  private basisBefore(): void {
    for (let k = 0; k < this.nP; k++) {
      this.prevMark[k] = this.marks[k]!;
      const c = this.perpClass[k]!;
      if (this.contracts[k] !== 0 && c >= 0) this.prevClassSpot[c] = this.classSpot(c);
    }
  }

  /** Basis: each hedge's move against its class's spot move (holdings constant within the bar). */
  private trackBasis(i: number): void {
    const { prevMark, marks } = this;
    for (let k = 0; k < this.nP; k++) {
      const q = this.contracts[k]!;
      const c = this.perpClass[k]!;
      if (q === 0 || c < 0 || !(prevMark[k]! > 0) || i === 0) continue;
      const a = this.perpAsset[k]!;
      const before = this.prevClassSpot[c]!;
      const classReturn = before > 0 ? this.classSpot(c) / before - 1 : this.closeCol[a]![i]! / this.closeCol[a]![i - 1]! - 1;
      this.counters.basisPnl += q * prevMark[k]! * (marks[k]! / prevMark[k]! - 1 - classReturn);
    }
  }

  /** Funding settlements recorded in bar i, paid on the perp close (positive rate: longs pay). */
  private settleFunding(i: number): void {
    const f = this.funding;
    const acc = this.counters;
    for (let k = 0; k < this.nP; k++) {
      const bars = f.bar[k]!;
      const rates = f.rate[k]!;
      let j = f.cursor[k]!;
      while (j < bars.length && bars[j]! <= i) {
        const rate = rates[j]!;
        f.lastRate[k] = rate;
        f.lastSettleBar[k] = bars[j]!;
        if (this.contracts[k] !== 0) {
          const paid = this.ledger.settleFunding(k, rate, this.marks[k]!);
          this.taxBook?.funding(this.times[i]!, -paid);
          if (paid > 0) acc.fundingPaid += paid;
          else acc.fundingReceived -= paid;
        }
        j++;
      }
      f.cursor[k] = j;
    }
    f.findNext();
  }

  /** Liquidation at the adverse extreme of bar i (high for shorts, low for longs). */
  private liquidate(i: number): void {
    const { contracts, marks, adverse, ledger } = this;
    for (let k = 0; k < this.nP; k++) {
      const q = contracts[k]!;
      if (q === 0) {
        adverse[k] = marks[k]!;
        continue;
      }
      const a = this.perpAsset[k]!;
      const ratio = marks[k]! / this.closeCol[a]![i]!;
      adverse[k] = (q < 0 ? this.highCol[a]![i]! : this.lowCol[a]![i]!) * ratio;
    }
    this.contractsBefore.set(contracts);
    const records = ledger.liquidations.length;
    const time = this.times[i]!;
    const liquidated = ledger.checkLiquidation(adverse, time);
    if (liquidated === 0) return;
    this.counters.liquidations += liquidated;
    for (let k = 0; k < this.nP; k++) if (this.contractsBefore[k] !== 0 && contracts[k] === 0) this.book.fill(k, this.contractsBefore[k]!, 0, i, 'liquidation');
    if (this.taxBook) for (const r of ledger.liquidations.slice(records)) this.taxBook.perpPnl(time, r.realisedPnl - r.fee);
    if (this.onFill) {
      for (const r of ledger.liquidations.slice(records)) this.onFill({ time, symbol: r.symbol, side: r.contracts > 0 ? 'buy' : 'sell', qty: Math.abs(r.contracts), price: r.price, fee: r.fee, reason: 'liquidation', class: this.u.classNames[this.perpClass[r.perp]!] ?? '' });
    }
    this.countOpen();
  }

  /**
   * A flat stretch from bar i: the block [i, end) computed by flatBlock. Under a calendar rule the block
   * stops before the next due bar (it takes the per-bar path: no wasted bars); under the threshold rule
   * its length adapts (a breach wastes the rest of the block). Returns the first bar where a decision is
   * to be asked (else the block's end, kept in `blockEnd`).
   */
  private flatStretch(i: number): number {
    const calendar = this.decides && this.mode !== MODE_THRESHOLD;
    let end = Math.min(this.n, i + this.blockLength);
    if (calendar) {
      let due = i;
      while (due < end && this.times[due]! < this.nextDue) due++;
      end = due;
      this.blockLength = MAX_BLOCK;
    }
    const stop = end > i ? this.flatBlock(i, end) : i;
    if (!calendar) this.blockLength = stop === end ? Math.min(MAX_BLOCK, this.blockLength * 2) : 64;
    this.blockEnd = end;
    return stop;
  }

  /**
   * Flat stretches, column by column. While a kernel policy holds no futures position and nothing is
   * pending, holdings only change at decision bars; between them a bar's equity and class values depend on
   * that bar's closes alone. A block of such bars is computed one column (asset) at a time — sequential
   * reads — into block scratch (`blockColumns`), with exactly the per-bar arithmetic. Then bar by bar:
   * weights, the decision pre-check (mayAct's), and — for every bar before the first where a decision is to
   * be asked — the end of the bar (metrics, recorded point). That bar goes through the per-bar path.
   * Computes bars [i0, i1); returns the first bar in it where a decision is to be asked (else i1).
   */
  private flatBlock(i0: number, i1: number): number {
    const len = i1 - i0;
    // No decision inside a block: a bar out of band here waits for its policy's next check.
    this.rec.barCause = OOB_NOT_DUE;
    if (this.eqBlock.length === 0) {
      this.eqBlock = new Float64Array(MAX_BLOCK);
      this.valBlock = new Float64Array(MAX_BLOCK * this.nC);
    }
    this.blockColumns(i0, i1);
    if (i1 - 1 >= this.funding.next) this.funding.behind = true;
    const calendar = this.decides && this.mode !== MODE_THRESHOLD;
    const threshold = this.decides && this.mode === MODE_THRESHOLD;
    const eq = this.eqBlock;
    const val = this.valBlock;
    const rec = this.rec;
    const w8 = rec.wBar;
    const classes = this.nC;
    const cash = this.cashClass;
    const due = this.nextDue;
    const times = this.times;
    const upperArr = this.upperArr;
    const lowerArr = this.lowerArr;
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
      rec.accountBar(i, e, 0);
    }
    return i1;
  }

  /**
   * The block's equity (eqBlock: quote wallet + Σ balance × close in ledger order) and class values
   * (valBlock: 0 + Σ balance × close in history order, valueClasses's sums), one pass per asset column.
   */
  private blockColumns(i0: number, i1: number): void {
    const len = i1 - i0;
    const { balance, ledgerAsset, assetClass, closeCol, assigned } = this;
    const nC = this.nC;
    const cashClass = this.cashClass;
    const eq = this.eqBlock;
    const w = this.valBlock;
    eq.fill(balance[0]!, 0, len);
    assigned.fill(0);
    for (let a = 0; a < this.nA; a++) {
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
      const first = assigned[c] === 0;
      assigned[c] = 1;
      // (0 + v: the first term of a class's sum is added to 0, as valueClasses adds it: −0 becomes 0.)
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
      for (let k = 0, x = c; k < len; k++, x += nC) w[x] = 0;
    }
  }

  /** The run's result (after `run`). */
  result(spec: PolicySpec, h: MarketHistory): PolicyRun {
    const n = this.n;
    const extras: PolicyExtras = { hedges: this.book.stats(), outOfBand: this.rec.outOfBand(), ...(this.taxBook && n > 0 ? { tax: this.taxBook.summary(this.times[n - 1]!, this.prices) } : {}) };
    const series = this.rec.series(spec, h);
    return { series, counters: { ...this.counters }, extras, plans: this.plans, kernelPlans: this.kernelPlans };
  }
}

/** Runs one policy over the history. `onBar` is called every n / 200 bars for progress. */
export function runPolicy(base: Portfolio, spec: PolicySpec, h: MarketHistory, o: BacktestOptions, onBar?: (bars: number) => void): PolicyRun {
  const replay = new Replay(base, spec, h, o);
  replay.run(onBar);
  return replay.result(spec, h);
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
