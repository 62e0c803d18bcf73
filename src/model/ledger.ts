/**
 * Ledger — the simulator's accounting, struct-of-arrays, shared by the SimExchange (paper trading,
 * tests) and the backtester (which calls it directly in its inner loop). One ledger = one account
 * with ONE quote/settle currency (e.g. USDT): spot markets trade base assets against it, perpetuals
 * are linear and settle in it, and every fee is charged in it.
 *
 * ## Layout (the contract the backtester builds on)
 *
 * Resolve symbols to integer indices ONCE (`assetIndex('BTC')`, `perpIndex('BTC/USDT:USDT')`), then
 * use only indices and typed arrays. Nothing below allocates except recording a liquidation.
 *
 *   assets: index 0 is always the quote currency; 1.. are the spot assets.
 *     balance[a]          Float64Array  spot balance; balance[0] is the quote wallet (spot cash and
 *                                       cross margin; isolated margin is moved out of it)
 *   perps: index p in 0..perps.length-1.
 *     contracts[p]        Float64Array  signed position in contracts (negative = short)
 *     entryPrice[p]       Float64Array  average entry price (0 when flat)
 *     isolatedMargin[p]   Float64Array  margin posted to an isolated position (0 for cross)
 *     realisedPnl[p]      Float64Array  cumulative realised PnL (incl. liquidation closes)
 *     feesPaid[p]         Float64Array  cumulative trading fees
 *     fundingPaid[p]      Float64Array  cumulative funding paid (≥ 0)
 *     fundingReceived[p]  Float64Array  cumulative funding received (≥ 0)
 *     liquidationFees[p]  Float64Array  cumulative liquidation fees
 *     contractSize[p], leverage[p], maintenanceRate[p]: Float64Array; isolated[p]: Uint8Array (1 = isolated)
 *   prices / marks arguments are Float64Arrays indexed like assets / perps (prices[0] is ignored:
 *   the quote is worth 1).
 *
 * ## Methods
 *
 *   applySpotFill(a, signedQty, price, feeRate) → fee
 *       balance[a] += signedQty; balance[0] −= signedQty × price + |signedQty| × price × feeRate.
 *   applyPerpFill(p, signedContracts, price, feeRate) → realised PnL of this fill
 *       fee = |Δ| × contractSize × price × feeRate, paid from the quote wallet.
 *       Increase (or open): entry = (q0·entry + Δ·price) / (q0 + Δ) — the contract-weighted average.
 *       Reduce: realised = closed × contractSize × (price − entry) × sign(q0), credited to the wallet;
 *         entry unchanged. Flip: close all at `price` (realised as above), open the rest at entry = price.
 *       Isolated: opening posts |Δ| × contractSize × price / leverage from the wallet to
 *         isolatedMargin[p]; reducing releases the same fraction of the posted margin back.
 *   settleFunding(p, rate, mark) → payment (positive = paid)
 *       payment = contracts × contractSize × mark × rate. Positive rate: longs pay, shorts receive;
 *       negative rate: shorts pay, longs receive. Paid and received are tracked separately. Cross
 *       positions settle against the wallet, isolated ones against their isolated margin.
 *   checkLiquidation(marks, time?) → number of positions liquidated
 *       Isolated p: isolatedMargin + uPnL(mark) ≤ maintenance(p) ⇒ liquidate p.
 *       Cross: wallet + Σ_cross uPnL ≤ Σ_cross maintenance ⇒ liquidate every cross position.
 *       maintenance = |notional| × rate − maintenanceAmount with the tier of |notional| (flat rate
 *       and amount 0 without tiers). A liquidation closes the whole position AT THE MARK passed in
 *       (realised PnL as a normal close), charges liquidationFeeRate × |notional at the mark|, and
 *       appends a LiquidationRecord. If the margin (isolated) or the wallet (cross) would go below
 *       zero the venue's insurance fund absorbs the rest: it is set to 0 and the shortfall added to
 *       `badDebt`. To be pessimistic inside a bar, call it with the bar's adverse extreme as marks.
 *   equity(prices, marks) → wallet + Σ balance[a] × prices[a] + Σ isolatedMargin + Σ uPnL
 *       (TPV of the account; a held asset with a NaN price makes it NaN — a missing price is an error).
 *   unrealizedPnl(p, mark), notional(p, mark), initialMargin(p, mark) (= |notional| / leverage),
 *   maintenanceMargin(p, mark), crossEquity(marks), liquidationPrice(p, marks) (NaN if none),
 *   setLeverage(p, x), setMarginMode(p, mode) (flat only), totals(), toJSON(), Ledger.fromJSON().
 *
 * The ledger does NOT validate: no lot steps, no funds checks, no price sanity. Callers (the
 * SimExchange's order boundary, the backtester's planner) do that. Indices are not range-checked.
 *
 * ## Conservation (property-tested in test/sim/properties.test.ts)
 *
 *   equity(prices, marks) = starting equity
 *     + spot mark-to-market (Σ fills q × (valuation price − fill price) + Σ holdings × price moves)
 *     + Σ realisedPnl + Σ uPnL − Σ fees − Σ fundingPaid + Σ fundingReceived − Σ liquidationFees + badDebt
 */

