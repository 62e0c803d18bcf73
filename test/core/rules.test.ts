/** Unit tests for each rule of the core, with the arithmetic worked by hand in the comments. */
import { describe, expect, it } from 'vitest';
import { bandEdges, breachOf, destinationWeight } from '../../src/core/bands.js';
import { estimateBeta } from '../../src/core/beta.js';
import { expectedFunding, fundingCostApr, futuresCost, spotCost } from '../../src/core/costs.js';
import { liquidationPrice, marginAvailable, marginRatio, type MarginAccount } from '../../src/core/margin.js';
import { plan } from '../../src/core/planner.js';
import { floorToStep, isMultipleOf } from '../../src/core/rounding.js';
import { isRebalanceDue, periodStart } from '../../src/core/schedule.js';
import { valuePortfolio } from '../../src/core/valuation.js';
import { cls, portfolio, snapshot, T0 } from './builders.js';

const ctx = { now: T0, state: 'ACTIVE' as const };

describe('bands', () => {
  it('absolute band: 50% ± 5 → 45%–55%', () => {
    const e = bandEdges(0.5, { kind: 'absolute', width: 0.05 });
    expect(e.lower).toBeCloseTo(0.45, 12);
    expect(e.upper).toBeCloseTo(0.55, 12);
  });
  it('relative band: 15% ± 20% of target → 12%–18%', () => {
    const e = bandEdges(0.15, { kind: 'relative', fraction: 0.2 });
    expect(e.lower).toBeCloseTo(0.12, 12);
    expect(e.upper).toBeCloseTo(0.18, 12);
  });
  it('breach is strict: on the edge is inside', () => {
    expect(breachOf(0.55, 0.45, 0.55)).toBeNull();
    expect(breachOf(0.5501, 0.45, 0.55)).toBe('upper');
    expect(breachOf(0.4499, 0.45, 0.55)).toBe('lower');
  });
  it('destinations: target, band edge (5% of the half-width inside), halfway', () => {
    expect(destinationWeight('target', 0.5, 0.45, 0.55, 'upper')).toBe(0.5);
    expect(destinationWeight('band-edge', 0.5, 0.45, 0.55, 'upper')).toBeCloseTo(0.5475, 12);
    expect(destinationWeight('halfway', 0.5, 0.45, 0.55, 'lower')).toBeCloseTo(0.475, 12);
  });
});

describe('funding and costs (positive rate: longs pay shorts)', () => {
  const f8 = { rate: 0.0001, intervalHours: 8 };
  it('APR: 0.01% per 8 h = 10.95% a year; a long pays it, a short receives it', () => {
    expect(fundingCostApr(1, f8)).toBeCloseTo(0.1095, 10);
    expect(fundingCostApr(-1, f8)).toBeCloseTo(-0.1095, 10);
    expect(fundingCostApr(-1, { rate: -0.0003, intervalHours: 8 })).toBeCloseTo(0.3285, 10);
  });
  it('expected funding over a week on $10,000: 21 intervals × 0.01% × 10,000 = $21', () => {
    expect(expectedFunding(1, 10_000, f8, 168)).toBeCloseTo(21, 10);
    expect(expectedFunding(-1, 10_000, f8, 168)).toBeCloseTo(-21, 10);
  });
  it('spot and futures cost model', () => {
    const ex = portfolio([], { execution: { spotSalePenalty: 0.01 } }).execution;
    // spot sell of $8,000: fee 0.1% = $8, slippage 0.05% = $4, penalty 1% = $80
    expect(spotCost(8000, true, ex)).toEqual({ fees: 8, slippage: 4, salePenalty: 80, total: 92 });
    expect(spotCost(8000, false, ex).total).toBeCloseTo(12, 10);
    // futures short $8,000: 2 × 0.05% = $8 fees, 2 × 0.05% = $8 slippage, funding −21 × 0.0001 × 8,000 = −$16.80
    const c = futuresCost(8000, -1, f8, ex, 168, false);
    expect(c.fees).toBeCloseTo(8, 10);
    expect(c.slippage).toBeCloseTo(8, 10);
    expect(c.funding).toBeCloseTo(-16.8, 10);
    expect(c.total).toBeCloseTo(-0.8, 10);
  });
});

