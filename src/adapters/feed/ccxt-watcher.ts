/**
 * A `Watcher` over a ccxt.pro exchange instance (`new ccxt.pro.binance({...})`): watchTickers (or
 * one watchTicker per symbol where the venue has no multi-symbol stream), watchBalance and
 * watchPositions where `exchange.has` says so, mapped to the port's shapes.
 *
 * ccxt.pro returns only the changed entries by default (`options.newUpdates`); this watcher sets
 * `newUpdates = false` so every answer is the full cached state (a position list is complete).
 * Contracts are signed here (ccxt reports |contracts| and `side`). A ticker without a timestamp keeps
 * `timestamp` NaN: the feed then dates it by its arrival.
 *
 * The instance is built (with keys) by whoever owns the account wiring; `verbose` must stay off.
 */
import type { MarginMode } from '../../core/types.js';
import type { Balances, PositionInfo, Ticker } from '../../ports/exchange.js';
import type { Watcher } from './live.js';

/** The parts of a ccxt.pro exchange this watcher uses (structural, so tests can pass a fake). */
export interface CcxtProLike {
  id: string;
  has: Record<string, unknown>;
  options: Record<string, unknown>;
  watchTickers?(symbols?: string[]): Promise<Record<string, CcxtTickerLike>>;
  watchTicker?(symbol: string): Promise<CcxtTickerLike>;
  watchBalance?(): Promise<CcxtBalanceLike>;
  watchPositions?(symbols?: string[]): Promise<CcxtPositionLike[]>;
  close(): Promise<unknown>;
}

export interface CcxtTickerLike {
  symbol?: string | undefined;
  timestamp?: number | undefined;
  bid?: number | undefined;
  ask?: number | undefined;
  last?: number | undefined;
  close?: number | undefined;
  markPrice?: number | undefined;
  info?: unknown;
}

export interface CcxtBalanceLike {
  timestamp?: number | undefined;
  free?: Record<string, number | undefined>;
  used?: Record<string, number | undefined>;
  total?: Record<string, number | undefined>;
}

export interface CcxtPositionLike {
  symbol?: string | undefined;
  side?: string | undefined;
  contracts?: number | undefined;
  contractSize?: number | undefined;
  entryPrice?: number | undefined;
  markPrice?: number | undefined;
  notional?: number | undefined;
  unrealizedPnl?: number | undefined;
  leverage?: number | undefined;
  marginMode?: string | undefined;
  liquidationPrice?: number | undefined;
  initialMargin?: number | undefined;
  maintenanceMargin?: number | undefined;
  collateral?: number | undefined;
  timestamp?: number | undefined;
}

const num = (x: unknown, fallback = NaN): number => (typeof x === 'number' && Number.isFinite(x) ? x : fallback);

/**
 * A stream ticker → the port's Ticker. A stream without a book (bid / ask absent) keeps them NaN:
 * the last trade price is not a quote, and the feed values with `last` anyway; quotes come from REST.
 */
export function tickerFromCcxt(t: CcxtTickerLike & { symbol: string }): Ticker {
  const last = num(t.last, num(t.close));
  return {
    symbol: t.symbol,
    timestamp: num(t.timestamp),
    bid: num(t.bid),
    ask: num(t.ask),
    last,
    markPrice: typeof t.markPrice === 'number' && Number.isFinite(t.markPrice) ? t.markPrice : null,
  };
}

function cleanMap(m: Record<string, number | undefined> | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m ?? {})) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  return out;
}

export function balanceFromCcxt(b: CcxtBalanceLike): Balances {
  return { timestamp: num(b.timestamp), free: cleanMap(b.free), used: cleanMap(b.used), total: cleanMap(b.total) };
}

export function positionFromCcxt(p: CcxtPositionLike): PositionInfo | null {
  const size = num(p.contracts, 0);
  if (size === 0 || typeof p.symbol !== 'string') return null;
  const short = p.side === 'short';
  const contracts = short ? -Math.abs(size) : Math.abs(size);
  const contractSize = num(p.contractSize, 1);
  const markPrice = num(p.markPrice);
  const leverage = num(p.leverage, 1);
  const notional = num(p.notional, NaN);
  const marginMode: MarginMode = p.marginMode === 'isolated' ? 'isolated' : 'cross';
  return {
    symbol: p.symbol,
    side: short ? 'short' : 'long',
    contracts,
    contractSize,
    entryPrice: num(p.entryPrice),
    markPrice,
    notional: Number.isFinite(notional) ? (short ? -Math.abs(notional) : Math.abs(notional)) : contracts * contractSize * markPrice,
    unrealizedPnl: num(p.unrealizedPnl, 0),
    leverage,
    marginMode,
    liquidationPrice: typeof p.liquidationPrice === 'number' && Number.isFinite(p.liquidationPrice) && p.liquidationPrice > 0 ? p.liquidationPrice : null,
    initialMargin: num(p.initialMargin, Math.abs(contracts * contractSize * markPrice) / leverage),
    maintenanceMargin: num(p.maintenanceMargin, 0),
    collateral: marginMode === 'isolated' ? num(p.collateral, NaN) : null,
    timestamp: num(p.timestamp),
  };
}

export class CcxtProWatcher implements Watcher {
  readonly #ex: CcxtProLike;
  watchTickers?: (symbols: string[]) => Promise<Record<string, Ticker>>;
  watchBalance?: () => Promise<Balances>;
  watchPositions?: (symbols?: string[]) => Promise<PositionInfo[]>;

  constructor(exchange: CcxtProLike) {
    this.#ex = exchange;
    exchange.options.newUpdates = false;
    const has = exchange.has;
    if (has.watchTickers && exchange.watchTickers) {
      this.watchTickers = async (symbols) => {
        const got = await exchange.watchTickers!(symbols);
        const out: Record<string, Ticker> = {};
        for (const t of Object.values(got)) if (t && typeof t.symbol === 'string' && symbols.includes(t.symbol)) out[t.symbol] = tickerFromCcxt({ ...t, symbol: t.symbol });
        return out;
      };
    } else if (has.watchTicker && exchange.watchTicker) {
      // one stream per symbol; whichever speaks first answers
      this.watchTickers = async (symbols) => {
        const t = await Promise.race(symbols.map((s) => exchange.watchTicker!(s).then((x) => ({ ...x, symbol: x.symbol ?? s }))));
        return { [t.symbol]: tickerFromCcxt(t) };
      };
    }
    if (has.watchBalance && exchange.watchBalance) this.watchBalance = async () => balanceFromCcxt(await exchange.watchBalance!());
    if (has.watchPositions && exchange.watchPositions) {
      this.watchPositions = async () => {
        const list = await exchange.watchPositions!();
        return list.map(positionFromCcxt).filter((p): p is PositionInfo => p !== null);
      };
    }
  }

  async close(): Promise<void> {
    await this.#ex.close();
  }
}