import type { MarginMode } from '../core/types.js';
import type { MarginTier } from '../ports/exchange.js';
import { finiteForJSON } from './json.js';

export interface PerpSpec {
  symbol: string;
  contractSize: number;
  /** Flat maintenance margin rate, used when `tiers` is absent. */
  maintenanceMarginRate: number;
  tiers?: MarginTier[];
  /** Default 1. */
  leverage?: number;
  /** Default 'cross'. */
  marginMode?: MarginMode;
}

export interface LedgerConfig {
  /** Quote and settle currency (asset index 0). */
  quote: string;
  /** Spot assets besides the quote. Assets named in `balances` are added automatically. */
  assets?: string[];
  perps?: PerpSpec[];
  /** Starting balances by asset. */
  balances?: Record<string, number>;
  /** Liquidation fee as a fraction of the liquidated notional. Default 0.005 (0.5 %). */
  liquidationFeeRate?: number;
}

export interface LiquidationRecord {
  time: number;
  perp: number;
  symbol: string;
  /** The closing fill, signed (a long's liquidation is a sell: negative). */
  contracts: number;
  price: number;
  fee: number;
  realisedPnl: number;
  marginMode: MarginMode;
  /** Shortfall absorbed by the insurance fund. */
  badDebt: number;
}

export interface LedgerTotals {
  spotFees: number;
  perpFees: number;
  fees: number;
  realisedPnl: number;
  fundingPaid: number;
  fundingReceived: number;
  liquidationFees: number;
  badDebt: number;
}

export interface LedgerJSON {
  version: 1;
  quote: string;
  assets: string[];
  perps: PerpSpec[];
  liquidationFeeRate: number;
  balance: number[];
  contracts: number[];
  entryPrice: number[];
  isolatedMargin: number[];
  realisedPnl: number[];
  feesPaid: number[];
  fundingPaid: number[];
  fundingReceived: number[];
  liquidationFees: number[];
  leverage: number[];
  isolated: number[];
  spotFees: number;
  badDebt: number;
  liquidations: LiquidationRecord[];
}

/** |q| below this fraction of the quantities involved is float noise from lot arithmetic: flat. */
const FLAT_EPS = 1e-12;

export class Ledger {
  readonly quote: string;
  readonly quoteIdx = 0;
  readonly assets: readonly string[];
  readonly perps: readonly string[];
  readonly liquidationFeeRate: number;

  readonly balance: Float64Array;

