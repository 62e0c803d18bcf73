/**
 * Money, percent and number formatting: the one module every output uses (plan explanations and text, CLI
 * and service summaries, the journal view, the backtest table, located input errors, the dashboard). Pure.
 * The planner's formatters (money, pct, num, amount) avoid Intl: the planner formats its arithmetic on every
 * call and toLocaleString costs microseconds a number. The table formatters use Intl's compact notation.
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

/** Money without its currency, 2 decimals and separators: `1,234.56` (summaries, logs). */
export function amount(x: number, decimals = 2): string {
  if (!Number.isFinite(x)) return String(x);
  const fixed = Math.abs(x).toFixed(decimals);
  return `${x < 0 && Number(fixed) !== 0 ? '-' : ''}${group(fixed)}`;
}

/** A number as written in an input file (12 significant digits, no grouping): `0.3`, `1250000`. */
export function exactNum(x: number): string {
  return String(+x.toPrecision(12));
}

/** A fraction as written in an input file: 0.055 → `5.5%` (no rounding beyond float noise). */
export function exactPct(x: number): string {
  return `${+(x * 100).toPrecision(10)}%`;
}

// ---- table formatters (the backtest policy table): every column stays narrow

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const dec2 = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
/** Beyond the normal range a value is shown compactly (12.35B). */
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 2 });

function finite(x: number, f: (x: number) => string): string {
  return Number.isFinite(x) ? f(x) : x > 0 ? '∞' : x < 0 ? '-∞' : 'n/a';
}

/** Money in whole quote units: 1,234,567 (compact from one billion: 1.23B). */
export function tableMoney(x: number): string {
  return finite(x, (v) => {
    const r = Math.round(v);
    if (Math.abs(r) >= 1e9) return compact.format(v);
    return int.format(r === 0 ? 0 : r);
  });
}

/** Fraction as a percentage with 2 decimals and separators: 0.12345 → 12.35% (compact from 10,000%). */
export function tablePct(x: number): string {
  return finite(x, (v) => {
    const p = v * 100;
    return `${Math.abs(p) >= 1e4 ? compact.format(p) : dec2.format(p)}%`;
  });
}

/** Plain number with 2 decimals and separators (compact from 10,000). */
export function tableNum2(x: number): string {
  return finite(x, (v) => (Math.abs(v) >= 1e4 ? compact.format(v) : dec2.format(v)));
}

/** Count with separators (compact from one million). */
export function tableCount(x: number): string {
  return finite(x, (v) => (Math.abs(v) >= 1e6 ? compact.format(v) : int.format(v)));
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
