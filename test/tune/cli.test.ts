/**
 * `ballast tune` through the real CLI bundle: bad specs exit 2 naming the problem (no stack trace), the
 * text and JSON results, --write and --report, and Ctrl-C then the same command resuming.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePortfolio } from '../../src/adapters/files/portfolio.js';
import { bundleCli, killStragglers, runCli, scratchDir, SEED_CONFIG, startCli, type Cli } from '../cli/helpers.js';

let cli: Cli;
const scratch = scratchDir('ballast-tune-cli-');
beforeAll(async () => {
  cli = await bundleCli();
}, 60_000);
afterAll(() => {
  killStragglers();
  scratch.remove();
});

const YEAR = ['--from', '2024-01-01', '--to', '2025-01-01'];

describe('ballast tune', () => {
  // One case per kind of spec (the full list of spec errors is in grid.test.ts and frontier.test.ts).
  it.each([
    [['--grid', 'scale.Memecoins=2'], /--grid scale\.Memecoins: no class named "Memecoins"/],
    [['--grid', 'mode=hybrid'], /hybrid needs a schedule/],
    [['--objective', 'min-cost tracking-error<=2.5'], /as a percentage/],
    [['--walk-forward', '5y/1y'], /shorter than one training plus one test window/],
    [['--workers', '-1'], /workers must be a number/],
    [['--results', '/dev/null/r.jsonl'], /--results \/dev\/null\/r\.jsonl: cannot open/],
  ])('%j exits 2 naming the problem', async (args, msg) => {
    const r = await runCli(cli, ['tune', '--config', SEED_CONFIG, ...YEAR, '--results', join(scratch.dir, 'bad.jsonl'), ...args]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('prints the grid and its size before running, the frontier with the current configuration, writes the portfolio file and the report', async () => {
    const write = join(scratch.dir, 'best.yaml');
    const report = join(scratch.dir, 'tune.html');
    const r = await runCli(cli, ['tune', '--config', SEED_CONFIG, ...YEAR, '--grid', 'scale=0.5,1,2; to=target,band-edge', '--objective', 'min-cost tracking-error<=3%', '--workers', '1', '--results', join(scratch.dir, 'a.jsonl'), '--write', write, '--report', report]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Grid \(--grid scale=0\.5,1,2; to=target,band-edge\): 6 configurations = 3 × 2\n {2}band \(3\): ×0\.5, ×1, ×2\n {2}to \(2\): to target, to band-edge/);
    expect(r.stdout.indexOf('6 configurations')).toBeLessThan(r.stdout.indexOf('Frontier:'));
    expect(r.stdout).toMatch(/total cost = fees \+ slippage − net funding/);
    expect(r.stdout).toMatch(/\n\*.*CURRENT/);
    expect(r.stdout).toMatch(/Recommended \(min-cost\): bands ×[0-9.]+ · to (target|band-edge)/);
    const written = readFileSync(write, 'utf8');
    expect(written).toMatch(/^# Written by ballast tune from portfolio\.yaml/);
    expect(written).toContain("# The seed's four-class portfolio");
    expect(parsePortfolio(written, write).execution).toEqual(parsePortfolio(readFileSync(SEED_CONFIG, 'utf8'), SEED_CONFIG).execution);
    const html = readFileSync(report, 'utf8');
    expect(html).toContain('uPlot');
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('--json: one object with every cell, the frontier and the recommendation', async () => {
    const r = await runCli(cli, ['tune', '--config', SEED_CONFIG, ...YEAR, '--grid', 'scale=0.5,2', '--workers', '0', '--json', '--results', join(scratch.dir, 'j.jsonl')]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { cells: unknown[]; frontier: number[]; grid: { size: number }; costCounted: string; current: { metrics: { totalCost: number } } };
    expect(j.grid.size).toBe(2);
    expect(j.cells).toHaveLength(2);
    expect(j.costCounted).toMatch(/fees \+ slippage/);
    expect(typeof j.current.metrics.totalCost).toBe('number');
  });

  it('Ctrl-C keeps the finished cells and exits 130; the same command resumes from them', async () => {
    const results = join(scratch.dir, 'int.jsonl');
    const args = ['tune', '--config', SEED_CONFIG, '--grid', 'scale=0.5,1,2; to=target,band-edge,halfway; instrument=futures,auto', '--workers', '2', '--results', results];
    const child = startCli(cli, args);
    const until = Date.now() + 60_000;
    while (!(existsSync(results) && readFileSync(results, 'utf8').split('\n').length > 2)) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`no results written: ${child.output().stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(code, child.output().stderr).toBe(130);
    expect(child.output().stderr).toMatch(/tune interrupted: \d+ results computed in this run and saved in .*int\.jsonl; the same command resumes from them/);
    const saved = readFileSync(results, 'utf8').trim().split('\n').length;
    // 18 cells and the current configuration (spot, not a cell of this grid).
    expect(saved).toBeLessThan(19);
    const again = await runCli(cli, args, { timeoutMs: 120_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`tune: ${saved} results read back from ${results}, ${19 - saved} to run`);
    expect(readFileSync(results, 'utf8').trim().split('\n')).toHaveLength(19);
  }, 150_000);
});
