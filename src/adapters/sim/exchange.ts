/**
 * SimExchange — the simulated venue behind the Exchange port, for paper trading and tests. Its
 * accounting is the Ledger (src/model/ledger.ts), the same one the backtester drives directly, so all three
 * share one set of fill, fee, funding and liquidation arithmetic.
 *
 * Time and data: every call first catches up with the injected clock, pulling the feed's events with
 * time ≤ now in order (bars → fills, marks, funding → settlements) and checking liquidation after
 * each event. An order is only ever matched against bars processed AFTER it was placed.
 *
 * Fill rules
 * - Limit buy fills only when a later bar trades THROUGH its price: bar.low < price (sell:
 *   bar.high > price). Touching (low == price) is not enough — queue position is unknown. The fill
 *   is at the limit price (a resting order gets its own price, even on a gap), maker fee.
 * - Volume cap: all of this account's fills on one bar together take at most
 *   `fill.maxVolumeFraction` × bar.volume (base units; contracts × contractSize for perps), rounded
 *   down to the lot step; the rest stays open for later bars (partial fill). Default fraction 1.
 * - Market orders fill in full, taker fee, at ref × (1 ± slippage) where ref is the last close
 *   (`fill.marketPrice: 'close'`, default, immediately) or the next bar's open (`'next-open'`, the
 *   order rests until then) and
 *       slippage = halfSpread + impact × (amount × contractSize) / barVolume   (capped at 0.99;
 *       the impact term is 0 when the bar has no volume).
 * - A limit order that is marketable when placed (buy price ≥ last close × (1 + halfSpread), sell
 *   ≤ last close × (1 − halfSpread)) takes liquidity at the market price above if that is within its
 *   limit (taker, volume cap of the current bar), and rests otherwise. postOnly + marketable →
 *   InvalidOrder('post-only').
 * - reduceOnly (perps only) must shrink the position at placement (amount ≤ |position|, opposite
 *   side) or InvalidOrder('reduce-only'); at fill time it is clamped to the position and canceled
 *   when nothing is left to reduce.
 *
 * Order boundary (exact decimals, never silently changed): amount a multiple of amountStep
 * ('amount-step'), ≥ minAmount ('min-amount'); limit price a multiple of priceStep ('price-step');
 * amount × contractSize × price ≥ minNotional ('min-notional', price = limit or last close;
 * reduce-only orders are exempt so a position can always be closed). Funds: spot buy needs
 * amount × price × (1 + max fee rate) of free quote, spot sell needs amount of free base; a perp order
 * needs initial margin (opening part × contractSize × price / leverage) plus the taker fee of free
 * quote, except a reduce-only order (a position can always be closed). Open orders reserve the same
 * amounts (`used` in fetchBalance).
 *
 * Balances: quote total = wallet + isolated margins; quote used = isolated margins + Σ cross initial
 * margins + open-order reservations + unrealised LOSS of cross positions; free = total − used (≥ 0).
 * Unrealised profit is not spendable.
 *
 * Funding is settled at every funding event of the feed on the current mark (ledger.settleFunding)
 * and listed by fetchFundingHistory. Liquidations are closed orders and trades with
 * clientOrderId null and `liquidation: true`.
 *
 * Faults: see faults.ts. Snapshot: `toJSON()` / `SimExchange.fromJSON(json, { feed, clock })` — the
 * feed must be positioned at `json.time` (e.g. a fresh ArrayFeed `advance(json.time)`).
 */

import { floorToStep, isMultipleOf } from '../../core/rounding.js';
import type { MarginMode, Side } from '../../core/types.js';
import type { Clock } from '../../ports/clock.js';
import {
  BadRequest,
  BadSymbol,
  DuplicateOrderId,
  ExchangeError,
  InsufficientFunds,
  InvalidOrder,
  OrderNotFound,
  RequestTimeout,
  type InvalidOrderReason,
} from '../../ports/errors.js';
import type {
  Balances,
  CreateOrderRequest,
  Exchange,
  FundingPayment,
  FundingRateInfo,
  MarginTier,
  Market,
  MarketType,
  Order,
  OrderRef,
  PositionInfo,
  Ticker,
  Trade,
} from '../../ports/exchange.js';
import { FaultInjector, type ExchangeOp, type FaultConfig, type FaultStateJSON } from './faults.js';
import type { Bar, FeedEvent, FundingPoint, MarketFeed } from './feed.js';
import { finiteForJSON } from '../../model/json.js';
import { Ledger, type LedgerJSON } from '../../model/ledger.js';
import { slippageFraction } from '../../model/slippage.js';
import { Decimal } from 'decimal.js';

export interface SimFees {
  maker: number;
  taker: number;
}

export interface SimMarketConfig {
  symbol: string;
  type: MarketType;
  base: string;
  /** Must equal the account quote (one quote/settle currency per simulated account). */
  quote?: string;
  amountStep: number;
  priceStep: number;
  minAmount?: number;
  minNotional?: number;
  /** Perps only; default 1. */
  contractSize?: number;
  maintenanceMarginRate?: number;
  tiers?: MarginTier[];
  maxLeverage?: number;
  /** Override the fee rates of `SimConfig.fees` for this market. */
  maker?: number;
  taker?: number;
  /** Funding interval reported by fetchFundingRate; default `SimConfig.fundingIntervalMs`. */
  fundingIntervalMs?: number;
}

export interface FillModel {
  /** Share of a bar's volume this account's fills may take on that bar. Default 1; Infinity = no cap. */
  maxVolumeFraction?: number;
  /** Reference price of market orders. Default 'close'. */
  marketPrice?: 'close' | 'next-open';
  /** Half the bid-ask spread as a fraction of price. Default 0. */
  halfSpread?: number;
  /** Impact coefficient: slippage += impact × (order base quantity / bar volume). Default 0. */
  impact?: number;
}

