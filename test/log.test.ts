/** Logs never carry a secret: a canary passed through the logger in many shapes never appears in the output. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, createLogger, REDACTED, registerSecret, scrub, scrubText, type SmallLogger } from '../src/adapters/log.js';
import { AuthenticationError } from '../src/ports/errors.js';

const CANARY = 'CANARY-k3y-7c1d9e5a';

function capture() {
  const lines: string[] = [];
  const log = createLogger({ level: 'trace', stream: { write: (s: string) => void lines.push(s) } });
  return { log, lines, text: () => lines.join('') };
}

afterEach(() => clearSecrets());

describe('logger: credential fields are redacted by name, at any depth, without registration', () => {
  it('top level, nested, arrays, headers, errors, child bindings', () => {
    const { log, lines, text } = capture();
    log.info({ apiKey: CANARY, secret: CANARY, password: CANARY }, 'connect');
    log.info({ account: { exchange: 'binance', credentials: { apiSecret: CANARY, nested: { deeper: { privateKey: CANARY } } } } }, 'nested');
    log.info({ requests: [{ url: 'https://api.binance.com/api/v3/order', headers: { 'X-MBX-APIKEY': CANARY, Authorization: `Bearer ${CANARY}` } }] }, 'headers');
    log.info({ headers: new Map([['X-MBX-APIKEY', CANARY]]) }, 'map headers');
    log.info({ req: { headers: { authorization: CANARY, 'OK-ACCESS-SIGN': CANARY, 'OK-ACCESS-PASSPHRASE': CANARY } }, query: { signature: CANARY } }, 'venue headers');
    const err = Object.assign(new Error('request failed'), { config: { headers: { 'X-MBX-APIKEY': CANARY }, apiKey: CANARY } });
    log.error({ err }, 'with error');
    log.error(Object.assign(new AuthenticationError('auth'), { token: CANARY }));
    log.warn({ err: new Error('outer', { cause: { secretKey: CANARY } }) }, 'cause');
    log.child({ apiKey: CANARY, account: 'main' }).info('child bindings');
    log.info({ keys: { kind: 'env', prefix: 'BALLAST_MAIN' } }, 'key source is fine to log');
    const circular: Record<string, unknown> = { password: CANARY };
    circular.self = circular;
    log.info({ circular }, 'circular');

    expect(lines.length).toBe(11);
    expect(text()).not.toContain(CANARY);
    expect(text()).toContain(REDACTED);
    const first = JSON.parse(lines[0]!);
    expect(first).toMatchObject({ apiKey: REDACTED, secret: REDACTED, password: REDACTED, msg: 'connect' });
    const withErr = JSON.parse(lines[5]!);
    expect(withErr.err).toMatchObject({ type: 'Error', message: 'request failed', config: { apiKey: REDACTED, headers: { 'X-MBX-APIKEY': REDACTED } } });
    expect(withErr.err.stack).toContain('request failed');
    expect(JSON.parse(lines[6]!).err).toMatchObject({ type: 'AuthenticationError', token: REDACTED });
    expect(JSON.parse(lines[8]!)).toMatchObject({ account: 'main', apiKey: REDACTED });
    expect(JSON.parse(lines[9]!).keys).toEqual({ kind: 'env', prefix: 'BALLAST_MAIN' });
    expect(JSON.parse(lines[10]!).circular.self).toBe('[Circular]');
  });
});

describe('logger: registered secret values never appear, in any position', () => {
  it('messages, printf arguments, error messages and stacks, causes, URLs, JSON inside strings', () => {
    registerSecret(CANARY);
    const { log, text } = capture();
    log.info(`using key ${CANARY}`);
    log.info('printf %s and %o', CANARY, { note: CANARY });
    log.error(new Error(`binance {"code":-2015,"msg":"Invalid API-key ${CANARY}"}`));
    log.error({ err: new Error('outer', { cause: new Error(`inner ${CANARY}`) }) }, 'chain');
    log.info({ url: `https://api.binance.com/api/v3/account?timestamp=1&apiKey=${encodeURIComponent(CANARY)}` }, 'url');
    log.info({ body: JSON.stringify({ note: CANARY }) }, 'json in a string');
    log.info({ list: [1, 'x', [CANARY]], set: new Set([CANARY]), big: 10n }, 'containers');
    log.info({ deep: { a: { b: { c: { d: { e: { f: { g: { h: { i: { j: { k: { l: { m: CANARY } } } } } } } } } } } } } }, 'too deep');
    log.child({ note: CANARY }).warn(CANARY);
    expect(text()).not.toContain(CANARY);
    expect(text()).toContain(REDACTED);
  });

  it('a pino logger is a SmallLogger (what the feed and the notifier take): warn and debug write JSON lines', () => {
    const lines: string[] = [];
    const small: SmallLogger = createLogger({ level: 'debug', stream: { write: (l: string) => lines.push(l) } });
    small.warn({ symbol: 'BTC/USDT', ageMs: 1_500 }, 'stream silent, polling');
    small.debug?.({ n: 2 }, 'detail');
    const got = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(got).toMatchObject([
      { level: 40, symbol: 'BTC/USDT', ageMs: 1_500, msg: 'stream silent, polling' },
      { level: 20, n: 2, msg: 'detail' },
    ]);
  });

  it('scrub and scrubText clean other outputs the same way', () => {
    registerSecret(CANARY);
    registerSecret('short'); // refused: too short to register safely
    expect(scrubText(`a ${CANARY} b`)).toBe(`a ${REDACTED} b`);
    expect(scrubText('a short word')).toBe('a short word');
    const out = JSON.stringify(scrub({ a: [{ b: `x${CANARY}y` }], token: 'abc', ok: true, n: 1 }));
    expect(out).not.toContain(CANARY);
    expect(JSON.parse(out)).toEqual({ a: [{ b: `x${REDACTED}y` }], token: REDACTED, ok: true, n: 1 });
  });

  it('writes JSON lines to a 0600 file, synchronously, without the canary', () => {
    registerSecret(CANARY);
    const dir = mkdtempSync(join(tmpdir(), 'ballast-log-'));
    try {
      const file = join(dir, 'sub', 'ballast.log');
      const log = createLogger({ file });
      log.info({ apiKey: CANARY, headers: { 'X-MBX-APIKEY': CANARY } }, `started with ${CANARY}`);
      log.error(new Error(CANARY));
      const body = readFileSync(file, 'utf8');
      const lines = body.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, apiKey: REDACTED, msg: `started with ${REDACTED}` });
      expect(body).not.toContain(CANARY);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
