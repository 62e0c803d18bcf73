/**
 * The `ballast` command line. It only parses arguments, wires adapters to the core and prints.
 * User errors (bad files, bad flags) print one located message per problem and exit with code 2,
 * never a stack trace.
 */
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, InputErrors } from '../../core/errors.js';
import { plan } from '../../core/planner.js';
import type { TradingState } from '../../core/types.js';
import { ValuationError } from '../../core/valuation.js';
import { ExchangeNotAvailable, NetworkError } from '../../ports/errors.js';
import { loadPlanInputs } from '../../adapters/files/inputs.js';
import { planToJson, planToText } from '../shared/plan-view.js';
import { checkPlan } from '../../execution/pretrade.js';
import { loadPortfolio } from '../../adapters/files/portfolio.js';
import { HistoryError } from '../../adapters/history/csv.js';
import { runBacktest, seriesJson, tradeRow, TRADES_HEADER, writeReport, type BacktestResult } from '../../backtest/run.js';
import type { BacktestFill } from '../../backtest/engine.js';
import { activityColumns, formatPolicyTable } from '../../backtest/table.js';
import { standardPolicies } from '../../backtest/policies.js';
import { createProgress } from './progress.js';
import { UsageError } from './errors.js';
import { KeyError, WithdrawalPermissionError } from '../../adapters/keys.js';
import { AccountLockedError, JournalError } from '../../ports/journal.js';
import { ReconcileMismatchError } from '../../execution/reconcile.js';
import { DEFAULT_CAPITAL, DEFAULT_DB, DEFAULT_SPEED, resultLines, startRun, type RunHandle } from './run.js';
import { startSimVenue } from './sim-venue.js';
import { attachApi } from './api.js';
import { journalReport, openExistingJournal, setTradingStateCommand } from './journal-view.js';
import { onlyYear, reportFromJournal, reportFromSummary, taxReportText, writeTaxCsv, type TaxReport } from './tax-report.js';
import { runSnapshot } from './snapshot.js';
import { addScaleCommands } from './scale.js';
import { registerTune } from './tune.js';
import { loadLotsCsv, mergeLots } from '../../adapters/files/lots-csv.js';
import { parseSnapshot } from '../../adapters/files/snapshot.js';
import { parseSource, readText } from '../../adapters/files/source.js';
import { createLogger, scrubText } from '../../adapters/log.js';
import { VenueStateInUseError } from '../../adapters/venue/server.js';
import { projectRoot } from '../../adapters/files/root.js';

export const ROOT = projectRoot(import.meta.url);

export { UsageError };

/** What an action reports back to `main` (exit code of long-running commands). */
export interface CliContext {
  code: number;
}

function parseState(v: string): TradingState {
  const s = v.toUpperCase();
  if (s !== 'ACTIVE' && s !== 'REDUCING' && s !== 'HALTED') throw new InvalidArgumentError('expected active, reducing or halted');
  return s;
}

function parseNumber(what: string, min: number, max = Infinity) {
  return (v: string): number => {
    const x = Number(v);
    if (v.trim() === '' || !Number.isFinite(x) || x < min || x > max) throw new InvalidArgumentError(`${what} must be a number in [${min}, ${max}], got "${v}"`);
    return x;
  };
}

