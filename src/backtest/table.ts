/**
 * Fixed-width text table comparing backtested policies (one row per policy), at most 160 columns.
 * Money in whole quote units with thousands separators; percentages with 2 decimals.
 */
import type { PolicyMetrics } from './metrics.js';

export const TABLE_MAX_WIDTH = 160;

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const dec2 = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
/** Beyond the normal range a value is shown compactly (12.35B) so every column stays narrow. */
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 2 });

function finite(x: number, f: (x: number) => string): string {
  return Number.isFinite(x) ? f(x) : x > 0 ? '∞' : x < 0 ? '-∞' : 'n/a';
}

/** Money in whole quote units: 1,234,567 (compact from one billion: 1.23B). */
export function fmtMoney(x: number): string {
  return finite(x, (v) => {
    const r = Math.round(v);
    if (Math.abs(r) >= 1e9) return compact.format(v);
    return int.format(r === 0 ? 0 : r);
  });
}

/** Fraction as a percentage with 2 decimals and separators: 0.12345 → 12.35% (compact from 10,000%). */
export function fmtPct(x: number): string {
  return finite(x, (v) => {
    const p = v * 100;
    return `${Math.abs(p) >= 1e4 ? compact.format(p) : dec2.format(p)}%`;
  });
}

/** Plain number with 2 decimals and separators (compact from 10,000). */
export function fmtNum2(x: number): string {
  return finite(x, (v) => (Math.abs(v) >= 1e4 ? compact.format(v) : dec2.format(v)));
}

/** Count with separators (compact from one million). */
export function fmtCount(x: number): string {
  return finite(x, (v) => (Math.abs(v) >= 1e6 ? compact.format(v) : int.format(v)));
}

export interface PolicyColumn {
  key: string;
  header: string;
  /** Tooltip / long description of the column. */
  title: string;
  value: (m: PolicyMetrics) => string;
}

/**
 * The columns of the comparison (shared by the text table and the HTML report): what a policy ends with,
 * how well it stays on target, and every cost line. Total cost = spot fees + perp fees + slippage − net
 * funding + basis + tax.
 */
export function policyColumns(quote: string): PolicyColumn[] {
  return [
    { key: 'final', header: `Final ${quote}`, title: `Final equity (TPV) in ${quote}`, value: (m) => fmtMoney(m.finalEquity) },
    { key: 'cagr', header: 'CAGR', title: 'Compound annual growth rate', value: (m) => fmtPct(m.cagr) },
    { key: 'maxdd', header: 'Max DD', title: 'Maximum drawdown from the running peak', value: (m) => fmtPct(m.maxDrawdown) },
    { key: 'inband', header: 'In band', title: 'Share of bars with every class inside its band', value: (m) => fmtPct(m.timeInBand) },
    { key: 'te', header: 'Track err', title: 'Tracking error: RMS over bars of the Euclidean distance of weights from targets', value: (m) => fmtPct(m.trackingError) },
    { key: 'spotfees', header: 'Spot fees', title: `Spot trading fees in ${quote}`, value: (m) => fmtMoney(m.costs.spotFees) },
    { key: 'perpfees', header: 'Perp fees', title: `Perp trading fees in ${quote}`, value: (m) => fmtMoney(m.costs.perpFees) },
    { key: 'slip', header: 'Slippage', title: `Slippage cost (spot and perp) in ${quote}`, value: (m) => fmtMoney(m.slippage) },
    { key: 'funding', header: 'Funding', title: `Net funding (received − paid) in ${quote}`, value: (m) => fmtMoney(m.funding) },
    { key: 'basis', header: 'Basis', title: `What hedges lost (+) or gained (−) against a perfect hedge of their class, in ${quote}`, value: (m) => fmtMoney(m.costs.basis) },
    { key: 'tax', header: 'Tax', title: 'Tax on realised gains (— : not modelled)', value: (m) => (m.taxModelled ? fmtMoney(m.costs.tax) : '—') },
    { key: 'cost', header: 'Total cost', title: `Spot fees + perp fees + slippage − net funding + basis + tax, in ${quote}`, value: (m) => fmtMoney(m.costs.total) },
    { key: 'aftertax', header: 'After tax', title: `Final equity less the tax on gains realised in the run, in ${quote}`, value: (m) => fmtMoney(m.afterTaxFinalEquity) },
  ];
}

