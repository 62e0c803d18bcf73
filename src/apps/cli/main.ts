/**
 * The `ballast` command line. It only parses arguments, wires adapters to the core and prints.
 * User errors (bad files, bad flags) print one located message per problem and exit with code 2,
 * never a stack trace.
 */
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { readdirSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InputError, InputErrors } from '../../core/errors.js';
import { plan } from '../../core/planner.js';
import type { TradingState } from '../../core/types.js';
import { loadPlanInputs } from '../../adapters/files/inputs.js';
import { planToJson, planToText } from './plan-view.js';
import { loadPortfolio } from '../../adapters/files/portfolio.js';
import { HistoryError } from '../../adapters/history/csv.js';
import { runBacktest, writeReport, type BacktestResult } from '../../backtest/run.js';
import { formatPolicyTable } from '../../backtest/table.js';
import { standardPolicies } from '../../backtest/policies.js';
import { createProgress } from './progress.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Raised for problems the user can fix; printed without a stack trace, exit code 2. */
export class UsageError extends Error {}

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

function parseDate(v: string): number {
  const t = /^\d{4}-\d{2}-\d{2}$/.test(v) ? Date.parse(`${v}T00:00:00Z`) : Date.parse(v);
  if (!Number.isFinite(t)) throw new InvalidArgumentError(`not a date: ${v} (YYYY-MM-DD or ISO 8601)`);
  return t;
}

function parseTime(v: string): number {
  const t = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) throw new InvalidArgumentError(`not a time: ${v} (ISO 8601 or epoch ms)`);
  return t;
}

export function runPlan(opts: { config: string; snapshot: string; json?: boolean; now?: number; state?: TradingState }): string {
  const { portfolio, snapshot } = loadPlanInputs(opts.config, opts.snapshot);
  const result = plan(portfolio, snapshot, { now: opts.now ?? snapshot.time, state: opts.state ?? 'ACTIVE' });
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

export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(s + '\n')) {
  const program = new Command()
    .name('ballast')
    .description('Keeps a crypto portfolio on its target allocation: valuation, tolerance bands, spot and futures-hedge rebalancing under hard risk limits.')
    .showHelpAfterError()
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
    .requiredOption('-c, --config <file>', 'portfolio file (YAML or JSON)')
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
    .option('--report <file>', 'write a self-contained HTML report with charts')
    .addHelpText(
      'after',
      `
Example:
  ballast backtest --config examples/backtest/portfolio.yaml --from 2021-01-01 --report out/report.html
Fees are paid in the quote currency. Bars missing for any asset are skipped, never filled.`,
    )
    .action((o) => {
      const portfolio = loadPortfolio(o.config);
      if (o.listPolicies) {
        for (const p of standardPolicies(portfolio)) out(`${p.name.padEnd(22)} ${p.description}`);
        return;
      }
      // Created on the first report, once the number of bars is known; silent off a terminal and with --json.
      let progress: ReturnType<typeof createProgress> | null = null;
      let shown = 0;
      let result: BacktestResult;
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
          onProgress: (done, total) => {
            progress ??= createProgress({ total, label: 'backtest', enabled: !o.json });
            progress.tick(done - shown);
            shown = done;
          },
        });
      } finally {
        (progress as ReturnType<typeof createProgress> | null)?.stop();
      }
      if (o.report) writeReport(o.report, 'ballast backtest', result, portfolio.quote);
      if (o.json) {
        out(JSON.stringify({ notes: result.notes, options: result.options, policies: result.metrics, report: o.report ?? null }, null, 2));
        return;
      }
      out(formatPolicyTable(result.metrics, portfolio.quote));
      out('');
      for (const n of result.notes) out(`  ${n}`);
      if (o.report) out(`\nReport: ${o.report}`);
    });

  program
    .command('demo')
    .description('What `npm start` runs: every policy on the seed four-class portfolio over the bundled daily history, table plus HTML report.')
    .option('--report <file>', 'where to write the report', join(ROOT, 'out', 'report.html'))
    .action(async (o) => {
      await program.parseAsync(['backtest', '--config', join(ROOT, 'examples', 'backtest', 'portfolio.yaml'), '--report', o.report], { from: 'user' });
    });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
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
  if (err instanceof InputErrors || err instanceof InputError || err instanceof UsageError || err instanceof HistoryError) {
    process.stderr.write(`ballast: ${err.message}\n`);
    return 2;
  }
  process.stderr.write(`ballast: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  return 1;
}

const invokedDirectly = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
const viaBin = process.argv[1] !== undefined && /bin[\\/]ballast(\.js)?$/.test(process.argv[1]);
if (invokedDirectly || viaBin) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
