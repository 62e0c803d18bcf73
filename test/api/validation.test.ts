/** Query strings and bodies are checked (zod): bad input gets 400 naming the field, and changes nothing. */
import { afterEach, describe, expect, it } from 'vitest';
import { apiWorld, type ApiWorld } from './helpers.js';

let aw: ApiWorld | null = null;
afterEach(async () => {
  await aw?.close();
  aw = null;
});

async function bad(r: Promise<Response>, field: string, message?: RegExp): Promise<void> {
  const res = await r;
  const body = (await res.json()) as { error: string; field: string; message: string };
  expect(res.status, JSON.stringify(body)).toBe(400);
  expect(body.error).toBe('bad request');
  expect(body.field).toBe(field);
  expect(body.message).toContain(`"${field}"`);
  if (message) expect(body.message).toMatch(message);
}

describe('query strings', () => {
  it('each bad value is named', async () => {
    aw = await apiWorld();
    await bad(aw.get('/api/orders?limit=abc'), 'limit', /whole number/);
    await bad(aw.get('/api/orders?limit=0'), 'limit', /at least 1/);
    await bad(aw.get('/api/orders?limit=1000000'), 'limit', /at most 10000/);
    await bad(aw.get('/api/orders?state=FILLED,DONE'), 'state', /unknown order state "DONE"/);
    await bad(aw.get('/api/orders?live=maybe'), 'live');
    await bad(aw.get('/api/orders?rebalanceId=-1'), 'rebalanceId');
    await bad(aw.get('/api/hedges?open=yes'), 'open');
    await bad(aw.get('/api/fills?since=yesterday'), 'since', /not a time/);
    await bad(aw.get('/api/fills?account=' + encodeURIComponent('<script>')), 'account');
    await bad(aw.get('/api/journal?type=decision,nonsense'), 'type', /unknown event type "nonsense"/);
    await bad(aw.get('/api/history?maxPoints=99999999'), 'maxPoints');
    await bad(aw.get('/api/funding?limit=1.5'), 'limit');
  });

  it('unknown or repeated parameters are refused (a misspelt filter must not silently return everything)', async () => {
    aw = await apiWorld();
    await bad(aw.get('/api/orders?stat=FILLED'), 'stat', /unknown field "stat"/);
    await bad(aw.get('/api/status?verbose=1'), 'verbose');
    await bad(aw.get('/api/portfolio?x=1'), 'x');
    await bad(aw.get('/metrics?format=json'), 'format');
    await bad(aw.get('/api/events?x=1'), 'x');
    await bad(aw.get('/api/orders?limit=1&limit=2'), 'limit');
  });

  it('good values pass: ISO dates and epoch ms', async () => {
    aw = await apiWorld();
    expect((await aw.get('/api/fills?since=2025-01-01T00:00:00Z')).status).toBe(200);
    expect((await aw.get('/api/journal?since=1700000000000&type=decision')).status).toBe(200);
  });
});

describe('bodies', () => {
  it('each bad field is named; the state is unchanged', async () => {
    aw = await apiWorld();
    await bad(aw.post('/api/halt', { reason: 42 }), 'reason');
    await bad(aw.post('/api/halt', { reason: '' }), 'reason', /must not be empty/);
    await bad(aw.post('/api/halt', { reason: 'x'.repeat(501) }), 'reason', /at most 500/);
    await bad(aw.post('/api/halt', { by: 'a\nb' }), 'by');
    await bad(aw.post('/api/halt', { reason: 'ok', force: true }), 'force', /unknown field "force"/);
    await bad(aw.post('/api/rebalance-now', { reason: ['a'] }), 'reason');
    await bad(aw.post('/api/resume', [1, 2]), '(body)');
    expect(aw.service.state().state).toBe('ACTIVE');
    expect(aw.service.journal.events({ type: 'command' })).toEqual([]);
  });

  it('malformed JSON → 400 on the body, without echoing it', async () => {
    aw = await apiWorld();
    const r = await aw.post('/api/halt', '{"reason": "secret-ish-text', undefined, { 'content-type': 'application/json' });
    expect(r.status).toBe(400);
    const body = (await r.json()) as { field: string; message: string };
    expect(body.field).toBe('(body)');
    expect(body.message).not.toContain('secret-ish-text');
    expect(aw.service.state().state).toBe('ACTIVE');
  });

  it('a body over 16 KiB is refused', async () => {
    aw = await apiWorld();
    const r = await aw.post('/api/halt', { reason: 'x'.repeat(20_000) });
    expect(r.status).toBe(413);
    expect(aw.service.state().state).toBe('ACTIVE');
  });
});

describe('prototype keys', () => {
  it('a __proto__ or constructor.prototype key is refused by name, not as "not valid JSON"', async () => {
    aw = await apiWorld();
    for (const [raw, field] of [
      ['{"__proto__": {"admin": true}, "reason": "x"}', '__proto__'],
      ['{"reason": "x", "constructor": {"prototype": {"admin": true}}}', 'constructor.prototype'],
    ] as const) {
      const r = await aw.post('/api/halt', raw, undefined, { 'content-type': 'application/json' });
      expect(r.status).toBe(400);
      expect(await r.json()).toEqual({ error: 'bad request', field, message: `field "${field}": prototype keys (__proto__, constructor.prototype) are refused` });
    }
    const bad = await aw.post('/api/halt', '{"reason": ', undefined, { 'content-type': 'application/json' });
    expect(await bad.json()).toEqual({ error: 'bad request', field: '(body)', message: 'the body is not valid JSON' });
    expect(aw.service.state().state).toBe('ACTIVE');
    // the body is optional (docs/api.md says so): an empty POST halts with the default reason
    const none = await aw.post('/api/halt');
    expect(none.status).toBe(200);
    expect(aw.service.state()).toMatchObject({ state: 'HALTED', reason: 'halted from the API' });
  });
});
