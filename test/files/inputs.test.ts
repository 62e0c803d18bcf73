import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assertInputs, checkSnapshotAgainstPortfolio, loadPlanInputs } from '../../src/adapters/files/inputs.js';
import { loadPortfolio, parsePortfolio } from '../../src/adapters/files/portfolio.js';
import { loadSnapshot, parseSnapshot } from '../../src/adapters/files/snapshot.js';
import { checkInputs, perpClasses, withQuotePrice } from '../../src/core/inputs.js';
import type { Portfolio, Snapshot } from '../../src/core/types.js';
import { errorsOf, expectError } from './helpers.js';

const GOOD = 'test/fixtures/good/';
const BAD = 'test/fixtures/bad/';

const PORTFOLIO = `quote: USDT
classes:
  - name: BTC
    target: 40%
    band: 4%
    assets: [BTC]
    hedge: BTC/USDT:USDT
  - name: ETH
    target: 30%
    band: 3%
    assets: [ETH]
  - name: Alts
    target: 15%
    band: 2%
    assets: [SOL, ADA]
  - name: Stablecoins
    target: 15%
    band: 3%
    assets: [USDT, USDC]
    cash: true
indexPerps:
  - symbol: ALT/USDT:USDT
    classes: { Alts: 100% }
`;
const portfolio: Portfolio = parsePortfolio(PORTFOLIO, 'p.yaml');

function snap(over: Partial<Snapshot> = {}): Snapshot {
  return {
    time: 0,
    prices: { BTC: 58000, ETH: 3000, SOL: 150, USDT: 1 },
    marks: { 'BTC/USDT:USDT': 58000, 'ALT/USDT:USDT': 10 },
    funding: {},
    accounts: [{ name: 'a', balances: { BTC: 1, USDT: 1000 }, positions: [] }],
    markets: {},
    ...over,
  };
}

describe('checkInputs (pure)', () => {
  it('a consistent pair has no problems', () => {
    expect(checkInputs(portfolio, snap())).toEqual([]);
  });

  it('a held asset without a price; the quote currency needs none', () => {
    const s = snap({ prices: { BTC: 58000 }, accounts: [{ name: 'a', balances: { BTC: 1, USDT: 5, ETH: 2, ADA: 0 }, positions: [] }] });
    expect(checkInputs(portfolio, s)).toEqual([
      { path: ['accounts', 0, 'balances', 'ETH'], problem: 'ETH is held (2) but has no price; add "ETH" to prices (in USDT)' },
    ]);
  });

  it('withQuotePrice prices the quote currency at 1 only when it is absent', () => {
    expect(withQuotePrice(portfolio, snap({ prices: { BTC: 1 } })).prices).toEqual({ BTC: 1, USDT: 1 });
    expect(withQuotePrice(portfolio, snap({ prices: { USDT: 0.999 } })).prices).toEqual({ USDT: 0.999 });
  });

  it('a held asset that belongs to no class', () => {
    const s = snap({ prices: { BTC: 1, DOGE: 0.1 }, accounts: [{ name: 'a', balances: { DOGE: 10 }, positions: [] }] });
    expect(checkInputs(portfolio, s)).toEqual([
      { path: ['accounts', 0, 'balances', 'DOGE'], problem: "DOGE is held (10) but belongs to no class of the portfolio; add it to a class's assets" },
    ]);
  });

  it('a position without a mark, in a perp of no class, or settled in another currency', () => {
    const pos = (symbol: string) => ({ symbol, contracts: 1, contractSize: 1, entryPrice: 1, leverage: 1, marginMode: 'cross' as const });
    const s = snap({
      marks: { 'BTC/USDT:USDT': 1, 'ALT/USDT:USDT': 1, 'DOGE/USDT:USDT': 1 },
      accounts: [{ name: 'a', balances: {}, positions: [pos('ETH/USDT:USDT'), pos('DOGE/USDT:USDT'), pos('BTC/USD:BTC')] }],
    });
    expect(checkInputs(portfolio, s)).toEqual([
      { path: ['accounts', 0, 'positions', 0, 'symbol'], problem: 'position in ETH/USDT:USDT has no mark price; add "ETH/USDT:USDT" to marks' },
      {
        path: ['accounts', 0, 'positions', 1, 'symbol'],
        problem: 'position in DOGE/USDT:USDT maps to no class: no class has it as hedge, no index perp lists it, and DOGE is in no class',
      },
      {
        path: ['accounts', 0, 'positions', 2, 'symbol'],
        problem: 'BTC/USD:BTC settles in BTC, not in the quote currency USDT; only linear perps settled in USDT are supported',
      },
    ]);
  });

  it('a class hedge or index perp without a mark is an unknown symbol', () => {
    expect(checkInputs(portfolio, snap({ marks: {} }))).toEqual([
      { path: ['marks'], problem: 'no mark price for BTC/USDT:USDT, the hedge of class "BTC" (unknown hedge symbol?); add it to marks' },
      { path: ['marks'], problem: 'no mark price for the index perp ALT/USDT:USDT (unknown symbol?); add it to marks' },
    ]);
  });

  it('perp → classes: hedge first, then index perp, then the class of the base asset', () => {
    expect(perpClasses(portfolio, 'BTC/USDT:USDT')).toEqual({ BTC: 1 });
    expect(perpClasses(portfolio, 'ALT/USDT:USDT')).toEqual({ Alts: 1 });
    expect(perpClasses(portfolio, 'SOL/USDT:USDT')).toEqual({ Alts: 1 });
    expect(perpClasses(portfolio, 'DOGE/USDT:USDT')).toBeNull();
  });
});

