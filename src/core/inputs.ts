/**
 * Cross-checks between a portfolio and a snapshot. Pure: plain data in, problems out.
 *
 * Each problem carries a path into the snapshot (e.g. ['accounts', 0, 'balances', 'SOL']) so an
 * adapter can turn it into a line number of the snapshot file (see adapters/files/inputs.ts).
 *
 * Rules:
 *  - a held asset (non-zero balance) must have a price. The quote currency needs none: its price
 *    is 1 by definition when `prices` does not list it ({@link withQuotePrice} fills it in);
 *  - a held asset must belong to a class;
 *  - a position needs a mark, must be a linear perp settled in the quote currency, and must map
 *    to a class (see {@link perpClasses});
 *  - every class hedge and every index perp needs a mark (otherwise it is an unknown symbol).
 * Assets of a class that are not held may lack a price.
 */
import type { Portfolio, Snapshot } from './types.js';
import { perpClasses } from './valuation.js';

export interface InputProblem {
  path: (string | number)[];
  problem: string;
}

const PERP = /^([^\s/:]+)\/([^\s/:]+):([^\s/:]+)$/;

export { perpClasses };

/** The snapshot with `prices[quote] = 1` when the snapshot does not price the quote currency. */
export function withQuotePrice(portfolio: Portfolio, snapshot: Snapshot): Snapshot {
  if (Object.hasOwn(snapshot.prices, portfolio.quote)) return snapshot;
  return { ...snapshot, prices: { ...snapshot.prices, [portfolio.quote]: 1 } };
}

export function checkInputs(portfolio: Portfolio, snapshot: Snapshot): InputProblem[] {
  const out: InputProblem[] = [];
  const q = portfolio.quote;
  const has = (o: object, k: string) => Object.hasOwn(o, k);
  const classOf = new Map<string, string>();
  for (const c of portfolio.classes) for (const a of c.assets) if (!classOf.has(a)) classOf.set(a, c.name);

  snapshot.accounts.forEach((acc, i) => {
    for (const [asset, amount] of Object.entries(acc.balances)) {
      if (amount === 0) continue;
      const path = ['accounts', i, 'balances', asset];
      if (asset !== q && !has(snapshot.prices, asset)) {
        out.push({ path, problem: `${asset} is held (${amount}) but has no price; add "${asset}" to prices (in ${q})` });
      }
      if (!classOf.has(asset)) {
        out.push({ path, problem: `${asset} is held (${amount}) but belongs to no class of the portfolio; add it to a class's assets` });
      }
    }
    acc.positions.forEach((pos, j) => {
      const path = ['accounts', i, 'positions', j, 'symbol'];
      const m = PERP.exec(pos.symbol);
      if (m && m[3] !== q) {
        out.push({ path, problem: `${pos.symbol} settles in ${m[3]}, not in the quote currency ${q}; only linear perps settled in ${q} are supported` });
        return;
      }
      if (!has(snapshot.marks, pos.symbol)) out.push({ path, problem: `position in ${pos.symbol} has no mark price; add "${pos.symbol}" to marks` });
      if (perpClasses(portfolio, pos.symbol) === null) {
        const base = m?.[1] ?? pos.symbol;
        out.push({
          path,
          problem: `position in ${pos.symbol} maps to no class: no class has it as hedge, no index perp lists it, and ${base} is in no class`,
        });
      }
    });
  });

  for (const c of portfolio.classes) {
    if (c.hedge !== undefined && !has(snapshot.marks, c.hedge)) {
      out.push({ path: ['marks'], problem: `no mark price for ${c.hedge}, the hedge of class "${c.name}" (unknown hedge symbol?); add it to marks` });
    }
  }
  for (const x of portfolio.indexPerps) {
    if (!has(snapshot.marks, x.symbol)) {
      out.push({ path: ['marks'], problem: `no mark price for the index perp ${x.symbol} (unknown symbol?); add it to marks` });
    }
  }
  return out;
}
