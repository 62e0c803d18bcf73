/**
 * The pre-trade risk gate (src/execution/pretrade.ts): one test per rule, with the numbers it reports; a
 * property that plans of the real planner pass while the same plans mutated (size ×10, side flipped, a symbol
 * outside the portfolio, a price off the touch) are refused; and a service whose planner returns a bad plan
 * sends nothing, journals why, and goes REDUCING after `risk.maxRefusals` refusals in a row.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { plan as makePlan } from '../../src/core/planner.js';
import type { Action, Plan, Portfolio, PretradeRule, Snapshot } from '../../src/core/types.js';
import { checkPlan } from '../../src/execution/pretrade.js';
import { planToText } from '../../src/apps/shared/plan-view.js';
import { cls, portfolio as makePortfolio, snapshot as makeSnapshot, T0 } from '../core/builders.js';
import { ACCOUNT, countSends, MIN, SPOT, world, type World } from './helpers.js';

const P = 'BTC/USDT:USDT';

function pf(over: Parameters<typeof makePortfolio>[1] = {}): Portfolio {
  return makePortfolio([cls('BTC', 0.5, 0.05, ['BTC'], { hedge: P }), cls('ETH', 0.2, 0.05, ['ETH']), cls('Stablecoins', 0.3, 0.05, ['USDT'], { cash: true })], over);
}

/** TPV 100,000: BTC 1 × 60,000 (60 %, above its 55 % edge), ETH 5 × 2,000 (10 %, below 15 %), USDT 30,000. */
function snap(over: Partial<Snapshot> = {}): Snapshot {
  return makeSnapshot({
    prices: { BTC: 60_000, ETH: 2_000 },
    marks: { [P]: 60_000 },
    accounts: [{ name: 'a', balances: { BTC: 1, ETH: 5, USDT: 30_000 }, positions: [] }],
    ...over,
  });
}

function act(a: Partial<Action> & Pick<Action, 'side' | 'amount'>): Action {
  return { type: 'spot', class: 'BTC', account: 'a', symbol: 'BTC/USDT', notional: a.amount * 60_000, price: 60_000, reduceOnly: false, reason: 'test', ...a };
}

function planWith(actions: Action[]): Plan {
  return {
    time: T0,
    status: 'ok',
    valuation: { quote: 'USDT', tpv: 0, spotValue: 0, unrealizedPnl: 0, classes: [], positions: [], assetValues: {} },
    trigger: 'test',
    actions,
    rejected: [],
    risk: { marginRequired: 0, marginAvailable: 0, liquidationPrices: {}, marginRatio: {}, maxLeverage: 0 },
    explanation: [],
  };
}

const rules = (p: Portfolio, s: Snapshot, actions: Action[], prev?: Parameters<typeof checkPlan>[3]) => checkPlan(p, s, planWith(actions), prev).refusals.map((r) => r.rule);

