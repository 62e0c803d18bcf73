/**
 * Margin arithmetic for USDⓈ-margined linear perpetuals. Pure.
 *
 * Account model: an account's futures wallet is the value of its cash-class balances (USDT, USDC…).
 * Isolated positions have their own margin taken from that wallet; cross positions share what is left
 * plus their unrealised PnL. Maintenance margin = mmr × |notional| (flat rate per market).
 *
 * Liquidation price of a position, the other positions held at their marks:
 *   equity(P) = E0 + q·(P − m)            q = contracts × contractSize (signed), m = mark now
 *   maint(P)  = M_other + mmr·|q|·P
 *   short (q<0): P = (E0 + |q|·m − M_other) / (|q|·(1 + mmr))
 *   long  (q>0): P = (q·m + M_other − E0) / (q·(1 − mmr))   (none if ≤ 0)
 * where for cross E0 = cross equity of the account and for isolated E0 = isolated margin + its uPnL, M_other = 0.
 */

export interface MarginPosition {
  symbol: string;
  /** Signed base quantity: contracts × contractSize. */
  qty: number;
  entryPrice: number;
  mark: number;
  mmr: number;
  leverage: number;
  isolated: boolean;
  /** Margin posted for an isolated position. */
  isolatedMargin: number;
}

export interface MarginAccount {
  name: string;
  /** Futures wallet: cash-class balances of the account, in the quote currency. */
  wallet: number;
  positions: MarginPosition[];
}

const upnl = (p: MarginPosition, mark = p.mark) => p.qty * (mark - p.entryPrice);
const maint = (p: MarginPosition, mark = p.mark) => Math.abs(p.qty) * mark * p.mmr;
const initial = (p: MarginPosition) => (Math.abs(p.qty) * p.entryPrice) / p.leverage;

/** Equity backing cross positions: wallet − isolated margins + Σ cross uPnL. */
export function crossEquity(a: MarginAccount, marks?: (p: MarginPosition) => number): number {
  let e = a.wallet;
  for (const p of a.positions) {
    if (p.isolated) e -= p.isolatedMargin;
    else e += upnl(p, marks ? marks(p) : p.mark);
  }
  return e;
}

/** Margin free for new positions: cross equity − initial margin of cross positions (never below 0). */
export function marginAvailable(a: MarginAccount): number {
  let used = 0;
  for (const p of a.positions) if (!p.isolated) used += initial(p);
  return Math.max(0, crossEquity(a) - used);
}

/**
 * Quote a spot buy may spend: the wallet less isolated margins, the initial margin of cross positions at
 * their marks, and their unrealised loss (a gain is not spendable). The simulated venue's free balance is
 * this same number (src/adapters/sim/exchange.ts), so a buy the planner sizes within it is not refused.
 */
/** Share of free quote spot buys leave unspent, for price moves between the plan and the fill. */
export const SPEND_BUFFER = 0.001;

export function freeQuote(a: MarginAccount): number {
  return Math.max(0, a.wallet - marginUsed(a));
}

/** What futures hold of the wallet: isolated margins + cross initial margin at the marks + cross unrealised loss. */
export function marginUsed(a: MarginAccount): number {
  let used = 0;
  let upnlSum = 0;
  for (const p of a.positions) {
    if (p.isolated) used += p.isolatedMargin;
    else if (p.qty !== 0) {
      used += (Math.abs(p.qty) * p.mark) / p.leverage;
      upnlSum += upnl(p);
    }
  }
  return used + Math.max(0, -upnlSum);
}

export function liquidationPrice(a: MarginAccount, symbol: string): number | null {
  const p = a.positions.find((x) => x.symbol === symbol);
  if (!p || p.qty === 0) return null;
  let e0: number;
  let mOther = 0;
  if (p.isolated) {
    e0 = p.isolatedMargin + upnl(p);
  } else {
    e0 = crossEquity(a);
    for (const o of a.positions) if (o !== p && !o.isolated) mOther += maint(o);
  }
  const q = Math.abs(p.qty);
  if (p.qty < 0) {
    const price = (e0 + q * p.mark - mOther) / (q * (1 + p.mmr));
    return price > 0 ? price : 0;
  }
  const price = (q * p.mark + mOther - e0) / (q * (1 - p.mmr));
  return price > 0 ? price : null;
}

