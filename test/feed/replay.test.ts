/**
 * The pieces together, without the executor: a replay venue over RPC, the LiveSnapshotSource on the
 * venue's clock (REST only), and the planner. Snapshots are valued and planned; a bar later they are
 * STALE for a 60 s limit, and fresh again when the limit covers one bar.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LiveSnapshotSource } from '../../src/adapters/feed/live.js';
import { parsePortfolio } from '../../src/adapters/files/portfolio.js';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import { replayVenueServer } from '../../src/adapters/venue/replay.js';
import { plan } from '../../src/core/planner.js';
import { tempDir } from '../venue/helpers.js';

const PORTFOLIO = `quote: USDT
classes:
  - { name: BTC, target: 50%, band: 5%, assets: [BTC] }
  - { name: Stablecoins, target: 50%, band: 5%, assets: [USDT], cash: true }
feed: { maxAgeSeconds: 60 }
`;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('paper trading pieces on replayed history', () => {
  it('snapshot over RPC → plan → order → the next snapshot holds the trade; stale between bars', async () => {
    const portfolio = parsePortfolio(PORTFOLIO, 'p.yaml');
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const { server, replay } = replayVenueServer({ portfolio, dataDir: 'data', interval: '1h', from: Date.UTC(2024, 0, 1), to: Date.UTC(2024, 0, 3), stateFile: join(tmp.dir, 'venue.json') });
    await server.start(0);
    cleanups.push(() => server.stop());
    const ex = await RemoteExchange.connect(server.url);
    const clock = ex.venueClock();
    const source = new LiveSnapshotSource({ portfolio, accounts: [{ name: 'paper', exchange: ex }], clock, restFallbackMs: 10_000 });
    cleanups.push(() => source.close());

    const s1 = await source.take();
    expect(s1.time).toBe(replay.startTime);
    expect(s1.accounts).toEqual([{ name: 'paper', balances: { USDT: 100_000 }, positions: [] }]);
    const p1 = plan(portfolio, s1, { now: clock.now(), state: 'ACTIVE' });
    expect(p1.status).toBe('ok');
    const buy = p1.actions.find((a) => a.type === 'spot' && a.side === 'buy')!;
    expect(buy.symbol).toBe('BTC/USDT');
    await ex.createOrder({ symbol: buy.symbol!, type: 'market', side: 'buy', amount: buy.amount, clientOrderId: 'r1-l0-s0-a0' });

    // half a bar later the last price is 30 minutes old: STALE under a 60 s limit
    await ex.advance({ ms: 30 * 60_000 });
    const s2 = await source.take();
    expect(s2.accounts[0]!.balances.BTC).toBeCloseTo(buy.amount, 8);
    const p2 = plan(portfolio, s2, { now: clock.now(), state: 'ACTIVE' });
    expect(p2.status).toBe('stale');
    expect(p2.actions).toEqual([]);

    // with a limit of one bar plus a minute, the same data is fresh enough and the portfolio is in its band
    const hourly = { ...portfolio, risk: { ...portfolio.risk, maxDataAgeMs: replay.barMs + 60_000 } };
    const p3 = plan(hourly, s2, { now: clock.now(), state: 'ACTIVE' });
    expect(p3.status).toBe('nothing-to-do');
    const btc = p3.valuation.classes.find((c) => c.name === 'BTC')!;
    expect(btc.weight).toBeGreaterThan(0.45);
    expect(btc.weight).toBeLessThan(0.55);
  });
});
