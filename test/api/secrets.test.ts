/**
 * No answer ever contains a key or secret (docs/concepts.md: canary-secret test over API responses). A canary is
 * registered as a secret and planted where a leak could come from — the environment (as an account's API key),
 * journal payloads (an alert quoting a venue error, a decision, an order's reason), a query value — then every
 * endpoint is read, the live stream included, and every body is searched for it. The API token itself must not
 * come back either.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clearSecrets, registerSecret } from '../../src/adapters/log.js';
import { ACCOUNT, SPOT } from '../execution/helpers.js';
import { apiWorld, READ_ENDPOINTS, type ApiWorld } from './helpers.js';

const CANARY = 'cAnArY-7f3e9b2d41a8c6e05d9f1b7a3c2e8d4f';
const ENV = ['BALLAST_MAIN_API_KEY', 'BALLAST_MAIN_API_SECRET', 'BALLAST_MAIN_API_PASSWORD'];

let aw: ApiWorld | null = null;
beforeEach(() => {
  for (const k of ENV) process.env[k] = CANARY;
  registerSecret(CANARY);
});
afterEach(async () => {
  await aw?.close();
  aw = null;
  for (const k of ENV) delete process.env[k];
  clearSecrets();
});

async function readStream(url: string, token: string): Promise<string> {
  const ctrl = new AbortController();
  const r = await fetch(`${url}/api/events`, { headers: { authorization: `Bearer ${token}` }, signal: ctrl.signal });
  const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  while (!text.includes('event: hello')) text += (await reader.read()).value ?? '';
  ctrl.abort();
  return text;
}

describe('the no-secret rule', () => {
  it('a canary secret planted in env and journal never appears in any answer', async () => {
    aw = await apiWorld({
      api: {
        feed: { status: () => ({ accounts: [{ name: ACCOUNT, inputs: [], errors: [{ what: 'balance', time: 0, message: `binance -2014: API-key format invalid (${CANARY})` }] }] }) },
      },
    });
    const j = aw.service.journal;
    const now = aw.w.clock.now();
    j.appendEvent({ time: now, type: 'alert', payload: { paused: `snapshot: AuthenticationError: invalid api key ${CANARY}`, apiKey: CANARY, headers: { 'X-MBX-APIKEY': CANARY } } });
    j.appendEvent({ time: now, type: 'decision', payload: { status: 'paused', reason: `cannot value the portfolio: venue said ${CANARY}`, explanation: [`key=${CANARY}`] } });
    j.appendEvent({ time: now, type: 'command', payload: { command: 'halt', by: 'api', reason: `pasted by mistake: ${CANARY}` } });
    const intent = j.intents()[0]!;
    j.updateIntent({ ...intent, reason: `venue echoed the signature ${CANARY}` });
    j.insertHedge({ account: ACCOUNT, class: 'BTC', symbol: SPOT, contracts: 0, entryPrice: 1, openedAt: 1, closedAt: 2, openReason: `x ${CANARY}`, closeReason: `y ${CANARY}`, fundingPaid: 0, realisedPnl: 0, fees: 0 });

    const bodies: string[] = [];
    for (const p of [...READ_ENDPOINTS, '/api/journal?type=alert,decision,command&limit=500', `/api/fills?account=${CANARY}`, `/api/fills?since=${CANARY}`, `/api/journal?type=${CANARY}`, `/api/orders?${CANARY}=1`]) {
      const r = await aw.get(p);
      expect([200, 400], p).toContain(r.status);
      bodies.push(await r.text());
    }
    for (const p of ['/api/halt', '/api/resume', '/api/rebalance-now']) {
      const r = await aw.post(p, { reason: `again ${CANARY}` });
      bodies.push(await r.text());
    }
    bodies.push(await readStream(aw.api.url, aw.token));
    const all = bodies.join('\n');
    // the planted texts did come through (so the search is meaningful), with the canary cut out
    expect(all).toContain('invalid api key [REDACTED]');
    expect(all).toContain('venue echoed the signature [REDACTED]');
    expect(all).toContain('API-key format invalid ([REDACTED])');
    for (const b of bodies) {
      expect(b).not.toContain(CANARY);
      expect(b).not.toContain(CANARY.slice(0, 20));
      expect(b).not.toContain(aw.token);
    }
    expect(aw.logs.join('\n')).not.toContain(aw.token);
  });
});
