/**
 * kill -9 of the venue process itself: every reply the client received is in the state file, so the
 * restarted venue reports exactly what the client last saw (and killing the client changes nothing).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import { tempDir } from './helpers.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function spawnVenue(stateFile: string): Promise<{ child: ChildProcess; ex: RemoteExchange }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/venue/venue-process.ts', stateFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve({ child, ex: new RemoteExchange({ url: `http://127.0.0.1:${m[1]}`, timeoutMs: 5_000 }) });
    });
    child.on('exit', (code) => reject(new Error(`venue process exited (${code}): ${err}`)));
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('venue process killed with SIGKILL', () => {
  it('restarts with every acknowledged order, fill and balance', async () => {
    const tmp = tempDir();
    try {
      const stateFile = join(tmp.dir, 'venue.json');
      const a = await spawnVenue(stateFile);
      await a.ex.pushBar('BTC/USDT', { open: 100, high: 100, low: 100, close: 100, volume: 1e9 });
      const acked: string[] = [];
      for (let i = 0; i < 20; i++) {
        const o = await a.ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: i % 2 ? 'sell' : 'buy', amount: 0.1, price: i % 2 ? 101 + i : 99 - i, clientOrderId: `k${i}` });
        acked.push(o.id);
      }
      await a.ex.createOrder({ symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 0.5, clientOrderId: 'mkt' });
      const balance = await a.ex.fetchBalance();
      const trades = await a.ex.fetchMyTrades();
      // fire more calls and kill the venue while they are in flight
      const inFlight = Array.from({ length: 10 }, (_, i) =>
        a.ex.createOrder({ symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 0.2, price: 50 + i, clientOrderId: `late${i}` }).then(
          () => `late${i}`,
          () => null,
        ),
      );
      // kill as soon as the first of them is acknowledged (the others may still be in flight)
      await new Promise<void>((r) => {
        for (const p of inFlight) void p.then((x) => x !== null && r());
      });
      await killed(a.child);
      const lateAcked = (await Promise.all(inFlight)).filter((x): x is string => x !== null);
      expect(lateAcked.length).toBeGreaterThanOrEqual(1);

      const b = await spawnVenue(stateFile);
      const open = await b.ex.fetchOpenOrders();
      const openIds = new Set(open.map((o) => o.clientOrderId));
      for (let i = 0; i < 20; i++) expect(openIds.has(`k${i}`)).toBe(true);
      for (const id of lateAcked) expect(openIds.has(id)).toBe(true); // acknowledged ⇒ saved
      expect(await b.ex.fetchMyTrades()).toEqual(trades);
      const after = await b.ex.fetchBalance();
      expect(after.total).toEqual(balance.total);
      await killed(b.child);
    } finally {
      tmp.remove();
    }
  }, 30_000);
});
