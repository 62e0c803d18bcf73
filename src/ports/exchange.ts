/**
 * Exchange port: the one interface every venue implements (the ccxt adapter for live trading, the
 * simulator for paper trading, tests and backtests). Shapes and names follow ccxt's unified API so
 * the live adapter is a thin mapping; where ballast needs more precision than ccxt promises the
 * difference is stated on the field (e.g. `Position.contracts` is signed here).
 *
 * Conventions
 * - Times are epoch ms, read from the adapter's injected Clock (src/ports/clock.ts).
 * - Amounts are in base units for spot and in contracts for perpetuals (swap); a perp's notional is
 *   contracts × contractSize × price in the settle currency.
 * - Fees are reported in the quote/settle currency.
 * - Every method can throw the typed errors of src/ports/errors.ts and nothing else for venue-side
 *   failures. A `RequestTimeout` from `createOrder`/`cancelOrder` means outcome unknown.
 * - Returned objects are copies: mutating them never changes the venue's state.
 */

import type { MarginMode, MarketRules, Side } from '../core/types.js';

export type { MarginMode, Side } from '../core/types.js';

export type MarketType = 'spot' | 'swap';
export type OrderType = 'limit' | 'market';
/** ccxt order statuses. `closed` = fully filled; `canceled` may carry a partial fill. */
export type OrderStatus = 'open' | 'closed' | 'canceled' | 'rejected' | 'expired';

/** One maintenance-margin tier (ccxt `fetchLeverageTiers` / Binance brackets). */
export interface MarginTier {
  /** Upper bound of |notional| for this tier (inclusive); the last tier may be Infinity. */
  maxNotional: number;
  maintenanceMarginRate: number;
  /** Binance's "cum": maintenance = |notional| × rate − maintenanceAmount, continuous across tiers. */
  maintenanceAmount: number;
  maxLeverage?: number;
}

export interface Market {
  /** ccxt unified symbol: `BTC/USDT` (spot) or `BTC/USDT:USDT` (linear perpetual). */
  symbol: string;
  type: MarketType;
  spot: boolean;
  swap: boolean;
  base: string;
  quote: string;
  /** Settle currency of a perpetual; null for spot. */
  settle: string | null;
  /** Lot step for amounts (base units for spot, contracts for perps). */
  amountStep: number;
  /** Tick size for prices. */
  priceStep: number;
  minAmount: number;
  /** Minimum order value in quote: amount × contractSize × price. */
  minNotional: number;
  /** Base units per contract; 1 for spot. */
  contractSize: number;
  /** Flat maintenance margin rate (first tier when tiers exist); 0 for spot. */
  maintenanceMarginRate: number;
  tiers?: MarginTier[];
  maxLeverage?: number;
  /** Fee rates as fractions. */
  maker: number;
  taker: number;
  active: boolean;
}

export interface Balances {
  timestamp: number;
  /** Available for new orders, by currency. */
  free: Record<string, number>;
  /** Locked by open orders and positions, by currency. */
  used: Record<string, number>;
  /** free + used, by currency (wallet balance; excludes unrealised PnL). */
  total: Record<string, number>;
}

export interface PositionInfo {
  symbol: string;
  side: 'long' | 'short';
  /** SIGNED contracts (negative = short). ccxt reports |contracts| plus `side`; the adapter signs it. */
  contracts: number;
  contractSize: number;
  entryPrice: number;
  markPrice: number;
  /** Signed notional at the mark: contracts × contractSize × markPrice. */
  notional: number;
  unrealizedPnl: number;
  leverage: number;
  marginMode: MarginMode;
  /** Mark at which the position would be liquidated, other positions held at their marks; null if none. */
  liquidationPrice: number | null;
  /** |notional| / leverage. */
  initialMargin: number;
  maintenanceMargin: number;
  /** Isolated margin posted (isolated mode); null for cross. */
  collateral: number | null;
  timestamp: number;
}

export interface Ticker {
  symbol: string;
  /** Time of the data the ticker was built from (not the time of the call): use it for staleness. */
  timestamp: number;
  bid: number;
  ask: number;
  last: number;
  /** Mark price for perpetuals; null for spot. */
  markPrice: number | null;
}

export interface FundingRateInfo {
  symbol: string;
  /**
   * Rate per interval as a fraction; positive = longs pay shorts. Paid at `fundingTimestamp`. null: the
   * venue gives no rate (unknown funding — never to be read as 0 %).
   */
  fundingRate: number | null;
  /** Next settlement time (ccxt `fundingTimestamp`), null if unknown. */
  fundingTimestamp: number | null;
  intervalMs: number;
  markPrice: number | null;
  timestamp: number;
}