/** Marks after an adverse move of `move` on every position: shorts up, longs down. */
export function stressedMark(p: MarginPosition, move: number): number {
  return p.qty < 0 ? p.mark * (1 + move) : p.mark * (1 - move);
}

/**
 * Margin ratio (maintenance / equity; liquidation at ≥ 1) of the cross part of the account and of each
 * isolated position, now and after the adverse `move`. Returns the worst of them.
 */
export function marginRatio(a: MarginAccount, move: number): { now: number; stressed: number } {
  const ratio = (stress: boolean): number => {
    const markOf = (p: MarginPosition) => (stress ? stressedMark(p, move) : p.mark);
    let worst = 0;
    let crossMaint = 0;
    let hasCross = false;
    for (const p of a.positions) {
      if (p.qty === 0) continue;
      if (p.isolated) {
        const eq = p.isolatedMargin + upnl(p, markOf(p));
        worst = Math.max(worst, eq > 0 ? maint(p, markOf(p)) / eq : Infinity);
      } else {
        hasCross = true;
        crossMaint += maint(p, markOf(p));
      }
    }
    if (hasCross) {
      const eq = crossEquity(a, markOf);
      worst = Math.max(worst, eq > 0 ? crossMaint / eq : Infinity);
    }
    return worst;
  };
  return { now: ratio(false), stressed: ratio(true) };
}

/** Σ |notional| / equity of the account's futures (0 when flat). */
export function accountLeverage(a: MarginAccount): number {
  let notional = 0;
  for (const p of a.positions) notional += Math.abs(p.qty) * p.mark;
  const eq = crossEquity(a) + a.positions.reduce((s, p) => s + (p.isolated ? p.isolatedMargin + upnl(p) : 0), 0);
  return notional === 0 ? 0 : eq > 0 ? notional / eq : Infinity;
}

/** The account after adding `qty` (signed) of `symbol` at `price`: merges into an existing position. */
export function withTrade(
  a: MarginAccount,
  symbol: string,
  qty: number,
  price: number,
  defaults: { mmr: number; leverage: number; isolated: boolean },
): MarginAccount {
  const positions = a.positions.map((p) => ({ ...p }));
  const p = positions.find((x) => x.symbol === symbol);
  if (!p) {
    positions.push({
      symbol,
      qty,
      entryPrice: price,
      mark: price,
      mmr: defaults.mmr,
      leverage: defaults.leverage,
      isolated: defaults.isolated,
      isolatedMargin: defaults.isolated ? (Math.abs(qty) * price) / defaults.leverage : 0,
    });
    return { ...a, positions };
  }
  const newQty = p.qty + qty;
  let wallet = a.wallet;
  if (Math.sign(qty) === Math.sign(p.qty) || p.qty === 0) {
    p.entryPrice = (p.entryPrice * Math.abs(p.qty) + price * Math.abs(qty)) / Math.abs(newQty);
    if (p.isolated) p.isolatedMargin += (Math.abs(qty) * price) / p.leverage;
  } else {
    // Reducing (or flipping): realise PnL on the closed part into the wallet.
    const closed = Math.min(Math.abs(qty), Math.abs(p.qty));
    wallet += closed * Math.sign(p.qty) * (price - p.entryPrice);
    if (p.isolated) p.isolatedMargin *= Math.abs(p.qty) > 0 ? Math.max(0, Math.abs(p.qty) - closed) / Math.abs(p.qty) : 0;
    if (Math.abs(qty) > Math.abs(p.qty)) {
      p.entryPrice = price;
      if (p.isolated) p.isolatedMargin = (Math.abs(newQty) * price) / p.leverage;
    }
  }
  p.qty = Math.abs(newQty) < 1e-12 ? 0 : newQty;
  return { ...a, wallet, positions: positions.filter((x) => x.qty !== 0) };
}
