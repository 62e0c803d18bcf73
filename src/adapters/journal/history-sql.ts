/**
 * The history table's SQL, shared by the SQLite and Postgres journals: one multi-row upsert writes a point
 * into every level (src/core/history.ts), doing `mergeHistory` in the database — the later point's values
 * by (time, event), TPV's minimum and maximum — so a write is one statement and needs no read.
 *
 * Classes are stored as compact JSON, `[[name, weight, drift, futures], …]` (about 60 bytes a class).
 */
import { HISTORY_LEVELS, historyRow, type HistoryClass, type HistoryPoint, type HistoryRow } from '../../core/history.js';

const COLUMNS = ['level', 'bucket', 'time', 'event', 'tpv', 'tpv_min', 'tpv_max', 'hedge_notional', 'classes'] as const;

export function encodeClasses(c: readonly HistoryClass[]): string {
  return JSON.stringify(c.map((x) => [x.name, x.weight, x.drift, x.futures]));
}

export function decodeClasses(text: string): HistoryClass[] {
  return (JSON.parse(text) as [string, number, number, number][]).map(([name, weight, drift, futures]) => ({ name, weight, drift, futures }));
}

/** The upsert of one point into every level: `$n` placeholders for Postgres, `?` for SQLite. */
export function upsertHistorySql(dialect: 'sqlite' | 'postgres', extra: readonly string[] = []): string {
  const cols = [...extra, ...COLUMNS];
  let n = 0;
  const ph = () => (dialect === 'postgres' ? `$${++n}` : '?');
  const rows = Array.from({ length: HISTORY_LEVELS }, () => `(${cols.map(ph).join(', ')})`).join(', ');
  const later = '(excluded.time > history.time OR (excluded.time = history.time AND excluded.event >= history.event))';
  const last = (c: string) => `${c} = CASE WHEN ${later} THEN excluded.${c} ELSE history.${c} END`;
  const [lo, hi] = dialect === 'postgres' ? ['LEAST', 'GREATEST'] : ['min', 'max'];
  return `INSERT INTO history (${cols.join(', ')}) VALUES ${rows}
    ON CONFLICT (${[...extra, 'level', 'bucket'].join(', ')}) DO UPDATE SET
      ${['time', 'event', 'tpv', 'hedge_notional', 'classes'].map(last).join(', ')},
      tpv_min = ${lo}(history.tpv_min, excluded.tpv_min), tpv_max = ${hi}(history.tpv_max, excluded.tpv_max)`;
}

/** The arguments of `upsertHistorySql` for a point (after `extra`'s values on every row). */
export function upsertHistoryArgs(p: HistoryPoint, extra: readonly unknown[] = []): unknown[] {
  const classes = encodeClasses(p.classes);
  const args: unknown[] = [];
  for (let level = 0; level < HISTORY_LEVELS; level++) {
    const r = historyRow(level, p);
    args.push(...extra, r.level, r.bucket, r.time, r.event, r.tpv, r.tpvMin, r.tpvMax, r.hedgeNotional, classes);
  }
  return args;
}

export interface HistorySqlRow {
  level: number;
  bucket: number;
  time: number;
  event: number;
  tpv: number;
  tpv_min: number;
  tpv_max: number;
  hedge_notional: number;
  classes: string;
}

export const historyFromRow = (r: HistorySqlRow): HistoryRow => ({
  level: r.level,
  bucket: r.bucket,
  time: r.time,
  event: r.event,
  tpv: r.tpv,
  hedgeNotional: r.hedge_notional,
  classes: decodeClasses(r.classes),
  tpvMin: r.tpv_min,
  tpvMax: r.tpv_max,
});
