/**
 * The venue as its own process: state survives a restart from its file, replays stay deterministic
 * across restarts, typed errors cross the wire, transport failures map to NetworkError / RequestTimeout.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPortfolio } from '../../src/adapters/files/portfolio.js';
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import { replayVenue, replayVenueServer } from '../../src/adapters/venue/replay.js';
import { readVenueState, VenueServer, type VenueServerOptions } from '../../src/adapters/venue/server.js';
import {
  ExchangeError,
  InsufficientFunds,
  InvalidOrder,
  NetworkError,
  OnMaintenance,
  OrderNotFound,
  RateLimitExceeded,
  RequestTimeout,
  outcomeUnknown,
  retryable,
} from '../../src/ports/errors.js';
import type { Exchange } from '../../src/ports/exchange.js';
import { CONTRACT_CONFIG, T0, tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startVenue(opts: VenueServerOptions): Promise<{ server: VenueServer; ex: RemoteExchange }> {
  const server = new VenueServer(opts);
  await server.start(0);
  cleanups.push(() => server.stop());
  return { server, ex: await RemoteExchange.connect(server.url, { timeoutMs: 5_000 }) };
}

function venueOptions(dir: string, over: Partial<VenueServerOptions> = {}): VenueServerOptions {
  return { stateFile: join(dir, 'venue.json'), config: CONTRACT_CONFIG, makeFeed: () => new ArrayFeed(), startTime: T0, ...over };
}

const flat = (p: number, volume = 1e9) => ({ open: p, high: p, low: p, close: p, volume });

/** Everything the port can tell about the account. */
async function accountView(ex: Exchange) {
  return {
    balance: await ex.fetchBalance(),
    positions: await ex.fetchPositions(),
    open: await ex.fetchOpenOrders(),
    closed: await ex.fetchClosedOrders(),
    trades: await ex.fetchMyTrades(),
    funding: await ex.fetchFundingHistory(),
  };
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('VenueServer state file', () => {
  it('restarts from its state file with the same orders, balances, positions and fills', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const opts = venueOptions(tmp.dir);
    const a = await startVenue(opts);
    await a.ex.pushBar('BTC/USDT', flat(100));
    await a.ex.pushBar('BTC/USDT:USDT', flat(100));
    await a.ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 2, price: 99, clientOrderId: 'rest-buy' });
    await a.ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: 'sell', amount: 1, price: 101, clientOrderId: 'rest-sell' });
    await a.ex.createOrder({ symbol: 'BTC/USDT:USDT', type: 'market', side: 'sell', amount: 3, clientOrderId: 'short' });
    await a.ex.advance({ ms: 60_000 });
    // a partial fill: volume caps the buy at 1 of 2
    await a.ex.pushBar('BTC/USDT', { open: 100, high: 100, low: 98.5, close: 100, volume: 2 });
    const before = await accountView(a.ex);
    const timeBefore = a.ex.venueTime;
    expect(before.open.map((o) => [o.clientOrderId, o.filled])).toEqual([
      ['rest-buy', 1],
      ['rest-sell', 0],
    ]);
    expect(before.positions[0]).toMatchObject({ symbol: 'BTC/USDT:USDT', contracts: -3 });
    await a.server.stop();
    expect(existsSync(join(tmp.dir, 'venue.json.tmp'))).toBe(false);

    const b = await startVenue(opts);
    expect(b.server.port).not.toBe(0);
    expect(await accountView(b.ex)).toEqual(before);
    expect(b.ex.venueTime).toBe(timeBefore);
    // and it carries on: the rest of the buy fills on the next bar that trades through it
    await b.ex.pushBar('BTC/USDT', { open: 100, high: 100, low: 98.5, close: 100, volume: 1e9 });
    expect(await b.ex.fetchOrder({ clientOrderId: 'rest-buy' })).toMatchObject({ status: 'closed', filled: 2 });
    // a clientOrderId still open before the restart is still refused after it
    expect(await rejects(b.ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: 'sell', amount: 1, price: 105, clientOrderId: 'rest-sell' }))).toMatchObject({
      name: 'DuplicateOrderId',
    });
  });

  it('saves before it replies: the file always holds what the last reply reported, atomically replaced', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const { ex } = await startVenue(venueOptions(tmp.dir));
    const file = join(tmp.dir, 'venue.json');
    await ex.pushBar('BTC/USDT', flat(100));
    for (let i = 0; i < 5; i++) {
      const o = await ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 1, price: 90 + i, clientOrderId: `c${i}` });
      const saved = JSON.parse(readFileSync(file, 'utf8'));
      expect(saved.format).toBe('ballast-venue');
      expect(saved.sim.orders.map((x: { id: string }) => x.id)).toContain(o.id);
      expect(existsSync(`${file}.tmp`)).toBe(false);
    }
    expect(((await ex.state()) as { sim: { open: string[] } }).sim.open).toHaveLength(5);
  });

  it('refuses to start on a corrupt state file instead of resetting the venue', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    writeFileSync(join(tmp.dir, 'venue.json'), '{"format": "ballast-venue", "vers');
    await expect(new VenueServer(venueOptions(tmp.dir)).start(0)).rejects.toThrow(/cannot be read.*refusing to start/);
    writeFileSync(join(tmp.dir, 'venue.json'), '{"hello": 1}');
    await expect(new VenueServer(venueOptions(tmp.dir)).start(0)).rejects.toThrow(/not a ballast venue state/);
  });

  it('replays history deterministically across a restart (same state as a venue never restarted)', async () => {
    const portfolio = loadPortfolio('test/fixtures/good/minimal.yaml');
    const withHedge = { ...portfolio, classes: portfolio.classes.map((c) => (c.name === 'BTC' ? { ...c, hedge: 'BTC/USDT:USDT' } : c)) };
    const replay = replayVenue({ portfolio: withHedge, dataDir: 'data', interval: '1d', from: Date.UTC(2024, 0, 1), to: Date.UTC(2024, 2, 1) });
    expect(replay.config.markets.map((m) => m.symbol)).toEqual(['BTC/USDT', 'BTC/USDT:USDT']);
    expect(replay.barMs).toBe(86_400_000);

    const tmpA = tempDir();
    const tmpB = tempDir();
    cleanups.push(tmpA.remove, tmpB.remove);
    const opts = (dir: string): VenueServerOptions => ({
      stateFile: join(dir, 'venue.json'),
      config: replay.config,
      makeFeed: replay.makeFeed,
      startTime: replay.startTime,
      barMs: replay.barMs,
      meta: replay.meta,
    });
    const script = async (ex: RemoteExchange, from: number, to: number) => {
      for (let step = from; step < to; step++) {
        await ex.advance({ bars: 1 });
        const t = await ex.fetchTicker('BTC/USDT');
        if (step === 2) {
          await ex.createOrder({ symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 0.5, clientOrderId: 'buy-spot' });
          await ex.createOrder({ symbol: 'BTC/USDT:USDT', type: 'market', side: 'sell', amount: 0.5, clientOrderId: 'hedge' });
        }
        if (step === 5) {
          const tick = (await ex.loadMarkets())['BTC/USDT']!.priceStep;
          const px = Number((Math.round((t.last * 0.97) / tick) * tick).toFixed(8));
          await ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 0.2, price: px, clientOrderId: 'dip' });
        }
      }
    };
    // A: straight through
    const a = await startVenue(opts(tmpA.dir));
    await script(a.ex, 0, 40);
    // B: stopped after 20 bars and restarted from its file
    const b1 = await startVenue(opts(tmpB.dir));
    await script(b1.ex, 0, 20);
    await b1.server.stop();
    const b2 = await startVenue(opts(tmpB.dir));
    await script(b2.ex, 20, 40);

    const viewA = await accountView(a.ex);
    const viewB = await accountView(b2.ex);
    expect(viewB).toEqual(viewA);
    expect(viewA.funding.length).toBeGreaterThan(30); // 3 settlements a day on the short hedge
    expect(viewA.trades.length).toBeGreaterThanOrEqual(2);
    expect(b2.ex.venueTime).toBe(replay.startTime + 40 * replay.barMs);
    expect(((await b2.ex.info()).meta as { interval: string }).interval).toBe('1d');
  });

  it('a replay venue at --speed stops its clock at the last bar, and its state file says what it replays', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const stateFile = join(tmp.dir, 'venue.json');
    const { server, replay } = replayVenueServer({
      portfolio: loadPortfolio('test/fixtures/good/minimal.yaml'),
      dataDir: 'data',
      interval: '1h',
      from: Date.UTC(2024, 5, 1),
      to: Date.UTC(2024, 5, 2),
      stateFile,
      speed: 1000,
    });
    await server.start(0);
    cleanups.push(() => server.stop());
    expect(replay.barMs).toBe(3_600_000);
    expect(replay.endTime - replay.startTime).toBe(23 * 3_600_000);
    const ex = await RemoteExchange.connect(server.url);
    await new Promise((r) => setTimeout(r, 300));
    expect((await ex.info()).time).toBe(replay.endTime);
    const t = await ex.fetchTicker('BTC/USDT');
    expect(t.timestamp).toBe(replay.endTime); // the last bar, known at its close
    expect(t.last).toBe(replay.history.close[0]![replay.history.times.length - 1]);
    expect(readVenueState(stateFile)!.meta).toMatchObject({ source: 'history', interval: '1h', assets: ['BTC'], perps: [] });
    expect(readVenueState(join(tmp.dir, 'none.json'))).toBeNull();
  });

  it('moves its own clock at --speed bars per second of wall time', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const { ex } = await startVenue(venueOptions(tmp.dir, { speed: 50, barMs: 60_000 }));
    const t0 = (await ex.info()).time;
    await new Promise((r) => setTimeout(r, 400));
    const t1 = (await ex.info()).time;
    const bars = (t1 - t0) / 60_000;
    expect(bars).toBeGreaterThan(5); // ≈ 20 in 0.4 s
    expect(bars).toBeLessThan(60);
  });
});

