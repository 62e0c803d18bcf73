/**
 * `ballast lots import FILE.csv`: tax lots from a CSV file into a snapshot's `accounts[].lots`.
 *
 * The CSV has a header naming the columns account, asset, acquired, qty, unitCost (any order; no quoted
 * fields). acquired is an ISO 8601 time with a zone (or a date, read as UTC midnight) or epoch ms; qty > 0;
 * unitCost ≥ 0 in the quote currency, fees included. Every bad cell is reported as
 * `FILE:LINE: COLUMN: PROBLEM`; the merged snapshot is then validated like any snapshot (the lots of each
 * asset must add up to its balance).
 */
import { InputError, InputErrors } from '../../core/errors.js';
import type { AccountLot } from '../../core/types.js';
import { readText } from './source.js';

const COLUMNS = ['account', 'asset', 'acquired', 'qty', 'unitCost'] as const;

export function parseLotsCsv(text: string, file: string): Map<string, AccountLot[]> {
  const errors: InputError[] = [];
  const err = (line: number | null, field: string, problem: string) => errors.push(new InputError({ file, line, column: null, field, problem }));
  const lines = text.split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  const at = new Map(header.map((h, i) => [h, i]));
  for (const c of COLUMNS) if (!at.has(c)) err(1, c, `missing column; the header must name ${COLUMNS.join(', ')}`);
  if (errors.length > 0) throw new InputErrors(errors);
  const out = new Map<string, AccountLot[]>();
  for (let n = 1; n < lines.length; n++) {
    const raw = lines[n]!;
    if (raw.trim() === '') continue;
    const cells = raw.split(',').map((x) => x.trim());
    const line = n + 1;
    const cell = (c: (typeof COLUMNS)[number]) => cells[at.get(c)!] ?? '';
    const account = cell('account');
    const asset = cell('asset');
    if (account === '') err(line, 'account', 'must not be empty');
    if (!/^[A-Za-z0-9._-]+$/.test(asset)) err(line, 'asset', `expected an asset name such as BTC, got ${JSON.stringify(asset)}`);
    const a = cell('acquired');
    const acquired = /^\d+$/.test(a) ? Number(a) : /^\d{4}-\d{2}-\d{2}$/.test(a) ? Date.parse(`${a}T00:00:00Z`) : /(Z|[+-]\d{2}:?\d{2})$/.test(a) ? Date.parse(a) : NaN;
    if (!Number.isFinite(acquired)) err(line, 'acquired', `expected an ISO 8601 time with a zone, a date (YYYY-MM-DD, UTC) or epoch ms, got ${JSON.stringify(a)}`);
    const q = cell('qty');
    const qty = q === '' ? NaN : Number(q);
    if (!(Number.isFinite(qty) && qty > 0)) err(line, 'qty', `expected a quantity > 0, got ${JSON.stringify(q)}`);
    const u = cell('unitCost');
    const unitCost = u === '' ? NaN : Number(u);
    if (!(Number.isFinite(unitCost) && unitCost >= 0)) err(line, 'unitCost', `expected a unit cost ≥ 0 (quote per unit, fees included), got ${JSON.stringify(u)}`);
    const list = out.get(account) ?? [];
    list.push({ asset, acquired, qty, unitCost });
    out.set(account, list);
  }
  if (errors.length > 0) throw new InputErrors(errors);
  return out;
}

export function loadLotsCsv(path: string): Map<string, AccountLot[]> {
  return parseLotsCsv(readText(path), path);
}

/**
 * The snapshot (parsed JSON object) with each CSV account's lots replacing its `lots`; an account of the
 * CSV that the snapshot does not have is an error.
 */
export function mergeLots(snapshot: Record<string, unknown>, lots: Map<string, AccountLot[]>, csvFile: string): Record<string, unknown> {
  const accounts = Array.isArray(snapshot.accounts) ? (snapshot.accounts as Record<string, unknown>[]) : [];
  const names = accounts.map((a) => a.name);
  const missing = [...lots.keys()].filter((n) => !names.includes(n));
  if (missing.length > 0) {
    throw new InputErrors(missing.map((n) => new InputError({ file: csvFile, line: null, column: null, field: 'account', problem: `account "${n}" is not in the snapshot (accounts: ${names.join(', ')})` })));
  }
  return {
    ...snapshot,
    accounts: accounts.map((a) => {
      const l = lots.get(a.name as string);
      return l ? { ...a, lots: l.map((x) => ({ asset: x.asset, acquired: new Date(x.acquired).toISOString(), qty: x.qty, unitCost: x.unitCost })) } : a;
    }),
  };
}