describe('margin', () => {
  const short: MarginAccount = {
    name: 'a',
    wallet: 10_000,
    positions: [{ symbol: 'BTC/USDT:USDT', qty: -1, entryPrice: 50_000, mark: 50_000, mmr: 0.004, leverage: 5, isolated: false, isolatedMargin: 0 }],
  };
  it('cross short liquidation: (10,000 + 1 × 50,000) / (1 × 1.004) = 59,760.96', () => {
    expect(liquidationPrice(short, 'BTC/USDT:USDT')).toBeCloseTo(59_760.956, 2);
  });
  it('cross long liquidation: (50,000 − 10,000) / (1 × 0.996) = 40,160.64', () => {
    const long = { ...short, positions: [{ ...short.positions[0]!, qty: 1 }] };
    expect(liquidationPrice(long, 'BTC/USDT:USDT')).toBeCloseTo(40_160.643, 2);
  });
  it('isolated short at 5x: margin 10,000 → same formula with E0 = 10,000', () => {
    const iso = { ...short, wallet: 50_000, positions: [{ ...short.positions[0]!, isolated: true, isolatedMargin: 10_000 }] };
    expect(liquidationPrice(iso, 'BTC/USDT:USDT')).toBeCloseTo(59_760.956, 2);
  });
  it('margin available = wallet − initial margin (50,000 / 5 = 10,000) → 0', () => {
    expect(marginAvailable(short)).toBeCloseTo(0, 9);
  });
  it('margin ratio now 200 / 10,000 = 2%; after +30%: 260 / (10,000 − 15,000) → beyond liquidation', () => {
    const r = marginRatio(short, 0.3);
    expect(r.now).toBeCloseTo(0.02, 10);
    expect(r.stressed).toBe(Infinity);
  });
});

describe('rounding at the order boundary', () => {
  it('floors to the lot step without float noise creating or losing a lot', () => {
    expect(floorToStep(0.1 + 0.2, 0.1)).toBe(0.3);
    expect(floorToStep(0.7, 0.1)).toBe(0.7);
    expect(floorToStep(8000 / 58000, 0.000001)).toBe(0.137931);
    expect(floorToStep(0.9999999999, 0.001)).toBe(0.999);
    expect(floorToStep(-1, 0.1)).toBe(0);
    expect(isMultipleOf(0.3, 0.1)).toBe(true);
    expect(isMultipleOf(0.35, 0.1)).toBe(false);
  });
});

describe('calendar schedule', () => {
  it('daily, weekly (Monday) and monthly periods', () => {
    const wed = Date.UTC(2025, 2, 5, 13); // Wednesday 5 March 2025
    expect(periodStart('daily', wed)).toBe(Date.UTC(2025, 2, 5));
    expect(periodStart('weekly', wed)).toBe(Date.UTC(2025, 2, 3));
    expect(periodStart('monthly', wed)).toBe(Date.UTC(2025, 2, 1));
  });
  it('due when the period changed since the last rebalance, or never rebalanced', () => {
    const mon = Date.UTC(2025, 2, 3);
    expect(isRebalanceDue('weekly', undefined, mon)).toBe(true);
    expect(isRebalanceDue('weekly', mon + 3600_000, mon + 2 * 86_400_000)).toBe(false);
    expect(isRebalanceDue('weekly', mon - 1, mon)).toBe(true);
  });
});

describe('beta', () => {
  it('a series that moves twice as much has beta 2', () => {
    const x = [100, 110, 99, 108.9, 100];
    const y = [100];
    for (let i = 1; i < x.length; i++) y.push(y[i - 1]! * (1 + 2 * (x[i]! / x[i - 1]! - 1)));
    expect(estimateBeta(y, x)).toBeCloseTo(2, 10);
  });
});

