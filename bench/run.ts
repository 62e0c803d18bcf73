/**
 * `npm run bench` — backtester speed. Each workload prints asset-bars per second and, measured in the
 * same process on the same data, the ratio to a plain pass summing the Float64Array closes (the machine's
 * ceiling for touching the data). Synthetic bars are seeded; B0 uses the bundled real history.
 *
 *   B1 dense:  100 assets × 10,000 daily bars, every bar rebalanced to equal weights (calendar-daily, spot),
 *              fees, slippage, funding events on every bar and the liquidation check on.
 *   B2 sparse: 20 assets × 525,600 one-minute bars, daily rebalance, funding every 480 bars,
 *              liquidation check every bar.
 *   B0:        the seed four-class portfolio over all bundled daily history, every policy: wall time
 *              (load + run) and peak memory (the process's peak RSS, getrusage maxrss, after the first run).
 *   S1:        `ballast tune` grid throughput on 1 and on N worker threads (bench/tune.ts; run only when named).
 *   B3:        the many-portfolio monitor, 1,000,000 portfolios × 10 positions (bench/scale.ts; run only when named).
 *   A1:        the HTTP API over a journal of 500,000 one-minute cycles, 32 concurrent loopback clients:
 *              /api/history, /api/journal (first and deep page) against /api/status; the journal's bytes per
 *              cycle (bench/api.ts; run only when named; --cycles N --clients N --seconds N --rebuild --backfill).
 *   B4:        many portfolios end to end on PostgreSQL + Redis: sim-venue, serve and 1 / 4 workers as processes,
 *              10,000 paper portfolios over one day of hourly prices (bench/scale-e2e.ts; run only when named;
 *              --portfolios N --workers 1,4 --concurrency C --hours H --day YYYY-MM-DD --feed-every S).
 *
 * Each workload runs in its own child process (so one workload's memory does not count toward the next
 * one's peak), `--reps N` times (default 8 for B1 and B2, 3 for B0; each a full run from a fresh ledger and fresh output arrays).
 * The figure is the best run; the first (cold: JIT warm-up, first-touch page faults) is printed too.
 * The engine does the full work on every bar (prices, funding schedule, liquidation check, valuation,
 * trigger, metrics: returns, drawdown, time in band, tracking error); it records the series (equity,
 * weights, hedge, funding) at ≤ 5,000 points (BacktestOptions.maxPoints, the report's resolution).
 * Under a spot policy no futures position is ever open, so funding events settle nothing and the
 * liquidation check finds nothing to check: the counters below say so rather than hide it.
 *
 * The children run this file bundled to plain JavaScript by esbuild (out/bench-run.mjs) on plain node,
 * with no module loader hooks — as `bin/ballast.js` runs the CLI.
 *
 *   Q1:        the quality benchmark (bench/quality.ts): does hedging pay on real history? Per policy, over
 *              the whole range and per calendar year: time in band, tracking error and every cost line,
 *              with each cost's ratio to spot threshold's. Not part of the default list.
 *
 * Usage: npm run bench [-- B1 B2 B0 Q1 S1 A1 B3 B4] [--reps N] [--hugepages] [--tsx] [--cells N --workers N (S1)]
 *   --hugepages  runs the children with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (transparent huge pages
 *                for large allocations): an environment setting, reported on every line it affects.
 *   --tsx        runs the children as TypeScript through tsx's loader instead. On Node 20 its off-thread
 *                loader hooks invalidate V8's ArrayBufferDetaching protector (`node
 *                --trace-protector-invalidation` shows it at the first hooked import), after which
 *                optimized code checks every typed-array access for a detached buffer: the engine and the
 *                plain sum both run about a fifth slower. This is why `ballast` runs bundled JavaScript.
 */
import { Buffer } from 'node:buffer';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPortfolio } from '../src/adapters/files/portfolio.js';
import type { MarketHistory } from '../src/model/history.js';
import { DEFAULT_OPTIONS, runPolicy, type PolicyRun } from '../src/backtest/engine.js';
import { standardPolicies } from '../src/backtest/policies.js';
import { runBacktest } from '../src/backtest/run.js';
import { randomHistory } from '../src/backtest/synthetic.js';
import type { Portfolio } from '../src/core/types.js';
import { cls, portfolio } from '../test/core/builders.js';
import { q1 } from './quality.js';
import { t1 } from './tune.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const args = process.argv.slice(2);
const WORKLOADS = ['A1', 'B0', 'B1', 'B2', 'B3', 'B4', 'Q1', 'S1'] as const;
const want = args.filter((a) => /^[a-z]\d$/i.test(a));
const repsAt = args.indexOf('--reps');
const explicitReps = repsAt >= 0 ? Math.max(1, Number(args[repsAt + 1]) || 1) : undefined;
// B1/B2 runs take a fraction of a second: 8 runs reach the JIT's steady state on a busy machine. B0's
// figure is wall time including the load: 3 runs, as before.
const reps = explicitReps ?? (want[0] === 'B0' ? 3 : 8);
const hugepages = args.includes('--hugepages') || process.env.GLIBC_TUNABLES?.includes('hugetlb=1') === true;
const child = args.includes('--child');
const compiled = !args.includes('--tsx');

