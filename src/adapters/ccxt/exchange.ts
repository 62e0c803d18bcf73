/**
 * CcxtExchange — the live venue behind the Exchange port, over a ccxt 4.5 client (client.ts) for
 * Binance (spot + USDⓈ-M futures), Bybit (unified account) and OKX; spot and linear perpetuals.
 *
 * Every request goes through the per-key RateLimiter (limiter.ts), installed as ccxt's throttle so
 * each HTTP request is charged its ccxt cost. A 429 / 418 / venue rate-limit reply bans the key for
 * the retry-after the venue gave (see limiter.ts: calls during a ban fail fast). Every ccxt error is
 * mapped to the typed port errors, scrubbed of credentials (errors.ts).
 *
 * Venue differences are data, not branches: each venue's quirks object (quirks.ts) says which wallets
 * to sum, which params to send, how the venue marks its own orders, its timestamp and position-mode
 * error codes, and so on. This file reads those fields only.
 *
 * Mapping decisions (where ccxt is looser than the port):
 * - Markets: amountStep / priceStep from ccxt precision (TICK_SIZE: the step itself; DECIMAL_PLACES:
 *   10^-p; SIGNIFICANT_DIGITS is refused). minNotional = limits.cost.min (0 if none). Perps get
 *   margin tiers from the venue (fetchLeverageTiers / fetchMarketLeverageTiers) for the markets in
 *   `options.symbols`; other perps carry `fallbackMaintenanceMarginRate` (default 1 %, above every
 *   first tier of these venues) and no tiers. With `options.symbols` set, loadMarkets returns only
 *   those markets. OKX tiers are in contracts (`minSz`/`maxSz`): converted to notional at
 *   contractSize × mark price when loaded.
 * - Orders are validated at the boundary BEFORE sending, with exact decimals: lot step, min amount,
 *   tick, min notional (limit price; reduce-only exempt), reduce-only only on perps, clientOrderId
 *   syntax per venue (binance `^[.A-Z:/a-z0-9_-]{1,36}$`, bybit `^[A-Za-z0-9_-]{1,36}$`, okx
 *   `^[A-Za-z0-9]{1,32}$`). ccxt would otherwise TRUNCATE a bad amount to the step and send it.
 * - Balances: wallet balance without unrealised PnL, summed over the wallets the venue separates
 *   (binance: spot + USDⓈ-M futures); `walletBalances` keeps them apart (ballast doctor). free = min(available, wallet), used = total − free.
 *   `timestamp` is the adapter clock when the reply arrived (venue "updateTime" is the last change).
 * - Positions: contracts signed by side; notional = contracts × contractSize × mark (signed).
 *   Binance uses positionRisk V2 (it reports leverage and margin type), chosen through ccxt options.
 *   A hedge-mode leg (positionSide LONG/SHORT, positionIdx 1/2, posSide long/short) is refused:
 *   ballast trades one-way (net) accounts only; fetchPositionMode reads the mode at start.
 * - Tickers: a perp's mark from the ticker, else fetchMarkPrice(s); bid/ask from fetchBidsAsks when
 *   the ticker has none (binance futures). `timestamp` = oldest component time (clock if none).
 * - Funding: interval from ccxt `interval` ("4h"), else binance /fapi/v1/fundingInfo (cached 1 h),
 *   else market info (bybit `fundingInterval` minutes), else 8 h. Bybit's funding `execFee` is a fee
 *   (> 0 paid): its sign is flipped so that received > 0 as on the other venues. Funding history: rate / markPrice / contracts are NaN where the venue does
 *   not report them (binance income, okx bills).
 * - Orders: clientOrderId null for venue-initiated orders (binance `autoclose-`/`adl_autoclose`,
 *   bybit createType CreateByLiq/CreateByAdl, okx category liquidation/adl). Order.fee is
 *   {cost: 0, currency: quote} when the venue does not report an order-level fee (binance): read
 *   fees from fetchMyTrades. Bybit and OKX answer createOrder/cancelOrder with ids only: createOrder
 *   returns the accepted order as sent (status open, filled 0 — even a market order: poll it);
 *   cancelOrder re-reads the order, and if that read fails returns the last state seen with status
 *   canceled (its `filled` is then a lower bound), or rethrows the read error for an order never seen.
 * - fetchClosedOrders returns closed, canceled and expired orders, filtered by
 *   lastUpdateTimestamp ≥ since on our side (the venues filter by creation time; binance lists the
 *   latest 500 orders per market).
 * - Calls the port allows without a symbol but the venue answers per symbol (closed orders, trades,
 *   tickers) run over `options.symbols`, or fail with BadRequest. fetchOpenOrders without a symbol
 *   asks once per wallet kind (spot, USDⓈ-M). cancelOrder / fetchOrder without a symbol use the
 *   symbol of an order seen before, or fail with BadRequest.
 * - Trades: clientOrderId and order type come from the order (cached, else one fetchOrder), since
 *   binance trade lists carry neither. Bybit: liquidation (BustTrade) and ADL (AdlTrade) fills are
 *   asked for too (ccxt asks for execType=Trade only) and need no order look-up.
 * - Errors beyond ccxt's tables: a venue timestamp refusal (binance -1021, bybit 10002, okx 50102)
 *   re-measures the clock offset (syncClock) and is ExchangeNotAvailable "clock skew" (retryable);
 *   "Filter failure: X" keeps its reason (NOTIONAL → min-notional); a position-side refusal
 *   (-4061, 10001, 51000) is InvalidOrder naming the position-mode setting; a status the venue
 *   documents as a block (bybit 403) bans the key's limiter for the documented time (10 min).
 * - A spot market order is valued at the touch (one ticker read) and refused below the minimum
 *   notional before it is sent.
 * - setMarginMode: bybit's unified account has one margin mode for the whole account: NotSupported
 *   (change it on the venue). OKX: nothing is sent; the mode is remembered and sent with every swap
 *   order (`tdMode`) and with setLeverage (`mgnMode`). Binance: POST marginType; "No need to change
 *   margin type" (and any "not modified" leverage answer) is success.
 *
 * Security: the ccxt client (which holds the key) lives in a private field; `verbose` is locked
 * off; no method here withdraws or transfers (a test greps the source tree).
 */

import { Decimal } from 'decimal.js';
import { inspect } from 'node:util';
import * as ccxt from 'ccxt';
import { isMultipleOf } from '../../core/rounding.js';
import type { MarginMode } from '../../core/types.js';
import type { Clock } from '../../ports/clock.js';
import {
  BadRequest,
  BadSymbol,
  ExchangeError,
  ExchangeNotAvailable,
  InvalidOrder,
  NotSupported,
  OrderNotFound,
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
  Order,
  OrderRef,
  OrderStatus,
  PositionInfo,
  Ticker,
  Trade,
} from '../../ports/exchange.js';
import type { KeyPermissions } from '../keys.js';
import { isSupportedVenue, type CcxtClient, type CcxtVenue } from './client.js';
import { isTimestampError, QUIRKS, type VenueQuirks } from './quirks.js';
import { annotate, DEFAULT_RETRY_AFTER_MS, isCcxtError, mapCcxtError, retryAfterFrom, scrubMessage } from './errors.js';
import { limiterForKey, realSleep, type RateLimiter, type Sleep } from './limiter.js';

