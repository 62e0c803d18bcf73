import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadSnapshot, parseSnapshot } from '../../src/adapters/files/snapshot.js';
import { errorsOf, expectError, lineOf } from './helpers.js';

const GOOD = 'test/fixtures/good/';
const BAD = 'test/fixtures/bad/';
const BASE = readFileSync(GOOD + 'snapshot.json', 'utf8');

describe('good snapshot files', () => {
  it('reads every field; ISO times become epoch ms; defaults filled in', () => {
    expect(loadSnapshot(GOOD + 'snapshot.json')).toEqual({
      time: Date.UTC(2025, 2, 1),
      prices: { BTC: 58000, ETH: 3000, SOL: 150, ADA: 0.7, DOT: 6, USDT: 1, USDC: 1 },
      marks: { 'BTC/USDT:USDT': 58010, 'ETH/USDT:USDT': 3001, 'CORE/USDT:USDT': 100 },
      funding: { 'BTC/USDT:USDT': { rate: 0.0001, intervalHours: 8 } },
      accounts: [
        {
          name: 'binance',
          balances: { BTC: 1, USDT: 42000, SOL: 0 },
          positions: [{ symbol: 'BTC/USDT:USDT', contracts: -0.1, contractSize: 1, entryPrice: 60000, leverage: 3, marginMode: 'cross' }],
        },
        { name: 'bybit', balances: { ETH: 10, SOL: 100, ADA: 1000, USDC: 5000 }, positions: [] },
      ],
      markets: {
        'BTC/USDT:USDT': { amountStep: 0.001, minNotional: 5, maintenanceMarginRate: 0.004 },
        'BTC/USDT': { amountStep: 0.00001 },
      },
      timestamps: { BTC: 1740787200000, ETH: 1740787200000 },
      history: { BTC: [1, 2, 3] },
      lastRebalance: Date.UTC(2025, 1, 20),
    });
  });

  it('YAML snapshots are accepted; marks, funding, markets default to {}', () => {
    const s = loadSnapshot(GOOD + 'snapshot.yaml');
    expect(s).toEqual({
      time: 1740787200000,
      prices: { BTC: 58000, USDT: 1 },
      marks: {},
      funding: {},
      accounts: [{ name: 'main', balances: { BTC: 0.5, USDT: 21000 }, positions: [] }],
      markets: {},
    });
    expect('timestamps' in s || 'history' in s || 'lastRebalance' in s).toBe(false);
  });

  it('position defaults: contractSize 1, leverage 1, marginMode cross; isolatedMargin kept', () => {
    const text = BASE.replace(
      '{ "symbol": "BTC/USDT:USDT", "contracts": -0.1, "contractSize": 1, "entryPrice": 60000, "leverage": 3, "marginMode": "cross" }',
      '{ "symbol": "BTC/USDT:USDT", "contracts": 2, "entryPrice": 60000 }, { "symbol": "ETH/USDT:USDT", "contracts": -1, "entryPrice": 3000, "marginMode": "isolated", "isolatedMargin": 300, "leverage": 10 }',
    );
    expect(parseSnapshot(text, 's.json').accounts[0]!.positions).toEqual([
      { symbol: 'BTC/USDT:USDT', contracts: 2, contractSize: 1, entryPrice: 60000, leverage: 1, marginMode: 'cross' },
      { symbol: 'ETH/USDT:USDT', contracts: -1, contractSize: 1, entryPrice: 3000, leverage: 10, marginMode: 'isolated', isolatedMargin: 300 },
    ]);
  });

  it('accepts ISO times with offsets and date-only (UTC)', () => {
    expect(parseSnapshot(BASE.replace('"time": "2025-03-01T00:00:00Z"', '"time": "2025-03-01T02:00:00+02:00"'), 's.json').time).toBe(Date.UTC(2025, 2, 1));
    expect(parseSnapshot(BASE.replace('"time": "2025-03-01T00:00:00Z"', '"time": "2025-03-01"'), 's.json').time).toBe(Date.UTC(2025, 2, 1));
  });
});