describe('pre-trade gate: one rule at a time', () => {
  it('the planner\'s own plan passes: sell 1/6 BTC and buy 5 ETH', () => {
    const p = pf();
    const s = snap();
    const plan = makePlan(p, s, { now: T0, state: 'ACTIVE' });
    expect(plan.actions.filter((a) => a.type !== 'wait').map((a) => [a.symbol, a.side])).toEqual([
      ['BTC/USDT', 'sell'],
      ['ETH/USDT', 'buy'],
    ]);
    const v = checkPlan(p, s, plan);
    expect(v).toMatchObject({ ok: true, orders: 2, refusals: [] });
    expect(v.turnover).toBeCloseTo(20_000, 0);
  });

  it('malformed: an amount that is not a positive number', () => {
    expect(rules(pf(), snap(), [act({ side: 'sell', amount: Number.NaN })])).toEqual(['malformed']);
    expect(rules(pf(), snap(), [act({ side: 'sell', amount: -0.1 })])).toEqual(['malformed']);
  });

  it('universe: a symbol or account outside the portfolio', () => {
    expect(rules(pf(), snap({ prices: { BTC: 60_000, ETH: 2_000, DOGE: 0.1 } }), [act({ side: 'sell', amount: 100, symbol: 'DOGE/USDT', price: 0.1 })])).toEqual(['universe']);
    expect(rules(pf(), snap(), [act({ side: 'sell', amount: 0.1, symbol: 'BTC/EUR' })])).toEqual(['universe']);
    expect(rules(pf(), snap(), [act({ side: 'sell', amount: 0.1, type: 'futures', symbol: 'DOGE/USDT:USDT' })])).toEqual(['universe']);
    expect(rules(pf(), snap(), [act({ side: 'sell', amount: 0.1, account: 'ghost' })])).toEqual(['universe']);
  });

  it('order-size: 0.5 BTC = 30 % of TPV is above the 25 % default; the numbers are reported', () => {
    const v = checkPlan(pf(), snap(), planWith([act({ side: 'sell', amount: 0.5 })]));
    expect(v.refusals).toEqual([
      {
        rule: 'order-size',
        leg: 0,
        account: 'a',
        symbol: 'BTC/USDT',
        message: 'leg 0 (sell 0.5 BTC/USDT on a): notional $30,000.00 is 30.00% of TPV $100,000.00, above the 25.00% limit per order',
        numbers: { notional: 30_000, tpv: 100_000, share: 0.3, limit: 0.25 },
      },
    ]);
    expect(rules(pf({ risk: { maxOrderShare: 0.3 } }), snap(), [act({ side: 'sell', amount: 0.5 })])).toEqual([]);
  });

  it('cycle-turnover: two orders of 10 % each against a 15 % cycle limit', () => {
    const p = pf({ risk: { maxCycleTurnover: 0.15 } });
    const v = checkPlan(p, snap(), planWith([act({ side: 'sell', amount: 1 / 6 }), act({ side: 'buy', amount: 5, symbol: 'ETH/USDT', class: 'ETH', price: 2_000 })]));
    expect(v.refusals.map((r) => [r.rule, r.leg])).toEqual([['cycle-turnover', null]]);
    expect(v.refusals[0]!.numbers.share).toBeCloseTo(0.2, 12);
  });

  it('orders-per-cycle: a third order above a limit of two', () => {
    const p = pf({ risk: { maxOrdersPerCycle: 2 } });
    const three = [act({ side: 'sell', amount: 0.05 }), act({ side: 'sell', amount: 0.05 }), act({ side: 'sell', amount: 0.05 })];
    expect(rules(p, snap(), three)).toEqual(['orders-per-cycle']);
    expect(rules(p, snap(), three.slice(0, 2))).toEqual([]);
  });

  it('price-collar: 3 % above the touch is outside the 2 % collar, 1.9 % is inside', () => {
    const v = checkPlan(pf(), snap(), planWith([act({ side: 'sell', amount: 0.1, price: 61_800 })]));
    expect(v.refusals.map((r) => r.rule)).toEqual(['price-collar']);
    expect(v.refusals[0]!.numbers).toEqual({ price: 61_800, touch: 60_000, distance: 0.03, limit: 0.02 });
    expect(rules(pf(), snap(), [act({ side: 'sell', amount: 0.1, price: 61_140 })])).toEqual([]);
  });

  it('reduce-only: only against the position held, and no more than it', () => {
    const short = snap({ accounts: [{ name: 'a', balances: { BTC: 1, ETH: 5, USDT: 30_000 }, positions: [{ symbol: P, contracts: -0.2, contractSize: 1, entryPrice: 60_000, leverage: 3, marginMode: 'cross' }] }] });
    const close = (amount: number, side: 'buy' | 'sell' = 'buy') => act({ type: 'futures', symbol: P, side, amount, reduceOnly: true });
    expect(rules(pf(), short, [close(0.2)])).toEqual([]);
    expect(rules(pf(), short, [close(0.3)])).toEqual(['reduce-only']);
    expect(rules(pf(), short, [close(0.1, 'sell')])).toEqual(['reduce-only']);
    expect(rules(pf(), snap(), [close(0.1)])).toEqual(['reduce-only']);
    expect(rules(pf(), snap(), [act({ side: 'sell', amount: 0.1, reduceOnly: true })])).toEqual(['reduce-only']);
  });

  it('spot-funds: no spot sale beyond the holding, no buys beyond cash plus proceeds', () => {
    const p = pf({ risk: { maxOrderShare: 1, maxCycleTurnover: 5 } });
    expect(rules(p, snap(), [act({ side: 'sell', amount: 1.2 })])).toEqual(['spot-funds']);
    // ETH below its band, so buying it is the right direction; 20 ETH = 40,000 > 30,000 USDT
    expect(rules(p, snap(), [act({ side: 'buy', amount: 20, symbol: 'ETH/USDT', class: 'ETH', price: 2_000 })])).toEqual(['spot-funds']);
    // … unless a sale in the same account pays for it
    expect(rules(p, snap(), [act({ side: 'sell', amount: 0.2 }), act({ side: 'buy', amount: 20, symbol: 'ETH/USDT', class: 'ETH', price: 2_000 })])).toEqual([]);
  });

  it('direction: buying BTC while it is above its band is refused; selling ETH below its band too', () => {
    expect(rules(pf(), snap(), [act({ side: 'buy', amount: 0.1 })])).toEqual(['direction']);
    expect(rules(pf(), snap(), [act({ side: 'sell', amount: 1, symbol: 'ETH/USDT', class: 'ETH', price: 2_000 })])).toEqual(['direction']);
    // a short hedge moves BTC toward its target: fine
    expect(rules(pf(), snap(), [act({ type: 'futures', symbol: P, side: 'sell', amount: 0.1 })])).toEqual([]);
  });

  it('leverage: 2 BTC short (120,000) on 30,000 of equity is 4x, above a 3x cap', () => {
    const p = pf({ risk: { maxOrderShare: 5, maxCycleTurnover: 5, stressMove: 0.01 } });
    const v = checkPlan(p, snap(), planWith([act({ type: 'futures', symbol: P, side: 'sell', amount: 2 })]));
    expect(v.refusals.map((r) => r.rule)).toEqual(['leverage']);
    expect(v.refusals[0]!.numbers).toEqual({ leverage: 4, leverageBefore: 0, gross: 120_000, equity: 30_000, limit: 3 });
  });

  it('margin: 0.5 BTC short on 30,000 does not survive a 100 % move', () => {
    const p = pf({ risk: { maxOrderShare: 5, stressMove: 1 } });
    const v = checkPlan(p, snap(), planWith([act({ type: 'futures', symbol: P, side: 'sell', amount: 0.4 })]));
    // stressed mark 120,000: loss 0.4 × 60,000 = 24,000, equity 6,000; maintenance 0.4 × 120,000 × 0.005 = 240 → 4 %
    expect(v.refusals).toEqual([]);
    const w = checkPlan(p, snap(), planWith([act({ type: 'futures', symbol: P, side: 'sell', amount: 0.5 })]));
    expect(w.refusals.map((r) => r.rule)).toEqual(['margin']);
    expect(w.refusals[0]!.numbers.equity).toBeCloseTo(0, 6);
  });

  it('churn: exactly undoing the previous cycle\'s fill is refused unless a trigger was crossed', () => {
    // BTC at 48 % (inside 45–55 %, below target): buying back exactly what was sold is churn
    const inside = snap({ prices: { BTC: 48_000, ETH: 2_000 }, marks: { [P]: 48_000 }, accounts: [{ name: 'a', balances: { BTC: 1, ETH: 11, USDT: 30_000 }, positions: [] }] });
    const prev = { previousFills: [{ account: 'a', symbol: 'BTC/USDT', side: 'sell' as const, amount: 0.1 }] };
    const p = pf();
    const v = checkPlan(p, inside, planWith([act({ side: 'buy', amount: 0.1, price: 48_000 })]), prev);
    expect(v.refusals.map((r) => r.rule)).toEqual(['churn']);
    expect(v.refusals[0]!.numbers).toEqual({ amount: 0.1, previousAmount: 0.1, weight: 0.48, lower: 0.45, upper: 0.55 });
    // without a previous fill the same order passes
    expect(rules(p, inside, [act({ side: 'buy', amount: 0.1, price: 48_000 })])).toEqual([]);
    // BTC at 40 % of TPV (below its 45 % edge): the buy-back crossed a trigger and moves toward target
    const below = snap({ prices: { BTC: 40_000, ETH: 2_000 }, marks: { [P]: 40_000 }, accounts: [{ name: 'a', balances: { BTC: 1, ETH: 15, USDT: 30_000 }, positions: [] }] });
    expect(checkPlan(p, below, planWith([act({ side: 'buy', amount: 0.1, price: 40_000 })]), prev).refusals).toEqual([]);
    // a different amount is not an exact reversal
    expect(checkPlan(p, below, planWith([act({ side: 'buy', amount: 0.2, price: 40_000 })]), prev).refusals).toEqual([]);
  });

  it('churn: converting a hedge opened the previous cycle is not churn (its close comes with a spot sale of the class)', () => {
    // BTC 1.12 × 50,000 = 56,000 spot (56 %, above its band) with a 0.12 short (−6,000): net 50,000 of TPV
    // 100,000 — inside its band on a net basis, outside on a spot basis.
    const hedged = snap({ prices: { BTC: 50_000, ETH: 2_000 }, marks: { [P]: 50_000 }, accounts: [{ name: 'a', balances: { BTC: 1.12, ETH: 7, USDT: 30_000 }, positions: [{ symbol: P, contracts: -0.12, contractSize: 1, entryPrice: 50_000, leverage: 2, marginMode: 'cross' }] }] });
    const prev = { previousFills: [{ account: 'a', symbol: P, side: 'sell' as const, amount: 0.12 }] };
    const p = pf();
    const close = act({ type: 'futures', symbol: P, side: 'buy', amount: 0.12, price: 50_000, notional: 6_000, reduceOnly: true });
    // The close alone exactly undoes the previous cycle's open: churn.
    expect(checkPlan(p, hedged, planWith([close]), prev).refusals.map((r) => r.rule)).toEqual(['churn']);
    // With the spot sale that replaces it (a conversion) the class's exposure does not move back: allowed.
    const sale = act({ side: 'sell', amount: 0.12, price: 50_000, notional: 6_000 });
    expect(checkPlan(p, hedged, planWith([sale, close]), prev).refusals).toEqual([]);
  });

  it('a refused plan says so in its text, rule by rule', () => {
    const plan = makePlan(pf(), snap(), { now: T0, state: 'ACTIVE' });
    const bad = { ...plan, actions: plan.actions.map((a) => ({ ...a, price: a.price * 1.1 })) };
    const text = planToText({ ...bad, pretrade: checkPlan(pf(), snap(), bad) });
    expect(text).toContain('Pre-trade risk gate: REFUSED, nothing is sent (2 refusals):');
    expect(text).toContain('[price-collar] leg 0 (sell 0.166667 BTC/USDT on a): price $66,000.00 is 10.00% from the touch $60,000.00, outside the 2.00% collar');
  });
});