export interface CcxtExchangeOptions {
  clock: Clock;
  /** Sleep used by the default limiter. Default: setTimeout. */
  sleep?: Sleep;
  /** Rate limiter; default: the one shared by this venue + API key (limiterForKey). */
  limiter?: RateLimiter;
  /** Markets this account trades: restricts loadMarkets, gets margin tiers, and is iterated by
   *  calls that the venue only answers per symbol. */
  symbols?: string[];
  /** Maintenance margin rate of perps without venue tiers. Default 0.01. */
  fallbackMaintenanceMarginRate?: number;
  /** Ban assumed after a 429 without retry-after. Default 10 s; 418 without a date: 2 min. */
  defaultRetryAfterMs?: number;
}

/** clientOrderId rules per venue (documented limits). */
export const CLIENT_ORDER_ID_RULES: Record<CcxtVenue, { pattern: RegExp; rule: string }> = {
  binance: QUIRKS.binance.clientOrderId,
  bybit: QUIRKS.bybit.clientOrderId,
  okx: QUIRKS.okx.clientOrderId,
};

/** The account's position mode as the venue reports it. ballast trades one-way (net) accounts only. */
export interface PositionModeInfo {
  mode: 'one-way' | 'hedge' | 'unknown';
  /** What the venue said, e.g. "positionSide/dual: dualSidePosition = false". */
  detail: string;
  /** Where to change it on the venue. */
  setting: string;
}

/** One wallet's balances (`ballast doctor`). */
export interface WalletBalances {
  wallet: string;
  total: Record<string, number>;
}

const EIGHT_HOURS = 8 * 3_600_000;
const BAN_418_DEFAULT_MS = 120_000;
const ORDER_CACHE_MAX = 20_000;
const STATUSES: readonly OrderStatus[] = ['open', 'closed', 'canceled', 'rejected', 'expired'];

type Dict = Record<string, unknown>;
type AnyFn = (...args: unknown[]) => Promise<unknown>;

/** The last state seen of an order, and whether the venue created it (liquidation / ADL). */
interface OrderFacts {
  order: Order;
  liquidation: boolean;
}

const num = (x: unknown): number | undefined => {
  if (x === undefined || x === null || x === '') return undefined;
  const n = typeof x === 'number' ? x : Number(x);
  return Number.isFinite(n) ? n : undefined;
};
const str = (x: unknown): string | undefined => (typeof x === 'string' ? x : typeof x === 'number' ? String(x) : undefined);
const dict = (x: unknown): Dict => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Dict) : {});
const list = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);
const dec = (x: number): Decimal => new Decimal(x);

/** "8h" / "4h" / "1h" / "30m" → ms. */
export function parseInterval(interval: unknown): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([hm])$/i.exec(String(interval ?? '').trim());
  if (!m) return undefined;
  const v = Number(m[1]);
  return m[2]!.toLowerCase() === 'h' ? v * 3_600_000 : v * 60_000;
}

export class CcxtExchange implements Exchange {
  readonly id: string;
  readonly venue: CcxtVenue;
  readonly #client: CcxtClient;
  readonly #clock: Clock;
  readonly #limiter: RateLimiter;
  readonly #secrets: string[];
  readonly #symbols: string[] | undefined;
  readonly #fallbackMmr: number;
  readonly #defaultRetryAfterMs: number;
  readonly #orders = new Map<string, OrderFacts>();
  readonly #marginModes = new Map<string, MarginMode>();
  readonly #leverage = new Map<string, number>();
  #tiers: Record<string, MarginTier[]> = {};
  readonly #q: VenueQuirks;
  /** Binance /fapi/v1/fundingInfo: interval (ms) by venue market id; null until read. */
  #fundingIntervals: Map<string, number> | null = null;
  #fundingIntervalsAt = -Infinity;
  #skewMs: number | null = null;
  #lastWallets: WalletBalances[] = [];

  constructor(client: CcxtClient, options: CcxtExchangeOptions) {
    if (!isSupportedVenue(client.id)) throw new Error(`CcxtExchange: unsupported venue ${client.id} (binance, bybit, okx)`);
    if (client.verbose) throw new Error('CcxtExchange: ccxt verbose logging prints signed requests and is forbidden');
    this.id = client.id;
    this.venue = client.id;
    this.#q = QUIRKS[client.id];
    this.#client = client;
    this.#clock = options.clock;
    this.#symbols = options.symbols ? [...options.symbols] : undefined;
    this.#fallbackMmr = options.fallbackMaintenanceMarginRate ?? 0.01;
    this.#defaultRetryAfterMs = options.defaultRetryAfterMs ?? DEFAULT_RETRY_AFTER_MS;
    this.#secrets = [client.apiKey, client.secret, client.password, client.uid].filter((s): s is string => typeof s === 'string' && s.length > 0);
    Object.defineProperty(client, 'verbose', {
      configurable: false,
      enumerable: true,
      get: () => false,
      set: (v: unknown) => {
        if (v) throw new Error('CcxtExchange: ccxt verbose logging prints signed requests and is forbidden');
      },
    });
    client.enableLastHttpResponse = false;
    client.enableLastJsonResponse = false;
    client.enableLastResponseHeaders = false;

    const rateLimitMs = num(client.rateLimit) ?? 100;
    const refillPerSecond = 1000 / (rateLimitMs > 0 ? rateLimitMs : 100);
    this.#limiter =
      options.limiter ??
      limiterForKey(client.id, client.apiKey || undefined, {
        capacity: Math.max(1, refillPerSecond),
        refillPerSecond,
        clock: options.clock,
        sleep: options.sleep ?? realSleep,
      });
    this.#installHooks();
  }

  /** The limiter this adapter uses (shared per API key). */
  get limiter(): RateLimiter {
    return this.#limiter;
  }

  toJSON(): Dict {
    return { exchange: this.id };
  }

  [inspect.custom](): string {
    return `CcxtExchange<${this.id}>`;
  }

  // ================================================================== plumbing

  #installHooks(): void {
    const c = this.#client;
    c.enableRateLimit = true;
    c.throttle = (cost?: number) => this.#limiter.acquire(typeof cost === 'number' ? cost : 1);
    const handleErrors = c.handleErrors.bind(c);
    c.handleErrors = (code, reason, url, method, headers, body, response, reqHeaders, reqBody) => {
      let thrown: unknown;
      try {
        handleErrors(code, reason, url, method, headers, body, response, reqHeaders, reqBody);
      } catch (e) {
        thrown = e;
      }
      const documentedBan = this.#q.banOnStatus[code];
      const rateLimited = code === 429 || code === 418 || documentedBan !== undefined || thrown instanceof ccxt.DDoSProtection || thrown instanceof ccxt.RateLimitExceeded;
      if (rateLimited) {
        const now = this.#clock.now();
        const retryAfterMs = retryAfterFrom(headers, body, now) ?? documentedBan ?? (code === 418 ? BAN_418_DEFAULT_MS : this.#defaultRetryAfterMs);
        this.#limiter.ban(now + retryAfterMs, `HTTP ${code} from ${this.id}`);
        const err = thrown ?? new ccxt.RateLimitExceeded(`${this.id} ${method} ${url} ${code} ${reason} ${body}`);
        annotate(err, { status: code, retryAfterMs });
        throw err;
      }
      if (thrown !== undefined) {
        annotate(thrown, { status: code });
        throw thrown;
      }
      return undefined;
    };
    const handleStatus = c.handleHttpStatusCode.bind(c);
    c.handleHttpStatusCode = (code, reason, url, method, body) => {
      try {
        handleStatus(code, reason, url, method, body);
      } catch (e) {
        const status = Number(code);
        const banMs = this.#q.banOnStatus[status];
        if (banMs !== undefined) {
          // A status the venue documents as a block (bybit 403: wait ≥ 10 min): ban the key's limiter.
          const now = this.#clock.now();
          this.#limiter.ban(now + banMs, `HTTP ${status} from ${this.id}`);
          const err = e instanceof ccxt.DDoSProtection || e instanceof ccxt.RateLimitExceeded ? e : new ccxt.RateLimitExceeded(`${this.id} ${method} ${url} ${status} ${reason}`);
          annotate(err, { status, retryAfterMs: banMs });
          throw err;
        }
        annotate(e, { status });
        throw e;
      }
    };
  }

