/**
 * The history table's SQL, shared by the SQLite and Postgres journals: one multi-row upsert writes a point
 * into every level (src/core/history.ts), doing `mergeHistory` in the database — the later point's values
 * by (time, event), TPV's minimum and maximum — so a write is one statement and needs no read.
 *
 * A row keeps the classes' names as JSON text (`["BTC","ETH",…]`, the same text on every row, parsed once
 * per reader) and their weight, drift and futures notional as a blob of float64 (little-endian, 24 bytes
 * a class): compact, exact, and read without parsing numbers.
 */
import { HISTORY_LEVELS, classValues, historyRow, type HistoryPoint, type HistoryRow } from '../../core/history.js';

const COLUMNS = [
  'level',
  'bucket',
  'time',
  'event',
  'tpv',
  'tpv_min',
  'tpv_max',
  'hedge_notional',
  'names',
  'vals',
] as const;

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
      ${['time', 'event', 'tpv', 'hedge_notional', 'names', 'vals'].map(last).join(', ')},
      tpv_min = ${lo}(history.tpv_min, excluded.tpv_min), tpv_max = ${hi}(history.tpv_max, excluded.tpv_max)`;
}

/** The arguments of `upsertHistorySql` for a point (after `extra`'s values on every row). */
export function upsertHistoryArgs(p: HistoryPoint, extra: readonly unknown[] = []): unknown[] {
  const names = JSON.stringify(p.classes.map((c) => c.name));
  const v = classValues(p.classes);
  const vals = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  const args: unknown[] = [];
  for (let level = 0; level < HISTORY_LEVELS; level++) {
    const r = historyRow(level, p);
    args.push(...extra, r.level, r.bucket, r.time, r.event, r.tpv, r.tpvMin, r.tpvMax, r.hedgeNotional, names, vals);
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
  names: string;
  /** A Buffer from better-sqlite3 and pg; a Uint8Array once it crossed a worker thread. */
  vals: Uint8Array;
}

/** The columns of a read, in the order `HistoryDecoder.array` takes them. */
export const HISTORY_SELECT = COLUMNS.join(', ');

/** Decodes rows; parses each distinct names text once. */
export class HistoryDecoder {
  readonly #names = new Map<string, readonly string[]>();

  #namesOf(text: string): readonly string[] {
    let names = this.#names.get(text);
    if (!names) {
      names = Object.freeze(JSON.parse(text) as string[]);
      if (this.#names.size > 64) this.#names.clear();
      this.#names.set(text, names);
    }
    return names;
  }

  row(r: HistorySqlRow): HistoryRow {
    return {
      level: r.level,
      bucket: r.bucket,
      time: r.time,
      event: r.event,
      tpv: r.tpv,
      hedgeNotional: r.hedge_notional,
      names: this.#namesOf(r.names),
      values: float64s(r.vals),
      tpvMin: r.tpv_min,
      tpvMax: r.tpv_max,
    };
  }

  /** A row read as an array of `HISTORY_SELECT`'s columns (no object per row from the driver). */
  array(r: unknown[]): HistoryRow {
    return {
      level: r[0] as number,
      bucket: r[1] as number,
      time: r[2] as number,
      event: r[3] as number,
      tpv: r[4] as number,
      hedgeNotional: r[7] as number,
      names: this.#namesOf(r[8] as string),
      values: float64s(r[9] as Uint8Array),
      tpvMin: r[5] as number,
      tpvMax: r[6] as number,
    };
  }
}

function float64s(b: Uint8Array): Float64Array {
  const values = new Float64Array(b.byteLength / 8);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let k = 0; k < values.length; k++) values[k] = view.getFloat64(8 * k, true);
  return values;
}