/** [case, text to replace in the good snapshot, replacement, field, problem]; the error must be on the replacement's line. */
const MUTATIONS: [string, string, string, string, string | RegExp][] = [
  ['Infinity price (1e999)', '"BTC": 58000', '"BTC": 1e999', 'prices.BTC', 'got Infinity (not a finite number)'],
  ['"NaN" string price', '"BTC": 58000', '"BTC": "NaN"', 'prices.BTC', 'expected a price (a finite number), got "NaN"'],
  ['null price', '"BTC": 58000', '"BTC": null', 'prices.BTC', 'got null'],
  ['numeric string price', '"BTC": 58000', '"BTC": "58000"', 'prices.BTC', 'got "58000"'],
  ['zero price', '"BTC": 58000', '"BTC": 0', 'prices.BTC', 'must be > 0, got 0'],
  ['negative price', '"BTC": 58000', '"BTC": -5', 'prices.BTC', 'must be > 0, got -5'],
  ['negative mark', '"BTC/USDT:USDT": 58010', '"BTC/USDT:USDT": -58010', 'marks["BTC/USDT:USDT"]', 'must be > 0, got -58010'],
  ['mark as string', '"BTC/USDT:USDT": 58010', '"BTC/USDT:USDT": "58010"', 'marks["BTC/USDT:USDT"]', 'got "58010"'],
  ['mark key not a perp', '"BTC/USDT:USDT": 58010', '"BTCUSDT": 58010', 'marks.BTCUSDT', 'expected a ccxt unified perpetual symbol'],
  ['negative balance', '"USDT": 42000', '"USDT": -1', 'accounts[0].balances.USDT', 'must be >= 0, got -1'],
  ['infinite contracts', '"contracts": -0.1', '"contracts": -1e999', 'accounts[0].positions[0].contracts', 'got -Infinity (not a finite number)'],
  ['zero entry price', '"entryPrice": 60000', '"entryPrice": 0', 'accounts[0].positions[0].entryPrice', 'must be > 0, got 0'],
  ['leverage below 1', '"leverage": 3', '"leverage": 0.5', 'accounts[0].positions[0].leverage', 'must be >= 1'],
  ['bad margin mode', '"marginMode": "cross"', '"marginMode": "portfolio"', 'accounts[0].positions[0].marginMode', 'must be one of cross | isolated, got "portfolio"'],
  ['zero contract size', '"contractSize": 1', '"contractSize": 0', 'accounts[0].positions[0].contractSize', 'must be > 0, got 0'],
  ['position symbol not a perp', '"symbol": "BTC/USDT:USDT"', '"symbol": "BTC/USDT"', 'accounts[0].positions[0].symbol', 'expected a ccxt unified perpetual symbol'],
  ['bad time', '"time": "2025-03-01T00:00:00Z"', '"time": "yesterday"', 'time', 'expected epoch milliseconds or an ISO 8601 time'],
  ['time without zone', '"time": "2025-03-01T00:00:00Z"', '"time": "2025-03-01T00:00:00"', 'time', 'has no time zone; add "Z" for UTC'],
  ['impossible date', '"time": "2025-03-01T00:00:00Z"', '"time": "2025-13-45T00:00:00Z"', 'time', 'is not a valid date'],
  ['February 30th', '"time": "2025-03-01T00:00:00Z"', '"time": "2025-02-30T00:00:00Z"', 'time', 'is not a valid date'],
  ['negative epoch', '"time": "2025-03-01T00:00:00Z"', '"time": -1', 'time', 'epoch milliseconds must be between 0'],
  ['funding interval zero', '"intervalHours": 8', '"intervalHours": 0', 'funding["BTC/USDT:USDT"].intervalHours', 'must be > 0'],
  ['funding rate NaN string', '"rate": 0.0001', '"rate": "NaN"', 'funding["BTC/USDT:USDT"].rate', 'got "NaN"'],
  ['negative amount step', '"amountStep": 0.001', '"amountStep": -0.001', 'markets["BTC/USDT:USDT"].amountStep', 'must be >= 0, got -0.001'],
  ['negative min notional', '"minNotional": 5', '"minNotional": -5', 'markets["BTC/USDT:USDT"].minNotional', 'must be >= 0, got -5'],
  ['unknown market field', '"minNotional": 5', '"minNotionel": 5', 'markets["BTC/USDT:USDT"].minNotionel', 'unknown key "minNotionel" (did you mean "minNotional"?)'],
  ['unknown top-level key', '"lastRebalance"', '"lastRebalanced"', 'lastRebalanced', 'unknown key "lastRebalanced" (did you mean "lastRebalance"?)'],
  ['bad timestamp', '"BTC": 1740787200000', '"BTC": "soon"', 'timestamps.BTC', 'expected epoch milliseconds or an ISO 8601 time'],
  ['bad history value', '"BTC": [1, 2, 3]', '"BTC": [1, "x", 3]', 'history.BTC[1]', 'got "x"'],
  ['balances not a mapping', '"balances": { "ETH": 10, "SOL": 100, "ADA": 1000, "USDC": 5000 }', '"balances": [10]', 'accounts[1].balances', 'expected a mapping, got a list'],
  ['empty accounts', '"accounts": [', '"accounts": [], "x": [', 'accounts', 'at least one account is required'],
];

