/**
 * The service loop against the SimExchange on virtual time — RELIABILITY.md fault rows that need the whole
 * loop: 4 maintenance (at start, mid-rebalance), 5 restart after a crash at each named point, 8 stale or
 * future-dated inputs, 11 liquidation and manual trades, 12 a second instance, 14 a locked / failing /
 * corrupt database — plus the kill switch, decisions and hedges in the journal.
 */
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import type { Snapshot } from '../../src/core/types.js';
import { CRASH_POINTS, type CrashHook, type CrashPoint } from '../../src/execution/crash.js';
import { ReconcileMismatchError } from '../../src/execution/reconcile.js';
import { AccountLockedError, JournalError, type Journal } from '../../src/ports/journal.js';
import type { SnapshotSource } from '../../src/ports/snapshot-source.js';
import type { Service } from '../../src/service/service.js';
import { cls, portfolio as makePortfolio } from '../core/builders.js';
import { ACCOUNT, countSends, expectLedgerEqualsVenue, MIN, PERP, quietly, SPOT, T0, world, type World } from '../execution/helpers.js';

let w: World;
const services: Service[] = [];
afterEach(() => {
  for (const s of services.splice(0)) {
    try {
      s.journal.close();
    } catch {
      // already closed
    }
  }
  w?.cleanup();
});

function track(s: Service): Service {
  services.push(s);
  return s;
}

class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';
}

/** Throw (as a SIGKILL would stop the process) the first time `point` is reached. */
function crashAt(point: CrashPoint): CrashHook {
  let done = false;
  return (p) => {
    if (p === point && !done) {
      done = true;
      throw new SimulatedCrash(`crash at ${p}`);
    }
  };
}

function hasNaN(x: unknown, seen = new Set<unknown>()): boolean {
  if (typeof x === 'number') return Number.isNaN(x);
  if (x === null || typeof x !== 'object' || seen.has(x)) return false;
  seen.add(x);
  return Object.values(x as Record<string, unknown>).some((v) => hasNaN(v, seen));
}

/** Weight of BTC in the account per the venue (spot + perp notional) at the last price. */
async function btcWeight(): Promise<number> {
  const bal = await quietly(w.sim, () => w.sim.fetchBalance());
  const pos = await quietly(w.sim, () => w.sim.fetchPositions());
  const px = (await quietly(w.sim, () => w.sim.fetchTicker(SPOT))).last;
  const upnl = pos.reduce((s, p) => s + p.unrealizedPnl, 0);
  const tpv = (bal.total['USDT'] ?? 0) + (bal.total['BTC'] ?? 0) * px + upnl;
  const net = (bal.total['BTC'] ?? 0) * px + pos.reduce((s, p) => s + p.notional, 0);
  return net / tpv;
}

describe('the seed example through the service', () => {
  it('BTC at 58% > 55%: sells $8,000 of BTC, journals the decision with its arithmetic, then has nothing to do', async () => {
    w = world();
    const s = track(w.service());
    const start = await s.start({ loop: false });
    expect(start?.ok).toBe(true);
    const c1 = await s.runOnce();
    expect(c1.status).toBe('traded');
    expect(c1.execution!.legs).toMatchObject([{ symbol: SPOT, side: 'sell', requested: 0.137, filled: 0.137, status: 'filled' }]);
    const decision = s.journal.events({ type: 'decision' })[0]!.payload as { status: string; explanation: string[]; actions: unknown[] };
    expect(decision.status).toBe('ok');
    expect(decision.explanation.join('\n')).toMatch(/TPV = spot value \$100,000\.00/);
    expect(s.journal.events({ type: 'snapshot' })).toHaveLength(1);
    expect(s.journal.rebalances()[0]).toMatchObject({ id: 1, status: 'done' });
    w.clock.advance(MIN);
    const c2 = await s.runOnce();
    expect(c2.status).toBe('nothing-to-do');
    expect(await btcWeight()).toBeCloseTo(0.5, 2);
    await expectLedgerEqualsVenue(w.sim, s.journal);
    await s.stop();
    expect(s.journal.lockHolder(ACCOUNT)).toBeUndefined();
  });

  it('runs as a loop: start() … stop()', async () => {
    w = world();
    const s = track(w.service());
    await s.start();
    for (let i = 0; i < 50 && !s.lastCycle; i++) await new Promise((r) => setImmediate(r));
    await s.stop();
    expect(s.lastCycle?.status).toBe('traded');
    expect(s.status).toBe('stopped');
  });
});