  readonly contracts: Float64Array;
  readonly entryPrice: Float64Array;
  readonly isolatedMargin: Float64Array;
  readonly realisedPnl: Float64Array;
  readonly feesPaid: Float64Array;
  readonly fundingPaid: Float64Array;
  readonly fundingReceived: Float64Array;
  readonly liquidationFees: Float64Array;
  readonly contractSize: Float64Array;
  readonly leverage: Float64Array;
  readonly maintenanceRate: Float64Array;
  readonly isolated: Uint8Array;

  /** Tiers flattened: perp p uses rows tierStart[p] .. tierStart[p] + tierCount[p] − 1. */
  readonly tierStart: Int32Array;
  readonly tierCount: Int32Array;
  readonly tierMax: Float64Array;
  readonly tierRate: Float64Array;
  readonly tierAmount: Float64Array;

  spotFees = 0;
  badDebt = 0;
  /** Fee of the last applySpotFill / applyPerpFill. */
  lastFee = 0;
  readonly liquidations: LiquidationRecord[] = [];

  readonly #assetIdx = new Map<string, number>();
  readonly #perpIdx = new Map<string, number>();
  readonly #specs: PerpSpec[];

  constructor(config: LedgerConfig) {
    this.quote = config.quote;
    const assets = [config.quote];
    for (const a of [...(config.assets ?? []), ...Object.keys(config.balances ?? {})]) {
      if (!assets.includes(a)) assets.push(a);
    }
    this.assets = assets;
    for (const [i, a] of assets.entries()) this.#assetIdx.set(a, i);
    this.liquidationFeeRate = config.liquidationFeeRate ?? 0.005;

    const specs = (config.perps ?? []).map((s) => ({ ...s, tiers: s.tiers?.map((t) => ({ ...t })) }));
    this.#specs = specs;
    this.perps = specs.map((s) => s.symbol);
    specs.forEach((s, i) => {
      if (this.#perpIdx.has(s.symbol)) throw new Error(`Ledger: duplicate perp ${s.symbol}`);
      this.#perpIdx.set(s.symbol, i);
    });

    this.balance = new Float64Array(assets.length);
    for (const [a, v] of Object.entries(config.balances ?? {})) this.balance[this.#assetIdx.get(a)!] = v;

    const n = specs.length;
    this.contracts = new Float64Array(n);
    this.entryPrice = new Float64Array(n);
    this.isolatedMargin = new Float64Array(n);
    this.realisedPnl = new Float64Array(n);
    this.feesPaid = new Float64Array(n);
    this.fundingPaid = new Float64Array(n);
    this.fundingReceived = new Float64Array(n);
    this.liquidationFees = new Float64Array(n);
    this.contractSize = new Float64Array(n);
    this.leverage = new Float64Array(n);
    this.maintenanceRate = new Float64Array(n);
    this.isolated = new Uint8Array(n);
    this.tierStart = new Int32Array(n);
    this.tierCount = new Int32Array(n);
    const tierRows = specs.reduce((k, s) => k + (s.tiers?.length ?? 0), 0);
    this.tierMax = new Float64Array(tierRows);
    this.tierRate = new Float64Array(tierRows);
    this.tierAmount = new Float64Array(tierRows);
    let row = 0;
    specs.forEach((s, p) => {
      if (!(s.contractSize > 0)) throw new Error(`Ledger: ${s.symbol} contractSize must be > 0`);
      this.contractSize[p] = s.contractSize;
      this.maintenanceRate[p] = s.maintenanceMarginRate;
      this.leverage[p] = s.leverage ?? 1;
      this.isolated[p] = s.marginMode === 'isolated' ? 1 : 0;
      const tiers = [...(s.tiers ?? [])].sort((x, y) => x.maxNotional - y.maxNotional);
      this.tierStart[p] = row;
      this.tierCount[p] = tiers.length;
      for (const t of tiers) {
        this.tierMax[row] = t.maxNotional;
        this.tierRate[row] = t.maintenanceMarginRate;
        this.tierAmount[row] = t.maintenanceAmount;
        row++;
      }
    });
  }

  // ------------------------------------------------------------------ indices

  /** Index of a spot asset (0 = quote). Throws for unknown assets: resolve once, outside the loop. */
  assetIndex(asset: string): number {
    const i = this.#assetIdx.get(asset);
    if (i === undefined) throw new Error(`Ledger: unknown asset ${asset}`);
    return i;
  }

  /** Index of a perpetual by symbol. Throws for unknown symbols. */
  perpIndex(symbol: string): number {
    const i = this.#perpIdx.get(symbol);
    if (i === undefined) throw new Error(`Ledger: unknown perp ${symbol}`);
    return i;
  }

  hasAsset(asset: string): boolean {
    return this.#assetIdx.has(asset);
  }

  hasPerp(symbol: string): boolean {
    return this.#perpIdx.has(symbol);
  }

  perpSpec(p: number): PerpSpec {
    const s = this.#specs[p]!;
    return { ...s, leverage: this.leverage[p]!, marginMode: this.isolated[p] === 1 ? 'isolated' : 'cross' };
  }

  // ------------------------------------------------------------------ fills

  /** Spot fill: + buys, − sells. Fee in quote. Returns the fee. */
  applySpotFill(a: number, signedQty: number, price: number, feeRate: number): number {
    const value = signedQty * price;
    const fee = (value < 0 ? -value : value) * feeRate;
    this.balance[a]! += signedQty;
    this.balance[0]! -= value + fee;
    this.spotFees += fee;
    this.lastFee = fee;
    return fee;
  }

  /** Perp fill: + buys, − sells (contracts). Returns the realised PnL of this fill (0 when opening). */
  applyPerpFill(p: number, signedContracts: number, price: number, feeRate: number): number {
    const dq = signedContracts;
    if (dq === 0) {
      this.lastFee = 0;
      return 0;
    }
    const cs = this.contractSize[p]!;
    const q0 = this.contracts[p]!;
    const absDq = dq < 0 ? -dq : dq;
    const fee = absDq * cs * price * feeRate;
    this.balance[0]! -= fee;
    this.feesPaid[p]! += fee;
    this.lastFee = fee;
    const iso = this.isolated[p] === 1;

    if (q0 === 0 || q0 > 0 === dq > 0) {
      const q1 = q0 + dq;
      this.entryPrice[p] = (q0 * this.entryPrice[p]! + dq * price) / q1;
      this.contracts[p] = q1;
      if (iso) this.#postMargin(p, (absDq * cs * price) / this.leverage[p]!);
      return 0;
    }

    const absQ0 = q0 < 0 ? -q0 : q0;
    let q1 = q0 + dq;
    if ((q1 < 0 ? -q1 : q1) <= FLAT_EPS * (absQ0 + absDq)) q1 = 0;
    const flip = q1 !== 0 && q1 > 0 !== q0 > 0;
    const closed = q1 === 0 || flip ? absQ0 : absDq;
    const realised = (q0 > 0 ? closed : -closed) * cs * (price - this.entryPrice[p]!);
    this.realisedPnl[p]! += realised;
    let credit = realised;
    if (iso) {
      const posted = this.isolatedMargin[p]!;
      const release = closed === absQ0 ? posted : (posted * closed) / absQ0;
      this.isolatedMargin[p] = posted - release;
      credit += release;
    }
    this.balance[0]! += credit;
    this.contracts[p] = q1;
    if (q1 === 0) {
      this.entryPrice[p] = 0;
      if (iso) this.isolatedMargin[p] = 0;
    } else if (flip) {
      this.entryPrice[p] = price;
      if (iso) this.#postMargin(p, ((q1 < 0 ? -q1 : q1) * cs * price) / this.leverage[p]!);
    }
    return realised;
  }

  #postMargin(p: number, amount: number): void {
    this.balance[0]! -= amount;
    this.isolatedMargin[p]! += amount;
  }

  // ------------------------------------------------------------------ funding

  /**
   * Settle one funding interval on perp p. payment = contracts × contractSize × mark × rate;
   * returns it (positive = this account paid, negative = received).
   */
  settleFunding(p: number, rate: number, mark: number): number {
    const q = this.contracts[p]!;
    if (q === 0) return 0;
    const payment = q * this.contractSize[p]! * mark * rate;
    if (payment > 0) this.fundingPaid[p]! += payment;
    else this.fundingReceived[p]! -= payment;
    if (this.isolated[p] === 1) this.isolatedMargin[p]! -= payment;
    else this.balance[0]! -= payment;
    return payment;
  }

  // ------------------------------------------------------------------ valuation

  unrealizedPnl(p: number, mark: number): number {
    const q = this.contracts[p]!;
    return q === 0 ? 0 : q * this.contractSize[p]! * (mark - this.entryPrice[p]!);
  }

  /** Signed notional at the mark. */
  notional(p: number, mark: number): number {
    return this.contracts[p]! * this.contractSize[p]! * mark;
  }

  /** |notional| / leverage. */
  initialMargin(p: number, mark: number): number {
    const n = this.contracts[p]! * this.contractSize[p]! * mark;
    return (n < 0 ? -n : n) / this.leverage[p]!;
  }

  maintenanceMargin(p: number, mark: number): number {
    const q = this.contracts[p]!;
    if (q === 0) return 0;
    let n = q * this.contractSize[p]! * mark;
    if (n < 0) n = -n;
    const count = this.tierCount[p]!;
    if (count === 0) return n * this.maintenanceRate[p]!;
    const t = this.#tierOf(p, n);
    const mm = n * this.tierRate[t]! - this.tierAmount[t]!;
    return mm > 0 ? mm : 0;
  }

  #tierOf(p: number, absNotional: number): number {
    const start = this.tierStart[p]!;
    const end = start + this.tierCount[p]! - 1;
    let t = start;
    while (t < end && absNotional > this.tierMax[t]!) t++;
    return t;
  }

