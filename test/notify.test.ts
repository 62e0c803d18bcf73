/** Webhook notifications: delivered to a local server, filtered by type, scrubbed; a down webhook breaks nothing. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { clearSecrets, registerSecret } from '../src/adapters/log.js';
import { Notifier, webhookOrigin } from '../src/adapters/notify.js';
import type { NotifyConfig } from '../src/core/types.js';

const CANARY = 'CANARY-hook-4b2e8f1a';
const T = Date.UTC(2025, 2, 1);

interface Hook {
  url: string;
  received: { path: string; type: string | undefined; body: unknown }[];
  server: Server;
}

async function startHook(handler?: (req: IncomingMessage) => number | 'hang'): Promise<Hook> {
  const received: Hook['received'] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      received.push({ path: req.url ?? '', type: req.headers['content-type'], body: JSON.parse(body) });
      const answer = handler?.(req) ?? 204;
      if (answer === 'hang') return;
      res.statusCode = answer;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook/${CANARY}`, received, server };
}

function stop(h: Hook): Promise<void> {
  h.server.closeAllConnections();
  return new Promise((r) => h.server.close(() => r()));
}

function warnings() {
  const lines: { obj: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    logger: { warn: (obj: Record<string, unknown>, msg: string) => void lines.push({ obj, msg }), debug: () => {} },
  };
}

const cfg = (webhook: string | null, over: Partial<NotifyConfig> = {}): NotifyConfig => ({
  webhook,
  events: ['trigger', 'order', 'fill', 'halt'],
  timeoutMs: 2000,
  ...over,
});

let hooks: Hook[] = [];
afterEach(async () => {
  await Promise.all(hooks.map(stop));
  hooks = [];
  clearSecrets();
});

describe('webhook notifications', () => {
  it('POSTs each configured event as JSON to the webhook', async () => {
    const hook = await startHook();
    hooks.push(hook);
    const n = new Notifier(cfg(hook.url, { events: ['fill', 'halt'] }));
    expect(await n.notify({ type: 'fill', time: T, summary: 'filled buy 0.1 BTC/USDT at 58000', account: 'main', data: { symbol: 'BTC/USDT', amount: 0.1, price: 58000 } })).toBe(true);
    expect(await n.notify({ type: 'trigger', time: T, summary: 'BTC above its band' })).toBe(false); // not configured
    expect(await n.notify({ type: 'halt', time: T, summary: 'kill switch' })).toBe(true);
    expect(hook.received.map((r) => (r.body as { type: string }).type)).toEqual(['fill', 'halt']);
    expect(hook.received[0]).toMatchObject({
      path: `/hook/${CANARY}`,
      type: 'application/json',
      body: {
        source: 'ballast',
        type: 'fill',
        time: T,
        iso: '2025-03-01T00:00:00.000Z',
        summary: 'filled buy 0.1 BTC/USDT at 58000',
        account: 'main',
        data: { symbol: 'BTC/USDT', amount: 0.1, price: 58000 },
      },
    });
  });

  it('sends no secrets: credential fields and registered values are redacted', async () => {
    const hook = await startHook();
    hooks.push(hook);
    const SECRET = 'CANARY-payload-0d9c3b7e';
    registerSecret(SECRET);
    const n = new Notifier(cfg(hook.url));
    await n.notify({ type: 'order', time: T, summary: `order with ${SECRET}`, data: { apiKey: 'raw-unregistered-key', request: { headers: { 'X-MBX-APIKEY': 'abc123456' } }, note: SECRET } });
    const text = JSON.stringify(hook.received[0]!.body);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('raw-unregistered-key');
    expect(text).not.toContain('abc123456');
    expect(text).toContain('[REDACTED]');
  });

  it('a webhook that is down, failing or hanging breaks nothing and is logged without its token', async () => {
    // down: a port nobody listens on
    const gone = await startHook();
    const downUrl = gone.url;
    await stop(gone);
    const w = warnings();
    const n = new Notifier(cfg(downUrl), { logger: w.logger });
    await expect(n.notify({ type: 'halt', time: T, summary: 'halted' })).resolves.toBe(false);

    // failing: HTTP 500
    const failing = await startHook(() => 500);
    hooks.push(failing);
    const n500 = new Notifier(cfg(failing.url), { logger: w.logger });
    await expect(n500.notify({ type: 'fill', time: T, summary: 'x' })).resolves.toBe(false);

    // hanging: never answers; the timeout ends the delivery
    const hanging = await startHook(() => 'hang');
    hooks.push(hanging);
    const slow = new Notifier(cfg(hanging.url, { timeoutMs: 150 }), { logger: w.logger });
    // (a timeout that did not end the delivery would leave flush() waiting until the test's own timeout)
    const p = slow.notify({ type: 'order', time: T, summary: 'y' });
    await slow.flush();
    await expect(p).resolves.toBe(false);

    expect(w.lines).toHaveLength(3);
    expect(w.lines[1]!.msg).toContain('HTTP 500');
    expect(w.lines[2]!.obj.reason).toContain('no answer within 150 ms');
    for (const l of w.lines) {
      expect(JSON.stringify(l)).not.toContain(CANARY);
      expect(l.obj.webhook).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    }
  });

  it('does nothing without a webhook, and drops events beyond the in-flight limit', async () => {
    const none = new Notifier(cfg(null));
    expect(none.wants('fill')).toBe(false);
    expect(await none.notify({ type: 'fill', time: T, summary: 'x' })).toBe(false);

    const hanging = await startHook(() => 'hang');
    hooks.push(hanging);
    const w = warnings();
    const n = new Notifier(cfg(hanging.url, { timeoutMs: 300 }), { logger: w.logger, maxPending: 2 });
    const results = Promise.all([1, 2, 3].map((i) => n.notify({ type: 'order', time: T, summary: `o${i}` })));
    await n.flush();
    expect(await results).toEqual([false, false, false]);
    expect(w.lines.filter((l) => l.msg.includes('dropped') && l.obj.pending === 2)).toHaveLength(1);
  });

  it('webhookOrigin keeps only scheme, host and port', () => {
    expect(webhookOrigin(`https://hooks.example.com:8443/services/${CANARY}?token=${CANARY}`)).toBe('https://hooks.example.com:8443');
  });
});
