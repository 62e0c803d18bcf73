/**
 * The words of docs/concepts.md as data. Everything in src/core is pure: plain data in, plain data out,
 * no I/O, no clock, no randomness. Weights, targets and rates are fractions (0.4 = 40%); money is in
 * the portfolio's quote currency (float64 for analytics, rounded to venue rules at the order boundary).
 */

import type { TaxConfig } from './lots.js';

export type Fraction = number;
export type Money = number;

/** Tolerance band around a class target. Absolute: ± points (0.05 = ±5 pp). Relative: ± fraction of the target. */
export type Band = { kind: 'absolute'; width: Fraction } | { kind: 'relative'; fraction: Fraction };

export type Instrument = 'spot' | 'futures' | 'auto';
export type RebalanceMode = 'threshold' | 'calendar' | 'hybrid';
export type RebalanceTo = 'target' | 'band-edge' | 'halfway';
export type RebalanceScope = 'breached' | 'all';
export type Schedule = 'daily' | 'weekly' | 'monthly';

export interface AssetClass {
  name: string;
  target: Fraction;
  band: Band;
  /** Spot assets of the class (base currencies, e.g. BTC, SOL). */
  assets: string[];
  /** Optional split of spot buys/sells inside the class (fractions summing to 1). Default: pro rata to holdings, equal if none. */
  weights?: Record<string, Fraction>;
  /** Perpetual (ccxt unified symbol, e.g. BTC/USDT:USDT) used to move this class's exposure by futures. */
  hedge?: string;
  /** True for the one cash class (stablecoins): its exposure is TPV − Σ other classes' net exposure. */
  cash: boolean;
  /** Per-class override of execution.instrument (strategies use it, e.g. core-satellite hedges the core). */
  instrument?: Instrument;
}

/** An index perpetual that maps to several classes by weights (fractions summing to 1). */
export interface IndexPerp {
  symbol: string;
  classes: Record<string, Fraction>;
}

export interface Fees {
  spotTaker: Fraction;
  spotMaker: Fraction;
  futuresTaker: Fraction;
  futuresMaker: Fraction;
}

export interface ExecutionConfig {
  instrument: Instrument;
  /** Futures hedge notional = deviation × hedgeRatio (≤ 1). */
  hedgeRatio: Fraction;
  /** Leverage used for new futures positions (initial margin = notional / leverage). */
  leverage: number;
  fees: Fees;
  /** Expected slippage per trade, as a fraction of notional (10 bps = 0.001). */
  slippage: Fraction;
  /** Cost charged in the cost model for realising a spot sale (tax, loss of conviction), fraction of notional. */
  spotSalePenalty: Fraction;
  /**
   * Expected life of a hedge, in hours, for the funding part of the cost model — used only with
   * `hedges.exit: unwind-only`, where no rule bounds the life; the other exit rules give the horizon.
   */
  expectedHoldingHours: number;
}

/**
 * How a hedge ends (docs/hedging.md: a hedge is a bridge with an exit rule). Whatever the rule, a hedge is also
 * unwound when its class is back inside the inner band on a spot basis, and cut when margin or funding
 * exceed their budgets or the gross cap is exceeded.
 * - convert-on-schedule: converted into a spot trade at the first `rebalance.schedule` period start after
 *   it opened (in threshold mode too);
 * - convert-after: converted once it has been open `hours`;
 * - convert-when-long-term (needs `tax:`): converted when the lots its class would sell have all turned
 *   long-term (held more than tax.longTermAfterDays), so the sale it replaces realises long-term gains;
 * - unwind-only: never converted; it lives until the unwind, a cut or a liquidation.
 */
export type HedgeExit =
  | { kind: 'convert-on-schedule' }
  | { kind: 'convert-after'; hours: number }
  | { kind: 'convert-when-long-term' }
  | { kind: 'unwind-only' };

/** What the planner does when it has no funding rate for a hedge perp (never a silent 0 %). */
export type FundingWhenUnknown = { kind: 'refuse' } | { kind: 'zero' } | { kind: 'proxy'; symbol: string };

