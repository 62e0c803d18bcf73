/**
 * `ballast tax-report` from a journal: lots from its fills (fees in the cost basis and proceeds), perp
 * P&L against the average entry, funding as journaled, per year — hand-computed; and the CLI's exit 2.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import { reportFromJournal, taxReportText } from '../../src/apps/cli/tax-report.js';
import type { TaxConfig } from '../../src/core/lots.js';
import type { FillRecord } from '../../src/ports/journal.js';
import { ManualClock } from '../../src/ports/clock.js';

const US: TaxConfig = { method: 'hifo', shortTermRate: 0.37, longTermRate: 0.2, longTermAfterDays: 365, futuresRate: 0.37 };
const t = (iso: string) => Date.parse(iso);
let id = 0;
const fill = (symbol: string, side: 'buy' | 'sell', amount: number, price: number, fee: number, time: string): FillRecord => ({
  account: 'main',
  tradeId: String(++id),
  venueOrderId: `o${id}`,
  clientOrderId: null,
  symbol,
  side,
  amount,
  price,
  cost: amount * price,
  fee,
  feeCurrency: 'USDT',
  time: t(time),
  liquidation: false,
  external: false,
});

describe('tax report from a journal', () => {
  it('lots, gains and tax per year by hand', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ballast-tax-'));
    const db = join(dir, 'j.db');
    const j = new SqliteJournal(db, { clock: new ManualClock(0) });
    // Two BTC buys (fees in the unit cost): 1 @ 20,000 + 20 fee → 20,020; 1 @ 50,000 + 50 fee → 50,050.
    j.insertFill(fill('BTC/USDT', 'buy', 1, 20_000, 20, '2023-01-05T00:00:00Z'));
    j.insertFill(fill('BTC/USDT', 'buy', 1, 50_000, 50, '2024-02-01T00:00:00Z'));
    // 2024-06-01: sell 1 @ 60,000 − 60 fee = 59,940. HIFO: the 50,050 lot, short-term gain 9,890.
    j.insertFill(fill('BTC/USDT', 'sell', 1, 60_000, 60, '2024-06-01T00:00:00Z'));
    // A short perp hedge: sell 0.5 @ 60,000 (fee 15), buy back 0.5 @ 56,000 (fee 14): P&L 2,000 − 14 − 15.
    j.insertFill(fill('BTC/USDT:USDT', 'sell', 0.5, 60_000, 15, '2024-07-01T00:00:00Z'));
    j.insertFill(fill('BTC/USDT:USDT', 'buy', 0.5, 56_000, 14, '2024-08-01T00:00:00Z'));
    j.insertFunding({ account: 'main', id: 'f1', symbol: 'BTC/USDT:USDT', time: t('2024-07-10T00:00:00Z'), amount: 25, currency: 'USDT', rate: 0.0001 });
    const r = reportFromJournal('test', US, 'USDT', j.fills(), j.funding());
    j.close();
    expect(r.sales.map((s) => [s.asset, s.acquired, s.qty, s.costBasis, s.proceeds, s.gain, s.term])).toEqual([
      ['BTC', t('2024-02-01T00:00:00Z'), 1, 50_050, 59_940, 9_890, 'short'],
    ]);
    expect(r.years).toHaveLength(1);
    const y = r.years[0]!;
    expect([y.year, y.shortTerm, y.longTerm, y.perpPnl, y.funding]).toEqual([2024, 9_890, 0, 2_000 - 15 - 14, 25]);
    expect(y.spotTax).toBeCloseTo(0.37 * 9_890, 9);
    expect(y.futuresTax).toBeCloseTo(0.37 * (1_971 + 25), 9);
    expect(r.tax).toBeCloseTo(0.37 * (9_890 + 1_996), 9);
    expect(taxReportText(r, 'USDT')).toContain('Total tax 4,397.82 USDT');
  });

  it('the CLI: exit 2 without a tax: section, and without --db or --backtest-policy', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ballast-tax-'));
    const cli = (args: string[]) => spawnSync('npx', ['tsx', 'src/apps/cli/main.ts', 'tax-report', ...args], { encoding: 'utf8' });
    const a = cli(['-c', 'examples/1-btc-band/portfolio.yaml', '--backtest-policy', 'threshold']);
    expect(a.status).toBe(2);
    expect(a.stderr).toContain('no tax: section');
    const b = cli(['-c', 'examples/backtest/portfolio-tax-us.yaml']);
    expect(b.status).toBe(2);
    expect(b.stderr).toContain('exactly one of --db FILE');
    // A backtest: prints and writes CSV.
    const csv = join(dir, 'tax.csv');
    const c = cli(['-c', 'examples/backtest/portfolio-tax-de.yaml', '--backtest-policy', 'threshold', '--from', '2021-01-01', '--to', '2022-01-01', '--csv', csv]);
    expect(c.status).toBe(0);
    expect(c.stdout).toContain('Per year');
    const rows = readFileSync(csv, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('account,asset,acquired,sold,qty,proceeds,costBasis,gain,term');
    expect(rows.length).toBeGreaterThan(1);
  }, 60_000);
});
