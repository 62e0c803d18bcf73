/**
 * What the monitor knows of a portfolio: its classes and bands (from the stored portfolio file) and its
 * holdings as of its last cycle (the `snapshot` event the service journals every cycle — balances and perp
 * positions after the previous cycle's fills were reconciled). Loaded for every portfolio with one query.
 *
 * Mapping: a spot balance belongs to the class that lists the asset (its price key is the asset); the quote
 * currency not listed by a class is plain cash; a perp position belongs to the class whose `hedge` it is
 * (price key: the perp symbol, valued at its mark) and adds only its PnL to TPV. An asset in no class, or an
 * index perp spread over several classes, is left out of the monitor with a note (the cycle itself values
 * everything exactly; the monitor only decides when to run one).
 */
import { bandEdges } from '../../core/bands.js';
import type { MonitorPortfolio } from '../../core/monitor.js';
import type { Portfolio } from '../../core/types.js';

interface SnapshotPayload {
  prices?: Record<string, number>;
  marks?: Record<string, number>;
  accounts?: Array<{ balances?: Record<string, { total?: number } | number>; positions?: Array<{ symbol: string; contracts: number; entryPrice: number }> }>;
}

export interface Holdings {
  input: MonitorPortfolio;
  prices: Record<string, number>;
  notes: string[];
}

const amount = (b: { total?: number } | number | undefined): number => (typeof b === 'number' ? b : (b?.total ?? 0));

export interface FillDelta {
  account: string;
  symbol: string;
  side: 'buy' | 'sell';
  amount: number;
  cost: number;
  fee: number;
  feeCurrency: string;
}

/**
 * The snapshot's balances moved by the fills journaled after it (a cycle journals its snapshot before it
 * trades): spot fills move base and quote, fees leave in their currency, perp fills move the position
 * (entry price: the fill's average when a position opens; a resize keeps the volume-weighted entry).
 */
export function applyFills(payload: unknown, fills: readonly FillDelta[]): unknown {
  const s = structuredClone((payload ?? {}) as SnapshotPayload & { accounts?: Array<{ name?: string }> });
  for (const f of fills) {
    const acct = (s.accounts ?? []).find((a) => (a as { name?: string }).name === f.account);
    if (!acct) continue;
    acct.balances ??= {};
    const bal = acct.balances as Record<string, number>;
    const sign = f.side === 'buy' ? 1 : -1;
    if (f.symbol.includes(':')) {
      acct.positions ??= [];
      const pos = acct.positions;
      let p = pos.find((x) => x.symbol === f.symbol);
      if (!p) {
        p = { symbol: f.symbol, contracts: 0, entryPrice: 0 };
        pos.push(p);
      }
      const next = p.contracts + sign * f.amount;
      const price = f.amount > 0 ? f.cost / f.amount : 0;
      if (Math.sign(next) !== 0 && Math.sign(next) === Math.sign(sign) && Math.abs(next) > Math.abs(p.contracts)) {
        p.entryPrice = (Math.abs(p.contracts) * p.entryPrice + f.amount * price) / Math.abs(next);
      }
      p.contracts = next;
    } else {
      const [base, quote] = f.symbol.split('/') as [string, string];
      bal[base] = amount(bal[base]) + sign * f.amount;
      bal[quote] = amount(bal[quote]) - sign * f.cost;
    }
    bal[f.feeCurrency] = amount(bal[f.feeCurrency]) - f.fee;
  }
  return s;
}

export function holdingsFromSnapshot(name: string, p: Portfolio, payload: unknown): Holdings {
  const s = (payload ?? {}) as SnapshotPayload;
  const classes = p.classes.map((c) => ({ name: c.name, ...bandEdges(c.target, c.band), cash: c.cash }));
  const classOfAsset = new Map<string, number>();
  p.classes.forEach((c, i) => {
    for (const a of c.assets) classOfAsset.set(a, i);
  });
  const classOfPerp = new Map<string, number>();
  p.classes.forEach((c, i) => {
    if (c.hedge !== undefined) classOfPerp.set(c.hedge, i);
  });
  const positions: MonitorPortfolio['positions'] = [];
  const prices: Record<string, number> = {};
  const notes: string[] = [];
  let cash = 0;
  for (const acct of s.accounts ?? []) {
    for (const [asset, bal] of Object.entries(acct.balances ?? {})) {
      const qty = amount(bal);
      if (qty === 0) continue;
      const cls = classOfAsset.get(asset);
      if (cls === undefined) {
        if (asset === p.quote) cash += qty;
        else notes.push(`${name}: ${asset} is in no class; left out of the monitor`);
        continue;
      }
      const px = asset === p.quote ? 1 : s.prices?.[asset];
      if (px === undefined) {
        notes.push(`${name}: no price for ${asset} in the last snapshot; left out of the monitor`);
        continue;
      }
      prices[asset] = px;
      positions.push({ asset, qty, cls });
    }
    for (const pos of acct.positions ?? []) {
      const cls = classOfPerp.get(pos.symbol);
      const mark = s.marks?.[pos.symbol];
      if (cls === undefined || mark === undefined) {
        notes.push(`${name}: perp ${pos.symbol} maps to no single class (or has no mark); left out of the monitor`);
        continue;
      }
      prices[pos.symbol] = mark;
      positions.push({ asset: pos.symbol, qty: pos.contracts, cls, entryPrice: pos.entryPrice });
    }
  }
  return { input: { id: name, classes, positions, cash }, prices, notes };
}
