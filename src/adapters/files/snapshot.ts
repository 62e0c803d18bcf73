/**
 * The snapshot file of `ballast plan` (JSON, or YAML) → {@link Snapshot}.
 *
 *   loadSnapshot(path)              reads the file, then parseSnapshot
 *   parseSnapshot(text, fileName)   parses and validates text
 *
 * Both throw {@link InputErrors} listing every problem found, each located `FILE:LINE:COL: FIELD:
 * PROBLEM`. Every number must be finite: `1e999`, `.nan`, `"NaN"`, null or a numeric string are
 * errors, never a silent zero. Times are epoch milliseconds or ISO 8601 strings with a zone.
 *
 * Defaults: marks {}; funding {}; markets {} (a market's missing fields stay undefined);
 * positions []; contractSize 1; leverage 1; marginMode cross. Empty (null) optional fields count
 * as absent. Cross-checks against the portfolio live in `inputs.ts`.
 *
 * accounts[].lots (optional): tax lots [{ asset, acquired, qty, unitCost }]; per asset that has lots, their
 * quantities must add up to the account's balance (the error says which asset and by how much).
 */
import * as z from 'zod';
import { InputError, InputErrors } from '../../core/errors.js';
import type { Account, MarketRules, Position, Snapshot } from '../../core/types.js';
import { DEFAULT_RULES } from '../../core/valuation.js';
import { assetName, name, num, perpSymbol, strict, symbolName, time } from './fields.js';
import { isPlainObject, parseSource, readText, throwIfProblems, zodProblems, type Problem } from './source.js';

const price = num({ gt: 0 }, 'a price (a finite number)');

const positionSchema = strict({
  symbol: perpSymbol,
  contracts: num({}, 'a number of contracts (negative = short)'),
  contractSize: num({ gt: 0 }).optional(),
  entryPrice: num({ gt: 0 }, 'an entry price (a finite number)'),
  leverage: num({ min: 1, max: 1000 }).optional(),
  marginMode: z.enum(['cross', 'isolated']).optional(),
  isolatedMargin: num({ min: 0 }).optional(),
  openedAt: time().optional(),
});

const lotSchema = strict({
  asset: assetName,
  acquired: time(),
  qty: num({ gt: 0 }, 'a quantity (a finite number > 0)'),
  unitCost: num({ min: 0 }, 'a unit cost in the quote currency, fees included (a finite number ≥ 0)'),
});

const accountSchema = strict({
  name,
  balances: z.record(assetName, num({ min: 0 }, 'a balance (a finite number)')),
  positions: z.array(positionSchema).nullish(),
  lots: z.array(lotSchema).nullish(),
});

const marketSchema = strict({
  amountStep: num({ min: 0 }).optional(),
  minAmount: num({ min: 0 }).optional(),
  minNotional: num({ min: 0 }).optional(),
  priceStep: num({ min: 0 }).optional(),
  contractSize: num({ gt: 0 }).optional(),
  maintenanceMarginRate: num({ min: 0, lt: 1 }).optional(),
});

const snapshotSchema = strict({
  time: time(),
  prices: z.record(assetName, price),
  marks: z.record(perpSymbol, price).nullish(),
  funding: z
    .record(
      perpSymbol,
      strict({
        rate: num({ gt: -1, lt: 1 }, 'a funding rate per interval (a finite number)'),
        intervalHours: num({ gt: 0, max: 8760 }),
        mean: num({ gt: -1, lt: 1 }, 'a mean funding rate per interval (a finite number)').optional(),
      }),
    )
    .nullish(),
  accounts: z.array(accountSchema).min(1, 'at least one account is required'),
  markets: z.record(symbolName, marketSchema).nullish(),
  timestamps: z.record(symbolName, time()).nullish(),
  history: z.record(assetName, z.array(price)).nullish(),
  lastRebalance: time().nullish(),
});
type SnapshotIn = z.output<typeof snapshotSchema>;

/** Largest integer float64 counts exactly: a quantity is at most this many lot steps. */
const MAX_STEPS = 2 ** 53;

/** The lot step of `symbol` (spot `BASE/QUOTE` or perp) given in the file, else the default one. */
function stepOf(raw: Record<string, unknown>, symbol: string | null): { step: number; given: string | null } {
  const markets = isPlainObject(raw.markets) ? raw.markets : {};
  for (const [k, m] of Object.entries(markets)) {
    if (!isPlainObject(m) || typeof m.amountStep !== 'number' || !(m.amountStep > 0)) continue;
    if (k === symbol || (symbol !== null && !symbol.includes('/') && k.startsWith(`${symbol}/`) && !k.includes(':'))) return { step: m.amountStep, given: k };
  }
  return { step: DEFAULT_RULES.amountStep, given: null };
}

/** A quantity float64 cannot count in lot steps: orders for it could not be a multiple of the step. */
function tooLarge(raw: Record<string, unknown>, q: unknown, symbol: string): string | null {
  if (typeof q !== 'number' || !Number.isFinite(q)) return null;
  const { step, given } = stepOf(raw, symbol);
  if (Math.abs(q) / step <= MAX_STEPS) return null;
  const max = MAX_STEPS * step;
  return `${q} is too large: float64 counts at most ${max.toPrecision(4)} in lot steps of ${step} (${given ? `markets["${given}"].amountStep` : 'the default lot step; give the market\'s amountStep under markets if it is coarser'})`;
}

/** Lots may differ from the balance by this share of it (float noise of a CSV or an exchange export). */
const LOT_TOL = 1e-9;

/**
 * Per account and asset, the lots' quantities add up to the balance; no lot is acquired after the
 * snapshot's time. Only assets that have lots are checked (an asset without lots has an unknown basis).
 */
