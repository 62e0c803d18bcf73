/**
 * Who may talk to the API: every /api/* and /metrics request needs the bearer token (missing or wrong → 401,
 * logged without the token); the token file is created 0600 with 32 random bytes and reused; a token file
 * others can read is refused; the API refuses to listen on a non-loopback address unless told to.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiConfigError, bearerOf, checkBind, isLoopback, loadOrCreateToken, MIN_TOKEN_LENGTH, tokenMatches } from '../../src/apps/api/auth.js';
import { startApi } from '../../src/apps/api/server.js';
import { apiWorld, READ_ENDPOINTS, type ApiWorld } from './helpers.js';

// node:crypto with timingSafeEqual observed (it still compares): the token check must go through it.
vi.mock('node:crypto', async (importOriginal) => {
  const m = await importOriginal<typeof import('node:crypto')>();
  return { ...m, timingSafeEqual: vi.fn(m.timingSafeEqual) };
});

let aw: ApiWorld | null = null;
const dirs: string[] = [];
afterEach(async () => {
  await aw?.close();
  aw = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'ballast-auth-'));
  dirs.push(d);
  return d;
}

describe('bearer token on every request', () => {
  it('no token → 401 on every endpoint, write endpoints included', async () => {
    aw = await apiWorld();
    for (const p of [...READ_ENDPOINTS, '/api/events', '/api/nothing-here']) {
      const r = await aw.get(p, null);
      expect(r.status, p).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(await r.json()).toMatchObject({ error: 'unauthorized' });
    }
    for (const p of ['/api/halt', '/api/reduce-only', '/api/resume', '/api/rebalance-now']) expect((await aw.post(p, {}, null)).status, p).toBe(401);
    expect(aw.service.state().state).toBe('ACTIVE');
  });

  it('wrong token, a token with a different length, or another scheme → 401; the state is unchanged', async () => {
    aw = await apiWorld();
    const wrong = aw.token.slice(0, -1) + (aw.token.endsWith('A') ? 'B' : 'A');
    for (const t of [wrong, aw.token + 'x', 'short']) {
      expect((await aw.get('/api/status', t)).status).toBe(401);
      expect((await aw.post('/api/halt', { reason: 'x' }, t)).status).toBe(401);
    }
    expect((await aw.get('/api/status', null, { authorization: `Basic ${Buffer.from(`u:${aw.token}`).toString('base64')}` })).status).toBe(401);
    expect((await aw.get('/api/status', null, { authorization: aw.token })).status).toBe(401);
    expect(aw.service.state().state).toBe('ACTIVE');
  });

  it('the right token → 200 on every read endpoint', async () => {
    aw = await apiWorld();
    for (const p of READ_ENDPOINTS) expect((await aw.get(p)).status, p).toBe(200);
    // the scheme is case-insensitive
    expect((await aw.get('/api/status', null, { authorization: `bearer ${aw.token}` })).status).toBe(200);
  });

  it('a refused request is logged with method, path and reason — never the token, right or wrong', async () => {
    aw = await apiWorld();
    const wrong = 'W'.repeat(43);
    await aw.get('/api/status', wrong);
    await aw.get('/api/status?token=' + wrong, null);
    await aw.get('/api/portfolio', null);
    await aw.get('/api/status'); // the right one
    await aw.post('/api/halt', { reason: 'test' });
    const refused = aw.logs.filter((l) => l.includes('unauthorized'));
    expect(refused).toHaveLength(3);
    expect(refused[0]).toMatch(/"reason":"wrong bearer token"/);
    expect(refused[2]).toMatch(/"path":"\/api\/portfolio".*"reason":"missing bearer token"/);
    const all = aw.logs.join('\n');
    expect(all).not.toContain(wrong);
    expect(all).not.toContain(aw.token);
    expect(all).not.toContain('token=');
  });

  it('tokens are compared with crypto.timingSafeEqual over equal-length SHA-256 digests (any length, no throw)', () => {
    const t = 'a'.repeat(43);
    const spy = vi.mocked(timingSafeEqual);
    const sha = (x: string) => createHash('sha256').update(x, 'utf8').digest();
    for (const [presented, want] of [
      [t, true],
      ['a', false],
      [t + 'a', false],
      ['', false],
    ] as const) {
      spy.mockClear();
      expect(tokenMatches(presented, t)).toBe(want);
      // one constant-time comparison, of the two digests: 32 bytes each whatever the lengths presented
      expect(spy).toHaveBeenCalledTimes(1);
      const [a, b] = spy.mock.calls[0]! as [Buffer, Buffer];
      expect([a.length, b.length]).toEqual([32, 32]);
      expect(a.equals(sha(presented))).toBe(true);
      expect(b.equals(sha(t))).toBe(true);
    }
    expect(bearerOf('Bearer abc')).toBe('abc');
    expect(bearerOf('Bearer  abc ')).toBe('abc');
    expect(bearerOf('Basic abc')).toBeNull();
    expect(bearerOf(undefined)).toBeNull();
    expect(bearerOf(['Bearer a', 'Bearer b'])).toBeNull();
  });
});

describe('token file', () => {
  it('is created on first run with mode 0600 (folder 0700), 32 random bytes, and reused after', async () => {
    const d = tmp();
    const file = join(d, '.ballast', 'api-token');
    const a = loadOrCreateToken(file);
    expect(a.created).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(d, '.ballast')).mode & 0o777).toBe(0o700);
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a.token, 'base64url')).toHaveLength(32);
    const b = loadOrCreateToken(file);
    expect(b).toEqual({ token: a.token, created: false });
    expect(loadOrCreateToken(join(d, 'other')).token).not.toBe(a.token);
  });

  it('a server restart reuses the token: the old dashboard URL keeps working', async () => {
    aw = await apiWorld();
    const first = aw.api.dashboardUrl;
    expect(first).toBe(`${aw.api.url}/#token=${aw.token}`);
    const again = await startApi({ service: aw.service, journal: aw.service.journal, portfolio: aw.w.portfolio, mode: 'paper', port: 0, tokenFile: aw.tokenFile, clock: aw.w.clock, dashboard: false });
    try {
      expect(again.dashboardUrl.split('#')[1]).toBe(`token=${aw.token}`);
      expect((await fetch(`${again.url}/api/status`, { headers: { authorization: `Bearer ${aw.token}` } })).status).toBe(200);
    } finally {
      await again.close();
    }
  });

  it('a token file readable by others is refused, with the fix in the message', () => {
    const d = tmp();
    const file = join(d, 'api-token');
    loadOrCreateToken(file);
    chmodSync(file, 0o644);
    expect(() => loadOrCreateToken(file)).toThrow(ApiConfigError);
    expect(() => loadOrCreateToken(file)).toThrow(/readable by other users \(mode 644\).*chmod 600/);
  });

  it('a token file holding a short or malformed token is refused', () => {
    const d = tmp();
    const file = join(d, 'api-token');
    writeFileSync(file, 'password123\n', { mode: 0o600 });
    expect(() => loadOrCreateToken(file)).toThrow(new RegExp(`at least 32 random bytes .*${MIN_TOKEN_LENGTH}\\+ characters`));
    writeFileSync(file, `${'x'.repeat(40)} ${'y'.repeat(10)}\n`, { mode: 0o600 });
    expect(() => loadOrCreateToken(file)).toThrow(ApiConfigError);
    expect(readFileSync(file, 'utf8')).toContain('x'); // never overwritten
  });
});

describe('where the API listens', () => {
  it('loopback by default', async () => {
    aw = await apiWorld();
    expect(aw.api.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses 0.0.0.0, :: and a LAN address without allowRemote, before creating any token file', async () => {
    aw = await apiWorld();
    const d = tmp();
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
      const tokenFile = join(d, `token-${host.replace(/[^a-z0-9]/gi, '_')}`);
      await expect(startApi({ service: aw.service, journal: aw.service.journal, portfolio: aw.w.portfolio, mode: 'paper', host, port: 0, tokenFile, dashboard: false })).rejects.toThrow(
        /refusing to bind the API to .*allowRemote/,
      );
      expect(() => statSync(tokenFile)).toThrow();
    }
  });

  it('binds to 0.0.0.0 with allowRemote: true, and still wants the token', async () => {
    aw = await apiWorld();
    const tokenFile = join(tmp(), 'token');
    const remote = await startApi({ service: aw.service, journal: aw.service.journal, portfolio: aw.w.portfolio, mode: 'paper', host: '0.0.0.0', allowRemote: true, port: 0, tokenFile, dashboard: false });
    try {
      const port = new URL(remote.url).port;
      expect((await fetch(`http://127.0.0.1:${port}/api/status`)).status).toBe(401);
      const token = readFileSync(tokenFile, 'utf8').trim();
      expect((await fetch(`http://127.0.0.1:${port}/api/status`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    } finally {
      await remote.close();
    }
  });

  it('isLoopback / checkBind', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '192.168.0.2', 'example.com', '128.0.0.1']) expect(isLoopback(h), h).toBe(false);
    expect(() => checkBind('127.0.0.1', undefined)).not.toThrow();
    expect(() => checkBind('0.0.0.0', false)).toThrow(ApiConfigError);
    expect(() => checkBind('0.0.0.0', true)).not.toThrow();
  });
});

describe('the dashboard files', () => {
  it('are the only thing served without the token, carry no data, and come with a strict CSP', async () => {
    aw = await apiWorld({ api: { dashboard: true } });
    const html = await fetch(`${aw.api.url}/`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(html.headers.get('content-security-policy')).toMatch(/default-src 'none'; script-src 'self'/);
    expect(html.headers.get('x-frame-options')).toBe('DENY');
    expect(html.headers.get('access-control-allow-origin')).toBeNull();
    const text = await html.text();
    expect(text).not.toContain(aw.token);
    expect(text).not.toMatch(/\$\d/); // no money figures: data only comes from /api with the token
    for (const a of ['/assets/app.js', '/assets/app.css']) {
      const r = await fetch(aw.api.url + a);
      expect(r.status, a).toBe(200);
      const body = await r.text();
      expect(body.length).toBeGreaterThan(1000);
      expect(body).not.toContain(aw.token);
    }
    // uPlot is bundled: no CDN
    expect(text).not.toMatch(/https?:\/\//);
    expect((await fetch(`${aw.api.url}/assets/other.js`)).status).toBe(401);
  });
});
