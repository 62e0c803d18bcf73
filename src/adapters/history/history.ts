/**
 * Load aligned market history for a backtest from the bundled data folder (layout and conventions in
 * data/README.md; provenance in data/PROVENANCE.md).
 *
 * Files read, for quote USDT and asset A:
 *   spot     `prices/{interval}/{A}USDT.csv`           required for every non-stable asset
 *   perp     `perp/1d/{A}USDT.csv`                    optional, only for interval 1d
 *   funding  `funding/{A}USDT.csv` (Binance, default)  or `funding/bybit/{A}USDT.csv`
 *   marks    `perp/mark_at_funding/{A}USDT.csv`        optional
 *
 * Rules (nothing is ever filled, interpolated or invented):
 *
 * 1. Range. Bars are selected by open time in the half-open range [from, to) (defaults: everything).
 *    The aligned range starts at the first bar where EVERY asset has a price and ends at the last bar
 *    where every asset has a price (the latest first bar and the earliest last bar over the assets).
 *    An asset with no bar at all in [from, to) is an error naming its file and the range; so is an
 *    empty intersection.
 * 2. Alignment. Inside that range, bars are taken on the regular grid of the interval (1d = UTC days,
 *    1h = UTC hours; every timestamp must lie on that grid). A grid bar at which some asset has no
 *    candle (a gap in one file, or an exchange outage missing from all files) is SKIPPED for all
 *    assets: it is absent from `times` and counted in `coverage.skippedBars`, with runs listed in
 *    `coverage.gaps`. Consecutive entries of `times` can therefore be more than one interval apart.
 * 3. Stablecoins. Assets listed in `stable` (and the quote itself) are priced at exactly 1 quote unit
 *    (open = high = low = close = 1) at every bar; they have no file and their volume is NaN
 *    (unknown). A stablecoin in `stable` but not in `assets` is appended to `assets`. The coverage
 *    notes say so.
 * 4. Perp prices. For each perp (a base asset that has futures; it must be one of `assets`),
 *    `perpClose` is the perp/1d close at that bar where the perp file has that bar, else the spot close
 *    of the same bar; `perpFromPerpFile[p][i]` records which (1 = perp file, 0 = spot close) and
 *    `perpFromSpot[p]` counts the spot fallbacks. For interval 1h there are no perp candles: every bar
 *    uses the spot close.
 * 5. Funding. Funding events are the recorded settlements with time in [first bar open, last bar open
 *    + interval). `bar[k]` is the index of the aligned bar in whose span [times[i], times[i+1]) the
 *    event falls (an event inside a skipped bar is attributed to the preceding kept bar). A settlement
 *    missing from the file means NO payment at that time (never an invented rate). Coverage counts,
 *    per perp, the settlements expected on the funding grid (the file's own spacing, 8 h by default,
 *    anchored at 00:00 UTC) that are missing, and how many bars "have funding data": a bar starting at
 *    t has funding data when at least one settlement is recorded in [t, t + max(interval, funding
 *    interval)). A perp without a funding file is allowed: it has no funding at all and a note says so.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  HistoryError,
  describeTime,
  readBars,
  readFunding,
  readMarks,
  type Bars,
} from './csv.js';
import { INTERVAL_MS, type AssetCoverage, type FundingEvents, type FundingSeries, type GapRun, type HistoryInterval, type MarketHistory, type MarkSeries, type PerpCoverage } from '../../model/history.js';

export interface LoadHistoryOptions {
  /** Data folder (the bundled one is `data/` at the repository root). */
  dir: string;
  interval: HistoryInterval;
  /** Base assets, e.g. ['BTC', 'ETH', 'USDT']. */
  assets: string[];
  quote: 'USDT';
  /** Base assets that have perpetual futures (each must be in `assets`). */
  perps?: string[];
  /** Inclusive lower bound on bar open time (ms). */
  from?: number;
  /** Exclusive upper bound on bar open time (ms). */
  to?: number;
  /** Stablecoins priced at exactly 1 quote unit (no file). */
  stable?: string[];
  /** Funding venue: Binance (`funding/`, default) or Bybit (`funding/bybit/`). */
  fundingVenue?: 'binance' | 'bybit';
}

