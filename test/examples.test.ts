/**
 * Golden tests: every seed example under examples/ produces exactly the plan its portfolio file
 * states in its header comment (the seed's worked examples, to the cent), through the same path as
 * `ballast plan --json` (file loaders → core planner → JSON view).
 */
import { describe, expect, it } from 'vitest';
import { exampleRuns, runPlan } from '../src/apps/cli/main.js';
import { parseSnapshot } from '../src/adapters/files/snapshot.js';
import { loadPortfolio } from '../src/adapters/files/portfolio.js';
import { plan } from '../src/core/planner.js';
import { readFileSync } from 'node:fs';

interface JsonPlan {
  tpv: number;
  classes: { name: string; target: number; lower: number; upper: number; spot: number; futures: number; net: number; weight: number; drift: number; breach: 'upper' | 'lower' | null }[];
  actions: { type: string; class: string; symbol: string; side: 'buy' | 'sell'; notional: number; amount: number; reduceOnly: boolean; reason: string; lots?: { acquired: string; qty: number; costBasis: number; proceeds: number; gain: number; term: string }[]; tax?: number }[];
  tax: { modelled: boolean; shortTermGain?: number; longTermGain?: number; tax?: number };
  risk: { marginRequired: number; marginAvailable: number; liquidationPrices: Record<string, number> };
}

const planOf = (config: string, snapshot = 'snapshot.json'): JsonPlan =>
  JSON.parse(runPlan({ config: `examples/${config}`, snapshot: `examples/${config.split('/')[0]}/${snapshot}`, json: true })) as JsonPlan;

const cents = (x: number): number => Math.round(x * 100) / 100;
const legs = (p: JsonPlan) => p.actions.filter((a) => a.type !== 'wait').map((a) => [a.type, a.symbol, a.side, a.amount, cents(a.notional)]);
const cls = (p: JsonPlan, name: string) => {
  const c = p.classes.find((x) => x.name === name);
  if (!c) throw new Error(`no class ${name}`);
  return c;
};

