/**
 * Sweeps on the bundled history (short ranges, small grids): the same figures on 0, 1 and 2 worker threads;
 * an interrupted sweep resumes from its results file and ends where an uninterrupted one does; the
 * frontier is the Pareto set of the figures; a walk-forward window's history is the one the loader gives
 * for that range.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPortfolio } from '../../src/adapters/files/portfolio.js';
import { loadHistory } from '../../src/adapters/history/history.js';
import type { MarketHistory } from '../../src/model/history.js';
import { DEFAULT_OPTIONS } from '../../src/backtest/engine.js';
import { historyNeeds } from '../../src/backtest/run.js';
import { evaluate, initialCost } from '../../src/tune/evaluate.js';
import { applyCell, parseGrid } from '../../src/tune/grid.js';
import { packHistory, sliceHistory, unpackHistory } from '../../src/tune/shared-history.js';
import { runTune, TuneInterrupted, type TuneRequest } from '../../src/tune/tune.js';
import { scratchDir } from '../cli/helpers.js';

const ROOT = join(import.meta.dirname, '..', '..');
const SEED = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
const needs = historyNeeds(SEED);
const load = (from: string, to: string): MarketHistory =>
  loadHistory({ dir: join(ROOT, 'data'), interval: '1d', assets: needs.assets, stable: needs.stable, perps: needs.perps, quote: 'USDT', from: Date.parse(from), to: Date.parse(to) });
const YEAR = load('2024-01-01', '2025-01-01');
const GRID = parseGrid('scale=0.5,1,2; to=target,halfway; instrument=spot,auto', SEED);
const scratch = scratchDir('ballast-tune-');
afterAll(() => scratch.remove());

const base = (o: Partial<TuneRequest> = {}): TuneRequest => ({ portfolio: SEED, history: YEAR, options: DEFAULT_OPTIONS, grid: GRID, objective: { kind: 'frontier' }, workers: 0, ...o });

function dominated(ps: { trackingError: number; totalCost: number }[], i: number): boolean {
  const p = ps[i]!;
  return ps.some((q, j) => j !== i && q.trackingError <= p.trackingError && q.totalCost <= p.totalCost && (q.trackingError < p.trackingError || q.totalCost < p.totalCost));
}

describe('tune sweep', () => {
  it('gives bit-for-bit the same figures on 0, 1 and 2 worker threads; the frontier is the Pareto set', async () => {
    const inline = await runTune(base());
    const one = await runTune(base({ workers: 1 }));
    const two = await runTune(base({ workers: 2 }));
    expect(inline.cells).toHaveLength(12);
    expect(one.cells).toEqual(inline.cells);
    expect(two.cells).toEqual(inline.cells);
    expect(two.current).toEqual(inline.current);
    expect(two.workers).toBe(2);
    // Independent check of the frontier: every pair compared.
    const ms = inline.cells.map((c) => c.metrics);
    expect(inline.frontier.slice().sort((a, b) => a - b)).toEqual(ms.map((_, i) => i).filter((i) => !dominated(ms, i)));
    // The figures move with the settings (the sweep does run different configurations).
    expect(new Set(ms.map((m) => m.totalCost)).size).toBeGreaterThan(6);
    // The chosen cell is on the frontier, no worse than the current configuration's tracking error.
    expect(inline.chosen).not.toBeNull();
    expect(inline.frontier).toContain(inline.chosen);
    expect(ms[inline.chosen!]!.trackingError).toBeLessThanOrEqual(inline.current.metrics.trackingError);
  }, 60_000);

  it('resumes an interrupted sweep from its results file, computing only what is missing', async () => {
    const file = join(scratch.dir, 'resume.jsonl');
    const stop = new AbortController();
    let seen = 0;
    const first = runTune(base({ workers: 2, resultsFile: file, onProgress: () => ++seen >= 4 && stop.abort(), signal: stop.signal }));
    await expect(first).rejects.toBeInstanceOf(TuneInterrupted);
    const saved = readFileSync(file, 'utf8').trim().split('\n').length;
    expect(saved).toBeGreaterThanOrEqual(4);
    expect(saved).toBeLessThan(12);
    // A kill in the middle of a write leaves half a line: it is ignored.
    appendFileSync(file, '{"key":"abc","metr');
    const resumed = await runTune(base({ workers: 2, resultsFile: file }));
    // 12 cells, of which one is the current configuration itself (bands ×1, to target, spot): 12 distinct runs.
    expect(resumed.resumed).toBe(saved);
    expect(resumed.computed).toBe(12 - saved);
    const fresh = await runTune(base());
    expect(resumed.cells).toEqual(fresh.cells);
    expect(resumed.frontier).toEqual(fresh.frontier);
    // Run again: everything is read back.
    const again = await runTune(base({ resultsFile: file }));
    expect(again).toMatchObject({ computed: 0, resumed: 12 });
    expect(again.cells).toEqual(fresh.cells);
  }, 60_000);

  it('walk-forward: per window the in-sample choice and its out-of-sample figures; a window is what the loader gives for that range', async () => {
    const two = load('2023-01-01', '2025-01-01');
    const grid = parseGrid('scale=0.5,1,2; to=target,halfway', SEED);
    const r = await runTune(base({ history: two, grid, walkForward: { train: { n: 6, unit: 'm', text: '6m' }, test: { n: 3, unit: 'm', text: '3m' } } }));
    expect(r.windows).toHaveLength(6);
    const w = r.windows![1]!;
    expect(new Date(w.test.from).toISOString().slice(0, 10)).toBe('2023-10-01');
    expect(new Date(w.test.to).toISOString().slice(0, 10)).toBe('2023-12-31');
    // The out-of-sample figures of the chosen cell, recomputed on history loaded for the test range alone.
    const h = load('2023-10-01', '2024-01-01');
    const cell = w.chosen === null ? {} : r.cells[w.chosen]!.cell;
    expect(w.outOfSample.chosen).toEqual(evaluate(applyCell(SEED, cell), h, DEFAULT_OPTIONS, initialCost(SEED, h, DEFAULT_OPTIONS)));
    expect(w.outOfSample.current).toEqual(evaluate(SEED, h, DEFAULT_OPTIONS, initialCost(SEED, h, DEFAULT_OPTIONS)));
  }, 60_000);

  it('a window sliced from the whole history equals the history loaded for that range', () => {
    const whole = load('2023-01-01', '2025-01-01');
    const part = load('2023-07-01', '2024-03-01');
    const i0 = whole.times.indexOf(part.times[0]!);
    const s = sliceHistory(whole, i0, i0 + part.times.length);
    expect(s.times).toEqual(part.times);
    expect(s.close).toEqual(part.close);
    expect(s.perpClose).toEqual(part.perpClose);
    expect(s.funding.map((f) => [f.time, f.rate, f.bar])).toEqual(part.funding.map((f) => [f.time, f.rate, f.bar]));
  });

  it('packs the history into one SharedArrayBuffer; unpacked copies are views on that memory, equal to the original', () => {
    const packed = packHistory(YEAR);
    expect(packed.buffer).toBeInstanceOf(SharedArrayBuffer);
    const a = unpackHistory(packed);
    const b = unpackHistory(structuredClone(packed));
    expect(a).toEqual(YEAR);
    expect(a.close[0]!.buffer).toBe(packed.buffer);
    // Views on one memory: what one sees the other sees (a structured clone shares a SharedArrayBuffer, as postMessage does).
    const before = a.close[0]![5]!;
    a.close[0]![5] = -1;
    expect(b.close[0]![5]).toBe(-1);
    a.close[0]![5] = before;
  });
});
