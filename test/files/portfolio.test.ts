import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPortfolio, parsePortfolio } from '../../src/adapters/files/portfolio.js';
import type { Portfolio } from '../../src/core/types.js';
import { errorsOf, expectError, lineOf } from './helpers.js';

const GOOD = 'test/fixtures/good/';
const BAD = 'test/fixtures/bad/';

const MINIMAL = `quote: USDT
classes:
  - name: BTC
    target: 50%
    band: 5%
    assets: [BTC]
  - name: Stablecoins
    target: 50%
    band: 5%
    assets: [USDT]
    cash: true
`;

const DEFAULTS: Omit<Portfolio, 'quote' | 'classes'> = {
  indexPerps: [],
  rebalance: { mode: 'threshold', schedule: 'weekly', to: 'target', scope: 'breached' },
  execution: {
    instrument: 'spot',
    hedgeRatio: 1,
    leverage: 2,
    fees: { spotTaker: 0.001, spotMaker: 0.001, futuresTaker: 0.0005, futuresMaker: 0.0005 },
    slippage: 0.0005,
    spotSalePenalty: 0,
    expectedHoldingHours: 168,
  },
  risk: { maxLeverage: 3, stressMove: 0.3, maxFundingApr: 0.25, maxDataAgeMs: 300_000 },
  hedges: { exit: { kind: 'convert-on-schedule' }, unwindInside: 0.5, maxGross: 0.5, onRefused: 'spot', direction: 'both', fundingWhenUnknown: { kind: 'refuse' } },
  strategy: { type: 'targets' },
};

