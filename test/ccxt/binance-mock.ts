/**
 * A minimal Binance REST emulator backed by a SimExchange: the spot `/api/v3/…` and USDⓈ-M
 * `/fapi/…` endpoints ccxt calls for the Exchange port's methods, answering in Binance's JSON shapes
 * and with Binance's error codes, so CcxtExchange(binance) can run the Exchange contract suite.
 *
 * Emulated (what ccxt 4.5 calls):
 *   GET  /api/v3/exchangeInfo, /fapi/v1/exchangeInfo          markets from the sim config (filters)
 *   GET  /api/v3/account, /fapi/v3/account                    all sim balances in the spot wallet;
 *                                                              the futures wallet is empty (see below)
 *   GET  /api/v3/ticker/24hr, /fapi/v1/ticker/24hr, /fapi/v1/ticker/bookTicker, /fapi/v1/premiumIndex
 *   POST|GET|DELETE /api/v3/order, /fapi/v1/order              by orderId or origClientOrderId
 *   GET  /api/v3/openOrders, /fapi/v1/openOrders, /api/v3/allOrders, /fapi/v1/allOrders
 *   GET  /api/v3/myTrades, /fapi/v1/userTrades
 *   GET  /fapi/v2/positionRisk, /fapi/v1/leverageBracket, /fapi/v1/income
 *   POST /fapi/v1/leverage, /fapi/v1/marginType
 *   GET  /sapi/v1/account/apiRestrictions                      a trade-only key
 *
 * Not emulated: signatures (not verified), recvWindow, rate-limit headers, hedge mode, algo orders.
 * One quote balance: the simulator has a single quote wallet shared by spot and perps (as Binance's
 * unified / portfolio-margin account does); it is reported in the spot account and the futures
 * account lists no assets, so the adapter's spot + futures sum equals the sim balance.
 *
 * Errors (sim typed error → Binance reply, HTTP 400):
 *   DuplicateOrderId     spot -2010 "Duplicate order sent."             futures -4116 "ClientOrderId is duplicated."
 *   InsufficientFunds    spot -2010 "Account has insufficient balance…" futures -2019 "Margin is insufficient."
 *   InvalidOrder         amount-step/min-amount -1013 "Filter failure: LOT_SIZE"; price-step -1013 "Filter failure:
 *                        PRICE_FILTER" (futures -4014); min-notional spot -1013 "Filter failure: NOTIONAL", futures
 *                        -4164; reduce-only -2022; post-only spot -2010 "Order would immediately match and take.",
 *                        futures -5022; other -1102
 *   OrderNotFound        query -2013 "Order does not exist."; cancel -2011 "Unknown order sent."
 *   BadSymbol            -1121 "Invalid symbol."; BadRequest -1102
 */

import type { SimExchange } from '../../src/adapters/sim/exchange.js';
import {
  BadRequest,
  BadSymbol,
  DuplicateOrderId,
  ExchangeError,
  InsufficientFunds,
  InvalidOrder,
  OrderNotFound,
} from '../../src/ports/errors.js';
import type { Market, Order, OrderRef, Trade } from '../../src/ports/exchange.js';
import type { RecordedRequest, Reply, Route } from './replay.js';
import { ReplayServer } from './replay.js';

type Kind = 'spot' | 'futures';
type Json = Record<string, unknown>;

const s = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '0' : String(x));

class BinanceReject extends Error {
  constructor(
    readonly code: number,
    msg: string,
    readonly status = 400,
  ) {
    super(msg);
  }
}

export class BinanceMock {
  readonly server: ReplayServer;
  readonly #sim: SimExchange;
  #markets: Record<string, Market> = {};

