/** OKX (trading account, spot + USDT swaps with contract sizes) through CcxtExchange, offline. */
import { afterEach, describe, expect, it } from 'vitest';
import { DuplicateOrderId, InsufficientFunds, InvalidOrder, OrderNotFound } from '../../src/ports/errors.js';
import { body } from './replay.js';
import { caught, rig, T0, type Rig } from './helpers.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

const okxErr = (code: string, msg: string, sCode?: string, sMsg?: string) => ({
  body: { code, msg, data: sCode ? [{ clOrdId: '', ordId: '', sCode, sMsg, tag: '', ts: String(T0) }] : [] },
});

describe('okx', () => {
  it('maps markets: contract size (ctVal) for swaps, lot and tick sizes', async () => {
    r = await rig('okx', {});
    const m = await r.ex.loadMarkets();
    expect(m['BTC/USDT']).toMatchObject({ amountStep: 1e-8, priceStep: 0.1, minAmount: 0.00001, minNotional: 0, contractSize: 1 });
    expect(m['BTC/USDT:USDT']).toMatchObject({ amountStep: 0.01, priceStep: 0.1, minAmount: 0.01, contractSize: 0.01, maxLeverage: 100 });
    expect(m['ETH/USDT:USDT']).toMatchObject({ contractSize: 0.1 });
  });

  it('balances: cash balance (no unrealised PnL), free = availBal', async () => {
    r = await rig('okx', { 'GET /api/v5/account/balance': body('okx', 'balance') });
    const b = await r.ex.fetchBalance();
    expect(b.total).toEqual({ USDT: 20_000, BTC: 0.15 });
    expect(b.free).toEqual({ USDT: 18_724.33, BTC: 0.14 });
    expect(b.used['USDT']).toBeCloseTo(1_275.67, 9);
  });

  it('positions in contracts, signed (net mode: negative pos = short); notional uses the contract size', async () => {
    r = await rig('okx', { 'GET /api/v5/account/positions': body('okx', 'positions') });
    const ps = await r.ex.fetchPositions();
    expect(ps.map((p) => [p.symbol, p.side, p.contracts, p.contractSize, p.notional, p.leverage, p.marginMode])).toEqual([
      ['BTC/USDT:USDT', 'long', 10, 0.01, 6_700, 5, 'cross'],
      ['ETH/USDT:USDT', 'short', -20, 0.1, -7_000, 10, 'isolated'],
    ]);
    expect(r.server.calls('/api/v5/account/positions')[0]!.query['instType']).toBe('SWAP');
  });

  it('ticker: bid/ask/last from the ticker, mark from the mark-price endpoint', async () => {
    r = await rig('okx', { 'GET /api/v5/market/ticker': body('okx', 'ticker'), 'GET /api/v5/public/mark-price': body('okx', 'mark-price') });
    expect(await r.ex.fetchTicker('BTC/USDT:USDT')).toEqual({ symbol: 'BTC/USDT:USDT', timestamp: 1717999998000, bid: 67040.1, ask: 67040.2, last: 67040.1, markPrice: 67045.1 });
  });

  it('funding: rate, next settlement, interval from fundingTime → nextFundingTime (4 h here)', async () => {
    r = await rig('okx', { 'GET /api/v5/public/funding-rate': body('okx', 'funding-rate') });
    const f = await r.ex.fetchFundingRate('BTC/USDT:USDT');
    expect(f).toMatchObject({ symbol: 'BTC/USDT:USDT', fundingRate: 0.0001, fundingTimestamp: 1718006400000, intervalMs: 4 * 3_600_000 });
  });

  it('creates with clOrdId (cross margin for swaps); the ids-only reply becomes the order as sent', async () => {
    // ccxt sends single orders through the batch endpoint.
    r = await rig('okx', { 'POST /api/v5/trade/batch-orders': body('okx', 'order-create') });
    const o = await r.ex.createOrder({ symbol: 'BTC/USDT:USDT', type: 'limit', side: 'buy', amount: 10, price: 60_000, clientOrderId: 'reb1L0s0a0' });
    expect(o).toMatchObject({ id: '1512873145016651776', clientOrderId: 'reb1L0s0a0', status: 'open', amount: 10, filled: 0 });
    expect(r.server.calls('/api/v5/trade/batch-orders')[0]!.form).toMatchObject({ instId: 'BTC-USDT-SWAP', clOrdId: 'reb1L0s0a0', tdMode: 'cross', side: 'buy', ordType: 'limit', sz: '10', px: '60000' });
  });

  it('margin mode travels with orders and leverage (tdMode / mgnMode); setMarginMode itself sends nothing', async () => {
    r = await rig('okx', {
      'POST /api/v5/trade/batch-orders': body('okx', 'order-create'),
      'POST /api/v5/account/set-leverage': { body: { code: '0', msg: '', data: [{ instId: 'BTC-USDT-SWAP', lever: '3', mgnMode: 'isolated', posSide: '' }] } },
    });
    await r.ex.setMarginMode('isolated', 'BTC/USDT:USDT');
    expect(r.server.requests).toEqual([]);
    await r.ex.setLeverage(3, 'BTC/USDT:USDT');
    expect(r.server.calls('/api/v5/account/set-leverage')[0]!.form).toMatchObject({ instId: 'BTC-USDT-SWAP', lever: '3', mgnMode: 'isolated' });
    await r.ex.createOrder({ symbol: 'BTC/USDT:USDT', type: 'limit', side: 'sell', amount: 1, price: 70_000, clientOrderId: 'iso1' });
    expect(r.server.calls('/api/v5/trade/batch-orders')[0]!.form).toMatchObject({ tdMode: 'isolated', clOrdId: 'iso1' });
  });

  it('clientOrderId rules: letters and digits only, at most 32 — the contract suite’s "ct-x-1" style is refused before sending', async () => {
    r = await rig('okx', {});
    const req = { symbol: 'BTC/USDT:USDT', type: 'limit', side: 'buy', amount: 10, price: 60_000 } as const;
    const e = await caught(r.ex.createOrder({ ...req, clientOrderId: 'reb1-L0-s0-a0' }));
    expect(e).toBeInstanceOf(InvalidOrder);
    expect((e as Error).message).toMatch(/not valid on okx: 1–32 letters and digits/);
    expect(await caught(r.ex.createOrder({ ...req, clientOrderId: 'a'.repeat(33) }))).toBeInstanceOf(InvalidOrder);
    expect(r.server.requests).toEqual([]);
  });

  it('fetches by clOrdId and maps fills with their clientOrderId', async () => {
    r = await rig('okx', { 'GET /api/v5/trade/order': body('okx', 'order'), 'GET /api/v5/trade/fills-history': body('okx', 'fills') });
    const o = await r.ex.fetchOrder({ clientOrderId: 'reb1L0s0a0' }, 'BTC/USDT:USDT');
    expect(o).toMatchObject({ id: '1512873145016651776', clientOrderId: 'reb1L0s0a0', status: 'open', filled: 4, remaining: 6, average: 60_000 });
    expect(r.server.calls('/api/v5/trade/order')[0]!.query).toMatchObject({ instId: 'BTC-USDT-SWAP', clOrdId: 'reb1L0s0a0' });
    const [t] = await r.ex.fetchMyTrades('BTC/USDT:USDT');
    expect(t).toMatchObject({ id: '744876980', order: '1512873145016651776', clientOrderId: 'reb1L0s0a0', takerOrMaker: 'maker', amount: 4, price: 60_000, liquidation: false });
    expect(t!.cost).toBeCloseTo(4 * 0.01 * 60_000, 9);
  });

  it('cancels by clOrdId and reads the order back; lists open orders per instrument type without a symbol', async () => {
    const canceled = () => {
      const b = structuredClone(body('okx', 'order').body) as { data: Array<Record<string, string>> };
      b.data[0]!['state'] = 'canceled';
      return { body: b };
    };
    r = await rig('okx', {
      'POST /api/v5/trade/cancel-order': { body: { code: '0', msg: '', data: [{ clOrdId: 'reb1L0s0a0', ordId: '1512873145016651776', sCode: '0', sMsg: '' }] } },
      'POST /api/v5/trade/cancel-batch-orders': { body: { code: '0', msg: '', data: [{ clOrdId: 'reb1L0s0a0', ordId: '1512873145016651776', sCode: '0', sMsg: '' }] } },
      'GET /api/v5/trade/order': canceled,
      'GET /api/v5/trade/orders-pending': (q) => (q.query['instType'] === 'SWAP' ? body('okx', 'order') : { body: { code: '0', msg: '', data: [] } }),
    });
    const c = await r.ex.cancelOrder({ clientOrderId: 'reb1L0s0a0' }, 'BTC/USDT:USDT');
    expect(c).toMatchObject({ id: '1512873145016651776', clientOrderId: 'reb1L0s0a0', status: 'canceled', filled: 4 });
    const sent = r.server.requests.find((q) => q.path.includes('cancel'))!;
    expect(sent.form).toMatchObject({ instId: 'BTC-USDT-SWAP', clOrdId: 'reb1L0s0a0' });
    const open = await r.ex.fetchOpenOrders();
    expect(open.map((o) => o.clientOrderId)).toEqual(['reb1L0s0a0']);
    expect(r.server.calls('/api/v5/trade/orders-pending').map((q) => q.query['instType'])).toEqual(['SPOT', 'SWAP']);
  });

  it('errors: 51008 → InsufficientFunds, 51016 duplicated clOrdId → DuplicateOrderId, 51603 → OrderNotFound', async () => {
    r = await rig('okx', { 'POST /api/v5/trade/batch-orders': okxErr('1', 'Operation failed.', '51008', 'Order failed. Insufficient USDT balance in account.') });
    const req = { symbol: 'BTC/USDT:USDT', type: 'limit', side: 'buy', amount: 10, price: 60_000, clientOrderId: 'c1' } as const;
    expect(await caught(r.ex.createOrder(req))).toBeInstanceOf(InsufficientFunds);
    r.server.routes['POST /api/v5/trade/batch-orders'] = okxErr('1', 'Operation failed.', '51016', 'Duplicated clOrdId');
    expect(await caught(r.ex.createOrder(req))).toBeInstanceOf(DuplicateOrderId);
    r.server.routes['GET /api/v5/trade/order'] = okxErr('51603', 'Order does not exist');
    expect(await caught(r.ex.fetchOrder({ clientOrderId: 'c1' }, 'BTC/USDT:USDT'))).toBeInstanceOf(OrderNotFound);
  });
});
