/**
 * A simulated venue driven by replayed real history (the bundled `data/` folder, daily or hourly bars):
 * the markets a portfolio needs, and a feed that hands out the recorded bars and funding settlements.
 *
 * Markets (quote USDT, the only quote of the bundled data):
 *   spot  `A/USDT` for every non-stable asset of the portfolio's classes;
 *   perp  `A/USDT:USDT` for every class hedge of that form whose base has history (index perps have
 *         no history and are left out, with a note).
 * Rules: price tick ≈ 7 significant digits of the first close, lot step worth < 0.01 USDT at the first
 * close (at most 1), min notional 5 USDT; perps contract size 1, maintenance margin 0.4 %, max leverage
 * 125; fees as the simulator's defaults unless given.
 *
 * Feed: each bar becomes known at its close (open time + interval, see sim/feed.ts); perp bars are the
 * spot bar scaled by perpClose / spotClose (the perp file's close where it has the bar — only daily
 * files exist; hourly perps use the spot bar); funding settlements at their recorded times. Marks
 * are the perp bar closes. Nothing is filled in for missing bars (history.ts skips them).
 */
import type { HistoryInterval, MarketHistory } from '../../model/history.js';
import { loadHistory } from '../history/history.js';
import type { Portfolio } from '../../core/types.js';
import type { FillModel, SimConfig, SimMarketConfig } from '../sim/exchange.js';
import { ArrayFeed } from '../sim/feed.js';
import { VenueServer } from './server.js';

export interface ReplayVenueOptions {
  portfolio: Portfolio;
  /** History folder (the bundled one is `data/`). */
  dataDir: string;
  interval: HistoryInterval;
  /** Bar open time range [from, to), epoch ms. */
  from?: number;
  to?: number;
  /** Starting balances. Default { USDT: 100,000 }. */
  balances?: Record<string, number>;
  /** Venue id reported by the port. Default 'sim'. */
  id?: string;
  fill?: FillModel;
  fees?: SimConfig['fees'];
}

export interface ReplayVenue {
  config: SimConfig;
  makeFeed: () => ArrayFeed;
  /** The first bar's close: the venue clock starts here, with that bar known. */
  startTime: number;
  /** The last bar's close. */
  endTime: number;
  barMs: number;
  history: MarketHistory;
  /** What was left out or approximated, in plain words. */
  notes: string[];
  /** A description to store in the venue state (`meta`). */
  meta: { source: 'history'; dataDir: string; interval: HistoryInterval; from: number | null; to: number | null; assets: string[]; perps: string[] };
}

const PERP_RE = /^([^\s/:]+)\/([^\s/:]+):([^\s/:]+)$/;

/**
 * 10^(floor(log10 x) + shift), exact as a decimal: built from its decimal string, because float arithmetic
 * is not (`10 ** -5` is 0.000009999999999999999, `0.1 / 1e6` is 1.0000000000000001e-7) and the venue
 * checks amounts and prices against the step with exact decimals.
 */
function pow10Floor(x: number, shift = 0): number {
  return Number(`1e${Math.floor(Math.log10(x)) + shift}`);
}

/** 10^k with ~7 significant digits at `price` (BTC at 42,000: 0.01, like Binance). */
function priceStepFor(price: number): number {
  return Math.min(1, Math.max(1e-8, pow10Floor(price, -6)));
}

/** 10^k such that one step is worth less than 0.01 quote at `price`, at most 1. */
function amountStepFor(price: number): number {
  return Math.min(1, Math.max(1e-8, pow10Floor(0.01 / price)));
}