export interface SimConfig {
  /** Exchange id reported by the port. Default 'sim'. */
  id?: string;
  quote: string;
  markets: SimMarketConfig[];
  /** Starting balances by asset. */
  balances: Record<string, number>;
  /** Fee rates by market type. Default spot 0.1 % / 0.1 %, swap 0.02 % maker / 0.05 % taker. */
  fees?: { spot?: SimFees; swap?: SimFees };
  fill?: FillModel;
  /** Default leverage of every perp. Default 1. */
  leverage?: number;
  /** Default margin mode of every perp. Default 'cross'. */
  marginMode?: MarginMode;
  /** Liquidation fee as a fraction of notional. Default 0.005. */
  liquidationFeeRate?: number;
  /** Default 8 h. */
  fundingIntervalMs?: number;
  faults?: FaultConfig;
}

interface MarketState {
  market: Market;
  /** Asset index (spot) or perp index (swap) in the ledger. */
  idx: number;
  fundingIntervalMs: number;
  lastBar: Bar | null;
  /** Time the last bar became known. */
  barTime: number;
  /** Base quantity this account has filled on the current bar. */
  barUsed: number;
  markTime: number;
  lastFunding: FundingPoint | null;
}

export interface SimExchangeJSON {
  version: 1;
  config: SimConfig;
  /** Time up to which feed events were processed (null before the first call). */
  time: number | null;
  ledger: LedgerJSON;
  faults: FaultStateJSON;
  orders: Order[];
  open: string[];
  byClientId: Array<[string, string]>;
  trades: Trade[];
  funding: FundingPayment[];
  seq: { order: number; trade: number; funding: number };
  liquidationsSeen: number;
  prices: Array<number | null>;
  marks: Array<number | null>;
  markets: Array<{
    symbol: string;
    lastBar: Bar | null;
    barTime: number | null;
    barUsed: number;
    markTime: number | null;
    lastFunding: FundingPoint | null;
  }>;
}

const DEFAULT_FEES = { spot: { maker: 0.001, taker: 0.001 }, swap: { maker: 0.0002, taker: 0.0005 } };
const EIGHT_HOURS = 8 * 3_600_000;

const copyOrder = (o: Order): Order => ({ ...o, fee: { ...o.fee } });
const copyTrade = (t: Trade): Trade => ({ ...t, fee: { ...t.fee } });
const dec = (x: number): Decimal => new Decimal(x);
const nanToNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

export interface SimDeps {
  feed: MarketFeed;
  clock: Clock;
}

export class SimExchange implements Exchange {
  readonly id: string;
  readonly config: SimConfig;
  readonly ledger: Ledger;
  readonly faults: FaultInjector;
  readonly feed: MarketFeed;
  readonly clock: Clock;

  /** Spot price by ledger asset index (quote = 1); NaN until the first bar. */
  readonly prices: Float64Array;
  /** Mark by ledger perp index; NaN until the first bar or mark. */
  readonly marks: Float64Array;

  #time = -Infinity;
  readonly #markets = new Map<string, MarketState>();
  readonly #orders = new Map<string, Order>();
  readonly #open = new Map<string, Order>();
  readonly #byClientId = new Map<string, string>();
  readonly #trades: Trade[] = [];
  readonly #funding: FundingPayment[] = [];
  #orderSeq = 0;
  #tradeSeq = 0;
  #fundingSeq = 0;
  #liquidationsSeen = 0;
  readonly #fill: Required<FillModel>;

  constructor(config: SimConfig, deps: SimDeps, restore?: { ledger: Ledger; faults: FaultInjector }) {
    this.config = structuredClone(config);
    this.id = config.id ?? 'sim';
    this.feed = deps.feed;
    this.clock = deps.clock;
    this.#fill = {
      maxVolumeFraction: config.fill?.maxVolumeFraction ?? 1,
      marketPrice: config.fill?.marketPrice ?? 'close',
      halfSpread: config.fill?.halfSpread ?? 0,
      impact: config.fill?.impact ?? 0,
    };
    const fees = { spot: { ...DEFAULT_FEES.spot, ...config.fees?.spot }, swap: { ...DEFAULT_FEES.swap, ...config.fees?.swap } };

    const spotAssets: string[] = [];
    const seen = new Set<string>();
    for (const m of config.markets) {
      if (seen.has(m.symbol)) throw new Error(`SimExchange: market ${m.symbol} configured twice`);
      seen.add(m.symbol);
      if ((m.quote ?? config.quote) !== config.quote) {
        throw new Error(`SimExchange: market ${m.symbol}: quote must be the account quote ${config.quote}`);
      }
      if (!(m.amountStep > 0) || !(m.priceStep > 0)) throw new Error(`SimExchange: market ${m.symbol}: amountStep and priceStep must be > 0`);
      if (m.type === 'spot' && !spotAssets.includes(m.base)) spotAssets.push(m.base);
    }
    this.ledger =
      restore?.ledger ??
      new Ledger({
        quote: config.quote,
        assets: spotAssets,
        balances: config.balances,
        liquidationFeeRate: config.liquidationFeeRate ?? 0.005,
        perps: config.markets
          .filter((m) => m.type === 'swap')
          .map((m) => ({
            symbol: m.symbol,
            contractSize: m.contractSize ?? 1,
            maintenanceMarginRate: m.maintenanceMarginRate ?? m.tiers?.[0]?.maintenanceMarginRate ?? 0.005,
            ...(m.tiers ? { tiers: m.tiers } : {}),
            leverage: config.leverage ?? 1,
            marginMode: config.marginMode ?? 'cross',
          })),
      });
    this.faults = restore?.faults ?? new FaultInjector(config.faults);

