/**
 * `ballast tune`: the grid sweep of src/tune as a command — load the portfolio and its history, print the
 * grid and its size, run it on worker threads with a progress bar, print the frontier, the
 * recommendation and the walk-forward, and write the report, the portfolio file and the JSON.
 */
import type { Command } from '@commander-js/extra-typings';
import { InvalidArgumentError } from '@commander-js/extra-typings';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { loadPortfolio } from '../../adapters/files/portfolio.js';
import { loadHistory } from '../../adapters/history/history.js';
import { DEFAULT_OPTIONS } from '../../backtest/engine.js';
import { historyNeeds } from '../../backtest/run.js';
import { parseObjective } from '../../tune/frontier.js';
import { cellLabel, defaultGrid, parseGrid, TuneSpecError } from '../../tune/grid.js';
import { headerLines, resultLines, tuneJson, walkForwardLines } from '../../tune/format.js';
import { renderTuneReport } from '../../tune/report.js';
import { parseWalkForward, runTune, TuneInterrupted, type TuneResult } from '../../tune/tune.js';
import { writePortfolio } from '../../tune/write.js';
import { UsageError } from './errors.js';
import { createProgress, type Progress } from './progress.js';

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

/** Writes an output file; a path that cannot be written is a usage error naming the flag. */
function writeOut(flag: string, file: string, text: string): void {
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
  } catch (e) {
    throw new UsageError(`${flag} ${file}: cannot write (${(e as Error).message})`);
  }
}

/** A spec error becomes a usage error (exit 2, no stack trace). */
function spec<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof TuneSpecError) throw new UsageError(e.message);
    throw e;
  }
}