  /** Cross-margin equity: quote wallet + Σ uPnL of cross positions. */
  crossEquity(marks: Float64Array): number {
    let e = this.balance[0]!;
    const n = this.contracts.length;
    for (let p = 0; p < n; p++) {
      if (this.isolated[p] === 0 && this.contracts[p] !== 0) e += this.unrealizedPnl(p, marks[p]!);
    }
    return e;
  }

  /** Account equity (TPV of this account): spot at `prices`, perps at `marks`. */
  equity(prices: Float64Array, marks: Float64Array): number {
    let e = this.balance[0]!;
    const na = this.balance.length;
    for (let a = 1; a < na; a++) {
      const b = this.balance[a]!;
      if (b !== 0) e += b * prices[a]!;
    }
    const np = this.contracts.length;
    for (let p = 0; p < np; p++) {
      e += this.isolatedMargin[p]!;
      const q = this.contracts[p]!;
      if (q !== 0) e += q * this.contractSize[p]! * (marks[p]! - this.entryPrice[p]!);
    }
    return e;
  }

  /**
   * Mark at which perp p is liquidated, every other position held at `marks` (cross), using the
   * maintenance tier of the current notional. NaN when flat or when no positive price liquidates it.
   *   isolated: m = (Q·E − M − amt) / (Q − r·|Q|)          Q = contracts × contractSize
   *   cross:    m = (Q·E − W − U' + MM' − amt) / (Q − r·|Q|)  W wallet, U'/MM' other cross positions
   */
  liquidationPrice(p: number, marks: Float64Array): number {
    const q = this.contracts[p]!;
    if (q === 0) return NaN;
    const Q = q * this.contractSize[p]!;
    const absN = Math.abs(Q * marks[p]!);
    let r = this.maintenanceRate[p]!;
    let amt = 0;
    if (this.tierCount[p]! > 0) {
      const t = this.#tierOf(p, absN);
      r = this.tierRate[t]!;
      amt = this.tierAmount[t]!;
    }
    let num: number;
    if (this.isolated[p] === 1) {
      num = Q * this.entryPrice[p]! - this.isolatedMargin[p]! - amt;
    } else {
      let others = this.balance[0]!;
      const n = this.contracts.length;
      for (let o = 0; o < n; o++) {
        if (o === p || this.isolated[o] === 1 || this.contracts[o] === 0) continue;
        others += this.unrealizedPnl(o, marks[o]!) - this.maintenanceMargin(o, marks[o]!);
      }
      num = Q * this.entryPrice[p]! - others - amt;
    }
    const m = num / (Q - r * Math.abs(Q));
    return Number.isFinite(m) && m > 0 ? m : NaN;
  }

