/**
 * The hedge lifecycle, rule by rule, with the arithmetic written out: exit rules (conversion), the
 * gross cap, hysteresis, unknown funding, the fallback when a futures leg is refused, margin that is not
 * cash, and intra-class weights as targets.
 */
import { describe, expect, it } from 'vitest';
import { plan } from '../../src/core/planner.js';
import type { Position } from '../../src/core/types.js';
import { valuePortfolio } from '../../src/core/valuation.js';
import { applyPlan } from './apply.js';
import { cls, portfolio, snapshot, T0 } from './builders.js';

const DAY = 86_400_000;
// T0 = Saturday 2025-03-01; the weekly period began Monday 2025-02-24, the next begins Monday 2025-03-03.
const MONDAY = T0 + 2 * DAY;

const btc = (extra = {}) => portfolio([cls('BTC', 0.5, 0.05, ['BTC'], { hedge: 'BTC/USDT:USDT' }), cls('Stable', 0.5, 0.05, ['USDT'], { cash: true })], extra);
const short = (contracts: number, openedAt?: number): Position => ({ symbol: 'BTC/USDT:USDT', contracts, contractSize: 1, entryPrice: 50_000, leverage: 3, marginMode: 'cross', ...(openedAt !== undefined ? { openedAt } : {}) });
const markets = { 'BTC/USDT': { amountStep: 0.000001, minNotional: 5 }, 'BTC/USDT:USDT': { amountStep: 0.001, minNotional: 5, maintenanceMarginRate: 0.004 } };
const funding = { 'BTC/USDT:USDT': { rate: 0.0001, intervalHours: 8 } };

/** 1.2 BTC at 50,000 (60,000) hedged by a 0.2 short (−10,000): net 50,000 = 50% of TPV 100,000. */
const hedged = (openedAt: number | undefined, time = T0) =>
  snapshot({ time, prices: { BTC: 50_000 }, marks: { 'BTC/USDT:USDT': 50_000 }, funding, markets, accounts: [{ name: 'a', balances: { BTC: 1.2, USDT: 40_000 }, positions: [short(-0.2, openedAt)] }] });

describe('exit rules: a hedge is a bridge', () => {
  it('convert-on-schedule (weekly): a hedge opened last week converts on Monday — spot sale first, then the reduce-only close', () => {
    const pl = plan(btc(), hedged(T0 - DAY, MONDAY), { now: MONDAY, state: 'ACTIVE' });
    expect(pl.actions.map((a) => `${a.type} ${a.side} ${a.amount} ${a.purpose}`)).toEqual(['spot sell 0.2 convert-spot', 'futures buy 0.2 hedge-convert']);
    // The spot sale replaces the hedge: $10,000 of BTC, so the class's net exposure stays $50,000.
    expect(pl.actions[0]!.notional).toBeCloseTo(10_000, 9);
    expect(pl.actions[1]!.reason).toMatch(/^exit rule: convert-on-schedule \(weekly\): opened 2025-02-28, a new period began 2025-03-03/);
  });

  it('convert-on-schedule: the same hedge on Saturday (same week) is kept', () => {
    const pl = plan(btc(), hedged(T0 - DAY, T0), { now: T0, state: 'ACTIVE' });
    expect(pl.actions).toEqual([]);
  });

  it('convert-after 72 h: kept at 71 h, converted at 72 h', () => {
    const p = btc({ hedges: { exit: { kind: 'convert-after', hours: 72 } } });
    const opened = T0 - 71 * 3_600_000;
    expect(plan(p, hedged(opened), { now: T0, state: 'ACTIVE' }).actions).toEqual([]);
    const later = plan(p, hedged(T0 - 72 * 3_600_000), { now: T0, state: 'ACTIVE' });
    expect(later.actions.map((a) => a.purpose)).toEqual(['convert-spot', 'hedge-convert']);
    expect(later.actions[1]!.reason).toMatch(/convert-after 72 h: open 72 h since 2025-02-26/);
  });

  it('unwind-only never converts; an unknown age is never converted and the plan says so', () => {
    expect(plan(btc({ hedges: { exit: { kind: 'unwind-only' } } }), hedged(T0 - 30 * DAY, MONDAY), { now: MONDAY, state: 'ACTIVE' }).actions).toEqual([]);
    const unknown = plan(btc(), hedged(undefined, MONDAY), { now: MONDAY, state: 'ACTIVE' });
    expect(unknown.actions).toEqual([]);
    expect(unknown.explanation.join('\n')).toMatch(/cannot judge the hedge BTC\/USDT:USDT on a: its opening time is unknown/);
  });
});

