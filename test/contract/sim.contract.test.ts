/** The Exchange contract suite against the simulator (no faults, fills capped at half a bar's volume). */
import { SimExchange, type SimConfig } from '../../src/adapters/sim/exchange.js';
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import { ManualClock } from '../../src/ports/clock.js';
import { runExchangeContract, type ContractHarness } from './exchange.contract.js';

const config: SimConfig = {
  quote: 'USDT',
  balances: { USDT: 100_000, BTC: 10 },
  leverage: 5,
  fill: { maxVolumeFraction: 0.5 },
  markets: [
    { symbol: 'BTC/USDT', type: 'spot', base: 'BTC', amountStep: 0.001, priceStep: 0.01, minAmount: 0.001, minNotional: 5 },
    {
      symbol: 'BTC/USDT:USDT',
      type: 'swap',
      base: 'BTC',
      amountStep: 0.001,
      priceStep: 0.1,
      minAmount: 0.001,
      minNotional: 5,
      contractSize: 1,
      maintenanceMarginRate: 0.004,
    },
  ],
};

runExchangeContract('SimExchange', async (): Promise<ContractHarness> => {
  const clock = new ManualClock(Date.UTC(2024, 0, 1));
  const feed = new ArrayFeed();
  const sim = new SimExchange(config, { feed, clock });
  return {
    exchange: sim,
    spot: 'BTC/USDT',
    perp: 'BTC/USDT:USDT',
    volumeFraction: 0.5,
    async setBar(symbol, bar) {
      feed.pushBar(symbol, { ...bar, time: clock.now() });
      sim.sync();
    },
    async advance(ms) {
      clock.advance(ms);
      sim.sync();
    },
  };
});
