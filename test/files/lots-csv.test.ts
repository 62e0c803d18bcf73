import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mergeLots, parseLotsCsv } from '../../src/adapters/files/lots-csv.js';
import { parseSnapshot } from '../../src/adapters/files/snapshot.js';
import { errorsOf, expectError } from './helpers.js';

const SNAP = JSON.parse(readFileSync('examples/1-btc-band/snapshot.json', 'utf8')) as Record<string, unknown>;

describe('lots import (CSV)', () => {
  it('reads lots per account (dates as UTC midnight) and merges them into a snapshot that validates', () => {
    const lots = parseLotsCsv('asset,account,acquired,qty,unitCost\nBTC,binance,2023-06-01,0.75,25000\nBTC,binance,2024-11-01T00:00:00Z,0.25,70000\n', 'l.csv');
    expect(lots.get('binance')).toEqual([
      { asset: 'BTC', acquired: Date.UTC(2023, 5, 1), qty: 0.75, unitCost: 25000 },
      { asset: 'BTC', acquired: Date.UTC(2024, 10, 1), qty: 0.25, unitCost: 70000 },
    ]);
    const s = parseSnapshot(JSON.stringify(mergeLots(SNAP, lots, 'l.csv')), 'merged.json');
    expect(s.accounts[0]!.lots).toHaveLength(2);
  });
  it('bad cells name their line and column; a missing column, an unknown account and lots off the balance are errors', () => {
    const errs = errorsOf(() => parseLotsCsv('account,asset,acquired,qty,unitCost\nbinance,BTC,yesterday,-1,x\n', 'l.csv'));
    expectError(errs, { file: 'l.csv', line: 2, field: 'acquired', problem: 'got "yesterday"' });
    expectError(errs, { file: 'l.csv', line: 2, field: 'qty', problem: 'got "-1"' });
    expectError(errs, { file: 'l.csv', line: 2, field: 'unitCost', problem: 'got "x"' });
    expectError(errorsOf(() => parseLotsCsv('account,asset,qty,unitCost\n', 'l.csv')), { file: 'l.csv', line: 1, field: 'acquired', problem: 'missing column' });
    const other = parseLotsCsv('account,asset,acquired,qty,unitCost\nkraken,BTC,2023-06-01,1,25000\n', 'l.csv');
    expect(errorsOf(() => mergeLots(SNAP, other, 'l.csv'))[0]!.problem).toContain('account "kraken" is not in the snapshot');
    const half = parseLotsCsv('account,asset,acquired,qty,unitCost\nbinance,BTC,2023-06-01,0.5,25000\n', 'l.csv');
    const e = errorsOf(() => parseSnapshot(JSON.stringify(mergeLots(SNAP, half, 'l.csv')), 'merged.json'));
    expect(e[0]!.problem).toBe('BTC lots on binance add up to 0.5, but the balance is 1: the lots are 0.5 BTC short of the balance');
  });
});
