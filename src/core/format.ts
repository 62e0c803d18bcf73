/**
 * Number formatting shared by explanations, tables and the CLI. Pure, and fast: the planner formats
 * its arithmetic on every call, so this avoids Intl (toLocaleString costs microseconds a number).
 */

/** Thousands separators on the integer part of a non-negative decimal string. */
function group(s: string): string {
  const dot = s.indexOf('.');
  const int = dot < 0 ? s : s.slice(0, dot);
  const frac = dot < 0 ? '' : s.slice(dot);
  if (int.length <= 3) return s;
  let out = '';
  for (let i = 0; i < int.length; i++) {
    if (i > 0 && (int.length - i) % 3 === 0) out += ',';
    out += int[i];
  }
  return out + frac;
}

const DOLLAR = new Set(['USD', 'USDT', 'USDC']);

/** `$8,000.00` for dollar stablecoins, `8,000.00 EUR` otherwise. */
export function money(x: number, quote = 'USDT', decimals = 2): string {
  if (!Number.isFinite(x)) return String(x);
  const fixed = Math.abs(x).toFixed(decimals);
  const sign = x < 0 && Number(fixed) !== 0 ? '-' : '';
  const s = group(fixed);
  return DOLLAR.has(quote) ? `${sign}$${s}` : `${sign}${s} ${quote}`;
}

export function pct(x: number, decimals = 2): string {
  return `${(x * 100).toFixed(decimals)}%`;
}

/** Up to `decimals` decimals, trailing zeros dropped, no grouping: `0.137931`, `9375`. */
export function num(x: number, decimals = 6): string {
  if (!Number.isFinite(x)) return String(x);
  const s = x.toFixed(decimals);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/**
 * A margin ratio (maintenance / equity) in words: `margin ratio 42.00%`, or, when there is no equity left to
 * divide by (the ratio is infinite), that the equity would be gone — never "Infinity%".
 */
export function marginRatioText(r: number): string {
  return Number.isFinite(r) ? `margin ratio ${pct(r)}` : 'no equity left: margin ratio unbounded';
}

/**
 * A money amount as output (JSON): rounded to 8 decimals, the precision venues keep quote balances in, so
 * float noise such as 28399.999999999996 leaves as 28400. Only for output; arithmetic keeps full doubles.
 */
export function moneyOut(x: number): number {
  if (!Number.isFinite(x) || Math.abs(x) >= 1e15) return x;
  const r = Math.round(x * 1e8) / 1e8;
  return Object.is(r, -0) ? 0 : r;
}

/** A fraction (weight, band edge, drift) as output: rounded to 14 decimals, which drops float noise only. */
export function fractionOut(x: number): number {
  if (!Number.isFinite(x)) return x;
  const r = Math.round(x * 1e14) / 1e14;
  return Object.is(r, -0) ? 0 : r;
}
