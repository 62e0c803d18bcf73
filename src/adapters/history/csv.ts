/**
 * Hand-written readers for the bundled market-history CSV files (see data/README.md for the
 * conventions). Every problem is reported as a {@link HistoryError} naming the file and the 1-based
 * line number (line 1 is the header), so a user can open the file at the right place.
 *
 * Checks on every file: the exact header, the column count of every row, every field a finite
 * decimal number, integer non-negative timestamps, strictly ascending timestamps (an unsorted or
 * duplicate timestamp names both lines). OHLCV rows additionally need positive prices,
 * low ≤ min(open, close) ≤ max(open, close) ≤ high, and a non-negative volume. Mark prices must be
 * positive; funding rates may have either sign. A single trailing newline (LF or CRLF) is allowed;
 * an empty line anywhere else is an error.
 */
import { readFileSync } from 'node:fs';
import type { FundingSeries, MarkSeries } from '../../model/history.js';

export class HistoryError extends Error {
  readonly file: string;
  /** 1-based line number; 0 for problems about the whole file (missing file, no data in range). */
  readonly line: number;
  readonly problem: string;

  constructor(file: string, line: number, problem: string) {
    super(line > 0 ? `${file}:${line}: ${problem}` : `${file}: ${problem}`);
    this.name = 'HistoryError';
    this.file = file;
    this.line = line;
    this.problem = problem;
  }
}

/** OHLCV bars as a struct of arrays; `time` is the bar open time (UTC epoch ms). */
export interface Bars {
  time: Float64Array;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
}

export const BARS_HEADER = 'timestamp_ms,open,high,low,close,volume';
export const FUNDING_HEADER = 'timestamp_ms,funding_rate';
export const MARKS_HEADER = 'timestamp_ms,mark_price';

/** Human description of a time for error messages: `1577836800000 (2020-01-01 00:00 UTC)`. */
export function describeTime(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  return `${ms} (${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC)`;
}

function readText(file: string, expected: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new HistoryError(file, 0, `file not found (expected ${expected})`);
    if (code === 'EISDIR') throw new HistoryError(file, 0, `is a directory (expected ${expected})`);
    throw new HistoryError(file, 0, `cannot read file: ${(e as Error).message}`);
  }
}

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i);
const MAX_EXACT_MANTISSA = 2 ** 53;

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Slow path for a field the fast path in parseColumns does not take (exponent, long mantissa,
 * anything else): a strict decimal (no hex, no spaces, no "Infinity") through Number(), else NaN.
 */
function parseSlow(buf: Buffer, a: number, b: number): number {
  const text = buf.toString('latin1', a, b);
  return DECIMAL.test(text) ? Number(text) : NaN;
}

/**
 * Parse a CSV file with a fixed header into numeric columns, byte by byte (no per-row strings).
 * `check(values)` may return a problem string for row-level semantic checks.
 */