describe('row 4: maintenance at start and mid-rebalance', () => {
  it('at start: stays up, PAUSED, no NaN; trades once the venue is back', async () => {
    w = world({ faults: { maintenance: [{ from: T0, to: T0 + 10 * MIN }] } });
    const sends = countSends(w.sim);
    const s = track(w.service());
    expect(await s.start({ loop: false })).toBeNull();
    expect(s.status).toBe('paused');
    const c1 = await s.runOnce();
    expect(c1.status).toBe('paused');
    expect(c1.reason).toMatch(/OnMaintenance/);
    expect(hasNaN(c1)).toBe(false);
    expect(sends.size).toBe(0);
    w.clock.advance(10 * MIN);
    const c2 = await s.runOnce();
    expect(c2.status).toBe('traded');
    expect(hasNaN(c2)).toBe(false);
    expect(s.status).toBe('running');
    await expectLedgerEqualsVenue(w.sim, s.journal);
  });

  it('mid-rebalance: pauses with what it sold, no NaN, and replans from fresh holdings', async () => {
    w = world({ faults: { maintenance: [{ from: T0 + 5_000, to: T0 + 5 * MIN }] } });
    const s = track(w.service({ execution: { maxSliceNotional: 2_000, sliceIntervalMs: 10_000 } }));
    await s.start({ loop: false });
    const c1 = await s.runOnce();
    expect(c1.status).toBe('paused');
    expect(hasNaN(c1)).toBe(false);
    const sold = c1.execution!.legs[0]!.filled;
    expect(sold).toBeGreaterThan(0);
    expect(sold).toBeLessThan(0.137);
    expect(s.journal.rebalances()[0]!.status).toBe('paused');
    w.clock.set(T0 + 5 * MIN);
    const c2 = await s.runOnce();
    expect(c2.status).toBe('traded');
    // the second plan is for what is left, computed from the holdings after the partial sale
    expect(c2.plan!.actions[0]!.amount).toBeCloseTo(0.137 - sold, 2);
    expect(await btcWeight()).toBeCloseTo(0.5, 2);
    await expectLedgerEqualsVenue(w.sim, s.journal);
  });
});

describe('row 5: restart after a crash at each named point', () => {
  for (const mode of ['taker', 'resting'] as const) {
    for (const point of CRASH_POINTS) {
      it(`${point} (${mode} order): reconciles first, resends no intent, ledger = venue`, async () => {
        w = world();
        const sends = countSends(w.sim);
        const execution = { offsetBps: mode === 'resting' ? -10 : 0, maxSliceNotional: 3_000 };
        const s1 = track(w.service({ crash: crashAt(point), execution }));
        await s1.start({ loop: false });
        await expect(s1.runOnce()).rejects.toThrow(SimulatedCrash);
        s1.journal.close(); // the process is gone; its lock row stays behind
        w.clock.advance(11_000); // …and its heartbeat goes stale

        const s2 = track(w.service({ execution }));
        const rep = await s2.start({ loop: false });
        expect(rep?.ok).toBe(true);
        expect(s2.journal.rebalances({ status: 'crashed' })).toHaveLength(1);
        // the reconciliation left no intent in a live state
        expect(s2.journal.intents({ states: ['NEW', 'SUBMITTING', 'UNKNOWN', 'OPEN', 'PARTIALLY_FILLED', 'CANCELING'] })).toEqual([]);
        await expectLedgerEqualsVenue(w.sim, s2.journal);
        for (let i = 0; i < 4; i++) {
          const c = await s2.runOnce();
          if (c.status === 'nothing-to-do') break;
          w.clock.advance(MIN);
        }
        for (const [cid, n] of sends) expect(n, `sends of ${cid}`).toBe(1);
        await expectLedgerEqualsVenue(w.sim, s2.journal);
        expect(await btcWeight()).toBeGreaterThan(0.45);
        expect(await btcWeight()).toBeLessThan(0.55);
      });
    }
  }
});

