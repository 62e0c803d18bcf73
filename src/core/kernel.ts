/**
 * The rebalance kernel: the planner's decision for its most common case, over typed arrays, with no
 * allocation per call. It exists for the backtester's inner loop (thousands to millions of decisions
 * per run); `plan()` stays the one general decision path, with explanations, alternatives and risk.
 *
 * ## When it applies (`spotKernelApplies`, plus the caller's own checks)
 *
 * - every class trades spot (no class or execution instrument `futures`/`auto`, no core-satellite core
 *   hedged by futures) and the strategy is not beta-neutral;
 * - ONE account, no open futures positions (so no hedge maintenance, no margin, no unrealised PnL);
 * - trading state ACTIVE and fresh data (the backtester decides at the bar it is on).
 *
 * ## What it computes — the SAME arithmetic as `plan()`, in the same order, so the orders are identical
 *
 *   valuation   value[a] = balance[a] × price[a] for balance > 0 (else 0); TPV = Σ value over the assets
 *               sorted by name; class spot = Σ over the class's assets sorted by name; the cash class's
 *               net = TPV − Σ non-cash nets (class order); weight = net / TPV; breach beyond 1e-9.
 *   trigger     threshold: any class breached; calendar: `due`; hybrid: `due` and any class breached.
 *   adjustments calendar, scope `all` or no cash class: every non-cash class to target,
 *               delta = (target − weight) × TPV, skipped when |delta| ≤ 1e-9 × TPV. Otherwise each
 *               breached non-cash class to its destination (target | band-edge | halfway, as
 *               `destinationWeight`); if the cash class would end outside its band, every class to target.
 *   orders      |delta| ≤ 1e-9 × TPV or < 0.01 is no trade. Sell: at most the class's spot value, split by
 *               configured weights, else pro rata to holdings, else equally; amount = min(floor(value /
 *               price), floor(holding)) to the lot step; dropped below the minimum notional or amount.
 *               Sells credit value × (1 − fee). Buys after every sell: scaled down together when buys +
 *               fees exceed the quote balance, floored to the lot step, same minimums.
 *   ordering    sells (class order) before buys (class order), as `plan()` orders its legs.
 *
 * Calendar fast path (`simple`): when every non-cash class is one asset without configured weights and
 * every asset has the same lot rules, a class's legs reduce to one leg of value |delta| (a sell capped at
 * the asset's value); the classes are split into sell and buy lists first, then the sells and the buys
 * are made over those lists with the lot rules as scalars — the same arithmetic, in the same order.
 *
 * Lot rounding gives the same numbers as `floorToStep` (exact decimal arithmetic): a float fast path is
 * taken only when the quotient is provably more than 1e-9 away from an integer, else `floorToStep` itself.
 *
 * The kernel is deterministic and does no I/O; it writes only its own scratch and output arrays, which
 * each `plan` call overwrites (read `count` orders from `orderAsset`, `orderSide`, … before the next call).
 * A property test (test/core/kernel.property.test.ts) checks its orders against `plan()`'s.
 */
import { BAND_EDGE_MARGIN, WEIGHT_EPSILON, bandEdges } from './bands.js';
import { floorToStep } from './rounding.js';
import { SPEND_BUFFER } from './margin.js';
import { instrumentOf, MODE_CALENDAR, MODE_THRESHOLD, modeCode, NOISE } from './rebalance.js';
import { nextPeriodStart } from './schedule.js';

export { nextPeriodStart };
import type { MarketRules, Portfolio } from './types.js';

const TO_TARGET = 0;
const TO_BAND_EDGE = 1;
const TO_HALFWAY = 2;

/** True when every decision `plan()` can take for this portfolio (without open futures) is a spot decision. */
export function spotKernelApplies(p: Portfolio): boolean {
  if (p.strategy.type === 'beta-neutral') return false;
  // Configured intra-class weights are targets the planner trades toward (splitAcrossAssets); the kernel
  // splits by weight as a fixed share, so such portfolios go through the planner.
  if (p.classes.some((c) => c.weights !== undefined)) return false;
  return p.classes.every((c) => c.cash || instrumentOf(p, c) === 'spot');
}

/**
 * A lot step as num / div with integer num < 10⁴ and div = 10^d (d ≤ 22), from its shortest decimal
 * form (the form `Decimal` reads); div = 0 when the step has no such form (then only `floorToStep`).
 */
