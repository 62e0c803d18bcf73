import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { HistoryError, loadHistory, readBars, type LoadHistoryOptions } from '../../src/adapters/history/index.js';

const DATA = resolve(dirname(fileURLToPath(import.meta.url)), '../../data');
const HOUR = 3_600_000;
const DAY = 86_400_000;

/** The 15 BTC hourly gaps of data/README.md: last bar before → first bar after (missing bars). */
const BTC_1H_GAPS: [string, number][] = [
  ['2020-02-09T02', 1], ['2020-02-19T12', 5], ['2020-03-04T10', 1], ['2020-04-25T02', 2], ['2020-06-28T02', 3],
  ['2020-11-30T06', 1], ['2020-12-21T14', 4], ['2020-12-25T02', 1], ['2021-02-11T04', 1], ['2021-03-06T02', 1],
  ['2021-04-20T02', 2], ['2021-04-25T05', 3], ['2021-08-13T02', 4], ['2021-09-29T07', 2], ['2023-03-24T13', 1],
];
const ms = (s: string) => Date.parse(`${s}:00:00Z`);

describe('loadHistory on the bundled data', () => {
  it('BTC 1d: 3260 aligned bars, nothing skipped', () => {
    const h = loadHistory({ dir: DATA, interval: '1d', assets: ['BTC'], quote: 'USDT' });
    expect(h.times.length).toBe(3260);
    expect(h.coverage.skippedBars).toBe(0);
    expect(h.coverage.assets[0]).toMatchObject({ asset: 'BTC', rows: 3260, stable: false, missingBars: 0 });
    expect(h.close[0]![0]).toBe(4285.08);
  });

  it('BTC 1h: the 15 gaps (32 bars) of the README are skipped and counted, never filled', () => {
    const h = loadHistory({ dir: DATA, interval: '1h', assets: ['BTC'], quote: 'USDT' });
    expect(h.times.length).toBe(57368);
    expect(h.coverage.skippedBars).toBe(32);
    expect(h.coverage.gridBars).toBe(57368 + 32);
    expect(h.coverage.gaps.map((g) => [new Date(g.from).toISOString().slice(0, 13), g.bars])).toEqual(BTC_1H_GAPS);
    expect(h.coverage.gaps.every((g) => g.missing.join() === 'BTC')).toBe(true);
    const skipped = new Set<number>();
    for (const [s, n] of BTC_1H_GAPS) for (let k = 0; k < n; k++) skipped.add(ms(s) + k * HOUR);
    for (let i = 1; i < h.times.length; i++) {
      const d = h.times[i]! - h.times[i - 1]!;
      if (d !== HOUR) {
        for (let t = h.times[i - 1]! + HOUR; t < h.times[i]!; t += HOUR) expect(skipped.has(t)).toBe(true);
      }
    }
    expect(h.coverage.notes.join('\n')).toMatch(/32 bars skipped in 15 gaps/);
  });

  it('BTC + SOL 1h with stablecoins: starts where both have prices; a gap in one is skipped for all', () => {
    const h = loadHistory({
      dir: DATA,
      interval: '1h',
      assets: ['BTC', 'SOL', 'USDT'],
      quote: 'USDT',
      stable: ['USDT', 'USDC'],
      perps: ['BTC', 'SOL'],
      from: Date.UTC(2021, 0, 1),
      to: Date.UTC(2024, 0, 1),
    });
    expect(h.assets).toEqual(['BTC', 'SOL', 'USDT', 'USDC']);
    expect(h.stable).toEqual([false, false, true, true]);
    expect(h.times[0]).toBe(Date.UTC(2022, 0, 1)); // SOL hourly starts 2022-01-01
    expect(h.times[h.times.length - 1]).toBe(Date.UTC(2023, 11, 31, 23));
    expect(h.coverage.skippedBars).toBe(1); // 2023-03-24 13:00
    expect(h.coverage.gaps[0]).toMatchObject({ from: ms('2023-03-24T13'), bars: 1, missing: ['BTC', 'SOL'] });
    expect(h.times.length).toBe(2 * 365 * 24 - 1);
    for (const k of [2, 3]) {
      expect(h.close[k]!.every((x) => x === 1)).toBe(true);
      expect(h.open[k]!.every((x) => x === 1)).toBe(true);
    }
    expect(h.coverage.notes.join('\n')).toMatch(/USDT, USDC: priced at exactly 1 USDT/);
    // every aligned price is the file's own price at that time
    const sol = readBars(join(DATA, 'prices/1h/SOLUSDT.csv'));
    const bySol = new Map<number, number>();
    sol.time.forEach((t, i) => bySol.set(t, sol.close[i]!));
    h.times.forEach((t, i) => expect(h.close[1]![i]).toBe(bySol.get(t)));
    // hourly perps: spot close everywhere
    expect(h.perpFromSpot).toEqual([h.times.length, h.times.length]);
    expect(Array.from(h.perpClose[1]!)).toEqual(Array.from(h.close[1]!));
    // BTC funding complete over 2022–2023: 3 settlements a day, 0 missing
    const btc = h.coverage.perps[0]!;
    expect(btc.fundingEvents).toBe(2 * 365 * 3);
    expect(btc.missingSettlements).toBe(0);
    expect(btc.barsWithFunding).toBe(h.times.length);
    // SOL funding starts 2023-07-18 and has a hole 2023-08-17 → 2024-01-01: 89 settlements in range, the
    // rest missing, no invented events.
    const solCov = h.coverage.perps[1]!;
    expect(h.funding[1]!.time.length).toBe(89);
    expect(solCov.fundingEvents).toBe(89);
    expect(solCov.missingSettlements).toBe(2 * 365 * 3 - 89);
    expect(h.times[h.funding[1]!.bar[0]!]).toBe(Date.UTC(2023, 6, 18, 16));
  });

  it('1d perps: perp close where the perp file has the bar, else spot (counted per bar)', () => {
    const h = loadHistory({
      dir: DATA,
      interval: '1d',
      assets: ['BTC', 'ETH'],
      quote: 'USDT',
      perps: ['BTC'],
      from: Date.UTC(2022, 5, 1),
      to: Date.UTC(2022, 8, 1),
    });
    expect(h.times.length).toBe(92);
    // The bundled BTC perp file has every day of the range (the December 2026 extension filled 2022-06-09
    // and 2022-08-10 from hourly perp candles).
    expect(h.perpFromSpot).toEqual([0]);
    expect(Array.from(h.perpFromPerpFile[0]!).every((x) => x === 1)).toBe(true);
    const perp = readBars(join(DATA, 'perp/1d/BTCUSDT.csv'));
    const j = perp.time.indexOf(Date.UTC(2022, 5, 1));
    expect(h.perpClose[0]![0]).toBe(perp.close[j]);
    expect(h.perpClose[0]![0]).not.toBe(h.close[0]![0]);
    // funding: 3 per day, each attributed to its day
    const f = h.funding[0]!;
    expect(f.time.length).toBe(92 * 3);
    for (let k = 0; k < f.time.length; k++) expect(h.times[f.bar[k]!]).toBe(Math.floor(f.time[k]! / DAY) * DAY);
    expect(h.coverage.perps[0]!.perpBars).toBe(92);
  });

  it('funding gaps: DOT funding stops on 2023-08-17 (a hole to 2025-05-01); the missing settlements are counted', () => {
    const h = loadHistory({
      dir: DATA,
      interval: '1d',
      assets: ['DOT'],
      quote: 'USDT',
      perps: ['DOT'],
      from: Date.UTC(2023, 7, 1),
      to: Date.UTC(2023, 8, 1),
    });
    const c = h.coverage.perps[0]!;
    expect(c.fundingFirst).toBe(Date.UTC(2023, 6, 4, 16));
    // Aug 1..31: 93 settlements expected; 2023-08-01 00:00 → 2023-08-17 00:00 present = 49
    expect(c.fundingEvents).toBe(49);
    expect(c.missingSettlements).toBe(93 - 49);
    expect(c.barsWithFunding).toBe(17); // Aug 1..17
    expect(c.barsWithoutFunding).toBe(14);
    expect(h.funding[0]!.rate.length).toBe(49);
  });

  it('Bybit funding venue, and the BTC 2024-07 → 2025-08 hole', () => {
    const h = loadHistory({
      dir: DATA,
      interval: '1d',
      assets: ['BTC'],
      quote: 'USDT',
      perps: ['BTC'],
      fundingVenue: 'bybit',
      from: Date.UTC(2024, 5, 1),
      to: Date.UTC(2024, 7, 1),
    });
    const c = h.coverage.perps[0]!;
    expect(c.fundingFile).toBe(join(DATA, 'funding/bybit/BTCUSDT.csv'));
    expect(c.barsWithFunding).toBe(31); // June only (the hole starts after the 2024-07-01 00:00 settlement)
    expect(h.funding[0]!.time[h.funding[0]!.time.length - 1]).toBe(Date.UTC(2024, 6, 1));
  });

  it('1h with 10 assets loads fast', () => {
    const assets = ['BTC', 'ETH', 'BNB', 'SOL', 'XRP', 'ADA', 'DOGE', 'AVAX', 'LINK', 'LTC'];
    const t0 = performance.now();
    const h = loadHistory({ dir: DATA, interval: '1h', assets, quote: 'USDT', perps: assets });
    const dt = performance.now() - t0;
    expect(h.times.length).toBe(38265); // 38,266 grid hours, 2023-03-24 13:00 missing in every file
    expect(h.coverage.skippedBars).toBe(1);
    expect(dt).toBeLessThan(2000);
  });
});

