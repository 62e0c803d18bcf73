/**
 * ExchangeSnapshotSource: a SnapshotSource over one or more Exchange ports by REST polling — loadMarkets (once,
 * then every `marketsEveryMs`), fetchBalance, fetchPositions, fetchTickers and fetchFundingRate per account.
 * Works for the SimExchange and for any Exchange adapter.
 *
 * Every input is stamped with its own time in `snapshot.timestamps`, so the planner's staleness rule can stop
 * trading on old or future-dated data:
 *   <asset>               the ticker time of its spot market (the data's time, not the call's)
 *   <perp symbol>         the ticker time of the perp (mark)
 *   funding:<symbol>      the funding info's time
 *   balances:<account>    the balance's time
 *   positions:<account>   when the positions were read
 * `snapshot.time` is the clock's now when the snapshot was taken. Venue failures propagate as the typed
 * errors of ports/errors.ts (the service pauses on them); a missing price stays missing (never zero).
 */
import type { Account, MarketRules, Portfolio, Position, Snapshot } from '../core/types.js';
import type { Clock } from '../ports/clock.js';
import { marketRules, type Exchange, type Market, type Ticker } from '../ports/exchange.js';
import type { SnapshotSource } from '../ports/snapshot-source.js';

export interface SourceAccount {
  name: string;
  exchange: Exchange;
}

export interface ExchangeSnapshotSourceOptions {
  accounts: SourceAccount[];
  clock: Clock;
  /** The portfolio quote currency (prices are read from `<ASSET>/<quote>` spot markets). */
  quote: string;
  /** When given, only the markets the portfolio needs (its assets, hedges, index perps) plus held ones are read. */
  portfolio?: Portfolio;
  /** Reload market rules this often. Default 1 h. */
  marketsEveryMs?: number;
}

const EPS = 0;

export class ExchangeSnapshotSource implements SnapshotSource {
  readonly #o: ExchangeSnapshotSourceOptions;
  readonly #markets = new Map<string, { at: number; markets: Record<string, Market> }>();

  constructor(o: ExchangeSnapshotSourceOptions) {
    if (o.accounts.length === 0) throw new Error('ExchangeSnapshotSource: at least one account is needed');
    this.#o = o;
  }

  async #marketsOf(a: SourceAccount): Promise<Record<string, Market>> {
    const now = this.#o.clock.now();
    const c = this.#markets.get(a.name);
    if (c && now - c.at < (this.#o.marketsEveryMs ?? 3_600_000)) return c.markets;
    const markets = await a.exchange.loadMarkets();
    this.#markets.set(a.name, { at: now, markets });
    return markets;
  }

  #wanted(markets: Record<string, Market>, held: Set<string>, positions: Set<string>): string[] {
    const q = this.#o.quote;
    const p = this.#o.portfolio;
    const assets = new Set<string>(held);
    const perps = new Set<string>(positions);
    if (p) {
      for (const c of p.classes) {
        for (const x of c.assets) assets.add(x);
        if (c.hedge) perps.add(c.hedge);
      }
      for (const i of p.indexPerps) perps.add(i.symbol);
    }
    const out: string[] = [];
    for (const m of Object.values(markets)) {
      if (m.spot && m.quote === q && (!p || assets.has(m.base) || held.has(m.base))) out.push(m.symbol);
      else if (m.swap && (!p || perps.has(m.symbol))) out.push(m.symbol);
    }
    return out.sort();
  }

  async take(): Promise<Snapshot> {
    const clock = this.#o.clock;
    const quote = this.#o.quote;
    const prices: Record<string, number> = {};
    const marks: Record<string, number> = {};
    const funding: Snapshot['funding'] = {};
    const markets: Record<string, Partial<MarketRules>> = {};
    const timestamps: Record<string, number> = {};
    const accounts: Account[] = [];
    const priceTime: Record<string, number> = {};

    for (const a of this.#o.accounts) {
      const ms = await this.#marketsOf(a);
      const bal = await a.exchange.fetchBalance();
      const posInfo = await a.exchange.fetchPositions();
      const positionsAt = clock.now();
      const balances: Record<string, number> = {};
      for (const [asset, total] of Object.entries(bal.total)) if (total !== EPS && Number.isFinite(total)) balances[asset] = total;
      const positions: Position[] = posInfo
        .filter((p) => p.contracts !== 0)
        .map((p) => ({
          symbol: p.symbol,
          contracts: p.contracts,
          contractSize: p.contractSize,
          entryPrice: p.entryPrice,
          leverage: p.leverage,
          marginMode: p.marginMode,
          ...(p.marginMode === 'isolated' && p.collateral !== null ? { isolatedMargin: p.collateral } : {}),
        }));
      accounts.push({ name: a.name, balances, positions });
      timestamps[`balances:${a.name}`] = bal.timestamp;
      timestamps[`positions:${a.name}`] = positionsAt;

      const held = new Set(Object.keys(balances).filter((x) => x !== quote));
      const symbols = this.#wanted(ms, held, new Set(positions.map((p) => p.symbol)));
      if (symbols.length === 0) continue;
      const tickers: Record<string, Ticker> = await a.exchange.fetchTickers(symbols);
      for (const s of symbols) {
        const m = ms[s]!;
        markets[s] = marketRules(m);
        const t = tickers[s];
        if (!t) continue;
        if (m.spot) {
          const px = t.last > 0 ? t.last : t.bid > 0 && t.ask > 0 ? (t.bid + t.ask) / 2 : NaN;
          // Several accounts may quote the same asset: keep the freshest.
          if (px > 0 && !(priceTime[m.base]! >= t.timestamp)) {
            prices[m.base] = px;
            priceTime[m.base] = t.timestamp;
            timestamps[m.base] = t.timestamp;
          }
        } else {
          const mark = t.markPrice ?? t.last;
          if (mark > 0 && !(priceTime[s]! >= t.timestamp)) {
            marks[s] = mark;
            priceTime[s] = t.timestamp;
            timestamps[s] = t.timestamp;
          }
          if (!funding[s]) {
            const f = await a.exchange.fetchFundingRate(s);
            // No rate known (a hole in the history): left out, so the planner sees unknown funding, not 0 %.
            if (typeof f.fundingRate === 'number' && Number.isFinite(f.fundingRate)) {
              funding[s] = { rate: f.fundingRate, intervalHours: f.intervalMs / 3_600_000 };
              timestamps[`funding:${s}`] = f.timestamp;
            }
          }
        }
      }
    }
    return { time: clock.now(), prices, marks, funding, accounts, markets, timestamps };
  }

  async close(): Promise<void> {
    this.#markets.clear();
  }
}
