/**
 * Regenerates test/fixtures/ccxt/<venue>/markets.json — the ccxt market structures the offline tests
 * load with `setMarkets` — by letting ccxt itself parse the recorded instrument lists
 * (exchangeInfo-*.json, instruments-*.json) served by the replay server. One command:
 *
 *     npx tsx test/ccxt/gen-markets.ts
 */

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createCcxtClient, type CcxtVenue } from '../../src/adapters/ccxt/client.js';
import { body, pointAt, ReplayServer, type Route } from './replay.js';

export const FIXTURE_SYMBOLS = ['BTC/USDT', 'BTC/USDT:USDT', 'ETH/USDT:USDT'];

export const INSTRUMENT_ROUTES: Record<CcxtVenue, Record<string, Route>> = {
  binance: {
    'GET /api/v3/exchangeInfo': body('binance', 'exchangeInfo-spot'),
    'GET /fapi/v1/exchangeInfo': body('binance', 'exchangeInfo-futures'),
  },
  bybit: {
    'GET /v5/market/instruments-info': (r) => body('bybit', r.query['category'] === 'spot' ? 'instruments-spot' : 'instruments-linear'),
  },
  okx: {
    'GET /api/v5/public/instruments': (r) => body('okx', r.query['instType'] === 'SPOT' ? 'instruments-spot' : 'instruments-swap'),
  },
};

async function main(): Promise<void> {
  for (const venue of ['binance', 'bybit', 'okx'] as const) {
    const server = await new ReplayServer(INSTRUMENT_ROUTES[venue]).start();
    try {
      const client = createCcxtClient(venue);
      pointAt(client, server.url);
      const markets = await client.loadMarkets();
      const out = FIXTURE_SYMBOLS.map((s) => {
        const m = markets[s];
        if (!m) throw new Error(`${venue}: ccxt did not produce ${s}`);
        return m;
      });
      const file = fileURLToPath(new URL(`../fixtures/ccxt/${venue}/markets.json`, import.meta.url));
      writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
      console.log(`${venue}: ${out.length} markets → ${file}${server.unmatched.length ? ` (unmatched: ${server.unmatched.map((r) => r.path).join(', ')})` : ''}`);
    } finally {
      await server.stop();
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