export function decomposeStep(step: number): { num: number; div: number } {
  if (!(step > 0) || !Number.isFinite(step)) return { num: 0, div: 0 };
  const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(step.toString());
  if (!m) return { num: 0, div: 0 };
  const frac = m[2] ?? '';
  const exp = Number(m[3] ?? '0') - frac.length;
  const digits = Number((m[1]! + frac).replace(/^0+(?=\d)/, ''));
  if (!Number.isSafeInteger(digits) || digits <= 0) return { num: 0, div: 0 };
  if (exp >= 0) {
    const num = digits * 10 ** exp;
    return num < 1e4 ? { num, div: 1 } : { num: 0, div: 0 };
  }
  if (-exp > 22 || digits >= 1e4) return { num: 0, div: 0 };
  return { num: digits, div: 10 ** -exp };
}

/**
 * `floorToStep(x, step)` with a float fast path. r = x × (1 / step) is within 5e-16 × r of the exact
 * decimal quotient `Decimal(x) / Decimal(step)` (four roundings of 2⁻⁵³ each: x and step against their
 * shortest decimal forms, the reciprocal, the product). When r's fractional part is more than
 * 1e-9 + r × 1e-15 away from 0 and 1, the decimal quotient is not within 1e-9 of an integer, so
 * `floorToStep` floors it: k = ⌊r⌋, and k × step = (k × num) / div is the correctly rounded double of the
 * exact decimal product, as `Decimal` gives it. Anything else goes to `floorToStep` itself.
 */
export function floorStepFast(x: number, step: number, invStep: number, num: number, div: number, rMax: number): number {
  if (!(x > 0)) return 0;
  if (!(step > 0)) return x;
  if (div > 0) {
    const r = x * invStep;
    if (r < rMax) {
      const k = Math.floor(r);
      const f = r - k;
      const margin = 1e-9 + r * 1e-15;
      if (f > margin && f < 1 - margin) return (k * num) / div;
    }
  }
  return floorToStep(x, step);
}

/** Largest quotient for the fast path: k < 1e15 and k × num < 2⁵³ (exact), 19 digits for `Decimal`. */
export function fastQuotientLimit(num: number): number {
  return num > 0 ? Math.min(1e15, 4e15 / num) : 0;
}

export type KernelRules = Pick<MarketRules, 'amountStep' | 'minAmount' | 'minNotional'>;

/**
 * The kernel for one portfolio over a fixed asset index space (`assets[0]` is the quote currency; every
 * class asset must be in it). Build once; call `plan` per decision.
 */
export class SpotKernel {
  readonly nAssets: number;
  readonly nClasses: number;
  readonly cash: number;
  readonly mode: number;
  readonly to: number;
  readonly scopeAll: boolean;
  readonly fee: number;
  /** Buys are sized with fee and expected slippage: 1 + fee + slippage (the planner's settleBuys). */
  readonly sizing: number;

  readonly target: Float64Array;
  readonly lower: Float64Array;
  readonly upper: Float64Array;
  readonly isCash: Uint8Array;
  /** Every asset index, sorted by asset name (TPV summation order). */
  readonly valueOrder: Int32Array;
  /** Class c's assets sorted by name (class spot summation): spotAssets[spotStart[c] .. spotStart[c+1]). */
  readonly spotStart: Int32Array;
  readonly spotAssets: Int32Array;
  /** Class c's assets in class order, quote included (sell capacity). */
  readonly capStart: Int32Array;
  readonly capAssets: Int32Array;
  /** Class c's tradable assets in class order, quote excluded (the split), with configured weights. */
  readonly tradeStart: Int32Array;
  readonly tradeAssets: Int32Array;
  readonly tradeWeight: Float64Array;
  readonly hasWeights: Uint8Array;
  /** Per asset: lot step, its decomposition, fast-path limit, minimums. */
  readonly step: Float64Array;
  readonly stepInv: Float64Array;
  readonly stepNum: Float64Array;
  readonly stepDiv: Float64Array;
  readonly stepMax: Float64Array;
  readonly minNotional: Float64Array;
  readonly minAmount: Float64Array;