export function registerTune(program: Command, out: (s: string) => void, ctx: { code: number }, root: string): void {
  program
    .command('tune')
    .description('Choose bands and policy from history: run a grid of configurations, print the Pareto frontier of tracking error against total cost, recommend one, check it walk-forward.')
    .requiredOption('-c, --config <file>', 'portfolio file (YAML or JSON)')
    .option('--data <dir>', 'history folder (layout of data/)', join(root, 'data'))
    .option('--from <date>', 'first bar (inclusive), YYYY-MM-DD', parseDate)
    .option('--to <date>', 'last bar (exclusive), YYYY-MM-DD', parseDate)
    .option('--grid <spec>', 'dimensions "key=v1,v2; key=…" (see docs/tune.md); default: band scale × to × mode × instrument')
    .option('--objective <spec>', '"frontier", "min-cost tracking-error<=2.5%" or "min-tracking-error cost<=X[%]"', 'frontier')
    .option('--walk-forward <train/test>', 'choose on each training window, measure on the next test window, e.g. 2y/6m')
    .option('--workers <n>', 'worker threads (0 = in this thread)', parseNumber('workers', 0, 256), availableParallelism())
    .option('--results <file>', 'JSON-lines results file; an interrupted sweep resumes from it (default out/tune/<config>.jsonl)')
    .option('--fresh', 'ignore and overwrite the results file')
    .option('--capital <n>', 'starting capital in the quote currency', parseNumber('capital', 1), 100_000)
    .option('--slippage <bps>', 'half-spread slippage in basis points', parseNumber('slippage', 0, 1000), 5)
    .option('--report <file>', 'write a self-contained HTML report (frontier scatter, out-of-sample path)')
    .option('--write <file>', 'write the recommended configuration as a portfolio file (every other field of the original kept)')
    .option('--json', 'print one JSON object (no table, no progress bar)')
    .addHelpText(
      'after',
      `
Examples:
  ballast tune --config examples/backtest/portfolio.yaml
  ballast tune --config examples/backtest/portfolio.yaml --grid "scale=0.5,1,2; to=target,band-edge" --objective "min-cost tracking-error<=2.5%" --write best.yaml
  ballast tune --config examples/backtest/portfolio.yaml --walk-forward 2y/6m --report out/tune.html
Total cost = fees + slippage − net funding (received − paid); basis and tax are not counted.
Exit codes: 0 done, 1 no configuration met the objective for --write, 2 bad input, 130 interrupted (run it again to resume).`,
    )
    .action(async (o) => {
      const portfolio = loadPortfolio(o.config);
      const grid = spec(() => (o.grid !== undefined ? parseGrid(o.grid, portfolio) : defaultGrid(portfolio)));
      const objective = spec(() => parseObjective(o.objective));
      const wf = o.walkForward !== undefined ? spec(() => parseWalkForward(o.walkForward!)) : undefined;
      if (!Number.isInteger(o.workers)) throw new UsageError(`--workers must be a whole number, got ${o.workers}`);
      if (portfolio.quote !== 'USDT') throw new UsageError(`the bundled history is quoted in USDT; the portfolio's quote is ${portfolio.quote}`);
      let needs: ReturnType<typeof historyNeeds>;
      try {
        needs = historyNeeds(portfolio);
      } catch (e) {
        throw new UsageError(`${o.config}: ${(e as Error).message}`);
      }
      const history = loadHistory({
        dir: o.data,
        interval: '1d',
        assets: needs.assets,
        stable: needs.stable,
        perps: needs.perps,
        quote: 'USDT',
        ...(o.from !== undefined ? { from: o.from } : {}),
        ...(o.to !== undefined ? { to: o.to } : {}),
      });
      const options = { ...DEFAULT_OPTIONS, capital: o.capital, slippage: o.slippage / 1e4 };
      const resultsFile = o.results ?? join('out', 'tune', `${basename(o.config).replace(/\.[^.]+$/, '')}.jsonl`);
      const day = (t: number) => new Date(t).toISOString().slice(0, 10);
      if (!o.json) {
        out(`ballast tune: ${relative(process.cwd(), o.config) || o.config} over ${history.times.length} daily bars, ${day(history.times[0]!)} → ${day(history.times[history.times.length - 1]!)}`);
        for (const l of headerLines(grid, objective, portfolio.quote, o.capital)) out(l);
        out(`Running on ${o.workers === 0 ? 'this thread' : `${o.workers} worker thread${o.workers === 1 ? '' : 's'}`}; results in ${resultsFile}`);
      }
      // Ctrl-C: stop sending cells, keep what finished (the results file), exit 130; twice: exit at once.
      const abort = new AbortController();
      let signals = 0;
      const onSignal = () => {
        if (++signals > 1) process.exit(130);
        process.stderr.write('\nballast tune: stopping after the cells in flight (Ctrl-C again to exit at once)\n');
        abort.abort();
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      let progress: Progress | null = null;
      let phase = '';
      let result: TuneResult;
      try {
        result = await runTune({
            portfolio,
            history,
            options,
            grid,
            objective,
            ...(wf ? { walkForward: wf } : {}),
            workers: o.workers,
            resultsFile,
            fresh: o.fresh === true,
            signal: abort.signal,
            onPhase: (p, toRun, resumed) => {
              progress?.stop();
              phase = p === 'sweep' ? 'tune' : 'test windows';
              if (!o.json && resumed > 0) out(`${phase}: ${resumed} result${resumed === 1 ? '' : 's'} read back from ${resultsFile}, ${toRun} to run`);
              progress = createProgress({ total: toRun, label: phase, enabled: !o.json });
            },
            onProgress: () => progress?.tick(),
          });
      } catch (e) {
        if (e instanceof TuneSpecError) throw new UsageError(e.message);
        if (e instanceof TuneInterrupted) {
          process.stderr.write(`ballast: ${e.message}\n`);
          ctx.code = 130;
          return;
        }
        throw e;
      } finally {
        (progress as Progress | null)?.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
      let written: string | null = null;
      if (o.write !== undefined) {
        if (result.chosen === null) {
          process.stderr.write(`ballast: no configuration met the objective "${o.objective}": nothing written to ${o.write}\n`);
          ctx.code = 1;
        } else {
          const cell = result.cells[result.chosen]!.cell;
          const m = result.cells[result.chosen]!.metrics;
          const header = ` Written by ballast tune from ${basename(o.config)}: ${cellLabel(cell)}\n (objective ${o.objective}; tracking error ${(m.trackingError * 100).toFixed(2)}%, total cost ${Math.round(m.totalCost)} ${portfolio.quote} over ${day(history.times[0]!)} → ${day(history.times[history.times.length - 1]!)})`;
          const text = writePortfolio(readFileSync(o.config, 'utf8'), o.config, cell, header);
          writeOut('--write', o.write, text);
          written = o.write;
        }
      }
      if (o.report !== undefined) {
        writeOut('--report', o.report, renderTuneReport({ title: `ballast tune — ${basename(o.config)}`, quote: portfolio.quote, result, grid, objective, ...(wf ? { walkForward: wf } : {}) }));
      }
      if (o.json) {
        out(JSON.stringify(tuneJson(result, grid, objective, wf, { config: o.config, bars: history.times.length, from: day(history.times[0]!), to: day(history.times[history.times.length - 1]!), written, report: o.report ?? null, results: resultsFile }), null, 2));
        return;
      }
      out('');
      for (const l of resultLines(result, objective, portfolio.quote)) out(l);
      if (wf) {
        out('');
        for (const l of walkForwardLines(result, wf, portfolio.quote)) out(l);
      }
      out('');
      out(`${result.computed} run${result.computed === 1 ? '' : 's'} computed, ${result.resumed} read back, in ${result.seconds.toFixed(1)} s on ${result.workers === 0 ? 'this thread' : `${result.workers} worker thread${result.workers === 1 ? '' : 's'}`}.`);
      if (written) out(`Portfolio file: ${written}`);
      if (o.report) out(`Report: ${o.report}`);
    });
}