export interface HedgeConfig {
  exit: HedgeExit;
  /**
   * Hysteresis: an open hedge is unwound only when its class's spot weight is within target ± unwindInside ×
   * half-width (default 0.5: the inner half of the band) and unwinding keeps every class inside its band.
   */
  unwindInside: Fraction;
  /** Gross hedge notional cap as a share of TPV; above it the oldest hedges are converted first. */
  maxGross: Fraction;
  /** A futures leg refused (margin, funding, unknown funding, min notional, lot): trade spot instead, or wait. */
  onRefused: 'spot' | 'wait';
  /**
   * both: short hedges de-risk overweight classes, long hedges add to underweight ones (with `instrument:
   * futures`, always; with `auto`, only when the cash class cannot fund the buy); short-only: underweight
   * classes are always bought spot.
   */
  direction: 'both' | 'short-only';
  fundingWhenUnknown: FundingWhenUnknown;
}

export interface RiskConfig {
  maxLeverage: number;
  /** The cash buffer must survive this adverse move of every futures position without liquidation. */
  stressMove: Fraction;
  /** A hedge whose funding costs more than this per year (fraction of notional) is not opened, and is cut if open. */
  maxFundingApr: Fraction;
  /** Inputs older than this (ms) relative to the decision time make the plan empty with reason STALE. */
  maxDataAgeMs: number;
  // Pre-trade risk gate (src/execution/pretrade.ts). Optional here; `pretradeLimits()` fills the defaults.
  /** Largest order notional as a fraction of TPV. Default 0.25. */
  maxOrderShare?: Fraction;
  /** Largest total order notional per cycle as a fraction of TPV. Default 1. */
  maxCycleTurnover?: Fraction;
  /** A limit price may be at most this far from the touch. Default 0.02. */
  priceCollar?: Fraction;
  /** Most orders in one cycle. Default 20. */
  maxOrdersPerCycle?: number;
  /** This many refused plans in a row put the account in REDUCING. Default 3. */
  maxRefusals?: number;
}

/** The pre-trade gate's limits with every default filled. */
export interface PretradeLimits {
  maxOrderShare: number;
  maxCycleTurnover: number;
  priceCollar: number;
  maxOrdersPerCycle: number;
  maxRefusals: number;
}

export const DEFAULT_PRETRADE: PretradeLimits = {
  maxOrderShare: 0.25,
  maxCycleTurnover: 1,
  priceCollar: 0.02,
  maxOrdersPerCycle: 20,
  maxRefusals: 3,
};

export type Strategy =
  | { type: 'targets' }
  | { type: 'core-satellite'; core: string }
  | {
      type: 'beta-neutral';
      /** The class held long (altcoins). */
      long: string;
      /** The class whose hedge perp carries the short (BTC). */
      short: string;
      /** Beta of the long class against the short one; if absent it is estimated from snapshot.history. */
      beta?: number;
      /** Act when |beta-weighted net exposure| exceeds this fraction of the long class's notional. */
      tolerance: Fraction;
    };

export interface RebalanceConfig {
  mode: RebalanceMode;
  schedule: Schedule;
  to: RebalanceTo;
  scope: RebalanceScope;
}

// ---------------------------------------------------------------- service configuration (`ballast run`)
// Optional sections of the portfolio file. The loader leaves a section undefined when the file does not
// write it (so plain `ballast plan` files read exactly as before); `serviceConfig()` in
// src/adapters/files/portfolio.ts fills every default. Durations are in ms (the file writes seconds).

/** ccxt exchange ids ballast trades on. */
export type VenueId = 'binance' | 'bybit' | 'okx';
export const VENUE_IDS: readonly VenueId[] = ['binance', 'bybit', 'okx'];

