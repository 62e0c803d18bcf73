/**
 * Market histories built in memory, in the same struct-of-arrays shape `loadHistory` returns: for
 * hand-computed tests (explicit bars) and benchmarks (seeded random walks). Never used for real data.
 */
import type { HistoryInterval, MarketHistory } from '../model/history.js';
import { Mulberry32 } from '../model/random.js';

export interface ExplicitAsset {
  name: string;
  /** Close per bar; open/high/low default to the close, volume to 1e9. */
  close: number[];
  open?: number[];
  high?: number[];
  low?: number[];
  volume?: number[];
}

export interface ExplicitHistory {
  times: number[];
  intervalMs?: number;
  assets: ExplicitAsset[];
  /** Stablecoins priced at 1 (the quote is implied). */
  stable?: string[];
  /** Base assets with perps; their perp close is the spot close. */
  perps?: string[];
  /** Funding events per perp base: [time ms, rate]. */
  funding?: Record<string, [number, number][]>;
}

export function explicitHistory(x: ExplicitHistory): MarketHistory {
  const n = x.times.length;
  const times = Float64Array.from(x.times);
  const assets = x.assets.map((a) => a.name);
  const col = (v: number[] | undefined, fallback: number[]) => Float64Array.from(v ?? fallback);
  const open = x.assets.map((a) => col(a.open, a.close));
  const high = x.assets.map((a) => col(a.high, a.close));
  const low = x.assets.map((a) => col(a.low, a.close));
  const close = x.assets.map((a) => col(a.close, a.close));
  const volume = x.assets.map((a) => col(a.volume, a.close.map(() => 1e9)));
  const stable = assets.map(() => false);
  for (const s of x.stable ?? []) {
    assets.push(s);
    stable.push(true);
    const ones = new Float64Array(n).fill(1);
    open.push(ones);
    high.push(ones);
    low.push(ones);
    close.push(ones);
    volume.push(new Float64Array(n).fill(NaN));
  }
  const perps = x.perps ?? [];
  const intervalMs = x.intervalMs ?? 86_400_000;
  const funding = perps.map((p) => {
    const ev = x.funding?.[p] ?? [];
    const bar = Int32Array.from(ev.map(([t]) => {
      let i = 0;
      while (i + 1 < n && times[i + 1]! <= t) i++;
      return i;
    }));
    return { time: Float64Array.from(ev.map((e) => e[0])), rate: Float64Array.from(ev.map((e) => e[1])), bar };
  });
  return base({ intervalMs, times, assets, stable, open, high, low, close, volume, perps, funding });
}

function base(h: Pick<MarketHistory, 'times' | 'assets' | 'stable' | 'open' | 'high' | 'low' | 'close' | 'volume' | 'perps' | 'funding'> & { intervalMs: number }): MarketHistory {
  const n = h.times.length;
  const perpAsset = h.perps.map((p) => h.assets.indexOf(p));
  const interval: HistoryInterval = h.intervalMs >= 86_400_000 ? '1d' : '1h';
  return {
    ...h,
    interval,
    quote: 'USDT',
    perpAsset,
    perpClose: perpAsset.map((a) => h.close[a]!),
    perpFromPerpFile: perpAsset.map(() => new Uint8Array(n)),
    perpFromSpot: perpAsset.map(() => n),
    marks: h.perps.map(() => ({ time: new Float64Array(0), price: new Float64Array(0) })),
    coverage: {
      interval,
      requestedFrom: null,
      requestedTo: null,
      start: h.times[0] ?? 0,
      end: h.times[n - 1] ?? 0,
      bars: n,
      gridBars: n,
      skippedBars: 0,
      gaps: [],
      assets: [],
      perps: [],
      notes: ['synthetic history (generated in memory)'],
    },
  };
}

/**
 * Seeded geometric random walks: `assets` assets × `bars` bars of `intervalMs`, each with a perp and a
 * funding settlement every `fundingEvery` bars (rate drawn around +0.01%).
 */
export function randomHistory(opts: { assets: number; bars: number; intervalMs: number; seed: number; fundingEvery: number; stable?: string[] }): MarketHistory {
  const rng = new Mulberry32(opts.seed);
  const n = opts.bars;
  const times = new Float64Array(n);
  const t0 = Date.UTC(2020, 0, 1);
  for (let i = 0; i < n; i++) times[i] = t0 + i * opts.intervalMs;
  const names: string[] = [];
  const open: Float64Array[] = [];
  const high: Float64Array[] = [];
  const low: Float64Array[] = [];
  const close: Float64Array[] = [];
  const volume: Float64Array[] = [];
  const vol = opts.intervalMs >= 86_400_000 ? 0.03 : 0.03 * Math.sqrt(opts.intervalMs / 86_400_000);
  for (let a = 0; a < opts.assets; a++) {
    names.push(`A${String(a).padStart(3, '0')}`);
    const o = new Float64Array(n);
    const hi = new Float64Array(n);
    const lo = new Float64Array(n);
    const c = new Float64Array(n);
    const v = new Float64Array(n);
    let p = 10 + 990 * rng.next();
    for (let i = 0; i < n; i++) {
      o[i] = p;
      const r = (rng.next() - 0.5) * 2 * vol * Math.sqrt(3);
      p = Math.max(p * (1 + r), 1e-6);
      c[i] = p;
      hi[i] = Math.max(o[i]!, p) * (1 + rng.next() * vol * 0.5);
      lo[i] = Math.min(o[i]!, p) * (1 - rng.next() * vol * 0.5);
      v[i] = 1e6 * (0.5 + rng.next());
    }
    open.push(o);
    high.push(hi);
    low.push(lo);
    close.push(c);
    volume.push(v);
  }
  const stable = names.map(() => false);
  for (const s of opts.stable ?? []) {
    names.push(s);
    stable.push(true);
    for (const arr of [open, high, low, close]) arr.push(new Float64Array(n).fill(1));
    volume.push(new Float64Array(n).fill(NaN));
  }
  const perps = names.filter((_, i) => !stable[i]);
  const funding = perps.map(() => {
    const k = Math.floor(n / opts.fundingEvery);
    const time = new Float64Array(k);
    const rate = new Float64Array(k);
    const bar = new Int32Array(k);
    for (let j = 0; j < k; j++) {
      bar[j] = (j + 1) * opts.fundingEvery - 1;
      time[j] = times[bar[j]!]!;
      rate[j] = 0.0001 + (rng.next() - 0.5) * 0.0004;
    }
    return { time, rate, bar };
  });
  return base({ intervalMs: opts.intervalMs, times, assets: names, stable, open, high, low, close, volume, perps, funding });
}