describe('good portfolio files', () => {
  it('minimal file: percent strings read exactly, every default filled in', () => {
    expect(parsePortfolio(MINIMAL, 'p.yaml')).toEqual({
      quote: 'USDT',
      classes: [
        { name: 'BTC', target: 0.5, band: { kind: 'absolute', width: 0.05 }, assets: ['BTC'], cash: false },
        { name: 'Stablecoins', target: 0.5, band: { kind: 'absolute', width: 0.05 }, assets: ['USDT'], cash: true },
      ],
      ...DEFAULTS,
    });
    expect(loadPortfolio(GOOD + 'minimal.yaml')).toEqual(parsePortfolio(MINIMAL, 'p.yaml'));
  });

  it('full file: every section read', () => {
    const p = loadPortfolio(GOOD + 'portfolio.yaml');
    expect(p).toEqual({
      quote: 'USDT',
      classes: [
        {
          name: 'BTC',
          target: 0.4,
          band: { kind: 'absolute', width: 0.04 },
          assets: ['BTC'],
          weights: { BTC: 1 },
          hedge: 'BTC/USDT:USDT',
          instrument: 'futures',
          cash: false,
        },
        { name: 'ETH', target: 0.3, band: { kind: 'relative', fraction: 0.1 }, assets: ['ETH'], hedge: 'ETH/USDT:USDT', cash: false },
        {
          name: 'Altcoins',
          target: 0.15,
          band: { kind: 'absolute', width: 0.02 },
          assets: ['SOL', 'ADA', 'DOT'],
          weights: { SOL: 0.5, ADA: 0.25, DOT: 0.25 },
          cash: false,
        },
        { name: 'Stablecoins', target: 0.15, band: { kind: 'absolute', width: 0.03 }, assets: ['USDT', 'USDC'], cash: true },
      ],
      indexPerps: [{ symbol: 'CORE/USDT:USDT', classes: { BTC: 0.6, ETH: 0.4 } }],
      rebalance: { mode: 'hybrid', schedule: 'daily', to: 'halfway', scope: 'all' },
      execution: {
        instrument: 'auto',
        hedgeRatio: 0.8,
        leverage: 2,
        fees: { spotTaker: 0.001, spotMaker: 0.001, futuresTaker: 0.0005, futuresMaker: 0.0002 },
        slippage: 0.0005,
        spotSalePenalty: 0.01,
        expectedHoldingHours: 72,
      },
      risk: { maxLeverage: 3, stressMove: 0.3, maxFundingApr: 0.25, maxDataAgeMs: 120_000 },
      hedges: { exit: { kind: 'unwind-only' }, unwindInside: 0.4, maxGross: 0.3, onRefused: 'wait', direction: 'short-only', fundingWhenUnknown: { kind: 'proxy', symbol: 'BTC/USDT:USDT' } },
      strategy: { type: 'core-satellite', core: 'BTC' },
    });
  });

  it('JSON reads the same as YAML', () => {
    expect(loadPortfolio(GOOD + 'portfolio.json')).toEqual(loadPortfolio(GOOD + 'portfolio.yaml'));
  });

  it('percent strings give the same doubles as the decimals', () => {
    const p = parsePortfolio(MINIMAL.replace('target: 50%', 'target: 0.5').replace('target: 50%', 'target: "50 %"').replace('band: 5%', 'band: 0.05%'), 'p.yaml');
    expect(p.classes[1]!.target).toBe(0.5);
    expect(p.classes[0]!.band).toEqual({ kind: 'absolute', width: 0.0005 });
    const q = parsePortfolio(`${MINIMAL}execution:\n  slippage: 0.05%\n  fees: { spotTaker: 0.1%, futuresTaker: 2e-2% }\n`, 'p.yaml');
    expect(q.execution.slippage).toBe(0.0005);
    expect(q.execution.fees).toEqual({ spotTaker: 0.001, spotMaker: 0.001, futuresTaker: 0.0002, futuresMaker: 0.0002 });
  });

  it('targets summing to 100% within 1e-9 are accepted (floating point)', () => {
    const text = MINIMAL.replace('target: 50%', 'target: 0.1').replace('target: 50%', 'target: 0.9').replace(/band: 5%/g, 'band: 1%');
    expect(parsePortfolio(text, 'p.yaml').classes.map((c) => c.target)).toEqual([0.1, 0.9]);
    const t2 = `quote: USDT\nclasses:\n${[0.1, 0.2, 0.3, 0.4].map((t, i) => `  - { name: C${i}, target: ${t}, band: 1%, assets: [A${i}]${i === 0 ? ', cash: true' : ''} }\n`).join('')}`;
    expect(() => parsePortfolio(t2.replace('A0]', 'USDT]'), 'p.yaml')).not.toThrow();
  });

  it('band forms: bare number is absolute; { relative } and { absolute }', () => {
    const p = parsePortfolio(MINIMAL.replace('band: 5%', 'band: { relative: 20% }').replace('band: 5%', 'band: { absolute: 0.05 }'), 'p.yaml');
    expect(p.classes.map((c) => c.band)).toEqual([
      { kind: 'relative', fraction: 0.2 },
      { kind: 'absolute', width: 0.05 },
    ]);
  });

  it('core-satellite sets the core instrument to futures unless set; beta-neutral defaults tolerance to 10%', () => {
    const withHedge = MINIMAL.replace('assets: [BTC]', 'assets: [BTC]\n    hedge: BTC/USDT:USDT');
    expect(parsePortfolio(`${withHedge}strategy: { type: core-satellite, core: BTC }\n`, 'p.yaml').classes[0]!.instrument).toBe('futures');
    const own = withHedge.replace('hedge: BTC/USDT:USDT', 'hedge: BTC/USDT:USDT\n    instrument: auto');
    expect(parsePortfolio(`${own}strategy: { type: core-satellite, core: BTC }\n`, 'p.yaml').classes[0]!.instrument).toBe('auto');
    const three = withHedge.replace('  - name: Stablecoins\n    target: 50%', '  - name: Alts\n    target: 20%\n    band: 2%\n    assets: [SOL]\n  - name: Stablecoins\n    target: 30%');
    expect(parsePortfolio(`${three}strategy: { type: beta-neutral, long: Alts, short: BTC }\n`, 'p.yaml').strategy).toEqual({
      type: 'beta-neutral',
      long: 'Alts',
      short: 'BTC',
      tolerance: 0.1,
    });
    expect(parsePortfolio(`${three}strategy: { type: beta-neutral, long: Alts, short: BTC, beta: 1.2, tolerance: 5% }\n`, 'p.yaml').strategy).toEqual({
      type: 'beta-neutral',
      long: 'Alts',
      short: 'BTC',
      beta: 1.2,
      tolerance: 0.05,
    });
  });

  it('empty optional sections count as absent; makers default to their takers', () => {
    const p = parsePortfolio(`${MINIMAL}rebalance:\nexecution:\n  fees: { spotTaker: 0.2% }\nrisk:\n  maxDataAgeSeconds: 60\nstrategy:\n`, 'p.yaml');
    expect(p.rebalance).toEqual(DEFAULTS.rebalance);
    expect(p.execution.fees).toEqual({ spotTaker: 0.002, spotMaker: 0.002, futuresTaker: 0.0005, futuresMaker: 0.0005 });
    expect(p.risk.maxDataAgeMs).toBe(60_000);
    expect(p.strategy).toEqual({ type: 'targets' });
  });

  it('a class may hold several assets, each asset only once, and weights of its own assets', () => {
    const p = parsePortfolio(MINIMAL.replace('assets: [BTC]', 'assets: [BTC, WBTC]\n    weights: { BTC: 75%, WBTC: 25% }'), 'p.yaml');
    expect(p.classes[0]!.weights).toEqual({ BTC: 0.75, WBTC: 0.25 });
  });
});

