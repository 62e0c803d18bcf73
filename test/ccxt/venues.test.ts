/**
 * ballast's real ccxt client (createCcxtClient + CcxtExchange, ccxt 4.5) against the venues' own
 * recorded replies (test/fixtures/venues/, sources in its README), with only the HTTP transport
 * replaced (ccxt `fetchImplementation`). One block per numbered item of issue 15; each test fails
 * without its fix.
 */
import ccxt from 'ccxt';
import { describe, expect, it } from 'vitest';
import { checkKeyPermissions, UnverifiedKeyError, WithdrawalPermissionError } from '../../src/adapters/keys.js';
import { ExchangeNotAvailable, InvalidOrder, RateLimitExceeded } from '../../src/ports/errors.js';
import { caught, T0 } from './helpers.js';
import { rec, recorded, venueRig, type VenueReply } from './venue-replay.js';

type Errors = Record<string, VenueReply>;
const errorReply = (venue: string, name: string): VenueReply => recorded<Errors>(venue, 'errors')[name]!;
/** Bybit's v5 list envelope around recorded rows. */
const bybitList = (rows: unknown[]) => ({ body: { retCode: 0, retMsg: 'OK', result: { nextPageCursor: '', category: 'linear', list: rows }, retExtInfo: {}, time: T0 } });

describe('what already worked, on recorded replies', () => {
  it('binance: balances summed over the spot and USDⓈ-M wallets, kept apart per wallet', async () => {
    const r = venueRig('binance', { 'GET /api/v3/account': rec('binance', 'account-spot'), 'GET /fapi/v3/account': rec('binance', 'account-futures') });
    const b = await r.ex.fetchBalance();
    expect(b.total).toEqual({ LTC: 0.919741, ETH: 0.02229833, USDT: 31.022612 });
    expect(b.free).toEqual(b.total);
    expect(r.ex.walletBalances).toEqual([
      { wallet: 'spot', total: { LTC: 0.919741, ETH: 0.02229833 } },
      { wallet: 'usdm-futures', total: { USDT: 31.022612 } },
    ]);
  });

  it('binance: a one-way position (positionSide BOTH) signed by side', async () => {
    const r = venueRig('binance', { 'GET /fapi/v1/leverageBracket': rec('binance', 'leverageBracket'), 'GET /fapi/v2/positionRisk': rec('binance', 'positionRisk') });
    const [p, ...rest] = await r.ex.fetchPositions();
    expect(rest).toEqual([]);
    expect(p).toMatchObject({ symbol: 'BTC/USDT:USDT', side: 'long', contracts: 0.009, markPrice: 67502.68519858, liquidationPrice: 64846.9875379 });
  });
});

describe('orders by client id, on a recorded reply', () => {
  it('binance futures: our id is sent as newClientOrderId; the recorded NEW order comes back open', async () => {
    const r = venueRig('binance', { 'POST /fapi/v1/order': rec('binance', 'order-futures-new') });
    const o = await r.ex.createOrder({ symbol: 'BTC/USDT:USDT', type: 'limit', side: 'sell', amount: 0.2, price: 110_001, clientOrderId: 'reb1-L0-s0-a0' });
    expect(r.replay.calls('/fapi/v1/order')[0]!.body).toMatchObject({ symbol: 'BTCUSDT', side: 'SELL', type: 'LIMIT', quantity: '0.2', price: '110001', newClientOrderId: 'reb1-L0-s0-a0' });
    expect(o).toMatchObject({ id: '4087922044', status: 'open', amount: 0.2, price: 110_001, filled: 0, timestamp: 1739781831932 });
  });
});