function parseColumns(
  file: string,
  buf: Buffer,
  header: string,
  names: readonly string[],
  check: (values: Float64Array) => string | null,
): Float64Array[] {
  const ncol = names.length;
  const len = buf.length;
  // Header.
  let nl = buf.indexOf(10);
  const headEnd = nl < 0 ? len : nl;
  let head = buf.toString('utf8', 0, headEnd);
  if (head.endsWith('\r')) head = head.slice(0, -1);
  if (head.charCodeAt(0) === 0xfeff) head = head.slice(1);
  if (len === 0) throw new HistoryError(file, 1, `empty file (expected header "${header}")`);
  if (head !== header) throw new HistoryError(file, 1, `wrong header "${head}" (expected "${header}")`);

  // Upper bound on the row count: number of newlines.
  let cap = 0;
  for (let i = nl; i >= 0; i = buf.indexOf(10, i + 1)) cap++;
  const cols: Float64Array[] = names.map(() => new Float64Array(cap));
  const values = new Float64Array(ncol);
  const starts = new Int32Array(ncol + 1);
  const ends = new Int32Array(ncol + 1);

  let n = 0;
  let line = 1;
  let pos = nl < 0 ? len : nl + 1;
  let prevTime = -Infinity;
  let prevLine = 0;
  while (pos < len) {
    line++;
    nl = buf.indexOf(10, pos);
    let end = nl < 0 ? len : nl;
    const next = end + 1;
    if (end > pos && buf[end - 1] === 13) end--;
    if (end === pos) {
      if (next >= len) break; // trailing newline
      throw new HistoryError(file, line, 'empty line');
    }
    // One pass over the row: split on commas and parse each field. Fast path: a plain decimal
    // (optional sign, digits, optional fraction) with an integer mantissa < 2^53 and ≤ 22 fraction
    // digits is mantissa / 10^k — one correctly rounded IEEE division, identical to Number().
    let nf = 0;
    let bad = -1;
    let i = pos;
    for (;;) {
      const a = i;
      let neg = false;
      let m = 0;
      let digits = 0;
      let frac = -1;
      let slow = false;
      let c = i < end ? buf[i]! : 44;
      if (c === 45 || c === 43) {
        neg = c === 45;
        i++;
      }
      for (; i < end; i++) {
        c = buf[i]!;
        if (c === 44) break;
        if (c >= 48 && c <= 57) {
          m = m * 10 + (c - 48);
          digits++;
          if (frac >= 0) frac++;
        } else if (c === 46 && frac < 0) frac = 0;
        else slow = true;
      }
      if (nf < ncol) {
        let v: number;
        if (!slow && digits > 0 && m < MAX_EXACT_MANTISSA && frac <= 22) {
          v = frac > 0 ? m / POW10[frac]! : m;
          if (neg) v = -v;
        } else {
          v = parseSlow(buf, a, i);
        }
        if (bad < 0 && !Number.isFinite(v)) bad = nf;
        values[nf] = v;
        starts[nf] = a;
        ends[nf] = i;
      }
      nf++;
      if (i >= end) break;
      i++; // skip the comma
    }
    if (nf !== ncol) {
      throw new HistoryError(file, line, `expected ${ncol} columns (${header}), found ${nf}`);
    }
    if (bad >= 0) {
      const f = buf.toString('utf8', starts[bad]!, ends[bad]!);
      const v = values[bad]!;
      const what = f.length === 0 ? 'empty' : Number.isNaN(v) ? 'not a number' : 'not finite';
      throw new HistoryError(file, line, `${names[bad]} "${f}" is ${what}`);
    }
    const t = values[0]!;
    if (!Number.isInteger(t) || t < 0) {
      const f = buf.toString('utf8', starts[0]!, ends[0]!);
      throw new HistoryError(file, line, `timestamp_ms "${f}" is not a non-negative integer of milliseconds`);
    }
    if (t === prevTime) {
      throw new HistoryError(file, line, `duplicate timestamp ${describeTime(t)}, also on line ${prevLine}`);
    }
    if (t < prevTime) {
      throw new HistoryError(
        file,
        line,
        `timestamp ${describeTime(t)} is earlier than ${describeTime(prevTime)} on line ${prevLine} (rows must be sorted ascending)`,
      );
    }
    const problem = check(values);
    if (problem !== null) throw new HistoryError(file, line, problem);
    for (let c = 0; c < ncol; c++) cols[c]![n] = values[c]!;
    n++;
    prevTime = t;
    prevLine = line;
    pos = next;
  }
  return cols.map((col) => (n === col.length ? col : col.slice(0, n)));
}

const BAR_NAMES = ['timestamp_ms', 'open', 'high', 'low', 'close', 'volume'] as const;

function checkBar(v: Float64Array): string | null {
  const o = v[1]!;
  const h = v[2]!;
  const l = v[3]!;
  const c = v[4]!;
  for (let i = 1; i <= 4; i++) {
    if (v[i]! <= 0) return `${BAR_NAMES[i]} ${v[i]} is not a positive price`;
  }
  if (h < Math.max(o, c) || l > Math.min(o, c) || l > h) {
    return `inconsistent bar: open ${o}, high ${h}, low ${l}, close ${c} (need low ≤ open, close ≤ high)`;
  }
  if (v[5]! < 0) return `volume ${v[5]} is negative`;
  return null;
}

/** Read an OHLCV file (`timestamp_ms,open,high,low,close,volume`, bar open times). */
export function readBars(file: string, expected = `an OHLCV CSV with header "${BARS_HEADER}"`): Bars {
  const text = readText(file, expected);
  const [time, open, high, low, close, volume] = parseColumns(file, text, BARS_HEADER, BAR_NAMES, checkBar);
  return { time: time!, open: open!, high: high!, low: low!, close: close!, volume: volume! };
}

/** Read a funding file (`timestamp_ms,funding_rate`); rates are fractions and may be negative. */
export function readFunding(file: string, expected = `a funding CSV with header "${FUNDING_HEADER}"`): FundingSeries {
  const text = readText(file, expected);
  const [time, rate] = parseColumns(file, text, FUNDING_HEADER, ['timestamp_ms', 'funding_rate'], () => null);
  return { time: time!, rate: rate! };
}

/** Read a mark-price file (`timestamp_ms,mark_price`); prices must be positive. */
export function readMarks(file: string, expected = `a mark-price CSV with header "${MARKS_HEADER}"`): MarkSeries {
  const text = readText(file, expected);
  const [time, price] = parseColumns(file, text, MARKS_HEADER, ['timestamp_ms', 'mark_price'], (v) =>
    v[1]! > 0 ? null : `mark_price ${v[1]} is not a positive price`,
  );
  return { time: time!, price: price! };
}
