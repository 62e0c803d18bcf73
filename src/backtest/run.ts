/** `ballast backtest`: load history for a portfolio, run every selected policy, report. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Portfolio } from '../core/types.js';
import { loadHistory } from '../adapters/history/history.js';
import type { HistoryInterval, MarketHistory } from '../model/history.js';
import { baseOf } from '../core/valuation.js';
import type { TaxSummary } from './taxbook.js';
import { computeMetrics, type PolicyMetrics, type PolicySeries } from './metrics.js';
import { DEFAULT_OPTIONS, perpSymbol, runPolicy, type BacktestFill, type BacktestOptions } from './engine.js';
import { selectPolicies, standardPolicies } from './policies.js';
import { renderReport } from './report.js';

export interface BacktestRequest {
  portfolio: Portfolio;
  dataDir: string;
  interval: HistoryInterval;
  from?: number;
  to?: number;
  policies?: string[];
  options: Partial<BacktestOptions>;
  /** Override every taker and maker fee (spot and futures). */
  fee?: number;
  onProgress?: (done: number, total: number, label: string) => void;
  /** Every fill of every policy (`--trades`). */
  onFill?: (policy: string, fill: BacktestFill) => void;
}

export interface BacktestResult {
  history: MarketHistory;
  series: PolicySeries[];
  metrics: PolicyMetrics[];
  notes: string[];
  options: BacktestOptions;
  /** Decisions computed over every policy (general planner + rebalance kernel). */
  plans: number;
  /** Of `plans`, how many the rebalance kernel computed. */
  kernelPlans: number;
  /** The standard policy that matches the portfolio file's own rules (the report's default detail). */
  configured: string | null;
  /** A benchmark beside the policies: the capital in the first class's first asset, held (null: none). */
  benchmark: { name: string; equity: number[] } | null;
  /** Lots sold, gains and tax per policy (only with the portfolio's `tax:` section). */
  tax: Record<string, TaxSummary>;
}

/** The standard policy the portfolio file itself describes (mode, schedule, destination, instrument). */
export function configuredPolicy(p: Portfolio, names: string[]): string | null {
  // The policy that runs the file as written, when it is among the policies run.
  if (names.includes('configured')) return 'configured';
  const r = p.rebalance;
  const inst = p.execution.instrument;
  const want =
    inst === 'futures' ? 'futures-overlay' : inst === 'auto' ? 'auto'
    : r.mode === 'calendar' ? `calendar-${r.schedule}`
    : r.mode === 'hybrid' ? `hybrid-${r.schedule}`
    : r.to === 'band-edge' ? 'threshold-band-edge' : 'threshold';
  return names.includes(want) ? want : (names.find((n) => n !== 'buy-and-hold') ?? names[0] ?? null);
}

/**
 * "100 % <asset>": the capital put into one asset at the first bar's close (paying the spot fee) and held,
 * at the series' own times. The first non-stable asset of the first class (BTC for the seed portfolio).
 */
function assetBenchmark(p: Portfolio, history: BacktestResult['history'], times: ArrayLike<number>, capital: number): BacktestResult['benchmark'] {
  const cls = p.classes.find((c) => !c.cash);
  const asset = cls?.assets.find((a) => history.assets.includes(a));
  if (!asset || times.length === 0) return null;
  const k = history.assets.indexOf(asset);
  const close = history.close[k]!;
  const at = new Map<number, number>();
  for (let i = 0; i < history.times.length; i++) at.set(history.times[i]!, i);
  const p0 = close[0]!;
  const units = (capital * (1 - p.execution.fees.spotTaker)) / p0;
  const equity: number[] = [];
  for (let i = 0; i < times.length; i++) {
    const j = at.get(times[i]!);
    equity.push(j === undefined ? NaN : units * close[j]!);
  }
  return { name: `100% ${asset} (held)`, equity };
}

/** Which history the portfolio needs: every non-stable asset, and the perps its classes hedge with. */
export function historyNeeds(p: Portfolio): { assets: string[]; stable: string[]; perps: string[] } {
  const cash = p.classes.find((c) => c.cash);
  const stable = cash ? cash.assets : [];
  const assets: string[] = [];
  for (const c of p.classes) for (const a of c.assets) if (!stable.includes(a) && a !== p.quote && !assets.includes(a)) assets.push(a);
  const perps: string[] = [];
  for (const c of p.classes) {
    if (!c.hedge) continue;
    const base = baseOf(c.hedge);
    if (c.hedge !== perpSymbol(base, p.quote) || !assets.includes(base)) {
      throw new Error(`the backtester has no history for ${c.hedge} (hedge of ${c.name}): hedge with the perp of an asset in the portfolio, e.g. ${perpSymbol(c.assets.find((a) => a !== p.quote) ?? 'BTC', p.quote)}`);
    }
    if (!perps.includes(base)) perps.push(base);
  }
  return { assets, stable, perps };
}

