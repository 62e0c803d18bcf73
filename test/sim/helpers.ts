/** Shared set-up for the simulator tests: a sim on a ManualClock and an ArrayFeed the test writes to. */
import { SimExchange, type SimConfig, type SimMarketConfig } from '../../src/adapters/sim/exchange.js';
import { ArrayFeed, type Bar } from '../../src/adapters/sim/feed.js';
import { ManualClock } from '../../src/ports/clock.js';

export const T0 = Date.UTC(2024, 0, 1);
export const SPOT = 'BTC/USDT';
export const PERP = 'BTC/USDT:USDT';

export const spotMarket: SimMarketConfig = {
  symbol: SPOT,
  type: 'spot',
  base: 'BTC',
  amountStep: 0.001,
  priceStep: 0.01,
  minAmount: 0.001,
  minNotional: 5,
};

export const perpMarket: SimMarketConfig = {
  symbol: PERP,
  type: 'swap',
  base: 'BTC',
  amountStep: 0.001,
  priceStep: 0.01,
  minAmount: 0.001,
  minNotional: 5,
  contractSize: 1,
  maintenanceMarginRate: 0.01,
};

export function baseConfig(over: Partial<SimConfig> = {}): SimConfig {
  return {
    quote: 'USDT',
    balances: { USDT: 100_000, BTC: 10 },
    markets: [spotMarket, perpMarket],
    ...over,
  };
}

export interface Rig {
  sim: SimExchange;
  feed: ArrayFeed;
  clock: ManualClock;
  /** Push a bar known now (its time = now) and let the sim process it. */
  bar(symbol: string, b: Partial<Omit<Bar, 'time'>> & { close: number }): void;
  /** Move the clock and let the sim catch up. */
  advance(ms: number): void;
}

export function rig(config: SimConfig = baseConfig(), feed = new ArrayFeed(), clock = new ManualClock(T0)): Rig {
  const sim = new SimExchange(config, { feed, clock });
  return {
    sim,
    feed,
    clock,
    bar(symbol, b) {
      const c = b.close;
      const open = b.open ?? c;
      feed.pushBar(symbol, {
        time: clock.now(),
        open,
        high: b.high ?? Math.max(open, c),
        low: b.low ?? Math.min(open, c),
        close: c,
        volume: b.volume ?? 1e9,
      });
      sim.sync();
    },
    advance(ms) {
      clock.advance(ms);
      sim.sync();
    },
  };
}
