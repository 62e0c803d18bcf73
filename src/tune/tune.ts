/**
 * `ballast tune`: run every cell of a grid over the history, find the Pareto frontier of tracking error
 * against total cost, pick the configuration an objective asks for, and (walk-forward) check the choice
 * on data it was not chosen on.
 *
 *   1. tasks: the current configuration and every grid cell over the whole range, plus — with a
 *      walk-forward — each of them over every training window;
 *   2. tasks whose key is in the results file are read back, the rest run on the pool, each result
 *      appended to the file as it arrives;
 *   3. frontier and choice over the whole range; per training window the objective's choice, then that
 *      choice and the current configuration over the test window that follows it.
 */
import type { BacktestOptions } from '../backtest/engine.js';
import type { MarketHistory } from '../model/history.js';
import type { Portfolio } from '../core/types.js';
import type { CellMetrics } from './evaluate.js';
import { choose, paretoFrontier, type Objective } from './frontier.js';
import { applyCell, cellLabel, cells as gridCells, TuneSpecError, type Cell, type Grid } from './grid.js';
import { inProcessRunner, workerRunner, type Runner } from './pool.js';
import { ResultsFile, resultKey, type ResultLine } from './results.js';
import { barAt, historyFingerprint, packHistory } from './shared-history.js';
import type { Task } from './task.js';

export interface Duration {
  n: number;
  unit: 'd' | 'w' | 'm' | 'y';
  text: string;
}

export interface WalkForwardSpec {
  train: Duration;
  test: Duration;
}

/** `2y/6m`, `18m/3m`, `365d/90d`, `52w/13w`. */
export function parseWalkForward(spec: string): WalkForwardSpec {
  const parts = spec.split('/');
  const one = (s: string | undefined, what: string): Duration => {
    const m = /^(\d+)([dwmy])$/.exec((s ?? '').trim());
    if (!m || Number(m[1]) === 0) throw new TuneSpecError(`--walk-forward: ${what} "${s ?? ''}" is not a whole number above 0 followed by d, w, m or y (e.g. 2y/6m)`);
    return { n: Number(m[1]), unit: m[2] as Duration['unit'], text: m[0] };
  };
  if (parts.length !== 2) throw new TuneSpecError(`--walk-forward: "${spec}" is not TRAIN/TEST (e.g. 2y/6m)`);
  return { train: one(parts[0], 'training length'), test: one(parts[1], 'test length') };
}

/** t + d, calendar-aware for months and years (UTC). */
export function addDuration(t: number, d: Duration): number {
  const day = 86_400_000;
  if (d.unit === 'd') return t + d.n * day;
  if (d.unit === 'w') return t + d.n * 7 * day;
  const x = new Date(t);
  const months = d.unit === 'm' ? d.n : 12 * d.n;
  return Date.UTC(x.getUTCFullYear(), x.getUTCMonth() + months, x.getUTCDate(), x.getUTCHours(), x.getUTCMinutes());
}

export interface Window {
  /** Bar indices: training [trainFrom, trainTo), test [trainTo, testTo). */
  trainFrom: number;
  trainTo: number;
  testTo: number;
}

/** Rolling windows: a training window of fixed length, then the test window; the next starts one test length later. */
export function walkForwardWindows(h: MarketHistory, wf: WalkForwardSpec): Window[] {
  const out: Window[] = [];
  const end = h.times[h.times.length - 1]! + h.intervalMs;
  for (let t0 = h.times[0]!; ; t0 = addDuration(t0, wf.test)) {
    const t1 = addDuration(t0, wf.train);
    const t2 = addDuration(t1, wf.test);
    if (t2 > end) break;
    const w = { trainFrom: barAt(h, t0), trainTo: barAt(h, t1), testTo: barAt(h, t2) };
    if (w.trainTo - w.trainFrom >= 2 && w.testTo - w.trainTo >= 2) out.push(w);
  }
  if (out.length === 0) {
    const days = Math.round((end - h.times[0]!) / 86_400_000);
    throw new TuneSpecError(`--walk-forward ${wf.train.text}/${wf.test.text}: the history (${days} days) is shorter than one training plus one test window`);
  }
  return out;
}

