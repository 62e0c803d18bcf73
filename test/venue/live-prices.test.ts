/**
 * Paper trading on live prices: the pump prices the simulated venue from a public source and settles the
 * perps' funding at the times the source announces, with the rate it last announced (positive: longs pay).
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import { PricePump, type PriceSource } from '../../src/adapters/venue/live-prices.js';
import { VenueServer } from '../../src/adapters/venue/server.js';
import { ManualClock } from '../../src/ports/clock.js';
import type { FundingRateInfo, Ticker } from '../../src/ports/exchange.js';
import { CONTRACT_CONFIG, T0, tempDir } from './helpers.js';

const HOUR = 3_600_000;
const SPOT = 'BTC/USDT';
const PERP = 'BTC/USDT:USDT';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A source whose price, announced rate and next settlement the test sets; it fails on demand. */
function fakeSource(clock: ManualClock) {
  const s = {
    price: 50_000,
    mark: 50_010,
    rate: 0.0001,
    next: T0 + 8 * HOUR,
    failFunding: false,
    fundingCalls: 0,
  };
  const source: PriceSource = {
    id: 'fake',
    loadMarkets: async () => ({}),
    fetchTickers: async (symbols?: string[]) => {
      const out: Record<string, Ticker> = {};
      for (const sym of symbols ?? []) out[sym] = { symbol: sym, timestamp: clock.now(), bid: s.price, ask: s.price, last: s.price, markPrice: sym === PERP ? s.mark : null };
      return out;
    },
    fetchFundingRate: async (symbol: string): Promise<FundingRateInfo> => {
      s.fundingCalls++;
      if (s.failFunding) throw new Error('fake: funding endpoint down');
      return { symbol, fundingRate: s.rate, fundingTimestamp: s.next, intervalMs: 8 * HOUR, markPrice: s.mark, timestamp: clock.now() };
    },
  };
  return { s, source };
}

async function setUp() {
  const tmp = tempDir();
  cleanups.push(tmp.remove);
  const server = new VenueServer({ stateFile: join(tmp.dir, 'venue.json'), config: CONTRACT_CONFIG, makeFeed: () => new ArrayFeed(), startTime: T0 });
  await server.start(0);
  cleanups.push(() => server.stop());
  const ex = await RemoteExchange.connect(server.url, { timeoutMs: 5_000 });
  const clock = new ManualClock(T0);
  const { s, source } = fakeSource(clock);
  const warnings: string[] = [];
  const logger = { warn: (_o: unknown, msg: string) => warnings.push(msg), info: () => {}, error: () => {}, debug: () => {} };
  const pump = new PricePump({ venue: ex, source, symbols: [SPOT, PERP], clock, everyMs: HOUR, logger });
  return { ex, clock, s, pump, warnings };
}

describe('PricePump funding on the paper venue', () => {
  it('settles each announced settlement once, on the mark, with the last rate announced for it', async () => {
    const { ex, clock, s, pump } = await setUp();
    clock.set(T0 + HOUR);
    expect(await pump.tick()).toBe(2);
    // Short 1 BTC perp at the mark.
    const o = await ex.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 1, clientOrderId: 'fund-short-1' });
    expect(o.filled).toBe(1);
    const usdtAfterOpen = (await ex.fetchBalance()).total['USDT']!;

    // The rate announced for the 08:00 settlement changes before it; the last announcement counts.
    clock.set(T0 + 7 * HOUR);
    s.rate = 0.0003;
    await pump.tick();
    expect(await ex.fetchFundingHistory(PERP)).toEqual([]);

    // The clock passes 08:00: the settlement is pushed before the venue's clock moves past it.
    s.next = T0 + 16 * HOUR;
    s.rate = -0.5; // the next interval's rate must not be used for 08:00
    clock.set(T0 + 9 * HOUR);
    await pump.tick();
    const paid = await ex.fetchFundingHistory(PERP);
    expect(paid).toHaveLength(1);
    expect(paid[0]).toMatchObject({ symbol: PERP, timestamp: T0 + 8 * HOUR, rate: 0.0003, contracts: -1, markPrice: 50_010 });
    // Positive rate: longs pay shorts, so the short receives 1 × 50,010 × 0.0003 = 15.003.
    expect(paid[0]!.amount).toBeCloseTo(15.003, 9);
    expect((await ex.fetchBalance()).total['USDT']! - usdtAfterOpen).toBeCloseTo(15.003, 9);
    expect(pump.fundingPushed).toBe(1);

    // Later rounds do not settle 08:00 again; 16:00 is settled at its own (negative) rate: the short pays.
    clock.set(T0 + 10 * HOUR);
    await pump.tick();
    expect(await ex.fetchFundingHistory(PERP)).toHaveLength(1);
    clock.set(T0 + 17 * HOUR);
    s.next = T0 + 24 * HOUR;
    await pump.tick();
    const all = await ex.fetchFundingHistory(PERP);
    expect(all.map((f) => f.timestamp)).toEqual([T0 + 8 * HOUR, T0 + 16 * HOUR]);
    expect(all[1]!.amount).toBeCloseTo(-0.5 * 50_010, 6);
  });

  it('a failed funding read keeps the last announcement and says so; prices are still pushed', async () => {
    const { ex, clock, s, pump, warnings } = await setUp();
    clock.set(T0 + HOUR);
    await pump.tick();
    await ex.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 2, clientOrderId: 'fund-long-1' });
    s.failFunding = true;
    clock.set(T0 + 5 * HOUR);
    expect(await pump.tick()).toBe(2);
    expect(warnings.some((w) => /funding rate not read/.test(w))).toBe(true);
    clock.set(T0 + 9 * HOUR);
    await pump.tick();
    const paid = await ex.fetchFundingHistory(PERP);
    expect(paid).toHaveLength(1);
    // The long pays 2 × 50,010 × 0.0001 = 10.002 at the rate announced before the reads failed.
    expect(paid[0]!.amount).toBeCloseTo(-10.002, 9);
  });

  it('a settlement with no position pays nothing; a source that announces no funding settles none', async () => {
    const { ex, clock, pump } = await setUp();
    clock.set(T0 + HOUR);
    await pump.tick();
    clock.set(T0 + 9 * HOUR);
    await pump.tick();
    expect(pump.fundingPushed).toBe(1);
    expect(await ex.fetchFundingHistory(PERP)).toEqual([]);

    const quiet = await setUp();
    const { fetchFundingRate: _omit, ...bare } = fakeSource(quiet.clock).source;
    const pump2 = new PricePump({ venue: quiet.ex, source: bare, symbols: [SPOT, PERP], clock: quiet.clock, everyMs: HOUR });
    quiet.clock.set(T0 + HOUR);
    await pump2.tick();
    await quiet.ex.createOrder({ symbol: PERP, type: 'market', side: 'buy', amount: 1, clientOrderId: 'fund-long-2' });
    quiet.clock.set(T0 + 9 * HOUR);
    await pump2.tick();
    expect(pump2.fundingPushed).toBe(0);
    expect(await quiet.ex.fetchFundingHistory(PERP)).toEqual([]);
  });
});
