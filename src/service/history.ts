/**
 * The history series as the service writes it (src/core/history.ts has the levels and the merge).
 *
 * - Live: every cycle that valued the portfolio writes its point in the same transaction as its `snapshot`
 *   event, from the valuation the planner used (`historyPoint`). A cycle that traded writes a second point
 *   after its fills, into the same cycle row (level 0), so the row ends with the state after the trades.
 * - Back-fill: a journal written before the history table existed has snapshots and no rows. Its schema
 *   migration marks it (`history.backfill` = 'pending' in meta); at the next start the service values each
 *   journaled snapshot again (`valueSummary`, the read model's arithmetic before this table existed) and
 *   writes the same points, newest first, in transactions of `chunk` snapshots, with its progress in meta.
 *   The merge is idempotent, so a back-fill cut short by a crash resumes from its cursor, and a snapshot
 *   written twice changes nothing.
 *
 * A snapshot's summary in the journal keeps a position's contracts and entry price but not its contract
 * size: a back-fill takes it from `contractSize` (default 1, true of Binance and Bybit linear USDT perps and
 * of the simulated venue).
 */
import type { HistoryPoint } from '../core/history.js';
import type { FundingRate, Portfolio, Snapshot, Valuation } from '../core/types.js';
import { valuePortfolio } from '../core/valuation.js';
import type { Journal, JournalEvent } from '../ports/journal.js';

/** The journal's summary of a snapshot (what the service's `summarize` writes). */
export interface SnapshotSummary {
  time: number;
  prices: Record<string, number>;
  marks: Record<string, number>;
  funding: Record<string, FundingRate>;
  accounts: {
    name: string;
    balances: Record<string, number>;
    positions: { symbol: string; contracts: number; entryPrice: number }[];
  }[];
  oldestInput: number | null;
  newestInput: number | null;
  /** Set on the snapshot taken after a rebalance's fills: its id. */
  after?: number;
  tpv?: number;
}

export function isSummary(x: unknown): x is SnapshotSummary {
  const s = x as SnapshotSummary;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.time === 'number' &&
    typeof s.prices === 'object' &&
    Array.isArray(s.accounts)
  );
}

/** Value a journaled snapshot summary; null when the valuation refuses it (a missing price…). */
export function valueSummary(
  p: Portfolio,
  s: SnapshotSummary,
  contractSize: (symbol: string) => number = () => 1,
): Valuation | null {
  const snapshot: Snapshot = {
    time: s.time,
    prices: s.prices ?? {},
    marks: s.marks ?? {},
    funding: s.funding ?? {},
    markets: {},
    accounts: s.accounts.map((a) => ({
      name: a.name,
      balances: a.balances ?? {},
      positions: (a.positions ?? []).map((x) => ({
        symbol: x.symbol,
        contracts: x.contracts,
        contractSize: contractSize(x.symbol),
        entryPrice: x.entryPrice,
        leverage: p.execution.leverage,
        marginMode: 'cross' as const,
      })),
    })),
  };
  try {
    return valuePortfolio(p, snapshot);
  } catch {
    return null;
  }
}

/** The point a valuation gives (`cycle`: the time of the cycle's first snapshot; `event`: the snapshot's event id). */
export function historyPoint(cycle: number, time: number, event: number, v: Valuation): HistoryPoint {
  return {
    cycle,
    time,
    event,
    tpv: v.tpv,
    hedgeNotional: v.positions.reduce((s, p) => s + Math.abs(p.notional), 0),
    classes: v.classes.map((c) => ({ name: c.name, weight: c.weight, drift: c.drift, futures: c.futures })),
  };
}

export const BACKFILL_KEY = 'history.backfill';

export interface BackfillOptions {
  /** Snapshots per transaction. Default 2,000. */
  chunk?: number;
  contractSize?: (symbol: string) => number;
  /** Called after each chunk with the number of snapshots read so far. */
  onProgress?: (snapshots: number) => void;
}

/**
 * Value every journaled snapshot below the cursor and write its point, newest first. Returns the number of
 * snapshots read. The cursor (meta `history.backfill`: 'pending', or the id below which snapshots remain)
 * moves in the same transaction as the points; 'done' at the end.
 */
export function backfillHistory(j: Journal, p: Portfolio, o: BackfillOptions = {}): number {
  const chunk = Math.max(1, o.chunk ?? 2_000);
  const mark = j.getMeta(BACKFILL_KEY);
  let before: number | undefined = mark !== undefined && /^\d+$/.test(mark) ? Number(mark) : undefined;
  let read = 0;
  // Snapshots taken after a rebalance's fills, waiting for the older snapshot that started their cycle.
  let waiting: { e: JournalEvent; s: SnapshotSummary }[] = [];
  for (;;) {
    const page = j.events({ type: 'snapshot', limit: chunk, ...(before !== undefined ? { beforeId: before } : {}) });
    if (page.length === 0) break;
    read += page.length;
    j.transaction(() => {
      for (let k = page.length - 1; k >= 0; k--) {
        const e = page[k]!;
        if (!isSummary(e.payload)) continue;
        const s = e.payload;
        if (typeof s.after === 'number') {
          waiting.push({ e, s });
          continue;
        }
        const write = (x: { e: JournalEvent; s: SnapshotSummary }) => {
          const v = valueSummary(p, x.s, o.contractSize);
          if (v) j.recordHistory(historyPoint(s.time, x.s.time, x.e.id, v));
        };
        write({ e, s });
        for (const w of waiting) write(w);
        waiting = [];
      }
      // Snapshots still waiting for their cycle's first snapshot are read again on a resume.
      before = waiting.length > 0 ? waiting[0]!.e.id + 1 : page[0]!.id;
      j.setMeta(BACKFILL_KEY, String(before));
    });
    if (waiting.length > 0) before = page[0]!.id;
    o.onProgress?.(read);
    if (page.length < chunk) break;
  }
  j.setMeta(BACKFILL_KEY, 'done');
  return read;
}

/** Back-fill when the journal's migration asked for it; returns the snapshots read (0 when nothing to do). */
export function ensureHistory(j: Journal, p: Portfolio, o: BackfillOptions = {}): number {
  const mark = j.getMeta(BACKFILL_KEY);
  if (mark === undefined || mark === 'done') return 0;
  return backfillHistory(j, p, o);
}