/** YYYY-MM-DD (midnight UTC) or ISO 8601; a day that does not exist (2024-02-30) is an error, never rolled over. */
export function parseDate(v: string): number {
  const d = /^(\d{4})-(\d{2})-(\d{2})/.exec(v);
  if (d) {
    const [y, m, day] = [Number(d[1]), Number(d[2]), Number(d[3])];
    if (m < 1 || m > 12) throw new InvalidArgumentError(`not a date: ${v} (there is no month ${m})`);
    const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
    if (day < 1 || day > last) throw new InvalidArgumentError(`not a date: ${v} (${MONTHS[m - 1]} ${y} has ${last} days)`);
  }
  const t = /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : Date.parse(v);
  if (!Number.isFinite(t)) throw new InvalidArgumentError(`not a date: ${v} (YYYY-MM-DD or ISO 8601)`);
  return t;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const isoDay = (t: number): string => new Date(t).toISOString().slice(0, 10);

/**
 * A history that stops short: the common range ends more than two bars before `--to` (or, without it, before
 * the other files end). Names the file that ends first; null when the range reaches where it should.
 */
export function historyEndsEarly(h: BacktestResult['history'], to: number | undefined): string | null {
  const c = h.coverage;
  const files = c.assets.filter((a) => a.file !== null && a.fileLast !== null);
  if (files.length === 0 || c.bars === 0) return null;
  const first = files.reduce((m, a) => (a.fileLast! < m.fileLast! ? a : m));
  const lastOpen = c.end;
  const wanted = to !== undefined ? to - h.intervalMs : Math.max(...files.map((a) => a.fileLast!));
  if (wanted - lastOpen <= 2 * h.intervalMs) return null;
  const day = (t: number) => new Date(t).toISOString().slice(0, h.intervalMs >= 86_400_000 ? 10 : 16).replace('T', ' ');
  const until = to !== undefined ? `--to ${day(to)}` : `the other history files (they go on to ${day(wanted)})`;
  return `the backtest ends at ${day(lastOpen)}, well before ${until}: ${first.file} ends first (last bar ${day(first.fileLast!)})`;
}

/** `--from` must come before `--to` / `--until`: an empty range is a mistake, not a run of nothing. */
function checkRange(from: number | undefined, to: number | undefined, toFlag: string): void {
  if (from !== undefined && to !== undefined && !(from < to)) {
    throw new UsageError(`--from ${isoDay(from)} is ${from === to ? 'the same day as' : 'after'} ${toFlag} ${isoDay(to)}: the range is empty${toFlag === '--to' ? ' (--to is exclusive)' : ''}`);
  }
}

function parseTime(v: string): number {
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw new InvalidArgumentError(`not a time: ${v} (ISO 8601 or epoch ms)`);
  return t;
}

export function runPlan(opts: { config: string; snapshot: string; json?: boolean; now?: number; state?: TradingState }): string {
  const { portfolio, snapshot } = loadPlanInputs(opts.config, opts.snapshot);
  const planned = plan(portfolio, snapshot, { now: opts.now ?? snapshot.time, state: opts.state ?? 'ACTIVE' });
  // The same pre-trade gate the service applies before anything is sent (no previous cycle here: no churn check).
  const result = planned.status === 'ok' ? { ...planned, pretrade: checkPlan(portfolio, snapshot, planned) } : planned;
  return opts.json ? JSON.stringify(planToJson(result), null, 2) : planToText(result);
}

/** Every example under examples/: each portfolio file with each snapshot beside it. */
export function exampleRuns(dir = join(ROOT, 'examples')): { config: string; snapshot: string }[] {
  const runs: { config: string; snapshot: string }[] = [];
  for (const ex of readdirSync(dir).sort()) {
    const d = join(dir, ex);
    if (!existsSync(join(d))) continue;
    let files: string[];
    try {
      files = readdirSync(d).sort();
    } catch {
      continue;
    }
    const configs = files.filter((f) => /^portfolio.*\.ya?ml$/.test(f));
    const snaps = files.filter((f) => /^snapshot.*\.json$/.test(f));
    for (const c of configs) for (const s of snaps) runs.push({ config: join(d, c), snapshot: join(d, s) });
  }
  return runs;
}

function parseInterval(v: string): '1d' | '1h' {
  if (v !== '1d' && v !== '1h') throw new InvalidArgumentError('expected 1d or 1h');
  return v;
}

function parseLevel(v: string): 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' {
  const l = v.toLowerCase();
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(l)) throw new InvalidArgumentError('expected fatal, error, warn, info, debug, trace or silent');
  return l as 'info';
}

/** Stop a long-running command on SIGINT / SIGTERM; a second signal exits at once (the journal is crash-safe). */
function onSignals(stop: (sig: string) => void): () => void {
  let seen = false;
  const h = (sig: NodeJS.Signals) => {
    if (seen) {
      process.stderr.write(`ballast: second ${sig}: exiting now\n`);
      process.exit(1);
    }
    seen = true;
    process.stderr.write(`ballast: ${sig}: stopping after the current cycle (send it again to exit at once)\n`);
    stop(sig);
  };
  process.on('SIGINT', h);
  process.on('SIGTERM', h);
  return () => {
    process.off('SIGINT', h);
    process.off('SIGTERM', h);
  };
}

/** Resolves at the first SIGINT/SIGTERM (a second one exits at once, as onSignals does). */
function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    const release = onSignals(() => {
      release();
      resolve();
    });
  });
}