export function runBacktest(req: BacktestRequest): BacktestResult {
  let portfolio = req.portfolio;
  if (req.fee !== undefined) {
    const f = req.fee;
    portfolio = { ...portfolio, execution: { ...portfolio.execution, fees: { spotTaker: f, spotMaker: f, futuresTaker: f, futuresMaker: f } } };
  }
  if (portfolio.quote !== 'USDT') throw new Error(`the bundled history is quoted in USDT; the portfolio's quote is ${portfolio.quote}`);
  const needs = historyNeeds(portfolio);
  const history = loadHistory({
    dir: req.dataDir,
    interval: req.interval,
    assets: needs.assets,
    stable: needs.stable,
    perps: needs.perps,
    quote: 'USDT',
    ...(req.from !== undefined ? { from: req.from } : {}),
    ...(req.to !== undefined ? { to: req.to } : {}),
  });
  const options = { ...DEFAULT_OPTIONS, ...req.options };
  const specs = selectPolicies(standardPolicies(portfolio), req.policies);
  const total = specs.length * history.times.length;
  let done = 0;
  const series: PolicySeries[] = [];
  const metrics: PolicyMetrics[] = [];
  let plans = 0;
  let kernelPlans = 0;
  const tax: Record<string, TaxSummary> = {};
  for (const spec of specs) {
    const onFill = req.onFill;
    const runOptions = onFill ? { ...options, onFill: (f: BacktestFill) => onFill(spec.name, f) } : options;
    const run = runPolicy(portfolio, spec, history, runOptions, (bars) => {
      done += bars;
      req.onProgress?.(done, total, spec.name);
    });
    plans += run.plans;
    kernelPlans += run.kernelPlans;
    series.push(run.series);
    metrics.push(computeMetrics(run.series, run.counters, run.extras, options.capital));
    if (run.extras.tax) tax[spec.name] = run.extras.tax;
  }
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  const notes = [
    `${history.times.length} ${history.interval} bars from ${day(history.times[0]!)} to ${day(history.times[history.times.length - 1]!)} (the last bar used: --to is exclusive); capital ${options.capital.toLocaleString('en-US')} ${portfolio.quote}; fees spot ${portfolio.execution.fees.spotTaker}, futures ${portfolio.execution.fees.futuresTaker}; slippage ${(options.slippage * 1e4).toFixed(1)} bps; fills at ${options.fill === 'close' ? 'the decision bar close' : 'the next bar open'}.`,
    `Returns and CAGR are measured from the capital (${options.capital.toLocaleString('en-US')} ${portfolio.quote}), so the initial purchase's fees count against them. Volatility and Sharpe annualise over 365 trading days a year (crypto trades every day), not 252; CAGR over years of 365.25 days.`,
    ...history.coverage.notes,
  ];
  const configured = configuredPolicy(portfolio, specs.map((x) => x.name));
  const benchmark = series.length > 0 ? assetBenchmark(portfolio, history, series[0]!.times, options.capital) : null;
  return { history, series, metrics, notes, options, plans, kernelPlans, configured, benchmark, tax };
}

export function writeReport(file: string, title: string, r: BacktestResult, quote: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    renderReport({ title, quote, series: r.series, metrics: r.metrics, notes: r.notes, ...(r.configured ? { defaultPolicy: r.configured } : {}), ...(r.benchmark ? { benchmark: r.benchmark } : {}) }),
  );
}

/** The header and rows of `--trades`: one line per fill. */
export const TRADES_HEADER = 'time,policy,account,symbol,side,qty,price,fee,reason';

export function tradeRow(policy: string, f: BacktestFill): string {
  const reason = f.class ? `${f.reason} ${f.class}` : f.reason;
  const q = (x: string) => (/[",\n]/.test(x) ? `"${x.replace(/"/g, '""')}"` : x);
  return [new Date(f.time).toISOString(), q(policy), 'backtest', q(f.symbol), f.side, f.qty, f.price, f.fee, q(reason)].join(',');
}

/** The equity and weight series of each policy for `--json --series`, at the recorded points. */
export function seriesJson(r: BacktestResult): { name: string; times: string[]; equity: number[]; weights: Record<string, number[]>; hedgeNotional: Record<string, number[]> }[] {
  return r.series.map((s) => ({
    name: s.name,
    times: Array.from(s.times, (t) => new Date(t).toISOString()),
    equity: Array.from(s.equity),
    weights: Object.fromEntries(s.classNames.map((c, k) => [c, Array.from(s.weights[k]!)])),
    hedgeNotional: Object.fromEntries(s.classNames.map((c, k) => [c, Array.from(s.hedgeNotional[k]!)])),
  }));
}
