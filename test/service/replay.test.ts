/**
 * ReplayDriver and run time, on a stub service and a manual clock: one cycle per bar close, resume after the
 * journal's last processed bar, a bar interrupted by a crash planned again (at the venue's later time, inside the
 * bar), bars the venue clock already passed skipped and counted, --from / --until, pacing; the three run clocks;
 * the journal summary; and startRun's onStarted hook (where the HTTP API attaches).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import { startRun } from '../../src/apps/cli/run.js';
import { ManualClock } from '../../src/ports/clock.js';
import { LAST_BAR_META, ReplayDriver } from '../../src/service/replay.js';
import { followTime, steppedTime, wallTime, type RunTime } from '../../src/service/run-time.js';
import type { CycleReport, Service } from '../../src/service/service.js';
import { summarizeJournal, summaryLines } from '../../src/service/summary.js';
import { DATA, ensureDir, scratchDir, SEED_CONFIG } from '../cli/helpers.js';

const scratch = scratchDir('ballast-replay-');
afterAll(() => scratch.remove());

const CLOSES = [10, 20, 30, 40, 50];

function manualTime(clock: ManualClock): RunTime {
  return {
    kind: 'stepped',
    clock,
    sleep: async (ms) => clock.advance(ms),
    refresh: async () => clock.now(),
    until: async (t) => {
      if (t > clock.now()) clock.set(t);
      return clock.now();
    },
  };
}

/** A service that records the time of each cycle and "trades" for 3 ms of clock time. */
function stubService(clock: ManualClock, o: { crashAt?: number } = {}): Service & { cycles: number[] } {
  const cycles: number[] = [];
  const s = {
    cycles,
    status: 'running',
    async runOnce(): Promise<CycleReport> {
      const now = clock.now();
      cycles.push(now);
      clock.advance(3);
      if (o.crashAt !== undefined && now >= o.crashAt) throw new Error('simulated crash');
      return { time: now, status: 'nothing-to-do', reason: 'inside the bands', state: 'ACTIVE' };
    },
  };
  return s as unknown as Service & { cycles: number[] };
}

function journal(): SqliteJournal {
  return new SqliteJournal(':memory:', { clock: new ManualClock(0) });
}

describe('ReplayDriver', () => {
  it('plans once per bar close, commits each bar, resumes after the last one', async () => {
    const clock = new ManualClock(10);
    const j = journal();
    const s1 = stubService(clock);
    const d1: ReplayDriver = new ReplayDriver({ service: s1, journal: j, time: manualTime(clock), closes: CLOSES, speed: 0, onCycle: (c) => c.bar === 30 && d1.stop() });
    expect(await d1.run()).toEqual({ cycles: 3, skipped: 0, lastBar: 30, finished: false, reason: 'stopped', endBar: 50 });
    expect(s1.cycles).toEqual([10, 20, 30]);
    expect(j.getMeta(LAST_BAR_META)).toBe('30');

    const s2 = stubService(clock);
    const out = await new ReplayDriver({ service: s2, journal: j, time: manualTime(clock), closes: CLOSES, speed: 0 }).run();
    expect(out).toEqual({ cycles: 2, skipped: 0, lastBar: 50, finished: true, reason: 'end', endBar: 50 });
    expect(s2.cycles).toEqual([40, 50]);

    const s3 = stubService(clock);
    expect((await new ReplayDriver({ service: s3, journal: j, time: manualTime(clock), closes: CLOSES, speed: 0 }).run()).cycles).toBe(0);
    expect(s3.cycles).toEqual([]);
  });

  it('a bar interrupted by a crash is planned again, at the venue time inside that bar', async () => {
    const clock = new ManualClock(10);
    const j = journal();
    await expect(new ReplayDriver({ service: stubService(clock, { crashAt: 30 }), journal: j, time: manualTime(clock), closes: CLOSES, speed: 0 }).run()).rejects.toThrow('simulated crash');
    expect(j.getMeta(LAST_BAR_META)).toBe('20');
    expect(clock.now()).toBe(33);
    const s = stubService(clock);
    const out = await new ReplayDriver({ service: s, journal: j, time: manualTime(clock), closes: CLOSES, speed: 0 }).run();
    expect(s.cycles).toEqual([33, 40, 50]);
    expect(out).toMatchObject({ cycles: 3, skipped: 0, finished: true });
  });

  it('bars the venue clock has passed are skipped and counted; --from and --until bound the run', async () => {
    const clock = new ManualClock(10);
    const j = journal();
    j.setMeta(LAST_BAR_META, '10');
    clock.set(45);
    const s = stubService(clock);
    const out = await new ReplayDriver({ service: s, journal: j, time: manualTime(clock), closes: CLOSES, speed: 0 }).run();
    expect(out).toMatchObject({ cycles: 2, skipped: 2, finished: true });
    expect(s.cycles).toEqual([45, 50]);

    const c2 = new ManualClock(0);
    const s2 = stubService(c2);
    expect(await new ReplayDriver({ service: s2, journal: journal(), time: manualTime(c2), closes: CLOSES, from: 20, until: 40, speed: 0 }).run()).toMatchObject({ cycles: 3, finished: true, endBar: 40 });
    expect(s2.cycles).toEqual([20, 30, 40]);
  });

  it('paces stepped replays at `speed` bars per second of wall time', async () => {
    const clock = new ManualClock(10);
    const waits: number[] = [];
    await new ReplayDriver({ service: stubService(clock), journal: journal(), time: manualTime(clock), closes: CLOSES, speed: 4, wait: async (ms) => void waits.push(ms) }).run();
    expect(waits).toHaveLength(5);
    for (const w of waits) {
      expect(w).toBeGreaterThan(200);
      expect(w).toBeLessThanOrEqual(250);
    }
  });
});