// ------------------------------------------------------------------------------------------ property

type Mutation = 'size x10' | 'side flipped' | 'wrong symbol' | 'price off the touch';
const MUTATIONS: Mutation[] = ['size x10', 'side flipped', 'wrong symbol', 'price off the touch'];

function mutate(a: Action, m: Mutation, off: number): Action {
  switch (m) {
    case 'size x10':
      return { ...a, amount: a.amount * 10, notional: a.notional * 10 };
    case 'side flipped':
      return { ...a, side: a.side === 'buy' ? 'sell' : 'buy' };
    case 'wrong symbol':
      return { ...a, symbol: a.type === 'futures' ? 'DOGE/USDT:USDT' : 'DOGE/USDT' };
    case 'price off the touch':
      return { ...a, price: a.price * off };
  }
}

describe('pre-trade gate: property', () => {
  it('planner plans pass; each mutated in one of four ways is refused', () => {
    // Generator: two single-asset classes (BTC 50 ± 10 with a hedge, ETH 10 ± 10 at target) and cash (≥ 20 %
    // of TPV, enough margin for any hedge); BTC outside its band by 1–20 points either way, so the planner
    // always trades BTC to target (≥ 11 % of TPV: ×10 is above the 40 % per-order limit used here).
    const arb = fc.record({
      btcWeight: fc.oneof(fc.double({ min: 0.21, max: 0.39, noNaN: true }), fc.double({ min: 0.61, max: 0.7, noNaN: true })),
      btcPrice: fc.double({ min: 1_000, max: 200_000, noNaN: true }),
      tpv: fc.double({ min: 10_000, max: 10_000_000, noNaN: true }),
      instrument: fc.constantFrom('spot' as const, 'futures' as const),
      mutation: fc.constantFrom(...MUTATIONS),
      off: fc.oneof(fc.double({ min: 1.021, max: 1.5, noNaN: true }), fc.double({ min: 0.5, max: 0.979, noNaN: true })),
    });
    let checked = 0;
    const seen = new Map<string, number>();
    fc.assert(
      fc.property(arb, ({ btcWeight, btcPrice, tpv, instrument, mutation, off }) => {
        const p = makePortfolio([cls('BTC', 0.5, 0.1, ['BTC'], { hedge: P }), cls('ETH', 0.1, 0.1, ['ETH']), cls('Stablecoins', 0.4, 0.1, ['USDT'], { cash: true })], {
          execution: { instrument },
          risk: { maxOrderShare: 0.4, maxLeverage: 10, stressMove: 0.3 },
        });
        const eth = 0.1 * tpv;
        const s = makeSnapshot({
          prices: { BTC: btcPrice, ETH: 2_000 },
          marks: { [P]: btcPrice },
          accounts: [{ name: 'a', balances: { BTC: (btcWeight * tpv) / btcPrice, ETH: eth / 2_000, USDT: (0.9 - btcWeight) * tpv }, positions: [] }],
        });
        const plan = makePlan(p, s, { now: T0, state: 'ACTIVE' });
        const orders = plan.actions.map((a, i) => ({ a, i })).filter(({ a }) => a.type !== 'wait');
        expect(plan.status).toBe('ok');
        expect(orders.length).toBeGreaterThan(0);
        expect(checkPlan(p, s, plan)).toMatchObject({ ok: true, refusals: [] });
        const { i } = orders[0]!;
        const bad = { ...plan, actions: plan.actions.map((a, j) => (j === i ? mutate(a, mutation, off) : a)) };
        const v = checkPlan(p, s, bad);
        expect(v.ok, `${mutation} of ${JSON.stringify(plan.actions[i])} passed`).toBe(false);
        const want: Record<Mutation, PretradeRule[]> = {
          'size x10': ['order-size', 'cycle-turnover', 'spot-funds', 'leverage', 'margin'],
          'side flipped': ['direction', 'spot-funds'],
          'wrong symbol': ['universe'],
          'price off the touch': ['price-collar'],
        };
        expect(v.refusals.some((r) => want[mutation].includes(r.rule))).toBe(true);
        checked++;
        seen.set(`${mutation} ${instrument}`, (seen.get(`${mutation} ${instrument}`) ?? 0) + 1);
      }),
      { seed: 20_260_312, numRuns: 300 },
    );
    expect(checked).toBe(300);
    // every mutation was tried on spot and on futures plans
    expect([...seen.keys()].sort()).toEqual(MUTATIONS.flatMap((m) => [`${m} futures`, `${m} spot`]).sort());
  });
});

