/**
 * Unknown funding is unknown: the simulated venue reports a perp's funding rate only when a settlement lies
 * within one funding interval of its clock (the rate announced for the coming settlement, or the last one
 * paid). On the bundled history SOL's Binance funding starts in mid-2023 with holes; a snapshot on
 * 2021-01-01 once read the first settlement of 2023 (0.01 %) as today's rate.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { takeSnapshot } from '../../src/apps/cli/snapshot.js';
import { plan } from '../../src/core/planner.js';
import { loadPortfolio } from '../../src/adapters/files/portfolio.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const config = join(ROOT, 'test', 'fixtures', 'backtest', 'seed-sol.yaml');
const replay = join(ROOT, 'data');

describe('funding a venue does not know', () => {
  it('a hole in the history gives no rate (not 0 %, not a rate from years away); inside the data the rate is there', async () => {
    const early = await takeSnapshot({ config, replay, at: Date.UTC(2021, 0, 1) });
    expect(Object.keys(early.funding).sort()).toEqual(['BTC/USDT:USDT', 'ETH/USDT:USDT']);
    expect(early.funding['BTC/USDT:USDT']!.rate).toBe(0.00026336);
    const late = await takeSnapshot({ config, replay, at: Date.UTC(2025, 8, 1) });
    expect(Object.keys(late.funding).sort()).toEqual(['BTC/USDT:USDT', 'ETH/USDT:USDT', 'SOL/USDT:USDT']);
  });

  it('the planner opens no SOL hedge on that snapshot and says why', async () => {
    const p = loadPortfolio(config);
    const s = await takeSnapshot({ config, replay, at: Date.UTC(2021, 0, 1) });
    // Hold only SOL so that Altcoins is far above its band and futures are configured.
    const futures = { ...p, execution: { ...p.execution, instrument: 'futures' as const } };
    const acct = s.accounts[0]!;
    const held = { ...s, accounts: [{ ...acct, balances: { USDT: 50_000, SOL: 50_000 / s.prices.SOL! } }] };
    const pl = plan(futures, held, { now: s.time, state: 'ACTIVE' });
    expect(pl.rejected.map((r) => r.reason)).toContain('funding unknown: no rate for SOL/USDT:USDT; no hedge is opened on an unknown rate (hedges.fundingWhenUnknown: zero or { proxy: SYMBOL } to allow it)');
    expect(pl.actions.filter((a) => a.symbol === 'SOL/USDT:USDT')).toEqual([]);
  });
});