/** The second table: trading activity, hedges and why bars ended out of band. */
export function activityColumns(quote: string): PolicyColumn[] {
  const oob = (m: PolicyMetrics) => {
    const b = m.outOfBandBars.byCause;
    const parts: [string, number][] = [['not due', b.notDue], ['waited', b.waited], ['cash short', b.cashShort], ['dropped', b.ordersDropped], ['pending', b.pendingFill], ['after trade', b.afterTrade]];
    const text = parts.filter(([, n]) => n > 0).map(([k, n]) => `${k} ${fmtCount(n)}`).join(', ');
    return text === '' ? '—' : text;
  };
  const cut = (m: PolicyMetrics) => m.hedges.closedBy.cutForMargin + m.hedges.closedBy.cutForFunding + m.hedges.closedBy.cutForCap;
  return [
    { key: 'rebal', header: 'Rebal', title: 'Number of rebalances (bars with trades)', value: (m) => fmtCount(m.rebalances) },
    { key: 'turnover', header: 'Turnover', title: `Traded notional in ${quote}`, value: (m) => fmtMoney(m.turnover) },
    { key: 'vol', header: 'Vol', title: 'Annualised volatility of bar returns', value: (m) => fmtPct(m.volatility) },
    { key: 'sharpe', header: 'Sharpe', title: 'Annualised Sharpe ratio, risk-free rate 0', value: (m) => fmtNum2(m.sharpe) },
    { key: 'liq', header: 'Liq', title: 'Liquidations', value: (m) => fmtCount(m.liquidations) },
    { key: 'hedges', header: 'Hedges', title: 'Hedges opened', value: (m) => fmtCount(m.hedges.opened) },
    { key: 'life', header: 'Life', title: 'Median life of a closed hedge, in bars', value: (m) => (m.hedges.opened > 0 ? fmtNum2(m.hedges.medianLifeBars) : '—') },
    { key: 'unwound', header: 'Unwound', title: 'Hedges closed by the unwind rule (class back inside its inner band) or shrunk away by a rebalance', value: (m) => fmtCount(m.hedges.closedBy.unwound) },
    { key: 'converted', header: 'Converted', title: 'Hedges converted into spot by the exit rule', value: (m) => fmtCount(m.hedges.closedBy.converted) },
    { key: 'cut', header: 'Cut', title: 'Hedges cut for margin risk, the funding budget or the gross cap', value: (m) => fmtCount(cut(m)) },
    { key: 'reopened', header: 'Reopened', title: 'Hedges opened on the bar after one on the same perp closed', value: (m) => fmtCount(m.hedges.reopenedNextBar) },
    { key: 'oob', header: 'Out of band', title: 'Bars with some class outside its band', value: (m) => fmtCount(m.outOfBandBars.total) },
    { key: 'why', header: 'Why out of band', title: 'Out-of-band bars by cause', value: oob },
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
export function formatPolicyTable(metrics: PolicyMetrics[], quote: string, cols: PolicyColumn[] = policyColumns(quote)): string {
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
  // A text column (the last one, when it is text) is left-aligned.
  const right = cols.map((c) => c.key !== 'why');
  const row = (name: string, values: string[]) =>
    (pad(truncate(name, nameWidth), nameWidth, false) + values.map((v, j) => sep + pad(v, widths[j]!, right[j]!)).join('')).trimEnd();
  const lines = [row('Policy', cols.map((c) => c.header))];
  lines.push('-'.repeat(nameWidth + numbersWidth));
  metrics.forEach((_, i) => lines.push(row(names[i]!, cells[i]!)));
  return lines.join('\n');
}