if (!child) {
  // Parent: one child process per workload, in order.
  const unknown = want.filter((w) => !(WORKLOADS as readonly string[]).includes(w));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown workload ${unknown.join(', ')}: choose ${WORKLOADS.join(', ')}\n`);
    process.exit(2);
  }
  const list = want.length > 0 ? want : ['B1', 'B2', 'B0'];
  const env = hugepages ? { ...process.env, GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' } : process.env;
  // This file and what it imports as one ESM file under out/ (so that `../` is still the project root
  // and bare imports resolve to its node_modules), run by plain node; --tsx: this file through tsx.
  let script = fileURLToPath(import.meta.url);
  let nodeArgs = process.execArgv;
  if (compiled) {
    const { buildSync } = await import('esbuild');
    script = join(ROOT, 'out', 'bench-run.mjs');
    buildSync({ entryPoints: [fileURLToPath(import.meta.url)], bundle: true, platform: 'node', format: 'esm', packages: 'external', target: 'node20', outfile: script, logLevel: 'warning' });
    nodeArgs = [];
  }
  console.log(
    `node ${process.version}, ${explicitReps ?? '8 (B1, B2) / 3 (B0)'} run(s) per workload, best run reported${hugepages ? ', GLIBC_TUNABLES=glibc.malloc.hugetlb=1' : ''}, ` +
      (compiled ? 'plain node on out/bench-run.mjs (esbuild bundle, no loader hooks, as `ballast` runs)' : 'TypeScript through tsx loader hooks (--tsx)'),
  );
  let failed = false;
  for (const w of list) {
    const named =
      w === 'S1'
        ? ['--cells', '--workers']
        : w === 'A1'
          ? ['--cycles', '--clients', '--seconds']
          : w === 'B4'
            ? ['--portfolios', '--workers', '--concurrency', '--hours', '--day', '--feed-every']
            : [];
    const s1Args = [...named.flatMap((k) => (args.includes(k) ? [k, args[args.indexOf(k) + 1]!] : [])), ...(w === 'A1' ? ['--rebuild', '--backfill'].filter((f) => args.includes(f)) : [])];
    const r = spawnSync(process.execPath, [...nodeArgs, script, w, ...(explicitReps !== undefined ? ['--reps', String(explicitReps)] : []), ...s1Args, '--child'], { stdio: 'inherit', env });
    if (r.status !== 0) failed = true;
  }
  process.exit(failed ? 1 : 0);
}

/** The plain pass: sum every close of every asset, bar-major like the engine (best of 5). */
function ceiling(h: MarketHistory): number {
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
  if (!Number.isFinite(sum)) throw new Error('ceiling pass: non-finite sum');
  return best;
}

/**
 * What writing `bytes` of fresh memory costs on this machine (page faults on first touch): allocate an
 * uninitialised block like the engine's series and write one double per 4 KiB page (best of 3).
 */
function freshMemoryMs(bytes: number): number {
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    const block = new Float64Array(Buffer.allocUnsafeSlow(bytes).buffer);
    for (let i = 0; i < block.length; i += 512) block[i] = i;
    best = Math.min(best, performance.now() - t0);
    if (block[0] !== 0) throw new Error('unreachable');
  }
  return best;
}

function equalWeights(h: MarketHistory, schedule: 'daily'): Portfolio {
  const risky = h.assets.filter((_, i) => !h.stable[i]);
  const w = 0.9 / risky.length;
  const classes = risky.map((a) => cls(a, w, Math.min(w, 0.005), [a], { hedge: `${a}/USDT:USDT` }));
  classes.push(cls('Cash', 1 - w * risky.length, 0.05, ['USDT'], { cash: true }));
  return portfolio(classes, { rebalance: { mode: 'calendar', schedule } });
}

const fmt = (x: number, d = 2) => x.toFixed(d);

function workload(name: string, h: MarketHistory, p: Portfolio, policy: string): void {
  const spec = standardPolicies(p).find((s) => s.name === policy)!;
  const risky = h.assets.filter((_, i) => !h.stable[i]).length;
  const assetBars = h.times.length * risky;
  const seconds: number[] = [];
  const cpu: number[] = [];
  let run: PolicyRun | undefined;
  for (let r = 0; r < reps; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    run = runPolicy(p, spec, h, { ...DEFAULT_OPTIONS, capital: 1_000_000, slippage: 0.0005 });
    seconds.push((performance.now() - t0) / 1000);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1e6);
  }
  const best = Math.min(...seconds);
  const bestAt = seconds.indexOf(best);
  const rate = assetBars / best;
  const ceilingRate = assetBars / ceiling(h);
  const c = run!.counters;
  const fundingEvents = h.funding.reduce((t, f) => t + f.bar.length, 0);
  const outBytes = run!.series.times.length * (run!.series.weights.length + 2) * 8;
  console.log(
    `${name}: ${fmt(assetBars / 1e6)} M asset-bars in ${fmt(best, 3)} s = ${fmt(rate / 1e6)} M asset-bars/s; ` +
      `plain sum of closes ${fmt(ceilingRate / 1e6, 0)} M/s; ratio ${fmt(rate / ceilingRate, 4)}`,
  );
  console.log(
    `    runs ${seconds.map((s) => fmt(s, 3)).join(' / ')} s (first = cold); best run cpu ${fmt(cpu[bestAt]!, 3)} s; ` +
      `${c.rebalances} rebalances, ${c.orders} orders, fees ${fmt(c.fees, 0)}, slippage ${fmt(c.slippage, 0)}; ` +
      `${run!.plans} decisions (${run!.kernelPlans} by the kernel, ${run!.plans - run!.kernelPlans} by plan())`,
  );
  console.log(
    `    funding events in range ${fundingEvents}, settled ${c.fundingPaid + c.fundingReceived > 0 ? 'yes' : 'none (no futures position open)'}; ` +
      `liquidations ${c.liquidations}; series recorded at ${run!.series.times.length} points (${fmt(outBytes / 2 ** 20, 1)} MiB), ` +
      `first touch of that much fresh memory here ≈ ${fmt(freshMemoryMs(outBytes), 0)} ms${hugepages ? ' (huge pages)' : ''}`,
  );
}

const which = want[0];
if (which === 'B1') {
  const h = randomHistory({ assets: 100, bars: 10_000, intervalMs: 86_400_000, seed: 1, fundingEvery: 1, stable: ['USDT'] });
  workload('B1 dense  (100 assets × 10,000 bars, rebalance every bar)', h, equalWeights(h, 'daily'), 'calendar-daily');
} else if (which === 'B2') {
  const h = randomHistory({ assets: 20, bars: 525_600, intervalMs: 60_000, seed: 2, fundingEvery: 480, stable: ['USDT'] });
  workload('B2 sparse (20 assets × 525,600 1-minute bars, daily rebalance)', h, equalWeights(h, 'daily'), 'calendar-daily');
} else if (which === 'B0') {
  const p = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
  const seconds: number[] = [];
  let r: ReturnType<typeof runBacktest> | undefined;
  let peak = 0;
  for (let k = 0; k < reps; k++) {
    const t0 = performance.now();
    r = runBacktest({ portfolio: p, dataDir: join(ROOT, 'data'), interval: '1d', options: {} });
    seconds.push((performance.now() - t0) / 1000);
    // Peak memory of one backtest: the process's peak RSS after the first (later runs add garbage).
    if (k === 0) peak = process.resourceUsage().maxRSS * 1024;
  }
  const best = Math.min(...seconds);
  const assetBars = r!.history.times.length * r!.history.assets.length * r!.series.length;
  console.log(
    `B0 seed portfolio, ${r!.series.length} policies × ${r!.history.times.length} daily bars: ${fmt(best)} s wall (load + run; runs ${seconds.map((s) => fmt(s)).join(' / ')} s), ` +
      `${fmt(assetBars / best / 1e6, 3)} M asset-bars/s, ${r!.plans} decisions (${r!.kernelPlans} by the kernel), peak RSS ${fmt(peak / 2 ** 20, 0)} MiB`,
  );
} else if (which === 'Q1') {
  q1(ROOT);
} else if (which === 'S1') {
  // `ballast tune` grid throughput on 1 and N worker threads (bench/tune.ts).
  await t1(args);
} else if (which === 'A1') {
  // the HTTP API over a year of minute cycles (bench/api.ts); `--a1-serve FILE`: the server half, in its own process
  const { a1, serve } = await import('./api.js');
  const at = args.indexOf('--a1-serve');
  if (at >= 0) await serve(ROOT, args[at + 1]!);
  else await a1(ROOT, fileURLToPath(import.meta.url), args);
} else if (which === 'B3') {
  // the many-portfolio monitor (bench/scale.ts)
  (await import('./scale.js')).b3(explicitReps ?? 8);
} else if (which === 'B4') {
  // many portfolios end to end: venue, serve and workers as processes on real PostgreSQL and Redis (bench/scale-e2e.ts)
  await (await import('./scale-e2e.js')).b4(ROOT, args);
} else {
  throw new Error(`unknown workload ${String(which)}: choose ${WORKLOADS.join(', ')}`);
}