export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(s + '\n'), ctx: CliContext = { code: 0 }) {
  const program = new Command()
    .name('ballast')
    .description('Keeps a crypto portfolio on its target allocation: valuation, tolerance bands, spot and futures-hedge rebalancing under hard risk limits.')
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .exitOverride();

  program
    .command('plan')
    .description('Value a portfolio from a snapshot, check its bands and print the explained plan (nothing is traded).')
    .requiredOption('-c, --config <file>', 'portfolio file (YAML or JSON)')
    .requiredOption('-s, --snapshot <file>', 'snapshot file (JSON): prices, marks, funding, balances, positions, markets')
    .option('--json', 'print one JSON object instead of the table')
    .option('--now <time>', 'decision time for the staleness and calendar rules (default: the snapshot time)', parseTime)
    .option('--state <state>', 'trading state: active | reducing | halted', parseState, 'ACTIVE' as TradingState)
    .addHelpText(
      'after',
      `
Example:
  ballast plan --config examples/2-four-classes/portfolio-futures.yaml --snapshot examples/2-four-classes/snapshot.json
Exit codes: 0 plan printed, 2 bad input (each problem named by file, line and field).`,
    )
    .action((o) => out(runPlan(o)));

  program
    .command('examples')
    .description('Print the plan of every bundled seed example (examples/*/portfolio*.yaml × snapshot*.json).')
    .option('--json', 'print one JSON array')
    .action((o) => {
      const runs = exampleRuns();
      if (o.json) {
        out(JSON.stringify(runs.map((r) => ({ config: relative(ROOT, r.config), snapshot: relative(ROOT, r.snapshot), plan: JSON.parse(runPlan({ ...r, json: true })) })), null, 2));
        return;
      }
      for (const r of runs) {
        out(`=== ${relative(ROOT, r.config)} + ${relative(ROOT, r.snapshot)}`);
        out(runPlan(r));
        out('');
      }
    });

  program
    .command('backtest')
    .description('Replay real history through the decision core and the simulated exchange; compare rebalancing policies.')
    .option('-c, --config <file>', 'portfolio file (YAML or JSON); required except with --list-policies')
    .option('--data <dir>', 'history folder (layout of data/: prices/<interval>/<ASSET>USDT.csv, perp/1d, funding)', join(ROOT, 'data'))
    .option('--from <date>', 'first bar (inclusive), YYYY-MM-DD', parseDate)
    .option('--to <date>', 'last bar (exclusive), YYYY-MM-DD', parseDate)
    .option('--interval <interval>', '1d or 1h', (v) => {
      if (v !== '1d' && v !== '1h') throw new InvalidArgumentError('expected 1d or 1h');
      return v as '1d' | '1h';
    }, '1d' as '1d' | '1h')
    .option('--capital <n>', 'starting capital in the quote currency', parseNumber('capital', 1), 100_000)
    .option('--fee <rate>', 'override every trading fee (fraction, 0.001 = 0.1%)', parseNumber('fee', 0, 0.05))
    .option('--slippage <bps>', 'half-spread slippage in basis points', parseNumber('slippage', 0, 1000), 5)
    .option('--impact <k>', 'market impact: extra slippage = k × order quantity / bar volume', parseNumber('impact', 0, 100), 0)
    .option('--fill <mode>', 'close (fill at the decision bar close) or next-open', (v) => {
      if (v !== 'close' && v !== 'next-open') throw new InvalidArgumentError('expected close or next-open');
      return v as 'close' | 'next-open';
    }, 'close' as 'close' | 'next-open')
    .option('--policy <name...>', 'policies to compare (default: all; see --list-policies)')
    .option('--list-policies', 'print the policies and exit')
    .option('--json', 'print one JSON object (no table, no progress bar)')
    .option('--series', 'with --json: add each policy\'s equity, weight and hedge series')
    .option('--trades <file>', 'write every fill to a CSV file: time, policy, account, symbol, side, qty, price, fee, reason')
    .option('--report <file>', 'write a self-contained HTML report with charts')
    .addHelpText(
      'after',
      `
Example:
  ballast backtest --config examples/backtest/portfolio.yaml --from 2021-01-01 --report out/report.html
The policy "configured" runs the portfolio file as written (its rebalance, execution and hedges sections);
the others are standard variants of it. Total cost = spot fees + perp fees + slippage − net funding + basis
+ tax (tax on realised gains by the portfolio's tax: section and its lots; without tax: it is not modelled). Fees are paid in the quote currency. Bars missing for any asset are
skipped, never filled.`,
    )
    .action((o) => {
      if (o.listPolicies) {
        // Without a portfolio: the policies of the bundled example (every class hedged, so every policy).
        for (const p of standardPolicies(loadPortfolio(o.config ?? join(ROOT, 'examples', 'backtest', 'portfolio.yaml')))) out(`${p.name.padEnd(22)} ${p.description}`);
        if (!o.config) out('(the bundled example portfolio\'s policies: configured describes that file; futures-overlay, auto and hedge-bridge need a class with a hedge perp; tax-aware needs a tax: section)');
        return;
      }
      if (!o.config) throw new UsageError("backtest: required option '-c, --config <file>' not specified");
      const portfolio = loadPortfolio(o.config);
      checkRange(o.from, o.to, '--to');
      if (o.policy) {
        const known = standardPolicies(portfolio).map((p) => p.name);
        for (const n of o.policy) if (!known.includes(n)) throw new UsageError(`--policy ${n}: unknown policy; choose from: ${known.join(', ')}`);
      }
      // Created on the first report, once the number of bars is known; silent off a terminal and with --json.
      let progress: ReturnType<typeof createProgress> | null = null;
      let shown = 0;
      let result: BacktestResult;
      const trades: string[] | null = o.trades ? [TRADES_HEADER] : null;
      try {
        result = runBacktest({
          portfolio,
          dataDir: o.data,
          interval: o.interval,
          ...(o.from !== undefined ? { from: o.from } : {}),
          ...(o.to !== undefined ? { to: o.to } : {}),
          ...(o.policy ? { policies: o.policy } : {}),
          ...(o.fee !== undefined ? { fee: o.fee } : {}),
          options: { capital: o.capital, slippage: o.slippage / 1e4, impact: o.impact, fill: o.fill },
          ...(trades ? { onFill: (policy: string, f: BacktestFill) => void trades.push(tradeRow(policy, f)) } : {}),
          onProgress: (done, total) => {
            progress ??= createProgress({ total, label: 'backtest', enabled: !o.json });
            progress.tick(done - shown);
            shown = done;
          },
        });
      } finally {
        (progress as ReturnType<typeof createProgress> | null)?.stop();
      }
      const short = historyEndsEarly(result.history, o.to);
      if (short) process.stderr.write(`ballast: warning: ${short}\n`);
      if (o.report) writeReport(o.report, 'ballast backtest', result, portfolio.quote);
      if (trades && o.trades) {
        mkdirSync(dirname(resolve(o.trades)), { recursive: true });
        writeFileSync(o.trades, trades.join('\n') + '\n');
      }
      if (o.json) {
        const json: Record<string, unknown> = { notes: result.notes, options: result.options, policies: result.metrics, report: o.report ?? null, trades: o.trades ?? null };
        if (o.series) json.series = seriesJson(result);
        out(JSON.stringify(json, null, 2));
        return;
      }
      out(formatPolicyTable(result.metrics, portfolio.quote));
      out('');
      out(formatPolicyTable(result.metrics, portfolio.quote, activityColumns(portfolio.quote)));
      out('');
      out(`  Money in ${portfolio.quote}. Funding: net received (+) or paid (−). Basis: what hedges lost (+) against a perfect hedge of their class. ${portfolio.tax ? `Tax: ${portfolio.tax.method} lots, ${(portfolio.tax.shortTermRate * 100).toFixed(2)} % short-term, ${(portfolio.tax.longTermRate * 100).toFixed(2)} % long-term after ${portfolio.tax.longTermAfterDays} days, perp P&L and funding ${(portfolio.tax.futuresRate * 100).toFixed(2)} %; per calendar year; After tax = final equity − tax on realised gains.` : 'Tax: — = not modelled (no tax: section in the portfolio).'} Total cost = spot fees + perp fees + slippage − net funding + basis + tax.`);
      out(`  In band: share of bars with every class inside its band. Track err: RMS distance of weights from targets. Life: median bars a hedge was open. Reopened: hedges opened the bar after one on the same perp closed.`);
      for (const n of result.notes) out(`  ${n}`);
      if (o.report) out(`\nReport: ${o.report}`);
    });

  registerTune(program, out, ctx, ROOT);

  program
    .command('tax-report')
    .description('Tax lots realised by sales (one row per lot), totals per year, realised perp P&L and funding per year — for a backtest policy or a service journal.')
    .option('-c, --config <file>', 'portfolio file with a tax: section (method, rates, holding period)')
    .option('--db <file>', 'service journal (SQLite): lots from its fills, funding from its payments')
    .option('--backtest-policy <name>', 'run this backtest policy on the bundled history and report its sales')
    .option('--data <dir>', 'history folder for --backtest-policy', join(ROOT, 'data'))
    .option('--from <date>', 'with --backtest-policy: first bar (inclusive), YYYY-MM-DD', parseDate)
    .option('--to <date>', 'with --backtest-policy: last bar (exclusive), YYYY-MM-DD', parseDate)
    .option('--year <yyyy>', 'only sales and totals of this calendar year', parseNumber('year', 1970, 2200))
    .option('--csv <file>', 'write one row per lot sale to a CSV file')
    .addHelpText(
      'after',
      `
Examples:
  ballast tax-report --config examples/backtest/portfolio-tax-us.yaml --backtest-policy tax-aware --year 2024 --csv out/tax-2024.csv
  ballast tax-report --config examples/service/portfolio.yaml --db .ballast/journal.db`,
    )
    .action((o) => {
      if (!o.config) throw new UsageError('tax-report needs --config FILE (its tax: section gives the lot method and the rates)');
      const portfolio = loadPortfolio(o.config);
      if (!portfolio.tax) throw new UsageError(`${o.config}: no tax: section; add one (method, shortTermRate, longTermRate, longTermAfterDays, futuresRate) to report tax lots`);
      if ((o.db === undefined) === (o.backtestPolicy === undefined)) throw new UsageError('give exactly one of --db FILE (a journal) or --backtest-policy NAME (a backtest)');
      let report: TaxReport;
      if (o.db !== undefined) {
        const j = openExistingJournal(o.db);
        try {
          report = reportFromJournal(`journal ${o.db}`, portfolio.tax, portfolio.quote, j.fills(), j.funding());
        } finally {
          j.close();
        }
      } else {
        const policy: string = o.backtestPolicy!;
        const names = standardPolicies(portfolio).map((x) => x.name);
        if (!names.includes(policy)) throw new UsageError(`unknown policy "${policy}"; choose from: ${names.join(', ')}`);
        const r = runBacktest({
          portfolio,
          dataDir: o.data,
          interval: '1d',
          ...(o.from !== undefined ? { from: o.from } : {}),
          ...(o.to !== undefined ? { to: o.to } : {}),
          policies: [policy],
          options: {},
        });
        const s = r.tax[policy];
        if (!s) throw new UsageError(`policy ${policy} produced no tax summary`);
        report = reportFromSummary(`backtest policy ${policy} of ${o.config}, ${r.notes[0] ?? ''}`, s);
      }
      if (o.year !== undefined) report = onlyYear(report, o.year);
      if (o.csv) {
        mkdirSync(dirname(resolve(o.csv)), { recursive: true });
        writeTaxCsv(o.csv, report);
      }
      out(taxReportText(report, portfolio.quote));
      if (o.csv) out(`\nCSV: ${o.csv} (${report.sales.length} rows)`);
    });

  program
    .command('lots')
    .description('Tax lots of a snapshot.')
    .command('import')
    .description('Merge tax lots from a CSV file (account, asset, acquired, qty, unitCost) into a snapshot; the result is validated (lots must add up to each balance).')
    .argument('<file>', 'CSV file with the header account,asset,acquired,qty,unitCost')
    .requiredOption('-s, --snapshot <file>', 'snapshot file (JSON or YAML) whose accounts receive the lots')
    .option('--out <file>', 'write the merged snapshot (JSON) here instead of standard output')
    .action((file, o) => {
      const lots = loadLotsCsv(file);
      const src = parseSource(readText(o.snapshot), o.snapshot);
      if (!src.value || typeof src.value !== 'object' || Array.isArray(src.value)) throw new UsageError(`${o.snapshot}: not a snapshot (expected a mapping)`);
      const merged = mergeLots(src.value as Record<string, unknown>, lots, file);
      const text = JSON.stringify(merged, null, 2) + '\n';
      const snap = parseSnapshot(text, o.out ?? `${o.snapshot} + ${file}`);
      const count = snap.accounts.reduce((n, a) => n + (a.lots?.length ?? 0), 0);
      if (o.out) {
        mkdirSync(dirname(resolve(o.out)), { recursive: true });
        writeFileSync(o.out, text);
        out(`${count} lots on ${lots.size} account(s) merged into ${o.out}.`);
      } else out(text.trimEnd());
    });

  program
    .command('demo')
    .description(
      'What `npm start` runs: every policy on the seed four-class portfolio over the bundled daily history (table plus HTML report), then the paper service replaying that history with its dashboard.',
    )
    .option('--report <file>', 'where to write the report', join(ROOT, 'out', 'report.html'))
    .option('--no-serve', 'only the backtest: no paper service, no dashboard')
    .option('--speed <n>', 'paper service: bars (days) per second', parseNumber('speed', 0), 40)
    .option('--api-port <n>', 'dashboard port (0 = any free port)', parseNumber('api-port', 0, 65535), 8787)
    .action(async (o) => {
      await program.parseAsync(['backtest', '--config', join(ROOT, 'examples', 'backtest', 'portfolio.yaml'), '--report', o.report], { from: 'user' });
      if (!o.serve) return;
      // A fresh paper account each time: the demo's own journal and venue state under out/demo/.
      const dir = join(ROOT, 'out', 'demo');
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      out('');
      out(`Paper service: examples/service/portfolio.yaml replayed over the bundled history at ${o.speed} days per second (journal ${relative(ROOT, dir)}/journal.db).`);
      out('Open the dashboard URL below; Ctrl-C stops the service.');
      await program.parseAsync(
        ['run', '--config', join(ROOT, 'examples', 'service', 'portfolio.yaml'), '--replay', join(ROOT, 'data'), '--speed', String(o.speed), '--db', join(dir, 'journal.db'), '--api-port', String(o.apiPort), '--keep-serving', '--log-level', 'warn'],
        { from: 'user' },
      );
    });

  program
    .command('run')
    .description('The long-running service: reconcile, snapshot, plan, execute — every cycle, journaled. Paper trading is the default.')
    .requiredOption('-c, --config <file>', 'portfolio file (YAML or JSON)')
    .option('--paper', 'trade the simulated venue (the default)')
    .option('--live', 'trade the real exchanges of the portfolio file (needs keys; keys that can withdraw are refused)')
    .option('--allow-unverified-keys', '--live: use a key even when the venue does not say whether it can withdraw (refused by default)')
    .option('--replay [dir]', 'replay history through the simulated venue (default folder: the bundled data/)')
    .option('--speed <n>', `replay: bars per second of wall time, 0 = as fast as possible (default ${DEFAULT_SPEED})`, parseNumber('speed', 0))
    .option('--interval <interval>', 'replay: 1d or 1h bars', parseInterval, '1d' as '1d' | '1h')
    .option('--from <date>', 'replay: first bar (open time), YYYY-MM-DD', parseDate)
    .option('--until <date>', 'replay: stop after the last bar closing at or before this time, YYYY-MM-DD', parseDate)
    .option('--db <file>', 'journal (SQLite file, or postgres://…); a restart with the same journal resumes', DEFAULT_DB)
    .option('--venue <url>', 'trade a running `ballast sim-venue` instead of a venue in this process')
    .option('--venue-state <file>', 'state file of the in-process simulated venue (default: <journal>.venue.json beside the journal)')
    .option('--capital <n>', 'starting quote balance of a new simulated venue', parseNumber('capital', 1), DEFAULT_CAPITAL)
    .option('--prices <venue>', 'paper on live prices: public price source (binance, bybit, okx)')
    .option('--every <seconds>', 'live / live-price paper: seconds between cycles', parseNumber('every', 1), 60)
    .option('--log-level <level>', 'structured log level on stderr (fatal, error, warn, info, debug, trace, silent)', parseLevel, 'info' as 'info')
    .option('--progress', 'print a line per cycle even when stdout is not a terminal')
    .option('--json', 'print the final summary as one JSON object (no progress lines)')
    .option('--no-api', 'do not start the HTTP API and dashboard')
    .option('--keep-serving', 'replay: when the history ends, keep the dashboard and API up until Ctrl-C')
    .option('--api-port <n>', 'HTTP API and dashboard port (0 = any free port)', parseNumber('api-port', 0, 65535), 8787)
    .option('--api-host <host>', 'address the API listens on; anything but loopback also needs --allow-remote', '127.0.0.1')
    .option('--allow-remote', 'let the API listen on a non-loopback address (every request still needs the token)')
    .option('--api-token-file <file>', 'bearer token file, created 0600 on first run (default: api-token beside the journal)')
    .addHelpText(
      'after',
      `
Examples:
  ballast run --config examples/backtest/portfolio.yaml --replay --until 2021-01-01 --speed 0
  ballast sim-venue --config examples/backtest/portfolio.yaml --state .ballast/venue.json --replay &
  ballast run --config examples/backtest/portfolio.yaml --venue http://127.0.0.1:PORT --db .ballast/journal.db
  ballast run --config my-portfolio.yaml --live            (keys: BALLAST_<ACCOUNT>_API_KEY / _API_SECRET)
A restart with the same --db (and venue state) reconciles first and continues after the last processed bar.
Logs: JSON lines on stderr (secrets redacted). SIGINT / SIGTERM stop after the current cycle.
Exit codes: 0 done or stopped, 1 runtime failure (another instance holds the journal or venue state, the venue stopped
answering, a journal mismatch or failure), 2 bad input (portfolio file, flags, keys, unreachable --venue).
See docs/running.md.`,
    )
    .action(async (o) => {
      if (o.paper && o.live) throw new UsageError('--paper and --live exclude each other');
      checkRange(o.from, o.until, '--until');
      const replay = o.replay === true ? join(ROOT, 'data') : typeof o.replay === 'string' ? o.replay : undefined;
      let handle: RunHandle | null = null;
      let pending: string | null = null;
      const release = onSignals((sig) => {
        pending = `signal ${sig}`;
        void handle?.stop(pending);
      });
      try {
        handle = await startRun({
          config: o.config,
          live: o.live === true,
          ...(o.allowUnverifiedKeys === true ? { allowUnverifiedKeys: true } : {}),
          ...(replay !== undefined ? { replay } : {}),
          ...(o.speed !== undefined ? { speed: o.speed } : {}),
          interval: o.interval,
          ...(o.from !== undefined ? { from: o.from } : {}),
          ...(o.until !== undefined ? { until: o.until } : {}),
          db: o.db,
          ...(o.venue !== undefined ? { venue: o.venue } : {}),
          ...(o.venueState !== undefined ? { venueState: o.venueState } : {}),
          capital: o.capital,
          ...(o.prices !== undefined ? { prices: o.prices } : {}),
          intervalMs: o.every * 1000,
          logLevel: o.logLevel,
          out,
          progress: o.json ? false : o.progress === true || process.stdout.isTTY === true,
          ...(o.keepServing === true ? { keepServing: true } : {}),
          ...(o.api
            ? {
                onStarted: (h: RunHandle) =>
                  attachApi(h, {
                    host: o.apiHost,
                    port: o.apiPort,
                    allowRemote: o.allowRemote === true,
                    tokenFile: o.apiTokenFile ?? join(dirname(resolve(o.db)), 'api-token'),
                    out: o.json ? (s: string) => void process.stderr.write(s + '\n') : out,
                  }),
              }
            : {}),
        });
        if (pending !== null) void handle.stop(pending);
        const r = await handle.done;
        if (o.json) out(JSON.stringify(r, null, 2));
        else for (const l of resultLines(r, handle.portfolio.quote)) out(l);
        ctx.code = r.code;
      } finally {
        release();
      }
    });

  program
    .command('sim-venue')
    .description('The simulated exchange as its own process (JSON-RPC on 127.0.0.1), state in its own file: what `run --venue` trades on.')
    .requiredOption('-c, --config <file>', 'portfolio file: the venue lists the markets it needs')
    .requiredOption('--state <file>', 'venue state file (restored when it exists); a folder with --accounts')
    .option('--port <n>', 'TCP port on 127.0.0.1 (default: any free port)', parseNumber('port', 0, 65535))
    .option('--accounts', 'many paper accounts on one market: each at <url>/a/NAME (created on first use with --capital); see docs/scale.md')
    .option('--replay [dir]', 'prices from replayed history (default folder: the bundled data/); without it: live public prices')
    .option('--speed <n>', 'replay: bars per second of wall time; 0 = the clock moves only when a client advances it', parseNumber('speed', 0), 0)
    .option('--interval <interval>', 'replay: 1d or 1h bars', parseInterval, '1d' as '1d' | '1h')
    .option('--from <date>', 'replay: first bar (open time), YYYY-MM-DD', parseDate)
    .option('--to <date>', 'replay: last bar (exclusive), YYYY-MM-DD', parseDate)
    .option('--capital <n>', 'starting quote balance of a new venue', parseNumber('capital', 1), DEFAULT_CAPITAL)
    .option('--prices <venue>', 'live prices: public price source (binance, bybit, okx)')
    .addHelpText(
      'after',
      `
Prints "listening <url>" once it serves. SIGINT / SIGTERM stop it; every acknowledged call is already saved.
Example:
  ballast sim-venue --config examples/backtest/portfolio.yaml --state .ballast/venue.json --replay --port 7070`,
    )
    .action(async (o) => {
      checkRange(o.from, o.to, '--to');
      const replay = o.replay === true ? join(ROOT, 'data') : typeof o.replay === 'string' ? o.replay : undefined;
      const logger = createLogger({ level: 'info' });
      const v = await startSimVenue({
        config: o.config,
        state: o.state,
        ...(o.port !== undefined ? { port: o.port } : {}),
        ...(replay !== undefined ? { replay } : {}),
        speed: o.speed,
        interval: o.interval,
        ...(o.from !== undefined ? { from: o.from } : {}),
        ...(o.to !== undefined ? { to: o.to } : {}),
        capital: o.capital,
        ...(o.prices !== undefined ? { prices: o.prices } : {}),
        ...(o.accounts === true ? { accounts: true } : {}),
        logger,
      });
      out(`listening ${v.url}`);
      for (const n of v.notes) logger.info({ note: n }, 'venue note');
      await untilSignal();
      await v.stop();
    });

  program
    .command('doctor')
    .description('Check the live accounts of a portfolio file before a real-money start: keys and rights, position mode, clock, markets, balances, funding, rate limit. Never trades.')
    .requiredOption('-c, --config <file>', 'portfolio file (YAML or JSON) with `accounts:`')
    .option('--live', 'check the real exchange accounts (the only mode; required so the intent is explicit)')
    .option('--allow-unverified-keys', 'accept a key whose withdrawal right the venue does not report (as `run --allow-unverified-keys`)')
    .option('--json', 'print the checks as one JSON object')
    .addHelpText('after', '\nExit codes: 0 ready, 1 not ready, 2 bad input. See docs/live.md for the first real-money checklist.')
    .action(async (o) => {
      if (o.live !== true) throw new UsageError('doctor checks live accounts: run `ballast doctor --config FILE --live`');
      const { runDoctor, doctorLines } = await import('./doctor.js');
      const { systemClock } = await import('../../ports/clock.js');
      const r = await runDoctor({ config: o.config, clock: systemClock, ...(o.allowUnverifiedKeys === true ? { allowUnverifiedKeys: true } : {}) });
      if (o.json) out(JSON.stringify(r, null, 2));
      else for (const l of doctorLines(r)) out(l);
      ctx.code = r.ready ? 0 : 1;
    });

  program
    .command('snapshot')
    .description('Write a snapshot file (the `plan` format) from the configured accounts.')
    .requiredOption('-c, --config <file>', 'portfolio file (YAML or JSON)')
    .option('--out <file>', 'write here (default: stdout)')
    .option('--venue <url>', 'read a running `ballast sim-venue`')
    .option('--live', 'read the real accounts of the portfolio file (needs keys)')
    .option('--replay <dir>', 'history of the default simulated venue', join(ROOT, 'data'))
    .option('--at <date>', 'time on the replayed history (default: its first bar)', parseTime)
    .option('--capital <n>', 'quote balance of the default simulated venue', parseNumber('capital', 1), DEFAULT_CAPITAL)
    .addHelpText(
      'after',
      `
Without --venue or --live: the simulated venue on the bundled history (offline, no keys).
Example:
  ballast snapshot --config examples/backtest/portfolio.yaml --at 2021-01-01 --out snapshot.json
  ballast plan --config examples/backtest/portfolio.yaml --snapshot snapshot.json`,
    )
    .action(async (o) => {
      const text = await runSnapshot({
        config: o.config,
        live: o.live === true,
        ...(o.venue !== undefined ? { venue: o.venue } : {}),
        replay: o.replay,
        ...(o.at !== undefined ? { at: o.at } : {}),
        capital: o.capital,
        ...(o.out !== undefined ? { out: o.out } : {}),
      });
      if (o.out === undefined) out(text.trimEnd());
      else out(`snapshot written to ${o.out}`);
    });

  program
    .command('journal')
    .description('Print the trading state, a summary and the latest decisions (with their explanation), orders, fills and state changes.')
    .option('--db <file>', 'journal file, or postgres://…', DEFAULT_DB)
    .option('--portfolio <name>', 'which portfolio of a Postgres journal')
    .option('--limit <n>', 'number of events', parseNumber('limit', 1, 100_000), 40)
    .option('--all', 'every event type (snapshots, reconciliations, executions too)')
    .option('--json', 'print one JSON object')
    .action((o) => {
      const j = openExistingJournal(o.db, undefined, o.portfolio);
      try {
        out(journalReport(j, { limit: o.limit, json: o.json === true, all: o.all === true }));
      } finally {
        j.close();
      }
    });

  const killSwitch = (name: string, state: TradingState, description: string) =>
    program
      .command(name)
      .description(description)
      .option('--db <file>', 'journal of the service (file, or postgres://…)', DEFAULT_DB)
      .option('--portfolio <name>', 'which portfolio of a Postgres journal (each has its own kill switch)')
      .option('--reason <text>', 'why (journaled)', `${name} from the command line`)
      .option('--by <name>', 'who (journaled)', `cli:${process.env['USER'] ?? 'operator'}`)
      .addHelpText('after', `\nA running service picks the state up before its next cycle and before every order.`)
      .action((o) => {
        const j = openExistingJournal(o.db, undefined, o.portfolio);
        try {
          const r = setTradingStateCommand(j, state, o.by, o.reason);
          out(`trading state ${r.previous.state} → ${r.current.state} (by ${r.current.by}: ${r.current.reason})`);
        } finally {
          j.close();
        }
      });
  killSwitch('halt', 'HALTED', 'Kill switch: no new orders (an order working now is cancelled at its next check).');
  killSwitch('reduce-only', 'REDUCING', 'Only reduce-only legs may trade.');
  killSwitch('resume', 'ACTIVE', 'Trade normally again.');
  addScaleCommands(program, out, ctx, untilSignal);

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const ctx: CliContext = { code: 0 };
  const program = buildProgram(undefined, ctx);
  try {
    await program.parseAsync(argv);
    return ctx.code;
  } catch (err) {
    return reportError(err);
  }
}

