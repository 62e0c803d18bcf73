/**
 * `ballast doctor --config F --live` against the venues' recorded replies: ballast's real ccxt client
 * (only ccxt's fetchImplementation replaced, see test/ccxt/venue-replay.ts). It prints what is ready
 * and what is not, and sends nothing but reads.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clearSecrets } from '../../src/adapters/log.js';
import { doctorLines, runDoctor } from '../../src/apps/cli/doctor.js';
import type { LiveExchangeFactory } from '../../src/apps/cli/live.js';
import { rec, venueRig, type FetchReplay, type VenueRoute } from '../ccxt/venue-replay.js';
import { scratchDir } from './helpers.js';

const scratch = scratchDir('ballast-doctor-');
afterAll(() => {
  scratch.remove();
  clearSecrets();
});

const CONFIG = `quote: USDT
classes:
  - { name: BTC, target: 50%, band: 5%, assets: [BTC], hedge: BTC/USDT:USDT }
  - { name: Stablecoins, target: 50%, band: 5%, assets: [USDT], cash: true }
accounts:
  - { name: main, exchange: binance }
`;
const env = { BALLAST_MAIN_API_KEY: 'CANARYdoctorKEY123', BALLAST_MAIN_API_SECRET: 'CANARYdoctorSECRET456' };

/** Binance's recorded replies for every read doctor makes. */
function binanceRoutes(over: Record<string, VenueRoute> = {}): Record<string, VenueRoute> {
  return {
    'GET /sapi/v1/account/apiRestrictions': rec('binance', 'apiRestrictions-tradeonly'),
    'GET /fapi/v1/positionSide/dual': rec('binance', 'positionSide-dual-oneway'),
    'GET /api/v3/time': { body: { serverTime: 1_718_000_000_000 - 40 } },
    'GET /fapi/v1/leverageBracket': rec('binance', 'leverageBracket'),
    'GET /api/v3/account': rec('binance', 'account-spot'),
    'GET /fapi/v3/account': rec('binance', 'account-futures'),
    'GET /fapi/v1/premiumIndex': rec('binance', 'premiumIndex-BTCUSDT'),
    'GET /fapi/v1/fundingInfo': rec('binance', 'fundingInfo-documented'),
    ...over,
  };
}

function rigFactory(routes: Record<string, VenueRoute>, seen: FetchReplay[]): LiveExchangeFactory {
  return async (_account, _credentials, ctx) => {
    const r = venueRig('binance', routes, { symbols: ctx.symbols });
    seen.push(r.replay);
    return { exchange: r.ex };
  };
}