describe('row 8: stale or future-dated inputs', () => {
  it('prices older than the limit: no orders, reason STALE', async () => {
    w = world({ hours: 1 });
    const sends = countSends(w.sim);
    const s = track(w.service());
    await s.start({ loop: false });
    w.clock.advance(2 * 3_600_000); // the feed stopped an hour ago
    const c = await s.runOnce();
    expect(c.status).toBe('stale');
    expect(c.reason).toMatch(/STALE: .*BTC is \d+ s old/);
    expect(sends.size).toBe(0);
    expect((s.journal.events({ type: 'decision' })[0]!.payload as { status: string }).status).toBe('stale');
  });

  it('future-dated inputs: no orders, reason STALE', async () => {
    w = world();
    const sends = countSends(w.sim);
    const inner = w.source();
    const future: SnapshotSource = {
      take: async (): Promise<Snapshot> => {
        const snap = await inner.take();
        return { ...snap, timestamps: { ...snap.timestamps, BTC: snap.time + 3_600_000 } };
      },
      close: () => inner.close(),
    };
    const s = track(w.service({ source: future }));
    await s.start({ loop: false });
    const c = await s.runOnce();
    expect(c.status).toBe('stale');
    expect(c.reason).toMatch(/in the future/);
    expect(sends.size).toBe(0);
  });
});

describe('row 11: liquidation, manual trade', () => {
  it('a manual trade is recorded as an external fill; trading moves to REDUCING with an alert', async () => {
    w = world();
    const sends = countSends(w.sim);
    const s = track(w.service());
    await s.start({ loop: false });
    await quietly(w.sim, () => w.sim.createOrder({ symbol: SPOT, type: 'market', side: 'buy', amount: 0.05, clientOrderId: 'manual-1' }));
    sends.clear();
    w.clock.advance(5 * MIN); // the periodic reconciliation is due
    const c = await s.runOnce();
    expect(c.reconcile!.accounts[0]!.externalFills).toMatchObject([{ clientOrderId: 'manual-1', side: 'buy', amount: 0.05, external: true }]);
    expect(s.state()).toMatchObject({ state: 'REDUCING', by: 'reconciler' });
    expect(s.journal.events({ type: 'alert' }).some((e) => /external fill \(manual or foreign trade\)/.test(JSON.stringify(e.payload)))).toBe(true);
    // REDUCING: the planned spot sell is dropped; nothing is sent
    expect(['nothing-to-do', 'traded']).toContain(c.status);
    expect(sends.size).toBe(0);
    await expectLedgerEqualsVenue(w.sim, s.journal);
  });

  it('a liquidation is recorded as an external fill; trading HALTS with an alert; the hedge is closed in the journal', async () => {
    w = world({ balances: { USDT: 10_000 }, price: (t) => (t < T0 + 30 * MIN ? 58_000 : 80_000) });
    await quietly(w.sim, () => w.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 0.5, clientOrderId: 'manual-short' }));
    const sends = countSends(w.sim);
    const s = track(w.service());
    expect((await s.start({ loop: false }))?.ok).toBe(true); // baseline includes the short
    w.clock.set(T0 + 31 * MIN);
    const c = await s.runOnce();
    const ext = c.reconcile!.accounts[0]!.externalFills;
    expect(ext, c.reason).toHaveLength(1);
    expect(ext[0]).toMatchObject({ clientOrderId: null, liquidation: true, side: 'buy', amount: 0.5 });
    expect(c.status, c.reason).toBe('halted');
    expect(s.state()).toMatchObject({ state: 'HALTED', by: 'reconciler' });
    expect(sends.size).toBe(0);
    const h = s.journal.hedges();
    expect(h).toHaveLength(1);
    expect(h[0]).toMatchObject({ symbol: PERP, class: 'BTC', contracts: 0, closeReason: 'liquidation by the venue' });
    await expectLedgerEqualsVenue(w.sim, s.journal);
  });

  it('a position change no fill explains refuses the start, naming it', async () => {
    w = world();
    const s1 = track(w.service());
    await s1.start({ loop: false });
    await s1.stop();
    s1.journal.close();
    // BTC leaves the account without a trade (a withdrawal made by hand)
    w.sim.ledger.balance[w.sim.ledger.assetIndex('BTC')] = 0.7;
    const s2 = track(w.service());
    await expect(s2.start({ loop: false })).rejects.toThrow(ReconcileMismatchError);
    await expect(s2.start({ loop: false })).rejects.toThrow(/balance BTC on main: venue 0\.7, journal 1, no fills explain -0\.3/);
    // the operator investigates and accepts the venue's holdings
    await s2.rebaseline('alice', 'withdrew 0.3 BTC to cold storage');
    expect((await s2.start({ loop: false }))?.ok).toBe(true);
  });
});