/**
 * Where an account's API keys come from — never the portfolio file.
 * - env: BALLAST_<NAME>_API_KEY, BALLAST_<NAME>_API_SECRET, BALLAST_<NAME>_API_PASSWORD, where NAME is the
 *   account name upper-cased with every other character than A–Z and 0–9 replaced by `_` (`envPrefix`).
 * - file: a JSON key file; the path is resolved against the portfolio file's folder; mode 0600 is
 *   enforced when the keys are read.
 */
export type KeySource = { kind: 'env'; prefix: string } | { kind: 'file'; path: string };

export interface AccountConfig {
  name: string;
  /** A ccxt exchange id, or 'paper' for the simulated venue. */
  exchange: VenueId | 'paper';
  /** null for paper accounts (they need no keys). */
  keys: KeySource | null;
}

export interface FeedConfig {
  /** Inputs older than this stop new orders (STALE). Equal to risk.maxDataAgeMs unless risk sets its own. */
  maxAgeMs: number;
  /** A WebSocket stream silent for longer than this is replaced by REST polling (always < maxAgeMs). */
  restFallbackMs: number;
}

export interface OrdersConfig {
  type: 'limit' | 'market';
  /** Limit price = touch ± this many basis points (the executor applies it; 2 = 0.02 %). Ignored for market orders. */
  offsetBps: number;
  /** A leg larger than this (quote currency) is sliced into child orders of at most this notional. */
  maxSliceNotional: Money;
  sliceIntervalMs: number;
  /** An unfilled slice is repriced after this long. */
  repriceAfterMs: number;
  /** A slice still unfilled after this long is cancelled. */
  cancelAfterMs: number;
  /** "Order not found" answers before an order is declared lost. */
  notFoundStrikes: number;
}

export type NotifyEventType = 'trigger' | 'order' | 'fill' | 'halt';
export const NOTIFY_EVENT_TYPES: readonly NotifyEventType[] = ['trigger', 'order', 'fill', 'halt'];

export interface NotifyConfig {
  /** http(s) URL receiving a JSON POST per event; null = notifications off. May hold a token: never log it whole. */
  webhook: string | null;
  events: NotifyEventType[];
  timeoutMs: number;
}

/** The service sections with every default filled in (see `serviceConfig`). */
export interface ServiceConfig {
  accounts: AccountConfig[];
  feed: FeedConfig;
  orders: OrdersConfig;
  notify: NotifyConfig;
}

export interface Portfolio {
  quote: string;
  classes: AssetClass[];
  indexPerps: IndexPerp[];
  rebalance: RebalanceConfig;
  execution: ExecutionConfig;
  risk: RiskConfig;
  hedges: HedgeConfig;
  strategy: Strategy;
  /** Tax lots and rates (`tax:`); absent: tax is not modelled and outputs say so. */
  tax?: TaxConfig;
  /** Accounts to trade. Absent: one paper account named "paper". */
  accounts?: AccountConfig[];
  feed?: FeedConfig;
  orders?: OrdersConfig;
  notify?: NotifyConfig;
}

// ---------------------------------------------------------------- snapshot

export type MarginMode = 'cross' | 'isolated';

export interface Position {
  symbol: string;
  /** Signed: negative is short. */
  contracts: number;
  contractSize: number;
  entryPrice: number;
  leverage: number;
  marginMode: MarginMode;
  /** Isolated margin posted, if isolated (defaults to entry notional / leverage). */
  isolatedMargin?: number;
  /** When the position was opened (epoch ms), if known: the exit rules and the gross cap use its age. */
  openedAt?: number;
}

/** A tax lot held on an account (see src/core/lots.ts). */
export interface AccountLot {
  asset: string;
  /** Epoch ms. */
  acquired: number;
  qty: number;
  /** Quote per unit, buy fee included. */
  unitCost: number;
}

export interface Account {
  name: string;
  balances: Record<string, number>;
  positions: Position[];
  /** Tax lots of the spot balances, if given; per asset they add up to the balance. */
  lots?: AccountLot[];
}

