import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { HistoryError, readBars, readFunding, readMarks } from '../../src/adapters/history/index.js';

const DATA = resolve(dirname(fileURLToPath(import.meta.url)), '../../data');
const tmp = mkdtempSync(join(tmpdir(), 'ballast-csv-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(tmp, name);
  mkdirSync(dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
}

const H = 'timestamp_ms,open,high,low,close,volume\n';
const DAY = 86_400_000;

function catchHistory(f: () => unknown): HistoryError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(HistoryError);
    return e as HistoryError;
  }
  throw new Error('expected a HistoryError');
}

describe('readBars on the bundled files', () => {
  it('BTC 1d has 3260 rows, first bar 2017-08-17, values as written', () => {
    const b = readBars(join(DATA, 'prices/1d/BTCUSDT.csv'));
    expect(b.time.length).toBe(3260);
    expect(b.time[0]).toBe(Date.UTC(2017, 7, 17));
    expect([b.open[0], b.high[0], b.low[0], b.close[0], b.volume[0]]).toEqual([4261.48, 4485.39, 4200.74, 4285.08, 795.150377]);
    expect(b.time[3259]).toBe(Date.UTC(2026, 6, 20));
    for (let i = 1; i < b.time.length; i++) expect(b.time[i]! - b.time[i - 1]!).toBe(DAY);
  });

  it('BTC 1h: all 57,368 rows (its speed is measured by `npm run bench:io`)', () => {
    const b = readBars(join(DATA, 'prices/1h/BTCUSDT.csv'));
    expect(b.time.length).toBe(57368);
    expect(b.time[0]).toBe(Date.UTC(2020, 0, 1));
    expect(b.time[b.time.length - 1]! - b.time[0]!).toBeGreaterThanOrEqual((57368 - 1) * 3_600_000);
  });

  it('parses every field exactly like Number()', () => {
    const f = file('exact.csv', `${H}1,0.1,0.30000000000000004,0.1,0.2,1e3\n2,123456.78901234,123456.78901234,1.5E-7,2.5e-7,0\n`);
    const b = readBars(f);
    expect(Array.from(b.high)).toEqual([0.30000000000000004, 123456.78901234]);
    expect(Array.from(b.volume)).toEqual([1000, 0]);
    expect(b.low[1]).toBe(1.5e-7);
  });

  it('funding (signed) and marks', () => {
    const f = readFunding(join(DATA, 'funding/BTCUSDT.csv'));
    expect(f.time.length).toBe(7611);
    expect(f.time[0]).toBe(Date.UTC(2019, 8, 10, 8));
    expect(Math.min(...f.rate)).toBe(-0.003);
    const m = readMarks(join(DATA, 'perp/mark_at_funding/BTCUSDT.csv'));
    expect(m.time.length).toBe(1095);
    expect(m.price[0]).toBe(113836.8);
  });

  it('accepts CRLF line ends and a missing final newline', () => {
    const b = readBars(file('crlf.csv', `${H.trimEnd()}\r\n1,1,2,0.5,1.5,3\r\n2,1,2,0.5,1.5,3`));
    expect(Array.from(b.time)).toEqual([1, 2]);
  });
});