describe('2. hedge (long/short) position mode is read at start and refused', () => {
  it('binance: GET /fapi/v1/positionSide/dual', async () => {
    const r = venueRig('binance', { 'GET /fapi/v1/positionSide/dual': rec('binance', 'positionSide-dual-hedge') });
    expect(await r.ex.fetchPositionMode()).toMatchObject({ mode: 'hedge', detail: 'positionSide/dual: dualSidePosition = true' });
    r.replay.routes['GET /fapi/v1/positionSide/dual'] = rec('binance', 'positionSide-dual-oneway');
    expect((await r.ex.fetchPositionMode()).mode).toBe('one-way');
  });

  it('okx: posMode from the account config (long_short_mode = hedge, net_mode = one-way)', async () => {
    const r = venueRig('okx', { 'GET /api/v5/account/config': rec('okx', 'account-config-hedge-withdraw') });
    expect(await r.ex.fetchPositionMode()).toMatchObject({ mode: 'hedge', detail: 'account config: posMode = long_short_mode' });
    r.replay.routes['GET /api/v5/account/config'] = rec('okx', 'account-config-tradeonly');
    expect((await r.ex.fetchPositionMode()).mode).toBe('one-way');
  });

  it('bybit: positionIdx 1 / 2 is a hedge-mode leg: positions are refused instead of read as two', async () => {
    const oneWay = recorded<{ result: { list: Record<string, unknown>[] } }>('bybit', 'position-list');
    const hedged = structuredClone(oneWay);
    hedged.result.list[0]!['positionIdx'] = 1; // a long leg of a hedge-mode account (the recorded row says 0)
    const r = venueRig('bybit', { 'GET /v5/position/list': { body: hedged }, 'GET /v5/account/info': { body: { retCode: 0, retMsg: 'OK', result: { marginMode: 'REGULAR_MARGIN' }, time: T0 } } });
    expect((await r.ex.fetchPositionMode()).mode).toBe('hedge');
    expect(String(await caught(r.ex.fetchPositions()))).toMatch(/hedge \(long\/short\) position mode .* one-way/);
    r.replay.routes['GET /v5/position/list'] = { body: oneWay };
    expect((await r.ex.fetchPositionMode()).mode).toBe('one-way');
    expect((await r.ex.fetchPositions()).map((p) => [p.symbol, p.contracts])).toEqual([['ETH/USDT:USDT', 0.5]]);
  });

  it('orders refused for the position mode map to InvalidOrder naming the setting (binance -4061, bybit 10001, okx 51000)', async () => {
    const order = { side: 'buy' as const, type: 'limit' as const, amount: 0.01, clientOrderId: 'reb1L0s0a0' };
    const b = venueRig('binance', { 'POST /fapi/v1/order': errorReply('binance', 'position-side-4061') });
    const eb = await caught(b.ex.createOrder({ ...order, symbol: 'BTC/USDT:USDT', price: 60_000 }));
    expect(eb).toBeInstanceOf(InvalidOrder);
    expect(String(eb)).toMatch(/position mode .*One-way/);
    const y = venueRig('bybit', { 'POST /v5/order/create': errorReply('bybit', 'position-idx-10001') });
    const ey = await caught(y.ex.createOrder({ ...order, symbol: 'BTC/USDT:USDT', price: 60_000 }));
    expect(ey).toBeInstanceOf(InvalidOrder);
    expect(String(ey)).toMatch(/position mode/);
    const o = venueRig('okx', { 'POST /api/v5/trade/batch-orders': errorReply('okx', 'posside-51000') });
    const eo = await caught(o.ex.createOrder({ ...order, amount: 1, symbol: 'BTC/USDT:USDT', price: 60_000 }));
    expect(eo).toBeInstanceOf(InvalidOrder);
    expect(String(eo)).toMatch(/position mode .*net_mode/);
  });
});

