/**
 * Security at the venue edge: withdrawal-capable keys refused per venue, the canary key never leaves
 * through the adapter (JSON, inspect, errors), verbose locked off, and no withdraw/transfer call
 * anywhere in src/.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createCcxtClient } from '../../src/adapters/ccxt/client.js';
import { CcxtExchange } from '../../src/adapters/ccxt/exchange.js';
import { checkKeyPermissions, UnverifiedKeyError, WithdrawalPermissionError } from '../../src/adapters/keys.js';
import { ManualClock } from '../../src/ports/clock.js';
import { AuthenticationError } from '../../src/ports/errors.js';
import { body } from './replay.js';
import { canaryCredentials, caught, containsCanary, rig, type Rig } from './helpers.js';

let r: Rig | undefined;
afterEach(async () => {
  await r?.close();
  r = undefined;
});

describe('withdrawal permission', () => {
  const cases = [
    ['binance', 'GET /sapi/v1/account/apiRestrictions', 'apiRestrictions-readonly', 'apiRestrictions-withdraw', /enableWithdrawals = false/],
    ['bybit', 'GET /v5/user/query-api', 'query-api-readonly', 'query-api-withdraw', /permissions.Wallet = \[AccountTransfer\]/],
    ['okx', 'GET /api/v5/account/config', 'account-config-trade', 'account-config-withdraw', /perm = read_only,trade/],
  ] as const;
  for (const [venue, route, ok, bad, detail] of cases) {
    it(`${venue}: a trade-only key is verified; a key that can withdraw is refused`, async () => {
      r = await rig(venue, { [route]: body(venue, ok) });
      const res = await checkKeyPermissions(r.ex);
      expect(res.verified).toBe(true);
      expect(res.detail).toMatch(detail);
      r.server.routes[route] = body(venue, bad);
      const e = await caught(checkKeyPermissions(r.ex));
      expect(e).toBeInstanceOf(WithdrawalPermissionError);
      expect((e as Error).message).toMatch(new RegExp(`^${venue}: this API key can WITHDRAW funds`));
      expect(containsCanary(String(e))).toBe(false);
    });
  }

  it('refuses (fails closed) when the venue answers without the field; says "cannot verify" only when explicitly allowed', async () => {
    r = await rig('binance', { 'GET /sapi/v1/account/apiRestrictions': { body: { ipRestrict: true } } });
    expect(await checkKeyPermissions(r.ex).catch((e: unknown) => e)).toBeInstanceOf(UnverifiedKeyError);
    const res = await checkKeyPermissions(r.ex, { allowUnverified: true });
    expect(res).toEqual({ verified: false, detail: 'binance: cannot verify whether this key can withdraw (apiRestrictions has no enableWithdrawals field)', canTransfer: null });
  });
});

describe('canary key never leaves through the adapter', () => {
  it('JSON.stringify and util.inspect of the adapter show no key', async () => {
    r = await rig('binance', {});
    expect(containsCanary(JSON.stringify(r.ex))).toBe(false);
    expect(containsCanary(inspect(r.ex, { depth: 10, showHidden: true }))).toBe(false);
    expect(containsCanary(JSON.stringify({ exchange: r.ex }))).toBe(false);
  });

  it('a venue error that echoes the key, and a signed-URL network error, are scrubbed', async () => {
    r = await rig('binance', {
      'GET /api/v3/account': (q) => ({ status: 401, body: { code: -2015, msg: `Invalid API-key ${String(q.headers['x-mbx-apikey'])}, IP, or permissions for action.` } }),
      'GET /fapi/v3/account': { hang: true },
    }, { timeoutMs: 200 });
    const e = await caught(r.ex.fetchBalance());
    expect(e).toBeInstanceOf(AuthenticationError);
    for (const text of [String(e), (e as Error).stack ?? '', inspect(e, { depth: 10, showHidden: true }), JSON.stringify(e)]) expect(containsCanary(text)).toBe(false);
    expect((e as Error).message).toContain('[REDACTED]');
  });
});

describe('ccxt verbose is forbidden', () => {
  it('refuses a verbose client and locks verbose off', () => {
    const clock = new ManualClock(0);
    const v = createCcxtClient('binance', canaryCredentials());
    v.verbose = true;
    expect(() => new CcxtExchange(v, { clock })).toThrow(/verbose/);
    const c = createCcxtClient('binance', canaryCredentials());
    new CcxtExchange(c, { clock });
    expect(() => {
      c.verbose = true;
    }).toThrow(/forbidden/);
    expect(c.verbose).toBe(false);
  });
});

describe('no code path withdraws or transfers', () => {
  const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => {
      const p = join(dir, n);
      return statSync(p).isDirectory() ? files(p) : /\.(ts|js|mjs|cjs)$/.test(n) ? [p] : [];
    });
  /** Source without comments (strings are kept: a call through a string key is still a call). */
  const stripComments = (s: string) => s.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/(^|[^:"'`\\])\/\/.*$/gm, '$1');
  /** Blank the contents of string literals (messages may say "can withdraw (…)"). */
  const blankStrings = (s: string) => s.replace(/'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|`(?:[^`\\]|\\.)*`/g, '""');
  /** A call of a function whose name contains withdraw/transfer; constructing an error class (`new …(`) is not a call of one. */
  const CALL = /(?<!\bnew\s+)\b\w*(withdraw|transfer)\w*\s*\(/gi;
  const KEYED_CALL = /\[\s*['"`]\w*(withdraw|transfer)\w*['"`]\s*\]\s*\(/gi;
  const calls = (source: string): string[] => {
    const code = stripComments(source);
    return [...[...blankStrings(code).matchAll(CALL)].map((m) => m[0]), ...[...code.matchAll(KEYED_CALL)].map((m) => m[0])];
  };

  it('finds no call to any withdraw… / transfer… function outside comments', () => {
    const hits: string[] = [];
    for (const f of files(SRC)) for (const c of calls(readFileSync(f, 'utf8'))) hits.push(`${relative(SRC, f)}: ${c}`);
    expect(hits).toEqual([]);
  });

  it('the pattern does catch such calls', () => {
    const sample =
      `client.withdraw('BTC', 1, addr); ex.sapiPostAssetTransfer({}); c['privatePostAssetWithdrawal']({}); // withdraw(x) in a comment\n` +
      `/* transfer(y) */ throw new WithdrawalPermissionError('binance', 'can withdraw (x)');`;
    expect(calls(sample)).toEqual(['withdraw(', 'sapiPostAssetTransfer(', "['privatePostAssetWithdrawal']("]);
  });
});
