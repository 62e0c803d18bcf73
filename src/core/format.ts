/** Number formatting shared by explanations, tables and the CLI. Pure. */

export function money(x: number, quote = 'USDT', decimals = 2): string {
  const sign = x < 0 ? '-' : '';
  const abs = Math.abs(x);
  const s = abs.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  return quote === 'USD' || quote === 'USDT' || quote === 'USDC' ? `${sign}$${s}` : `${sign}${s} ${quote}`;
}

export function pct(x: number, decimals = 2): string {
  return `${(x * 100).toFixed(decimals)}%`;
}

export function num(x: number, decimals = 6): string {
  return x.toLocaleString('en-US', { maximumFractionDigits: decimals, useGrouping: false });
}
