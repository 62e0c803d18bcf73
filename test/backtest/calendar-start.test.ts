/**
 * The initial allocation is the first calendar rebalance: after a start on Friday 2021-01-01 (the targets
 * bought at that bar's close), calendar-monthly next trades on 2021-02-01 and calendar-weekly ("every
 * Monday") on Monday 2021-01-04 — not on Saturday 2021-01-02, the bar after the start.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPortfolio } from '../../src/adapters/files/portfolio.js';
import { loadHistory } from '../../src/adapters/history/history.js';
import { DEFAULT_OPTIONS, runPolicy } from '../../src/backtest/engine.js';
import { standardPolicies } from '../../src/backtest/policies.js';
import { historyNeeds } from '../../src/backtest/run.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const day = (t: number) => new Date(t).toISOString().slice(0, 10);

describe('calendar policies start counting from the initial allocation', () => {
  const p = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
  const needs = historyNeeds(p);
  const h = loadHistory({ dir: join(ROOT, 'data'), interval: '1d', assets: needs.assets, stable: needs.stable, perps: needs.perps, quote: 'USDT', from: Date.UTC(2021, 0, 1), to: Date.UTC(2021, 2, 15) });
  const specs = standardPolicies(p);
  const run = (name: string) => runPolicy(p, specs.find((s) => s.name === name)!, h, DEFAULT_OPTIONS);

  it('the history starts on Friday 2021-01-01', () => {
    expect(day(h.times[0]!)).toBe('2021-01-01');
    expect(new Date(h.times[0]!).getUTCDay()).toBe(5);
  });

  it('calendar-monthly: first rebalance 2021-02-01, then 2021-03-01', () => {
    expect(run('calendar-monthly').series.rebalanceTimes!.map(day)).toEqual(['2021-02-01', '2021-03-01']);
  });

  it('calendar-weekly: every Monday, the first on 2021-01-04', () => {
    const times = run('calendar-weekly').series.rebalanceTimes!;
    expect(day(times[0]!)).toBe('2021-01-04');
    for (const t of times) expect(new Date(t).getUTCDay()).toBe(1);
  });

  it('calendar-daily: the first rebalance is the day after the start', () => {
    expect(day(run('calendar-daily').series.rebalanceTimes![0]!)).toBe('2021-01-02');
  });
});
