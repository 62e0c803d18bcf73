/**
 * Fixed-width text table comparing backtested policies (one row per policy), at most 160 columns.
 * Money in whole quote units with thousands separators; percentages with 2 decimals.
 */
import { tableCount as fmtCount, tableMoney as fmtMoney, tableNum2 as fmtNum2, tablePct as fmtPct } from '../core/format.js';
import type { PolicyMetrics } from './metrics.js';

export const TABLE_MAX_WIDTH = 160;

export interface PolicyColumn {
  key: string;
  header: string;
  /** Tooltip / long description of the column. */
  title: string;
  value: (m: PolicyMetrics) => string;
}

/** The columns of the comparison (shared by the text table and the HTML report). */
export function policyColumns(quote: string): PolicyColumn[] {
  return [
    { key: 'final', header: `Final ${quote}`, title: `Final equity (TPV) in ${quote}`, value: (m) => fmtMoney(m.finalEquity) },
    { key: 'cagr', header: 'CAGR', title: 'Compound annual growth rate', value: (m) => fmtPct(m.cagr) },
    { key: 'vol', header: 'Vol', title: 'Annualised volatility of bar returns', value: (m) => fmtPct(m.volatility) },
    { key: 'sharpe', header: 'Sharpe', title: 'Annualised Sharpe ratio, risk-free rate 0', value: (m) => fmtNum2(m.sharpe) },
    { key: 'maxdd', header: 'Max DD', title: 'Maximum drawdown from the running peak', value: (m) => fmtPct(m.maxDrawdown) },
    { key: 'rebal', header: 'Rebal', title: 'Number of rebalances (bars with trades)', value: (m) => fmtCount(m.rebalances) },
    { key: 'turnover', header: 'Turnover', title: `Traded notional in ${quote}`, value: (m) => fmtMoney(m.turnover) },
    { key: 'fees', header: 'Fees', title: `Fees paid in ${quote}`, value: (m) => fmtMoney(m.fees) },
    { key: 'slip', header: 'Slippage', title: `Slippage cost in ${quote}`, value: (m) => fmtMoney(m.slippage) },
    { key: 'funding', header: 'Funding', title: `Net funding (received − paid) in ${quote}`, value: (m) => fmtMoney(m.funding) },
    { key: 'liq', header: 'Liq', title: 'Liquidations', value: (m) => fmtCount(m.liquidations) },
    { key: 'inband', header: 'In band', title: 'Share of bars with every class inside its band', value: (m) => fmtPct(m.timeInBand) },
    { key: 'te', header: 'Track err', title: 'Tracking error: RMS over bars of the Euclidean distance of weights from targets', value: (m) => fmtPct(m.trackingError) },
  ];
}

function truncate(s: string, width: number): string {
  const chars = [...s];
  if (chars.length <= width) return s;
  return width <= 1 ? chars.slice(0, width).join('') : `${chars.slice(0, width - 1).join('')}…`;
}

function len(s: string): number {
  return [...s].length;
}

/** Fixed-width comparison table; the policy column is shortened (with …) to fit 160 columns. */
export function formatPolicyTable(metrics: PolicyMetrics[], quote: string): string {
  const cols = policyColumns(quote);
  const cells = metrics.map((m) => cols.map((c) => c.value(m)));
  const widths = cols.map((c, j) => Math.max(len(c.header), ...cells.map((r) => len(r[j]!))));
  const sep = '  ';
  const numbersWidth = widths.reduce((a, b) => a + b, 0) + sep.length * cols.length;
  const names = metrics.map((m) => m.name.replace(/\s+/g, ' '));
  const nameWanted = Math.max(len('Policy'), ...names.map(len));
  const nameWidth = Math.max(6, Math.min(nameWanted, TABLE_MAX_WIDTH - numbersWidth));
  const pad = (s: string, w: number, right: boolean) => {
    const p = ' '.repeat(Math.max(0, w - len(s)));
    return right ? p + s : s + p;
  };
  const row = (name: string, values: string[]) =>
    (pad(truncate(name, nameWidth), nameWidth, false) + values.map((v, j) => sep + pad(v, widths[j]!, true)).join('')).trimEnd();
  const lines = [row('Policy', cols.map((c) => c.header))];
  lines.push('-'.repeat(nameWidth + numbersWidth));
  for (let i = 0; i < metrics.length; i++) lines.push(row(names[i]!, cells[i]!));
  return lines.join('\n');
}