  // scratch
  readonly value: Float64Array;
  readonly bal: Float64Array;
  readonly net: Float64Array;
  readonly weight: Float64Array;
  readonly breach: Int8Array;
  readonly delta: Float64Array;
  readonly adjust: Uint8Array;
  readonly buyAsset: Int32Array;
  readonly buyClass: Int32Array;
  readonly buyValue: Float64Array;
  /**
   * Every non-cash class has one asset (not the quote), no configured weights, and every tradable asset
   * has the same lot rules: the calendar fast path.
   */
  readonly simple: boolean;
  /** Per class: its one asset (simple classes), else −1. */
  readonly soleAsset: Int32Array;
  /** Calendar fast path: the classes to sell (from the front) and to buy (from the back), with |delta|. */
  readonly sideClass: Int32Array;
  readonly sideValue: Float64Array;
  /** Buys queued by the last decision (class order), and the sum of their values in that order. */
  nBuy = 0;
  wanted = 0;

  // output of the last `plan` call
  /** Orders: sells first, then buys. Side +1 buy, −1 sell. */
  readonly orderAsset: Int32Array;
  readonly orderClass: Int32Array;
  readonly orderSide: Int8Array;
  readonly orderAmount: Float64Array;
  readonly orderPrice: Float64Array;
  readonly orderNotional: Float64Array;
  count = 0;
  /** The trigger fired (plan status ok or nothing-to-do); false = `plan()` would say not-due / no trigger. */
  acted = false;
  /** TPV of the last call (planner arithmetic). */
  tpv = 0;