/**
 * Each bad fixture marks the line the error must point at with `# <-`; the table says which
 * field it must name and what it must say.
 */
const FIXTURES: [file: string, field: string, problem: string | RegExp][] = [
  ['portfolio-malformed-yaml.yaml', '', /syntax error: .*Flow sequence/],
  ['portfolio-duplicate-key.yaml', '', /syntax error: .*unique.*appears twice/],
  ['portfolio-not-a-mapping.yaml', '', 'expected a mapping, got a list'],
  ['portfolio-missing-quote.yaml', 'quote', 'required field is missing'],
  ['portfolio-missing-target.yaml', 'classes[0].target', 'required field is missing'],
  ['portfolio-empty-target.yaml', 'classes[0].target', 'got null (empty)'],
  ['portfolio-assets-not-a-list.yaml', 'classes[0].assets', 'expected a list, got "BTC"'],
  ['portfolio-bad-percent.yaml', 'classes[0].target', 'cannot read "fifty%" as a percentage'],
  ['portfolio-percent-as-numeric-string.yaml', 'classes[0].target', '"0.5" is a string: write 0.5 (a number) or "0.5%"'],
  ['portfolio-targets-not-100.yaml', 'classes', 'targets must sum to 100%, got 90% (BTC 40% + Stablecoins 50%)'],
  ['portfolio-target-above-100.yaml', 'classes[0].target', 'must be >= 0% and <= 100%, got 150%'],
  ['portfolio-band-wider-than-target.yaml', 'classes[0].band', 'band ±4% is wider than the target 3%: the lower trigger would be -1%'],
  ['portfolio-band-above-100.yaml', 'classes[0].band', 'upper trigger at 107.8%, above 100%'],
  ['portfolio-band-zero.yaml', 'classes[0].band', 'must be > 0%, got 0%'],
  ['portfolio-band-both-kinds.yaml', 'classes[0].band', 'exactly one of { relative: 20% } or { absolute: 4% }'],
  ['portfolio-duplicate-class-name.yaml', 'classes[1].name', 'duplicate class name "BTC" (also classes[0])'],
  ['portfolio-asset-in-two-classes.yaml', 'classes[1].assets[1]', 'BTC is in two classes, "BTC" (classes[0]) and "Stablecoins" (classes[1])'],
  ['portfolio-empty-assets.yaml', 'classes[0].assets', 'must list at least one asset'],
  ['portfolio-quote-not-in-cash-class.yaml', 'classes[1].assets', "the quote currency USDC must be one of the cash class's assets"],
  ['portfolio-two-cash-classes.yaml', 'classes[1].cash', 'more than one cash class: "BTC" (classes[0]), "Stablecoins" (classes[1])'],
  ['portfolio-no-cash-class-futures.yaml', 'execution.instrument', /instrument futures is not possible without a cash class: futures need a cash class to hold their margin/],
  ['portfolio-no-cash-class-hedge.yaml', 'classes[0].hedge', /hedge is not possible without a cash class.*margin/],
  ['portfolio-no-cash-class-index-perp.yaml', 'indexPerps[0].symbol', /index perp is not possible without a cash class.*margin/],
  ['portfolio-hedge-not-linear.yaml', 'classes[0].hedge', '"BTC/USD:BTC" is not a linear perpetual settled in USDT; expected a linear perpetual of the quote currency, BASE/USDT:USDT'],
  ['portfolio-hedge-not-a-symbol.yaml', 'classes[0].hedge', '"BTCUSDT" is not a ccxt perpetual symbol'],
  ['portfolio-hedge-in-two-classes.yaml', 'classes[1].hedge', 'BTC/USDT:USDT is already the hedge of class "BTC" (classes[0])'],
  ['portfolio-index-unknown-class.yaml', 'indexPerps[0].classes.Doge', 'unknown class "Doge" (classes: BTC, ETH, Stablecoins)'],
  ['portfolio-index-weights-not-100.yaml', 'indexPerps[0].classes', 'class weights must sum to 100%, got 90%'],
  ['portfolio-index-not-linear.yaml', 'indexPerps[0].symbol', '"CORE/USDC:USDC" is not a linear perpetual settled in USDT'],
  ['portfolio-index-same-as-hedge.yaml', 'indexPerps[0].symbol', 'already the hedge of class "BTC"'],
  ['portfolio-hedge-ratio-above-1.yaml', 'execution.hedgeRatio', 'must be > 0% and <= 100%, got 150%'],
  ['portfolio-hedge-ratio-zero.yaml', 'execution.hedgeRatio', 'must be > 0% and <= 100%, got 0%'],
  ['portfolio-leverage-below-1.yaml', 'execution.leverage', 'must be >= 1, got 0.5'],
  ['portfolio-leverage-above-max.yaml', 'execution.leverage', 'leverage 5 is above risk.maxLeverage 3'],
  ['portfolio-fee-too-high.yaml', 'execution.fees.spotTaker', 'must be >= 0% and < 5%, got 5%'],
  ['portfolio-unknown-mode.yaml', 'rebalance.mode', 'must be one of threshold | calendar | hybrid, got "sometimes"'],
  ['portfolio-misspelt-key.yaml', 'classes[0].bnad', 'unknown key "bnad" (did you mean "band"?)'],
  ['portfolio-unknown-top-key.yaml', 'rebalence', 'unknown key "rebalence" (did you mean "rebalance"?)'],
  ['portfolio-weights-not-an-asset.yaml', 'classes[0].weights.ETH', 'ETH is not an asset of class "BTC"'],
  ['portfolio-weights-not-100.yaml', 'classes[0].weights', 'weights must sum to 100%, got 90%'],
  ['portfolio-strategy-unknown-class.yaml', 'strategy.core', 'unknown class "Core" (classes: BTC, ETH, Stablecoins)'],
  ['portfolio-strategy-unknown-type.yaml', 'strategy.type', 'must be one of targets | core-satellite | beta-neutral, got "momentum"'],
  ['portfolio-core-without-hedge.yaml', 'strategy.core', 'class "BTC" has no hedge perp'],
  ['portfolio-beta-short-without-hedge.yaml', 'strategy.short', 'class "BTC" has no hedge perp'],
];

