/**
 * The Exchange contract suite against RemoteExchange → HTTP → VenueServer → SimExchange (same
 * configuration as the in-process simulator's run), with the venue's state in a temp file.
 */
import { join } from 'node:path';
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import { VenueServer } from '../../src/adapters/venue/server.js';
import { runExchangeContract, type ContractHarness } from '../contract/exchange.contract.js';
import { CONTRACT_CONFIG, T0, tempDir } from './helpers.js';

runExchangeContract('RemoteExchange → VenueServer → SimExchange', async (): Promise<ContractHarness> => {
  const tmp = tempDir();
  const server = new VenueServer({ stateFile: join(tmp.dir, 'venue.json'), config: CONTRACT_CONFIG, makeFeed: () => new ArrayFeed(), startTime: T0 });
  await server.start(0);
  const ex = await RemoteExchange.connect(server.url, { timeoutMs: 5_000 });
  return {
    exchange: ex,
    spot: 'BTC/USDT',
    perp: 'BTC/USDT:USDT',
    volumeFraction: 0.5,
    async setBar(symbol, bar) {
      await ex.pushBar(symbol, bar);
    },
    async advance(ms) {
      await ex.advance({ ms });
    },
    async close() {
      await server.stop();
      tmp.remove();
    },
  };
});