  // ------------------------------------------------------------------ liquidation

  /** Liquidate what is under maintenance at `marks` (see header). Returns how many positions were closed. */
  checkLiquidation(marks: Float64Array, time = 0): number {
    let closed = 0;
    const n = this.contracts.length;
    let crossEq = this.balance[0]!;
    let crossMm = 0;
    let crossOpen = false;
    for (let p = 0; p < n; p++) {
      const q = this.contracts[p]!;
      if (q === 0) continue;
      const mark = marks[p]!;
      const qs = q * this.contractSize[p]!;
      const upnl = qs * (mark - this.entryPrice[p]!);
      const absN = qs < 0 ? -qs * mark : qs * mark;
      const mm = this.tierCount[p] === 0 ? absN * this.maintenanceRate[p]! : this.maintenanceMargin(p, mark);
      if (this.isolated[p] === 1) {
        if (this.isolatedMargin[p]! + upnl <= mm) {
          this.#liquidate(p, mark, time);
          closed++;
        }
      } else {
        crossOpen = true;
        crossEq += upnl;
        crossMm += mm;
      }
    }
    if (crossOpen && crossEq <= crossMm) {
      let last: LiquidationRecord | undefined;
      for (let p = 0; p < n; p++) {
        if (this.isolated[p] === 0 && this.contracts[p] !== 0) {
          last = this.#liquidate(p, marks[p]!, time);
          closed++;
        }
      }
      const w = this.balance[0]!;
      if (w < 0) {
        this.badDebt -= w;
        this.balance[0] = 0;
        if (last) last.badDebt -= w;
      }
    }
    return closed;
  }