    for (const m of config.markets) {
      const swap = m.type === 'swap';
      const typeFees = fees[m.type];
      const market: Market = {
        symbol: m.symbol,
        type: m.type,
        spot: !swap,
        swap,
        base: m.base,
        quote: config.quote,
        settle: swap ? config.quote : null,
        amountStep: m.amountStep,
        priceStep: m.priceStep,
        minAmount: m.minAmount ?? 0,
        minNotional: m.minNotional ?? 0,
        contractSize: swap ? (m.contractSize ?? 1) : 1,
        maintenanceMarginRate: swap ? (m.maintenanceMarginRate ?? m.tiers?.[0]?.maintenanceMarginRate ?? 0.005) : 0,
        ...(m.tiers ? { tiers: m.tiers.map((t) => ({ ...t })) } : {}),
        ...(m.maxLeverage !== undefined ? { maxLeverage: m.maxLeverage } : {}),
        maker: m.maker ?? typeFees.maker,
        taker: m.taker ?? typeFees.taker,
        active: true,
      };
      this.#markets.set(m.symbol, {
        market,
        idx: swap ? this.ledger.perpIndex(m.symbol) : this.ledger.assetIndex(m.base),
        fundingIntervalMs: m.fundingIntervalMs ?? config.fundingIntervalMs ?? EIGHT_HOURS,
        lastBar: null,
        barTime: -Infinity,
        barUsed: 0,
        markTime: -Infinity,
        lastFunding: null,
      });
    }
    this.prices = new Float64Array(this.ledger.assets.length).fill(NaN);
    this.prices[0] = 1;
    this.marks = new Float64Array(this.ledger.perps.length).fill(NaN);
  }

  /** Time up to which feed events have been processed. */
  get time(): number {
    return this.#time;
  }

  // ================================================================== time and market data

  /** Process every feed event up to the clock's now. Called by every port method; public for harnesses. */
  sync(): void {
    const now = this.clock.now();
    for (let ev = this.feed.next(now); ev !== undefined; ev = this.feed.next(now)) this.#onEvent(ev);
    if (now > this.#time) this.#time = now;
  }

  #onEvent(ev: FeedEvent): void {
    const st = this.#markets.get(ev.symbol);
    if (!st) return;
    if (ev.kind === 'bar') {
      st.lastBar = { ...ev.bar };
      st.barTime = ev.time;
      st.barUsed = 0;
      if (st.market.swap) {
        this.marks[st.idx] = this.feed.mark(ev.symbol) ?? ev.bar.close;
        st.markTime = ev.time;
      } else {
        this.prices[st.idx] = ev.bar.close;
      }
      this.#matchBar(st, ev.bar, ev.time);
    } else if (ev.kind === 'mark') {
      if (!st.market.swap) return;
      this.marks[st.idx] = ev.price;
      st.markTime = ev.time;
    } else {
      if (!st.market.swap) return;
      st.lastFunding = { time: ev.time, rate: ev.rate };
      const p = st.idx;
      const contracts = this.ledger.contracts[p]!;
      const mark = this.marks[p]!;
      if (contracts !== 0 && Number.isFinite(mark)) {
        const payment = this.ledger.settleFunding(p, ev.rate, mark);
        this.#funding.push({
          id: String(++this.#fundingSeq),
          symbol: ev.symbol,
          timestamp: ev.time,
          amount: -payment,
          currency: this.config.quote,
          rate: ev.rate,
          markPrice: mark,
          contracts,
        });
      }
    }
    this.#checkLiquidation(ev.time);
  }

  #checkLiquidation(time: number): void {
    if (this.ledger.perps.length === 0) return;
    this.ledger.checkLiquidation(this.marks, time);
    const recs = this.ledger.liquidations;
    for (; this.#liquidationsSeen < recs.length; this.#liquidationsSeen++) {
      const r = recs[this.#liquidationsSeen]!;
      const st = this.#markets.get(r.symbol)!;
      const amount = Math.abs(r.contracts);
      const cost = amount * st.market.contractSize * r.price;
      const side: Side = r.contracts > 0 ? 'buy' : 'sell';
      const order: Order = {
        id: String(++this.#orderSeq),
        clientOrderId: null,
        timestamp: time,
        lastTradeTimestamp: time,
        lastUpdateTimestamp: time,
        symbol: r.symbol,
        type: 'market',
        side,
        price: null,
        average: r.price,
        amount,
        filled: amount,
        remaining: 0,
        cost,
        status: 'closed',
        fee: { cost: r.fee, currency: this.config.quote },
        reduceOnly: true,
        postOnly: false,
      };
      this.#orders.set(order.id, order);
      this.#trades.push({
        id: String(++this.#tradeSeq),
        order: order.id,
        clientOrderId: null,
        timestamp: time,
        symbol: r.symbol,
        side,
        type: 'market',
        takerOrMaker: 'taker',
        price: r.price,
        amount,
        cost,
        fee: { cost: r.fee, currency: this.config.quote },
        liquidation: true,
      });
      for (const other of this.#openOrdersOf(r.symbol)) this.#expireReduceOnly(other, st, time);
    }
  }

  // ================================================================== matching

  #openOrdersOf(symbol: string): Order[] {
    const out: Order[] = [];
    for (const o of this.#open.values()) if (o.symbol === symbol) out.push(o);
    return out;
  }

  #matchBar(st: MarketState, bar: Bar, time: number): void {
    const orders = this.#openOrdersOf(st.market.symbol);
    if (orders.length === 0) return;
    // Market orders waiting for the next open go first: they trade at the open.
    for (const o of orders) {
      if (o.type !== 'market' || o.status !== 'open') continue;
      const qty = this.#reduceOnlyClamp(o, st, o.remaining);
      if (qty <= 0) continue;
      const price = this.#marketFillPrice(st, o.side, qty, bar.open, bar.volume);
      this.#applyFill(o, st, qty, price, 'taker', time);
    }
    const limits = orders
      .filter((o) => o.type === 'limit' && o.status === 'open')
      .sort((a, b) => {
        if (a.side !== b.side) return a.side === 'buy' ? -1 : 1;
        const byPrice = a.side === 'buy' ? b.price! - a.price! : a.price! - b.price!;
        return byPrice !== 0 ? byPrice : Number(a.id) - Number(b.id);
      });
    for (const o of limits) {
      const price = o.price!;
      const through = o.side === 'buy' ? bar.low < price : bar.high > price;
      if (!through) continue;
      let qty = this.#reduceOnlyClamp(o, st, o.remaining);
      if (qty <= 0) continue;
      qty = Math.min(qty, this.#capacity(st, bar));
      if (qty <= 0) continue;
      this.#applyFill(o, st, qty, price, 'maker', time);
    }
  }

  /** A reduce-only order whose position is gone is canceled (the venues expire it). */
  #expireReduceOnly(o: Order, st: MarketState, time: number): void {
    if (o.reduceOnly && o.status === 'open' && this.ledger.contracts[st.idx] === 0) {
      o.status = 'canceled';
      o.lastUpdateTimestamp = Math.max(time, o.timestamp);
      this.#open.delete(o.id);
    }
  }

  /** Amount (lot-rounded) this account may still fill on the current bar. */
  #capacity(st: MarketState, bar: Bar): number {
    const f = this.#fill.maxVolumeFraction;
    if (!(f < Number.MAX_VALUE)) return Infinity; // uncapped (Infinity, stored as MAX_VALUE in snapshots)
    const baseLeft = f * bar.volume - st.barUsed;
    if (!(baseLeft > 0)) return 0;
    return floorToStep(baseLeft / st.market.contractSize, st.market.amountStep);
  }

  /** reduceOnly: the most this order may fill now (0 ⇒ it was canceled). Others: `want`. */
  #reduceOnlyClamp(o: Order, st: MarketState, want: number): number {
    if (!o.reduceOnly) return want;
    const pos = this.ledger.contracts[st.idx]!;
    const reducible = (o.side === 'sell' && pos > 0) || (o.side === 'buy' && pos < 0) ? Math.abs(pos) : 0;
    if (reducible <= 0) {
      o.status = 'canceled';
      o.lastUpdateTimestamp = Math.max(this.#time, o.timestamp);
      this.#open.delete(o.id);
      return 0;
    }
    return Math.min(want, reducible);
  }

  #marketFillPrice(st: MarketState, side: Side, qty: number, ref: number, volume: number): number {
    const s = slippageFraction(this.#fill.halfSpread, this.#fill.impact, qty * st.market.contractSize, volume);
    return side === 'buy' ? ref * (1 + s) : ref * (1 - s);
  }

  #applyFill(o: Order, st: MarketState, qty: number, price: number, takerOrMaker: 'taker' | 'maker', time: number): void {
    const m = st.market;
    const feeRate = takerOrMaker === 'maker' ? m.maker : m.taker;
    const signed = o.side === 'buy' ? qty : -qty;
    let fee: number;
    if (m.swap) {
      const q0 = this.ledger.contracts[st.idx]!;
      this.ledger.applyPerpFill(st.idx, signed, price, feeRate);
      // A venue's position is the exact decimal sum of its fills (lot multiples): 0.0073646 + 0.0073646 is
      // 0.0147292, not the float 0.014729200000000001, which no lot-step order could close.
      if (this.ledger.contracts[st.idx] !== 0) this.ledger.contracts[st.idx] = dec(q0).plus(signed).toNumber();
      fee = this.ledger.lastFee;
    } else {
      fee = this.ledger.applySpotFill(st.idx, signed, price, feeRate);
    }
    const cost = qty * m.contractSize * price;
    const ts = Math.max(time, o.timestamp);
    const prevFilled = o.filled;
    o.filled = dec(prevFilled).plus(qty).toNumber();
    o.remaining = dec(o.amount).minus(o.filled).toNumber();
    o.cost += cost;
    o.average = o.average === null ? price : (o.average * prevFilled + price * qty) / o.filled;
    o.fee.cost += fee;
    o.lastTradeTimestamp = ts;
    o.lastUpdateTimestamp = ts;
    if (o.remaining <= 0) {
      o.remaining = 0;
      o.status = 'closed';
      this.#open.delete(o.id);
    }
    st.barUsed += qty * m.contractSize;
    if (m.swap) for (const other of this.#openOrdersOf(m.symbol)) this.#expireReduceOnly(other, st, ts);
    this.#trades.push({
      id: String(++this.#tradeSeq),
      order: o.id,
      clientOrderId: o.clientOrderId,
      timestamp: ts,
      symbol: m.symbol,
      side: o.side,
      type: o.type,
      takerOrMaker,
      price,
      amount: qty,
      cost,
      fee: { cost: fee, currency: this.config.quote },
      liquidation: false,
    });
  }

  // ================================================================== balances

  /** Reservation of one open order: quote (margin / cost incl. fee) and base (spot sells). */
  #reservation(o: { side: Side; remaining: number; price: number | null; reduceOnly: boolean }, st: MarketState): { quote: number; base: number } {
    const m = st.market;
    const px = o.price ?? this.#estimateMarketPrice(st, o.side, o.remaining);
    if (m.spot) {
      if (o.side === 'sell') return { quote: 0, base: o.remaining };
      return { quote: o.remaining * px * (1 + Math.max(m.maker, m.taker)), base: 0 };
    }
    const pos = this.ledger.contracts[st.idx]!;
    const closeable = (o.side === 'sell' && pos > 0) || (o.side === 'buy' && pos < 0) ? Math.abs(pos) : 0;
    const opening = o.reduceOnly ? 0 : Math.max(0, o.remaining - closeable);
    const fee = o.remaining * m.contractSize * px * m.taker;
    return { quote: (opening * m.contractSize * px) / this.ledger.leverage[st.idx]! + fee, base: 0 };
  }

  #estimateMarketPrice(st: MarketState, side: Side, qty: number): number {
    const bar = st.lastBar;
    if (!bar) return NaN;
    return this.#marketFillPrice(st, side, qty, bar.close, bar.volume);
  }

  /** Quote and base amounts locked by open orders. */
  #reserved(): { quote: number; base: Float64Array } {
    const base = new Float64Array(this.ledger.assets.length);
    let quote = 0;
    for (const o of this.#open.values()) {
      const st = this.#markets.get(o.symbol)!;
      const r = this.#reservation(o, st);
      quote += r.quote;
      if (st.market.spot) base[st.idx]! += r.base;
    }
    return { quote, base };
  }

  #quoteBalance(): { total: number; used: number; free: number } {
    const l = this.ledger;
    let isolated = 0;
    let crossIm = 0;
    let crossUpnl = 0;
    for (let p = 0; p < l.perps.length; p++) {
      isolated += l.isolatedMargin[p]!;
      if (l.isolated[p] === 0 && l.contracts[p] !== 0) {
        crossIm += l.initialMargin(p, this.marks[p]!);
        crossUpnl += l.unrealizedPnl(p, this.marks[p]!);
      }
    }
    const total = l.balance[0]! + isolated;
    const usedRaw = isolated + crossIm + this.#reserved().quote + Math.max(0, -crossUpnl);
    const free = Math.max(0, total - usedRaw);
    return { total, used: total - free, free };
  }

  // ================================================================== port: reads

  #enter(op: ExchangeOp): { replyLost: boolean; lateFill: number; now: number } {
    this.sync();
    const now = this.clock.now();
    const after = this.faults.before(op, now);
    return { ...after, now };
  }

  #leave<T>(after: { replyLost: boolean }, op: ExchangeOp, value: T): T {
    if (after.replyLost) throw new RequestTimeout(`sim: ${op}: request timed out (the venue executed it)`, { exchange: this.id });
    return value;
  }

  async loadMarkets(): Promise<Record<string, Market>> {
    const a = this.#enter('loadMarkets');
    const out: Record<string, Market> = {};
    for (const [s, st] of this.#markets) out[s] = structuredClone(st.market);
    return this.#leave(a, 'loadMarkets', out);
  }

  async fetchBalance(): Promise<Balances> {
    const a = this.#enter('fetchBalance');
    const l = this.ledger;
    const reserved = this.#reserved();
    const q = this.#quoteBalance();
    const out: Balances = { timestamp: a.now, free: {}, used: {}, total: {} };
    l.assets.forEach((asset, i) => {
      if (i === 0) {
        out.total[asset] = q.total;
        out.used[asset] = q.used;
        out.free[asset] = q.free;
        return;
      }
      const total = l.balance[i]!;
      const used = Math.min(Math.max(total, 0), reserved.base[i]!);
      out.total[asset] = total;
      out.used[asset] = used;
      out.free[asset] = total - used;
    });
    return this.#leave(a, 'fetchBalance', out);
  }

  async fetchPositions(symbols?: string[]): Promise<PositionInfo[]> {
    const a = this.#enter('fetchPositions');
    const l = this.ledger;
    const out: PositionInfo[] = [];
    for (let p = 0; p < l.perps.length; p++) {
      const symbol = l.perps[p]!;
      const contracts = l.contracts[p]!;
      if (contracts === 0 || (symbols && !symbols.includes(symbol))) continue;
      const mark = this.marks[p]!;
      const liq = l.liquidationPrice(p, this.marks);
      const iso = l.isolated[p] === 1;
      out.push({
        symbol,
        side: contracts > 0 ? 'long' : 'short',
        contracts,
        contractSize: l.contractSize[p]!,
        entryPrice: l.entryPrice[p]!,
        markPrice: mark,
        notional: l.notional(p, mark),
        unrealizedPnl: l.unrealizedPnl(p, mark),
        leverage: l.leverage[p]!,
        marginMode: iso ? 'isolated' : 'cross',
        liquidationPrice: Number.isFinite(liq) ? liq : null,
        initialMargin: l.initialMargin(p, mark),
        maintenanceMargin: l.maintenanceMargin(p, mark),
        collateral: iso ? l.isolatedMargin[p]! : null,
        timestamp: this.#markets.get(symbol)!.markTime,
      });
    }
    return this.#leave(a, 'fetchPositions', out);
  }

  #market(symbol: string): MarketState {
    const st = this.#markets.get(symbol);
    if (!st) throw new BadSymbol(`sim: unknown market ${symbol}`, { exchange: this.id });
    return st;
  }

  #ticker(st: MarketState): Ticker {
    const bar = st.lastBar;
    if (!bar) throw new ExchangeError(`sim: no market data for ${st.market.symbol} yet`, { exchange: this.id });
    const h = this.#fill.halfSpread;
    return {
      symbol: st.market.symbol,
      timestamp: st.barTime,
      bid: bar.close * (1 - h),
      ask: bar.close * (1 + h),
      last: bar.close,
      markPrice: st.market.swap ? this.marks[st.idx]! : null,
    };
  }

  async fetchTicker(symbol: string): Promise<Ticker> {
    const a = this.#enter('fetchTicker');
    return this.#leave(a, 'fetchTicker', this.#ticker(this.#market(symbol)));
  }

  async fetchTickers(symbols?: string[]): Promise<Record<string, Ticker>> {
    const a = this.#enter('fetchTickers');
    const out: Record<string, Ticker> = {};
    for (const s of symbols ?? [...this.#markets.keys()]) {
      const st = this.#market(s);
      if (st.lastBar) out[s] = this.#ticker(st);
    }
    return this.#leave(a, 'fetchTickers', out);
  }

  async fetchFundingRate(symbol: string): Promise<FundingRateInfo> {
    const a = this.#enter('fetchFundingRate');
    const st = this.#market(symbol);
    if (!st.market.swap) throw new BadSymbol(`sim: ${symbol} is not a perpetual`, { exchange: this.id });
    // The rate announced for the coming settlement, or the last one paid — each only within one funding
    // interval of the venue clock. A hole in the history (no settlement for longer) is no rate at all: a
    // settlement years ahead or behind says nothing about today's funding.
    const interval = st.fundingIntervalMs;
    const upcoming = this.feed.nextFunding(symbol);
    const next = upcoming && upcoming.time - a.now <= interval ? upcoming : undefined;
    const last = st.lastFunding && a.now - st.lastFunding.time <= interval ? st.lastFunding : undefined;
    const mark = this.marks[st.idx]!;
    return this.#leave(a, 'fetchFundingRate', {
      symbol,
      fundingRate: next?.rate ?? last?.rate ?? null,
      fundingTimestamp: next?.time ?? (last ? last.time + interval : null),
      intervalMs: st.fundingIntervalMs,
      markPrice: Number.isFinite(mark) ? mark : null,
      timestamp: a.now,
    });
  }

  async fetchFundingHistory(symbol?: string, since?: number, limit?: number): Promise<FundingPayment[]> {
    const a = this.#enter('fetchFundingHistory');
    if (symbol !== undefined) this.#market(symbol);
    const out = this.#funding
      .filter((f) => (symbol === undefined || f.symbol === symbol) && (since === undefined || f.timestamp >= since))
      .slice(0, limit)
      .map((f) => ({ ...f }));
    return this.#leave(a, 'fetchFundingHistory', out);
  }

  // ================================================================== port: orders

  async createOrder(req: CreateOrderRequest): Promise<Order> {
    const a = this.#enter('createOrder');
    const st = this.#validate(req);
    const reduceOnly = req.reduceOnly === true;
    const postOnly = req.postOnly === true;
    const order: Order = {
      id: String(++this.#orderSeq),
      clientOrderId: req.clientOrderId,
      timestamp: a.now,
      lastTradeTimestamp: null,
      lastUpdateTimestamp: a.now,
      symbol: req.symbol,
      type: req.type,
      side: req.side,
      price: req.type === 'limit' ? req.price! : null,
      average: null,
      amount: req.amount,
      filled: 0,
      remaining: req.amount,
      cost: 0,
      status: 'open',
      fee: { cost: 0, currency: this.config.quote },
      reduceOnly,
      postOnly,
    };
    this.#orders.set(order.id, order);
    this.#open.set(order.id, order);
    this.#byClientId.set(req.clientOrderId, order.id);

    const bar = st.lastBar;
    if (bar) {
      if (req.type === 'market' && this.#fill.marketPrice === 'close') {
        const price = this.#marketFillPrice(st, req.side, req.amount, bar.close, bar.volume);
        this.#applyFill(order, st, req.amount, price, 'taker', a.now);
      } else if (req.type === 'limit' && this.#marketable(st, req.side, req.price!)) {
        const qty = Math.min(order.remaining, this.#capacity(st, bar));
        const price = qty > 0 ? this.#marketFillPrice(st, req.side, qty, bar.close, bar.volume) : NaN;
        const within = req.side === 'buy' ? price <= req.price! : price >= req.price!;
        if (qty > 0 && within) this.#applyFill(order, st, qty, price, 'taker', a.now);
      }
    }
    return this.#leave(a, 'createOrder', copyOrder(order));
  }

  #marketable(st: MarketState, side: Side, price: number): boolean {
    const bar = st.lastBar;
    if (!bar) return false;
    const h = this.#fill.halfSpread;
    return side === 'buy' ? price >= bar.close * (1 + h) : price <= bar.close * (1 - h);
  }

  /** The order boundary. Throws the typed error for the first violated rule; returns the market. */
  #validate(req: CreateOrderRequest): MarketState {
    const opts = { exchange: this.id };
    const invalid = (message: string, reason: InvalidOrderReason): InvalidOrder => new InvalidOrder(`sim: ${message}`, reason, opts);
    const st = this.#market(req.symbol);
    const m = st.market;
    const sym = m.symbol;
    if (req.type !== 'limit' && req.type !== 'market') throw invalid(`unknown order type ${String(req.type)}`, 'bad-params');
    if (req.side !== 'buy' && req.side !== 'sell') throw invalid(`unknown side ${String(req.side)}`, 'bad-params');
    if (typeof req.clientOrderId !== 'string' || req.clientOrderId.length === 0) throw invalid('clientOrderId is required', 'bad-params');
    const prior = this.#byClientId.get(req.clientOrderId);
    if (prior !== undefined && this.#open.has(prior)) {
      throw new DuplicateOrderId(`sim: clientOrderId ${req.clientOrderId} is used by open order ${prior}`, opts);
    }
    if (!Number.isFinite(req.amount) || !(req.amount > 0)) throw invalid(`amount must be a positive number, got ${req.amount}`, 'bad-params');
    if (!isMultipleOf(req.amount, m.amountStep)) {
      throw invalid(`${sym}: amount ${req.amount} is not a multiple of the lot step ${m.amountStep}`, 'amount-step');
    }
    if (req.amount < m.minAmount) throw invalid(`${sym}: amount ${req.amount} is below the minimum ${m.minAmount}`, 'min-amount');

    let ref: number;
    if (req.type === 'limit') {
      const price = req.price;
      if (price === undefined || !Number.isFinite(price) || !(price > 0)) {
        throw invalid(`limit order needs a positive price, got ${String(price)}`, 'bad-params');
      }
      if (!isMultipleOf(price, m.priceStep)) throw invalid(`${sym}: price ${price} is not a multiple of the tick ${m.priceStep}`, 'price-step');
      if (req.postOnly && this.#marketable(st, req.side, price)) {
        throw invalid(`${sym}: post-only ${req.side} at ${price} would take liquidity`, 'post-only');
      }
      ref = price;
    } else {
      if (req.postOnly) throw invalid('a market order cannot be post-only', 'post-only');
      if (!st.lastBar) throw new ExchangeError(`sim: no market data for ${sym} yet`, opts);
      ref = st.lastBar.close;
    }

    if (req.reduceOnly) {
      if (!m.swap) throw invalid(`${sym}: reduceOnly is for perpetuals`, 'reduce-only');
      const pos = this.ledger.contracts[st.idx]!;
      const reduces = (req.side === 'sell' && pos > 0) || (req.side === 'buy' && pos < 0);
      if (!reduces || req.amount > Math.abs(pos)) {
        throw invalid(`${sym}: reduce-only ${req.side} ${req.amount} would not only reduce the position of ${pos}`, 'reduce-only');
      }
    } else {
      const notional = req.amount * m.contractSize * ref;
      if (notional < m.minNotional) throw invalid(`${sym}: notional ${notional} is below the minimum ${m.minNotional}`, 'min-notional');
    }

    const need = this.#reservation(
      { side: req.side, remaining: req.amount, price: req.type === 'limit' ? ref : null, reduceOnly: req.reduceOnly === true },
      st,
    );
    if (m.spot && req.side === 'sell') {
      const freeBase = this.ledger.balance[st.idx]! - this.#reserved().base[st.idx]!;
      if (need.base > freeBase + 1e-12) {
        throw new InsufficientFunds(`sim: sell ${req.amount} ${m.base} needs ${need.base}, free ${freeBase}`, opts);
      }
    } else if (!req.reduceOnly) {
      // A reduce-only order is not refused for funds (as it is exempt from min-notional): a position can
      // always be closed, and the margin it frees pays its fee.
      const free = this.#quoteBalance().free;
      if (!(need.quote <= free + 1e-9)) {
        throw new InsufficientFunds(`sim: ${sym} ${req.side} ${req.amount} needs ${need.quote} ${this.config.quote}, free ${free}`, opts);
      }
    }
    return st;
  }

  #find(ref: OrderRef): Order | undefined {
    if ('id' in ref) return this.#orders.get(ref.id);
    const id = this.#byClientId.get(ref.clientOrderId);
    return id === undefined ? undefined : this.#orders.get(id);
  }

  #describe(ref: OrderRef): string {
    return 'id' in ref ? `id ${ref.id}` : `clientOrderId ${ref.clientOrderId}`;
  }

  async cancelOrder(ref: OrderRef, symbol?: string): Promise<Order> {
    const a = this.#enter('cancelOrder');
    const o = this.#find(ref);
    if (o?.status !== 'open' || (symbol !== undefined && o.symbol !== symbol)) {
      throw new OrderNotFound(`sim: cancel: no open order with ${this.#describe(ref)}`, { exchange: this.id });
    }
    const st = this.#markets.get(o.symbol)!;
    if (a.lateFill > 0) {
      let qty = floorToStep(o.remaining * Math.min(1, a.lateFill), st.market.amountStep);
      qty = this.#reduceOnlyClamp(o, st, qty);
      if (qty > 0) {
        const price = o.price ?? this.#estimateMarketPrice(st, o.side, qty);
        if (Number.isFinite(price)) this.#applyFill(o, st, qty, price, o.type === 'limit' ? 'maker' : 'taker', a.now);
      }
      if (o.status !== 'open') {
        throw new OrderNotFound(`sim: cancel: order ${o.id} is already ${o.status} (filled before the cancel arrived)`, { exchange: this.id });
      }
    }
    o.status = 'canceled';
    o.lastUpdateTimestamp = a.now;
    this.#open.delete(o.id);
    return this.#leave(a, 'cancelOrder', copyOrder(o));
  }

  async fetchOrder(ref: OrderRef, symbol?: string): Promise<Order> {
    const a = this.#enter('fetchOrder');
    const o = this.#find(ref);
    const hidden = o !== undefined && 'clientOrderId' in ref && this.faults.hideOrder(o.id, a.now);
    if (!o || hidden || (symbol !== undefined && o.symbol !== symbol)) {
      throw new OrderNotFound(`sim: no order with ${this.#describe(ref)}`, { exchange: this.id });
    }
    return this.#leave(a, 'fetchOrder', copyOrder(o));
  }

  async fetchOpenOrders(symbol?: string, since?: number, limit?: number): Promise<Order[]> {
    const a = this.#enter('fetchOpenOrders');
    if (symbol !== undefined) this.#market(symbol);
    const out = [...this.#open.values()]
      .filter((o) => (symbol === undefined || o.symbol === symbol) && (since === undefined || o.timestamp >= since))
      .slice(0, limit)
      .map(copyOrder);
    return this.#leave(a, 'fetchOpenOrders', out);
  }

  async fetchClosedOrders(symbol?: string, since?: number, limit?: number): Promise<Order[]> {
    const a = this.#enter('fetchClosedOrders');
    if (symbol !== undefined) this.#market(symbol);
    const out = [...this.#orders.values()]
      .filter(
        (o) => o.status !== 'open' && (symbol === undefined || o.symbol === symbol) && (since === undefined || o.lastUpdateTimestamp >= since),
      )
      .sort((x, y) => x.lastUpdateTimestamp - y.lastUpdateTimestamp || Number(x.id) - Number(y.id))
      .slice(0, limit)
      .map(copyOrder);
    return this.#leave(a, 'fetchClosedOrders', out);
  }

  async fetchMyTrades(symbol?: string, since?: number, limit?: number): Promise<Trade[]> {
    const a = this.#enter('fetchMyTrades');
    if (symbol !== undefined) this.#market(symbol);
    const out = this.#trades
      .filter((t) => (symbol === undefined || t.symbol === symbol) && (since === undefined || t.timestamp >= since))
      .slice(0, limit)
      .map(copyTrade);
    return this.#leave(a, 'fetchMyTrades', out);
  }

  async setLeverage(leverage: number, symbol: string): Promise<void> {
    const a = this.#enter('setLeverage');
    const st = this.#market(symbol);
    if (!st.market.swap) throw new BadRequest(`sim: ${symbol}: leverage is for perpetuals`, { exchange: this.id });
    const max = st.market.maxLeverage ?? 125;
    if (!Number.isFinite(leverage) || leverage < 1 || leverage > max) {
      throw new BadRequest(`sim: ${symbol}: leverage must be in [1, ${max}], got ${leverage}`, { exchange: this.id });
    }
    this.ledger.setLeverage(st.idx, leverage);
    this.#leave(a, 'setLeverage', undefined);
  }

  async setMarginMode(marginMode: MarginMode, symbol: string): Promise<void> {
    const a = this.#enter('setMarginMode');
    const st = this.#market(symbol);
    if (!st.market.swap) throw new BadRequest(`sim: ${symbol}: margin mode is for perpetuals`, { exchange: this.id });
    if (marginMode !== 'cross' && marginMode !== 'isolated') throw new BadRequest(`sim: unknown margin mode ${String(marginMode)}`, { exchange: this.id });
    const current = this.ledger.isolated[st.idx] === 1 ? 'isolated' : 'cross';
    if (current !== marginMode) {
      if (this.ledger.contracts[st.idx] !== 0 || this.#openOrdersOf(symbol).length > 0) {
        throw new BadRequest(`sim: ${symbol}: cannot change margin mode with an open position or open orders`, { exchange: this.id });
      }
      this.ledger.setMarginMode(st.idx, marginMode);
    }
    this.#leave(a, 'setMarginMode', undefined);
  }

  // ================================================================== sim-only helpers

  /** Account equity (TPV) at the latest prices and marks, after catching up with the clock. */
  equity(): number {
    this.sync();
    return this.ledger.equity(this.prices, this.marks);
  }

  /** Snapshot of the whole simulator state (JSON-safe). */
  toJSON(): SimExchangeJSON {
    return finiteForJSON({
      version: 1,
      config: structuredClone(this.config),
      time: nanToNull(this.#time),
      ledger: this.ledger.toJSON(),
      faults: this.faults.toJSON(),
      orders: [...this.#orders.values()].map(copyOrder),
      open: [...this.#open.keys()],
      byClientId: [...this.#byClientId.entries()],
      trades: this.#trades.map(copyTrade),
      funding: this.#funding.map((f) => ({ ...f })),
      seq: { order: this.#orderSeq, trade: this.#tradeSeq, funding: this.#fundingSeq },
      liquidationsSeen: this.#liquidationsSeen,
      prices: Array.from(this.prices, nanToNull),
      marks: Array.from(this.marks, nanToNull),
      markets: [...this.#markets.entries()].map(([symbol, st]) => ({
        symbol,
        lastBar: st.lastBar && { ...st.lastBar },
        barTime: nanToNull(st.barTime),
        barUsed: st.barUsed,
        markTime: nanToNull(st.markTime),
        lastFunding: st.lastFunding && { ...st.lastFunding },
      })),
    } satisfies SimExchangeJSON);
  }

  /**
   * Rebuild a simulator from `toJSON()` output. `deps.feed` must already be positioned at
   * `json.time` (no event with time ≤ json.time left to hand out) and `deps.clock` at or after it.
   */
  static fromJSON(json: SimExchangeJSON, deps: SimDeps): SimExchange {
    if (json.version !== 1) throw new Error(`SimExchange: unsupported snapshot version ${String(json.version)}`);
    const sim = new SimExchange(json.config, deps, {
      ledger: Ledger.fromJSON(json.ledger),
      faults: FaultInjector.fromJSON(json.faults),
    });
    sim.#time = json.time ?? -Infinity;
    for (const o of json.orders) sim.#orders.set(o.id, copyOrder(o));
    for (const id of json.open) sim.#open.set(id, sim.#orders.get(id)!);
    for (const [cid, id] of json.byClientId) sim.#byClientId.set(cid, id);
    sim.#trades.push(...json.trades.map(copyTrade));
    sim.#funding.push(...json.funding.map((f) => ({ ...f })));
    sim.#orderSeq = json.seq.order;
    sim.#tradeSeq = json.seq.trade;
    sim.#fundingSeq = json.seq.funding;
    sim.#liquidationsSeen = json.liquidationsSeen;
    json.prices.forEach((v, i) => {
      sim.prices[i] = v ?? NaN;
    });
    json.marks.forEach((v, i) => {
      sim.marks[i] = v ?? NaN;
    });
    for (const m of json.markets) {
      const st = sim.#markets.get(m.symbol);
      if (!st) throw new Error(`SimExchange: snapshot names unknown market ${m.symbol}`);
      st.lastBar = m.lastBar && { ...m.lastBar };
      st.barTime = m.barTime ?? -Infinity;
      st.barUsed = m.barUsed;
      st.markTime = m.markTime ?? -Infinity;
      st.lastFunding = m.lastFunding && { ...m.lastFunding };
    }
    return sim;
  }
}