export interface FundingRate {
  /** Rate per interval as a fraction; positive = longs pay shorts. */
  rate: number;
  intervalHours: number;
  /**
   * Mean rate per interval over a trailing window (the backtester: the last 21 settlements, a week of 8 h
   * intervals), if known. The cost model expects this rate over a hedge's life; the budget check uses `rate`.
   */
  mean?: number;
}

export interface MarketRules {
  /** Lot step for the amount (base units for spot, contracts for perps). */
  amountStep: number;
  minAmount: number;
  minNotional: number;
  priceStep: number;
  contractSize: number;
  /** Maintenance margin rate (flat; first tier). */
  maintenanceMarginRate: number;
}

export interface Snapshot {
  /** Epoch ms of the snapshot. */
  time: number;
  /** Spot prices in the quote currency, by asset. */
  prices: Record<string, number>;
  /** Mark prices by perp symbol. */
  marks: Record<string, number>;
  funding: Record<string, FundingRate>;
  accounts: Account[];
  /** Market rules by symbol (spot `BTC/USDT`, perp `BTC/USDT:USDT`). Missing ⇒ defaults (no lot step beyond 1e-8, no minimum). */
  markets: Record<string, Partial<MarketRules>>;
  /** Per-input timestamps (ms) when known; used for the staleness rule. */
  timestamps?: Record<string, number>;
  /** Close-price history by asset (oldest first), used to estimate beta. */
  history?: Record<string, number[]>;
  /** Last rebalance time (ms), for calendar and hybrid modes. */
  lastRebalance?: number;
}

// ---------------------------------------------------------------- valuation

export type Breach = 'upper' | 'lower' | null;

export interface ClassValuation {
  name: string;
  cash: boolean;
  target: Fraction;
  lower: Fraction;
  upper: Fraction;
  /** Spot value of the class's assets. */
  spot: Money;
  /** Signed notional of futures mapped to the class (for the cash class: net − spot). */
  futures: Money;
  net: Money;
  weight: Fraction;
  drift: Fraction;
  breach: Breach;
  /** Money outside the band (positive above, negative below, 0 inside). */
  deviation: Money;
  /** Drift from target in money: (weight − target) × TPV. */
  driftValue: Money;
}

export interface PositionValuation {
  account: string;
  symbol: string;
  contracts: number;
  contractSize: number;
  mark: number;
  entryPrice: number;
  notional: Money;
  unrealizedPnl: Money;
  leverage: number;
  marginMode: MarginMode;
  initialMargin: Money;
  maintenanceMargin: Money;
  /** Classes this position counts toward and the share of its notional each receives. */
  classes: Record<string, Fraction>;
  /** When it was opened (epoch ms), if the snapshot says. */
  openedAt?: number;
}

export interface Valuation {
  quote: string;
  tpv: Money;
  spotValue: Money;
  unrealizedPnl: Money;
  classes: ClassValuation[];
  positions: PositionValuation[];
  /** Spot value by asset, summed over accounts. */
  assetValues: Record<string, Money>;
}

// ---------------------------------------------------------------- plan

export type Side = 'buy' | 'sell';

export interface Action {
  type: 'spot' | 'futures' | 'wait';
  class: string;
  account: string | null;
  symbol: string | null;
  side: Side | null;
  /** Order notional in the quote currency after rounding (0 for wait). */
  notional: Money;
  /** Order amount after rounding to the lot step (base units for spot, contracts for futures). */
  amount: number;
  price: number;
  reduceOnly: boolean;
  /** A spot sell under `tax:`: the lots it realises, each with its gain and term. */
  lots?: ActionLot[];
  /** A spot sell under `tax:`: the tax estimate of the lots it realises (standalone, ≥ 0). */
  tax?: Money;
  /** Why the leg exists, for the journal and the backtest's hedge statistics (absent: a rebalance trade). */
  purpose?: ActionPurpose;
  /** Plain-language arithmetic a beginner can check by hand. */
  reason: string;
}

