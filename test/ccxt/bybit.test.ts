/** Bybit (unified trading account, spot + USDT perpetuals) through CcxtExchange, offline. */
import { afterEach, describe, expect, it } from 'vitest';
import { DuplicateOrderId, InsufficientFunds, InvalidOrder, NotSupported, OrderNotFound, RateLimitExceeded } from '../../src/ports/errors.js';
import { body } from './replay.js';
import { caught, rig, T0, type Rig } from './helpers.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

const err = (retCode: number, retMsg: string) => ({ body: { retCode, retMsg, result: {}, retExtInfo: {}, time: T0 } });

describe('bybit', () => {
  it('maps markets (qtyStep, tickSize, minNotionalValue, 8 h funding interval from the instrument)', async () => {
    r = await rig('bybit', {});
    const m = await r.ex.loadMarkets();
    expect(m['BTC/USDT']).toMatchObject({ amountStep: 0.000001, priceStep: 0.01, minAmount: 0.000048, minNotional: 1, contractSize: 1 });
    expect(m['ETH/USDT:USDT']).toMatchObject({ amountStep: 0.01, priceStep: 0.01, minAmount: 0.01, minNotional: 5, maxLeverage: 100, maintenanceMarginRate: 0.01 });
  });

  it('balances from the unified wallet: wallet balance, used = locked + order IM + position IM', async () => {
    r = await rig('bybit', { 'GET /v5/account/wallet-balance': body('bybit', 'wallet-balance') });
    const b = await r.ex.fetchBalance();
    expect(b.total).toEqual({ USDT: 20_000, BTC: 0.15 });
    expect(b.used).toEqual({ USDT: 1_940, BTC: 0.01 });
    expect(b.free).toEqual({ USDT: 18_060, BTC: 0.14 });
    expect(r.server.calls('/v5/account/wallet-balance')[0]!.query['accountType']).toBe('UNIFIED');
  });

  it('positions signed by side (Sell = short); margin mode from the account (unified: one mode for all)', async () => {
    r = await rig('bybit', { 'GET /v5/position/list': body('bybit', 'position-list'), 'GET /v5/account/info': body('bybit', 'account-info') });
    const ps = await r.ex.fetchPositions();
    expect(ps.map((p) => [p.symbol, p.side, p.contracts, p.notional, p.leverage, p.marginMode])).toEqual([
      ['BTC/USDT:USDT', 'long', 0.1, 6_700, 5, 'cross'],
      ['ETH/USDT:USDT', 'short', -2, -7_000, 10, 'cross'],
    ]);
    expect(ps[1]!.liquidationPrice).toBe(4180.25);
    expect(r.server.calls('/v5/position/list')[0]!.query).toMatchObject({ category: 'linear', settleCoin: 'USDT' });
    const isolated = structuredClone(body('bybit', 'account-info').body) as { result: { marginMode: string } };
    isolated.result.marginMode = 'ISOLATED_MARGIN';
    r.server.routes['GET /v5/account/info'] = { body: isolated };
    expect((await r.ex.fetchPositions(['ETH/USDT:USDT'])).map((p) => [p.contracts, p.marginMode])).toEqual([[-2, 'isolated']]);
    expect(r.server.calls('/v5/position/list')[1]!.query['symbol']).toBe('ETHUSDT');
  });

  it('ticker with mark price from the linear tickers; funding interval from the instrument (480 min)', async () => {
    r = await rig('bybit', { 'GET /v5/market/tickers': body('bybit', 'tickers-linear') });
    // Bybit's tickers carry no per-ticker time: the reply time (adapter clock) stands in.
    expect(await r.ex.fetchTicker('BTC/USDT:USDT')).toEqual({ symbol: 'BTC/USDT:USDT', timestamp: T0, bid: 67040, ask: 67040.1, last: 67040.1, markPrice: 67045.12 });
    const f = await r.ex.fetchFundingRate('BTC/USDT:USDT');
    expect(f).toMatchObject({ fundingRate: 0.0001, fundingTimestamp: 1718006400000, intervalMs: 8 * 3_600_000, markPrice: 67045.12 });
  });

  it('creates with orderLinkId; the ids-only reply becomes the accepted order as sent', async () => {
    r = await rig('bybit', { 'POST /v5/order/create': body('bybit', 'order-create') });
    const o = await r.ex.createOrder({ symbol: 'BTC/USDT:USDT', type: 'limit', side: 'buy', amount: 0.01, price: 60_000, clientOrderId: 'reb1-L0-s0-a0' });
    expect(o).toMatchObject({ id: '1321003749386327552', clientOrderId: 'reb1-L0-s0-a0', status: 'open', filled: 0, remaining: 0.01, price: 60_000, timestamp: T0 });
    const sent = r.server.calls('/v5/order/create')[0]!.form;
    expect(sent).toMatchObject({ category: 'linear', symbol: 'BTCUSDT', side: 'Buy', orderType: 'Limit', qty: '0.01', price: '60000', orderLinkId: 'reb1-L0-s0-a0' });
  });

  it('fetches by orderLinkId: open orders first, then history; OrderNotFound when neither knows it', async () => {
    r = await rig('bybit', {
      'GET /v5/order/realtime': (q) => body('bybit', q.query['orderLinkId'] === 'reb1-L0-s0-a0' ? 'order-realtime' : 'order-empty'),
      'GET /v5/order/history': body('bybit', 'order-empty'),
    });
    const o = await r.ex.fetchOrder({ clientOrderId: 'reb1-L0-s0-a0' }, 'BTC/USDT:USDT');
    expect(o).toMatchObject({ id: '1321003749386327552', clientOrderId: 'reb1-L0-s0-a0', status: 'open', filled: 0.004, remaining: 0.006, average: 60_000 });
    expect(await caught(r.ex.fetchOrder({ clientOrderId: 'unknown-1' }, 'BTC/USDT:USDT'))).toBeInstanceOf(OrderNotFound);
    expect(r.server.calls('/v5/order/history')).toHaveLength(1);
  });

  it('cancels by orderLinkId and reads the order back', async () => {
    r = await rig('bybit', {
      'POST /v5/order/cancel': body('bybit', 'order-create'),
      'GET /v5/order/realtime': () => {
        const b = structuredClone(body('bybit', 'order-realtime').body) as { result: { list: Array<Record<string, string>> } };
        b.result.list[0]!['orderStatus'] = 'Cancelled';
        return { body: b };
      },
    });
    const c = await r.ex.cancelOrder({ clientOrderId: 'reb1-L0-s0-a0' }, 'BTC/USDT:USDT');
    expect(c).toMatchObject({ status: 'canceled', filled: 0.004 });
    expect(r.server.calls('/v5/order/cancel')[0]!.form).toMatchObject({ orderLinkId: 'reb1-L0-s0-a0', category: 'linear' });
  });

  it('cancel accepted but the read-back fails: the last state seen, canceled; never seen: the read error', async () => {
    r = await rig('bybit', {
      'POST /v5/order/create': body('bybit', 'order-create'),
      'POST /v5/order/cancel': body('bybit', 'order-create'),
      'GET /v5/order/realtime': { status: 503, body: 'Service Unavailable' },
    });
    r.clock.advance(5_000);
    const placed = await r.ex.createOrder({ symbol: 'BTC/USDT:USDT', type: 'limit', side: 'buy', amount: 0.01, price: 60_000, clientOrderId: 'reb1-L0-s0-a0' });
    r.clock.advance(1_000);
    const c = await r.ex.cancelOrder({ clientOrderId: 'reb1-L0-s0-a0' }, 'BTC/USDT:USDT');
    expect(c).toMatchObject({ id: placed.id, clientOrderId: 'reb1-L0-s0-a0', status: 'canceled', filled: 0, remaining: 0, amount: 0.01, lastUpdateTimestamp: T0 + 6_000 });
    const { ExchangeNotAvailable } = await import('../../src/ports/errors.js');
    r.server.routes['POST /v5/order/cancel'] = { body: { retCode: 0, retMsg: 'OK', result: { orderId: '999', orderLinkId: 'other-1' }, retExtInfo: {}, time: T0 } };
    expect(await caught(r.ex.cancelOrder({ clientOrderId: 'other-1' }, 'BTC/USDT:USDT'))).toBeInstanceOf(ExchangeNotAvailable);
  });

  it('closed orders include canceled ones, filtered by last update ≥ since', async () => {
    r = await rig('bybit', {
      'GET /v5/order/history': () => {
        const b = structuredClone(body('bybit', 'order-realtime').body) as { result: { list: Array<Record<string, string>> } };
        const first = b.result.list[0]!;
        b.result.list = [
          { ...first, orderStatus: 'Cancelled', updatedTime: '1718000090000' },
          { ...first, orderId: '1321003749386327999', orderLinkId: 'older', orderStatus: 'Filled', cumExecQty: '0.010', leavesQty: '0', updatedTime: '1717000000000' },
        ];
        return { body: b };
      },
    });
    const all = await r.ex.fetchClosedOrders('BTC/USDT:USDT');
    expect(all.map((o) => [o.clientOrderId, o.status])).toEqual([['older', 'closed'], ['reb1-L0-s0-a0', 'canceled']]);
    const recent = await r.ex.fetchClosedOrders('BTC/USDT:USDT', 1718000000000);
    expect(recent.map((o) => o.clientOrderId)).toEqual(['reb1-L0-s0-a0']);
  });

  it('trades: clientOrderId from orderLinkId, BustTrade flagged as liquidation', async () => {
    r = await rig('bybit', {
      'GET /v5/execution/list': body('bybit', 'execution-list'),
      'GET /v5/order/realtime': (q) => {
        if (q.query['orderId'] === '1321003749386327552') return body('bybit', 'order-realtime');
        const b = structuredClone(body('bybit', 'order-realtime').body) as { result: { list: Array<Record<string, unknown>> } };
        Object.assign(b.result.list[0]!, { orderId: q.query['orderId'], orderLinkId: '', orderType: 'Market', side: 'Sell', createType: 'CreateByLiq', orderStatus: 'Filled' });
        return { body: b };
      },
    });
    const t = await r.ex.fetchMyTrades('BTC/USDT:USDT');
    expect(t.map((x) => [x.order, x.clientOrderId, x.liquidation, x.takerOrMaker, x.amount])).toEqual([
      ['1321003749386327552', 'reb1-L0-s0-a0', false, 'maker', 0.004],
      ['5a9ffc52-2f5e-4a3f-9d8e-0c2b3e1d7f44', null, true, 'taker', 0.1],
    ]);
  });

  it('clientOrderId rules: letters, digits, _ and -, at most 36', async () => {
    r = await rig('bybit', {});
    const req = { symbol: 'BTC/USDT:USDT', type: 'limit', side: 'buy', amount: 0.01, price: 60_000 } as const;
    expect(await caught(r.ex.createOrder({ ...req, clientOrderId: 'a:b' }))).toBeInstanceOf(InvalidOrder);
    expect(await caught(r.ex.createOrder({ ...req, clientOrderId: 'x'.repeat(37) }))).toBeInstanceOf(InvalidOrder);
    expect(r.server.requests).toEqual([]);
  });

  it('errors: 110007 → InsufficientFunds, duplicate orderLinkId → DuplicateOrderId, 10006 → RateLimitExceeded with the reset header', async () => {
    r = await rig('bybit', { 'POST /v5/order/create': err(110007, 'ab not enough for new order') });
    const req = { symbol: 'BTC/USDT:USDT', type: 'limit', side: 'buy', amount: 0.01, price: 60_000, clientOrderId: 'c-1' } as const;
    expect(await caught(r.ex.createOrder(req))).toBeInstanceOf(InsufficientFunds);
    r.server.routes['POST /v5/order/create'] = err(110072, 'OrderLinkedID is duplicate');
    expect(await caught(r.ex.createOrder(req))).toBeInstanceOf(DuplicateOrderId);
    r.server.routes['POST /v5/order/create'] = { ...err(10006, 'Too many visits!'), headers: { 'X-Bapi-Limit-Reset-Timestamp': String(T0 + 1_500) } };
    const e = await caught(r.ex.createOrder(req));
    expect(e).toBeInstanceOf(RateLimitExceeded);
    expect((e as RateLimitExceeded).retryAfterMs).toBe(1_500);
  });

  it('margin mode is account-wide on the unified account: NotSupported, nothing sent', async () => {
    r = await rig('bybit', {});
    expect(await caught(r.ex.setMarginMode('isolated', 'BTC/USDT:USDT'))).toBeInstanceOf(NotSupported);
    expect(r.server.requests).toEqual([]);
  });
});