describe('bad snapshots: each error names the file, the line, the field and the problem', () => {
  it.each(MUTATIONS)('%s', (_name, from, to, field, problem) => {
    expect(BASE.includes(from)).toBe(true);
    const text = BASE.replace(from, to);
    const errors = errorsOf(() => parseSnapshot(text, 'snap.json'));
    expectError(errors, { file: 'snap.json', line: lineOf(text, to), field, problem });
  });

  const FIXTURES: [file: string, line: number, field: string, problem: string | RegExp][] = [
    ['snapshot-infinite-price.json', 3, 'prices.BTC', 'got Infinity (not a finite number)'],
    ['snapshot-nan-string-price.json', 4, 'prices.BTC', 'got "NaN"'],
    ['snapshot-negative-balance.json', 9, 'accounts[0].balances.USDT', 'must be >= 0, got -500'],
    ['snapshot-duplicate-account.json', 6, 'accounts[1].name', 'duplicate account name "binance" (also accounts[0])'],
    ['snapshot-malformed.json', 4, '', "syntax error: Expected ',' or '}' after property value"],
    ['snapshot-bad-position.json', 12, 'accounts[0].positions[0].contracts', 'got null'],
    ['snapshot-bad-position.json', 13, 'accounts[0].positions[0].entryPrice', 'must be > 0, got -60000'],
    ['snapshot-bad-position.json', 14, 'accounts[0].positions[0].leverage', 'must be >= 1 and <= 1000, got 0'],
  ];
  it.each(FIXTURES)('%s line %i', (name, line, field, problem) => {
    const file = BAD + name;
    expectError(
      errorsOf(() => loadSnapshot(file)),
      { file, line, field, problem },
    );
  });

  it('YAML .nan and .inf are errors, never numbers', () => {
    const yaml = 'time: 0\nprices:\n  BTC: .nan\n  ETH: -.inf\naccounts: [{ name: a, balances: { BTC: .inf } }]\n';
    const errors = errorsOf(() => parseSnapshot(yaml, 's.yaml'));
    expectError(errors, { file: 's.yaml', line: 3, field: 'prices.BTC', problem: 'got NaN (not a number)' });
    expectError(errors, { file: 's.yaml', line: 4, field: 'prices.ETH', problem: 'got -Infinity' });
    expectError(errors, { file: 's.yaml', line: 5, field: 'accounts[0].balances.BTC', problem: 'got Infinity' });
  });

  it('a missing required field points at the enclosing item', () => {
    const text = BASE.replace('"entryPrice": 60000, ', '');
    expectError(
      errorsOf(() => parseSnapshot(text, 's.json')),
      { file: 's.json', line: lineOf(text, '"contracts": -0.1'), field: 'accounts[0].positions[0].entryPrice', problem: 'required field is missing' },
    );
  });

  it('reports all problems at once', () => {
    const text = BASE.replace('"BTC": 58000', '"BTC": -1').replace('"USDT": 42000', '"USDT": "lots"').replace('"intervalHours": 8', '"intervalHours": -8');
    expect(errorsOf(() => parseSnapshot(text, 's.json')).map((e) => e.field)).toEqual([
      'prices.BTC',
      'funding["BTC/USDT:USDT"].intervalHours',
      'accounts[0].balances.USDT',
    ]);
  });

  it('a file that cannot be read is an InputErrors too', () => {
    expect(errorsOf(() => loadSnapshot(BAD + 'nope.json'))[0]!.message).toBe(`${BAD}nope.json: cannot read the file: no such file`);
  });
});
