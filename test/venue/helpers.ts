/** Shared set-up of the venue tests: the contract's simulator configuration and a temp state folder. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SimConfig } from '../../src/adapters/sim/exchange.js';

export const CONTRACT_CONFIG: SimConfig = {
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

export const T0 = Date.UTC(2024, 0, 1);

export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-venue-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
