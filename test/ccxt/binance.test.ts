/**
 * Binance (spot + USDⓈ-M futures) through CcxtExchange, offline: markets from the recorded fixture
 * (setMarkets), every REST reply from recorded venue JSON on a local replay server.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  BadRequest,
  DuplicateOrderId,
  ExchangeNotAvailable,
  InsufficientFunds,
  InvalidOrder,
  OrderNotFound,
  outcomeUnknown,
  RateLimitExceeded,
  RequestTimeout,
  retryable,
} from '../../src/ports/errors.js';
import type { CreateOrderRequest } from '../../src/ports/exchange.js';
import { body, type Route } from './replay.js';
import { caught, containsCanary, rig, T0, type Rig } from './helpers.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

const SYMBOLS = ['BTC/USDT', 'BTC/USDT:USDT', 'ETH/USDT:USDT'];

describe('binance: reads', () => {
  it('maps markets: tick-size precision, NOTIONAL / MIN_NOTIONAL, margin tiers from leverageBracket', async () => {
    r = await rig('binance', { 'GET /fapi/v1/leverageBracket': body('binance', 'leverageBracket') }, { symbols: SYMBOLS });
    const m = await r.ex.loadMarkets();
    expect(Object.keys(m).sort()).toEqual([...SYMBOLS].sort());
    expect(m['BTC/USDT']).toMatchObject({
      type: 'spot', spot: true, swap: false, base: 'BTC', quote: 'USDT', settle: null,
      amountStep: 0.00001, priceStep: 0.01, minAmount: 0.00001, minNotional: 5, contractSize: 1, maintenanceMarginRate: 0, maker: 0.001, taker: 0.001,
    });
    expect(m['BTC/USDT:USDT']).toMatchObject({
      type: 'swap', swap: true, settle: 'USDT', amountStep: 0.001, priceStep: 0.1, minAmount: 0.001, minNotional: 100, contractSize: 1,
      maintenanceMarginRate: 0.004, maxLeverage: 125,
    });
    expect(m['BTC/USDT:USDT']!.tiers).toEqual([
      { maxNotional: 50_000, maintenanceMarginRate: 0.004, maintenanceAmount: 0, maxLeverage: 125 },
      { maxNotional: 600_000, maintenanceMarginRate: 0.005, maintenanceAmount: 50, maxLeverage: 100 },
      { maxNotional: 3_000_000, maintenanceMarginRate: 0.0065, maintenanceAmount: 950, maxLeverage: 75 },
      { maxNotional: 12_000_000, maintenanceMarginRate: 0.01, maintenanceAmount: 11_450, maxLeverage: 50 },
    ]);
    expect(m['ETH/USDT:USDT']).toMatchObject({ priceStep: 0.01, minNotional: 20 });
    expect(r.server.unmatched).toEqual([]);
  });

  it('handles DECIMAL_PLACES precision (step = 10^-p) and refuses SIGNIFICANT_DIGITS', async () => {
    r = await rig('binance', {});
    const { fixture } = await import('./replay.js');
    const markets = fixture<Array<Record<string, unknown>>>('binance', 'markets').map((m) => ({ ...m, precision: { amount: 3, price: 2 } }));
    r.client.precisionMode = 2; // DECIMAL_PLACES
    r.client.setMarkets(markets);
    expect((await r.ex.loadMarkets())['BTC/USDT']).toMatchObject({ amountStep: 0.001, priceStep: 0.01 });
    r.client.precisionMode = 3; // SIGNIFICANT_DIGITS
    const { NotSupported } = await import('../../src/ports/errors.js');
    expect(await caught(r.ex.loadMarkets())).toBeInstanceOf(NotSupported);
  });

  it('sums the spot and futures wallets; futures total is the wallet balance (no unrealised PnL)', async () => {
    r = await rig('binance', {
      'GET /api/v3/account': body('binance', 'account-spot'),
      'GET /fapi/v3/account': body('binance', 'account-futures-v3'),
    });
    const b = await r.ex.fetchBalance();
    expect(b.timestamp).toBe(T0);
    // USDT: spot 12000.5 free + 1000 locked; futures wallet 20000, available 18724.332.
    expect(b.total['USDT']).toBe(33_000.5);
    expect(b.free['USDT']).toBe(30_724.832);
    expect(b.used['USDT']).toBeCloseTo(2_275.668, 9);
    expect(b.total['BTC']).toBe(0.5);
    expect(b.free['BTC']).toBe(0.485);
    expect(b.used['BTC']).toBe(0.015);
    expect(b.total['ETH']).toBeUndefined(); // zero balances are left out
    for (const c of Object.keys(b.total)) expect(b.free[c]! + b.used[c]!).toBeCloseTo(b.total[c]!, 9);
    expect(r.server.calls('/fapi/v3/account')).toHaveLength(1);
  });

  it('signs positions by side and computes the signed notional at the mark', async () => {
    r = await rig('binance', {
      'GET /fapi/v2/positionRisk': body('binance', 'positionRisk-v2'),
      'GET /fapi/v1/leverageBracket': body('binance', 'leverageBracket'),
    });
    const ps = await r.ex.fetchPositions();
    expect(ps.map((p) => p.symbol)).toEqual(['BTC/USDT:USDT', 'ETH/USDT:USDT']);
    const [btc, eth] = ps;
    expect(btc).toMatchObject({ side: 'long', contracts: 0.1, notional: 6_700, entryPrice: 66_000, markPrice: 67_000, unrealizedPnl: 100, leverage: 5, marginMode: 'cross', liquidationPrice: null, collateral: null });
    expect(eth).toMatchObject({ side: 'short', contracts: -2, notional: -7_000, leverage: 10, marginMode: 'isolated', liquidationPrice: 4180.25, collateral: 728 });
    expect(eth!.maintenanceMargin).toBeCloseTo(7_000 * 0.004, 9);
    expect((await r.ex.fetchPositions(['ETH/USDT:USDT'])).map((p) => p.contracts)).toEqual([-2]);
  });

  it('builds a perp ticker from 24hr + bookTicker + premiumIndex; a spot ticker from 24hr alone', async () => {
    r = await rig('binance', {
      'GET /api/v3/ticker/24hr': body('binance', 'ticker24hr-spot'),
      'GET /fapi/v1/ticker/24hr': body('binance', 'ticker24hr-futures'),
      'GET /fapi/v1/ticker/bookTicker': body('binance', 'bookTicker-futures'),
      'GET /fapi/v1/premiumIndex': body('binance', 'premiumIndex'),
    });
    const s = await r.ex.fetchTicker('BTC/USDT');
    expect(s).toEqual({ symbol: 'BTC/USDT', timestamp: 1717999999000, bid: 67073.99, ask: 67074, last: 67074, markPrice: null });
    const p = await r.ex.fetchTicker('BTC/USDT:USDT');
    expect(p).toEqual({ symbol: 'BTC/USDT:USDT', timestamp: 1717999998000, bid: 67040, ask: 67040.1, last: 67040.1, markPrice: 67045.12 });
  });

  it('reads the funding rate with its next settlement and the default 8 h interval', async () => {
    r = await rig('binance', { 'GET /fapi/v1/premiumIndex': body('binance', 'premiumIndex'), 'GET /fapi/v1/fundingInfo': { body: [] } });
    expect(await r.ex.fetchFundingRate('BTC/USDT:USDT')).toEqual({
      symbol: 'BTC/USDT:USDT', fundingRate: 0.0001, fundingTimestamp: 1718006400000, intervalMs: 8 * 3_600_000, markPrice: 67045.12, timestamp: 1717999999000,
    });
  });

  it('lists funding payments from the income history (signed: negative = paid)', async () => {
    r = await rig('binance', { 'GET /fapi/v1/income': body('binance', 'income-funding') });
    const f = await r.ex.fetchFundingHistory();
    expect(f.map((x) => [x.symbol, x.amount, x.currency])).toEqual([
      ['BTC/USDT:USDT', -0.67, 'USDT'],
      ['ETH/USDT:USDT', 0.7, 'USDT'],
    ]);
    expect(r.server.calls('/fapi/v1/income')[0]!.query['incomeType']).toBe('FUNDING_FEE');
  });
});

describe('binance: orders', () => {
  it('sends the clientOrderId as newClientOrderId and maps the reply', async () => {
    r = await rig('binance', { 'POST /api/v3/order': body('binance', 'order-spot-limit-new') });
    const o = await r.ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 0.01, price: 60_000, clientOrderId: 'reb1-L0-s0-a0' });
    expect(o).toMatchObject({ id: '28457112', clientOrderId: 'reb1-L0-s0-a0', status: 'open', amount: 0.01, filled: 0, remaining: 0.01, price: 60_000, type: 'limit', side: 'buy' });
    const sent = r.server.calls('/api/v3/order')[0]!;
    const params = { ...sent.query, ...sent.form };
    expect(params).toMatchObject({ symbol: 'BTCUSDT', side: 'BUY', type: 'LIMIT', quantity: '0.01', price: '60000', timeInForce: 'GTC', newClientOrderId: 'reb1-L0-s0-a0' });
    expect(params['signature']).toBeDefined();
  });

  it('fetches and cancels by clientOrderId through origClientOrderId', async () => {
    r = await rig('binance', {
      'GET /api/v3/order': body('binance', 'order-spot-query-partial'),
      // The real reply: clientOrderId is the id of the cancel request, origClientOrderId the order's.
      'DELETE /api/v3/order': body('binance', 'order-spot-cancel'),
    });
    const o = await r.ex.fetchOrder({ clientOrderId: 'reb1-L0-s0-a0' }, 'BTC/USDT');
    expect(o).toMatchObject({ id: '28457112', status: 'open', filled: 0.004, remaining: 0.006, cost: 240, average: 60_000, lastUpdateTimestamp: 1718000060000 });
    expect(r.server.calls('/api/v3/order')[0]!.query['origClientOrderId']).toBe('reb1-L0-s0-a0');
    const c = await r.ex.cancelOrder({ clientOrderId: 'reb1-L0-s0-a0' }, 'BTC/USDT');
    expect(c).toMatchObject({ id: '28457112', clientOrderId: 'reb1-L0-s0-a0', status: 'canceled', filled: 0.004, lastUpdateTimestamp: 1718000090000 });
    expect(r.server.calls('/api/v3/order')[1]!.query['origClientOrderId']).toBe('reb1-L0-s0-a0');
  });

  it('resolves a trade’s clientOrderId through its order and flags venue liquidations', async () => {
    r = await rig('binance', {
      'GET /fapi/v1/userTrades': body('binance', 'userTrades-futures'),
      'GET /fapi/v1/order': (req) => body('binance', `order-futures-${req.query['orderId']}`),
    });
    const t = await r.ex.fetchMyTrades('BTC/USDT:USDT');
    expect(t).toHaveLength(2);
    expect(t[0]).toMatchObject({ id: '5200000001', order: '4100000001', clientOrderId: 'reb1-L1-s0-a0', side: 'sell', type: 'market', takerOrMaker: 'taker', price: 65_500, amount: 0.01, liquidation: false });
    expect(t[0]!.fee).toEqual({ cost: 0.262, currency: 'USDT' });
    expect(t[1]).toMatchObject({ order: '4100000002', clientOrderId: null, liquidation: true });
    // Orders are looked up once and then cached.
    await r.ex.fetchMyTrades('BTC/USDT:USDT');
    expect(r.server.calls('/fapi/v1/order')).toHaveLength(2);
  });

  it('maps spot trades with the fee in the base currency', async () => {
    r = await rig('binance', {
      'GET /api/v3/myTrades': body('binance', 'myTrades-spot'),
      'GET /api/v3/order': body('binance', 'order-spot-query-partial'),
    });
    const [t] = await r.ex.fetchMyTrades('BTC/USDT');
    expect(t).toMatchObject({ id: '3600000001', clientOrderId: 'reb1-L0-s0-a0', takerOrMaker: 'maker', type: 'limit', amount: 0.004, cost: 240, fee: { cost: 0.000004, currency: 'BTC' } });
  });

  it('refuses bad orders before sending anything: lot, tick, min notional, clientOrderId syntax', async () => {
    r = await rig('binance', {});
    const base = { symbol: 'BTC/USDT', type: 'limit', side: 'buy', price: 60_000, clientOrderId: 'ok-1' } as const;
    const reasons = async (req: CreateOrderRequest) => ((await caught(r!.ex.createOrder(req))) as InvalidOrder).reason;
    expect(await reasons({ ...base, amount: 0.000015 })).toBe('amount-step');
    expect(await reasons({ ...base, amount: 0.001, price: 60_000.005 })).toBe('price-step');
    expect(await reasons({ ...base, amount: 0.00005, price: 60_000 })).toBe('min-notional');
    expect(await reasons({ ...base, amount: 0, price: 60_000 })).toBe('bad-params');
    const badId = await caught(r.ex.createOrder({ ...base, amount: 0.001, clientOrderId: 'has space' }));
    expect(badId).toBeInstanceOf(InvalidOrder);
    expect((badId as Error).message).toMatch(/clientOrderId "has space" is not valid on binance: 1–36 characters/);
    expect(await caught(r.ex.createOrder({ ...base, amount: 0.001, clientOrderId: 'x'.repeat(37) }))).toBeInstanceOf(InvalidOrder);
    expect(await reasons({ ...base, amount: 0.001, reduceOnly: true })).toBe('reduce-only');
    expect(r.server.requests).toEqual([]);
  });

  it('needs a symbol (or configured symbols) for trades and closed orders', async () => {
    r = await rig('binance', {});
    expect(await caught(r.ex.fetchMyTrades())).toBeInstanceOf(BadRequest);
    expect(await caught(r.ex.fetchClosedOrders())).toBeInstanceOf(BadRequest);
    expect(await caught(r.ex.cancelOrder({ clientOrderId: 'never-seen' }))).toBeInstanceOf(BadRequest);
  });
});

describe('binance: account settings and rate limiting', () => {
  it('setLeverage / setMarginMode post to fapi; "No need to change margin type" is success', async () => {
    r = await rig('binance', {
      'POST /fapi/v1/leverage': (q) => ({ body: { leverage: Number(q.form['leverage'] ?? q.query['leverage']), maxNotionalValue: '80000000', symbol: 'BTCUSDT' } }),
      'POST /fapi/v1/marginType': { status: 400, body: { code: -4046, msg: 'No need to change margin type.' } },
    });
    await r.ex.setLeverage(3, 'BTC/USDT:USDT');
    const lev = r.server.calls('/fapi/v1/leverage')[0]!;
    expect({ ...lev.query, ...lev.form }).toMatchObject({ symbol: 'BTCUSDT', leverage: '3' });
    await r.ex.setMarginMode('isolated', 'BTC/USDT:USDT');
    const mt = r.server.calls('/fapi/v1/marginType')[0]!;
    expect({ ...mt.query, ...mt.form }).toMatchObject({ symbol: 'BTCUSDT', marginType: 'ISOLATED' });
    expect(await caught(r.ex.setLeverage(3, 'BTC/USDT'))).toBeInstanceOf(BadRequest);
  });

  it('every HTTP request is charged to the key’s limiter at ccxt’s cost (binance request weights)', async () => {
    const { RateLimiter } = await import('../../src/adapters/ccxt/limiter.js');
    const { ManualClock } = await import('../../src/ports/clock.js');
    const clock = new ManualClock(T0);
    const sleeps: number[] = [];
    const limiter = new RateLimiter({ capacity: 4, refillPerSecond: 2, clock, sleep: async (ms) => { sleeps.push(ms); clock.advance(ms); } });
    const costs: number[] = [];
    const acquire = limiter.acquire.bind(limiter);
    limiter.acquire = (cost?: number) => (costs.push(cost ?? 1), acquire(cost));
    r = await rig('binance', {
      'GET /api/v3/account': body('binance', 'account-spot'),
      'GET /fapi/v3/account': body('binance', 'account-futures-v3'),
    }, { limiter });
    await r.ex.fetchBalance();
    expect(r.server.requests).toHaveLength(2);
    // ccxt's costs: spot GET account 4, USDⓈ-M GET v3/account 1 (units of 1/20 s at binance's rateLimit).
    expect(costs).toEqual([4, 1]);
    expect(sleeps).toEqual([500]); // the second request waited for its token
  });
});

describe('binance: errors through ccxt’s exceptions table', () => {
  const order = { symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 0.01, price: 60_000, clientOrderId: 'e-1' } as const;
  const perp = { symbol: 'BTC/USDT:USDT', type: 'market', side: 'buy', amount: 0.01, clientOrderId: 'e-2' } as const;
  const reply = (status: number, b: unknown, headers?: Record<string, string>): Route => ({ status, body: b, ...(headers ? { headers } : {}) });

  it('-2010 insufficient balance → InsufficientFunds (final)', async () => {
    r = await rig('binance', { 'POST /api/v3/order': reply(400, { code: -2010, msg: 'Account has insufficient balance for requested action.' }) });
    const e = await caught(r.ex.createOrder(order));
    expect(e).toBeInstanceOf(InsufficientFunds);
    expect(retryable(e)).toBe(false);
  });

  it('-2019 margin insufficient on futures → InsufficientFunds', async () => {
    r = await rig('binance', { 'POST /fapi/v1/order': reply(400, { code: -2019, msg: 'Margin is insufficient.' }) });
    expect(await caught(r.ex.createOrder(perp))).toBeInstanceOf(InsufficientFunds);
  });

  it('-2010 "Duplicate order sent." → DuplicateOrderId; futures -4116 → DuplicateOrderId', async () => {
    r = await rig('binance', {
      'POST /api/v3/order': reply(400, { code: -2010, msg: 'Duplicate order sent.' }),
      'POST /fapi/v1/order': reply(400, { code: -4116, msg: 'ClientOrderId is duplicated.' }),
    });
    expect(await caught(r.ex.createOrder(order))).toBeInstanceOf(DuplicateOrderId);
    expect(await caught(r.ex.createOrder(perp))).toBeInstanceOf(DuplicateOrderId);
  });

  it('-1013 LOT_SIZE / PRICE_FILTER filter failures → InvalidOrder with the reason', async () => {
    r = await rig('binance', { 'POST /api/v3/order': reply(400, { code: -1013, msg: 'Filter failure: PRICE_FILTER' }) });
    const e = await caught(r.ex.createOrder(order));
    expect(e).toBeInstanceOf(InvalidOrder);
    expect((e as InvalidOrder).reason).toBe('price-step');
  });

  it('-2013 / -2011 → OrderNotFound', async () => {
    r = await rig('binance', {
      'GET /api/v3/order': reply(400, { code: -2013, msg: 'Order does not exist.' }),
      'DELETE /api/v3/order': reply(400, { code: -2011, msg: 'Unknown order sent.' }),
    });
    expect(await caught(r.ex.fetchOrder({ clientOrderId: 'x' }, 'BTC/USDT'))).toBeInstanceOf(OrderNotFound);
    expect(await caught(r.ex.cancelOrder({ clientOrderId: 'x' }, 'BTC/USDT'))).toBeInstanceOf(OrderNotFound);
  });

  it('-1021 timestamp outside recvWindow → refused, retryable, says clock skew', async () => {
    r = await rig('binance', { 'POST /api/v3/order': reply(400, { code: -1021, msg: 'Timestamp for this request is outside of the recvWindow.' }) });
    const e = await caught(r.ex.createOrder(order));
    expect(e).toBeInstanceOf(ExchangeNotAvailable);
    expect(retryable(e)).toBe(true);
    expect(outcomeUnknown(e)).toBe(false);
    expect((e as Error).message).toMatch(/clock skew/);
  });

  it('429 with Retry-After → RateLimitExceeded(retryAfterMs) and a ban on the key: the next call sends nothing', async () => {
    r = await rig('binance', {
      'GET /api/v3/account': reply(429, { code: -1003, msg: 'Too many requests; current limit of IP(203.0.113.7) is 6000 requests per minute.' }, { 'Retry-After': '7' }),
    });
    const e = await caught(r.ex.fetchBalance());
    expect(e).toBeInstanceOf(RateLimitExceeded);
    expect((e as RateLimitExceeded).retryAfterMs).toBe(7_000);
    expect(outcomeUnknown(e)).toBe(false);
    const before = r.server.requests.length;
    const again = await caught(r.ex.fetchBalance());
    expect(again).toBeInstanceOf(RateLimitExceeded);
    expect((again as RateLimitExceeded).retryAfterMs).toBe(7_000);
    expect(r.server.requests.length).toBe(before);
    r.clock.advance(7_000);
    r.server.routes['GET /api/v3/account'] = body('binance', 'account-spot');
    r.server.routes['GET /fapi/v3/account'] = body('binance', 'account-futures-v3');
    expect((await r.ex.fetchBalance()).total['BTC']).toBe(0.5);
  });

  it('418 IP ban "banned until" → RateLimitExceeded until that time', async () => {
    const until = T0 + 120_000;
    r = await rig('binance', { 'GET /api/v3/ticker/24hr': reply(418, { code: -1003, msg: `Way too much request weight used; IP banned until ${until}. Please use WebSocket Streams for live updates to avoid bans.` }) });
    const e = await caught(r.ex.fetchTicker('BTC/USDT'));
    expect(e).toBeInstanceOf(RateLimitExceeded);
    expect((e as RateLimitExceeded).retryAfterMs).toBe(120_000);
    expect(r.ex.limiter.bannedUntil()).toBe(until);
  });

  it('503 → ExchangeNotAvailable (retryable); 502 from a gateway → outcome unknown', async () => {
    r = await rig('binance', {
      'GET /api/v3/account': reply(503, 'Service Unavailable'),
      'POST /api/v3/order': reply(502, '<html>Bad Gateway</html>'),
    });
    const e = await caught(r.ex.fetchBalance());
    expect(e).toBeInstanceOf(ExchangeNotAvailable);
    expect(retryable(e)).toBe(true);
    expect(outcomeUnknown(e)).toBe(false);
    const g = await caught(r.ex.createOrder(order));
    expect(g).toBeInstanceOf(ExchangeNotAvailable);
    expect(outcomeUnknown(g)).toBe(true);
  });

  it('a hung request → RequestTimeout (outcome unknown) after the client timeout; no signed URL in the message', async () => {
    r = await rig('binance', { 'POST /api/v3/order': { hang: true } }, { timeoutMs: 300 });
    const e = await caught(r.ex.createOrder(order));
    expect(e).toBeInstanceOf(RequestTimeout);
    expect(outcomeUnknown(e)).toBe(true);
    const msg = (e as Error).message;
    expect(msg).toMatch(/timed out/);
    expect(msg).not.toMatch(/signature=[0-9a-f]/);
    expect(containsCanary(msg)).toBe(false);
  });
});
