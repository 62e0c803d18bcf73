import { describe, expect, it } from 'vitest';
import { parsePortfolio } from '../../src/adapters/files/portfolio.js';
import { parseSnapshot } from '../../src/adapters/files/snapshot.js';
import { errorsOf, expectError, lineOf } from './helpers.js';

const SNAP = `time: 2025-03-01T00:00:00Z
prices: { BTC: 58000, USDT: 1 }
accounts:
  - name: main
    balances: { BTC: 1.5, USDT: 1000 }
    lots:
      - { asset: BTC, acquired: 2023-01-01T00:00:00Z, qty: 1, unitCost: 20000 }
      - { asset: BTC, acquired: 2024-06-01T00:00:00Z, qty: 0.5, unitCost: 65000 }
`;

describe('snapshot lots', () => {
  it('reads lots per account', () => {
    const s = parseSnapshot(SNAP, 's.yaml');
    expect(s.accounts[0]!.lots).toEqual([
      { asset: 'BTC', acquired: Date.UTC(2023, 0, 1), qty: 1, unitCost: 20000 },
      { asset: 'BTC', acquired: Date.UTC(2024, 5, 1), qty: 0.5, unitCost: 65000 },
    ]);
  });
  it('a malformed lot is named by its field', () => {
    const text = SNAP.replace('qty: 0.5', 'qty: -0.5');
    expectError(errorsOf(() => parseSnapshot(text, 's.yaml')), { file: 's.yaml', line: lineOf(text, 'qty: -0.5'), field: 'accounts[0].lots[1].qty', problem: '' });
    const t2 = SNAP.replace('unitCost: 20000', 'unitCost: "cheap"');
    expectError(errorsOf(() => parseSnapshot(t2, 's.yaml')), { file: 's.yaml', line: lineOf(t2, 'cheap'), field: 'accounts[0].lots[0].unitCost', problem: '' });
    const t3 = SNAP.replace('acquired: 2023-01-01T00:00:00Z, ', '');
    expectError(errorsOf(() => parseSnapshot(t3, 's.yaml')), { file: 's.yaml', line: lineOf(t3, 'qty: 1,'), field: 'accounts[0].lots[0].acquired', problem: '' });
  });
  it('lots that do not add up to the balance: which asset and by how much', () => {
    const text = SNAP.replace('BTC: 1.5,', 'BTC: 1.75,');
    expectError(errorsOf(() => parseSnapshot(text, 's.yaml')), {
      file: 's.yaml',
      line: lineOf(text, 'lots:'),
      field: 'accounts[0].lots',
      problem: 'BTC lots on main add up to 1.5, but the balance is 1.75: the lots are 0.25 BTC short of the balance',
    });
    const over = SNAP.replace('BTC: 1.5,', 'BTC: 1.2,');
    expect(errorsOf(() => parseSnapshot(over, 's.yaml'))[0]!.problem).toContain('0.3 BTC over the balance');
  });
  it('a lot acquired after the snapshot time is an error', () => {
    const text = SNAP.replace('2024-06-01T00:00:00Z', '2025-06-01T00:00:00Z');
    expectError(errorsOf(() => parseSnapshot(text, 's.yaml')), { file: 's.yaml', line: lineOf(text, '2025-06-01'), field: 'accounts[0].lots[1].acquired', problem: 'after the snapshot time' });
  });
});

const PF = `quote: USDT
classes:
  - { name: BTC, target: 60%, band: 5%, assets: [BTC], hedge: BTC/USDT:USDT }
  - { name: Cash, target: 40%, band: 5%, assets: [USDT], cash: true }
execution: { instrument: auto }
`;

describe('portfolio tax section', () => {
  it('absent: tax is not modelled', () => {
    expect(parsePortfolio(PF, 'p.yaml').tax).toBeUndefined();
  });
  it('reads rates as fractions or percents, with defaults', () => {
    const p = parsePortfolio(PF + 'tax: { method: fifo, shortTermRate: 37%, longTermRate: 20% }\nhedges: { exit: convert-when-long-term }\n', 'p.yaml');
    expect(p.tax).toEqual({ method: 'fifo', shortTermRate: 0.37, longTermRate: 0.2, longTermAfterDays: 365, futuresRate: 0.37 });
    expect(p.hedges.exit).toEqual({ kind: 'convert-when-long-term' });
    expect(parsePortfolio(PF + 'tax: {}\n', 'p.yaml').tax).toEqual({ method: 'hifo', shortTermRate: 0, longTermRate: 0, longTermAfterDays: 365, futuresRate: 0 });
  });
  it('convert-when-long-term without tax:, spotSalePenalty with tax:, and bad fields are errors', () => {
    const a = PF + 'hedges: { exit: convert-when-long-term }\n';
    expectError(errorsOf(() => parsePortfolio(a, 'p.yaml')), { file: 'p.yaml', line: lineOf(a, 'convert-when-long-term'), field: 'hedges.exit', problem: 'needs the tax: section' });
    const b = PF.replace('instrument: auto', 'instrument: auto, spotSalePenalty: 1%') + 'tax: { shortTermRate: 30% }\n';
    expectError(errorsOf(() => parsePortfolio(b, 'p.yaml')), { file: 'p.yaml', line: lineOf(b, 'spotSalePenalty'), field: 'execution.spotSalePenalty', problem: 'has no effect with tax:' });
    const c = PF + 'tax: { method: avg, shortTermRate: 137% }\n';
    const errs = errorsOf(() => parsePortfolio(c, 'p.yaml'));
    expectError(errs, { file: 'p.yaml', line: lineOf(c, 'tax:'), field: 'tax.method', problem: '' });
    expectError(errs, { file: 'p.yaml', line: lineOf(c, 'tax:'), field: 'tax.shortTermRate', problem: '' });
  });
});