describe('valuation', () => {
  const p = portfolio(
    [cls('BTC', 0.4, 0.05, ['BTC'], { hedge: 'BTC/USDT:USDT' }), cls('ETH', 0.3, 0.05, ['ETH']), cls('Stable', 0.3, 0.05, ['USDT'], { cash: true })],
    { indexPerps: [{ symbol: 'MAJ/USDT:USDT', classes: { BTC: 0.6, ETH: 0.4 } }] },
  );
  it('TPV = spot + uPnL; net = spot + signed notional; index perp split by weights; cash = TPV − Σ others', () => {
    const s = snapshot({
      prices: { BTC: 50_000, ETH: 2_000 },
      marks: { 'BTC/USDT:USDT': 51_000, 'MAJ/USDT:USDT': 100 },
      accounts: [
        {
          name: 'x',
          balances: { BTC: 1, ETH: 10, USDT: 30_000 },
          positions: [
            { symbol: 'BTC/USDT:USDT', contracts: -0.2, contractSize: 1, entryPrice: 50_000, leverage: 2, marginMode: 'cross' },
            { symbol: 'MAJ/USDT:USDT', contracts: -100, contractSize: 1, entryPrice: 100, leverage: 2, marginMode: 'cross' },
          ],
        },
      ],
    });
    const v = valuePortfolio(p, s);
    // spot 50,000 + 20,000 + 30,000 = 100,000; uPnL −0.2 × (51,000 − 50,000) = −200
    expect(v.tpv).toBeCloseTo(99_800, 9);
    const [btc, eth, cash] = v.classes;
    // BTC net = 50,000 − 0.2 × 51,000 − 0.6 × 10,000 = 33,800
    expect(btc!.net).toBeCloseTo(33_800, 9);
    // ETH net = 20,000 − 0.4 × 10,000 = 16,000
    expect(eth!.net).toBeCloseTo(16_000, 9);
    expect(cash!.net).toBeCloseTo(99_800 - 33_800 - 16_000, 9);
    expect(btc!.weight + eth!.weight + cash!.weight).toBeCloseTo(1, 12);
  });
});