export function replayVenue(opts: ReplayVenueOptions): ReplayVenue {
  const p = opts.portfolio;
  if (p.quote !== 'USDT') throw new Error(`the bundled history is quoted in USDT; the portfolio's quote is ${p.quote}`);
  const quote = 'USDT' as const;
  const cash = p.classes.find((c) => c.cash);
  const stable = cash ? cash.assets.filter((a) => a !== quote) : [];
  const assets: string[] = [];
  for (const c of p.classes) for (const a of c.assets) if (a !== quote && !stable.includes(a) && !assets.includes(a)) assets.push(a);
  const notes: string[] = [];
  const perps: string[] = [];
  for (const c of p.classes) {
    if (!c.hedge) continue;
    const m = PERP_RE.exec(c.hedge);
    if (!m || m[2] !== quote || m[3] !== quote || !assets.includes(m[1]!)) {
      notes.push(`${c.hedge} (hedge of ${c.name}) has no history: it is not traded on the replay venue.`);
      continue;
    }
    if (!perps.includes(m[1]!)) perps.push(m[1]!);
  }
  for (const x of p.indexPerps) notes.push(`${x.symbol} (index perp) has no history: it is not traded on the replay venue.`);
  for (const s of stable) notes.push(`${s} has no market on the replay venue: it is never traded there.`);

  const h = loadHistory({
    dir: opts.dataDir,
    interval: opts.interval,
    assets,
    quote,
    perps,
    ...(opts.from !== undefined ? { from: opts.from } : {}),
    ...(opts.to !== undefined ? { to: opts.to } : {}),
  });
  if (h.times.length === 0) throw new Error('the history has no bar in the requested range');

  const markets: SimMarketConfig[] = [];
  const spotIdx: number[] = [];
  h.assets.forEach((a, k) => {
    if (h.stable[k]) return;
    const first = h.close[k]![0]!;
    markets.push({ symbol: `${a}/${quote}`, type: 'spot', base: a, amountStep: amountStepFor(first), priceStep: priceStepFor(first), minAmount: amountStepFor(first), minNotional: 5 });
    spotIdx.push(k);
  });
  h.perps.forEach((a, j) => {
    const first = h.perpClose[j]![0]!;
    markets.push({
      symbol: `${a}/${quote}:${quote}`,
      type: 'swap',
      base: a,
      amountStep: amountStepFor(first),
      priceStep: priceStepFor(first),
      minAmount: amountStepFor(first),
      minNotional: 5,
      contractSize: 1,
      maintenanceMarginRate: 0.004,
      maxLeverage: 125,
    });
  });

  const config: SimConfig = {
    id: opts.id ?? 'sim',
    quote,
    markets,
    balances: opts.balances ?? { [quote]: 100_000 },
    leverage: p.execution.leverage,
    ...(opts.fees ? { fees: opts.fees } : {}),
    ...(opts.fill ? { fill: opts.fill } : {}),
  };

  const barMs = h.intervalMs;
  const makeFeed = (): ArrayFeed => {
    const feed = new ArrayFeed({}, { barVisibleAfterMs: barMs });
    for (const k of spotIdx) {
      const symbol = `${h.assets[k]}/${quote}`;
      const [o, hi, lo, c, v] = [h.open[k]!, h.high[k]!, h.low[k]!, h.close[k]!, h.volume[k]!];
      for (let i = 0; i < h.times.length; i++) {
        feed.pushBar(symbol, { time: h.times[i]!, open: o[i]!, high: hi[i]!, low: lo[i]!, close: c[i]!, volume: Number.isFinite(v[i]!) ? v[i]! : 0 });
      }
    }
    h.perps.forEach((a, j) => {
      const symbol = `${a}/${quote}:${quote}`;
      const k = h.perpAsset[j]!;
      const [o, hi, lo, c, v, pc] = [h.open[k]!, h.high[k]!, h.low[k]!, h.close[k]!, h.volume[k]!, h.perpClose[j]!];
      for (let i = 0; i < h.times.length; i++) {
        const f = pc[i]! / c[i]!;
        const close = pc[i]!;
        const open = o[i]! * f;
        feed.pushBar(symbol, {
          time: h.times[i]!,
          open,
          high: Math.max(hi[i]! * f, open, close),
          low: Math.min(lo[i]! * f, open, close),
          close,
          volume: Number.isFinite(v[i]!) ? v[i]! : 0,
        });
      }
      const fs = h.funding[j]!;
      for (let e = 0; e < fs.time.length; e++) feed.pushFunding(symbol, fs.time[e]!, fs.rate[e]!);
    });
    return feed;
  };

  return {
    config,
    makeFeed,
    startTime: h.times[0]! + barMs,
    endTime: h.times[h.times.length - 1]! + barMs,
    barMs,
    history: h,
    notes: [...notes, ...h.coverage.notes],
    meta: { source: 'history', dataDir: opts.dataDir, interval: opts.interval, from: opts.from ?? null, to: opts.to ?? null, assets, perps },
  };
}

/**
 * The replay venue as a server (what `ballast sim-venue --replay` runs): state in `stateFile`, clock at
 * `speed` bars per second (0: only /advance), stopping at the close of the last bar.
 */
export function replayVenueServer(opts: ReplayVenueOptions & { stateFile: string; speed?: number; host?: string; sync?: boolean }): { server: VenueServer; replay: ReplayVenue } {
  const replay = replayVenue(opts);
  const server = new VenueServer({
    stateFile: opts.stateFile,
    ...(opts.sync !== undefined ? { sync: opts.sync } : {}),
    config: replay.config,
    makeFeed: replay.makeFeed,
    startTime: replay.startTime,
    barMs: replay.barMs,
    stopAt: replay.endTime,
    meta: replay.meta,
    schedule: Array.from(replay.history.times, (t) => t + replay.barMs),
    ...(opts.speed !== undefined ? { speed: opts.speed } : {}),
    ...(opts.host !== undefined ? { host: opts.host } : {}),
  });
  return { server, replay };
}