export interface ActionLot {
  acquired: number;
  qty: number;
  costBasis: Money;
  proceeds: Money;
  gain: Money;
  term: 'short' | 'long';
}

/** Plan totals of the lots realised by its spot sells (absent without `tax:`). */
export interface PlanTax {
  shortTermGain: Money;
  longTermGain: Money;
  tax: Money;
  /** Base units sold with no lot to cover them (their gain is unknown and not counted), by asset. */
  uncovered: Record<string, number>;
}

/**
 * rebalance: a spot trade or hedge adjustment for a band; hedge-open: a new or enlarged hedge;
 * hedge-unwind: closed by hysteresis (class back inside its inner band) or shrunk by a rebalance;
 * hedge-convert: closed and replaced by a spot trade under the exit rule; hedge-cut-margin,
 * hedge-cut-funding, hedge-cut-cap: closed for margin risk, the funding budget, the gross cap.
 */
export type ActionPurpose =
  | 'rebalance'
  | 'hedge-open'
  | 'hedge-unwind'
  | 'hedge-convert'
  | 'hedge-cut-margin'
  | 'hedge-cut-funding'
  | 'hedge-cut-cap'
  | 'convert-spot';

export interface Rejection {
  class: string;
  alternative: 'spot' | 'futures' | 'order';
  symbol: string | null;
  reason: string;
}

export interface RiskSummary {
  marginRequired: Money;
  marginAvailable: Money;
  /** Liquidation price by perp symbol after the plan (null where none exists). */
  liquidationPrices: Record<string, number | null>;
  /** Margin ratio (maintenance / equity) of each futures account after the plan, at current and stressed marks. */
  marginRatio: Record<string, { now: number; stressed: number }>;
  maxLeverage: number;
}

/** A rule of the pre-trade risk gate (src/execution/pretrade.ts). */
export type PretradeRule =
  | 'malformed'
  | 'universe'
  | 'orders-per-cycle'
  | 'order-size'
  | 'cycle-turnover'
  | 'price-collar'
  | 'reduce-only'
  | 'spot-funds'
  | 'direction'
  | 'leverage'
  | 'margin'
  | 'churn';

export interface PretradeRefusal {
  rule: PretradeRule;
  /** Index of the action in `plan.actions` (null for a rule over the whole cycle). */
  leg: number | null;
  account: string | null;
  symbol: string | null;
  /** One sentence with the numbers, e.g. "notional 31,000.00 USDT is 31.00% of TPV, above the 25.00% limit". */
  message: string;
  /** The numbers the rule compared, by name. */
  numbers: Record<string, number>;
}

/** What the pre-trade gate said about a plan. A plan with any refusal sends nothing. */
export interface PretradeVerdict {
  ok: boolean;
  /** Orders checked (non-wait actions). */
  orders: number;
  /** Σ order notional at the touch. */
  turnover: Money;
  refusals: PretradeRefusal[];
}

export type PlanStatus = 'ok' | 'nothing-to-do' | 'not-due' | 'stale' | 'halted';

export interface Plan {
  time: number;
  status: PlanStatus;
  valuation: Valuation;
  trigger: string;
  actions: Action[];
  rejected: Rejection[];
  risk: RiskSummary;
  /** Gains and tax of the plan's spot sells; absent when the portfolio has no `tax:` section. */
  tax?: PlanTax;
  /** Lines of explanation in the order a beginner should read them. */
  explanation: string[];
  /** The pre-trade risk gate's verdict, when the plan went through it (the service, `ballast plan`). */
  pretrade?: PretradeVerdict;
}

export type TradingState = 'ACTIVE' | 'REDUCING' | 'HALTED';

/** Everything the planner needs besides the portfolio and snapshot. No clock: `now` is passed in. */
export interface PlanContext {
  now: number;
  state: TradingState;
  /**
   * A rebalance asked for by a person ("rebalance now"): every class moves to target whatever the
   * trigger mode says, through the same sizing, cost and risk rules. Stale data and HALTED still win.
   */
  force?: boolean;
}