describe('run time', () => {
  it('stepped: sleeping and waiting move the venue clock', async () => {
    let t = 1_000;
    const calls: string[] = [];
    const venue = {
      get venueTime() {
        return t;
      },
      info: async () => ({ time: t }),
      advance: async (by: { ms: number } | { to: number }) => {
        calls.push(JSON.stringify(by));
        t = 'ms' in by ? t + by.ms : by.to;
        return t;
      },
    };
    const rt = steppedTime(venue);
    await rt.sleep(0);
    await rt.sleep(30_000);
    expect(rt.clock.now()).toBe(31_000);
    expect(await rt.until(5_000)).toBe(31_000); // never backwards
    expect(await rt.until(86_400_000)).toBe(86_400_000);
    expect(calls).toEqual(['{"ms":30000}', '{"to":86400000}']);
  });

  it('follow: waits (wall time) until the venue clock, which moves by itself, gets there', async () => {
    let t = 0;
    const waits: number[] = [];
    const venue = {
      get venueTime() {
        return t;
      },
      info: async () => {
        t += 400;
        return { time: t };
      },
      advance: async () => {
        throw new Error('a follow clock never moves the venue');
      },
    };
    const rt = followTime(venue, { rate: 1_000, wait: async (ms) => void waits.push(ms) });
    expect(await rt.until(2_000)).toBeGreaterThanOrEqual(2_000);
    expect(waits.length).toBeGreaterThan(0);
    for (const w of waits) expect(w).toBeLessThanOrEqual(250);
    const before = rt.clock.now();
    await rt.sleep(1_000);
    expect(rt.clock.now()).toBeGreaterThanOrEqual(before + 1_000);
  });

  it('wall: the system clock and real waiting', async () => {
    const c = new ManualClock(0);
    const rt = wallTime(c, async (ms) => c.advance(ms));
    await rt.sleep(5);
    expect(await rt.until(100)).toBe(100);
    expect(rt.kind).toBe('wall');
  });
});

