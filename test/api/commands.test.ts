/**
 * The write endpoints (POST only): halt, reduce-only, resume, rebalance-now. Each changes the trading state (or
 * runs a cycle through the same checks) and is journaled with who and when.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CycleReport } from '../../src/service/service.js';
import { MIN } from '../execution/helpers.js';
import { apiWorld, type ApiWorld } from './helpers.js';

let aw: ApiWorld | null = null;
afterEach(async () => {
  await aw?.close();
  aw = null;
});

describe('trading-state commands', () => {
  it('halt, reduce-only, resume: change the state, journal command and state change with who and when', async () => {
    aw = await apiWorld();
    const j = aw.service.journal;
    const steps = [
      ['/api/halt', 'HALTED', 'halt'],
      ['/api/reduce-only', 'REDUCING', 'reduce-only'],
      ['/api/resume', 'ACTIVE', 'resume'],
    ] as const;
    for (const [path, state, command] of steps) {
      aw.w.clock.advance(MIN);
      const at = aw.w.clock.now();
      const r = await aw.post(path, { reason: `reason for ${command}`, by: 'alice' });
      expect(r.status, path).toBe(200);
      const body = (await r.json()) as { ok: boolean; trading: { state: string; by: string; at: number; reason: string } };
      expect(body).toEqual({ ok: true, trading: { state, by: 'api:alice@127.0.0.1', at, reason: `reason for ${command}` } });
      expect(aw.service.state()).toEqual(body.trading);
      const cmd = j.events({ type: 'command', limit: 1 })[0]!;
      expect(cmd.time).toBe(at);
      expect(cmd.payload).toEqual({ command, by: 'api:alice@127.0.0.1', reason: `reason for ${command}` });
      const st = j.events({ type: 'state', limit: 1 })[0]!;
      expect(st.time).toBe(at);
      expect(st.payload).toMatchObject({ to: state, by: 'api:alice@127.0.0.1' });
      const status = (await (await aw.get('/api/status')).json()) as { trading: { state: string } };
      expect(status.trading.state).toBe(state);
    }
  });

  it('without a body: a default reason, and "api@<ip>" as who', async () => {
    aw = await apiWorld();
    const r = await aw.post('/api/halt');
    expect(r.status).toBe(200);
    expect(aw.service.state()).toMatchObject({ state: 'HALTED', by: 'api@127.0.0.1', reason: 'halted from the API' });
  });

  it('a halt stops the next cycle from trading', async () => {
    aw = await apiWorld({ cycles: 0 });
    await aw.post('/api/halt', { reason: 'stop' });
    const c = await aw.service.runOnce();
    expect(c.status).toBe('halted');
    expect(aw.service.journal.intents()).toEqual([]);
  });

  it('writes are POST only: GET, PUT and DELETE on them are 404 (with the token)', async () => {
    aw = await apiWorld();
    for (const p of ['/api/halt', '/api/reduce-only', '/api/resume', '/api/rebalance-now']) {
      expect((await aw.get(p)).status, `GET ${p}`).toBe(404);
      for (const method of ['PUT', 'DELETE']) {
        const r = await fetch(aw.api.url + p, { method, headers: { authorization: `Bearer ${aw.token}` } });
        expect(r.status, `${method} ${p}`).toBe(404);
      }
    }
    expect(aw.service.state().state).toBe('ACTIVE');
  });

  it('a form post (what a foreign page could send) is refused: 415, nothing changes', async () => {
    aw = await apiWorld();
    const r = await aw.post('/api/halt', 'reason=x', undefined, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(r.status).toBe(415);
    expect(aw.service.state().state).toBe('ACTIVE');
  });
});

describe('rebalance now', () => {
  it('runs a cycle through the planner and risk checks, journaled with who and when', async () => {
    aw = await apiWorld({ cycles: 0 });
    const at = aw.w.clock.now();
    const r = await aw.post('/api/rebalance-now', { reason: 'saw the breach', by: 'bob' });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { cycle: { status: string; actions: number; rebalanceId: number } };
    expect(body.cycle).toMatchObject({ status: 'traded', actions: 1, rebalanceId: 1 });
    const cmd = aw.service.journal.events({ type: 'command' })[0]!;
    expect(cmd).toMatchObject({ time: at, payload: { command: 'rebalance-now', by: 'api:bob@127.0.0.1', reason: 'saw the breach' } });
    // nothing left to do: a second request trades nothing
    aw.w.clock.advance(MIN);
    const again = (await (await aw.post('/api/rebalance-now', {})).json()) as { cycle: { status: string } };
    expect(again.cycle.status).toBe('nothing-to-do');
  });

  it('HALTED: the cycle is refused by the same checks (no order)', async () => {
    aw = await apiWorld({ cycles: 0 });
    await aw.post('/api/halt', { reason: 'no' });
    const body = (await (await aw.post('/api/rebalance-now', {})).json()) as { cycle: { status: string } };
    expect(body.cycle.status).toBe('halted');
    expect(aw.service.journal.intents()).toEqual([]);
  });

  it('concurrent requests run one cycle at a time', async () => {
    aw = await apiWorld({ cycles: 0 });
    const [a, b] = await Promise.all([aw.post('/api/rebalance-now', {}), aw.post('/api/rebalance-now', {})]);
    const statuses = [((await a.json()) as { cycle: { status: string } }).cycle.status, ((await b.json()) as { cycle: { status: string } }).cycle.status].sort();
    expect(statuses).toEqual(['nothing-to-do', 'traded']);
    expect(aw.service.journal.intents()).toHaveLength(1);
  });

  it('uses the rebalanceNow hook when given (a running loop is woken instead): 202 without a report', async () => {
    let woken = 0;
    aw = await apiWorld({
      cycles: 0,
      api: {
        rebalanceNow: async (): Promise<CycleReport | null> => {
          woken++;
          return null;
        },
      },
    });
    const r = await aw.post('/api/rebalance-now', {});
    expect(r.status).toBe(202);
    expect(await r.json()).toMatchObject({ ok: true, accepted: true, cycle: null, trading: { state: 'ACTIVE' } });
    expect(woken).toBe(1);
    expect(aw.service.journal.intents()).toEqual([]);
  });
});