describe('RemoteExchange errors', () => {
  it('rebuilds typed venue errors with their fields', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const { ex } = await startVenue(
      venueOptions(tmp.dir, {
        config: {
          ...CONTRACT_CONFIG,
          faults: {
            maintenance: [{ from: T0 + 10_000, to: T0 + 20_000 }],
            bans: [{ from: T0 + 30_000, to: T0 + 45_000 }],
            script: [{ op: 'createOrder', nth: 3, fault: 'reply-lost' }],
          },
        },
      }),
    );
    await ex.pushBar('BTC/USDT', flat(100));
    const lot = await rejects(ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 0.0015, price: 99, clientOrderId: 'lot' }));
    expect(lot).toBeInstanceOf(InvalidOrder);
    expect(lot).toMatchObject({ reason: 'amount-step', exchange: 'sim' });
    expect(retryable(lot)).toBe(false);
    const nsf = await rejects(ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 5000, price: 99, clientOrderId: 'nsf' }));
    expect(nsf).toBeInstanceOf(InsufficientFunds);
    // third createOrder: executed, then the reply is "lost"
    const lost = await rejects(ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 1, price: 99, clientOrderId: 'lost' }));
    expect(lost).toBeInstanceOf(RequestTimeout);
    expect(outcomeUnknown(lost)).toBe(true);
    expect(await ex.fetchOrder({ clientOrderId: 'lost' })).toMatchObject({ status: 'open', amount: 1 });
    expect(await rejects(ex.fetchOrder({ clientOrderId: 'never' }))).toBeInstanceOf(OrderNotFound);

    await ex.advance({ to: T0 + 12_000 });
    const maint = await rejects(ex.fetchBalance());
    expect(maint).toBeInstanceOf(OnMaintenance);
    expect(maint).toMatchObject({ untilMs: T0 + 20_000 });
    expect(outcomeUnknown(maint)).toBe(false);
    await ex.advance({ to: T0 + 35_000 });
    const ban = await rejects(ex.fetchBalance());
    expect(ban).toBeInstanceOf(RateLimitExceeded);
    expect(ban).toMatchObject({ retryAfterMs: 10_000 });
    await ex.advance({ to: T0 + 45_000 });
    expect((await ex.fetchBalance()).total.BTC).toBe(10);
  });

  it('maps a refused connection to NetworkError and a silent venue to RequestTimeout', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const server = new VenueServer(venueOptions(tmp.dir));
    await server.start(0);
    const url = server.url;
    await server.stop();
    const down = new RemoteExchange({ url, timeoutMs: 2_000 });
    const refused = await rejects(down.fetchBalance());
    expect(refused).toBeInstanceOf(NetworkError);
    expect(outcomeUnknown(refused)).toBe(true);
    expect(retryable(refused)).toBe(true);
    expect((refused as Error).message).toContain('ECONNREFUSED');

    const silent = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      silent.closeAllConnections();
      return new Promise<void>((r) => silent.close(() => r()));
    });
    const slow = new RemoteExchange({ url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, timeoutMs: 150 });
    const timeout = await rejects(slow.createOrder({ symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 1, clientOrderId: 'x' }));
    expect(timeout).toBeInstanceOf(RequestTimeout);
    expect(outcomeUnknown(timeout)).toBe(true);

    const html = createServer((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => html.close(() => r())));
    const proxy = new RemoteExchange({ url: `http://127.0.0.1:${(html.address() as AddressInfo).port}` });
    const bad = await rejects(proxy.fetchBalance());
    expect(bad).toBeInstanceOf(ExchangeError);
    expect(outcomeUnknown(bad)).toBe(true);
  });

  it('answers an unknown method or a malformed body with BadRequest / NotSupported, not a crash', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.remove);
    const { ex } = await startVenue(venueOptions(tmp.dir));
    expect(await rejects(ex.post('/rpc', { method: 'withdraw', params: [] }))).toMatchObject({ name: 'NotSupported' });
    expect(await rejects(ex.post('/rpc', { method: 'toJSON', params: [] }))).toMatchObject({ name: 'NotSupported' });
    expect(await rejects(ex.post('/advance', { ms: -5 }))).toMatchObject({ name: 'BadRequest' });
    expect((await ex.fetchBalance()).total.USDT).toBe(100_000);
  });
});