describe('bad portfolio files: each error names the file, the line, the field and the problem', () => {
  it.each(FIXTURES)('%s', (name, field, problem) => {
    const file = BAD + name;
    const line = lineOf(readFileSync(file, 'utf8'), '# <-');
    expectError(
      errorsOf(() => loadPortfolio(file)),
      { file, line, field, problem },
    );
  });

  it('every portfolio fixture in test/fixtures/bad is in the table', async () => {
    const { readdirSync } = await import('node:fs');
    const names = readdirSync(BAD).filter((f) => f.startsWith('portfolio-') && f.endsWith('.yaml'));
    expect(names.sort()).toEqual(FIXTURES.map((f) => f[0]).sort());
  });

  it('malformed JSON: the JSON parser message at its line and column', () => {
    const file = BAD + 'portfolio-malformed-json.json';
    const e = expectError(
      errorsOf(() => loadPortfolio(file)),
      { file, line: 4, field: '', problem: "syntax error: Expected ',' or '}' after property value" },
    );
    expect(e.column).toBe(36);
  });

  it('a misspelt key is not also reported as a missing field', () => {
    const errors = errorsOf(() => loadPortfolio(BAD + 'portfolio-misspelt-key.yaml'));
    expect(errors.map((e) => e.field)).toEqual(['classes[0].bnad']);
  });

  it('points at the offending value: line and column', () => {
    const text = MINIMAL.replace('band: 5%', 'band: -5%');
    const [e] = errorsOf(() => parsePortfolio(text, 'p.yaml'));
    expect([e!.line, e!.column]).toEqual([5, 11]);
  });

  it('reports every problem, not only the first', () => {
    const text = `quote: USDT
classes:
  - name: BTC
    target: 45%
    band: 50%
    assets: [BTC, ETH]
    tagret: 3
  - name: ETH
    target: abc
    band: 3%
    assets: [ETH]
    hedge: ETH/USD:ETH
  - name: BTC
    target: 0.5
    band: 1%
    assets: []
execution:
  leverage: 5
  hedgeRatio: 0
strategy:
  type: beta-neutral
  long: Alts
  short: ETH
`;
    const errors = errorsOf(() => parsePortfolio(text, 'p.yaml'));
    const got = errors.map((e) => `${e.line} ${e.field}`);
    expect(got).toEqual([
      '5 classes[0].band', // ±50% around 45%: lower trigger below 0
      '7 classes[0].tagret', // unknown key
      '9 classes[1].target', // not a percentage
      '11 classes[1].assets[0]', // ETH also in classes[0]
      '12 classes[1].hedge', // not a linear perp of USDT
      '12 classes[1].hedge', // and no cash class to hold margin
      '13 classes[2].name', // duplicate name
      '16 classes[2].assets', // empty
      '18 execution.leverage', // above maxLeverage
      '19 execution.hedgeRatio', // not in (0, 1]
      '22 strategy.long', // unknown class
    ]);
  });

  it('a file that cannot be read is an InputErrors too', () => {
    const [e] = errorsOf(() => loadPortfolio(BAD + 'does-not-exist.yaml'));
    expect(e!.message).toBe(`${BAD}does-not-exist.yaml: cannot read the file: no such file`);
  });

  it('rejects NaN and Infinity in YAML numbers', () => {
    expectError(
      errorsOf(() => parsePortfolio(`${MINIMAL}execution:\n  leverage: .nan\n`, 'p.yaml')),
      { file: 'p.yaml', line: 13, field: 'execution.leverage', problem: 'expected a number, got NaN' },
    );
    expectError(
      errorsOf(() => parsePortfolio(MINIMAL.replace('target: 50%', 'target: .inf'), 'p.yaml')),
      { file: 'p.yaml', line: 4, field: 'classes[0].target', problem: 'got Infinity' },
    );
  });

  it('relative band wider than the target', () => {
    expectError(
      errorsOf(() => parsePortfolio(MINIMAL.replace('band: 5%', 'band: { relative: 150% }'), 'p.yaml')),
      { file: 'p.yaml', line: 5, field: 'classes[0].band', problem: 'band ±150% of the target (±75%) is wider than the target 50%' },
    );
  });

  it('default leverage above a lowered maxLeverage is reported at risk.maxLeverage', () => {
    expectError(
      errorsOf(() => parsePortfolio(`${MINIMAL}risk:\n  maxLeverage: 1.5\n`, 'p.yaml')),
      { file: 'p.yaml', line: 13, field: 'risk.maxLeverage', problem: 'risk.maxLeverage 1.5 is below execution.leverage 2 (the default)' },
    );
  });

  it('beta-neutral: long and short must differ; the cash class cannot be the core', () => {
    const withHedge = MINIMAL.replace('assets: [BTC]', 'assets: [BTC]\n    hedge: BTC/USDT:USDT');
    expectError(
      errorsOf(() => parsePortfolio(`${withHedge}strategy: { type: beta-neutral, long: BTC, short: BTC }\n`, 'p.yaml')),
      { file: 'p.yaml', line: 13, field: 'strategy.short', problem: 'long and short must be different classes' },
    );
    expectError(
      errorsOf(() => parsePortfolio(`${withHedge}strategy:\n  type: core-satellite\n  core: Stablecoins\n`, 'p.yaml')),
      { file: 'p.yaml', line: 15, field: 'strategy.core', problem: '"Stablecoins" is the cash class' },
    );
  });

  it('an asset listed twice in one class', () => {
    expectError(
      errorsOf(() => parsePortfolio(MINIMAL.replace('assets: [BTC]', 'assets: [BTC, BTC]'), 'p.yaml')),
      { file: 'p.yaml', line: 6, field: 'classes[0].assets[1]', problem: 'BTC is listed twice in this class' },
    );
  });

  it('per-class instrument futures without a cash class', () => {
    const text = MINIMAL.replace('    cash: true\n', '').replace('assets: [BTC]', 'assets: [BTC]\n    instrument: auto');
    expectError(
      errorsOf(() => parsePortfolio(text, 'p.yaml')),
      { file: 'p.yaml', line: 7, field: 'classes[0].instrument', problem: 'instrument auto is not possible without a cash class' },
    );
  });

  it('JSON portfolio errors are located too', () => {
    const json = JSON.stringify(
      {
        quote: 'USDT',
        classes: [
          { name: 'BTC', target: '50%', band: '5%', assets: ['BTC'] },
          { name: 'Stablecoins', target: 0.5, band: 0.05, assets: ['USDT'], cash: 'yes' },
        ],
      },
      null,
      2,
    );
    expectError(
      errorsOf(() => parsePortfolio(json, 'p.json')),
      { file: 'p.json', line: lineOf(json, '"yes"'), field: 'classes[1].cash', problem: 'expected true or false, got "yes"' },
    );
  });
});
