import { bandEdges, breachOf } from './bands.js';
import type {
  ClassValuation,
  MarketRules,
  Portfolio,
  PositionValuation,
  Snapshot,
  Valuation,
} from './types.js';

/** A problem in the inputs that makes valuation impossible (never a silent zero). */
export class ValuationError extends Error {
  constructor(
    readonly path: (string | number)[],
    readonly problem: string,
  ) {
    super(`${path.join('.')}: ${problem}`);
    this.name = 'ValuationError';
  }
}

export const DEFAULT_RULES: MarketRules = {
  amountStep: 1e-8,
  minAmount: 0,
  minNotional: 0,
  priceStep: 1e-8,
  contractSize: 1,
  maintenanceMarginRate: 0.005,
};

export function marketRules(snapshot: Snapshot, symbol: string): MarketRules {
  return { ...DEFAULT_RULES, ...dropUndefined(snapshot.markets[symbol] ?? {}) };
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Spot price of an asset in the quote currency; the quote itself is 1 unless the snapshot says otherwise. */
export function priceOf(portfolio: Portfolio, snapshot: Snapshot, asset: string, path: (string | number)[]): number {
  const p = snapshot.prices[asset] ?? (asset === portfolio.quote ? 1 : undefined);
  if (p === undefined) throw new ValuationError(path, `no price for ${asset} in snapshot.prices`);
  if (!Number.isFinite(p) || p <= 0) throw new ValuationError(['prices', asset], `price of ${asset} must be a positive number, got ${p}`);
  return p;
}

export function markOf(snapshot: Snapshot, symbol: string, path: (string | number)[]): number {
  const m = snapshot.marks[symbol];
  if (m === undefined) throw new ValuationError(path, `no mark price for ${symbol} in snapshot.marks`);
  if (!Number.isFinite(m) || m <= 0) throw new ValuationError(['marks', symbol], `mark of ${symbol} must be a positive number, got ${m}`);
  return m;
}

/** Base currency of a ccxt unified symbol: `SOL/USDT:USDT` → `SOL`. */
export function baseOf(symbol: string): string {
  return symbol.split('/')[0] ?? symbol;
}

/**
 * Which classes a perp counts toward, with the share of its notional each receives:
 * the class naming it as `hedge`, else an index perp's class weights, else the class holding its base asset.
 */
export function perpClasses(portfolio: Portfolio, symbol: string): Record<string, number> | null {
  const named = portfolio.classes.find((c) => c.hedge === symbol);
  if (named) return { [named.name]: 1 };
  const index = portfolio.indexPerps.find((i) => i.symbol === symbol);
  if (index) return { ...index.classes };
  const base = baseOf(symbol);
  const holder = portfolio.classes.find((c) => c.assets.includes(base));
  return holder ? { [holder.name]: 1 } : null;
}

/** Assets sorted by name, so sums do not depend on the order of keys in the snapshot. */
function sortedKeys(o: Record<string, unknown>): string[] {
  return Object.keys(o).sort();
}

/**
 * TPV, per-class net exposure and weights (MISSION.md):
 * TPV = spot value of every holding + Σ unrealised PnL of open futures (futures wallet balances are the
 * quote/stablecoin balances of the account, already in spot value). Futures notional is not equity.
 * Net exposure of a class = spot value of its assets + signed notional of the futures mapped to it.
 * The cash class's exposure is TPV − Σ other classes' net exposure, so weights sum to 100%.
 */
export function valuePortfolio(portfolio: Portfolio, snapshot: Snapshot): Valuation {
  const accounts = [...snapshot.accounts].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const assetValues: Record<string, number> = {};
  for (const account of accounts) {
    const ai = snapshot.accounts.indexOf(account);
    for (const asset of sortedKeys(account.balances)) {
      const qty = account.balances[asset]!;
      if (!Number.isFinite(qty)) throw new ValuationError(['accounts', ai, 'balances', asset], `balance must be a number, got ${qty}`);
      if (qty < 0) throw new ValuationError(['accounts', ai, 'balances', asset], `balance must not be negative, got ${qty}`);
      if (qty === 0) continue;
      const price = priceOf(portfolio, snapshot, asset, ['accounts', ai, 'balances', asset]);
      assetValues[asset] = (assetValues[asset] ?? 0) + qty * price;
    }
  }

  const positions: PositionValuation[] = [];
  for (const account of accounts) {
    const ai = snapshot.accounts.indexOf(account);
    const sorted = [...account.positions].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
    for (const p of sorted) {
      const pi = account.positions.indexOf(p);
      const path = ['accounts', ai, 'positions', pi];
      if (p.contracts === 0) continue;
      const mark = markOf(snapshot, p.symbol, [...path, 'symbol']);
      const classes = perpClasses(portfolio, p.symbol);
      if (!classes) throw new ValuationError([...path, 'symbol'], `position in ${p.symbol} maps to no class (name it as a class hedge or an index perp)`);
      const rules = marketRules(snapshot, p.symbol);
      const size = p.contractSize;
      const notional = p.contracts * size * mark;
      const initialMargin = p.marginMode === 'isolated' && p.isolatedMargin !== undefined
        ? p.isolatedMargin
        : (Math.abs(p.contracts) * size * p.entryPrice) / p.leverage;
      positions.push({
        account: account.name,
        symbol: p.symbol,
        contracts: p.contracts,
        contractSize: size,
        mark,
        entryPrice: p.entryPrice,
        notional,
        unrealizedPnl: p.contracts * size * (mark - p.entryPrice),
        leverage: p.leverage,
        marginMode: p.marginMode,
        initialMargin,
        maintenanceMargin: Math.abs(notional) * rules.maintenanceMarginRate,
        classes,
        ...(p.openedAt !== undefined ? { openedAt: p.openedAt } : {}),
      });
    }
  }

  let spotValue = 0;
  for (const asset of sortedKeys(assetValues)) spotValue += assetValues[asset]!;
  let unrealizedPnl = 0;
  for (const p of positions) unrealizedPnl += p.unrealizedPnl;
  const tpv = spotValue + unrealizedPnl;

  const classes: ClassValuation[] = [];
  let nonCashNet = 0;
  for (const c of portfolio.classes) {
    let spot = 0;
    for (const a of [...c.assets].sort()) spot += assetValues[a] ?? 0;
    let futures = 0;
    for (const p of positions) futures += p.notional * (p.classes[c.name] ?? 0);
    const net = spot + futures;
    if (!c.cash) nonCashNet += net;
    classes.push(classRow(c.name, c.cash, c.target, c.band, spot, futures, net, tpv));
  }
  // The cash class: effective exposure = TPV − Σ(non-cash net exposure).
  for (let i = 0; i < classes.length; i++) {
    const row = classes[i]!;
    if (!row.cash) continue;
    const c = portfolio.classes[i]!;
    const net = tpv - nonCashNet;
    classes[i] = classRow(c.name, true, c.target, c.band, row.spot, net - row.spot, net, tpv);
  }
  if (!(tpv > 0)) throw new ValuationError(['accounts'], `total portfolio value must be positive, got ${tpv}`);
  return { quote: portfolio.quote, tpv, spotValue, unrealizedPnl, classes, positions, assetValues };
}

function classRow(
  name: string,
  cash: boolean,
  target: number,
  band: Portfolio['classes'][number]['band'],
  spot: number,
  futures: number,
  net: number,
  tpv: number,
): ClassValuation {
  const { lower, upper } = bandEdges(target, band);
  const weight = tpv > 0 ? net / tpv : 0;
  const breach = breachOf(weight, lower, upper);
  const deviation = breach === 'upper' ? (weight - upper) * tpv : breach === 'lower' ? (weight - lower) * tpv : 0;
  return { name, cash, target, lower, upper, spot, futures, net, weight, drift: weight - target, breach, deviation, driftValue: (weight - target) * tpv };
}