export interface Fee {
  cost: number;
  currency: string;
}

export interface Order {
  id: string;
  /** Null only for orders the venue created itself (liquidations, ADL). */
  clientOrderId: string | null;
  timestamp: number;
  lastTradeTimestamp: number | null;
  lastUpdateTimestamp: number;
  symbol: string;
  type: OrderType;
  side: Side;
  /** Limit price; null for market orders. */
  price: number | null;
  /** Average fill price; null before the first fill. */
  average: number | null;
  amount: number;
  filled: number;
  remaining: number;
  /** Σ fill amount × contractSize × fill price. */
  cost: number;
  status: OrderStatus;
  fee: Fee;
  reduceOnly: boolean;
  postOnly: boolean;
}

export interface Trade {
  id: string;
  /** Venue order id of the order this fill belongs to. */
  order: string;
  /** Client id of that order; null for fills the venue initiated (liquidation, ADL). */
  clientOrderId: string | null;
  timestamp: number;
  symbol: string;
  side: Side;
  type: OrderType;
  takerOrMaker: 'taker' | 'maker';
  price: number;
  amount: number;
  cost: number;
  fee: Fee;
  /** True for forced closes by the venue's liquidation engine. */
  liquidation: boolean;
}

/** A settled funding payment (ccxt `fetchFundingHistory`). */
export interface FundingPayment {
  id: string;
  symbol: string;
  timestamp: number;
  /** Signed in the settle currency: negative = paid, positive = received. */
  amount: number;
  currency: string;
  rate: number;
  markPrice: number;
  /** Position (signed contracts) the payment was computed on. */
  contracts: number;
}

export interface CreateOrderRequest {
  symbol: string;
  type: OrderType;
  side: Side;
  amount: number;
  /** Required for limit orders. */
  price?: number;
  /** Caller-chosen id, unique among open orders; derive it from the intent and save it before sending. */
  clientOrderId: string;
  reduceOnly?: boolean;
  postOnly?: boolean;
}

/** Refer to an order by the venue's id or by the client order id. */
export type OrderRef = { id: string } | { clientOrderId: string };

export interface Exchange {
  /** Adapter / venue name (ccxt `exchange.id`). */
  readonly id: string;

  loadMarkets(): Promise<Record<string, Market>>;
  fetchBalance(): Promise<Balances>;
  /** Open positions (contracts ≠ 0), optionally only these symbols. */
  fetchPositions(symbols?: string[]): Promise<PositionInfo[]>;
  fetchTicker(symbol: string): Promise<Ticker>;
  fetchTickers(symbols?: string[]): Promise<Record<string, Ticker>>;
  fetchFundingRate(symbol: string): Promise<FundingRateInfo>;
  /** Funding payments settled on this account since `since` (inclusive). */
  fetchFundingHistory(symbol?: string, since?: number, limit?: number): Promise<FundingPayment[]>;

  /** Throws InvalidOrder (with a reason), InsufficientFunds, DuplicateOrderId, BadSymbol, or a NetworkError. */
  createOrder(request: CreateOrderRequest): Promise<Order>;
  /** Cancels an open order and returns it; OrderNotFound if it is unknown or no longer open. */
  cancelOrder(ref: OrderRef, symbol?: string): Promise<Order>;
  fetchOrder(ref: OrderRef, symbol?: string): Promise<Order>;
  fetchOpenOrders(symbol?: string, since?: number, limit?: number): Promise<Order[]>;
  /** Orders that are no longer open (closed, canceled, expired) and were last updated at or after `since`. */
  fetchClosedOrders(symbol?: string, since?: number, limit?: number): Promise<Order[]>;
  /** This account's fills at or after `since`, oldest first; each fill appears once with a stable id. */
  fetchMyTrades(symbol?: string, since?: number, limit?: number): Promise<Trade[]>;

  setLeverage(leverage: number, symbol: string): Promise<void>;
  setMarginMode(marginMode: MarginMode, symbol: string): Promise<void>;
}

/** The lot, tick, minimum and margin rules of a venue market, as the core reads them (snapshot `markets`). */
export function marketRules(m: Market): Partial<MarketRules> {
  return {
    amountStep: m.amountStep,
    minAmount: m.minAmount,
    minNotional: m.minNotional,
    priceStep: m.priceStep,
    contractSize: m.contractSize,
    ...(m.swap ? { maintenanceMarginRate: m.maintenanceMarginRate } : {}),
  };
}
