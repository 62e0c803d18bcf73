/** ExchangeSnapshotSource: a core Snapshot from Exchange ports by REST polling, every input stamped with its time. */
import { afterEach, describe, expect, it } from 'vitest';
import { SimExchange } from '../../src/adapters/sim/exchange.js';
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import { plan } from '../../src/core/planner.js';
import { OnMaintenance } from '../../src/ports/errors.js';
import { ExchangeSnapshotSource } from '../../src/service/sim-source.js';
import { MIN, PERP, quietly, SPOT, T0, world, type World } from '../execution/helpers.js';

let w: World;
afterEach(() => w?.cleanup());

describe('ExchangeSnapshotSource', () => {
  it('reads balances, positions, prices, marks, funding and market rules, each stamped with its time', async () => {
    w = world();
    w.feed.pushFunding(PERP, T0 + 8 * 3_600_000, 0.0001);
    await quietly(w.sim, () => w.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 0.1, clientOrderId: 'h' }));
    w.clock.advance(30_000);
    const snap = await w.source().take();
    expect(snap.time).toBe(T0 + 30_000);
    expect(snap.prices).toEqual({ BTC: 58_000 });
    expect(snap.marks).toEqual({ [PERP]: 58_000 });
    expect(snap.funding[PERP]).toEqual({ rate: 0.0001, intervalHours: 8 });
    expect(snap.accounts).toHaveLength(1);
    expect(snap.accounts[0]!.balances).toMatchObject({ BTC: 1 });
    expect(snap.accounts[0]!.positions).toMatchObject([{ symbol: PERP, contracts: -0.1, entryPrice: 58_000, leverage: 3, marginMode: 'cross' }]);
    expect(snap.markets[SPOT]).toEqual({ amountStep: 0.001, minAmount: 0.001, minNotional: 5, priceStep: 0.01, contractSize: 1 });
    expect(snap.markets[PERP]).toMatchObject({ amountStep: 0.001, contractSize: 1, maintenanceMarginRate: 0.004 });
    expect(snap.timestamps).toEqual({
      BTC: T0, // the bar's time, not the call's
      [PERP]: T0,
      [`funding:${PERP}`]: T0 + 30_000,
      'balances:main': T0 + 30_000,
      'positions:main': T0 + 30_000,
    });
  });

  it('feeds the planner: the seed example plans a $8,000 sale from the snapshot', async () => {
    w = world();
    const snap = await w.source().take();
    const p = plan(w.portfolio, snap, { now: w.clock.now(), state: 'ACTIVE' });
    expect(p.status).toBe('ok');
    expect(p.actions).toMatchObject([{ type: 'spot', symbol: SPOT, side: 'sell', amount: 0.137 }]);
  });

  it('merges several accounts (the freshest price wins) and propagates venue errors', async () => {
    w = world();
    const feed2 = new ArrayFeed();
    for (let t = T0 - 5 * MIN; t <= T0 + 10 * MIN; t += MIN) feed2.pushBar(SPOT, { time: t, open: 58_100, high: 58_200, low: 58_000, close: 58_100, volume: 1e6 });
    const sim2 = new SimExchange(
      { id: 'sim2', quote: 'USDT', balances: { USDT: 1_000, BTC: 0.5 }, markets: [{ symbol: SPOT, type: 'spot', base: 'BTC', amountStep: 0.001, priceStep: 0.01 }] },
      { feed: feed2, clock: w.clock },
    );
    const src = new ExchangeSnapshotSource({
      accounts: [
        { name: 'main', exchange: w.venue },
        { name: 'second', exchange: sim2 },
      ],
      clock: w.clock,
      quote: 'USDT',
      portfolio: w.portfolio,
    });
    const snap = await src.take();
    expect(snap.accounts.map((a) => a.name)).toEqual(['main', 'second']);
    expect(snap.accounts[1]!.balances).toEqual({ USDT: 1_000, BTC: 0.5 });
    expect(snap.timestamps!['balances:second']).toBe(T0);
    expect(snap.prices['BTC']).toBe(58_000); // same bar time: the first account's price is kept
    sim2.faults.addMaintenance({ from: T0, to: T0 + MIN });
    await expect(src.take()).rejects.toThrow(OnMaintenance);
    await src.close();
  });
});
