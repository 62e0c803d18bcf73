/**
 * A sweep's results as JSON lines, one per finished task, written as each arrives: an interrupted sweep
 * (Ctrl-C, a crash, a killed machine) keeps every line it wrote, and the same command run again reads
 * them and computes only what is missing.
 *
 * A line's `key` hashes everything its figures depend on: the cell's whole portfolio (the user's file
 * with the cell applied), the engine options, the bytes of the history and the window's first and last
 * bar. A changed file, option or data set therefore never reuses an old line. A last line cut short by a
 * kill is ignored (and recomputed).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CellMetrics } from './evaluate.js';
import type { Cell } from './grid.js';

export interface ResultLine {
  key: string;
  label: string;
  cell: Cell;
  /** Window: open time of its first bar and of its last bar (ms). */
  from: number;
  to: number;
  metrics: CellMetrics;
}

/** JSON with object keys sorted, so equal values hash equally whatever order they were built in. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** Version of what a line's figures mean: raised when `CellMetrics` changes meaning, so old lines are not reused. */
const RESULTS_VERSION = 2;

export function resultKey(parts: { portfolio: unknown; options: unknown; history: string; from: number; to: number }): string {
  return createHash('sha256').update(canonicalJson({ v: RESULTS_VERSION, ...parts })).digest('hex').slice(0, 32);
}

export class ResultsFile {
  private fd: number | null;
  /** Lines read back at open (by key). */
  readonly known = new Map<string, ResultLine>();
  /** Lines at open that could not be read (a line cut short by a kill). */
  readonly unreadable: number = 0;

  constructor(readonly path: string, fresh = false) {
    mkdirSync(dirname(path), { recursive: true });
    let bad = 0;
    let endsWithNewline = true;
    if (!fresh && existsSync(path)) {
      const text = readFileSync(path, 'utf8');
      endsWithNewline = text.length === 0 || text.endsWith('\n');
      for (const line of text.split('\n')) {
        if (line.trim() === '') continue;
        try {
          const r = JSON.parse(line) as ResultLine;
          if (typeof r.key === 'string' && r.metrics && typeof r.metrics.totalCost === 'number') this.known.set(r.key, r);
          else bad++;
        } catch {
          bad++;
        }
      }
    }
    this.unreadable = bad;
    this.fd = openSync(path, fresh ? 'w' : 'a');
    // A line cut short: end it, so the next line starts clean (the broken one stays unreadable).
    if (!endsWithNewline) writeSync(this.fd, '\n');
  }

  append(r: ResultLine): void {
    if (this.fd === null) throw new Error(`results file ${this.path} is closed`);
    writeSync(this.fd, `${JSON.stringify(r)}\n`);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
