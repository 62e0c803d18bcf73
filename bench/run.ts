/**
 * `npm run bench` — backtester speed. Each workload prints asset-bars per second and, measured in the
 * same run on the same data, the ratio to a plain pass summing the Float64Array closes (the machine's
 * ceiling for touching the data). Synthetic bars are seeded; B0 uses the bundled real history.
 *
 *   B1 dense:  100 assets × 10,000 daily bars, every bar rebalanced to equal weights, fees, slippage,
 *              funding settlement and liquidation checks on.
 *   B2 sparse: 20 assets × 525,600 one-minute bars, daily rebalance, funding every 480 bars,
 *              liquidation check every bar.
 *   B0:        the seed four-class portfolio over all bundled daily history, every policy: wall time and peak memory.
 *
 * Usage: npm run bench [-- B1 B2 B0]
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPortfolio } from '../src/adapters/files/portfolio.js';
import type { MarketHistory } from '../src/adapters/history/history.js';
import { DEFAULT_OPTIONS, runPolicy } from '../src/backtest/engine.js';
import { standardPolicies } from '../src/backtest/policies.js';
import { runBacktest } from '../src/backtest/run.js';
import { randomHistory } from '../src/backtest/synthetic.js';
import type { Portfolio } from '../src/core/types.js';
import { cls, portfolio } from '../test/core/builders.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function ceiling(h: MarketHistory): { seconds: number; sum: number } {
  // The plain pass: sum every close of every asset, bar-major like the engine.
  let best = Infinity;
  let sum = 0;
  for (let rep = 0; rep < 5; rep++) {
    const t0 = performance.now();
    sum = 0;
    const n = h.times.length;
    const closes = h.close;
    for (let i = 0; i < n; i++) for (let a = 0; a < closes.length; a++) sum += closes[a]![i]!;
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return { seconds: best, sum };
}

function equalWeights(h: MarketHistory, schedule: 'daily'): Portfolio {
  const risky = h.assets.filter((_, i) => !h.stable[i]);
  const w = 0.9 / risky.length;
  const classes = risky.map((a) => cls(a, w, Math.min(w, 0.005), [a], { hedge: `${a}/USDT:USDT` }));
  classes.push(cls('Cash', 1 - w * risky.length, 0.05, ['USDT'], { cash: true }));
  return portfolio(classes, { rebalance: { mode: 'calendar', schedule } });
}

function report(name: string, h: MarketHistory, seconds: number, extra = ''): void {
  const assetBars = h.times.length * h.assets.filter((_, i) => !h.stable[i]).length;
  const rate = assetBars / seconds;
  const c = ceiling(h);
  const ceilingRate = assetBars / c.seconds;
  console.log(
    `${name}: ${(assetBars / 1e6).toFixed(2)} M asset-bars in ${seconds.toFixed(3)} s = ${(rate / 1e6).toFixed(2)} M asset-bars/s; ` +
      `plain sum of closes ${(ceilingRate / 1e6).toFixed(0)} M/s; ratio ${(rate / ceilingRate).toFixed(4)}${extra}`,
  );
}

function workload(name: string, h: MarketHistory, p: Portfolio, policy: string): void {
  const spec = standardPolicies(p).find((s) => s.name === policy)!;
  const t0 = performance.now();
  const run = runPolicy(p, spec, h, { ...DEFAULT_OPTIONS, capital: 1_000_000, slippage: 0.0005 });
  const seconds = (performance.now() - t0) / 1000;
  report(name, h, seconds, `; ${run.counters.rebalances} rebalances, ${run.counters.orders} orders, ${run.plans} planner calls`);
}

const want = process.argv.slice(2).filter((a) => /^B\d$/.test(a));
const on = (b: string) => want.length === 0 || want.includes(b);

if (on('B1')) {
  const h = randomHistory({ assets: 100, bars: 10_000, intervalMs: 86_400_000, seed: 1, fundingEvery: 1, stable: ['USDT'] });
  workload('B1 dense  (100 assets × 10,000 bars, rebalance every bar)', h, equalWeights(h, 'daily'), 'calendar-daily');
}
if (on('B2')) {
  const h = randomHistory({ assets: 20, bars: 525_600, intervalMs: 60_000, seed: 2, fundingEvery: 480, stable: ['USDT'] });
  workload('B2 sparse (20 assets × 525,600 1-minute bars, daily rebalance)', h, equalWeights(h, 'daily'), 'calendar-daily');
}
if (on('B0')) {
  const p = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  const t0 = performance.now();
  const r = runBacktest({ portfolio: p, dataDir: join(ROOT, 'data'), interval: '1d', options: {} });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().rss);
  const assetBars = r.history.times.length * r.history.assets.length * r.series.length;
  console.log(
    `B0 seed portfolio, ${r.series.length} policies × ${r.history.times.length} daily bars: ${seconds.toFixed(2)} s wall (load + run), ` +
      `${(assetBars / seconds / 1e6).toFixed(3)} M asset-bars/s, ${r.plans} planner calls, peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`,
  );
}