  constructor(p: Portfolio, assets: readonly string[], rules: (asset: string) => KernelRules) {
    if (!spotKernelApplies(p)) throw new Error('SpotKernel: the portfolio has futures or auto classes, or a beta-neutral strategy');
    if (assets[0] !== p.quote) throw new Error(`SpotKernel: asset 0 must be the quote ${p.quote}`);
    const index = new Map<string, number>();
    for (const [i, a] of assets.entries()) index.set(a, i);
    const idx = (a: string) => {
      const i = index.get(a);
      if (i === undefined) throw new Error(`SpotKernel: class asset ${a} is not in the asset index`);
      return i;
    };
    const nA = assets.length;
    const nC = p.classes.length;
    this.nAssets = nA;
    this.nClasses = nC;
    this.cash = p.classes.findIndex((c) => c.cash);
    this.mode = modeCode(p.rebalance.mode);
    this.to = p.rebalance.to === 'target' ? TO_TARGET : p.rebalance.to === 'band-edge' ? TO_BAND_EDGE : TO_HALFWAY;
    this.scopeAll = p.rebalance.scope === 'all';
    this.fee = p.execution.fees.spotTaker;
    this.sizing = 1 + (p.execution.fees.spotTaker + p.execution.slippage);

    this.target = new Float64Array(nC);
    this.lower = new Float64Array(nC);
    this.upper = new Float64Array(nC);
    this.isCash = new Uint8Array(nC);
    this.hasWeights = new Uint8Array(nC);
    const spot: number[] = [];
    const cap: number[] = [];
    const trade: number[] = [];
    const tradeW: number[] = [];
    this.spotStart = new Int32Array(nC + 1);
    this.capStart = new Int32Array(nC + 1);
    this.tradeStart = new Int32Array(nC + 1);
    p.classes.forEach((c, k) => {
      const e = bandEdges(c.target, c.band);
      this.target[k] = c.target;
      this.lower[k] = e.lower;
      this.upper[k] = e.upper;
      this.isCash[k] = c.cash ? 1 : 0;
      this.hasWeights[k] = c.weights ? 1 : 0;
      this.spotStart[k] = spot.length;
      for (const a of [...c.assets].sort()) spot.push(idx(a));
      this.capStart[k] = cap.length;
      for (const a of c.assets) cap.push(idx(a));
      this.tradeStart[k] = trade.length;
      for (const a of c.assets) {
        if (a === p.quote) continue;
        trade.push(idx(a));
        tradeW.push(c.weights ? (c.weights[a] ?? 0) : 0);
      }
    });
    this.spotStart[nC] = spot.length;
    this.capStart[nC] = cap.length;
    this.tradeStart[nC] = trade.length;
    this.spotAssets = Int32Array.from(spot);
    this.capAssets = Int32Array.from(cap);
    this.tradeAssets = Int32Array.from(trade);
    this.tradeWeight = Float64Array.from(tradeW);
    this.valueOrder = Int32Array.from(assets.map((a, i) => ({ a, i })).sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : 0)).map((x) => x.i));

    this.step = new Float64Array(nA);
    this.stepInv = new Float64Array(nA);
    this.stepNum = new Float64Array(nA);
    this.stepDiv = new Float64Array(nA);
    this.stepMax = new Float64Array(nA);
    this.minNotional = new Float64Array(nA);
    this.minAmount = new Float64Array(nA);
    for (let a = 1; a < nA; a++) {
      const r = rules(assets[a]!);
      const d = decomposeStep(r.amountStep);
      this.step[a] = r.amountStep;
      this.stepInv[a] = 1 / r.amountStep;
      this.stepNum[a] = d.num;
      this.stepDiv[a] = d.div;
      this.stepMax[a] = fastQuotientLimit(d.num);
      this.minNotional[a] = r.minNotional;
      this.minAmount[a] = r.minAmount;
    }

    this.value = new Float64Array(nA);
    this.bal = new Float64Array(nA);
    this.net = new Float64Array(nC);
    this.weight = new Float64Array(nC);
    this.breach = new Int8Array(nC);
    this.delta = new Float64Array(nC);
    this.adjust = new Uint8Array(nC);
    const cap1 = Math.max(1, trade.length);
    this.buyAsset = new Int32Array(cap1);
    this.buyClass = new Int32Array(cap1);
    this.buyValue = new Float64Array(cap1);
    this.orderAsset = new Int32Array(cap1);
    this.orderClass = new Int32Array(cap1);
    this.orderSide = new Int8Array(cap1);
    this.orderAmount = new Float64Array(cap1);
    this.orderPrice = new Float64Array(cap1);
    this.orderNotional = new Float64Array(cap1);
    this.soleAsset = new Int32Array(nC).fill(-1);
    let simple = true;
    for (let c = 0; c < nC; c++) {
      if (this.isCash[c] === 1) continue;
      const one =
        this.spotStart[c + 1]! - this.spotStart[c]! === 1 &&
        this.capStart[c + 1]! - this.capStart[c]! === 1 &&
        this.tradeStart[c + 1]! - this.tradeStart[c]! === 1 &&
        this.hasWeights[c] === 0 &&
        this.spotAssets[this.spotStart[c]!] === this.tradeAssets[this.tradeStart[c]!] &&
        this.capAssets[this.capStart[c]!] === this.tradeAssets[this.tradeStart[c]!];
      if (one) this.soleAsset[c] = this.tradeAssets[this.tradeStart[c]!]!;
      else simple = false;
    }
    // Every tradable asset with the same lot rules (the backtester's case): the calendar fast path reads
    // them as scalars.
    let uniform = nA > 1;
    for (let a = 2; a < nA && uniform; a++) {
      uniform =
        this.step[a] === this.step[1] &&
        this.stepInv[a] === this.stepInv[1] &&
        this.stepNum[a] === this.stepNum[1] &&
        this.stepDiv[a] === this.stepDiv[1] &&
        this.stepMax[a] === this.stepMax[1] &&
        this.minNotional[a] === this.minNotional[1] &&
        this.minAmount[a] === this.minAmount[1];
    }
    this.simple = simple && uniform;
    this.sideClass = new Int32Array(Math.max(1, nC));
    this.sideValue = new Float64Array(Math.max(1, nC));
  }

  /** floorToStep(x, lot step of asset a), exactly. */
  floor(x: number, a: number): number {
    return floorStepFast(x, this.step[a]!, this.stepInv[a]!, this.stepNum[a]!, this.stepDiv[a]!, this.stepMax[a]!);
  }

  /**
   * Decide at the given balances (index 0 = quote wallet) and prices (prices[0] = the quote's price, 1).
   * `due`: a calendar period began since the last rebalance (ignored in threshold mode).
   * Returns the number of orders; `acted` says whether the trigger fired.
   */
  plan(balances: Float64Array, prices: Float64Array, due: boolean): number {
    const nA = this.nAssets;
    const nC = this.nClasses;
    const value = this.value;
    const bal = this.bal;
    this.count = 0;
    this.acted = false;
    this.nBuy = 0;
    this.wanted = 0;

    // ---- valuation (valuePortfolio's order of operations): each asset's value, and TPV summed over the
    // assets in name order — one pass in that order (a value does not depend on the order it is computed in).
    const order = this.valueOrder;
    let spotValue = 0;
    for (let k = 0; k < nA; k++) {
      const a = order[k]!;
      const b = balances[a]!;
      let v = 0;
      if (b > 0) {
        bal[a] = b;
        v = b * prices[a]!;
      } else bal[a] = 0;
      value[a] = v;
      spotValue += v;
    }
    const tpv = spotValue;
    this.tpv = tpv;
    if (!(tpv > 0)) return 0;

    const net = this.net;
    const weight = this.weight;
    const breach = this.breach;
    const lower = this.lower;
    const upper = this.upper;
    const isCash = this.isCash;
    const cash = this.cash;
    const spotStart = this.spotStart;
    const spotAssets = this.spotAssets;
    const mode = this.mode;
    const target = this.target;
    const noiseTpv = NOISE * tpv;

    if (mode === MODE_CALENDAR) {
      // The trigger is `due` alone, and every non-cash class goes to target: each class's adjustment,
      // legs and sells in one pass, in class order (legs read `value` only; sells write `bal` only).
      if (!due) return 0;
      this.acted = true;
      if (this.simple) return this.calendarSimple(tpv, noiseTpv, prices);
      for (let c = 0; c < nC; c++) {
        if (isCash[c] === 1) continue;
        let s = 0;
        const end = spotStart[c + 1]!;
        for (let j = spotStart[c]!; j < end; j++) s += value[spotAssets[j]!]!;
        const w = s / tpv;
        const d = (target[c]! - w) * tpv;
        if ((d < 0 ? -d : d) <= noiseTpv) continue;
        this.legs(c, d, noiseTpv, prices);
      }
      if (this.nBuy > 0) this.settleBuys(this.nBuy, prices, this.fee);
      return this.count;
    }

    let nonCashNet = 0;
    let anyBreach = false;
    // Every class to target (scope all, no cash class): allToTarget's adjustments, computed in this same
    // pass (read only if the trigger fires).
    const allTarget = this.scopeAll || cash < 0;
    const delta = this.delta;
    const adjust = this.adjust;
    for (let c = 0; c < nC; c++) {
      if (isCash[c] === 1) continue;
      let s = 0;
      const end = spotStart[c + 1]!;
      for (let j = spotStart[c]!; j < end; j++) s += value[spotAssets[j]!]!;
      const n = s;
      net[c] = n;
      nonCashNet += n;
      const w = n / tpv;
      weight[c] = w;
      const b = w > upper[c]! + WEIGHT_EPSILON ? 1 : w < lower[c]! - WEIGHT_EPSILON ? -1 : 0;
      breach[c] = b;
      if (b !== 0) anyBreach = true;
      if (allTarget) {
        const d = (target[c]! - w) * tpv;
        if ((d < 0 ? -d : d) <= noiseTpv) adjust[c] = 0;
        else {
          delta[c] = d;
          adjust[c] = 1;
        }
      }
    }
    for (let c = 0; c < nC; c++) {
      if (isCash[c] !== 1) continue;
      adjust[c] = 0;
      const n = tpv - nonCashNet;
      net[c] = n;
      const w = n / tpv;
      weight[c] = w;
      const b = w > upper[c]! + WEIGHT_EPSILON ? 1 : w < lower[c]! - WEIGHT_EPSILON ? -1 : 0;
      breach[c] = b;
      if (b !== 0) anyBreach = true;
    }

    // ---- trigger
    const act = mode === MODE_THRESHOLD ? anyBreach : due && anyBreach;
    if (!act) return 0;
    this.acted = true;

    // ---- adjustments: delta[c] for every class with adjust[c] = 1
    if (!allTarget) {
      adjust.fill(0);
      let cashAfter = net[cash]!;
      for (let c = 0; c < nC; c++) {
        const b = breach[c]!;
        if (b === 0 || isCash[c] === 1) continue;
        const t = target[c]!;
        let dest = t;
        if (this.to !== TO_TARGET) {
          const edge = b > 0 ? upper[c]! : lower[c]!;
          dest = this.to === TO_HALFWAY ? (edge + t) / 2 : edge + (t - edge) * BAND_EDGE_MARGIN;
        }
        const d = (dest - weight[c]!) * tpv;
        cashAfter -= d;
        delta[c] = d;
        adjust[c] = 1;
      }
      const cw = cashAfter / tpv;
      if (cw > upper[cash]! + 1e-9 || cw < lower[cash]! - 1e-9) this.allToTarget(tpv);
    }

    // ---- legs, sells (class order), then buys.
    for (let c = 0; c < nC; c++) {
      if (adjust[c] === 0) continue;
      this.legs(c, delta[c]!, noiseTpv, prices);
    }
    if (this.nBuy > 0) this.settleBuys(this.nBuy, prices, this.fee);
    return this.count;
  }

  /**
   * The calendar decision when every non-cash class is one asset without configured weights: `legs` for
   * such a class reduces to one leg of value |d| (a sell capped at the asset's value, the class's sell
   * capacity). The classes are split into sells and buys in class order first (no branch per class on
   * the side), then the sells are made in class order and the buys queued in class order, as `legs` does.
   */
  private calendarSimple(tpvArg: number, noiseArg: number, prices: Float64Array): number {
    // tpv > 0 and noise ≥ 0 (+0 at the least): adding 0 leaves both unchanged, and makes them unboxed
    // doubles computed once here, not converted from the arguments at every use in the loops.
    const tpv = tpvArg + 0;
    const noiseTpv = noiseArg + 0;
    const nC = this.nClasses;
    const value = this.value;
    const target = this.target;
    const sole = this.soleAsset;
    // One list for both sides: sells from the front (class order), buys from the back (the j-th buy in
    // class order at top − j). Each class writes its entry at the one index for its side.
    const side = this.sideClass;
    const sideValue = this.sideValue;
    const top = nC - 1;
    let ns = 0;
    let nb = 0;
    let wanted = 0;
    for (let c = 0; c < nC; c++) {
      const a = sole[c]!;
      if (a < 0) continue;
      const v = value[a]!;
      const w = v / tpv;
      const d = (target[c]! - w) * tpv;
      // |d| without a branch on the side (sells and buys alternate unpredictably): the same value.
      const ad = Math.abs(d);
      if (ad <= noiseTpv || ad < 0.01) continue;
      // legs' one-asset case: no leg of value n ≤ 0 (here only NaN, a buy) when the asset holds value.
      if (!(ad > 0) && v > 0) continue;
      const isSell = +(d < 0);
      // The entry's index, ns for a sell, top − nb for a buy: selected with a mask (−1 or 0), no branch.
      const back = (top - nb) | 0;
      const x = back ^ ((ns ^ back) & -isSell);
      side[x] = c;
      sideValue[x] = ad;
      ns = (ns + isSell) | 0;
      nb = (nb + 1 - isSell) | 0;
    }
    // Σ buy values in queue order, as `leg` accumulates them.
    for (let j = 0; j < nb; j++) wanted += sideValue[top - j]!;
    this.nBuy = nb;
    this.wanted = wanted;
    // The sells, in class order: `leg`'s sell, inline, over locals.
    // The lot rules, the same for every asset (asset 1's). Here, and in the buys below, floorStepFast's
    // fast path is written out (the rest by `this.floor`): this is the backtester's hottest loop, and a
    // call to floorStepFast (or to a smaller helper) in its place measured B1 at 18.4 (16.0) M asset-bars/s
    // against 21.8 with the copies (`npm run bench -- B1 --reps 12`, same machine, back to back).
    const bal = this.bal;
    // (+ 0: unboxed doubles for the loops; every one is ≥ 0 and only compared or, as +0, multiplied.)
    const stepInv = this.stepInv[1]! + 0;
    const stepNum = this.stepNum[1]! + 0;
    const stepDiv = this.stepDiv[1]! + 0;
    const stepMax = this.stepMax[1]! + 0;
    const minNotional = this.minNotional[1]! + 0;
    const minAmount = this.minAmount[1]! + 0;
    const orderAsset = this.orderAsset;
    const orderClass = this.orderClass;
    const orderSide = this.orderSide;
    const orderAmount = this.orderAmount;
    const orderPrice = this.orderPrice;
    const orderNotional = this.orderNotional;
    const keep = 1 - this.fee;
    let o = this.count;
    let quote = bal[0]!;
    for (let j = 0; j < ns; j++) {
      const c = side[j]!;
      const a = sole[c]!;
      const v = value[a]!;
      // A sell: at most the capacity (the asset's value).
      const ad = sideValue[j]!;
      const n = ad > v + 1e-9 ? v : ad;
      // legs' one-asset case: no leg when n ≤ 0 and the asset holds value.
      if (!(n > 0) && v > 0) continue;
      const q = bal[a]!;
      if (!(q > 0)) continue;
      const price = prices[a]!;
      const want = n / price;
      const x = want < q ? want : q;
      let amount = -1;
      if (!(x > 0)) amount = 0;
      else if (stepDiv > 0) {
        const r = x * stepInv;
        if (r < stepMax) {
          const k = Math.floor(r);
          const f = r - k;
          const margin = 1e-9 + r * 1e-15;
          if (f > margin && f < 1 - margin) amount = (k * stepNum) / stepDiv;
        }
      }
      if (amount < 0) amount = +this.floor(x, a);
      const notional = amount * price;
      if (amount <= 0 || notional < minNotional || amount < minAmount) continue;
      bal[a] = q - amount;
      quote = quote + notional * keep;
      orderAsset[o] = a;
      orderClass[o] = c;
      orderSide[o] = -1;
      orderAmount[o] = amount;
      orderPrice[o] = price;
      orderNotional[o] = notional;
      o++;
    }
    bal[0] = quote;
    this.count = o;
    if (nb === 0) return o;

    // The buys: settleBuys with the lot rules as scalars.
    const fee = this.fee;
    const spendable = Math.max(0, quote) * (1 - SPEND_BUFFER);
    if (wanted <= 0) return o;
    const sizing = this.sizing;
    const scale = wanted * sizing > spendable ? spendable / (wanted * sizing) : 1;
    if (!(spendable > 0)) return o;
    const costRate = 1 + fee;
    for (let j = 0; j < nb; j++) {
      const c = side[top - j]!;
      const a = sole[c]!;
      const price = prices[a]!;
      const x = (sideValue[top - j]! * scale) / price;
      let amount = -1;
      if (!(x > 0)) amount = 0;
      else if (stepDiv > 0) {
        const r = x * stepInv;
        if (r < stepMax) {
          const k = Math.floor(r);
          const f = r - k;
          const margin = 1e-9 + r * 1e-15;
          if (f > margin && f < 1 - margin) amount = (k * stepNum) / stepDiv;
        }
      }
      if (amount < 0) amount = +this.floor(x, a);
      const notional = amount * price;
      if (amount <= 0 || notional < minNotional || amount < minAmount) continue;
      quote = quote - notional * costRate;
      bal[a] = bal[a]! + amount;
      orderAsset[o] = a;
      orderClass[o] = c;
      orderSide[o] = 1;
      orderAmount[o] = amount;
      orderPrice[o] = price;
      orderNotional[o] = notional;
      o++;
    }
    bal[0] = quote;
    this.count = o;
    return o;
  }

  /**
   * Class c's legs for the adjustment d (in class order): the value to sell or buy of each asset.
   * Computing a leg reads `value` only, so each sell is made at once — the same sells in the same order
   * as making them after every leg is known: sells (class order), then buys. Buys are queued (with
   * `wanted`, their sum in queue order) for `settleBuys`.
   */
  private legs(c: number, d: number, noise: number, prices: Float64Array): void {
    const ad = d < 0 ? -d : d;
    if (ad <= noise || ad < 0.01) return;
    const value = this.value;
    const sell = d < 0;
    let n = ad;
    if (sell) {
      let capacity = 0;
      const capStart = this.capStart;
      const capAssets = this.capAssets;
      const end = capStart[c + 1]!;
      for (let j = capStart[c]!; j < end; j++) capacity += value[capAssets[j]!]!;
      if (n > capacity + 1e-9) n = capacity;
    }
    const tradeAssets = this.tradeAssets;
    const start = this.tradeStart[c]!;
    const end = this.tradeStart[c + 1]!;
    if (this.hasWeights[c] === 1) {
      const tradeWeight = this.tradeWeight;
      for (let j = start; j < end; j++) {
        const v = n * tradeWeight[j]!;
        if (!(v > 0)) continue;
        this.leg(tradeAssets[j]!, c, v, sell, prices);
      }
    } else if (end - start === 1) {
      // One asset: its pro-rata share value / held is exactly 1 (or the equal split n / 1): v = n.
      const a = tradeAssets[start]!;
      if (!(n > 0) && value[a]! > 0) return;
      this.leg(a, c, n, sell, prices);
    } else {
      let held = 0;
      for (let j = start; j < end; j++) held += value[tradeAssets[j]!]!;
      if (held > 0) {
        for (let j = start; j < end; j++) {
          const a = tradeAssets[j]!;
          const v = n * (value[a]! / held);
          if (!(v > 0)) continue;
          this.leg(a, c, v, sell, prices);
        }
      } else {
        const count = end - start;
        for (let j = start; j < end; j++) this.leg(tradeAssets[j]!, c, n / count, sell, prices);
      }
    }
  }

  /**
   * One leg: a buy is queued; a sell of value v is made now: amount = floor(min(v / price, holding)) to
   * the lot step — rounding to the lot step is monotone, so min(floor(want), floor(holding)) =
   * floor(min(want, holding)) — dropped below the minimum notional or amount; it credits value × (1 − fee).
   */
  private leg(a: number, c: number, v: number, sell: boolean, prices: Float64Array): void {
    if (!sell) {
      const j = this.nBuy;
      this.buyAsset[j] = a;
      this.buyClass[j] = c;
      this.buyValue[j] = v;
      this.nBuy = j + 1;
      this.wanted += v;
      return;
    }
    const bal = this.bal;
    const q = bal[a]!;
    if (!(q > 0)) return;
    const price = prices[a]!;
    const want = v / price;
    const x = want < q ? want : q;
    const amount = this.floor(x, a);
    const notional = amount * price;
    if (amount <= 0 || notional < this.minNotional[a]! || amount < this.minAmount[a]!) return;
    bal[a] = q - amount;
    bal[0] = bal[0]! + notional * (1 - this.fee);
    // this.emit(class, a, −1, amount, price, notional), inline.
    const o = this.count;
    this.orderAsset[o] = a;
    this.orderClass[o] = c;
    this.orderSide[o] = -1;
    this.orderAmount[o] = amount;
    this.orderPrice[o] = price;
    this.orderNotional[o] = notional;
    this.count = o + 1;
  }

  private allToTarget(tpv: number): void {
    const nC = this.nClasses;
    const noise = NOISE * tpv;
    const isCash = this.isCash;
    const target = this.target;
    const weight = this.weight;
    const delta = this.delta;
    const adjust = this.adjust;
    for (let c = 0; c < nC; c++) {
      const d = (target[c]! - weight[c]!) * tpv;
      if (isCash[c] === 1 || (d < 0 ? -d : d) <= noise) {
        adjust[c] = 0;
        continue;
      }
      delta[c] = d;
      adjust[c] = 1;
    }
  }

  private settleBuys(nBuy: number, prices: Float64Array, fee: number): void {
    const bal = this.bal;
    // One account holds all the spendable cash (the planner's share of it is 1).
    const spendable = Math.max(0, bal[0]!) * (1 - SPEND_BUFFER);
    // Σ buy values in queue order (accumulated as the legs queued them).
    const wanted = this.wanted;
    if (wanted <= 0) return;
    const sizing = this.sizing;
    const scale = wanted * sizing > spendable ? spendable / (wanted * sizing) : 1;
    if (!(spendable > 0)) return;
    const buyAsset = this.buyAsset;
    const buyValue = this.buyValue;
    const minNotional = this.minNotional;
    const minAmount = this.minAmount;
    const orderAsset = this.orderAsset;
    const orderClass = this.orderClass;
    const orderSide = this.orderSide;
    const orderAmount = this.orderAmount;
    const orderPrice = this.orderPrice;
    const orderNotional = this.orderNotional;
    let o = this.count;
    for (let j = 0; j < nBuy; j++) {
      const a = buyAsset[j]!;
      const price = prices[a]!;
      const x = (buyValue[j]! * scale) / price;
      const amount = this.floor(x, a);
      const notional = amount * price;
      if (amount <= 0 || notional < minNotional[a]! || amount < minAmount[a]!) continue;
      bal[0] = bal[0]! - notional * (1 + fee);
      bal[a] = bal[a]! + amount;
      // this.emit(class, a, +1, amount, price, notional), inline.
      orderAsset[o] = a;
      orderClass[o] = this.buyClass[j]!;
      orderSide[o] = 1;
      orderAmount[o] = amount;
      orderPrice[o] = price;
      orderNotional[o] = notional;
      o++;
    }
    this.count = o;
  }
}