describe('row 12: a second instance on the same account', () => {
  it('gets a lock error naming the holder and sends nothing', async () => {
    w = world();
    const sends = countSends(w.sim);
    const s1 = track(w.service());
    await s1.start({ loop: false });
    const s2 = track(w.service());
    await expect(s2.start({ loop: false })).rejects.toThrow(AccountLockedError);
    await expect(s2.start({ loop: false })).rejects.toThrow(new RegExp(`account main is locked by another ballast instance \\(pid ${process.pid}`));
    expect(sends.size).toBe(0);
    // the first instance is unaffected
    expect((await s1.runOnce()).status).toBe('traded');
  });
});

describe('row 14: database locked, failing or corrupt', () => {
  it('locked: the service halts and sends nothing', async () => {
    w = world();
    const sends = countSends(w.sim);
    const s = track(w.service({ journal: w.journal({ busyTimeoutMs: 20 }) }));
    await s.start({ loop: false });
    const other = new Database(w.dbPath);
    other.exec('BEGIN EXCLUSIVE');
    try {
      const c = await s.runOnce();
      expect(c.status).toBe('halted');
      expect(c.reason).toMatch(/journal failure \(locked\)/);
    } finally {
      other.exec('ROLLBACK');
      other.close();
    }
    expect(sends.size).toBe(0);
    expect((await s.runOnce()).status).toBe('halted'); // stays halted in this process
    expect(s.state().state).toBe('HALTED');
  });

  it('an intent that cannot be saved is never sent; the service halts', async () => {
    w = world();
    const sends = countSends(w.sim);
    const real = w.journal();
    const failing = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'insertIntent') {
          return () => {
            throw new JournalError('full', 'journal: save intent: database or disk is full (SQLITE_FULL)', { code: 'SQLITE_FULL' });
          };
        }
        const v = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Journal;
    const s = track(w.service({ journal: failing }));
    await s.start({ loop: false });
    const c = await s.runOnce();
    expect(c.status).toBe('halted');
    expect(c.reason).toMatch(/full/);
    expect(sends.size).toBe(0);
    expect(real.tradingState()).toMatchObject({ state: 'HALTED', by: 'service' });
    expect(real.events({ type: 'decision' })).toHaveLength(1);
  });

  it('corrupt: the journal refuses to open, so no service runs and nothing is sent', () => {
    w = world();
    const sends = countSends(w.sim);
    writeFileSync(w.dbPath, Buffer.alloc(16_384, 0x42));
    expect(() => new SqliteJournal(w.dbPath, { clock: w.clock })).toThrow(expect.objectContaining({ kind: 'corrupt' }));
    expect(sends.size).toBe(0);
  });
});