describe('planner rules', () => {
  const base = (extra: Parameters<typeof portfolio>[1] = {}) =>
    portfolio([cls('BTC', 0.5, 0.05, ['BTC'], { hedge: 'BTC/USDT:USDT' }), cls('Stable', 0.5, 0.05, ['USDT'], { cash: true })], extra);
  const snap = (over: Partial<Parameters<typeof snapshot>[0]> = {}) =>
    snapshot({
      prices: { BTC: 58_000 },
      marks: { 'BTC/USDT:USDT': 58_000 },
      funding: { 'BTC/USDT:USDT': { rate: 0.0001, intervalHours: 8 } },
      accounts: [{ name: 'a', balances: { BTC: 1, USDT: 42_000 }, positions: [] }],
      markets: { 'BTC/USDT': { amountStep: 0.000001, minNotional: 5 }, 'BTC/USDT:USDT': { amountStep: 0.001, minNotional: 5, maintenanceMarginRate: 0.004 } },
      ...over,
    });

  it('hedge size = deviation × hedge ratio', () => {
    const pl = plan(base({ execution: { instrument: 'futures', hedgeRatio: 0.5 } }), snap(), ctx);
    const a = pl.actions[0]!;
    // $8,000 × 0.5 = $4,000 → floor(4,000 / 58,000, 0.001) = 0.068 contracts = $3,944
    expect(a).toMatchObject({ type: 'futures', side: 'sell', amount: 0.068, reduceOnly: false });
    expect(a.notional).toBeCloseTo(3944, 6);
    expect(a.reason).toMatch(/× hedge ratio 0\.50/);
  });

  it('a leg below the minimum notional is dropped and reported', () => {
    const pl = plan(base(), snap({ markets: { 'BTC/USDT': { amountStep: 0.000001, minNotional: 10_000 } } }), ctx);
    expect(pl.actions).toEqual([]);
    expect(pl.rejected.map((r) => r.reason).join()).toMatch(/below the minimum notional \$10,000\.00/);
  });

  it('futures refused for margin → wait when hedges.onRefused is wait', () => {
    const pl = plan(base({ execution: { instrument: 'futures', leverage: 1 }, risk: { maxLeverage: 1 }, hedges: { onRefused: 'wait' } }), snap({ accounts: [{ name: 'a', balances: { BTC: 1, USDT: 1_000 }, positions: [] }], prices: { BTC: 8_000 }, marks: { 'BTC/USDT:USDT': 8_000 } }), ctx);
    // TPV 9,000; BTC 88.9% → reduce 3,500 by futures at 1x needs 3,500 margin, 1,000 available
    expect(pl.actions.map((a) => a.type)).toEqual(['wait']);
    expect(pl.rejected[0]!.reason).toMatch(/^margin: /);
    expect(pl.actions[0]!.reason).toMatch(/hedges\.onRefused is wait/);
  });

  it('futures refused for margin → spot by default (hedges.onRefused: spot), with the reason', () => {
    const pl = plan(base({ execution: { instrument: 'futures', leverage: 1 }, risk: { maxLeverage: 1 } }), snap({ accounts: [{ name: 'a', balances: { BTC: 1, USDT: 1_000 }, positions: [] }], prices: { BTC: 8_000 }, marks: { 'BTC/USDT:USDT': 8_000 } }), ctx);
    // TPV 9,000; BTC 8,000 = 88.9% → to 50%: sell 3,500 of BTC spot = 0.4375 BTC
    expect(pl.actions.map((a) => `${a.type} ${a.side} ${a.amount}`)).toEqual(['spot sell 0.4375']);
    expect(pl.actions[0]!.notional).toBeCloseTo(3_500, 9);
    expect(pl.actions[0]!.reason).toMatch(/futures leg was refused \(margin: .*hedges\.onRefused: spot\)/);
  });

  it('futures rejected when funding costs more than the budget; auto falls back to spot', () => {
    const s = snap({ funding: { 'BTC/USDT:USDT': { rate: -0.0005, intervalHours: 8 } } });
    // a short pays 0.05% × 3 × 365 = 54.75% a year > 25%
    const pl = plan(base({ execution: { instrument: 'auto' } }), s, ctx);
    expect(pl.actions.map((a) => a.type)).toEqual(['spot']);
    expect(pl.rejected[0]!.reason).toMatch(/funding cost: a short pays 54\.75% a year/);
  });

  it('auto picks futures when funding pays the short enough to beat spot (unwind-only, 168 h expected life)', () => {
    const s = snap({ funding: { 'BTC/USDT:USDT': { rate: 0.0003, intervalHours: 8 } } });
    // futures: 2 × (0.05% + 0.05%) = 0.2% minus funding 21 × 0.03% = 0.63% → −0.43% < spot 0.15%
    const pl = plan(base({ execution: { instrument: 'auto' }, hedges: { exit: { kind: 'unwind-only' } } }), s, ctx);
    expect(pl.actions.map((a) => `${a.type} ${a.side}`)).toEqual(['futures sell']);
    expect(pl.rejected[0]!.reason).toMatch(/spot costs more/);
  });

  it('auto prices funding over the life the exit rule gives: convert-on-schedule weekly from a Saturday is 48 h', () => {
    // T0 = Saturday 2025-03-01 00:00 UTC; the next Monday is 48 h away: funding 6 × 0.03% = 0.18% received.
    // hedge on 0.137 BTC = $7,946: 0.2% (perp fees and slippage both ways) − 0.18% + 0.15% (the spot sale at
    // conversion) = 0.17%
    // > spot now 0.15% → spot. The same rate over 30 days (convert-after) receives 90 × 0.03% = 2.7% → hedge.
    const s = snap({ funding: { 'BTC/USDT:USDT': { rate: 0.0003, intervalHours: 8 } } });
    const weekly = plan(base({ execution: { instrument: 'auto' } }), s, ctx);
    expect(weekly.actions.map((a) => `${a.type} ${a.side}`)).toEqual(['spot sell']);
    expect(weekly.actions[0]!.reason).toMatch(/expected funding -\$14\.30 over 48 h, converted at the next weekly period start, in 48 h \+ spot at conversion \$11\.92\) = 0\.170% of \$7,946\.00: spot is cheaper/);
    const month = plan(base({ execution: { instrument: 'auto' }, hedges: { exit: { kind: 'convert-after', hours: 720 } } }), s, ctx);
    expect(month.actions.map((a) => `${a.type} ${a.side}`)).toEqual(['futures sell']);
  });

  it('an adjustment first shrinks an open hedge that points the other way (reduce-only)', () => {
    // BTC spot 0.5 × 58,000 = 29,000 with a 0.2 short (−11,600): net 17,400 of TPV 71,000 = 24.5% < 45%
    const s = snap({ accounts: [{ name: 'a', balances: { BTC: 0.5, USDT: 42_000 }, positions: [{ symbol: 'BTC/USDT:USDT', contracts: -0.2, contractSize: 1, entryPrice: 58_000, leverage: 3, marginMode: 'cross' }] }] });
    const pl = plan(base({ execution: { instrument: 'spot' } }), s, ctx);
    expect(pl.actions[0]).toMatchObject({ type: 'futures', side: 'buy', amount: 0.2, reduceOnly: true });
    // to target: add 0.5 × 71,000 − 17,400 = 18,100; the hedge covers 11,600, spot buys the remaining 6,500
    expect(pl.actions[1]).toMatchObject({ type: 'spot', side: 'buy' });
    expect(pl.actions[1]!.notional).toBeCloseTo(6_500, 0);
  });

  it('a hedge is unwound when its class is back inside its band on a spot basis', () => {
    // spot 0.8 × 58,000 = 46,400 of TPV 100,000 → 46.4% within 45–55%; with the short net is 40.6% (breach)
    const s = snap({ accounts: [{ name: 'a', balances: { BTC: 0.8, USDT: 53_600 }, positions: [{ symbol: 'BTC/USDT:USDT', contracts: -0.1, contractSize: 1, entryPrice: 58_000, leverage: 3, marginMode: 'cross' }] }] });
    const pl = plan(base(), s, ctx);
    expect(pl.actions[0]).toMatchObject({ type: 'futures', side: 'buy', amount: 0.1, reduceOnly: true });
  });

  it('a hedge whose funding exceeds the budget is cut and replaced by spot', () => {
    // BTC spot 1 × 58,000 with a 0.16 short (−9,280): net 48,720 / 100,000 = 48.7%, inside; funding −0.05%/8h
    const s = snap({
      funding: { 'BTC/USDT:USDT': { rate: -0.0005, intervalHours: 8 } },
      accounts: [{ name: 'a', balances: { BTC: 1, USDT: 42_000 }, positions: [{ symbol: 'BTC/USDT:USDT', contracts: -0.16, contractSize: 1, entryPrice: 58_000, leverage: 3, marginMode: 'cross' }] }],
    });
    const pl = plan(base({ execution: { instrument: 'futures' } }), s, ctx);
    // A cut is a conversion: the spot sale first, then the short's reduce-only close.
    expect(pl.actions.map((a) => `${a.type} ${a.side} ${a.reduceOnly}`)).toEqual(['spot sell false', 'futures buy true']);
    expect(pl.actions[0]!.notional).toBeCloseTo(9_280, 0);
    expect(pl.actions[1]!.reason).toMatch(/pays funding at 54\.75% a year > budget 25\.00%/);
    expect(pl.actions[1]!.purpose).toBe('hedge-cut-funding');
  });

  it('a hedge whose account cannot survive the stress move is cut and replaced by spot', () => {
    // Short 1 BTC at 50,000 marked at 58,000 (uPnL −8,000) on a 10,000 wallet: equity 2,000.
    // +30% → mark 75,400: loss 17,400 more → equity −15,400 < maintenance → margin risk.
    const s = snap({ accounts: [{ name: 'a', balances: { BTC: 1.2, USDT: 10_000 }, positions: [{ symbol: 'BTC/USDT:USDT', contracts: -1, contractSize: 1, entryPrice: 50_000, leverage: 3, marginMode: 'cross' }] }] });
    const pl = plan(base({ execution: { instrument: 'futures' } }), s, ctx);
    expect(pl.actions[0]).toMatchObject({ type: 'futures', side: 'buy', amount: 1, reduceOnly: true });
    expect(pl.actions[0]!.reason).toMatch(/^margin risk: after a 30% adverse move a's maintenance margin would exceed its equity/);
    expect(pl.actions.slice(1).every((a) => a.type === 'spot' && a.side === 'sell')).toBe(true);
  });

  it('scope breached: cash pushed out of its band → every class to target', () => {
    const p = portfolio([cls('A', 0.45, 0.05, ['AAA']), cls('B', 0.45, 0.05, ['BBB']), cls('Cash', 0.1, 0.02, ['USDT'], { cash: true })]);
    // A 56%, B 40%, cash 4%: moving only A to 45% would leave cash at 15% > 12%
    const s = snapshot({ prices: { AAA: 1, BBB: 1 }, accounts: [{ name: 'a', balances: { AAA: 56_000, BBB: 40_000, USDT: 4_000 }, positions: [] }] });
    const pl = plan(p, s, ctx);
    expect(pl.explanation.join('\n')).toMatch(/every class moves to target/);
    expect(pl.actions.map((a) => `${a.symbol} ${a.side}`)).toEqual(['AAA/USDT sell', 'BBB/USDT buy']);
  });

  it('calendar mode acts when due and not otherwise; hybrid needs due and a breach', () => {
    const monday = Date.UTC(2025, 2, 3);
    const s = { ...snap(), time: monday };
    const notDue = plan(base({ rebalance: { mode: 'calendar' } }), { ...s, lastRebalance: monday }, { now: monday, state: 'ACTIVE' });
    expect(notDue.status).toBe('not-due');
    const due = plan(base({ rebalance: { mode: 'calendar' } }), { ...s, lastRebalance: monday - 86_400_000 }, { now: monday, state: 'ACTIVE' });
    expect(due.actions.length).toBe(1);
    const inside = snap({ accounts: [{ name: 'a', balances: { BTC: 1, USDT: 50_000 }, positions: [] }] });
    const hybrid = plan(base({ rebalance: { mode: 'hybrid' } }), { ...inside, time: monday }, { now: monday, state: 'ACTIVE' });
    expect(hybrid.actions).toEqual([]);
  });

  it('a manual rebalance (force) moves every class to target whatever the mode; HALTED still wins', () => {
    const monday = Date.UTC(2025, 2, 3);
    // BTC 1 × 58,000 / USDT 42,000, targets 50/50 with bands ±5: a breach, but the weekly check is not due.
    const s = { ...snap(), time: monday, lastRebalance: monday };
    expect(plan(base({ rebalance: { mode: 'hybrid' } }), s, { now: monday, state: 'ACTIVE' }).status).toBe('not-due');
    const forced = plan(base({ rebalance: { mode: 'hybrid' } }), s, { now: monday, state: 'ACTIVE', force: true });
    expect(forced.trigger).toMatch(/^manual/);
    expect(forced.actions.map((a) => `${a.symbol} ${a.side} ${a.amount}`)).toEqual(['BTC/USDT sell 0.137931']);
    // inside every band, threshold mode: force still moves to target (here BTC 52% → 50%)
    const inside = snap({ accounts: [{ name: 'a', balances: { BTC: 1, USDT: 53_538.46 }, positions: [] }] });
    expect(plan(base(), inside, ctx).actions).toEqual([]);
    expect(plan(base(), inside, { ...ctx, force: true }).actions.map((a) => `${a.symbol} ${a.side}`)).toEqual(['BTC/USDT sell']);
    expect(plan(base(), inside, { ...ctx, state: 'HALTED', force: true }).actions).toEqual([]);
  });

  it('the liquidation price after the trade must stay beyond the stress move', () => {
    // TPV 23,000, BTC 20,000 = 87%: short 8,500 backed by a 3,000 wallet (2.83x).
    // +30%: loss 2,550, equity 450 > maintenance 0.4% × 11,050 = 44.2 → ok. +50%: loss 4,250 > 3,000 → rejected.
    const s = snap({ accounts: [{ name: 'a', balances: { BTC: 2, USDT: 3_000 }, positions: [] }], prices: { BTC: 10_000 }, marks: { 'BTC/USDT:USDT': 10_000 } });
    const ok = plan(base({ execution: { instrument: 'futures' } }), s, ctx);
    expect(ok.actions[0]!.type).toBe('futures');
    const tight = plan(base({ execution: { instrument: 'futures' }, risk: { stressMove: 0.5 }, hedges: { onRefused: 'wait' } }), s, ctx);
    expect(tight.actions[0]!.type).toBe('wait');
    expect(tight.rejected[0]!.reason).toMatch(/^liquidation distance/);
  });
});

describe('formatting', () => {
  it('money, percentages and amounts as a beginner reads them', async () => {
    const { money, num, pct } = await import('../../src/core/format.js');
    expect(money(100_000)).toBe('$100,000.00');
    expect(money(-7_947.37)).toBe('-$7,947.37');
    expect(money(-0.001)).toBe('$0.00');
    expect(money(1234.5, 'EUR')).toBe('1,234.50 EUR');
    expect(money(999.999)).toBe('$1,000.00');
    expect(pct(0.58)).toBe('58.00%');
    expect(num(0.1379310344)).toBe('0.137931');
    expect(num(9375)).toBe('9375');
    expect(num(1e-7, 12)).toBe('0.0000001');
  });
});