export function reportError(err: unknown): number {
  const e = err as { code?: string; exitCode?: number };
  if (typeof e.code === 'string' && e.code.startsWith('commander.')) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    return 2; // commander already printed the problem
  }
  if (err instanceof InputErrors || err instanceof InputError || err instanceof UsageError || err instanceof HistoryError || err instanceof KeyError || err instanceof WithdrawalPermissionError) {
    process.stderr.write(scrubText(`ballast: ${err.message}\n`));
    return 2;
  }
  if (err instanceof ValuationError) {
    process.stderr.write(scrubText(`ballast: cannot value the portfolio: ${err.message}\n`));
    return 2;
  }
  if (err instanceof NetworkError || err instanceof ExchangeNotAvailable) {
    // Reaching here, the failure came while ballast was starting (a running service pauses on venue errors
    // instead): no order had been sent. The query string stays redacted (scrubText).
    const venue = err.exchange ?? 'the venue';
    const detail = err.message.replace(new RegExp(`^(${venue}: )?(${err.name}: )?`), '');
    process.stderr.write(scrubText(`ballast: could not reach ${venue} (${err.name}: ${detail}); nothing was sent\n`));
    return 2;
  }
  if (err instanceof AccountLockedError || err instanceof ReconcileMismatchError || err instanceof JournalError || err instanceof VenueStateInUseError) {
    process.stderr.write(scrubText(`ballast: ${err.message}\n`));
    return 1;
  }
  process.stderr.write(scrubText(`ballast: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`));
  return 1;
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
const viaBin = process.argv[1] !== undefined && /bin[\\/]ballast(\.js)?$/.test(process.argv[1]);
if (invokedDirectly || viaBin) {
  // `ballast journal | head`: a reader that went away is not an error. Further output is dropped and the
  // command finishes normally (a running service still closes its journal and releases its locks).
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.stdout.write = (() => true) as typeof process.stdout.write;
  });
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
