/**
 * The Exchange contract suite against CcxtExchange(binance), talking HTTP to the Binance emulator
 * (binance-mock.ts) backed by a SimExchange with the same configuration as the simulator's own
 * contract run (test/contract/sim.contract.test.ts): the live adapter must behave like the sim.
 * Markets are NOT preloaded: loadMarkets goes through ccxt's parser of the emulated exchangeInfo.
 */
import { createCcxtClient } from '../../src/adapters/ccxt/client.js';
import { CcxtExchange } from '../../src/adapters/ccxt/exchange.js';
import { SimExchange, type SimConfig } from '../../src/adapters/sim/exchange.js';
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import { ManualClock } from '../../src/ports/clock.js';
import { runExchangeContract, type ContractHarness } from '../contract/exchange.contract.js';
import { BinanceMock } from './binance-mock.js';
import { canaryCredentials, looseLimiter } from './helpers.js';
import { pointAt } from './replay.js';

const config: SimConfig = {
  id: 'binance-emulator',
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

runExchangeContract('CcxtExchange(binance) over the Binance emulator', async (): Promise<ContractHarness> => {
  const clock = new ManualClock(Date.UTC(2024, 0, 1));
  const feed = new ArrayFeed();
  const sim = new SimExchange(config, { feed, clock });
  const mock = await new BinanceMock(sim).start();
  const client = createCcxtClient('binance', canaryCredentials(), { timeoutMs: 5_000 });
  pointAt(client, mock.url);
  const exchange = new CcxtExchange(client, { clock, limiter: looseLimiter(clock), symbols: ['BTC/USDT', 'BTC/USDT:USDT'] });
  return {
    exchange,
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
    async close() {
      if (mock.server.requests.length === 0) throw new Error('the adapter never called the emulator');
      if (mock.server.unmatched.length > 0) {
        throw new Error(`emulator got calls it does not emulate: ${mock.server.unmatched.map((r) => `${r.method} ${r.path}`).join(', ')}`);
      }
      await mock.stop();
    },
  };
});
