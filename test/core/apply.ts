import type { Plan, Portfolio, Position, Snapshot } from '../../src/core/types.js';

/**
 * Applies a plan's orders to a snapshot as if every order filled at its planned price with taker fees
 * (the test oracle for "replan after applying"). Futures realise PnL into the quote balance on reduce.
 */
export function applyPlan(p: Portfolio, s: Snapshot, plan: Plan): Snapshot {
  const next: Snapshot = structuredClone(s);
  const q = p.quote;
  for (const a of plan.actions) {
    if (a.type === 'wait') continue;
    const acct = next.accounts.find((x) => x.name === a.account)!;
    if (a.type === 'spot') {
      const asset = a.symbol!.split('/')[0]!;
      const fee = p.execution.fees.spotTaker;
      if (a.side === 'sell') {
        acct.balances[asset] = (acct.balances[asset] ?? 0) - a.amount;
        acct.balances[q] = (acct.balances[q] ?? 0) + a.notional * (1 - fee);
      } else {
        acct.balances[asset] = (acct.balances[asset] ?? 0) + a.amount;
        acct.balances[q] = (acct.balances[q] ?? 0) - a.notional * (1 + fee);
      }
      continue;
    }
    const sign = a.side === 'buy' ? 1 : -1;
    const fee = p.execution.fees.futuresTaker * a.notional;
    acct.balances[q] = (acct.balances[q] ?? 0) - fee;
    let pos: Position | undefined = acct.positions.find((x) => x.symbol === a.symbol);
    if (!pos) {
      pos = { symbol: a.symbol!, contracts: 0, contractSize: next.markets[a.symbol!]?.contractSize ?? 1, entryPrice: a.price, leverage: p.execution.leverage, marginMode: 'cross', openedAt: plan.time };
      acct.positions.push(pos);
    }
    const add = sign * a.amount;
    if (pos.contracts === 0 || Math.sign(add) === Math.sign(pos.contracts)) {
      const total = Math.abs(pos.contracts) + Math.abs(add);
      pos.entryPrice = (pos.entryPrice * Math.abs(pos.contracts) + a.price * Math.abs(add)) / total;
      pos.contracts += add;
    } else {
      const closed = Math.min(Math.abs(add), Math.abs(pos.contracts));
      acct.balances[q] = (acct.balances[q] ?? 0) + closed * pos.contractSize * Math.sign(pos.contracts) * (a.price - pos.entryPrice);
      const flips = Math.abs(add) > Math.abs(pos.contracts);
      pos.contracts += add;
      if (flips) pos.entryPrice = a.price;
      if (Math.abs(pos.contracts) < 1e-12) pos.contracts = 0;
    }
  }
  for (const acct of next.accounts) acct.positions = acct.positions.filter((x) => x.contracts !== 0);
  return next;
}
