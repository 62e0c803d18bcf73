/**
 * S1 — `ballast tune` grid throughput: the seed four-class portfolio (examples/backtest/portfolio.yaml)
 * over all bundled daily history, a grid of spot configurations (band scale × per-class BTC and ETH scale
 * × destination × mode), run through the tuning pool on 1 worker thread and then on N (default: every
 * core), in the same process on the same loaded history. Prints cells per second for each, the scaling
 * ratio (time on 1 ÷ time on N) against the ideal N, and checks that both runs gave identical figures.
 * No results file is written (only the sweep is timed); the worker bundle is built before timing.
 *
 * Runs alternate (1, N, 1, N, …, `--reps`, default 2) so a change in the machine's load hits both; the best
 * of each is reported, with the CPU time the process obtained (all threads) during it.
 *
 * Usage: npm run bench -- S1 [--cells N] [--workers N] [--reps N]      (default 10,800 cells: the whole grid)
 */
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPortfolio } from '../src/adapters/files/portfolio.js';
import { loadHistory } from '../src/adapters/history/history.js';
import { DEFAULT_OPTIONS } from '../src/backtest/engine.js';
import { historyNeeds } from '../src/backtest/run.js';
import { cells, parseGrid } from '../src/tune/grid.js';
import { workerRunner } from '../src/tune/pool.js';
import { packHistory } from '../src/tune/shared-history.js';
import type { Task, TaskResult } from '../src/tune/task.js';
import { tuneWorkerFile } from '../src/tune/worker-file.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

export const S1_GRID =
  'scale=0.5,0.6,0.7,0.8,0.9,1,1.1,1.2,1.3,1.4,1.5,1.6,1.7,1.8,1.9,2,2.2,2.4,2.6,2.8; to=target,band-edge,halfway; ' +
  'mode=threshold,hybrid:weekly,hybrid:monthly,calendar:weekly,calendar:monthly; scale.BTC=0.8,0.9,1,1.1,1.2,1.3; scale.ETH=0.8,0.9,1,1.1,1.2,1.3';

export async function t1(args: string[]): Promise<void> {
  const at = (k: string) => (args.indexOf(k) >= 0 ? Number(args[args.indexOf(k) + 1]) : undefined);
  const n = at('--workers') ?? availableParallelism();
  const p = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
  const needs = historyNeeds(p);
  const h = loadHistory({ dir: join(ROOT, 'data'), interval: '1d', assets: needs.assets, stable: needs.stable, perps: needs.perps, quote: 'USDT' });
  const all = cells(parseGrid(S1_GRID, p));
  const want = Math.min(all.length, at('--cells') ?? all.length);
  // An even sample of the grid when fewer cells are asked for.
  const picked = Array.from({ length: want }, (_, i) => all[Math.floor((i * all.length) / want)]!);
  const tasks: Task[] = picked.map((cell, id) => ({ id, cell, from: 0, to: h.times.length }));
  await tuneWorkerFile();
  const packed = packHistory(h);
  const ctx = { portfolio: p, options: DEFAULT_OPTIONS };
  /** One timed sweep: wall time, and CPU time of the whole process (every thread) over the same span. */
  const sweep = async (workers: number): Promise<{ seconds: number; cpu: number; results: TaskResult[] }> => {
    const runner = await workerRunner(packed, ctx, workers);
    try {
      // Warm-up: one small batch per worker (thread start, module load, JIT), not timed.
      await runner.run(tasks.slice(0, 4 * workers), () => {});
      const results: TaskResult[] = [];
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await runner.run(tasks, (r) => results.push(r));
      const seconds = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      return { seconds, cpu: (c.user + c.system) / 1e6, results: results.sort((a, b) => a.id - b.id) };
    } finally {
      await runner.close();
    }
  };
  // Interleaved (1, N, 1, N, …) so that a change in the machine's load hits both; the best of each is reported.
  const reps = Math.max(1, at('--reps') ?? 2);
  const ones: Awaited<ReturnType<typeof sweep>>[] = [];
  const manys: Awaited<ReturnType<typeof sweep>>[] = [];
  for (let k = 0; k < reps; k++) {
    ones.push(await sweep(1));
    manys.push(await sweep(n));
  }
  const best = (xs: typeof ones) => xs.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const one = best(ones);
  const many = best(manys);
  const same = [...ones, ...manys].every((r) => JSON.stringify(r.results) === JSON.stringify(one.results));
  const assetBars = h.times.length * h.assets.length;
  const f = (x: number, d = 2) => x.toFixed(d);
  const runs = (xs: typeof ones) => xs.map((r) => `${f(r.seconds)} s (cpu ${f(r.cpu)} s)`).join(' / ');
  console.log(
    `S1 tune grid: ${want.toLocaleString('en-US')} spot configurations of the seed portfolio × ${h.times.length} daily bars (${assetBars.toLocaleString('en-US')} asset-bars each), history shared (SharedArrayBuffer, ${(packed.buffer.byteLength / 1024).toFixed(0)} KiB); ${reps} interleaved run(s) each, best reported`,
  );
  console.log(`    1 worker:  ${f(one.seconds)} s = ${f(want / one.seconds, 0)} cells/s (${f((one.seconds / want) * 1000, 3)} ms per cell); runs ${runs(ones)}`);
  console.log(
    `    ${n} workers: ${f(many.seconds)} s = ${f(want / many.seconds, 0)} cells/s; scaling ${f(one.seconds / many.seconds)}× (ideal ${n}×, ratio to ideal ${f(one.seconds / many.seconds / n)}); runs ${runs(manys)}`,
  );
  console.log(
    `    CPU obtained during the best ${n}-worker run: ${f(many.cpu / many.seconds)} cores on average (the machine's other load shows here); ` +
      `results identical on every run: ${same ? 'yes' : 'NO'}; ${availableParallelism()} cores, load average ${loadavg().map((x) => f(x)).join(' ')}`,
  );
  if (!same) process.exitCode = 1;
}