describe('3. OKX margin tiers are in contracts', () => {
  it('maxSz 500 contracts × 0.01 BTC × mark = notional bound, not $500', async () => {
    const r = venueRig('okx', { 'GET /api/v5/public/position-tiers': rec('okx', 'position-tiers'), 'GET /api/v5/public/mark-price': rec('okx', 'mark-price') }, { symbols: ['BTC/USDT:USDT'] });
    const m = await r.ex.loadMarkets();
    const tier = m['BTC/USDT:USDT']!.tiers![0]!;
    expect(tier.maxNotional).toBeCloseTo(500 * 0.01 * 2403.98, 6); // 12,019.9 at the recorded mark
    expect(tier).toMatchObject({ maintenanceMarginRate: 0.03, maxLeverage: 10 });
    expect(r.replay.calls('/position-tiers')[0]!.query).toMatchObject({ instType: 'SWAP', uly: 'BTC-USDT' });
  });
});

describe('4. Bybit funding sign', () => {
  it('execFee is a fee (> 0 paid): the recorded −0.10232512 is RECEIVED, on a long of 0.98', async () => {
    const r = venueRig('bybit', { 'GET /v5/execution/list': bybitList([recorded('bybit', 'execution-funding')]) });
    const [f] = await r.ex.fetchFundingHistory();
    expect(f).toMatchObject({ symbol: 'XMRUSDT', // not a market of the fixture: ccxt keeps the venue id
      amount: 0.10232512, rate: -0.000761, contracts: 0.98, markPrice: 136.79 });
    expect(r.replay.calls('/v5/execution/list')[0]!.query).toMatchObject({ execType: 'Funding', category: 'linear' });
  });
});

describe('5. Binance funding interval from /fapi/v1/fundingInfo', () => {
  it('a listed symbol gets its fundingIntervalHours; an unlisted one the default 8 h', async () => {
    const documented = recorded<Record<string, unknown>[]>('binance', 'fundingInfo-documented');
    // Binance's documented reply lists BLZUSDT; the same entry for BTCUSDT (a market of the fixture).
    const listed = [...documented, { ...documented[0]!, symbol: 'BTCUSDT' }];
    const premium = recorded<Record<string, unknown>>('binance', 'premiumIndex-BTCUSDT');
    const r = venueRig('binance', {
      'GET /fapi/v1/fundingInfo': { body: listed },
      'GET /fapi/v1/premiumIndex': (q) => ({ body: { ...premium, symbol: q.query['symbol'] } }),
    });
    expect(await r.ex.fetchFundingRate('BTC/USDT:USDT')).toMatchObject({ fundingRate: 0.00063521, intervalMs: 4 * 3_600_000, markPrice: 45802.81129892 });
    expect((await r.ex.fetchFundingRate('ETH/USDT:USDT')).intervalMs).toBe(8 * 3_600_000);
    expect(r.replay.calls('/fapi/v1/fundingInfo')).toHaveLength(1); // cached
    expect(await r.ex.fetchFundingIntervals(['BTC/USDT:USDT', 'ETH/USDT:USDT'])).toEqual({ 'BTC/USDT:USDT': 4 * 3_600_000, 'ETH/USDT:USDT': 8 * 3_600_000 });
  });
});

describe('6. Binance useV2 stays out of /fapi/v1/leverageBracket', () => {
  it('positionRisk V2 is chosen through ccxt options; the brackets request carries no unknown parameter', async () => {
    const r = venueRig('binance', {
      'GET /fapi/v1/leverageBracket': (q) => ('useV2' in q.query ? errorReply('binance', 'unread-params-1104') : rec('binance', 'leverageBracket')),
      'GET /fapi/v2/positionRisk': rec('binance', 'positionRisk'),
    });
    expect(await r.ex.fetchPositions()).toHaveLength(1);
    expect(r.replay.calls('/fapi/v1/leverageBracket')[0]!.query).not.toHaveProperty('useV2');
    expect(r.replay.calls('/fapi/v2/positionRisk')).toHaveLength(1);
  });
});

