/** Grid specs: what a cell changes in the portfolio, the default grid, and bad specs named precisely. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPortfolio } from '../../src/adapters/files/portfolio.js';
import { applyCell, cellLabel, cells, defaultGrid, parseGrid, TuneSpecError } from '../../src/tune/grid.js';
import { parseWalkForward } from '../../src/tune/tune.js';

const SEED = loadPortfolio(join(import.meta.dirname, '..', '..', 'examples', 'backtest', 'portfolio.yaml'));

describe('grid', () => {
  it('is the product of its dimensions, first dimension slowest', () => {
    const g = parseGrid('to=target,halfway; scale=0.5,2; mode=threshold,hybrid:weekly', SEED);
    expect(g.size).toBe(8);
    const cs = cells(g);
    expect(cs).toHaveLength(8);
    // The band dimension goes first whatever the order written.
    expect(cellLabel(cs[0]!)).toBe('bands ×0.5 · to target · threshold');
    expect(cellLabel(cs[7]!)).toBe('bands ×2 · to halfway · hybrid weekly');
  });

  it('applies bands (scaled, absolute, relative, per class), rebalance and execution settings; the rest as configured', () => {
    const [c] = cells(parseGrid('scale=1.25; scale.BTC=2; to=band-edge; mode=calendar:monthly; instrument=auto; hedge-ratio=0.5; max-funding-apr=10%', SEED));
    const p = applyCell(SEED, c!);
    expect(p.classes.map((x) => x.band)).toEqual([
      { kind: 'absolute', width: 0.1 },
      { kind: 'absolute', width: 0.0375 },
      { kind: 'absolute', width: 0.025 },
      { kind: 'absolute', width: 0.0375 },
    ]);
    expect(p.rebalance).toEqual({ ...SEED.rebalance, mode: 'calendar', schedule: 'monthly', to: 'band-edge' });
    expect(p.execution).toEqual({ ...SEED.execution, instrument: 'auto', hedgeRatio: 0.5 });
    expect(p.risk).toEqual({ ...SEED.risk, maxFundingApr: 0.1 });
    expect(p.classes.map((x) => x.assets)).toEqual(SEED.classes.map((x) => x.assets));
    const rel = applyCell(SEED, cells(parseGrid('relative=20%', SEED))[0]!);
    expect(rel.classes.map((x) => x.band)).toEqual(SEED.classes.map(() => ({ kind: 'relative', fraction: 0.2 })));
    expect(applyCell(SEED, {})).toEqual(SEED);
  });

  it('default grid: band scale × destination × mode × instrument, 216 cells for the seed portfolio', () => {
    const g = defaultGrid(SEED);
    expect(g.dimensions.map((d) => [d.key, d.labels.length])).toEqual([
      ['band', 8],
      ['to', 3],
      ['mode', 3],
      ['instrument', 3],
    ]);
    expect(g.size).toBe(216);
  });

  it.each([
    ['', /empty spec/],
    ['scale', /is not key=value/],
    ['bands=1,2', /unknown dimension "bands"/],
    ['scale=0.5,abc', /--grid scale: "abc" must be a number above 0/],
    ['scale=0', /must be a number above 0/],
    ['scale=1,1', /repeated/],
    ['to=target; to=halfway', /given twice/],
    ['to=middle', /"middle" is not one of target, band-edge, halfway/],
    ['mode=hybrid', /hybrid needs a schedule/],
    ['mode=threshold:weekly', /threshold mode has no schedule/],
    ['mode=calendar:yearly', /calendar needs a schedule/],
    ['instrument=options', /"options" is not one of spot, futures, auto/],
    ['scale.SOL=2', /no class named "SOL" \(classes: BTC, ETH, Altcoins, Stablecoins\)/],
    ['scale=10', /gives BTC a band of ±40%, not narrower than its target 40%/],
    ['absolute=50%', /not narrower than its target/],
    ['hedge-ratio=1.5', /above 1/],
  ])('rejects %j naming the problem', (spec, msg) => {
    expect(() => parseGrid(spec, SEED)).toThrow(TuneSpecError);
    expect(() => parseGrid(spec, SEED)).toThrow(msg);
  });

  it('walk-forward spec', () => {
    expect(parseWalkForward('2y/6m')).toMatchObject({ train: { n: 2, unit: 'y' }, test: { n: 6, unit: 'm' } });
    expect(() => parseWalkForward('2y')).toThrow(/not TRAIN\/TEST/);
    expect(() => parseWalkForward('2x/6m')).toThrow(/training length "2x"/);
    expect(() => parseWalkForward('2y/0m')).toThrow(/test length "0m"/);
  });
});