  /** Run a ccxt call; map and scrub any error. */
  async #call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (isCcxtError(err) && (err instanceof ccxt.InvalidNonce || isTimestampError(this.#q, String(err.message)))) {
        // The venue refused the request's timestamp: measure the clock offset again so the retry
        // is signed with the venue's time (ccxt adjustForTimeDifference).
        let resynced = '';
        try {
          resynced = ` (venue clock offset re-measured: ${await this.syncClock()} ms)`;
        } catch {
          resynced = ' (re-measuring the venue clock offset failed)';
        }
        const text = scrubMessage(String(err.message), this.#secrets);
        throw new ExchangeNotAvailable(`${this.id}: clock skew: the request timestamp was outside the venue's window; the request was refused${resynced}: ${text}`, {
          exchange: this.id,
        });
      }
      throw this.#map(err);
    }
  }

  #map(err: unknown): unknown {
    if (isCcxtError(err) && !(err instanceof ccxt.NetworkError)) {
      const text = scrubMessage(String(err.message ?? ''), this.#secrets);
      if (this.#q.positionModeErrors.test(text)) {
        return new InvalidOrder(
          `${this.id}: the order's position side does not match the account's position mode — ballast trades one-way (net) accounts only; set ${this.#q.positionMode.setting}: ${text}`,
          'bad-params',
          { exchange: this.id },
        );
      }
      const filter = /Filter failure: ([A-Z_]+)/.exec(text);
      if (filter) {
        const f = filter[1]!;
        const reason: InvalidOrderReason = /NOTIONAL/.test(f) ? 'min-notional' : /LOT_SIZE/.test(f) ? 'amount-step' : /PRICE_FILTER|PERCENT_PRICE/.test(f) ? 'price-step' : 'bad-params';
        return new InvalidOrder(`${this.id}: the venue refused the order (${f}): ${text}`, reason, { exchange: this.id });
      }
    }
    const mapped = mapCcxtError(err, { exchange: this.id, secrets: this.#secrets, defaultRetryAfterMs: this.#defaultRetryAfterMs });
    if (mapped === err && !(err instanceof ExchangeError) && !isCcxtError(err) && err instanceof Error) {
      // A bug or an unexpected runtime error inside ccxt: keep the type, scrub the message.
      const e = new Error(`${this.id}: ${err.name}: ${scrubMessage(err.message, this.#secrets)}`);
      e.name = err.name;
      return e;
    }
    return mapped;
  }

  #implicit(name: string): AnyFn {
    const fn = (this.#client as unknown as Record<string, unknown>)[name];
    if (typeof fn !== 'function') throw new NotSupported(`${this.id}: ccxt has no endpoint method ${name}`, { exchange: this.id });
    return (fn as AnyFn).bind(this.#client);
  }

  async #ensureMarkets(): Promise<void> {
    if (this.#client.markets === undefined || this.#client.markets === null) {
      await this.#call(() => this.#client.loadMarkets());
    }
  }

  #ccxtMarket(symbol: string): Dict {
    const m = this.#client.markets?.[symbol] as Dict | undefined;
    if (!m) throw new BadSymbol(`${this.id}: unknown market ${symbol}`, { exchange: this.id });
    return m;
  }

  #isSwap(symbol: string): boolean {
    return this.#ccxtMarket(symbol)['swap'] === true;
  }

  #quoteOf(symbol: string): string {
    const m = this.#client.markets?.[symbol] as Dict | undefined;
    return str(m?.['settle']) ?? str(m?.['quote']) ?? 'USDT';
  }

  #contractSize(symbol: string): number {
    return num(this.#ccxtMarket(symbol)['contractSize']) ?? 1;
  }

  #needSymbols(what: string): string[] {
    if (!this.#symbols || this.#symbols.length === 0) {
      throw new BadRequest(`${this.id}: ${what} needs a symbol on this venue (or configure the account's symbols)`, { exchange: this.id });
    }
    return this.#symbols;
  }

  // ================================================================== markets

  #step(value: unknown, what: string, symbol: string): number {
    const v = num(value);
    if (v === undefined) throw new ExchangeError(`${this.id}: ${symbol}: market has no ${what} precision`, { exchange: this.id });
    const mode = this.#client.precisionMode;
    if (mode === 4 /* TICK_SIZE */) return v;
    if (mode === 2 /* DECIMAL_PLACES */) return dec(10).pow(-v).toNumber();
    throw new NotSupported(`${this.id}: precision mode ${mode} (significant digits) gives no step size`, { exchange: this.id });
  }

  #market(m: Dict): Market {
    const symbol = str(m['symbol'])!;
    const swap = m['swap'] === true;
    const precision = dict(m['precision']);
    const limits = dict(m['limits']);
    const tiers = swap ? this.#tiers[symbol] : undefined;
    const maxLev = num(dict(limits['leverage'])['max']) ?? tiers?.[0]?.maxLeverage;
    return {
      symbol,
      type: swap ? 'swap' : 'spot',
      spot: !swap,
      swap,
      base: str(m['base'])!,
      quote: str(m['quote'])!,
      settle: swap ? (str(m['settle']) ?? str(m['quote'])!) : null,
      amountStep: this.#step(precision['amount'], 'amount', symbol),
      priceStep: this.#step(precision['price'], 'price', symbol),
      minAmount: num(dict(limits['amount'])['min']) ?? 0,
      minNotional: num(dict(limits['cost'])['min']) ?? 0,
      contractSize: swap ? (num(m['contractSize']) ?? 1) : 1,
      maintenanceMarginRate: swap ? (tiers?.[0]?.maintenanceMarginRate ?? this.#fallbackMmr) : 0,
      ...(tiers ? { tiers: tiers.map((t) => ({ ...t })) } : {}),
      ...(maxLev !== undefined ? { maxLeverage: maxLev } : {}),
      maker: num(m['maker']) ?? 0,
      taker: num(m['taker']) ?? 0,
      active: m['active'] !== false,
    };
  }

  /**
   * ccxt leverage tiers → ours; maintenanceAmount from Binance's `cum`, else continuous across tiers.
   * `notionalPerUnit`: OKX gives tier bounds (`minSz`/`maxSz`, which ccxt passes on as min/maxNotional)
   * in CONTRACTS; they become notional at contractSize × mark price (the price when loaded).
   */
  static tiersFrom(raw: unknown[], notionalPerUnit = 1): MarginTier[] {
    const out: MarginTier[] = [];
    let cum = 0;
    let prevRate = 0;
    const toNotional = (x: number | undefined): number | undefined => (x === undefined ? undefined : dec(x).mul(notionalPerUnit).toNumber());
    for (const t of raw.map(dict)) {
      const rate = num(t['maintenanceMarginRate']) ?? 0;
      const floor = toNotional(num(t['minNotional'])) ?? 0;
      cum = cum + floor * (rate - prevRate);
      const venueCum = num(dict(t['info'])['cum']);
      const maxLev = num(t['maxLeverage']);
      out.push({
        maxNotional: toNotional(num(t['maxNotional'])) ?? Infinity,
        maintenanceMarginRate: rate,
        maintenanceAmount: venueCum ?? cum,
        ...(maxLev !== undefined ? { maxLeverage: maxLev } : {}),
      });
      prevRate = rate;
    }
    return out;
  }

  async #loadTiers(perps: string[]): Promise<void> {
    if (perps.length === 0) return;
    const c = this.#client;
    if (c.has['fetchLeverageTiers'] === true) {
      const all = (await this.#call(() => c.fetchLeverageTiers(perps))) as Record<string, unknown[]>;
      for (const s of perps) if (all[s]) this.#tiers[s] = CcxtExchange.tiersFrom(all[s]);
    } else if (c.has['fetchMarketLeverageTiers']) {
      for (const s of perps) {
        let perUnit = 1;
        if (this.#q.tiersInContracts) {
          const mark = num((await this.#call(() => c.fetchMarkPrice(s))).markPrice);
          if (mark === undefined) throw new ExchangeError(`${this.id}: ${s}: no mark price to convert the contract-sized margin tiers to notional`, { exchange: this.id });
          perUnit = dec(this.#contractSize(s)).mul(mark).toNumber();
        }
        this.#tiers[s] = CcxtExchange.tiersFrom((await this.#call(() => c.fetchMarketLeverageTiers(s))) as unknown[], perUnit);
      }
    }
  }

  async loadMarkets(): Promise<Record<string, Market>> {
    const all = (await this.#call(() => this.#client.loadMarkets())) as unknown as Record<string, Dict>;
    const wanted = this.#symbols ?? Object.keys(all).filter((s) => all[s]!['spot'] === true || (all[s]!['swap'] === true && all[s]!['linear'] === true));
    for (const s of wanted) if (!all[s]) throw new BadSymbol(`${this.id}: configured market ${s} does not exist on the venue`, { exchange: this.id });
    if (this.#symbols) await this.#loadTiers(wanted.filter((s) => all[s]!['swap'] === true));
    const out: Record<string, Market> = {};
    for (const s of wanted) {
      const m = all[s]!;
      if (m['spot'] !== true && m['swap'] !== true) continue;
      out[s] = this.#market(m);
    }
    return out;
  }

  // ================================================================== balances and positions

  async fetchBalance(): Promise<Balances> {
    await this.#ensureMarkets();
    const free: Record<string, number> = {};
    const total: Record<string, number> = {};
    const add = (c: string, t: number, f: number): void => {
      const fc = Math.max(0, Math.min(f, t));
      total[c] = dec(total[c] ?? 0).plus(t).toNumber();
      free[c] = dec(free[c] ?? 0).plus(fc).toNumber();
    };
    const code = (id: unknown): string => this.#client.safeCurrencyCode(str(id) ?? '') ?? String(id);
    const wallets = this.#q.balanceWallets;
    const replies = await Promise.all(wallets.map((w) => this.#call(() => this.#client.fetchBalance(w.params))));
    const perWallet: WalletBalances[] = [];
    wallets.forEach((w, i) => {
      const own: Record<string, number> = {};
      for (const r of w.rows(dict(replies[i]!.info))) {
        if (r.total === 0) continue;
        const c = code(r.coin);
        add(c, r.total, r.free);
        own[c] = dec(own[c] ?? 0).plus(r.total).toNumber();
      }
      perWallet.push({ wallet: w.name, total: own });
    });
    this.#lastWallets = perWallet;
    const used: Record<string, number> = {};
    for (const c of Object.keys(total)) used[c] = dec(total[c]!).minus(free[c]!).toNumber();
    return { timestamp: this.#clock.now(), free, used, total };
  }

  async fetchPositions(symbols?: string[]): Promise<PositionInfo[]> {
    await this.#ensureMarkets();
    for (const s of symbols ?? []) this.#ccxtMarket(s);
    const c = this.#client;
    let raw: ccxt.Position[];
    const one = symbols && symbols.length === 1;
    if (this.#q.marginModeFromAccountInfo) {
      // Bybit takes one symbol or a settle coin per call; on the unified account the margin mode is
      // account-wide (positions report the deprecated tradeMode 0), so read it from account info.
      const [list_, info] = await Promise.all([
        this.#call(() => c.fetchPositions(one ? symbols : undefined, one ? {} : this.#q.positionsParams)),
        this.#call(() => this.#implicit('privateGetV5AccountInfo')()),
      ]);
      const accountIsolated = str(dict(dict(info)['result'])['marginMode']) === 'ISOLATED_MARGIN';
      raw = list_.map((p) =>
        p.marginMode === undefined || p.marginMode === null
          ? { ...p, marginMode: accountIsolated || str(dict(p.info)['tradeMode']) === '1' ? 'isolated' : 'cross' }
          : p,
      );
    } else {
      raw = await this.#call(() => c.fetchPositions(symbols, this.#q.positionsParams));
    }
    const hedged = raw.filter((p) => this.#isHedgePosition(p));
    if (hedged.length > 0) {
      throw new ExchangeError(
        `${this.id}: the account is in hedge (long/short) position mode (${hedged.map((p) => `${p.symbol} ${p.side ?? ''}`.trim()).join(', ')}); ballast trades one-way (net) accounts only: set ${this.#q.positionMode.setting}`,
        { exchange: this.id },
      );
    }
    const now = this.#clock.now();
    const out: PositionInfo[] = [];
    for (const p of raw) {
      const symbol = p.symbol;
      if (!symbol || (symbols && !symbols.includes(symbol))) continue;
      const m = c.markets?.[symbol] as Dict | undefined;
      if (!m || m['swap'] !== true) continue;
      const abs = Math.abs(num(p.contracts) ?? 0);
      if (abs === 0) continue;
      const side: 'long' | 'short' = p.side === 'short' ? 'short' : p.side === 'long' ? 'long' : (num(dict(p.info)['positionAmt']) ?? 0) < 0 ? 'short' : 'long';
      const contracts = side === 'short' ? -abs : abs;
      const contractSize = num(p.contractSize) ?? num(m['contractSize']) ?? 1;
      const markPrice = num(p.markPrice);
      if (markPrice === undefined) throw new ExchangeError(`${this.id}: position ${symbol} has no mark price`, { exchange: this.id });
      const notional = dec(contracts).mul(contractSize).mul(markPrice).toNumber();
      const marginMode: MarginMode = p.marginMode === 'isolated' ? 'isolated' : 'cross';
      const initialMargin = num(p.initialMargin);
      const leverage = num(p.leverage) ?? (initialMargin ? Math.abs(notional) / initialMargin : undefined) ?? this.#leverage.get(symbol) ?? 1;
      out.push({
        symbol,
        side,
        contracts,
        contractSize,
        entryPrice: num(p.entryPrice) ?? NaN,
        markPrice,
        notional,
        unrealizedPnl: num(p.unrealizedPnl) ?? 0,
        leverage,
        marginMode,
        liquidationPrice: num(p.liquidationPrice) ?? null,
        initialMargin: initialMargin ?? Math.abs(notional) / leverage,
        maintenanceMargin: num(p.maintenanceMargin) ?? Math.abs(notional) * (this.#tiers[symbol]?.[0]?.maintenanceMarginRate ?? this.#fallbackMmr),
        collateral: marginMode === 'isolated' ? (num(p.collateral) ?? null) : null,
        timestamp: now,
      });
    }
    return out;
  }

  // ================================================================== market data

  async fetchTicker(symbol: string): Promise<Ticker> {
    const out = await this.fetchTickers([symbol]);
    const t = out[symbol];
    if (!t) throw new ExchangeError(`${this.id}: no ticker for ${symbol}`, { exchange: this.id });
    return t;
  }

  async fetchTickers(symbols?: string[]): Promise<Record<string, Ticker>> {
    await this.#ensureMarkets();
    const wanted = symbols ?? this.#symbols;
    if (!wanted) throw new BadRequest(`${this.id}: fetchTickers needs symbols (or configure the account's symbols)`, { exchange: this.id });
    const spot = wanted.filter((s) => !this.#isSwap(s));
    const perps = wanted.filter((s) => this.#isSwap(s));
    const c = this.#client;
    const one = async (syms: string[]): Promise<Record<string, ccxt.Ticker>> => {
      if (syms.length === 0) return {};
      if (syms.length === 1) {
        const t = await this.#call(() => c.fetchTicker(syms[0]!));
        return { [syms[0]!]: t };
      }
      return this.#call(() => c.fetchTickers(syms));
    };
    const [spotT, perpT] = await Promise.all([one(spot), one(perps)]);
    const raw: Record<string, ccxt.Ticker> = { ...spotT, ...perpT };

    // Perps: mark price (ticker, else mark-price endpoint), bid/ask when the ticker lacks them.
    const marks: Record<string, { price: number; time?: number }> = {};
    const needMark = perps.filter((s) => num(raw[s]?.markPrice) === undefined && num(dict(raw[s]?.info)['markPrice']) === undefined);
    if (needMark.length > 0 && c.has['fetchMarkPrice']) {
      const got =
        needMark.length === 1 || !c.has['fetchMarkPrices']
          ? await Promise.all(needMark.map(async (s) => [s, await this.#call(() => c.fetchMarkPrice(s))] as const))
          : Object.entries(await this.#call(() => c.fetchMarkPrices(needMark)));
      for (const [s, t] of got) {
        const p = num(t.markPrice);
        if (p !== undefined) marks[s] = { price: p, ...(num(t.timestamp) !== undefined ? { time: num(t.timestamp)! } : {}) };
      }
    }
    const needBook = wanted.filter((s) => num(raw[s]?.bid) === undefined || num(raw[s]?.ask) === undefined);
    const books: Record<string, ccxt.Ticker> = {};
    if (needBook.length > 0 && c.has['fetchBidsAsks'] === true) {
      const spotB = needBook.filter((s) => !this.#isSwap(s));
      const perpB = needBook.filter((s) => this.#isSwap(s));
      for (const group of [spotB, perpB]) {
        if (group.length === 0) continue;
        Object.assign(books, await this.#call(() => c.fetchBidsAsks(group)));
      }
    }

    const now = this.#clock.now();
    const out: Record<string, Ticker> = {};
    for (const s of wanted) {
      const t = raw[s];
      if (!t) continue;
      const b = books[s];
      const bid = num(t.bid) ?? num(b?.bid);
      const ask = num(t.ask) ?? num(b?.ask);
      const last = num(t.last) ?? num(t.close);
      if (bid === undefined || ask === undefined || last === undefined) {
        throw new ExchangeError(`${this.id}: ticker for ${s} lacks ${[bid === undefined && 'bid', ask === undefined && 'ask', last === undefined && 'last'].filter(Boolean).join(', ')}`, {
          exchange: this.id,
        });
      }
      let markPrice: number | null = null;
      const times = [num(t.timestamp), b ? num(b.timestamp) : undefined];
      if (this.#isSwap(s)) {
        const m = num(t.markPrice) ?? num(dict(t.info)['markPrice']) ?? marks[s]?.price;
        if (m === undefined) throw new ExchangeError(`${this.id}: no mark price for ${s}`, { exchange: this.id });
        markPrice = m;
        times.push(marks[s]?.time);
      }
      const known = times.filter((x): x is number => x !== undefined && x > 0);
      out[s] = { symbol: s, timestamp: known.length > 0 ? Math.min(...known) : now, bid, ask, last, markPrice };
    }
    return out;
  }

  async fetchFundingRate(symbol: string): Promise<FundingRateInfo> {
    await this.#ensureMarkets();
    const m = this.#ccxtMarket(symbol);
    if (m['swap'] !== true) throw new BadSymbol(`${this.id}: ${symbol} is not a perpetual`, { exchange: this.id });
    const r = await this.#call(() => this.#client.fetchFundingRate(symbol));
    const rate = num(r.fundingRate);
    if (rate === undefined) throw new ExchangeError(`${this.id}: no funding rate for ${symbol}`, { exchange: this.id });
    const infoKey = this.#q.fundingIntervalInfoMinutes;
    const fromInfo = infoKey !== undefined ? num(dict(m['info'])[infoKey]) : undefined;
    const listed = this.#q.fundingIntervalsEndpoint ? (await this.#loadFundingIntervals()).get(str(m['id']) ?? '') : undefined;
    const intervalMs = parseInterval(r.interval) ?? listed ?? (fromInfo !== undefined ? fromInfo * 60_000 : undefined) ?? EIGHT_HOURS;
    return {
      symbol,
      fundingRate: rate,
      fundingTimestamp: num(r.fundingTimestamp) ?? num(r.nextFundingTimestamp) ?? null,
      intervalMs,
      markPrice: num(r.markPrice) ?? null,
      timestamp: num(r.timestamp) ?? this.#clock.now(),
    };
  }

  async fetchFundingHistory(symbol?: string, since?: number, limit?: number): Promise<FundingPayment[]> {
    await this.#ensureMarkets();
    if (symbol !== undefined) this.#ccxtMarket(symbol);
    const raw = await this.#call(() => this.#client.fetchFundingHistory(symbol, since, limit, this.#q.fundingHistoryParams));
    const sign = this.#q.fundingAmountSign;
    return raw
      .filter((f) => f.symbol !== undefined && (symbol === undefined || f.symbol === symbol) && (since === undefined || (f.timestamp ?? 0) >= since))
      .map((f): FundingPayment => {
        const info = dict(f.info);
        const rate = num(info['feeRate']) ?? num(info['fundingRate']);
        const qty = num(info['execQty']);
        const fee = num(info['execFee']);
        // bybit: execFee > 0 = paid; a long pays when the rate is positive → sign = sign(fee) × sign(rate).
        const contracts = qty !== undefined && fee !== undefined && rate !== undefined && fee !== 0 && rate !== 0 ? Math.sign(fee) * Math.sign(rate) * qty : NaN;
        const amount = num(f.amount);
        return {
          id: String(f.id ?? `${f.symbol}:${f.timestamp}`),
          symbol: f.symbol!,
          timestamp: f.timestamp ?? NaN,
          amount: amount === undefined ? NaN : amount === 0 ? 0 : sign * amount,
          currency: f.code ?? this.#quoteOf(f.symbol!),
          rate: rate ?? NaN,
          markPrice: num(info['markPrice']) ?? NaN,
          contracts,
        };
      })
      .sort((a, b) => a.timestamp - b.timestamp);
  }

  // ================================================================== orders

  #validate(req: CreateOrderRequest): Dict {
    const invalid = (message: string, reason: InvalidOrderReason): InvalidOrder =>
      new InvalidOrder(`${this.id}: ${message}`, reason, { exchange: this.id });
    const cm = this.#ccxtMarket(req.symbol);
    const m = this.#market(cm);
    const sym = req.symbol;
    if (req.type !== 'limit' && req.type !== 'market') throw invalid(`unknown order type ${String(req.type)}`, 'bad-params');
    if (req.side !== 'buy' && req.side !== 'sell') throw invalid(`unknown side ${String(req.side)}`, 'bad-params');
    const rule = CLIENT_ORDER_ID_RULES[this.venue];
    if (typeof req.clientOrderId !== 'string' || !rule.pattern.test(req.clientOrderId)) {
      throw invalid(`clientOrderId ${JSON.stringify(req.clientOrderId)} is not valid on ${this.id}: ${rule.rule}`, 'bad-params');
    }
    if (!Number.isFinite(req.amount) || !(req.amount > 0)) throw invalid(`amount must be a positive number, got ${req.amount}`, 'bad-params');
    if (!isMultipleOf(req.amount, m.amountStep)) throw invalid(`${sym}: amount ${req.amount} is not a multiple of the lot step ${m.amountStep}`, 'amount-step');
    if (req.amount < m.minAmount) throw invalid(`${sym}: amount ${req.amount} is below the minimum ${m.minAmount}`, 'min-amount');
    if (req.type === 'limit') {
      const p = req.price;
      if (p === undefined || !Number.isFinite(p) || !(p > 0)) throw invalid(`limit order needs a positive price, got ${String(p)}`, 'bad-params');
      if (!isMultipleOf(p, m.priceStep)) throw invalid(`${sym}: price ${p} is not a multiple of the tick ${m.priceStep}`, 'price-step');
      const notional = dec(req.amount).mul(m.contractSize).mul(p).toNumber();
      if (!req.reduceOnly && notional < m.minNotional) throw invalid(`${sym}: notional ${notional} is below the minimum ${m.minNotional}`, 'min-notional');
    } else if (req.postOnly) {
      throw invalid('a market order cannot be post-only', 'post-only');
    }
    if (req.reduceOnly && !m.swap) throw invalid(`${sym}: reduceOnly is for perpetuals`, 'reduce-only');
    return cm;
  }

  #params(req: CreateOrderRequest, swap: boolean): Dict {
    const p: Dict = { [this.#q.clientOrderId.param]: req.clientOrderId };
    if (req.reduceOnly) p['reduceOnly'] = true;
    if (req.postOnly) p['postOnly'] = true;
    if (swap && this.#q.marginMode === 'per-order') p['marginMode'] = this.#marginModes.get(req.symbol) ?? 'cross';
    if (!swap) Object.assign(p, this.#q.spotOrderParams);
    return p;
  }

  async createOrder(req: CreateOrderRequest): Promise<Order> {
    await this.#ensureMarkets();
    const cm = this.#validate(req);
    const swap = cm['swap'] === true;
    if (!swap && req.type === 'market') await this.#checkMarketNotional(req, cm);
    const params = this.#params(req, swap);
    const o = await this.#call(() =>
      this.#client.createOrder(req.symbol, req.type, req.side, req.amount, req.type === 'limit' ? req.price : undefined, params),
    );
    const now = this.#clock.now();
    if (o.status === undefined || o.status === null) {
      // Ids only (bybit, okx): the order as sent, accepted.
      const id = str(o.id);
      if (!id) throw new ExchangeError(`${this.id}: createOrder reply has no order id`, { exchange: this.id });
      const order: Order = {
        id,
        clientOrderId: req.clientOrderId,
        timestamp: num(o.timestamp) ?? now,
        lastTradeTimestamp: null,
        lastUpdateTimestamp: num(o.timestamp) ?? now,
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
        fee: { cost: 0, currency: this.#quoteOf(req.symbol) },
        reduceOnly: req.reduceOnly === true,
        postOnly: req.postOnly === true,
      };
      this.#remember(order, false);
      return order;
    }
    return this.#order(o, { clientOrderId: req.clientOrderId, reduceOnly: req.reduceOnly === true, postOnly: req.postOnly === true });
  }

  /**
   * A spot market order has no price to check the venue's minimum notional with: value it at the
   * ticker's side it would take (ask for a buy, bid for a sell) and refuse it before sending.
   */
  async #checkMarketNotional(req: CreateOrderRequest, cm: Dict): Promise<void> {
    const minNotional = num(dict(dict(cm['limits'])['cost'])['min']) ?? 0;
    if (!(minNotional > 0)) return;
    const t = await this.fetchTicker(req.symbol);
    const price = req.side === 'buy' ? t.ask : t.bid;
    if (!(price > 0)) return;
    const notional = dec(req.amount).mul(price).toNumber();
    if (notional < minNotional) {
      throw new InvalidOrder(`${this.id}: ${req.symbol}: market order notional ≈ ${notional} (at ${price}) is below the minimum ${minNotional}`, 'min-notional', { exchange: this.id });
    }
  }

  /**
   * The order's own client id. Binance answers a cancel with `clientOrderId` = the id of the CANCEL
   * request and `origClientOrderId` = the order's; ccxt reports the former.
   */
  #clientIdOf(o: ccxt.Order): string | undefined {
    return str(dict(o.info)['origClientOrderId']) ?? o.clientOrderId ?? undefined;
  }

  #venueInitiated(o: ccxt.Order): boolean {
    const v = this.#q.venueInitiated;
    if (v.clientIdPrefix && v.clientIdPrefix.test(this.#clientIdOf(o) ?? '')) return true;
    if (v.infoField && v.infoPattern) return v.infoPattern.test(str(dict(o.info)[v.infoField]) ?? '');
    return false;
  }

  #remember(o: Order, liquidation: boolean): void {
    if (this.#orders.size >= ORDER_CACHE_MAX) {
      const first = this.#orders.keys().next().value;
      if (first !== undefined) this.#orders.delete(first);
    }
    const key = `${o.symbol}\0${o.id}`;
    this.#orders.delete(key); // re-insert: most recently seen last
    this.#orders.set(key, { order: { ...o, fee: { ...o.fee } }, liquidation });
  }

  #order(o: ccxt.Order, hint: Partial<Order> = {}): Order {
    const symbol = o.symbol!;
    const now = this.#clock.now();
    const liquidation = this.#venueInitiated(o);
    const amount = num(o.amount) ?? hint.amount ?? 0;
    const filled = num(o.filled) ?? 0;
    const type: 'limit' | 'market' = o.type === 'market' ? 'market' : 'limit';
    const status = STATUSES.includes(o.status as OrderStatus) ? (o.status as OrderStatus) : 'open';
    const cost = num(o.cost) ?? 0;
    const cs = this.#contractSize(symbol);
    const average = num(o.average) ?? (filled > 0 && cost > 0 ? cost / (filled * cs) : null);
    const fee = o.fee && num(o.fee.cost) !== undefined ? { cost: num(o.fee.cost)!, currency: o.fee.currency ?? this.#quoteOf(symbol) } : { cost: 0, currency: this.#quoteOf(symbol) };
    const order: Order = {
      id: String(o.id),
      clientOrderId: liquidation ? null : (this.#clientIdOf(o) ?? hint.clientOrderId ?? null),
      timestamp: num(o.timestamp) ?? now,
      lastTradeTimestamp: num(o.lastTradeTimestamp) ?? null,
      lastUpdateTimestamp: num(o.lastUpdateTimestamp) ?? num(o.lastTradeTimestamp) ?? num(o.timestamp) ?? now,
      symbol,
      type,
      side: o.side === 'sell' ? 'sell' : 'buy',
      price: type === 'limit' ? (num(o.price) ?? null) : null,
      average,
      amount,
      filled,
      remaining: num(o.remaining) ?? dec(amount).minus(filled).toNumber(),
      cost,
      status,
      fee,
      reduceOnly: o.reduceOnly ?? hint.reduceOnly ?? false,
      postOnly: o.postOnly ?? hint.postOnly ?? false,
    };
    this.#remember(order, liquidation);
    return order;
  }

  /** Symbol of an order the caller did not name: from the cache, else BadRequest. */
  #symbolFor(ref: OrderRef, symbol: string | undefined): string {
    if (symbol !== undefined) {
      this.#ccxtMarket(symbol);
      return symbol;
    }
    for (const f of this.#orders.values()) {
      if ('clientOrderId' in ref ? f.order.clientOrderId === ref.clientOrderId : f.order.id === ref.id) return f.order.symbol;
    }
    throw new BadRequest(`${this.id}: give the symbol of order ${'id' in ref ? ref.id : ref.clientOrderId}`, { exchange: this.id });
  }

  #refParams(ref: OrderRef): [string | undefined, Dict] {
    if ('id' in ref) return [ref.id, {}];
    return [undefined, { [this.#q.clientOrderId.param]: ref.clientOrderId }];
  }

  async #bybitFind(ref: OrderRef, symbol: string): Promise<Order> {
    const market = this.#ccxtMarket(symbol);
    const req: Dict = { category: market['spot'] === true ? 'spot' : 'linear', symbol: market['id'] };
    if ('id' in ref) req['orderId'] = ref.id;
    else req['orderLinkId'] = ref.clientOrderId;
    for (const endpoint of ['privateGetV5OrderRealtime', 'privateGetV5OrderHistory']) {
      const res = dict(await this.#call(() => this.#implicit(endpoint)(req)));
      const first = list(dict(res['result'])['list'])[0];
      if (first) return this.#order(this.#client.parseOrder(first as Dict, market as unknown as ccxt.Market));
    }
    throw new OrderNotFound(`${this.id}: no order with ${'id' in ref ? `id ${ref.id}` : `clientOrderId ${ref.clientOrderId}`} on ${symbol}`, {
      exchange: this.id,
    });
  }

  async fetchOrder(ref: OrderRef, symbol?: string): Promise<Order> {
    await this.#ensureMarkets();
    const s = this.#symbolFor(ref, symbol);
    if (this.#q.orderLookup === 'bybit-v5') return this.#bybitFind(ref, s);
    const [id, params] = this.#refParams(ref);
    const o = await this.#call(() => this.#client.fetchOrder(id as string, s, params));
    const order = this.#order(o);
    if (order.symbol !== s) throw new OrderNotFound(`${this.id}: order is on ${order.symbol}, not ${s}`, { exchange: this.id });
    return order;
  }

  async cancelOrder(ref: OrderRef, symbol?: string): Promise<Order> {
    await this.#ensureMarkets();
    const s = this.#symbolFor(ref, symbol);
    const [id, params] = this.#refParams(ref);
    const o = await this.#call(() => this.#client.cancelOrder(id as string, s, params));
    if (o.status !== undefined && o.status !== null && o.symbol) return this.#order(o);
    // Ids only (bybit, okx): read the order back for its final state.
    const back: OrderRef = o.id ? { id: String(o.id) } : ref;
    try {
      return await this.fetchOrder(back, s);
    } catch (err) {
      // The cancel was accepted but the read-back failed: report the last state seen, canceled now
      // (its `filled` is a lower bound — fills are read from fetchMyTrades). Never seen: rethrow.
      const known =
        (o.id ? this.#orders.get(`${s}\0${String(o.id)}`) : undefined) ??
        [...this.#orders.values()].find((f) => f.order.symbol === s && 'clientOrderId' in ref && f.order.clientOrderId === ref.clientOrderId);
      if (!(err instanceof ExchangeError) || !known) throw err;
      const now = this.#clock.now();
      return { ...known.order, fee: { ...known.order.fee }, status: 'canceled', remaining: 0, lastUpdateTimestamp: Math.max(now, known.order.lastUpdateTimestamp) };
    }
  }


  async fetchOpenOrders(symbol?: string, since?: number, limit?: number): Promise<Order[]> {
    await this.#ensureMarkets();
    let raw: ccxt.Order[];
    if (symbol !== undefined) {
      this.#ccxtMarket(symbol);
      raw = await this.#call(() => this.#client.fetchOpenOrders(symbol, since, limit));
    } else {
      raw = [];
      for (const p of this.#q.walletKinds) raw.push(...(await this.#call(() => this.#client.fetchOpenOrders(undefined, since, limit, p))));
    }
    const out = raw
      .filter((o) => o.symbol && this.#client.markets?.[o.symbol])
      .map((o) => this.#order(o))
      .filter((o) => o.status === 'open' && (since === undefined || o.timestamp >= since))
      .sort((a, b) => a.timestamp - b.timestamp);
    return limit === undefined ? out : out.slice(0, limit);
  }

  async fetchClosedOrders(symbol?: string, since?: number, limit?: number): Promise<Order[]> {
    await this.#ensureMarkets();
    const symbols = symbol !== undefined ? [symbol] : this.#needSymbols('fetchClosedOrders');
    const c = this.#client;
    const out: Order[] = [];
    for (const s of symbols) {
      this.#ccxtMarket(s);
      const method = this.#q.closedOrdersMethod;
      const raw: ccxt.Order[] = await this.#call(() => c[method](s));
      for (const o of raw) {
        const order = this.#order(o);
        if (order.status !== 'open' && (since === undefined || order.lastUpdateTimestamp >= since)) out.push(order);
      }
    }
    out.sort((a, b) => a.lastUpdateTimestamp - b.lastUpdateTimestamp || a.id.localeCompare(b.id));
    return limit === undefined ? out : out.slice(0, limit);
  }

  async fetchMyTrades(symbol?: string, since?: number, limit?: number): Promise<Trade[]> {
    await this.#ensureMarkets();
    const symbols = symbol !== undefined ? [symbol] : this.#needSymbols('fetchMyTrades');
    const out: Trade[] = [];
    for (const s of symbols) {
      this.#ccxtMarket(s);
      const raw = await this.#call(() => this.#client.fetchMyTrades(s, since, limit));
      // Bybit: ccxt asks for execType=Trade only; liquidation (BustTrade) and ADL (AdlTrade) fills
      // of this account are listed only when asked for by type.
      if (this.#isSwap(s)) {
        for (const execType of this.#q.extraFillExecTypes) raw.push(...(await this.#call(() => this.#client.fetchMyTrades(s, since, limit, { execType }))));
      }
      const seen = new Set<string>();
      for (const t of raw) {
        if (seen.has(String(t.id))) continue;
        seen.add(String(t.id));
        out.push(await this.#trade(t));
      }
    }
    const filtered = out.filter((t) => since === undefined || t.timestamp >= since);
    filtered.sort((a, b) => a.timestamp - b.timestamp || (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0) || compareIds(a.id, b.id));
    return limit === undefined ? filtered : filtered.slice(0, limit);
  }

  async #trade(t: ccxt.Trade): Promise<Trade> {
    const symbol = t.symbol!;
    const orderId = String(t.order ?? '');
    const info = dict(t.info);
    const bybitLiq = /BustTrade|AdlTrade/i.test(str(info['execType']) ?? '');
    let facts = this.#orders.get(`${symbol}\0${orderId}`);
    // A liquidation / ADL fill is the venue's own order: nothing to look up.
    if (!facts && orderId && !bybitLiq) {
      await this.fetchOrder({ id: orderId }, symbol);
      facts = this.#orders.get(`${symbol}\0${orderId}`);
    }
    const liquidation = facts?.liquidation === true || bybitLiq;
    const known = facts?.order;
    const price = num(t.price) ?? NaN;
    const amount = num(t.amount) ?? NaN;
    return {
      id: String(t.id),
      order: orderId,
      clientOrderId: liquidation ? null : (known?.clientOrderId ?? null),
      timestamp: num(t.timestamp) ?? NaN,
      symbol,
      side: t.side === 'sell' ? 'sell' : 'buy',
      type: t.type === 'market' || t.type === 'limit' ? t.type : (known?.type ?? 'limit'),
      takerOrMaker: t.takerOrMaker === 'maker' ? 'maker' : 'taker',
      price,
      amount,
      cost: num(t.cost) ?? dec(amount).mul(this.#contractSize(symbol)).mul(price).toNumber(),
      fee: { cost: num(t.fee?.cost) ?? 0, currency: t.fee?.currency ?? this.#quoteOf(symbol) },
      liquidation,
    };
  }

  // ================================================================== account settings

  async setLeverage(leverage: number, symbol: string): Promise<void> {
    await this.#ensureMarkets();
    if (!this.#isSwap(symbol)) throw new BadRequest(`${this.id}: ${symbol}: leverage is for perpetuals`, { exchange: this.id });
    if (!Number.isFinite(leverage) || leverage < 1) throw new BadRequest(`${this.id}: ${symbol}: leverage must be ≥ 1, got ${leverage}`, { exchange: this.id });
    const params: Dict = this.#q.marginMode === 'per-order' ? { marginMode: this.#marginModes.get(symbol) ?? 'cross' } : {};
    try {
      await this.#call(() => this.#client.setLeverage(leverage, symbol, params));
    } catch (err) {
      if (!(err instanceof ExchangeError && /not modified|leverage not changed|same leverage/i.test(err.message))) throw err;
    }
    this.#leverage.set(symbol, leverage);
  }

  async setMarginMode(marginMode: MarginMode, symbol: string): Promise<void> {
    await this.#ensureMarkets();
    if (!this.#isSwap(symbol)) throw new BadRequest(`${this.id}: ${symbol}: margin mode is for perpetuals`, { exchange: this.id });
    if (marginMode !== 'cross' && marginMode !== 'isolated') throw new BadRequest(`${this.id}: unknown margin mode ${String(marginMode)}`, { exchange: this.id });
    if (this.#q.marginMode === 'account') {
      throw new NotSupported(`${this.id}: the unified account has one margin mode for every market; set it on Bybit (requested ${marginMode} for ${symbol})`, {
        exchange: this.id,
      });
    }
    if (this.#q.marginMode === 'per-order') {
      // OKX has no per-market margin-mode switch: the mode travels with every order (tdMode) and with
      // setLeverage (mgnMode). Remember it; nothing is sent (changing it there would also reset leverage).
      this.#marginModes.set(symbol, marginMode);
      return;
    }
    try {
      await this.#call(() => this.#client.setMarginMode(marginMode, symbol));
    } catch (err) {
      if (!(err instanceof ExchangeError && /MarginModeAlreadySet|No need to change margin type|already/i.test(err.message))) throw err;
    }
    this.#marginModes.set(symbol, marginMode);
  }

  // ================================================================== key permissions

  /** What the venue says this key may do (see keys.ts checkKeyPermissions). */
  async fetchKeyPermissions(): Promise<KeyPermissions> {
    const perm = this.#q.permissions;
    return perm.read(await this.#call(() => this.#implicit(perm.endpoint)()));
  }

  // ================================================================== account checks (start, doctor)

  /** A ccxt position in the long or short leg of a hedge-mode account. */
  #isHedgePosition(p: ccxt.Position): boolean {
    if (p.hedged === true) return true;
    const info = dict(p.info);
    const side = str(info['positionSide']) ?? str(info['posSide']);
    if (side !== undefined && /^(long|short)$/i.test(side)) return true;
    const idx = str(info['positionIdx']);
    return idx !== undefined && idx !== '0';
  }

  /**
   * The account's position mode, read from the venue: binance GET /fapi/v1/positionSide/dual
   * (`dualSidePosition`), okx GET /api/v5/account/config (`posMode`), bybit the positions'
   * `positionIdx` (1 / 2 = hedge). Bybit has no read endpoint: with no open position the mode is
   * reported one-way, since every order is sent with positionIdx 0, which a hedge-mode account refuses.
   */
  async fetchPositionMode(): Promise<PositionModeInfo> {
    await this.#ensureMarkets();
    const setting = this.#q.positionMode.setting;
    if (this.#q.positionMode.read === 'fetchPositionMode') {
      const info = dict((await this.#call(() => this.#client.fetchPositionMode())).info);
      // binance: { dualSidePosition: boolean }; okx: the account config, posMode net_mode | long_short_mode
      const dual = info['dualSidePosition'];
      const posMode = str(info['posMode']);
      if (typeof dual === 'boolean') return { mode: dual ? 'hedge' : 'one-way', detail: `positionSide/dual: dualSidePosition = ${dual}`, setting };
      if (posMode !== undefined) return { mode: posMode === 'net_mode' ? 'one-way' : posMode === 'long_short_mode' ? 'hedge' : 'unknown', detail: `account config: posMode = ${posMode}`, setting };
      return { mode: 'unknown', detail: 'the venue reported no position mode', setting };
    }
    const raw = await this.#call(() => this.#client.fetchPositions(undefined, this.#q.positionsParams));
    const idx = raw.map((p) => str(dict(p.info)['positionIdx'])).filter((x): x is string => x !== undefined);
    if (idx.some((x) => x !== '0')) return { mode: 'hedge', detail: `positions: positionIdx ${[...new Set(idx)].join(', ')}`, setting };
    return {
      mode: 'one-way',
      detail: idx.length > 0 ? `positions: positionIdx 0 (${idx.length})` : 'no open position; orders are sent with positionIdx 0, which a hedge-mode account refuses',
      setting,
    };
  }

  /**
   * Measure the venue clock's offset (ccxt loadTimeDifference; signatures then use the venue's
   * time). Returns local − venue in ms (positive: this machine is ahead).
   */
  async syncClock(): Promise<number> {
    const c = this.#client;
    const skew = num(await c.loadTimeDifference());
    if (skew === undefined) throw new ExchangeError(`${this.id}: the venue did not report its time`, { exchange: this.id });
    this.#skewMs = skew;
    return skew;
  }

  /** The last measured clock offset (local − venue, ms), or null before the first measurement. */
  get clockSkewMs(): number | null {
    return this.#skewMs;
  }

  /** Balances per wallet of the last fetchBalance (spot and futures wallets kept apart). */
  get walletBalances(): WalletBalances[] {
    return this.#lastWallets.map((w) => ({ wallet: w.wallet, total: { ...w.total } }));
  }

  /** Funding interval per perpetual: the venue's interval where it lists one, else 8 h. */
  async fetchFundingIntervals(symbols: string[]): Promise<Record<string, number>> {
    await this.#ensureMarkets();
    const out: Record<string, number> = {};
    for (const s of symbols) out[s] = (await this.fetchFundingRate(s)).intervalMs;
    return out;
  }

  /** Binance /fapi/v1/fundingInfo (symbols whose interval or cap differs from the default), cached 1 h. */
  async #loadFundingIntervals(): Promise<Map<string, number>> {
    const now = this.#clock.now();
    if (this.#fundingIntervals && now - this.#fundingIntervalsAt < 3_600_000) return this.#fundingIntervals;
    const raw = await this.#call(() => this.#implicit('fapiPublicGetFundingInfo')());
    const m = new Map<string, number>();
    for (const e of list(raw).map(dict)) {
      const h = num(e['fundingIntervalHours']);
      const id = str(e['symbol']);
      if (id !== undefined && h !== undefined && h > 0) m.set(id, h * 3_600_000);
    }
    this.#fundingIntervals = m;
    this.#fundingIntervalsAt = now;
    return m;
  }

  /** Requests this key may still send in the current window, as the limiter sees it. */
  rateLimitHeadroom(): { tokens: number; capacity: number; bannedUntil: number | null } {
    const l = this.#limiter;
    return { tokens: l.tokens, capacity: l.capacity, bannedUntil: l.bannedUntil() };
  }
}

/** Numeric ids compare as numbers, others as strings. */
function compareIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  return a < b ? -1 : a > b ? 1 : 0;
}