describe('kill switch', () => {
  it('halt / reduce-only / resume are journaled with who, when and why and obeyed', async () => {
    w = world();
    const sends = countSends(w.sim);
    const s = track(w.service());
    await s.start({ loop: false });
    s.halt('alice', 'checking the exchange announcement');
    expect((await s.runOnce()).status).toBe('halted');
    s.reduceOnly('bob', 'only unwind');
    const c = await s.runOnce();
    expect(c.plan!.actions).toEqual([]);
    expect(c.plan!.rejected.some((r) => /REDUCING/.test(r.reason))).toBe(true);
    expect(sends.size).toBe(0);
    w.clock.advance(MIN);
    s.resume('alice', 'all clear');
    expect((await s.runOnce()).status).toBe('traded');
    const cmds = s.journal.events({ type: 'command' }).map((e) => e.payload as { command: string; by: string; reason: string });
    expect(cmds.map((x) => `${x.command} by ${x.by}`)).toEqual(['halt by alice', 'reduce-only by bob', 'resume by alice']);
    const states = s.journal.events({ type: 'state' }).map((e) => (e.payload as { to?: string }).to).filter(Boolean);
    expect(states).toEqual(['HALTED', 'REDUCING', 'ACTIVE']);
  });
});

describe('hedges are journaled from open to close', () => {
  it('a futures hedge opens with the plan\'s reason, collects funding, and closes with its PnL', async () => {
    const portfolio = makePortfolio([cls('BTC', 0.5, 0.05, ['BTC'], { hedge: PERP }), cls('Stablecoins', 0.5, 0.05, ['USDT'], { cash: true })], {
      execution: { instrument: 'futures' },
      risk: { maxDataAgeMs: 300_000 },
    });
    // At 47,500 BTC's spot weight is 47,500 / 90,938.50 = 52.23%, back inside its inner band (47.5–52.5%),
    // and unwinding keeps the cash class inside its band (54.92% → 47.84%): the hedge is unwound.
    w = world({ portfolio, price: (t) => (t < T0 + 30 * MIN ? 58_000 : 47_500) });
    w.feed.pushFunding(PERP, T0 + 20 * MIN, 0.0001);
    const s = track(w.service());
    await s.start({ loop: false });
    const c1 = await s.runOnce();
    expect(c1.execution!.legs).toMatchObject([{ symbol: PERP, side: 'sell', status: 'filled' }]);
    let [h] = s.journal.hedges();
    expect(h).toMatchObject({ class: 'BTC', symbol: PERP, contracts: -0.137, entryPrice: 58_000, closedAt: null });
    expect(h!.openReason).toMatch(/BTC is 58\.00% .*short/);
    w.clock.set(T0 + 25 * MIN);
    expect((await s.runOnce()).status).toBe('nothing-to-do');
    [h] = s.journal.hedges();
    expect(h!.fundingPaid).toBeCloseTo(-0.137 * 58_000 * 0.0001, 6); // shorts receive a positive rate
    w.clock.set(T0 + 35 * MIN);
    const c3 = await s.runOnce();
    expect(c3.execution!.legs).toMatchObject([{ symbol: PERP, side: 'buy', reduceOnly: true, status: 'filled' }]);
    [h] = s.journal.hedges();
    expect(h).toMatchObject({ contracts: 0, closedAt: expect.any(Number) });
    expect(h!.closeReason).toMatch(/back inside its inner band on a spot basis \(52\.23% within 47\.50%–52\.50%/);
    expect(h!.realisedPnl).toBeCloseTo(0.137 * (58_000 - 47_500), 6);
    expect(h!.fees).toBeGreaterThan(0);
    w.clock.advance(MIN);
    await s.runOnce();
    await expectLedgerEqualsVenue(w.sim, s.journal);
  });
});