  #liquidate(p: number, mark: number, time: number): LiquidationRecord {
    const q = this.contracts[p]!;
    const cs = this.contractSize[p]!;
    const realised = q * cs * (mark - this.entryPrice[p]!);
    const fee = Math.abs(q * cs * mark) * this.liquidationFeeRate;
    this.realisedPnl[p]! += realised;
    this.liquidationFees[p]! += fee;
    let badDebt = 0;
    const iso = this.isolated[p] === 1;
    if (iso) {
      let rest = this.isolatedMargin[p]! + realised - fee;
      if (rest < 0) {
        badDebt = -rest;
        rest = 0;
      }
      this.isolatedMargin[p] = 0;
      this.balance[0]! += rest;
      this.badDebt += badDebt;
    } else {
      this.balance[0]! += realised - fee;
    }
    this.contracts[p] = 0;
    this.entryPrice[p] = 0;
    const rec: LiquidationRecord = {
      time,
      perp: p,
      symbol: this.perps[p]!,
      contracts: -q,
      price: mark,
      fee,
      realisedPnl: realised,
      marginMode: iso ? 'isolated' : 'cross',
      badDebt,
    };
    this.liquidations.push(rec);
    return rec;
  }

  // ------------------------------------------------------------------ settings

  setLeverage(p: number, leverage: number): void {
    if (!(leverage > 0) || !Number.isFinite(leverage)) throw new RangeError(`Ledger: bad leverage ${leverage}`);
    this.leverage[p] = leverage;
  }

  /** Margin mode can change only while flat (as on the venues). */
  setMarginMode(p: number, mode: MarginMode): void {
    const iso = mode === 'isolated' ? 1 : 0;
    if (this.isolated[p] === iso) return;
    if (this.contracts[p] !== 0) throw new Error(`Ledger: cannot change margin mode of ${this.perps[p]} with an open position`);
    this.isolated[p] = iso;
  }

  // ------------------------------------------------------------------ reporting

  totals(): LedgerTotals {
    let perpFees = 0;
    let realisedPnl = 0;
    let fundingPaid = 0;
    let fundingReceived = 0;
    let liquidationFees = 0;
    for (let p = 0; p < this.contracts.length; p++) {
      perpFees += this.feesPaid[p]!;
      realisedPnl += this.realisedPnl[p]!;
      fundingPaid += this.fundingPaid[p]!;
      fundingReceived += this.fundingReceived[p]!;
      liquidationFees += this.liquidationFees[p]!;
    }
    return {
      spotFees: this.spotFees,
      perpFees,
      fees: this.spotFees + perpFees,
      realisedPnl,
      fundingPaid,
      fundingReceived,
      liquidationFees,
      badDebt: this.badDebt,
    };
  }

  /** JSON-safe snapshot (±Infinity stored as ±Number.MAX_VALUE). */
  toJSON(): LedgerJSON {
    return finiteForJSON({
      version: 1,
      quote: this.quote,
      assets: [...this.assets],
      perps: this.#specs.map((s) => ({ ...s, tiers: s.tiers?.map((t) => ({ ...t })) })),
      liquidationFeeRate: this.liquidationFeeRate,
      balance: Array.from(this.balance),
      contracts: Array.from(this.contracts),
      entryPrice: Array.from(this.entryPrice),
      isolatedMargin: Array.from(this.isolatedMargin),
      realisedPnl: Array.from(this.realisedPnl),
      feesPaid: Array.from(this.feesPaid),
      fundingPaid: Array.from(this.fundingPaid),
      fundingReceived: Array.from(this.fundingReceived),
      liquidationFees: Array.from(this.liquidationFees),
      leverage: Array.from(this.leverage),
      isolated: Array.from(this.isolated),
      spotFees: this.spotFees,
      badDebt: this.badDebt,
      liquidations: this.liquidations.map((r) => ({ ...r })),
    } satisfies LedgerJSON);
  }

  static fromJSON(json: LedgerJSON): Ledger {
    if (json.version !== 1) throw new Error(`Ledger: unsupported snapshot version ${String(json.version)}`);
    const l = new Ledger({
      quote: json.quote,
      assets: json.assets.slice(1),
      perps: json.perps,
      liquidationFeeRate: json.liquidationFeeRate,
    });
    const arrays = [
      [l.balance, json.balance],
      [l.contracts, json.contracts],
      [l.entryPrice, json.entryPrice],
      [l.isolatedMargin, json.isolatedMargin],
      [l.realisedPnl, json.realisedPnl],
      [l.feesPaid, json.feesPaid],
      [l.fundingPaid, json.fundingPaid],
      [l.fundingReceived, json.fundingReceived],
      [l.liquidationFees, json.liquidationFees],
      [l.leverage, json.leverage],
      [l.isolated, json.isolated],
    ] as const;
    for (const [target, source] of arrays) {
      if (!Array.isArray(source) || source.length !== target.length) {
        throw new Error('Ledger: snapshot arrays do not match its assets/perps');
      }
      target.set(source);
    }
    l.spotFees = json.spotFees;
    l.badDebt = json.badDebt;
    l.liquidations.push(...json.liquidations.map((r) => ({ ...r })));
    return l;
  }
}
