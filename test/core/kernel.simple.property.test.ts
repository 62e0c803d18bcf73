/**
 * The kernel's calendar fast path against the planner (property test).
 *
 * Invariant, in words: when every non-cash class is one asset without configured weights and every
 * asset has the same lot rules (the backtester's equal-weight portfolios), the kernel takes its calendar
 * fast path (`simple`), and its orders are still `plan()`'s orders — the same legs in the same order
 * (sells, then buys), each with the same symbol, side, class, amount, price and notional.
 *
 * The random cases cover one to ten classes, with and without a cash class (and a second stablecoin in
 * it), assets held in no class, empty holdings, every lot step of the general property test, minimum
 * notionals and amounts, fees, and cash too short for every buy (buys scaled down together).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SpotKernel } from '../../src/core/kernel.js';
import { plan } from '../../src/core/planner.js';
import type { Snapshot } from '../../src/core/types.js';
import { DEFAULT_RULES } from '../../src/core/valuation.js';
import { cls, portfolio, snapshot, T0 } from './builders.js';

const ASSETS = ['JJJ', 'BBB', 'III', 'DDD', 'EEE', 'AAA', 'GGG', 'HHH', 'CCC', 'FFF'];
const STEPS = [1e-8, 1e-6, 0.001, 0.01, 0.1, 1, 0.25, 5];
const DAY = 86_400_000;

const arbCase = fc
  .record({
    nClasses: fc.integer({ min: 1, max: 10 }),
    raw: fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 11, maxLength: 11 }),
    hasCash: fc.boolean(),
    usdc: fc.boolean(),
    stray: fc.boolean(),
    prices: fc.array(fc.double({ min: 0.001, max: 100_000, noNaN: true }), { minLength: 11, maxLength: 11 }),
    step: fc.integer({ min: 0, max: STEPS.length - 1 }),
    minNotional: fc.constantFrom(0, 5, 10, 1000),
    minAmount: fc.constantFrom(0, 0, 0.5),
    holdings: fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 12, maxLength: 12 }),
    cash: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 2, noNaN: true })),
    scale: fc.double({ min: 100, max: 50_000_000, noNaN: true }),
    fee: fc.constantFrom(0, 0.001, 0.0075),
  })
  .map((r) => {
    const parts = r.raw.slice(0, r.nClasses + (r.hasCash ? 1 : 0));
    const sum = parts.reduce((a, b) => a + b, 0);
    const targets = parts.map((x) => Math.round((x / sum) * 1000) / 1000);
    targets[targets.length - 1] = 1 - targets.slice(0, -1).reduce((a, b) => a + b, 0);
    const used = ASSETS.slice(0, r.nClasses);
    const classes = used.map((a, i) => cls(`C${i}`, targets[i]!, Math.max(0.002, Math.min(targets[i]!, 0.1) / 2), [a]));
    if (r.hasCash) {
      const t = targets[r.nClasses]!;
      classes.push(cls('Cash', t, Math.max(0.002, Math.min(t, 0.1) / 2), r.usdc ? ['USDT', 'USDC'] : ['USDT'], { cash: true }));
    }
    const stray = r.stray ? ['ZZZ'] : [];
    const all = ['USDT', ...used, ...(r.usdc ? ['USDC'] : []), ...stray];
    const prices: Record<string, number> = { USDT: 1, USDC: 1 };
    const markets: Snapshot['markets'] = {};
    const rules = { amountStep: STEPS[r.step]!, minNotional: r.minNotional, minAmount: r.minAmount };
    used.concat(stray).forEach((a, i) => {
      prices[a] = r.prices[i]!;
      markets[`${a}/USDT`] = rules;
    });
    if (r.usdc) markets['USDC/USDT'] = rules;
    const balances: Record<string, number> = { USDT: r.cash * r.scale };
    all.slice(1).forEach((a, i) => {
      const h = r.holdings[i]!;
      if (h > 0) balances[a] = (h * r.scale) / (prices[a] ?? 1);
    });
    const p = portfolio(classes, {
      rebalance: { mode: 'calendar', schedule: 'daily' },
      execution: { fees: { spotTaker: r.fee, spotMaker: r.fee, futuresTaker: 0.0005, futuresMaker: 0.0005 } },
    });
    const s = snapshot({ prices, markets, accounts: [{ name: 'paper', balances, positions: [] }], lastRebalance: T0 - DAY });
    return { p, s, assets: all };
  });

const ctx = { now: T0, state: 'ACTIVE' as const };

describe('rebalance kernel calendar fast path = plan() (property)', () => {
  it('one-asset classes, one set of lot rules: the fast path, and the same orders as plan()', () => {
    let traded = 0;
    let compared = 0;
    fc.assert(
      fc.property(arbCase, (c) => {
        const bal = c.s.accounts[0]!.balances;
        fc.pre(Object.entries(bal).reduce((t, [a, q]) => t + q * (c.s.prices[a] ?? 1), 0) > 0);
        const k = new SpotKernel(c.p, c.assets, (a) => ({ ...DEFAULT_RULES, ...c.s.markets[`${a}/USDT`] }));
        expect(k.simple).toBe(true);
        const pl = plan(c.p, c.s, ctx);
        const count = k.plan(
          Float64Array.from(c.assets.map((a) => bal[a] ?? 0)),
          Float64Array.from(c.assets.map((a) => c.s.prices[a] ?? 1)),
          true,
        );
        const want = pl.actions.filter((a) => a.type !== 'wait');
        const got = Array.from({ length: count }, (_, j) => ({
          symbol: `${c.assets[k.orderAsset[j]!]}/USDT`,
          side: k.orderSide[j]! > 0 ? 'buy' : 'sell',
          class: c.p.classes[k.orderClass[j]!]!.name,
          amount: k.orderAmount[j]!,
          notional: k.orderNotional[j]!,
          price: k.orderPrice[j]!,
        }));
        expect(got).toEqual(want.map((a) => ({ symbol: a.symbol, side: a.side, class: a.class, amount: a.amount, notional: a.notional, price: a.price })));
        expect(k.acted).toBe(pl.status !== 'not-due');
        expect(k.tpv).toBe(pl.valuation.tpv);
        compared++;
        if (count > 0) traded++;
      }),
      { numRuns: 1500, seed: 41 },
    );
    expect(traded).toBeGreaterThan(compared / 8);
  });
});