describe('7. Bybit HTTP 403 (access too frequent) bans the key for 10 minutes', () => {
  it('RateLimitExceeded with 600 s, and the limiter refuses every call until then', async () => {
    const r = venueRig('bybit', { 'GET /v5/market/tickers': errorReply('bybit', 'too-frequent-403') });
    const e = await caught(r.ex.fetchTicker('BTC/USDT:USDT'));
    expect(e).toBeInstanceOf(RateLimitExceeded);
    expect((e as RateLimitExceeded).retryAfterMs).toBe(600_000);
    expect(r.ex.limiter.bannedUntil()).toBe(T0 + 600_000);
    expect(r.ex.rateLimitHeadroom().bannedUntil).toBe(T0 + 600_000);
  });
});

describe('8. clock drift', () => {
  it('binance: the offset is measured, signatures use the venue time, and a -1021 re-measures it', async () => {
    let serverTime = T0 + 9_000;
    let refuse = true;
    const r = venueRig('binance', {
      'GET /api/v3/time': () => ({ body: { serverTime } }),
      'GET /api/v3/account': () => (refuse ? errorReply('binance', 'timestamp-1021') : rec('binance', 'account-spot')),
      'GET /fapi/v3/account': rec('binance', 'account-futures'),
    });
    expect(r.client.options['adjustForTimeDifference']).toBe(true);
    // the first signed call is refused: re-measure, and say so
    const e = await caught(r.ex.fetchBalance());
    expect(e).toBeInstanceOf(ExchangeNotAvailable);
    expect(String(e)).toMatch(/clock skew: .*re-measured: -9000 ms/);
    expect(r.ex.clockSkewMs).toBe(-9_000);
    refuse = false;
    await r.ex.fetchBalance();
    const signed = r.replay.calls('/api/v3/account').at(-1)!;
    expect(Number(signed.query['timestamp'])).toBe(T0 + 9_000); // local clock + the venue's lead
    serverTime = T0 - 2_000;
    expect(await r.ex.syncClock()).toBe(2_000);
  });

  it('bybit 10002 and okx 50102 are clock errors too (not a generic bad request)', async () => {
    const y = venueRig('bybit', { 'GET /v5/account/wallet-balance': errorReply('bybit', 'timestamp-10002'), 'GET /v5/market/time': { body: { retCode: 0, retMsg: 'OK', result: { timeSecond: String((T0 + 9_000) / 1000), timeNano: `${(T0 + 9_000) * 1e6}` }, time: T0 + 9_000 } } });
    const ey = await caught(y.ex.fetchBalance());
    expect(ey).toBeInstanceOf(ExchangeNotAvailable);
    expect(String(ey)).toMatch(/clock skew/);
    const o = venueRig('okx', { 'GET /api/v5/account/balance': errorReply('okx', 'timestamp-50102'), 'GET /api/v5/public/time': { body: { code: '0', msg: '', data: [{ ts: String(T0 + 9_000) }] } } });
    const eo = await caught(o.ex.fetchBalance());
    expect(eo).toBeInstanceOf(ExchangeNotAvailable);
    expect(String(eo)).toMatch(/clock skew/);
    expect(o.ex.clockSkewMs).toBe(-9_000);
  });
});

describe('9. Bybit liquidation and ADL fills', () => {
  it('BustTrade / AdlTrade executions are asked for too and come back as liquidation fills', async () => {
    const bust = recorded<{ result: { list: Record<string, unknown>[] } }>('bybit', 'execution-bust').result.list[0]!;
    // ccxt's recorded liquidation row, on a market of the fixture and with the execType it was asked for
    const row = { ...bust, symbol: 'ETHUSDT', execType: 'BustTrade' };
    const r = venueRig('bybit', { 'GET /v5/execution/list': (q) => bybitList(q.query['execType'] === 'BustTrade' ? [row] : []) });
    const trades = await r.ex.fetchMyTrades('ETH/USDT:USDT');
    expect(trades).toHaveLength(1);
    expect(trades[0]).toMatchObject({ symbol: 'ETH/USDT:USDT', side: 'buy', price: 1190.15, amount: 0.1, liquidation: true, clientOrderId: null });
    expect(r.replay.calls('/v5/execution/list').map((c) => c.query['execType'])).toEqual(['Trade', 'BustTrade', 'AdlTrade']);
  });
});