export interface TuneRequest {
  portfolio: Portfolio;
  history: MarketHistory;
  options: BacktestOptions;
  grid: Grid;
  objective: Objective;
  walkForward?: WalkForwardSpec;
  /** Worker threads; 0 runs in the calling thread. */
  workers: number;
  /** JSON-lines results file (resume); absent: nothing is written or resumed. */
  resultsFile?: string;
  /** Ignore (and overwrite) the results file. */
  fresh?: boolean;
  /** Called once per phase before it runs: tasks to compute, tasks read back from the results file. */
  onPhase?: (phase: 'sweep' | 'test', toRun: number, resumed: number) => void;
  onProgress?: (done: number, total: number) => void;
  /** Aborting stops the sweep after the tasks in flight (their results are kept). */
  signal?: AbortSignal;
}

export interface Outcome {
  cell: Cell;
  label: string;
  metrics: CellMetrics;
}

export interface WindowOutcome {
  train: { from: number; to: number };
  test: { from: number; to: number };
  /** Index into the grid's cells; null when no cell met the objective (the current configuration is kept). */
  chosen: number | null;
  label: string;
  inSample: { chosen: CellMetrics; current: CellMetrics };
  outOfSample: { chosen: CellMetrics; current: CellMetrics };
}

export interface TuneResult {
  /** Every grid cell over the whole range, in grid order. */
  cells: Outcome[];
  current: Outcome;
  /** Indices into `cells`, by tracking error ascending. */
  frontier: number[];
  /** Index into `cells` the objective picked; null: none qualified. */
  chosen: number | null;
  windows: WindowOutcome[] | null;
  /** Tasks computed in this run, and read back from the results file. */
  computed: number;
  resumed: number;
  workers: number;
  seconds: number;
}

/** The sweep stopped (its signal aborted) before every task ran; what ran is in the results file. */
export class TuneInterrupted extends Error {
  override name = 'TuneInterrupted';
  constructor(
    readonly computed: number,
    readonly resumed: number,
    readonly resultsFile: string | null,
  ) {
    super(`tune interrupted: ${computed} results computed in this run${resultsFile ? ` and saved in ${resultsFile}; the same command resumes from them` : ' (no results file: nothing kept)'}`);
  }
}

interface Job {
  key: string;
  cell: Cell;
  from: number;
  to: number;
}