describe('assertInputs / loadPlanInputs (located in the snapshot file)', () => {
  it('loads a consistent pair and fills the quote price', () => {
    const { portfolio: p, snapshot: s } = loadPlanInputs(GOOD + 'portfolio.yaml', GOOD + 'snapshot.json');
    expect(p).toEqual(loadPortfolio(GOOD + 'portfolio.yaml'));
    expect(s).toEqual(loadSnapshot(GOOD + 'snapshot.json'));
    const noQuote = parseSnapshot('{"time": 0, "prices": {"BTC": 5}, "marks": {"BTC/USDT:USDT": 5, "ALT/USDT:USDT": 1}, "accounts": [{"name": "a", "balances": {"BTC": 1, "USDT": 5}}]}', 's.json');
    expect(assertInputs(portfolio, noQuote, 's.json', '').prices).toEqual({ BTC: 5, USDT: 1 });
    expect(checkSnapshotAgainstPortfolio).toBe(assertInputs);
  });

  it('held assets without a price, and not in a class: lines of the snapshot file', () => {
    const file = BAD + 'snapshot-held-asset-without-price.json';
    const errors = errorsOf(() => loadPlanInputs(GOOD + 'minimal.yaml', file));
    expect(errors).toHaveLength(2);
    expectError(errors, { file, line: 11, field: 'accounts[0].balances.ETH', problem: 'ETH is held (2) but has no price' });
    expectError(errors, { file, line: 11, field: 'accounts[0].balances.ETH', problem: 'ETH is held (2) but belongs to no class' });
  });

  it('positions without a mark, or in no class', () => {
    const file = BAD + 'snapshot-position-without-mark.json';
    const errors = errorsOf(() => loadPlanInputs(GOOD + 'minimal.yaml', file));
    expectError(errors, { file, line: 10, field: 'accounts[0].positions[0].symbol', problem: 'position in BTC/USDT:USDT has no mark price' });
    expectError(errors, { file, line: 11, field: 'accounts[0].positions[1].symbol', problem: 'position in DOGE/USDT:USDT has no mark price' });
    expectError(errors, { file, line: 11, field: 'accounts[0].positions[1].symbol', problem: 'DOGE/USDT:USDT maps to no class' });
  });

  it('an unknown hedge symbol points at marks', () => {
    const file = BAD + 'snapshot-position-without-mark.json';
    const text = readFileSync(file, 'utf8');
    const s = parseSnapshot(text, file);
    const p = parsePortfolio(PORTFOLIO, 'p.yaml');
    const errors = errorsOf(() => assertInputs(p, s, file, text));
    expectError(errors, { file, line: 4, field: 'marks', problem: 'no mark price for BTC/USDT:USDT, the hedge of class "BTC"' });
  });

  it('reads the snapshot file for line numbers when no text is given; no lines if it cannot', () => {
    const file = BAD + 'snapshot-held-asset-without-price.json';
    const s = loadSnapshot(file);
    const p = loadPortfolio(GOOD + 'minimal.yaml');
    expect(errorsOf(() => assertInputs(p, s, file))[0]!.line).toBe(11);
    const e = errorsOf(() => assertInputs(p, s, 'gone.json'))[0]!;
    expect(e.line).toBeNull();
    expect(e.message).toMatch(/^gone\.json: accounts\[0\]\.balances\.ETH: ETH is held/);
  });

  it('problems in both files are reported together', () => {
    const errors = errorsOf(() => loadPlanInputs(BAD + 'portfolio-band-zero.yaml', BAD + 'snapshot-negative-balance.json'));
    expect(errors.map((e) => e.file)).toEqual([BAD + 'portfolio-band-zero.yaml', BAD + 'snapshot-negative-balance.json']);
  });

  it('every example under examples/ loads (if present)', async () => {
    const { existsSync, readdirSync } = await import('node:fs');
    if (!existsSync('examples')) return;
    for (const ex of readdirSync('examples')) {
      const dir = `examples/${ex}`;
      let files: string[];
      try {
        files = readdirSync(dir);
      } catch {
        continue;
      }
      for (const c of files.filter((f) => /^portfolio.*\.ya?ml$/.test(f))) {
        for (const sn of files.filter((f) => /^snapshot.*\.json$/.test(f))) {
          expect(() => loadPlanInputs(`${dir}/${c}`, `${dir}/${sn}`), `${dir}/${c} + ${sn}`).not.toThrow();
        }
      }
    }
  });
});
