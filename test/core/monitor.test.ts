/**
 * The many-portfolio monitor (src/core/monitor.ts). Invariants, in words:
 * - seed example 1 (BTC 50 ± 5 / Stablecoins 50 ± 5, TPV $100,000 with $58,000 BTC): BTC is 3 points over its
 *   55% trigger, and the monitor says so;
 * - a tick re-values only the holders of the asset, and after any sequence of ticks the state equals a full
 *   revaluation at the same prices (TPV, exposures, distances);
 * - perps: a short counts as negative exposure, and only its PnL (not its notional) is equity;
 * - breach moves: for every holder, a move just below its breach move keeps it inside every band and a move
 *   just above takes it out; `candidates` returns exactly the holders whose breach move is within the move.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { breachedByLastTick, breachMoves, buildMonitor, candidates, revalueAll, tick, type MonitorPortfolio } from '../../src/core/monitor.js';

const twoClass = (id: string, btc: number, usdt: number): MonitorPortfolio => ({
  id,
  classes: [
    { name: 'BTC', lower: 0.45, upper: 0.55 },
    { name: 'Stablecoins', lower: 0.45, upper: 0.55, cash: true },
  ],
  positions: [{ asset: 'BTC', qty: btc, cls: 0 }],
  cash: usdt,
});

describe('monitor', () => {
  it('seed example 1: $58,000 BTC of $100,000 is 3 points above the 55% trigger', () => {
    const m = buildMonitor([twoClass('seed1', 1, 42_000)], { BTC: 58_000 });
    expect(m.tpv[0]).toBe(100_000);
    expect(m.distance[0]).toBeCloseTo(0.03, 12);
    expect(m.classNames[m.worstClass[0]!]).toBe('BTC');
    // BTC falls to 55,000 / 0.55 × 0.45 … back inside: at 52,000 BTC is 52/94 = 55.3% (still out), at 51,000 it is 54.8%
    expect(tick(m, 0, 52_000)).toBe(1);
    expect(tick(m, 0, 51_000)).toBe(0);
    expect(breachedByLastTick(m)).toEqual([]);
  });

  it('portfolios are re-ordered by their most held asset; ids say which is which, and each is valued as alone', () => {
    const eth = (id: string, qty: number, usdt: number): MonitorPortfolio => ({
      id,
      classes: [
        { name: 'ETH', lower: 0.2, upper: 0.4 },
        { name: 'Cash', lower: 0.6, upper: 0.8, cash: true },
      ],
      positions: [{ asset: 'ETH', qty, cls: 0 }],
      cash: usdt,
    });
    const list = [eth('e1', 10, 60_000), twoClass('b1', 1, 42_000), eth('e2', 20, 20_000), twoClass('b2', 0.5, 50_000), twoClass('b3', 2, 1_000)];
    const prices = { BTC: 58_000, ETH: 3_000 };
    const m = buildMonitor(list, prices);
    // BTC is held by 3 portfolios, ETH by 2: the BTC holders come first, in their given order
    expect(m.ids).toEqual(['b1', 'b2', 'b3', 'e1', 'e2']);
    for (const p of list) {
      const alone = buildMonitor([p], prices);
      const k = m.ids.indexOf(p.id);
      expect(m.tpv[k], p.id).toBe(alone.tpv[0]);
      expect(m.distance[k], p.id).toBe(alone.distance[0]);
      expect(m.classNames[m.worstClass[k]!], p.id).toBe(alone.classNames[alone.worstClass[0]!]);
    }
    // a tick on BTC touches exactly the BTC holders
    tick(m, m.assetIndex.get('BTC')!, 60_000);
    expect([...m.touched.subarray(0, m.touchedCount)].map((p) => m.ids[p])).toEqual(['b1', 'b2', 'b3']);
  });

  it('a perp short is negative exposure; its notional is not equity, its PnL is', () => {
    // 1 BTC spot, short 0.5 BTC perp entered at 60,000, 40,000 USDT: TPV at 60,000 = 100,000; BTC exposure 30,000
    const p: MonitorPortfolio = {
      id: 'hedged',
      classes: [
        { name: 'BTC', lower: 0.25, upper: 0.35 },
        { name: 'Stablecoins', lower: 0.65, upper: 0.75, cash: true },
      ],
      positions: [
        { asset: 'BTC', qty: 1, cls: 0 },
        { asset: 'BTC', qty: -0.5, cls: 0, entryPrice: 60_000 },
      ],
      cash: 40_000,
    };
    const m = buildMonitor([p], { BTC: 60_000 });
    expect(m.tpv[0]).toBeCloseTo(100_000, 6);
    expect(m.classExposure[0]).toBeCloseTo(30_000, 6);
    expect(m.classExposure[1]).toBeCloseTo(70_000, 6);
    tick(m, 0, 66_000);
    // spot +6,000, short PnL −3,000: TPV 103,000; BTC exposure 33,000
    expect(m.tpv[0]).toBeCloseTo(103_000, 6);
    expect(m.classExposure[0]).toBeCloseTo(33_000, 6);
  });

  const universe = fc.record({
    portfolios: fc.array(
      fc.record({
        btc: fc.double({ min: 0, max: 5, noNaN: true }),
        eth: fc.double({ min: 0, max: 50, noNaN: true }),
        sol: fc.double({ min: 0, max: 500, noNaN: true }),
        cash: fc.double({ min: 1_000, max: 200_000, noNaN: true }),
      }),
      { minLength: 1, maxLength: 30 },
    ),
    ticks: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.double({ min: 0.5, max: 2, noNaN: true })), { maxLength: 40 }),
  });
  const PRICES = { BTC: 60_000, ETH: 3_000, SOL: 150 };
  const build = (ps: Array<{ btc: number; eth: number; sol: number; cash: number }>): MonitorPortfolio[] =>
    ps.map((x, i) => ({
      id: `p${i}`,
      classes: [
        { name: 'BTC', lower: 0.3, upper: 0.5 },
        { name: 'Alts', lower: 0.1, upper: 0.3 },
        { name: 'Cash', lower: 0.2, upper: 0.6, cash: true },
      ],
      positions: [
        { asset: 'BTC', qty: x.btc, cls: 0 },
        { asset: 'ETH', qty: x.eth, cls: 1 },
        { asset: 'SOL', qty: x.sol, cls: 1 },
      ],
      cash: x.cash,
    }));

  it('after any ticks, the incremental state equals a full revaluation', () => {
    fc.assert(
      fc.property(universe, ({ portfolios, ticks }) => {
        const m = buildMonitor(build(portfolios), PRICES);
        for (const [a, f] of ticks) tick(m, a, m.prices[a]! * f);
        const full = buildMonitor(build(portfolios), Object.fromEntries(m.assets.map((a, i) => [a, m.prices[i]!])));
        for (let p = 0; p < portfolios.length; p++) {
          expect(m.tpv[p]).toBeCloseTo(full.tpv[p]!, 4);
          expect(m.distance[p]).toBeCloseTo(full.distance[p]!, 9);
        }
        expect(revalueAll(m)).toBe(Array.from(full.distance).filter((d) => d > 0).length);
      }),
      { seed: 11, numRuns: 200 },
    );
  });

  it('breach moves: just below keeps every band, just above breaks one; candidates is exactly that set', () => {
    fc.assert(
      fc.property(universe, fc.integer({ min: 0, max: 2 }), fc.double({ min: -0.9, max: 3, noNaN: true }), ({ portfolios }, asset, move) => {
        const ps = build(portfolios);
        const m = buildMonitor(ps, PRICES);
        const b = breachMoves(m, asset);
        const moved = (r: number) => {
          const prices = { ...PRICES };
          const name = m.assets[asset] as keyof typeof PRICES;
          prices[name] = PRICES[name] * (1 + r);
          return buildMonitor(ps, prices);
        };
        for (const [moves, ids, sign] of [
          [b.upMove, b.upPortfolio, 1],
          [b.downMove, b.downPortfolio, -1],
        ] as const) {
          for (let k = 0; k < moves.length; k++) {
            const r = moves[k]!;
            const p = ids[k]!;
            if (r === 0) continue; // already outside
            if (r * 0.999 > 1e-9) expect(moved(sign * r * 0.999).distance[p]).toBeLessThanOrEqual(1e-12);
            if (sign < 0 && r * 1.001 >= 1) continue; // the price cannot fall below zero
            expect(moved(sign * r * 1.001).distance[p]).toBeGreaterThan(0);
          }
        }
        const got = new Set(candidates(b, move));
        const want = new Set<number>();
        const [moves, ids] = move >= 0 ? [b.upMove, b.upPortfolio] : [b.downMove, b.downPortfolio];
        for (let k = 0; k < moves.length; k++) if (moves[k]! <= Math.abs(move)) want.add(ids[k]!);
        expect(got).toEqual(want);
      }),
      { seed: 12, numRuns: 100 },
    );
  });
});
