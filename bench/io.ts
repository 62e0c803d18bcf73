/**
 * `npm run bench:io` — how fast the bundled history loads. These figures used to be wall-clock limits inside
 * correctness tests (which flake on a loaded machine); here they are measured and printed against their
 * budgets, best of `--reps N` runs (default 5) after one cold run.
 *
 *   csv:   readBars of data/prices/1h/BTCUSDT.csv (57,368 rows)                     budget 100 ms
 *   load:  loadHistory of 10 assets at 1h with their perps (38,265 aligned hours)   budget 2,000 ms
 *
 * Exit status 1 when a best run is over its budget.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadHistory, readBars } from '../src/adapters/history/index.js';

const DATA = join(fileURLToPath(new URL('../', import.meta.url)), 'data');
const args = process.argv.slice(2);
const at = args.indexOf('--reps');
const reps = at >= 0 ? Math.max(1, Number(args[at + 1]) || 1) : 5;

function measure(name: string, budgetMs: number, fn: () => unknown): boolean {
  const times: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  const [cold, ...warm] = times;
  const best = Math.min(...warm);
  const ok = best <= budgetMs;
  process.stdout.write(`${name}: best ${best.toFixed(1)} ms of ${reps} (cold ${cold!.toFixed(1)} ms), budget ${budgetMs} ms${ok ? '' : ' — OVER BUDGET'}\n`);
  return ok;
}

const assets = ['BTC', 'ETH', 'BNB', 'SOL', 'XRP', 'ADA', 'DOGE', 'AVAX', 'LINK', 'LTC'];
const results = [
  measure('csv  readBars BTC 1h (57,368 rows)', 100, () => readBars(join(DATA, 'prices/1h/BTCUSDT.csv'))),
  measure('load loadHistory 10 assets 1h + perps', 2_000, () => loadHistory({ dir: DATA, interval: '1h', assets, quote: 'USDT', perps: assets })),
];
if (results.includes(false)) process.exitCode = 1;
