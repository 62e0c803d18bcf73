/**
 * API keys: environment and 0600 key file sources, refusal of looser files, and a planted canary that
 * must never show up in JSON, console output, util.inspect, template strings, pino logs or error messages.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { format, inspect } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkKeyPermissions,
  credentialsFromEnv,
  credentialsFromFile,
  envPrefix,
  KeyError,
  loadCredentials,
  Secret,
  UnverifiedKeyError,
  WithdrawalPermissionError,
} from '../src/adapters/keys.js';

const KEY = 'CANARYkeyQ7v9XbZ2mP4tL8nR1sW6yK3jH5gD0fA';
const SECRET = 'CANARYsecretZ9y8X7w6V5u4T3s2R1q0PoNmLkJiHgF';
const PASS = 'CANARYpassphrase42xyz';
const leaks = (s: string) => s.includes(KEY) || s.includes(SECRET) || s.includes(PASS);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ballast-keys-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function keyFile(name: string, content: unknown, mode: number): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, typeof content === 'string' ? content : JSON.stringify(content));
  await chmod(p, mode);
  return p;
}

describe('environment', () => {
  it('names variables BALLAST_<ACCOUNT>_API_KEY with the account upper-cased, non-alphanumerics → _', () => {
    expect(envPrefix('okx-main')).toBe('BALLAST_OKX_MAIN');
    expect(envPrefix('Binance Sub.1')).toBe('BALLAST_BINANCE_SUB_1');
  });

  it('reads key, secret and (OKX) password', () => {
    const env = { BALLAST_OKX_MAIN_API_KEY: KEY, BALLAST_OKX_MAIN_API_SECRET: SECRET, BALLAST_OKX_MAIN_API_PASSWORD: PASS };
    const c = credentialsFromEnv('okx-main', env)!;
    expect(c.apiKey.reveal()).toBe(KEY);
    expect(c.secret.reveal()).toBe(SECRET);
    expect(c.password!.reveal()).toBe(PASS);
    expect(c.source).toBe('env:BALLAST_OKX_MAIN_API_KEY');
    expect(leaks(JSON.stringify(c))).toBe(false);
  });

  it('no variables → undefined; only one of key/secret → KeyError naming the variables', () => {
    expect(credentialsFromEnv('main', {})).toBeUndefined();
    expect(() => credentialsFromEnv('main', { BALLAST_MAIN_API_KEY: KEY })).toThrow(/set both BALLAST_MAIN_API_KEY and BALLAST_MAIN_API_SECRET/);
    try {
      credentialsFromEnv('main', { BALLAST_MAIN_API_KEY: KEY });
    } catch (e) {
      expect(leaks(String(e))).toBe(false);
    }
  });

  it('loadCredentials: OKX without a passphrase is refused; nothing configured says what to set', async () => {
    await expect(loadCredentials({ account: 'o', venue: 'okx', env: { BALLAST_O_API_KEY: KEY, BALLAST_O_API_SECRET: SECRET } })).rejects.toThrow(/BALLAST_O_API_PASSWORD/);
    await expect(loadCredentials({ account: 'none', env: {} })).rejects.toThrow(/set BALLAST_NONE_API_KEY and BALLAST_NONE_API_SECRET, or give a key file/);
  });
});

describe('key file', () => {
  it('reads a 0600 file', async () => {
    const p = await keyFile('ok.json', { apiKey: KEY, secret: SECRET }, 0o600);
    const c = await credentialsFromFile(p);
    expect(c.apiKey.reveal()).toBe(KEY);
    expect(c.password).toBeUndefined();
    expect(c.source).toBe(p);
    const viaLoad = await loadCredentials({ account: 'x', keyFile: p, env: { BALLAST_X_API_KEY: 'env-key', BALLAST_X_API_SECRET: 'env-secret' } });
    expect(viaLoad.apiKey.reveal()).toBe(KEY); // the file wins when given
  });

  it('accepts 0400 (stricter)', async () => {
    const p = await keyFile('ro.json', { apiKey: KEY, secret: SECRET, password: PASS }, 0o400);
    expect((await credentialsFromFile(p)).password!.reveal()).toBe(PASS);
  });

  it('refuses 0644 with an error naming the file and its mode, never the key', async () => {
    const p = await keyFile('loose.json', { apiKey: KEY, secret: SECRET }, 0o644);
    const e = await credentialsFromFile(p).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KeyError);
    expect(String(e)).toContain(`key file ${p} has mode 0644: it must be 0600 or stricter`);
    expect(String(e)).toContain(`chmod 600 ${p}`);
    expect(leaks(String(e)) || leaks(inspect(e))).toBe(false);
  });

  it('refuses 0640 and 0604 too', async () => {
    await expect(credentialsFromFile(await keyFile('g.json', { apiKey: KEY, secret: SECRET }, 0o640))).rejects.toThrow(/mode 0640/);
    await expect(credentialsFromFile(await keyFile('o.json', { apiKey: KEY, secret: SECRET }, 0o604))).rejects.toThrow(/mode 0604/);
  });

  it('bad JSON / missing fields / missing file are located without quoting the content', async () => {
    const bad = await keyFile('bad.json', `{"apiKey": "${KEY}", secret: ${SECRET}}`, 0o600);
    const e1 = await credentialsFromFile(bad).catch((x: unknown) => x);
    expect(String(e1)).toBe(`KeyError: key file ${bad}: not valid JSON`);
    const missing = await keyFile('missing.json', { apiKey: KEY }, 0o600);
    await expect(credentialsFromFile(missing)).rejects.toThrow(/field "secret" must be a non-empty string/);
    await expect(credentialsFromFile(join(dir, 'nope.json'))).rejects.toThrow(/cannot read it \(ENOENT\)/);
  });
});

describe('Secret redaction (canary)', () => {
  const s = new Secret(KEY);
  const creds = { apiKey: s, secret: new Secret(SECRET), password: new Secret(PASS), source: 'test' };

  it('prints [REDACTED] everywhere; reveal() is the only way out', () => {
    expect(String(s)).toBe('[REDACTED]');
    expect(`${s}`).toBe('[REDACTED]');
    expect('' + s).toBe('[REDACTED]');
    expect(JSON.stringify(creds)).toBe('{"apiKey":"[REDACTED]","secret":"[REDACTED]","password":"[REDACTED]","source":"test"}');
    expect(inspect(creds, { depth: 5, showHidden: true })).not.toContain('CANARY');
    expect(format('%s %o %O %j', s, creds, creds, creds)).not.toContain('CANARY');
    expect(s.reveal()).toBe(KEY);
  });

  it('console.log and errors built from it never contain the canary', () => {
    const out: string[] = [];
    const orig = console.log;
    console.log = (...a: unknown[]) => out.push(format(...a));
    try {
      console.log(creds);
      console.log('key is', s, { nested: { creds } });
    } finally {
      console.log = orig;
    }
    expect(out.join('\n')).not.toContain('CANARY');
    const e = new Error(`login failed for ${s} / ${creds.secret}`, { cause: creds });
    expect(leaks(e.message) || leaks(inspect(e)) || leaks(String(e.stack))).toBe(false);
  });

  it('pino logs show [REDACTED]', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    const log = pino({ level: 'info' }, sink);
    log.info({ creds, key: s }, 'starting with %s', s);
    expect(lines.join('')).toContain('[REDACTED]');
    expect(leaks(lines.join(''))).toBe(false);
  });
});

describe('checkKeyPermissions', () => {
  const venue = (canWithdraw: boolean | null, detail = 'x') => ({ id: 'testvenue', fetchKeyPermissions: async () => ({ canWithdraw, detail }) });

  it('refuses a key that can withdraw with a typed error', async () => {
    const e = await checkKeyPermissions(venue(true, 'apiRestrictions.enableWithdrawals = true')).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(WithdrawalPermissionError);
    expect(String(e)).toMatch(/testvenue: this API key can WITHDRAW funds \(apiRestrictions.enableWithdrawals = true\)/);
  });

  it('verified when the venue says it cannot withdraw; an unreadable answer is refused unless explicitly allowed', async () => {
    expect(await checkKeyPermissions(venue(false, 'perm = read_only,trade'))).toEqual({ verified: true, detail: 'testvenue: key cannot withdraw (perm = read_only,trade)', canTransfer: null });
    const refused = await checkKeyPermissions(venue(null, 'no such endpoint')).catch((x: unknown) => x);
    expect(refused).toBeInstanceOf(UnverifiedKeyError);
    expect(refused).toBeInstanceOf(KeyError); // exit 2 in the CLI
    expect(String(refused)).toMatch(/cannot verify that this API key cannot withdraw \(no such endpoint\).*--allow-unverified-keys/);
    const u = await checkKeyPermissions(venue(null, 'no such endpoint'), { allowUnverified: true });
    expect(u.verified).toBe(false);
    expect(u.detail).toMatch(/cannot verify/);
  });
});