// ------------------------------------------------------------------------------------------ service

describe('pre-trade gate in the service', () => {
  let w: World | null = null;
  afterEach(() => {
    w?.cleanup();
    w = null;
  });

  it('a planner that returns a bad plan sends nothing; three refusals in a row put trading in REDUCING', async () => {
    w = world();
    const sends = countSends(w.sim);
    // The real plan with every amount ten times too large (a planner bug).
    const faulty = (p: Portfolio, s: Snapshot, ctx: Parameters<typeof makePlan>[2]): Plan => {
      const good = makePlan(p, s, ctx);
      return { ...good, actions: good.actions.map((a) => ({ ...a, amount: a.amount * 10, notional: a.notional * 10 })) };
    };
    const s = w.service({ planner: faulty });
    await s.start({ loop: false });
    const statuses: string[] = [];
    for (let k = 0; k < 3; k++) {
      const c = await s.runOnce();
      statuses.push(`${c.status} ${c.state}`);
      expect(c.plan!.pretrade!.ok).toBe(false);
      w.clock.advance(MIN);
    }
    expect(statuses).toEqual(['refused ACTIVE', 'refused ACTIVE', 'refused REDUCING']);
    expect(sends.size).toBe(0);
    expect(s.journal.intents()).toEqual([]);
    expect(s.journal.rebalances()).toEqual([]);
    const alerts = s.journal.events({ type: 'alert' }).map((e) => e.payload as { pretradeRefused?: { rule: string; numbers: Record<string, number> }[]; inARow?: number });
    const refused = alerts.filter((a) => a.pretradeRefused);
    expect(refused.map((a) => a.inARow)).toEqual([1, 2, 3]);
    // seed world: TPV 100,000 (1 BTC at 58,000 + 42,000 USDT); the real plan shorts 0.137 BTC; ×10 = 1.37 BTC
    const size = refused[0]!.pretradeRefused!.find((r) => r.rule === 'order-size')!;
    expect(size.numbers.notional).toBeCloseTo(1.37 * 58_000, 6);
    expect(size.numbers.tpv).toBeCloseTo(100_000, 6);
    expect(s.state()).toMatchObject({ state: 'REDUCING', by: 'risk-gate' });
    expect(s.refusalsInARow).toBe(3);
    expect(s.pretradeRefusals.get('order-size')).toBe(3);
    const decision = s.journal.events({ type: 'decision', limit: 1 })[0]!.payload as { pretrade?: { ok: boolean } };
    expect(decision.pretrade?.ok).toBe(false);
    await s.stop();
  });

  it('the real planner\'s plan passes the gate and trades; the in-a-row count is reset', async () => {
    w = world();
    const s = w.service();
    await s.start({ loop: false });
    s.journal.setMeta('pretrade.refusalsInARow', '2');
    const c = await s.runOnce();
    expect(c.status).toBe('traded');
    expect(c.plan!.pretrade).toMatchObject({ ok: true, orders: 1 });
    expect(c.execution!.legs).toMatchObject([{ account: ACCOUNT, symbol: SPOT, side: 'sell', status: 'filled' }]);
    expect(s.refusalsInARow).toBe(0);
    await s.stop();
  });

  it('at the order: a limit price computed 3 % from the touch (offsetBps 300) is refused before its intent is written', async () => {
    w = world();
    const sends = countSends(w.sim);
    const s = w.service({ execution: { offsetBps: 300 } });
    await s.start({ loop: false });
    const c = await s.runOnce();
    expect(c.plan!.pretrade!.ok).toBe(true);
    expect(c.execution!.legs).toMatchObject([{ symbol: SPOT, side: 'sell', status: 'rejected', filled: 0, orders: [] }]);
    expect(c.execution!.legs[0]!.reasons[0]).toMatch(/^pre-trade gate \[price-collar\]: limit [\d.]+ is 3\.00% from the touch [\d.]+, outside the 2\.00% collar; no order$/);
    expect(sends.size).toBe(0);
    expect(s.journal.intents()).toEqual([]);
    await s.stop();
  });
});