describe('seed examples (golden)', () => {
  it('every portfolio × snapshot pair under examples/ is covered below', () => {
    expect(exampleRuns().length).toBe(12);
  });

  it('1 — BTC 58% > 55%, spot: sell 0.137931 BTC = $8,000.00', () => {
    const p = planOf('1-btc-band/portfolio.yaml');
    expect(p.tpv).toBe(100_000);
    expect(cls(p, 'BTC')).toMatchObject({ target: 0.5, lower: 0.45, upper: 0.55, weight: 0.58, breach: 'upper' });
    expect(cls(p, 'Stablecoins')).toMatchObject({ weight: 0.42, breach: 'lower' });
    expect(legs(p)).toEqual([['spot', 'BTC/USDT', 'sell', 0.137931, 8000]]);
    expect(p.actions[0]!.reason).toContain('BTC is 58.00% of $100,000.00 > upper trigger 55.00%; to target 50.00% reduce $8,000.00: sell 0.137931 BTC spot');
  });

  it('1 — futures: short 0.137 BTC/USDT:USDT ($7,947.37 at mark $58,010), margin $2,649.12', () => {
    const p = planOf('1-btc-band/portfolio-futures.yaml');
    expect(legs(p)).toEqual([['futures', 'BTC/USDT:USDT', 'sell', 0.137, 7947.37]]);
    expect(cents(p.risk.marginRequired)).toBe(2649.12);
    expect(p.risk.marginAvailable).toBe(42_000);
  });

  it('2 — four classes, TPV $500,000; Altcoins 20% > 17%; futures: short $25,000 of the altcoin index perp', () => {
    const p = planOf('2-four-classes/portfolio-futures.yaml');
    expect(p.tpv).toBe(500_000);
    expect(p.classes.map((c) => [c.name, c.weight, c.breach])).toEqual([
      ['BTC', 0.385, null],
      ['ETH', 0.29, null],
      ['Altcoins', 0.2, 'upper'],
      ['Stablecoins', 0.125, null],
    ]);
    expect(legs(p)).toEqual([['futures', 'ALT/USDT:USDT', 'sell', 250, 25_000]]);
  });

  it('2 — spot: sell $25,000 of altcoins pro rata (62.5 SOL, 9,375 ADA, 1,000 DOT)', () => {
    const p = planOf('2-four-classes/portfolio-spot.yaml');
    expect(legs(p)).toEqual([
      ['spot', 'SOL/USDT', 'sell', 62.5, 12_500],
      ['spot', 'ADA/USDT', 'sell', 9375, 7_500],
      ['spot', 'DOT/USDT', 'sell', 1000, 5_000],
    ]);
  });

  it('3 — core-satellite: Core 75% > 73%; short 0.1 BTC perp = $10,000, spot untouched', () => {
    const p = planOf('3-core-satellite/portfolio.yaml');
    expect(p.tpv).toBe(200_000);
    expect(cls(p, 'Core')).toMatchObject({ weight: 0.75, breach: 'upper' });
    expect(legs(p)).toEqual([['futures', 'BTC/USDT:USDT', 'sell', 0.1, 10_000]]);
  });

  it('4 — beta-neutral: exposure $7,200 > tolerance $3,600; enlarge the BTC short by 0.12 ($7,200)', () => {
    const p = planOf('4-beta-neutral/portfolio.yaml');
    expect(cls(p, 'BTC')).toMatchObject({ spot: 30_000, futures: -66_000, net: -36_000 });
    expect(cls(p, 'Altcoins').net).toBe(36_000);
    expect(legs(p)).toEqual([['futures', 'BTC/USDT:USDT', 'sell', 0.12, 7_200]]);
  });

  it('5 — drift: 60/40 inside bands does nothing; after the BTC rally 75/25: sell 0.2 BTC, buy 11.958 ETH', () => {
    const before = planOf('5-drift/portfolio.yaml', 'snapshot-before.json');
    expect(before.classes.map((c) => c.weight)).toEqual([0.6, 0.4]);
    expect(legs(before)).toEqual([]);
    const p = planOf('5-drift/portfolio.yaml');
    expect(p.tpv).toBe(160_000);
    expect(cls(p, 'BTC')).toMatchObject({ weight: 0.75, breach: 'upper' });
    expect(legs(p)).toEqual([
      ['spot', 'BTC/USDT', 'sell', 0.2, 24_000],
      ['spot', 'ETH/USDT', 'buy', 11.958, 23_916],
    ]);
  });

  it('1 — without tax: the plan says tax is not modelled and spot sells carry no lots', () => {
    const p = planOf('1-btc-band/portfolio.yaml');
    expect(p.tax.modelled).toBe(false);
    expect(p.actions[0]!.lots).toBeUndefined();
  });

  it('6 — US-like, HIFO: sells the $70,000 lot first, a short-term loss of $1,663.17 harvested, tax $0; spot beats the hedge', () => {
    const p = planOf('6-tax-us/portfolio.yaml');
    expect(legs(p)).toEqual([['spot', 'BTC/USDT', 'sell', 0.137931, 8000]]);
    const a = p.actions[0]!;
    expect(a.lots!.map((l) => [l.acquired, l.qty, cents(l.costBasis), cents(l.proceeds), cents(l.gain), l.term])).toEqual([
      ['2024-11-01T00:00:00.000Z', 0.137931, 9655.17, 7992, -1663.17, 'short'],
    ]);
    expect(a.tax).toBe(0);
    expect(p.tax).toMatchObject({ modelled: true, longTermGain: 0, tax: 0 });
    expect(cents(p.tax.shortTermGain!)).toBe(-1663.17);
    expect(a.reason).toContain('spot now $12.00 (fees $8.00 + slippage $4.00 + tax of the lots sold now $0.00)');
  });

  it('6 — US-like, FIFO: sells the 2023 lot, a long-term gain of $4,543.72 taxed 20 % = $908.74', () => {
    const p = planOf('6-tax-us/portfolio-fifo.yaml');
    expect(legs(p)).toEqual([['spot', 'BTC/USDT', 'sell', 0.137931, 8000]]);
    const a = p.actions[0]!;
    expect(a.lots!.map((l) => [l.acquired, cents(l.gain), l.term])).toEqual([['2023-06-01T00:00:00.000Z', 4543.72, 'long']]);
    expect(cents(a.tax!)).toBe(908.74);
    expect(cents(p.tax.tax!)).toBe(908.74);
  });

  it('7 — Germany-like: spot would cost $1,051.40 with $1,039.40 tax; the hedge until the lot turns long-term costs $3.97: short the perp', () => {
    const p = planOf('7-tax-de/portfolio.yaml');
    expect(legs(p)).toEqual([['futures', 'BTC/USDT:USDT', 'sell', 0.137, 7947.37]]);
    expect(p.actions[0]!.reason).toContain('spot now $1,051.40 (fees $8.00 + slippage $4.00 + tax of the lots sold now $1,039.40)');
    expect(p.actions[0]!.reason).toContain('hedge $3.97 (perp fees $7.95 + slippage $7.95 open and close + expected funding -$23.84 over 240 h, converted when the lots it protects turn long-term, 2025-03-11');
    expect(p.tax).toMatchObject({ modelled: true, shortTermGain: 0, longTermGain: 0, tax: 0 });
  });

  it('7 — on 2025-03-11, the lot\'s 366th day, the hedge converts tax-free; on 2025-03-10 it waits', () => {
    const p = planOf('7-tax-de/portfolio.yaml', 'snapshot-later.json');
    expect(legs(p)).toEqual([
      ['spot', 'BTC/USDT', 'sell', 0.137023, 7947.33],
      ['futures', 'BTC/USDT:USDT', 'buy', 0.137, 7947.37],
    ]);
    expect(p.actions[0]!.lots!.map((l) => [l.acquired, l.term])).toEqual([['2024-03-10T00:00:00.000Z', 'long']]);
    expect(p.actions[0]!.tax).toBe(0);
    const portfolio = loadPortfolio('examples/7-tax-de/portfolio.yaml');
    const snap = parseSnapshot(readFileSync('examples/7-tax-de/snapshot-later.json', 'utf8').replace('2025-03-11T00:00:00Z', '2025-03-10T23:59:00Z'), 's.json');
    const before = plan(portfolio, snap, { now: snap.time, state: 'ACTIVE' });
    expect(before.actions).toEqual([]);
  });
});