describe('readBars errors name the file and the line', () => {
  it('missing file says which path and what was expected', () => {
    const e = catchHistory(() => readBars(join(tmp, 'prices/1d/SOLUSDT.csv')));
    expect(e.file).toBe(join(tmp, 'prices/1d/SOLUSDT.csv'));
    expect(e.line).toBe(0);
    expect(e.message).toContain('prices/1d/SOLUSDT.csv');
    expect(e.message).toMatch(/not found.*OHLCV/);
  });

  it('wrong header', () => {
    const f = file('hdr.csv', 'time,open,high,low,close,volume\n1,1,1,1,1,1\n');
    const e = catchHistory(() => readBars(f));
    expect([e.file, e.line]).toEqual([f, 1]);
    expect(e.message).toBe(`${f}:1: wrong header "time,open,high,low,close,volume" (expected "timestamp_ms,open,high,low,close,volume")`);
  });

  it('empty file', () => {
    const f = file('empty.csv', '');
    expect(catchHistory(() => readBars(f)).line).toBe(1);
  });

  it('wrong column count', () => {
    const f = file('cols.csv', `${H}1,1,1,1,1,1\n2,1,1,1,1\n`);
    const e = catchHistory(() => readBars(f));
    expect(e.line).toBe(3);
    expect(e.problem).toMatch(/expected 6 columns.*found 5/);
  });

  it('non-numeric field', () => {
    const f = file('nonnum.csv', `${H}1,1,1,1,1,1\n2,1,1,1,abc,1\n`);
    const e = catchHistory(() => readBars(f));
    expect(e.message).toBe(`${f}:3: close "abc" is not a number`);
  });

  it('NaN, Infinity, empty field, hex', () => {
    for (const [v, what] of [
      ['NaN', 'not a number'],
      ['Infinity', 'not a number'],
      ['1e999', 'not finite'],
      ['', 'empty'],
      ['0x10', 'not a number'],
    ] as const) {
      const f = file(`bad-${what.replace(/ /g, '')}-${v.length}.csv`, `${H}1,1,1,1,1,1\n2,1,1,1,1,1\n3,1,1,1,1,${v}\n`);
      const e = catchHistory(() => readBars(f));
      expect(e.line).toBe(4);
      expect(e.problem).toBe(`volume "${v}" is ${what}`);
    }
  });

  it('non-positive price', () => {
    const f = file('zero.csv', `${H}1,1,1,0,1,1\n`);
    const e = catchHistory(() => readBars(f));
    expect(e.line).toBe(2);
    expect(e.problem).toMatch(/low 0 is not a positive price/);
    const g = file('neg.csv', `${H}1,1,1,1,-1,1\n`);
    expect(catchHistory(() => readBars(g)).problem).toMatch(/close -1 is not a positive price/);
  });

  it('inconsistent OHLC and negative volume', () => {
    expect(catchHistory(() => readBars(file('ohlc.csv', `${H}1,5,4,1,2,1\n`))).problem).toMatch(/inconsistent bar/);
    expect(catchHistory(() => readBars(file('vol.csv', `${H}1,1,1,1,1,-1\n`))).problem).toMatch(/volume -1 is negative/);
  });

  it('unsorted timestamps name both lines', () => {
    const f = file('unsorted.csv', `${H}${DAY},1,1,1,1,1\n${3 * DAY},1,1,1,1,1\n${2 * DAY},1,1,1,1,1\n`);
    const e = catchHistory(() => readBars(f));
    expect(e.line).toBe(4);
    expect(e.problem).toMatch(/earlier than .* on line 3/);
    expect(e.message.startsWith(`${f}:4: `)).toBe(true);
  });

  it('duplicate timestamps name both lines', () => {
    const f = file('dup.csv', `${H}${DAY},1,1,1,1,1\n${2 * DAY},1,1,1,1,1\n${2 * DAY},1,1,1,1,1\n`);
    const e = catchHistory(() => readBars(f));
    expect(e.line).toBe(4);
    expect(e.problem).toMatch(/duplicate timestamp 172800000 \(1970-01-03 00:00 UTC\), also on line 3/);
  });

  it('non-integer timestamp and blank line in the middle', () => {
    expect(catchHistory(() => readBars(file('frac.csv', `${H}1.5,1,1,1,1,1\n`))).problem).toMatch(/not a non-negative integer/);
    const e = catchHistory(() => readBars(file('blank.csv', `${H}1,1,1,1,1,1\n\n2,1,1,1,1,1\n`)));
    expect([e.line, e.problem]).toEqual([3, 'empty line']);
  });

  it('funding: rates may be negative, same checks otherwise', () => {
    const ok = readFunding(file('f-ok.csv', 'timestamp_ms,funding_rate\n0,-0.0003\n28800000,0.0001\n'));
    expect(Array.from(ok.rate)).toEqual([-0.0003, 0.0001]);
    const f = file('f-bad.csv', 'timestamp_ms,funding_rate\n0,0.0001\n28800000,NaN\n');
    expect(catchHistory(() => readFunding(f)).message).toBe(`${f}:3: funding_rate "NaN" is not a number`);
    const h = file('f-hdr.csv', 'timestamp,funding_rate\n0,0.0001\n');
    expect(catchHistory(() => readFunding(h)).line).toBe(1);
    const d = file('f-dup.csv', 'timestamp_ms,funding_rate\n0,0.0001\n0,0.0002\n');
    expect(catchHistory(() => readFunding(d)).problem).toMatch(/duplicate .* line 2/);
  });

  it('marks: positive prices', () => {
    const f = file('m-bad.csv', 'timestamp_ms,mark_price\n0,100\n1,0\n');
    expect(catchHistory(() => readMarks(f)).message).toBe(`${f}:3: mark_price 0 is not a positive price`);
  });
});