  constructor(sim: SimExchange) {
    this.#sim = sim;
    this.server = new ReplayServer(this.#routes());
  }

  get url(): string {
    return this.server.url;
  }

  async start(): Promise<this> {
    this.#markets = await this.#sim.loadMarkets();
    await this.server.start();
    return this;
  }

  stop(): Promise<void> {
    return this.server.stop();
  }

  // ================================================================== symbols

  #id(symbol: string): string {
    const m = this.#markets[symbol]!;
    return `${m.base}${m.quote}`;
  }

  #symbol(id: string | undefined, kind: Kind): string {
    const found = Object.values(this.#markets).find((m) => (kind === 'spot' ? m.spot : m.swap) && `${m.base}${m.quote}` === id);
    if (!found) throw new BinanceReject(-1121, 'Invalid symbol.');
    return found.symbol;
  }

  #kindOf(symbol: string): Kind {
    return this.#markets[symbol]!.swap ? 'futures' : 'spot';
  }

  #symbols(kind: Kind): string[] {
    return Object.values(this.#markets)
      .filter((m) => (kind === 'spot' ? m.spot : m.swap))
      .map((m) => m.symbol);
  }

  // ================================================================== routes

  #routes(): Record<string, Route> {
    const wrap =
      (kind: Kind, fn: (p: Record<string, string>, kind: Kind) => Promise<unknown> | unknown, onError: 'query' | 'cancel' | 'create' = 'query'): Route =>
      async (req: RecordedRequest): Promise<Reply> => {
        const p = { ...req.query, ...req.form };
        try {
          return { body: await fn(p, kind) };
        } catch (err) {
          const e = err instanceof BinanceReject ? err : this.#reject(err, kind, onError);
          return { status: e.status, body: { code: e.code, msg: e.message } };
        }
      };
    const both = (path: (k: Kind) => string, method: string, fn: (p: Record<string, string>, kind: Kind) => unknown, onError?: 'query' | 'cancel' | 'create') => ({
      [`${method} ${path('spot')}`]: wrap('spot', fn, onError),
      [`${method} ${path('futures')}`]: wrap('futures', fn, onError),
    });
    const sp = (v1: string) => (k: Kind) => (k === 'spot' ? `/api/v3/${v1}` : `/fapi/v1/${v1}`);
    return {
      'GET /api/v3/time': wrap('spot', () => ({ serverTime: this.#sim.clock.now() })),
      'GET /api/v3/exchangeInfo': wrap('spot', () => this.#exchangeInfo('spot')),
      'GET /fapi/v1/exchangeInfo': wrap('futures', () => this.#exchangeInfo('futures')),
      'GET /api/v3/account': wrap('spot', () => this.#spotAccount()),
      'GET /fapi/v3/account': wrap('futures', () => this.#futuresAccount()),
      'GET /fapi/v2/account': wrap('futures', () => this.#futuresAccount()),
      ...both(sp('ticker/24hr'), 'GET', (p, k) => this.#ticker24hr(p, k)),
      'GET /fapi/v1/ticker/bookTicker': wrap('futures', (p) => this.#bookTicker(p)),
      'GET /api/v3/ticker/bookTicker': wrap('spot', (p) => this.#bookTicker(p, 'spot')),
      'GET /fapi/v1/premiumIndex': wrap('futures', (p) => this.#premiumIndex(p)),
      ...both(sp('order'), 'POST', (p, k) => this.#create(p, k), 'create'),
      ...both(sp('order'), 'GET', (p, k) => this.#query(p, k), 'query'),
      ...both(sp('order'), 'DELETE', (p, k) => this.#cancel(p, k), 'cancel'),
      ...both(sp('openOrders'), 'GET', (p, k) => this.#openOrders(p, k)),
      ...both(sp('allOrders'), 'GET', (p, k) => this.#allOrders(p, k)),
      'GET /api/v3/myTrades': wrap('spot', (p) => this.#trades(p, 'spot')),
      'GET /fapi/v1/userTrades': wrap('futures', (p) => this.#trades(p, 'futures')),
      'GET /fapi/v2/positionRisk': wrap('futures', (p) => this.#positionRisk(p)),
      'GET /fapi/v3/positionRisk': wrap('futures', (p) => this.#positionRisk(p)),
      'GET /fapi/v1/leverageBracket': wrap('futures', (p) => this.#brackets(p)),
      'POST /fapi/v1/leverage': wrap('futures', (p) => this.#leverage(p)),
      'POST /fapi/v1/marginType': wrap('futures', (p) => this.#marginType(p)),
      'GET /fapi/v1/income': wrap('futures', (p) => this.#income(p)),
      'GET /sapi/v1/account/apiRestrictions': wrap('spot', () => ({
        ipRestrict: true,
        createTime: 1_700_000_000_000,
        enableReading: true,
        enableWithdrawals: false,
        enableInternalTransfer: false,
        enableMargin: false,
        enableFutures: true,
        permitsUniversalTransfer: false,
        enableVanillaOptions: false,
        enableSpotAndMarginTrading: true,
      })),
    };
  }

  /** Sim typed error → Binance code and message. */
  #reject(err: unknown, kind: Kind, op: 'query' | 'cancel' | 'create'): BinanceReject {
    const fut = kind === 'futures';
    if (err instanceof DuplicateOrderId) return fut ? new BinanceReject(-4116, 'ClientOrderId is duplicated.') : new BinanceReject(-2010, 'Duplicate order sent.');
    if (err instanceof OrderNotFound) return op === 'cancel' ? new BinanceReject(-2011, 'Unknown order sent.') : new BinanceReject(-2013, 'Order does not exist.');
    if (err instanceof InvalidOrder) {
      switch (err.reason) {
        case 'amount-step':
        case 'min-amount':
          return new BinanceReject(-1013, 'Filter failure: LOT_SIZE');
        case 'price-step':
          return fut ? new BinanceReject(-4014, 'Price not increased by tick size.') : new BinanceReject(-1013, 'Filter failure: PRICE_FILTER');
        case 'min-notional':
          return fut ? new BinanceReject(-4164, "Order's notional must be no smaller than 5 (unless you choose reduce only).") : new BinanceReject(-1013, 'Filter failure: NOTIONAL');
        case 'reduce-only':
          return new BinanceReject(-2022, 'ReduceOnly Order is rejected.');
        case 'post-only':
          return fut
            ? new BinanceReject(-5022, 'Due to the order could not be executed as maker, the Post Only order will be rejected. The order will not be recorded in the order history')
            : new BinanceReject(-2010, 'Order would immediately match and take.');
        default:
          return new BinanceReject(-1102, `Mandatory parameter was not sent, was empty/null, or malformed. (${err.message})`);
      }
    }
    if (err instanceof InsufficientFunds) return fut ? new BinanceReject(-2019, 'Margin is insufficient.') : new BinanceReject(-2010, 'Account has insufficient balance for requested action.');
    if (err instanceof BadSymbol) return new BinanceReject(-1121, 'Invalid symbol.');
    if (err instanceof BadRequest) return new BinanceReject(-1102, err.message);
    if (err instanceof ExchangeError) return new BinanceReject(-1013, err.message);
    return new BinanceReject(-1000, `An unknown error occurred while processing the request. (${String(err)})`, 500);
  }

  // ================================================================== markets

  #exchangeInfo(kind: Kind): Json {
    const symbols = this.#symbols(kind).map((sym) => {
      const m = this.#markets[sym]!;
      const filters: Json[] = [
        { filterType: 'PRICE_FILTER', minPrice: s(m.priceStep), maxPrice: '10000000', tickSize: s(m.priceStep) },
        { filterType: 'LOT_SIZE', minQty: s(Math.max(m.minAmount, m.amountStep)), maxQty: '100000', stepSize: s(m.amountStep) },
        { filterType: 'MARKET_LOT_SIZE', minQty: s(Math.max(m.minAmount, m.amountStep)), maxQty: '100000', stepSize: s(m.amountStep) },
        kind === 'spot'
          ? { filterType: 'NOTIONAL', minNotional: s(m.minNotional), applyMinToMarket: true, maxNotional: '9000000', applyMaxToMarket: false, avgPriceMins: 5 }
          : { filterType: 'MIN_NOTIONAL', notional: s(m.minNotional) },
      ];
      const common = { symbol: this.#id(sym), status: 'TRADING', baseAsset: m.base, quoteAsset: m.quote, baseAssetPrecision: 8, quotePrecision: 8, filters };
      return kind === 'spot'
        ? { ...common, quoteAssetPrecision: 8, orderTypes: ['LIMIT', 'LIMIT_MAKER', 'MARKET'], isSpotTradingAllowed: true, isMarginTradingAllowed: false, permissions: [], permissionSets: [['SPOT']] }
        : {
            ...common,
            pair: this.#id(sym),
            contractType: 'PERPETUAL',
            deliveryDate: 4133404800000,
            onboardDate: 1569398400000,
            marginAsset: m.settle,
            pricePrecision: 8,
            quantityPrecision: 8,
            underlyingType: 'COIN',
            orderTypes: ['LIMIT', 'MARKET'],
            timeInForce: ['GTC', 'IOC', 'FOK', 'GTX'],
          };
    });
    return { timezone: 'UTC', serverTime: this.#sim.clock.now(), rateLimits: [], exchangeFilters: [], symbols };
  }

  // ================================================================== balances and positions

  async #spotAccount(): Promise<Json> {
    const b = await this.#sim.fetchBalance();
    return {
      makerCommission: 10,
      takerCommission: 10,
      canTrade: true,
      canWithdraw: false,
      canDeposit: true,
      updateTime: b.timestamp,
      accountType: 'SPOT',
      balances: Object.keys(b.total).map((asset) => ({ asset, free: s(b.free[asset]), locked: s(b.used[asset]) })),
      permissions: ['SPOT'],
    };
  }

  #futuresAccount(): Json {
    return {
      totalInitialMargin: '0',
      totalMaintMargin: '0',
      totalWalletBalance: '0',
      totalUnrealizedProfit: '0',
      totalMarginBalance: '0',
      availableBalance: '0',
      maxWithdrawAmount: '0',
      assets: [],
      positions: [],
    };
  }

  async #positionRisk(p: Record<string, string>): Promise<Json[]> {
    const wanted = p['symbol'] ? [this.#symbol(p['symbol'], 'futures')] : this.#symbols('futures');
    const open = await this.#sim.fetchPositions(wanted);
    const led = this.#sim.ledger;
    return wanted.map((sym) => {
      const idx = led.perpIndex(sym);
      const pos = open.find((x) => x.symbol === sym);
      const mark = pos?.markPrice ?? this.#sim.marks[idx]!;
      return {
        symbol: this.#id(sym),
        positionAmt: s(pos?.contracts ?? 0),
        entryPrice: s(pos?.entryPrice ?? 0),
        breakEvenPrice: s(pos?.entryPrice ?? 0),
        markPrice: s(mark),
        unRealizedProfit: s(pos?.unrealizedPnl ?? 0),
        liquidationPrice: s(pos?.liquidationPrice ?? 0),
        leverage: s(led.leverage[idx]!),
        maxNotionalValue: '1000000',
        marginType: led.isolated[idx] === 1 ? 'isolated' : 'cross',
        isolatedMargin: s(pos?.collateral ?? 0),
        isAutoAddMargin: 'false',
        positionSide: 'BOTH',
        notional: s(pos?.notional ?? 0),
        isolatedWallet: s(pos?.collateral ?? 0),
        updateTime: pos?.timestamp ?? 0,
      };
    });
  }

  #brackets(p: Record<string, string>): Json[] {
    const wanted = p['symbol'] ? [this.#symbol(p['symbol'], 'futures')] : this.#symbols('futures');
    return wanted.map((sym) => {
      const m = this.#markets[sym]!;
      const tiers = m.tiers ?? [{ maxNotional: 1e12, maintenanceMarginRate: m.maintenanceMarginRate, maintenanceAmount: 0, maxLeverage: m.maxLeverage ?? 125 }];
      let floor = 0;
      return {
        symbol: this.#id(sym),
        notionalCoef: 1,
        brackets: tiers.map((t, i) => {
          const b = {
            bracket: i + 1,
            initialLeverage: t.maxLeverage ?? 125,
            notionalCap: Number.isFinite(t.maxNotional) ? t.maxNotional : 1e12,
            notionalFloor: floor,
            maintMarginRatio: t.maintenanceMarginRate,
            cum: t.maintenanceAmount,
          };
          floor = b.notionalCap;
          return b;
        }),
      };
    });
  }

  async #leverage(p: Record<string, string>): Promise<Json> {
    const sym = this.#symbol(p['symbol'], 'futures');
    await this.#sim.setLeverage(Number(p['leverage']), sym);
    return { leverage: Number(p['leverage']), maxNotionalValue: '1000000', symbol: p['symbol'] };
  }

  async #marginType(p: Record<string, string>): Promise<Json> {
    const sym = this.#symbol(p['symbol'], 'futures');
    const want = String(p['marginType']).toUpperCase() === 'ISOLATED' ? 'isolated' : 'cross';
    const current = this.#sim.ledger.isolated[this.#sim.ledger.perpIndex(sym)] === 1 ? 'isolated' : 'cross';
    if (current === want) throw new BinanceReject(-4046, 'No need to change margin type.');
    await this.#sim.setMarginMode(want, sym);
    return { code: 200, msg: 'success' };
  }

  async #income(p: Record<string, string>): Promise<Json[]> {
    const sym = p['symbol'] ? this.#symbol(p['symbol'], 'futures') : undefined;
    const since = p['startTime'] ? Number(p['startTime']) : undefined;
    const list = await this.#sim.fetchFundingHistory(sym, since, p['limit'] ? Number(p['limit']) : undefined);
    return list.map((f) => ({ symbol: this.#id(f.symbol), incomeType: 'FUNDING_FEE', income: s(f.amount), asset: f.currency, info: 'FUNDING_FEE', time: f.timestamp, tranId: Number(f.id), tradeId: '' }));
  }

  // ================================================================== market data

  async #ticker24hr(p: Record<string, string>, kind: Kind): Promise<Json | Json[]> {
    const one = async (sym: string): Promise<Json> => {
      const t = await this.#sim.fetchTicker(sym);
      const base = { symbol: this.#id(sym), lastPrice: s(t.last), openPrice: s(t.last), highPrice: s(t.last), lowPrice: s(t.last), volume: '0', quoteVolume: '0', openTime: t.timestamp - 86_400_000, closeTime: t.timestamp, count: 0 };
      return kind === 'spot' ? { ...base, bidPrice: s(t.bid), askPrice: s(t.ask), bidQty: '1', askQty: '1' } : base;
    };
    if (p['symbol']) return one(this.#symbol(p['symbol'], kind));
    return Promise.all(this.#symbols(kind).map(one));
  }

  async #bookTicker(p: Record<string, string>, kind: Kind = 'futures'): Promise<Json | Json[]> {
    const one = async (sym: string): Promise<Json> => {
      const t = await this.#sim.fetchTicker(sym);
      return { symbol: this.#id(sym), bidPrice: s(t.bid), bidQty: '1', askPrice: s(t.ask), askQty: '1', time: t.timestamp };
    };
    if (p['symbol']) return one(this.#symbol(p['symbol'], kind));
    return Promise.all(this.#symbols(kind).map(one));
  }

  async #premiumIndex(p: Record<string, string>): Promise<Json | Json[]> {
    const one = async (sym: string): Promise<Json> => {
      const [t, f] = await Promise.all([this.#sim.fetchTicker(sym), this.#sim.fetchFundingRate(sym)]);
      return {
        symbol: this.#id(sym),
        markPrice: s(t.markPrice),
        indexPrice: s(t.last),
        estimatedSettlePrice: s(t.last),
        lastFundingRate: s(f.fundingRate),
        interestRate: '0.00010000',
        nextFundingTime: f.fundingTimestamp ?? 0,
        time: t.timestamp,
      };
    };
    if (p['symbol']) return one(this.#symbol(p['symbol'], 'futures'));
    return Promise.all(this.#symbols('futures').map(one));
  }

  // ================================================================== orders

  #status(o: Order): string {
    if (o.status === 'open') return o.filled > 0 ? 'PARTIALLY_FILLED' : 'NEW';
    return { closed: 'FILLED', canceled: 'CANCELED', rejected: 'REJECTED', expired: 'EXPIRED' }[o.status];
  }

  #order(o: Order, kind: Kind): Json {
    const type = o.type === 'market' ? 'MARKET' : o.postOnly && kind === 'spot' ? 'LIMIT_MAKER' : 'LIMIT';
    const common = {
      symbol: this.#id(o.symbol),
      orderId: Number(o.id),
      clientOrderId: o.clientOrderId ?? `autoclose-${o.timestamp}${o.id}`,
      price: s(o.price ?? 0),
      origQty: s(o.amount),
      executedQty: s(o.filled),
      status: this.#status(o),
      timeInForce: o.postOnly && kind === 'futures' ? 'GTX' : o.type === 'market' ? 'GTC' : 'GTC',
      type,
      side: o.side.toUpperCase(),
      time: o.timestamp,
      updateTime: o.lastUpdateTimestamp,
    };
    if (kind === 'spot') {
      return { ...common, orderListId: -1, cummulativeQuoteQty: s(o.cost), stopPrice: '0', icebergQty: '0', isWorking: o.status === 'open', workingTime: o.timestamp, origQuoteOrderQty: '0', selfTradePreventionMode: 'NONE' };
    }
    return {
      ...common,
      avgPrice: s(o.average ?? 0),
      cumQuote: s(o.cost),
      reduceOnly: o.reduceOnly,
      closePosition: false,
      positionSide: 'BOTH',
      stopPrice: '0',
      workingType: 'CONTRACT_PRICE',
      priceProtect: false,
      origType: type,
      priceMatch: 'NONE',
      selfTradePreventionMode: 'NONE',
      goodTillDate: 0,
    };
  }

  #ref(p: Record<string, string>): OrderRef {
    if (p['orderId'] !== undefined) return { id: p['orderId'] };
    if (p['origClientOrderId'] !== undefined) return { clientOrderId: p['origClientOrderId'] };
    throw new BinanceReject(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!");
  }

  async #create(p: Record<string, string>, kind: Kind): Promise<Json> {
    const symbol = this.#symbol(p['symbol'], kind);
    const t = String(p['type']);
    const type = t === 'MARKET' ? 'market' : 'limit';
    const postOnly = t === 'LIMIT_MAKER' || p['timeInForce'] === 'GTX';
    const order = await this.#sim.createOrder({
      symbol,
      type,
      side: String(p['side']).toLowerCase() === 'sell' ? 'sell' : 'buy',
      amount: Number(p['quantity']),
      ...(type === 'limit' ? { price: Number(p['price']) } : {}),
      clientOrderId: p['newClientOrderId'] ?? `x-emulated-${Date.now()}`,
      ...(p['reduceOnly'] === 'true' ? { reduceOnly: true } : {}),
      ...(postOnly ? { postOnly: true } : {}),
    });
    const out = this.#order(order, kind);
    if (kind === 'spot') {
      const fills = (await this.#sim.fetchMyTrades(symbol)).filter((x) => x.order === order.id);
      return { ...out, transactTime: order.lastUpdateTimestamp, fills: fills.map((f) => ({ price: s(f.price), qty: s(f.amount), commission: s(f.fee.cost), commissionAsset: f.fee.currency, tradeId: Number(f.id) })) };
    }
    return out;
  }

  async #query(p: Record<string, string>, kind: Kind): Promise<Json> {
    const symbol = this.#symbol(p['symbol'], kind);
    return this.#order(await this.#sim.fetchOrder(this.#ref(p), symbol), kind);
  }

  async #cancel(p: Record<string, string>, kind: Kind): Promise<Json> {
    const symbol = this.#symbol(p['symbol'], kind);
    const o = await this.#sim.cancelOrder(this.#ref(p), symbol);
    const out = this.#order(o, kind);
    // Binance: clientOrderId is the cancel request's own id; origClientOrderId the order's.
    return { ...out, origClientOrderId: out['clientOrderId'], clientOrderId: p['newClientOrderId'] ?? `cancel${o.id}`, transactTime: o.lastUpdateTimestamp };
  }

  async #openOrders(p: Record<string, string>, kind: Kind): Promise<Json[]> {
    const symbols = p['symbol'] ? [this.#symbol(p['symbol'], kind)] : this.#symbols(kind);
    const out: Json[] = [];
    for (const sym of symbols) for (const o of await this.#sim.fetchOpenOrders(sym)) out.push(this.#order(o, kind));
    return out;
  }

  async #allOrders(p: Record<string, string>, kind: Kind): Promise<Json[]> {
    const symbol = this.#symbol(p['symbol'], kind);
    const orders = [...(await this.#sim.fetchOpenOrders(symbol)), ...(await this.#sim.fetchClosedOrders(symbol))].sort((a, b) => Number(a.id) - Number(b.id));
    const since = p['startTime'] ? Number(p['startTime']) : -Infinity;
    const limit = p['limit'] ? Number(p['limit']) : 500;
    return orders.filter((o) => o.timestamp >= since).slice(-limit).map((o) => this.#order(o, kind));
  }

  async #trades(p: Record<string, string>, kind: Kind): Promise<Json[]> {
    const symbol = this.#symbol(p['symbol'], kind);
    const start = p['startTime'] ? Number(p['startTime']) : undefined;
    const end = p['endTime'] ? Number(p['endTime']) : Infinity;
    const fromId = p['fromId'] ? Number(p['fromId']) : -Infinity;
    const limit = p['limit'] ? Number(p['limit']) : 500;
    const list: Trade[] = (await this.#sim.fetchMyTrades(symbol, start)).filter((t) => t.timestamp <= end && Number(t.id) >= fromId).slice(0, limit);
    return list.map((t) =>
      kind === 'spot'
        ? { symbol: this.#id(symbol), id: Number(t.id), orderId: Number(t.order), orderListId: -1, price: s(t.price), qty: s(t.amount), quoteQty: s(t.cost), commission: s(t.fee.cost), commissionAsset: t.fee.currency, time: t.timestamp, isBuyer: t.side === 'buy', isMaker: t.takerOrMaker === 'maker', isBestMatch: true }
        : { buyer: t.side === 'buy', commission: s(t.fee.cost), commissionAsset: t.fee.currency, id: Number(t.id), maker: t.takerOrMaker === 'maker', orderId: Number(t.order), price: s(t.price), qty: s(t.amount), quoteQty: s(t.cost), realizedPnl: '0', side: t.side.toUpperCase(), positionSide: 'BOTH', symbol: this.#id(symbol), time: t.timestamp },
    );
  }

  /** For tests: which kind a unified symbol trades on. */
  kindOf(symbol: string): Kind {
    return this.#kindOf(symbol);
  }
}