describe('ballast doctor --live (recorded binance replies)', () => {
  const config = join(scratch.dir, 'live.yaml');
  writeFileSync(config, CONFIG);

  it('READY: trade-only key, one-way mode, clock, markets and rules, balances per wallet, funding interval, rate limit — and only reads were sent', async () => {
    const seen: FetchReplay[] = [];
    const r = await runDoctor({ config, clock: { now: () => 1_718_000_000_000 }, env, factory: rigFactory(binanceRoutes(), seen) });
    const lines = doctorLines(r);
    expect(r.ready).toBe(true);
    expect(r.checks.map((c) => [c.check, c.status])).toEqual([
      ['keys', 'ok'],
      ['position mode', 'ok'],
      ['clock', 'ok'],
      ['markets', 'ok'],
      ['balances', 'ok'],
      ['funding', 'ok'],
      ['rate limit', 'ok'],
    ]);
    const text = lines.join('\n');
    expect(text).toMatch(/keys +env:BALLAST_MAIN_API_KEY: binance: key cannot withdraw .*it cannot transfer/);
    expect(text).toMatch(/position mode +one-way \(positionSide\/dual: dualSidePosition = false\)/);
    expect(text).toMatch(/clock +local − venue = 40 ms/);
    expect(text).toMatch(/BTC\/USDT lot 0\.00001 tick 0\.01 min notional 5;/);
    expect(text).toMatch(/BTC\/USDT:USDT lot 0\.001 tick 0\.1 min notional 100 contract 1 tiers 4/);
    expect(text).toMatch(/balances +spot: LTC 0\.919741, ETH 0\.02229833; usdm-futures: USDT 31\.022612/);
    expect(text).toMatch(/funding +BTC\/USDT:USDT every 8 h/);
    expect(text).toMatch(/rate limit +[\d.]+ of \d+ request units free now/);
    expect(lines.at(-1)).toMatch(/^READY/);
    expect(seen[0]!.requests.every((q) => q.method === 'GET')).toBe(true);
    expect(seen[0]!.unmatched).toEqual([]);
    expect(text).not.toContain(env.BALLAST_MAIN_API_KEY);
  });

  it('NOT READY: a key that can withdraw, hedge mode — each named', async () => {
    const seen: FetchReplay[] = [];
    const r = await runDoctor({
      config,
      clock: { now: () => 1_718_000_000_000 },
      env,
      factory: rigFactory(binanceRoutes({ 'GET /sapi/v1/account/apiRestrictions': rec('binance', 'apiRestrictions-withdraw'), 'GET /fapi/v1/positionSide/dual': rec('binance', 'positionSide-dual-hedge') }), seen),
    });
    expect(r.ready).toBe(false);
    const fails = r.checks.filter((c) => c.status === 'fail').map((c) => c.check);
    expect(fails).toEqual(['keys', 'position mode']);
    const text = doctorLines(r).join('\n');
    expect(text).toMatch(/FAIL  main +keys +binance: this API key can WITHDRAW funds/);
    expect(text).toMatch(/FAIL  main +position mode hedge .*set USDⓈ-M Futures → Preferences → Position Mode: One-way/);
    expect(text).toMatch(/NOT READY: 2 checks failed\. Nothing was traded\./);
    expect(seen[0]!.requests.every((q) => q.method === 'GET')).toBe(true);
  });

  it('NOT READY without keys, naming the variables', async () => {
    const r = await runDoctor({ config, clock: { now: () => 1_718_000_000_000 }, env: {}, factory: rigFactory(binanceRoutes(), []) });
    expect(r.ready).toBe(false);
    expect(doctorLines(r)[0]).toMatch(/FAIL  main +keys +account main: no API key: set BALLAST_MAIN_API_KEY and BALLAST_MAIN_API_SECRET/);
  });
});

describe('the start of a live run (openLiveAccounts) on recorded binance replies', () => {
  const config = join(scratch.dir, 'start.yaml');
  writeFileSync(config, CONFIG);

  it('refuses hedge mode with the setting to change, and measures the clock offset', async () => {
    const { openLiveAccounts } = await import('../../src/apps/cli/live.js');
    const { loadPortfolio } = await import('../../src/adapters/files/portfolio.js');
    const { UsageError } = await import('../../src/apps/cli/errors.js');
    const p = loadPortfolio(config);
    const clock = { now: () => 1_718_000_000_000 };
    const logs: string[] = [];
    const log = { info: (_o: object, m?: string) => logs.push(m ?? ''), warn: (_o: object, m?: string) => logs.push(m ?? '') };
    const e = await openLiveAccounts(p, { clock, env, factory: rigFactory(binanceRoutes({ 'GET /fapi/v1/positionSide/dual': rec('binance', 'positionSide-dual-hedge') }), []), log }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(UsageError);
    expect(String(e)).toMatch(/account main \(binance\): position mode is hedge \(long\/short\) \(positionSide\/dual: dualSidePosition = true\); ballast trades one-way/);
    const ok = await openLiveAccounts(p, { clock, env, factory: rigFactory(binanceRoutes(), []), log });
    expect(ok.map((a) => a.permissions.verified)).toEqual([true]);
    expect(logs).toContain('venue clock offset 40 ms (local − venue)');
  });

  it('fails closed when the key check cannot be read; --allow-unverified-keys lets it through', async () => {
    const { openLiveAccounts } = await import('../../src/apps/cli/live.js');
    const { loadPortfolio } = await import('../../src/adapters/files/portfolio.js');
    const { UnverifiedKeyError } = await import('../../src/adapters/keys.js');
    const p = loadPortfolio(config);
    const clock = { now: () => 1_718_000_000_000 };
    const routes = binanceRoutes({ 'GET /sapi/v1/account/apiRestrictions': { body: { ipRestrict: true } } });
    expect(await openLiveAccounts(p, { clock, env, factory: rigFactory(routes, []) }).catch((x: unknown) => x)).toBeInstanceOf(UnverifiedKeyError);
    const ok = await openLiveAccounts(p, { clock, env, factory: rigFactory(routes, []), allowUnverifiedKeys: true });
    expect(ok[0]!.permissions).toMatchObject({ verified: false });
  });
});