export async function runTune(req: TuneRequest): Promise<TuneResult> {
  const t0 = performance.now();
  const h = req.history;
  const packed = packHistory(h);
  const fingerprint = historyFingerprint(packed);
  const grid = gridCells(req.grid);
  const windows = req.walkForward ? walkForwardWindows(h, req.walkForward) : null;
  let results: ResultsFile | null = null;
  try {
    if (req.resultsFile) results = new ResultsFile(req.resultsFile, req.fresh === true);
  } catch (e) {
    throw new TuneSpecError(`--results ${req.resultsFile}: cannot open (${(e as Error).message})`);
  }
  const done = new Map<string, CellMetrics>();
  for (const [k, r] of results?.known ?? []) done.set(k, r.metrics);
  const job = (cell: Cell, from: number, to: number): Job => ({
    key: resultKey({ portfolio: applyCell(req.portfolio, cell), options: req.options, history: fingerprint, from: h.times[from]!, to: h.times[to - 1]! }),
    cell,
    from,
    to,
  });
  let runner: Runner | null = null;
  let computed = 0;
  let resumed = 0;
  let interrupted = false;

  /** Runs the jobs not already known; returns false when interrupted. */
  const runJobs = async (phase: 'sweep' | 'test', jobs: Job[]): Promise<boolean> => {
    // Equal keys are one run (the current configuration is often a cell of the grid too).
    const todo = new Map<string, Job>();
    const known = new Set<string>();
    for (const j of jobs) {
      if (done.has(j.key)) known.add(j.key);
      else todo.set(j.key, j);
    }
    resumed += known.size;
    req.onPhase?.(phase, todo.size, known.size);
    if (todo.size === 0) return true;
    runner ??= req.workers > 0 ? await workerRunner(packed, { portfolio: req.portfolio, options: req.options }, req.workers) : inProcessRunner(packed, { portfolio: req.portfolio, options: req.options });
    const list = [...todo.values()];
    const tasks: Task[] = list.map((j, id) => ({ id, cell: j.cell, from: j.from, to: j.to }));
    let finished = 0;
    await runner.run(
      tasks,
      (r) => {
        const j = list[r.id]!;
        done.set(j.key, r.metrics);
        results?.append({ key: j.key, label: cellLabel(j.cell), cell: j.cell, from: h.times[j.from]!, to: h.times[j.to - 1]!, metrics: r.metrics } satisfies ResultLine);
        computed++;
        finished++;
        req.onProgress?.(finished, list.length);
      },
      req.signal,
    );
    return finished === list.length;
  };

  try {
    const n = h.times.length;
    const sweep: Job[] = [job({}, 0, n), ...grid.map((c) => job(c, 0, n))];
    const trainJobs = (windows ?? []).map((w) => [job({}, w.trainFrom, w.trainTo), ...grid.map((c) => job(c, w.trainFrom, w.trainTo))]);
    if (!(await runJobs('sweep', [...sweep, ...trainJobs.flat()]))) {
      interrupted = true;
    }
    let windowOut: WindowOutcome[] | null = null;
    let testJobs: { chosen: Job; current: Job; pick: number | null; inS: CellMetrics; inCur: CellMetrics }[] = [];
    if (!interrupted && windows) {
      testJobs = windows.map((w, k) => {
        const tj = trainJobs[k]!;
        const cur = done.get(tj[0]!.key)!;
        const pts = tj.slice(1).map((j) => done.get(j.key)!);
        const pick = choose(pts, req.objective, cur, cur.startEquity);
        return {
          chosen: job(pick === null ? {} : grid[pick]!, w.trainTo, w.testTo),
          current: job({}, w.trainTo, w.testTo),
          pick,
          inS: pick === null ? cur : pts[pick]!,
          inCur: cur,
        };
      });
      if (!(await runJobs('test', testJobs.flatMap((t) => [t.chosen, t.current])))) interrupted = true;
      else {
        windowOut = windows.map((w, k) => {
          const t = testJobs[k]!;
          return {
            train: { from: h.times[w.trainFrom]!, to: h.times[w.trainTo - 1]! },
            test: { from: h.times[w.trainTo]!, to: h.times[w.testTo - 1]! },
            chosen: t.pick,
            label: t.pick === null ? 'as configured (nothing met the objective)' : cellLabel(grid[t.pick]!),
            inSample: { chosen: t.inS, current: t.inCur },
            outOfSample: { chosen: done.get(t.chosen.key)!, current: done.get(t.current.key)! },
          };
        });
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const workers = runner ? (runner as Runner).workers : req.workers;
    if (interrupted) throw new TuneInterrupted(computed, resumed, req.resultsFile ?? null);
    const outcomes: Outcome[] = grid.map((c, i) => ({ cell: c, label: cellLabel(c), metrics: done.get(sweep[i + 1]!.key)! }));
    const current: Outcome = { cell: {}, label: 'as configured', metrics: done.get(sweep[0]!.key)! };
    const pts = outcomes.map((o) => o.metrics);
    return {
      cells: outcomes,
      current,
      frontier: paretoFrontier(pts),
      chosen: choose(pts, req.objective, current.metrics, current.metrics.startEquity),
      windows: windowOut,
      computed,
      resumed,
      workers,
      seconds,
    };
  } finally {
    results?.close();
    await (runner as Runner | null)?.close();
  }
}

export interface WalkForwardSummary {
  windows: number;
  /** Σ total cost over the windows, chosen vs current, and the reduction (1 − chosen / current). */
  inSample: { chosenCost: number; currentCost: number; costReduction: number; chosenTe: number; currentTe: number };
  outOfSample: { chosenCost: number; currentCost: number; costReduction: number; chosenTe: number; currentTe: number };
}

/** Tracking error pooled over windows: √(Σ te² × bars / Σ bars) — the tracking error of the windows joined. */
function pooledTe(ms: CellMetrics[]): number {
  let s = 0;
  let n = 0;
  for (const m of ms) {
    s += m.trackingError ** 2 * m.bars;
    n += m.bars;
  }
  return n > 0 ? Math.sqrt(s / n) : 0;
}

export function summarizeWalkForward(ws: WindowOutcome[]): WalkForwardSummary {
  const side = (pick: (w: WindowOutcome) => { chosen: CellMetrics; current: CellMetrics }) => {
    const chosenCost = ws.reduce((s, w) => s + pick(w).chosen.totalCost, 0);
    const currentCost = ws.reduce((s, w) => s + pick(w).current.totalCost, 0);
    return {
      chosenCost,
      currentCost,
      costReduction: currentCost !== 0 ? 1 - chosenCost / currentCost : 0,
      chosenTe: pooledTe(ws.map((w) => pick(w).chosen)),
      currentTe: pooledTe(ws.map((w) => pick(w).current)),
    };
  };
  return { windows: ws.length, inSample: side((w) => w.inSample), outOfSample: side((w) => w.outOfSample) };
}