function fmtDate(ms: number, interval: HistoryInterval): string {
  const iso = new Date(ms).toISOString();
  return interval === '1d' ? iso.slice(0, 10) : `${iso.slice(0, 16).replace('T', ' ')} UTC`;
}

function fmtInt(n: number): string {
  return n.toLocaleString('en-US');
}

function rangeText(from: number | undefined, to: number | undefined): string {
  const a = from === undefined ? 'the beginning' : describeTime(from);
  const b = to === undefined ? 'the end' : describeTime(to);
  return `[${a}, ${b})`;
}

/** First index with a[i] >= x. */
function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function checkGrid(file: string, time: Float64Array, step: number, what: string): void {
  for (let i = 0; i < time.length; i++) {
    if (time[i]! % step !== 0) {
      throw new HistoryError(file, i + 2, `timestamp ${describeTime(time[i]!)} is not on the ${what} grid (bar open times must be multiples of ${step} ms)`);
    }
  }
}

function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function loadHistory(opts: LoadHistoryOptions): MarketHistory {
  const { dir, interval, quote } = opts;
  const step = INTERVAL_MS[interval];
  if (step === undefined) throw new Error(`unknown interval "${String(interval)}" (expected 1d or 1h)`);
  const from = opts.from;
  const to = opts.to;
  if (from !== undefined && to !== undefined && !(from < to)) {
    throw new Error(`empty time range: from ${describeTime(from)} is not before to ${describeTime(to)}`);
  }
  const stableSet = new Set([...(opts.stable ?? []), quote]);
  const assets = [...opts.assets];
  for (const s of opts.stable ?? []) if (!assets.includes(s)) assets.push(s);
  const dup = assets.find((a, i) => assets.indexOf(a) !== i);
  if (dup !== undefined) throw new Error(`asset ${dup} is listed twice`);
  const isStable = assets.map((a) => stableSet.has(a));
  const perps = [...(opts.perps ?? [])];
  const perpAsset = perps.map((p) => {
    const i = assets.indexOf(p);
    if (i < 0) throw new Error(`perp ${p} is not one of the assets (${assets.join(', ')})`);
    if (isStable[i]) throw new Error(`perp ${p} is a stablecoin`);
    return i;
  });
  const venue = opts.fundingVenue ?? 'binance';
  const notes: string[] = [];

  // ---- read spot files and restrict each to [from, to)
  interface Loaded {
    file: string;
    bars: Bars;
    lo: number; // first index in range
    hi: number; // one past the last index in range
  }
  const loaded: (Loaded | null)[] = assets.map((a, k) => {
    if (isStable[k]) return null;
    const rel = `prices/${interval}/${a}${quote}.csv`;
    const file = join(dir, rel);
    if (!existsSync(file)) {
      throw new HistoryError(file, 0, `file not found: expected ${interval} spot prices for ${a} (${rel} under ${dir})`);
    }
    const bars = readBars(file);
    checkGrid(file, bars.time, step, interval);
    const lo = from === undefined ? 0 : lowerBound(bars.time, from);
    const hi = to === undefined ? bars.time.length : lowerBound(bars.time, to);
    if (hi <= lo) {
      const cov =
        bars.time.length === 0
          ? 'the file has no rows'
          : `the file covers ${describeTime(bars.time[0]!)} to ${describeTime(bars.time[bars.time.length - 1]!)}`;
      throw new HistoryError(file, 0, `no ${a} bars in the requested range ${rangeText(from, to)}; ${cov}`);
    }
    return { file, bars, lo, hi };
  });
  const real = loaded.map((l, k) => (l ? k : -1)).filter((k) => k >= 0);
  if (real.length === 0) throw new Error('no asset with a price file: at least one non-stable asset is needed for a time axis');

  // ---- aligned range: latest first bar, earliest last bar
  let start = -Infinity;
  let end = Infinity;
  let startBy = real[0]!;
  let endBy = real[0]!;
  for (const k of real) {
    const l = loaded[k]!;
    const f = l.bars.time[l.lo]!;
    const e = l.bars.time[l.hi - 1]!;
    if (f > start) {
      start = f;
      startBy = k;
    }
    if (e < end) {
      end = e;
      endBy = k;
    }
  }
  if (start > end) {
    throw new HistoryError(
      loaded[startBy]!.file,
      0,
      `no bar where every asset has a price in ${rangeText(from, to)}: ${assets[startBy]} starts ${describeTime(start)} but ${assets[endBy]} (${loaded[endBy]!.file}) ends ${describeTime(end)}`,
    );
  }

  // ---- presence on the grid
  const gridBars = Math.round((end - start) / step) + 1;
  const present = new Uint16Array(gridBars);
  const missingBars = new Array<number>(assets.length).fill(0);
  for (const k of real) {
    const l = loaded[k]!;
    const t = l.bars.time;
    let count = 0;
    for (let i = lowerBound(t, start); i < l.hi && t[i]! <= end; i++) {
      present[(t[i]! - start) / step]!++;
      count++;
    }
    missingBars[k] = gridBars - count;
  }
  const need = real.length;
  let bars = 0;
  for (let g = 0; g < gridBars; g++) if (present[g] === need) bars++;
  const skippedBars = gridBars - bars;

  const times = new Float64Array(bars);
  for (let g = 0, i = 0; g < gridBars; g++) if (present[g] === need) times[i++] = start + g * step;

  // gap runs (with the assets missing in each)
  const gaps: GapRun[] = [];
  if (skippedBars > 0) {
    for (let g = 0; g < gridBars; g++) {
      if (present[g] === need) continue;
      let h = g;
      while (h + 1 < gridBars && present[h + 1] !== need) h++;
      const a = start + g * step;
      const b = start + h * step;
      const missing = real
        .filter((k) => {
          const t = loaded[k]!.bars.time;
          return lowerBound(t, b + 1) - lowerBound(t, a) < h - g + 1;
        })
        .map((k) => assets[k]!);
      gaps.push({ from: a, to: b, bars: h - g + 1, missing });
      g = h;
    }
  }

  // ---- per-asset aligned arrays
  const open: Float64Array[] = [];
  const high: Float64Array[] = [];
  const low: Float64Array[] = [];
  const close: Float64Array[] = [];
  const volume: Float64Array[] = [];
  for (let k = 0; k < assets.length; k++) {
    const l = loaded[k];
    if (!l) {
      open.push(new Float64Array(bars).fill(1));
      high.push(new Float64Array(bars).fill(1));
      low.push(new Float64Array(bars).fill(1));
      close.push(new Float64Array(bars).fill(1));
      volume.push(new Float64Array(bars).fill(NaN));
      continue;
    }
    const src = l.bars;
    const o = new Float64Array(bars);
    const h = new Float64Array(bars);
    const lw = new Float64Array(bars);
    const c = new Float64Array(bars);
    const v = new Float64Array(bars);
    let j = lowerBound(src.time, start);
    for (let i = 0; i < bars; i++) {
      const t = times[i]!;
      while (src.time[j]! < t) j++;
      o[i] = src.open[j]!;
      h[i] = src.high[j]!;
      lw[i] = src.low[j]!;
      c[i] = src.close[j]!;
      v[i] = src.volume[j]!;
    }
    open.push(o);
    high.push(h);
    low.push(lw);
    close.push(c);
    volume.push(v);
  }

  // ---- perps: prices, funding, marks
  const perpClose: Float64Array[] = [];
  const perpFromPerpFile: Uint8Array[] = [];
  const perpFromSpot: number[] = [];
  const funding: FundingEvents[] = [];
  const marks: MarkSeries[] = [];
  const perpCoverage: PerpCoverage[] = [];
  const rangeEnd = end + step; // funding events up to the close of the last bar (exclusive)
  for (let p = 0; p < perps.length; p++) {
    const a = perps[p]!;
    const k = perpAsset[p]!;
    const spot = close[k]!;
    const pc = new Float64Array(spot);
    const fromFile = new Uint8Array(bars);
    let perpFile: string | null = null;
    if (interval === '1d') {
      const f = join(dir, `perp/1d/${a}${quote}.csv`);
      if (existsSync(f)) {
        perpFile = f;
        const pb = readBars(f);
        checkGrid(f, pb.time, step, interval);
        let j = lowerBound(pb.time, start);
        for (let i = 0; i < bars && j < pb.time.length; i++) {
          const t = times[i]!;
          while (j < pb.time.length && pb.time[j]! < t) j++;
          if (j < pb.time.length && pb.time[j] === t) {
            pc[i] = pb.close[j]!;
            fromFile[i] = 1;
          }
        }
      }
    }
    let fromPerp = 0;
    for (let i = 0; i < bars; i++) fromPerp += fromFile[i]!;
    perpClose.push(pc);
    perpFromPerpFile.push(fromFile);
    perpFromSpot.push(bars - fromPerp);

    // funding
    const fRel = venue === 'bybit' ? `funding/bybit/${a}${quote}.csv` : `funding/${a}${quote}.csv`;
    const fFile = join(dir, fRel);
    let fundingFile: string | null = null;
    let fs: FundingSeries = { time: new Float64Array(0), rate: new Float64Array(0) };
    if (existsSync(fFile)) {
      fundingFile = fFile;
      fs = readFunding(fFile);
    }
    const diffs: number[] = [];
    for (let i = 1; i < fs.time.length; i++) diffs.push(fs.time[i]! - fs.time[i - 1]!);
    const medianMs = median(diffs);
    const fundingIntervalHours = Number.isFinite(medianMs) && medianMs > 0 ? Math.max(1, Math.round(medianMs / 3_600_000)) : 8;
    const fStep = fundingIntervalHours * 3_600_000;
    const flo = lowerBound(fs.time, start);
    const fhi = lowerBound(fs.time, rangeEnd);
    const ft = fs.time.slice(flo, fhi);
    const fr = fs.rate.slice(flo, fhi);
    const fbar = new Int32Array(ft.length);
    for (let e = 0, i = 0; e < ft.length; e++) {
      while (i + 1 < bars && times[i + 1]! <= ft[e]!) i++;
      fbar[e] = i;
    }
    funding.push({ time: ft, rate: fr, bar: fbar });
    // expected settlements on the funding grid in [start, rangeEnd)
    const expected = Math.max(0, Math.ceil(rangeEnd / fStep) - Math.ceil(start / fStep));
    const missingSettlements = Math.max(0, expected - ft.length);
    // bars with funding data
    const window = Math.max(step, fStep);
    let barsWithFunding = 0;
    const all = fs.time; // the whole file, so bars near the range end see the next settlement
    for (let i = 0, e = 0; i < bars; i++) {
      const t = times[i]!;
      while (e < all.length && all[e]! < t) e++;
      if (e < all.length && all[e]! < t + window) barsWithFunding++;
    }

    // marks
    const mRel = `perp/mark_at_funding/${a}${quote}.csv`;
    const mFile = join(dir, mRel);
    let marksFile: string | null = null;
    let ms: MarkSeries = { time: new Float64Array(0), price: new Float64Array(0) };
    if (existsSync(mFile)) {
      marksFile = mFile;
      const all = readMarks(mFile);
      const mlo = lowerBound(all.time, start);
      const mhi = lowerBound(all.time, rangeEnd);
      ms = { time: all.time.slice(mlo, mhi), price: all.price.slice(mlo, mhi) };
    }
    marks.push(ms);

    perpCoverage.push({
      asset: a,
      perpFile,
      perpBars: fromPerp,
      perpFromSpot: bars - fromPerp,
      fundingFile,
      fundingFirst: fs.time.length ? fs.time[0]! : null,
      fundingLast: fs.time.length ? fs.time[fs.time.length - 1]! : null,
      fundingIntervalHours,
      fundingEvents: ft.length,
      missingSettlements,
      barsWithFunding,
      barsWithoutFunding: bars - barsWithFunding,
      marksFile,
      marks: ms.time.length,
    });
  }

  // ---- coverage and notes
  const assetCoverage: AssetCoverage[] = assets.map((a, k) => {
    const l = loaded[k];
    if (!l) return { asset: a, file: null, stable: true, fileFirst: null, fileLast: null, rows: 0, missingBars: 0 };
    const t = l.bars.time;
    return {
      asset: a,
      file: l.file,
      stable: false,
      fileFirst: t[0]!,
      fileLast: t[t.length - 1]!,
      rows: t.length,
      missingBars: missingBars[k]!,
    };
  });

  notes.push(
    `Range ${fmtDate(start, interval)} → ${fmtDate(end, interval)} (${interval} bars, bar open times): ${fmtInt(bars)} bars` +
      (skippedBars > 0
        ? `; ${fmtInt(skippedBars)} bar${skippedBars === 1 ? '' : 's'} skipped in ${gaps.length} gap${gaps.length === 1 ? '' : 's'} (a bar missing for any asset is skipped for all; no price is filled).`
        : '; no missing bars.'),
  );
  if (real.length > 1 || from !== undefined) {
    notes.push(`Start ${fmtDate(start, interval)}: first bar where every asset has a price (latest start: ${assets[startBy]}).`);
  }
  if (real.length > 1 || to !== undefined) {
    notes.push(`End ${fmtDate(end, interval)}: last bar where every asset has a price (earliest end: ${assets[endBy]}).`);
  }
  const stableNames = assets.filter((_, k) => isStable[k]);
  if (stableNames.length > 0) {
    notes.push(`${stableNames.join(', ')}: priced at exactly 1 ${quote} at every bar (no price file; volume unknown).`);
  }
  for (const g of gaps.slice(0, 20)) {
    notes.push(
      `Skipped ${g.bars} bar${g.bars === 1 ? '' : 's'} ${fmtDate(g.from, interval)}${g.bars > 1 ? ` … ${fmtDate(g.to, interval)}` : ''} (no candle for ${g.missing.join(', ')}).`,
    );
  }
  if (gaps.length > 20) notes.push(`… and ${gaps.length - 20} more gaps (see coverage.gaps).`);
  for (const pc of perpCoverage) {
    const priceNote =
      interval === '1h'
        ? `${pc.asset} perp: no hourly perp candles, the spot close is used on all ${fmtInt(bars)} bars`
        : pc.perpFile === null
          ? `${pc.asset} perp: no perp candle file, the spot close is used on all ${fmtInt(bars)} bars`
          : `${pc.asset} perp: perp close on ${fmtInt(pc.perpBars)} bars, spot close on ${fmtInt(pc.perpFromSpot)} bars without a perp candle`;
    notes.push(`${priceNote}.`);
    if (pc.fundingFile === null) {
      notes.push(`${pc.asset} funding: no ${venue} funding file; no funding is paid or received on ${pc.asset} futures.`);
    } else {
      notes.push(
        `${pc.asset} funding (${venue}): file ${pc.fundingFirst === null ? 'empty' : `${fmtDate(pc.fundingFirst, '1h')} → ${fmtDate(pc.fundingLast!, '1h')}`}; ` +
          `${fmtInt(pc.fundingEvents)} settlements in range, ${fmtInt(pc.missingSettlements)} missing (no payment at those times); ` +
          `${fmtInt(pc.barsWithFunding)} of ${fmtInt(bars)} bars have funding data.`,
      );
    }
  }

  return {
    interval,
    intervalMs: step,
    quote,
    assets,
    stable: isStable,
    times,
    open,
    high,
    low,
    close,
    volume,
    perps,
    perpAsset,
    perpClose,
    perpFromPerpFile,
    perpFromSpot,
    funding,
    marks,
    coverage: {
      interval,
      requestedFrom: from ?? null,
      requestedTo: to ?? null,
      start,
      end,
      bars,
      gridBars,
      skippedBars,
      gaps,
      assets: assetCoverage,
      perps: perpCoverage,
      notes,
    },
  };
}
