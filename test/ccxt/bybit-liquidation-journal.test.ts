/**
 * Issue 15, item 9, end to end: a Bybit liquidation fill (execType BustTrade — ccxt's recorded row,
 * see test/fixtures/venues/README.md) reaches the journal through the reconciler's trade sweep as an
 * external liquidation fill and halts trading. Before the fix ccxt asked for execType=Trade only, so
 * the fill never arrived.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import { Reconciler } from '../../src/execution/reconcile.js';
import { OrderTracker } from '../../src/execution/tracker.js';
import { recorded, venueRig } from './venue-replay.js';

const dirs: string[] = [];
const closers: (() => void)[] = [];
afterEach(() => {
  for (const c of closers.splice(0)) c();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const list = (rows: unknown[]) => ({ body: { retCode: 0, retMsg: 'OK', result: { nextPageCursor: '', category: 'linear', list: rows }, retExtInfo: {}, time: 0 } });

describe('bybit liquidation → journal', () => {
  it('the BustTrade fill is journaled as an external liquidation and trading is HALTED', async () => {
    const bust = recorded<{ result: { list: Record<string, unknown>[] } }>('bybit', 'execution-bust').result.list[0]!;
    const row = { ...bust, symbol: 'ETHUSDT', execType: 'BustTrade' };
    const liqTime = Number(bust['execTime']);
    let liquidated = false;
    const r = venueRig(
      'bybit',
      {
        // account reads of the reconciler (envelopes of Bybit's v5 replies, minimal content)
        'GET /v5/account/wallet-balance': { body: { retCode: 0, retMsg: 'OK', result: { list: [{ accountType: 'UNIFIED', coin: [{ coin: 'USDT', walletBalance: '1000', locked: '0', totalOrderIM: '0', totalPositionIM: '0' }] }] }, time: 0 } },
        'GET /v5/account/info': { body: { retCode: 0, retMsg: 'OK', result: { marginMode: 'REGULAR_MARGIN' }, time: 0 } },
        'GET /v5/position/list': { body: recorded('bybit', 'position-list') },
        'GET /v5/order/realtime': list([]),
        'GET /v5/order/history': list([]),
        'GET /v5/execution/list': (q) => list(liquidated && q.query['execType'] === 'BustTrade' ? [row] : []),
      },
      { now: liqTime - 120_000, symbols: ['ETH/USDT:USDT'] },
    );
    const dir = mkdtempSync(join(tmpdir(), 'ballast-liq-'));
    dirs.push(dir);
    const journal = new SqliteJournal(join(dir, 'journal.db'), { clock: r.clock, lockStaleMs: 10_000 });
    closers.push(() => journal.close());
    const sleep = async (ms: number) => r.clock.advance(ms);
    const venues = { main: r.ex };
    const tracker = new OrderTracker({ journal, venues, clock: r.clock, sleep });
    const rec = new Reconciler({ journal, venues, tracker, clock: r.clock, sleep }, { symbols: { main: ['ETH/USDT:USDT'] }, quote: 'USDT' });

    expect((await rec.reconcileAccount('main')).baseline).toBe(true);
    expect(journal.tradingState().state).toBe('ACTIVE');

    r.clock.advance(180_000);
    liquidated = true;
    const report = await rec.reconcileAccount('main');
    expect(report.externalFills).toHaveLength(1);
    const fills = journal.fills();
    expect(fills).toHaveLength(1);
    expect(fills[0]).toMatchObject({ account: 'main', symbol: 'ETH/USDT:USDT', side: 'buy', amount: 0.1, price: 1190.15, liquidation: true, external: true, clientOrderId: null, time: liqTime });
    expect(journal.tradingState()).toMatchObject({ state: 'HALTED', by: 'reconciler' });
    expect(journal.tradingState().reason).toMatch(/external fill \(liquidation\): buy 0\.1 ETH\/USDT:USDT at 1190\.15/);
    expect(r.replay.calls('/v5/execution/list').map((c) => c.query['execType'])).toEqual(expect.arrayContaining(['Trade', 'BustTrade', 'AdlTrade', 'Funding']));
  });
});