describe('loadHistory errors', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ballast-hist-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const H = 'timestamp_ms,open,high,low,close,volume\n';
  function write(rel: string, text: string) {
    const p = join(tmp, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, text);
    return p;
  }
  const rows = (t0: number, n: number, step = DAY) => Array.from({ length: n }, (_, i) => `${t0 + i * step},1,1,1,1,1`).join('\n') + '\n';
  write('prices/1d/AAAUSDT.csv', H + rows(0, 10));
  write('prices/1d/BBBUSDT.csv', H + rows(5 * DAY, 10));
  write('prices/1d/GAPUSDT.csv', H + rows(0, 3) + rows(4 * DAY, 6));
  write('prices/1d/OFFUSDT.csv', H + rows(HOUR, 3));
  const opts = (o: Partial<LoadHistoryOptions>): LoadHistoryOptions => ({ dir: tmp, interval: '1d', assets: ['AAA'], quote: 'USDT', ...o });

  function err(o: Partial<LoadHistoryOptions>): HistoryError {
    try {
      loadHistory(opts(o));
    } catch (e) {
      expect(e).toBeInstanceOf(HistoryError);
      return e as HistoryError;
    }
    throw new Error('expected a HistoryError');
  }

  it('missing spot file names the path and what was expected', () => {
    const e = err({ assets: ['AAA', 'SOL'] });
    expect(e.file).toBe(join(tmp, 'prices/1d/SOLUSDT.csv'));
    expect(e.message).toContain('prices/1d/SOLUSDT.csv');
    expect(e.message).toMatch(/expected 1d spot prices for SOL/);
  });

  it('asset with no data in the requested range names the file and the range', () => {
    const e = err({ assets: ['AAA', 'BBB'], to: 4 * DAY });
    expect(e.file).toBe(join(tmp, 'prices/1d/BBBUSDT.csv'));
    expect(e.message).toMatch(/no BBB bars in the requested range \[the beginning, 345600000 \(1970-01-05 00:00 UTC\)\)/);
    expect(e.message).toMatch(/file covers 432000000/);
  });

  it('alignment: range starts where every asset has a price; gap in one asset skipped for all', () => {
    const h = loadHistory(opts({ assets: ['AAA', 'BBB'] }));
    expect(Array.from(h.times)).toEqual([5, 6, 7, 8, 9].map((d) => d * DAY));
    const g = loadHistory(opts({ assets: ['AAA', 'GAP'] }));
    expect(Array.from(g.times)).toEqual([0, 1, 2, 4, 5, 6, 7, 8, 9].map((d) => d * DAY));
    expect(g.coverage.skippedBars).toBe(1);
    expect(g.coverage.gaps).toEqual([{ from: 3 * DAY, to: 3 * DAY, bars: 1, missing: ['GAP'] }]);
    expect(g.coverage.assets.map((a) => a.missingBars)).toEqual([0, 1]);
  });

  it('from/to select bars by open time in [from, to)', () => {
    const h = loadHistory(opts({ from: 2 * DAY, to: 5 * DAY }));
    expect(Array.from(h.times)).toEqual([2, 3, 4].map((d) => d * DAY));
  });

  it('timestamps off the interval grid are an error with the line', () => {
    const e = err({ assets: ['OFF'] });
    expect(e.line).toBe(2);
    expect(e.problem).toMatch(/not on the 1d grid/);
  });

  it('bad data inside a loaded file reports file and line', () => {
    write('prices/1d/BADUSDT.csv', H + rows(0, 3) + `${3 * DAY},1,1,1,NaN,1\n`);
    const e = err({ assets: ['BAD'] });
    expect(e.message).toBe(`${join(tmp, 'prices/1d/BADUSDT.csv')}:5: close "NaN" is not a number`);
  });

  it('perp without funding file: allowed, no funding, noted', () => {
    const h = loadHistory(opts({ perps: ['AAA'] }));
    expect(h.funding[0]!.time.length).toBe(0);
    expect(h.coverage.perps[0]!.fundingFile).toBeNull();
    expect(h.coverage.notes.join('\n')).toMatch(/AAA funding: no binance funding file/);
  });

  it('option errors', () => {
    expect(() => loadHistory(opts({ perps: ['ZZZ'] }))).toThrow(/perp ZZZ is not one of the assets/);
    expect(() => loadHistory(opts({ assets: ['USDT'], stable: ['USDT'] }))).toThrow(/no asset with a price file/);
    expect(() => loadHistory(opts({ from: 5, to: 5 }))).toThrow(/empty time range/);
  });
});