describe('10. key rights fail closed; transfer rights reported', () => {
  it('binance: withdraw refused; trade-only verified with its transfer rights', async () => {
    const r = venueRig('binance', { 'GET /sapi/v1/account/apiRestrictions': rec('binance', 'apiRestrictions-withdraw') });
    expect(await caught(checkKeyPermissions(r.ex))).toBeInstanceOf(WithdrawalPermissionError);
    r.replay.routes['GET /sapi/v1/account/apiRestrictions'] = rec('binance', 'apiRestrictions-tradeonly');
    const ok = await checkKeyPermissions(r.ex);
    expect(ok).toMatchObject({ verified: true, canTransfer: false });
    expect(ok.detail).toMatch(/enableInternalTransfer = false, permitsUniversalTransfer = false/);
  });

  it('bybit: a transfer right is reported; an answer without Wallet rights is refused unless allowed', async () => {
    const r = venueRig('bybit', { 'GET /v5/user/query-api': rec('bybit', 'query-api-tradeonly') });
    expect(await checkKeyPermissions(r.ex)).toMatchObject({ verified: true, canTransfer: true });
    const noWallet = structuredClone(recorded<{ result: { permissions: Record<string, unknown> } }>('bybit', 'query-api-tradeonly'));
    delete noWallet.result.permissions['Wallet'];
    r.replay.routes['GET /v5/user/query-api'] = { body: noWallet };
    expect(await caught(checkKeyPermissions(r.ex))).toBeInstanceOf(UnverifiedKeyError);
    expect(await checkKeyPermissions(r.ex, { allowUnverified: true })).toMatchObject({ verified: false });
  });

  it('okx: perm read_only,withdraw,trade is refused', async () => {
    const r = venueRig('okx', { 'GET /api/v5/account/config': rec('okx', 'account-config-hedge-withdraw') });
    expect(await caught(checkKeyPermissions(r.ex))).toBeInstanceOf(WithdrawalPermissionError);
  });
});

describe('11. smaller', () => {
  it('binance "Filter failure: NOTIONAL" (-1013) keeps its reason', async () => {
    const r = venueRig('binance', { 'POST /api/v3/order': errorReply('binance', 'filter-notional-1013') });
    const e = await caught(r.ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 0.001, price: 60_000, clientOrderId: 'reb1L0s0a0' }));
    expect(e).toBeInstanceOf(InvalidOrder);
    expect((e as InvalidOrder).reason).toBe('min-notional');
  });

  it('a spot market order below the minimum notional is refused before sending', async () => {
    const r = venueRig('binance', { 'GET /api/v3/ticker/24hr': rec('binance', 'ticker-24hr-BTCUSDT') });
    const e = await caught(r.ex.createOrder({ symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 0.00005, clientOrderId: 'reb1L0s0a0' }));
    expect(e).toBeInstanceOf(InvalidOrder);
    expect((e as InvalidOrder).reason).toBe('min-notional');
    expect(String(e)).toMatch(/notional ≈ 3\.668492 \(at 73369\.84\) is below the minimum 5/);
    expect(r.replay.calls('/api/v3/order')).toEqual([]);
  });

  it('fetchCurrencies is off on every venue through `has` (ccxt reads options.fetchCurrencies on binance only)', async () => {
    for (const venue of ['binance', 'bybit', 'okx'] as const) {
      const r = venueRig(venue, {});
      expect(r.client.has['fetchCurrencies']).toBe(false);
    }
    const plain = new ccxt.bybit();
    expect(plain.has['fetchCurrencies']).toBe(true);
  });
});