describe('hysteresis: unwind inside the inner band, and only if cash stays in its band', () => {
  it('spot weight 51% (inside 47.5–52.5%): the short is unwound; 53% (outside): kept', () => {
    // 1.02 BTC = 51,000 spot, short 0.02 (−1,000): net 50,000; TPV 51,000 + 49,000 = 100,000.
    const s = (btcQty: number, usdt: number) =>
      snapshot({ prices: { BTC: 50_000 }, marks: { 'BTC/USDT:USDT': 50_000 }, funding, markets, accounts: [{ name: 'a', balances: { BTC: btcQty, USDT: usdt }, positions: [short(-0.02, T0)] }] });
    const inside = plan(btc(), s(1.02, 49_000), { now: T0, state: 'ACTIVE' });
    expect(inside.actions.map((a) => `${a.side} ${a.amount} ${a.purpose}`)).toEqual(['buy 0.02 hedge-unwind']);
    expect(inside.actions[0]!.reason).toMatch(/back inside its inner band on a spot basis \(51\.00% within 47\.50%–52\.50%/);
    const outside = plan(btc(), s(1.06, 47_000), { now: T0, state: 'ACTIVE' });
    expect(outside.actions).toEqual([]);
  });

  it('an unwind that would push the cash class out of its band is not made', () => {
    // Three classes: cash 10% ± 2. BTC spot 41% (inside its inner band 38–42%) with a 3% short: net 38%.
    // Unwinding moves 3% of TPV from the cash class to BTC.
    const p = portfolio([
      cls('BTC', 0.4, 0.04, ['BTC'], { hedge: 'BTC/USDT:USDT' }),
      cls('ETH', 0.5, 0.05, ['ETH']),
      cls('Stable', 0.1, 0.02, ['USDT'], { cash: true }),
    ]);
    // TPV 100,000: BTC 0.82 × 50,000 = 41,000 spot, short 0.06 (−3,000) → net 38,000; ETH 50,000; USDT 9,000;
    // effective cash = 100,000 − 38,000 − 50,000 = 12,000 (12%). Unwinding: cash 12% − 3% = 9% inside 8–12%.
    const s = (usdt: number, eth: number) =>
      snapshot({ prices: { BTC: 50_000, ETH: 1 }, marks: { 'BTC/USDT:USDT': 50_000 }, funding, markets, accounts: [{ name: 'a', balances: { BTC: 0.82, ETH: eth, USDT: usdt }, positions: [short(-0.06, T0)] }] });
    expect(plan(p, s(9_000, 50_000), { now: T0, state: 'ACTIVE' }).actions.map((a) => a.purpose)).toEqual(['hedge-unwind']);
    // ETH 51,500, USDT 7,500: cash = 100,000 − 38,000 − 51,500 = 10,500 (10.5%); unwinding → 7.5% < 8%: kept.
    const kept = plan(p, s(7_500, 51_500), { now: T0, state: 'ACTIVE' });
    expect(kept.actions).toEqual([]);
    expect(kept.explanation.join('\n')).toMatch(/would put Stable at 7\.50%, outside 8\.00%–12\.00%: the hedge stays/);
  });

  it('a new hedge is not opened for a class whose spot weight is inside its inner band (it would be unwound at once): spot', () => {
    // Four classes, cash escalation: A breaches, B (spot 41%, inner band 38–42%) is moved to target by spot.
    const p = portfolio([cls('A', 0.3, 0.03, ['AAA'], { hedge: 'AAA/USDT:USDT' }), cls('B', 0.4, 0.04, ['BBB'], { hedge: 'BBB/USDT:USDT' }), cls('Cash', 0.3, 0.03, ['USDT'], { cash: true })], { execution: { instrument: 'futures' } });
    const all = { ...p, rebalance: { ...p.rebalance, scope: 'all' as const } };
    const s = snapshot({
      prices: { AAA: 1, BBB: 1 },
      marks: { 'AAA/USDT:USDT': 1, 'BBB/USDT:USDT': 1 },
      funding: { 'AAA/USDT:USDT': { rate: 0.0001, intervalHours: 8 }, 'BBB/USDT:USDT': { rate: 0.0001, intervalHours: 8 } },
      markets: { 'AAA/USDT': { amountStep: 1 }, 'BBB/USDT': { amountStep: 1 }, 'AAA/USDT:USDT': { amountStep: 1 }, 'BBB/USDT:USDT': { amountStep: 1 } },
      accounts: [{ name: 'a', balances: { AAA: 35_000, BBB: 41_000, USDT: 24_000 }, positions: [] }],
    });
    // A 35% > 33%: to 30% moves 5% to cash: 24% + 5% = 29%, inside 27–33%: only A moves, by a short perp.
    const pl = plan(p, s, { now: T0, state: 'ACTIVE' });
    expect(pl.actions.map((a) => `${a.type} ${a.side} ${a.symbol} ${a.amount}`)).toEqual(['futures sell AAA/USDT:USDT 5000']);
    // With scope: all every class moves to target: A by a short perp, and B (41%, inside its inner band
    // 38–42%, where a hedge would be unwound at the next decision) sells its 1% by spot.
    const pl2 = plan(all, s, { now: T0, state: 'ACTIVE' });
    expect(pl2.actions.find((a) => a.class === 'A')).toMatchObject({ type: 'futures', side: 'sell', amount: 5_000 });
    const b = pl2.actions.find((a) => a.class === 'B')!;
    expect(b).toMatchObject({ type: 'spot', side: 'sell', symbol: 'BBB/USDT', amount: 1_000 });
    expect(b.reason).toMatch(/spot, not a hedge: B's spot weight 41\.00% is inside its inner band 38\.00%–42\.00%/);
  });
});

describe('the gross cap', () => {
  it('open hedges above hedges.maxGross of TPV: the oldest converts first', () => {
    const p = portfolio(
      [cls('BTC', 0.4, 0.04, ['BTC'], { hedge: 'BTC/USDT:USDT' }), cls('ETH', 0.4, 0.04, ['ETH'], { hedge: 'ETH/USDT:USDT' }), cls('Stable', 0.2, 0.04, ['USDT'], { cash: true })],
      { hedges: { maxGross: 0.1, exit: { kind: 'unwind-only' } } },
    );
    // BTC 0.9 × 50,000 = 45,000 with a 0.1 short (−5,000) → net 40,000; ETH 45,000 with a 0.0025 short of a
    // 2,000,000 mark (−5,000) → net 40,000; USDT 10,000: TPV 100,000; gross 10,000 = 10%... at the cap.
    const s = (ethShort: number) =>
      snapshot({
        prices: { BTC: 50_000, ETH: 2_000_000 },
        marks: { 'BTC/USDT:USDT': 50_000, 'ETH/USDT:USDT': 2_000_000 },
        funding: { 'BTC/USDT:USDT': { rate: 0.0001, intervalHours: 8 }, 'ETH/USDT:USDT': { rate: 0.0001, intervalHours: 8 } },
        markets: {},
        accounts: [
          {
            name: 'a',
            balances: { BTC: 0.9, ETH: 0.0225, USDT: 10_000 },
            positions: [
              { symbol: 'ETH/USDT:USDT', contracts: ethShort, contractSize: 1, entryPrice: 2_000_000, leverage: 3, marginMode: 'cross', openedAt: T0 - DAY },
              short(-0.1, T0 - 3 * DAY),
            ],
          },
        ],
      });
    expect(plan(p, s(-0.0025), { now: T0, state: 'ACTIVE' }).actions).toEqual([]);
    // A larger ETH short (−6,000): gross 11,000 > 10,000 → convert the oldest, BTC's (opened 3 days ago).
    const over = plan(p, s(-0.003), { now: T0, state: 'ACTIVE' });
    expect(over.actions.map((a) => `${a.type} ${a.side} ${a.symbol} ${a.purpose}`)).toEqual(['spot sell BTC/USDT convert-spot', 'futures buy BTC/USDT:USDT hedge-cut-cap']);
    expect(over.actions[1]!.reason).toMatch(/^gross cap: open hedges total \$11,000\.00 > 10\.00% of TPV = \$10,\d{3}\.\d\d: convert the oldest, BTC\/USDT:USDT/);
  });
});

describe('unknown funding is unknown', () => {
  const s = snapshot({ prices: { BTC: 58_000 }, marks: { 'BTC/USDT:USDT': 58_000 }, markets, accounts: [{ name: 'a', balances: { BTC: 1, USDT: 42_000 }, positions: [] }] });
  const ctx = { now: T0, state: 'ACTIVE' as const };

  it('no rate for the perp: no hedge (refuse), the reason says so, and the class trades spot (onRefused: spot)', () => {
    const pl = plan(btc({ execution: { instrument: 'futures' } }), s, ctx);
    expect(pl.rejected[0]!.reason).toBe('funding unknown: no rate for BTC/USDT:USDT; no hedge is opened on an unknown rate (hedges.fundingWhenUnknown: zero or { proxy: SYMBOL } to allow it)');
    expect(pl.actions.map((a) => `${a.type} ${a.side}`)).toEqual(['spot sell']);
  });

  it('fundingWhenUnknown: zero opens the hedge and says it assumed 0 %', () => {
    const pl = plan(btc({ execution: { instrument: 'futures' }, hedges: { fundingWhenUnknown: { kind: 'zero' } } }), s, ctx);
    expect(pl.actions.map((a) => `${a.type} ${a.side}`)).toEqual(['futures sell']);
    expect(pl.actions[0]!.reason).toMatch(/BTC\/USDT:USDT has no funding data: assumed 0 % by hedges\.fundingWhenUnknown: zero/);
  });

  it('fundingWhenUnknown: { proxy } reads the proxy perp\'s rate and names it; a missing proxy rate refuses', () => {
    const p = btc({ execution: { instrument: 'futures' }, hedges: { fundingWhenUnknown: { kind: 'proxy', symbol: 'ETH/USDT:USDT' } } });
    const withProxy = plan(p, { ...s, funding: { 'ETH/USDT:USDT': { rate: 0.0002, intervalHours: 8 } } }, ctx);
    expect(withProxy.actions[0]!.reason).toMatch(/funding 0\.0200% per 8 h \(BTC\/USDT:USDT has no funding data: the rate of ETH\/USDT:USDT, hedges\.fundingWhenUnknown proxy\)/);
    const without = plan(p, s, ctx);
    expect(without.rejected[0]!.reason).toMatch(/^funding unknown: no rate for BTC\/USDT:USDT nor for its proxy ETH\/USDT:USDT/);
  });
});

describe('margin is not cash', () => {
  it('spot buys are sized against the quote left after the margin futures hold (initial margin at the mark, unrealised loss)', () => {
    // ETH underweight by spot only; the account holds a BTC short whose margin is not spendable.
    const p = portfolio([cls('BTC', 0.3, 0.2, ['BTC'], { hedge: 'BTC/USDT:USDT' }), cls('ETH', 0.5, 0.05, ['ETH']), cls('Stable', 0.2, 0.2, ['USDT'], { cash: true })]);
    // BTC 0.8 × 50,000 = 40,000 with a 0.2 short at 45,000 marked 50,000 (uPnL −1,000, IM 10,000 / 3):
    // net 30,000; ETH 30,000; USDT 31,000 → TPV 100,000. ETH 30% < 45%: buy 20,000 (BTC 10–50% and cash
    // 0–40% stay inside their wide bands, so ETH alone moves).
    const s = snapshot({
      prices: { BTC: 50_000, ETH: 1 },
      marks: { 'BTC/USDT:USDT': 50_000 },
      funding,
      accounts: [{ name: 'a', balances: { BTC: 0.8, ETH: 30_000, USDT: 31_000 }, positions: [{ ...short(-0.2, T0), entryPrice: 45_000 }] }],
    });
    const pl = plan(p, s, { now: T0, state: 'ACTIVE' });
    const buy = pl.actions.find((a) => a.symbol === 'ETH/USDT')!;
    // Free quote = 31,000 − 10,000 / 3 − 1,000 = 26,666.67; the buy of 20,000 + 0.15% fits.
    expect(buy.notional).toBeCloseTo(20_000, 6);
    // With 15,000 USDT (TPV 84,000: ETH wants 42,000 − 30,000 = 12,000) the free quote is 15,000 − 3,333.33 −
    // 1,000 = 10,666.67; × 0.999 / 1.0015 = 10,640.05: the buy is scaled to that.
    const poor = plan(p, { ...s, accounts: [{ ...s.accounts[0]!, balances: { BTC: 0.8, ETH: 30_000, USDT: 15_000 } }] }, { now: T0, state: 'ACTIVE' });
    const scaled = poor.actions.find((a) => a.symbol === 'ETH/USDT')!;
    expect(scaled.notional).toBeCloseTo(((15_000 - 10_000 / 3 - 1_000) * 0.999) / 1.0015, 5);
    expect(poor.rejected.map((r) => r.reason).join()).toMatch(/free after sells and the margin futures hold/);
  });
});

describe('intra-class weights are targets inside the class', () => {
  it('sales come from the assets above their weight and buys go to those below, so the class converges', () => {
    const p = portfolio([cls('Alts', 0.5, 0.02, ['SOL', 'XRP', 'LINK', 'DOGE'], { weights: { SOL: 0.4, XRP: 0.3, LINK: 0.2, DOGE: 0.1 } }), cls('Stable', 0.5, 0.02, ['USDT'], { cash: true })]);
    const prices = { SOL: 1, XRP: 1, LINK: 1, DOGE: 1 };
    // Alts 60,000 (SOL 30,000, XRP 10,000, LINK 12,000, DOGE 8,000) of TPV 100,000: 60% > 52%: sell 10,000.
    // After the sale the class is 50,000: targets SOL 20,000, XRP 15,000, LINK 10,000, DOGE 5,000. Above:
    // SOL +10,000, LINK +2,000, DOGE +3,000 (Σ 15,000): sell 10,000 × (10, 2, 3) / 15 = 6,666.67, 1,333.33, 2,000.
    const s = snapshot({ prices, accounts: [{ name: 'a', balances: { SOL: 30_000, XRP: 10_000, LINK: 12_000, DOGE: 8_000, USDT: 40_000 }, positions: [] }] });
    const pl = plan(p, s, { now: T0, state: 'ACTIVE' });
    expect(pl.actions.map((a) => `${a.side} ${a.symbol} ${Math.round(a.notional * 100) / 100}`)).toEqual(['sell SOL/USDT 6666.67', 'sell LINK/USDT 1333.33', 'sell DOGE/USDT 2000']);
    // The class view shows each asset's share against its weight.
    expect(pl.explanation).toContain('Alts inside the class: SOL 50.00% (weight 40.00%), XRP 16.67% (weight 30.00%), LINK 20.00% (weight 20.00%), DOGE 13.33% (weight 10.00%).');
    // Repeated rebalances (prices drifting the class up 25% each time) bring every asset toward its weight.
    let snap = s;
    const share = () => {
      const v = valuePortfolio(p, snap).assetValues;
      const total = ['SOL', 'XRP', 'LINK', 'DOGE'].reduce((t, a) => t + (v[a] ?? 0), 0);
      return { SOL: v.SOL! / total, XRP: v.XRP! / total, LINK: v.LINK! / total, DOGE: v.DOGE! / total };
    };
    const gap = () => Math.max(...Object.entries(share()).map(([a, x]) => Math.abs(x - p.classes[0]!.weights![a]!)));
    const first = gap();
    for (let k = 0; k < 6; k++) {
      snap = applyPlan(p, snap, plan(p, snap, { now: T0, state: 'ACTIVE' }));
      snap = { ...snap, prices: Object.fromEntries(Object.entries(snap.prices).map(([a, x]) => [a, a === 'USDT' ? x : x * 1.25])) };
    }
    // At first XRP is 10,000 / 60,000 = 16.67% of the class against its 30% weight.
    expect(first).toBeCloseTo(0.3 - 1 / 6, 9);
    expect(gap()).toBeLessThan(0.02);
  });
});