function lotProblems(d: SnapshotIn): Problem[] {
  const out: Problem[] = [];
  d.accounts.forEach((a, i) => {
    if (!a.lots) return;
    const sums = new Map<string, { qty: number; first: number }>();
    a.lots.forEach((l, k) => {
      const s = sums.get(l.asset);
      if (s) s.qty += l.qty;
      else sums.set(l.asset, { qty: l.qty, first: k });
      if (l.acquired > d.time) out.push({ path: ['accounts', i, 'lots', k, 'acquired'], problem: `the lot is acquired ${new Date(l.acquired).toISOString()}, after the snapshot time ${new Date(d.time).toISOString()}` });
    });
    for (const [asset, s] of sums) {
      const bal = a.balances[asset] ?? 0;
      const diff = s.qty - bal;
      if (Math.abs(diff) > LOT_TOL * Math.max(bal, s.qty) + 1e-12) {
        out.push({
          path: ['accounts', i, 'lots'],
          problem: `${asset} lots on ${a.name} add up to ${fmtQty(s.qty)}, but the balance is ${fmtQty(bal)}: the lots are ${fmtQty(Math.abs(diff))} ${asset} ${diff > 0 ? 'over' : 'short of'} the balance`,
        });
      }
    }
  });
  return out;
}

function fmtQty(x: number): string {
  return String(Number(x.toPrecision(12)));
}

function crossProblems(raw: Record<string, unknown>): Problem[] {
  const out: Problem[] = [];
  if (!Array.isArray(raw.accounts)) return out;
  raw.accounts.forEach((a, i) => {
    if (!isPlainObject(a)) return;
    if (isPlainObject(a.balances)) {
      for (const [asset, q] of Object.entries(a.balances)) {
        const why = tooLarge(raw, q, asset);
        if (why) out.push({ path: ['accounts', i, 'balances', asset], problem: why });
      }
    }
    if (Array.isArray(a.positions)) {
      a.positions.forEach((p, k) => {
        if (!isPlainObject(p) || typeof p.symbol !== 'string') return;
        const why = tooLarge(raw, p.contracts, p.symbol);
        if (why) out.push({ path: ['accounts', i, 'positions', k, 'contracts'], problem: why });
      });
    }
  });
  const first = new Map<string, number>();
  raw.accounts.forEach((a, i) => {
    if (!isPlainObject(a) || typeof a.name !== 'string') return;
    const n = a.name.trim();
    const prev = first.get(n);
    if (prev !== undefined) out.push({ path: ['accounts', i, 'name'], problem: `duplicate account name "${n}" (also accounts[${prev}])` });
    else first.set(n, i);
  });
  return out;
}

function build(d: SnapshotIn): Snapshot {
  const accounts = d.accounts.map(
    (a): Account => ({
      name: a.name,
      balances: { ...a.balances },
      positions: (a.positions ?? []).map((p): Position => {
        const out: Position = {
          symbol: p.symbol,
          contracts: p.contracts,
          contractSize: p.contractSize ?? 1,
          entryPrice: p.entryPrice,
          leverage: p.leverage ?? 1,
          marginMode: p.marginMode ?? 'cross',
        };
        if (p.isolatedMargin !== undefined) out.isolatedMargin = p.isolatedMargin;
        if (p.openedAt !== undefined) out.openedAt = p.openedAt;
        return out;
      }),
      ...(a.lots ? { lots: a.lots.map((l) => ({ asset: l.asset, acquired: l.acquired, qty: l.qty, unitCost: l.unitCost })) } : {}),
    }),
  );
  const markets: Record<string, Partial<MarketRules>> = {};
  for (const [sym, m] of Object.entries(d.markets ?? {})) {
    const rules: Partial<MarketRules> = {};
    for (const [k, v] of Object.entries(m) as [keyof MarketRules, number | undefined][]) if (v !== undefined) rules[k] = v;
    markets[sym] = rules;
  }
  const s: Snapshot = {
    time: d.time,
    prices: { ...d.prices },
    marks: { ...(d.marks ?? {}) },
    funding: Object.fromEntries(Object.entries(d.funding ?? {}).map(([k, f]) => [k, f.mean !== undefined ? { rate: f.rate, intervalHours: f.intervalHours, mean: f.mean } : { rate: f.rate, intervalHours: f.intervalHours }])),
    accounts,
    markets,
  };
  if (d.timestamps != null) s.timestamps = { ...d.timestamps };
  if (d.history != null) s.history = Object.fromEntries(Object.entries(d.history).map(([k, v]) => [k, [...v]]));
  if (d.lastRebalance != null) s.lastRebalance = d.lastRebalance;
  return s;
}

/** Parses and validates snapshot text (JSON or YAML). Throws InputErrors naming `fileName`. */
export function parseSnapshot(text: string, fileName: string): Snapshot {
  const src = parseSource(text, fileName);
  const raw = src.value;
  const problems: Problem[] = [];
  const r = snapshotSchema.safeParse(raw);
  if (!r.success) problems.push(...zodProblems(r.error.issues, raw));
  if (isPlainObject(raw)) problems.push(...crossProblems(raw));
  if (r.success) problems.push(...lotProblems(r.data));
  throwIfProblems(src, fileName, problems);
  if (!r.success) throw new InputErrors([new InputError({ file: fileName, line: null, column: null, field: '', problem: 'invalid snapshot' })]);
  return build(r.data);
}

/** Reads and validates a snapshot file. Throws InputErrors (also when the file cannot be read). */
export function loadSnapshot(path: string): Snapshot {
  return parseSnapshot(readText(path), path);
}