describe('journal summary', () => {
  it('counts decisions, rebalances, orders, fills, fees and funding', () => {
    const j = journal();
    j.appendEvent({ time: 1, type: 'decision', payload: { status: 'ok', tpv: 100 } });
    j.appendEvent({ time: 2, type: 'decision', payload: { status: 'nothing-to-do', tpv: 110 } });
    j.appendEvent({ time: 3, type: 'decision', payload: { status: 'paused', reason: 'maintenance' } });
    const rb = j.createRebalance({ time: 1, trigger: 'threshold', decisionEvent: 1 });
    j.finishRebalance(rb, 'done', 2);
    j.insertFill({ account: 'a', tradeId: '1', venueOrderId: '1', clientOrderId: null, symbol: 'BTC/USDT', side: 'buy', amount: 1, price: 10, cost: 10, fee: 0.01, feeCurrency: 'USDT', time: 1, liquidation: false, external: true });
    j.insertFunding({ account: 'a', id: 'f1', symbol: 'BTC/USDT:USDT', time: 2, amount: -0.5, currency: 'USDT', rate: 0.0001 });
    const s = summarizeJournal(j);
    expect(s).toMatchObject({ decisions: 3, decisionsByStatus: { ok: 1, 'nothing-to-do': 1, paused: 1 }, tpvStart: 100, tpvEnd: 110, rebalances: 1, rebalancesByStatus: { done: 1 }, fills: 1, externalFills: 1, fees: { USDT: 0.01 }, fundingPayments: 1, funding: { USDT: -0.5 } });
    expect(summaryLines(s, 'USDT').join('\n')).toMatch(/TPV {9}100\.00 → 110\.00 USDT \(10\.00%\)/);
  });
});

describe('startRun: the onStarted hook (where the HTTP API attaches)', () => {
  it('is called once the service has started, before the first cycle; its cleanup runs before the journal closes', async () => {
    const db = join(scratch.dir, 'hook', 'journal.db');
    const seen: string[] = [];
    const h = await startRun({
      config: SEED_CONFIG,
      replay: DATA,
      until: Date.UTC(2020, 7, 25),
      speed: 0,
      db,
      logLevel: 'silent',
      out: () => {},
      onStarted: (handle) => {
        seen.push(`started: ${handle.service.status}, ${handle.journal.events({ type: 'decision' }).length} decisions, locked by ${handle.journal.lockHolder('paper')?.pid === process.pid ? 'us' : 'nobody'}`);
        return () => void seen.push(`cleanup: ${handle.journal.events({ type: 'decision' }).length} decisions`);
      },
    });
    const r = await h.done;
    expect(r).toMatchObject({ code: 0, finished: true, mismatches: [] });
    expect(seen).toEqual(['started: running, 0 decisions, locked by us', 'cleanup: 7 decisions']);
    expect(() => h.journal.tradingState()).toThrow(/closed/);
  });
});

describe('startRun: webhook notifications', () => {
  it('posts trigger, order and fill events of a replayed rebalance to the configured webhook', async () => {
    const got: Array<{ type: string; summary: string }> = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        got.push(JSON.parse(body) as { type: string; summary: string });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      const dir = ensureDir(join(scratch.dir, 'notify'));
      const cfg = join(dir, 'portfolio.yaml');
      writeFileSync(cfg, readFileSync(SEED_CONFIG, 'utf8') + `notify:\n  webhook: http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook/secret-token\n`);
      const h = await startRun({ config: cfg, replay: DATA, until: Date.UTC(2020, 7, 21), speed: 0, db: join(dir, 'journal.db'), logLevel: 'silent', out: () => {} });
      expect((await h.done).code).toBe(0);
    } finally {
      hook.closeAllConnections();
      await new Promise<void>((r) => hook.close(() => r()));
    }
    const types = got.map((e) => e.type);
    expect(types.filter((t) => t === 'trigger')).toHaveLength(1);
    expect(types.filter((t) => t === 'order')).toHaveLength(5);
    expect(types.filter((t) => t === 'fill')).toHaveLength(5);
    expect(got.find((e) => e.type === 'trigger')!.summary).toMatch(/^threshold: .*: 5 action\(s\)$/);
    expect(got.find((e) => e.type === 'fill')!.summary).toMatch(/^filled buy [\d.]+ \w+\/USDT at [\d.]+$/);
  });
});
