/**
 * Paper trading on live prices: the simulated venue (a VenueServer with its state in its own file, the same
 * simulator as replay and backtests) fed by a public price source — a ccxt venue read without keys.
 *
 *   livePaperVenue(o)   the markets the portfolio needs, with the real venue's rules (lot, tick, minimums,
 *                       fees), as a new simulated venue — or the one restored from `stateFile`
 *   PricePump           every `everyMs`: moves the venue clock to now and pushes one bar per market from the
 *                       source's latest tickers (open = high = low = close = last price; perps: the mark),
 *                       and the perps' funding settlements (below)
 *
 * The simulator fills marketable orders at the last price and resting limit orders only when a later
 * price crosses them. Funding: each round reads every perp's announced rate and next settlement time
 * from the source; when the clock is about to pass a settlement time, that settlement is pushed to the
 * venue with the last rate announced for it, and the venue settles it on its mark (positive rate: longs
 * pay). A settlement that fell while the pump was not running (a restart) is not made up. The network
 * is only touched by the price source; tests pass a fake one.
 */
import type { Portfolio } from '../../core/types.js';
import type { Clock } from '../../ports/clock.js';
import type { FundingRateInfo, Market, Ticker } from '../../ports/exchange.js';
import type { SimConfig, SimMarketConfig } from '../sim/exchange.js';
import { ArrayFeed } from '../sim/feed.js';
import type { SmallLogger } from '../log.js';
import { VenueServer } from './server.js';

/** Public market data: an Exchange port used without keys is one. */
export interface PriceSource {
  readonly id: string;
  loadMarkets(): Promise<Record<string, Market>>;
  fetchTickers(symbols?: string[]): Promise<Record<string, Ticker>>;
  /** Announced funding of a perp; without it, funding is not settled on the paper venue. */
  fetchFundingRate?(symbol: string): Promise<FundingRateInfo>;
}

/** The part of RemoteExchange the pump drives. */
export interface PushTarget {
  info(): Promise<{ time: number }>;
  advance(by: { to: number }): Promise<number>;
  pushBar(symbol: string, bar: { open: number; high: number; low: number; close: number; volume: number }, time?: number): Promise<number>;
  pushFunding(symbol: string, time: number, rate: number): Promise<number>;
}

/** Volume given to a pushed bar: the simulator's volume cap never binds on live prices. */
const LIVE_BAR_VOLUME = 1e15;

/** Spot `ASSET/QUOTE` markets of the portfolio's non-quote assets and its hedge / index perps, as found on the source. */
export function paperMarkets(portfolio: Portfolio, markets: Record<string, Market>): { markets: SimMarketConfig[]; notes: string[] } {
  const q = portfolio.quote;
  const wanted = new Set<string>();
  for (const c of portfolio.classes) {
    for (const a of c.assets) if (a !== q) wanted.add(`${a}/${q}`);
    if (c.hedge) wanted.add(c.hedge);
  }
  for (const x of portfolio.indexPerps) wanted.add(x.symbol);
  const out: SimMarketConfig[] = [];
  const notes: string[] = [];
  for (const s of [...wanted].sort()) {
    const m = markets[s];
    if (!m) {
      notes.push(`${s} is not listed by the price source: it is not traded on the paper venue.`);
      continue;
    }
    if (m.swap && m.settle !== q) {
      notes.push(`${s} settles in ${m.settle ?? '?'}, not ${q}: it is not traded on the paper venue.`);
      continue;
    }
    out.push({
      symbol: m.symbol,
      type: m.swap ? 'swap' : 'spot',
      base: m.base,
      quote: q,
      amountStep: m.amountStep,
      priceStep: m.priceStep,
      minAmount: m.minAmount,
      minNotional: m.minNotional,
      maker: m.maker,
      taker: m.taker,
      ...(m.swap
        ? { contractSize: m.contractSize, maintenanceMarginRate: m.maintenanceMarginRate, ...(m.tiers ? { tiers: m.tiers } : {}), ...(m.maxLeverage ? { maxLeverage: m.maxLeverage } : {}) }
        : {}),
    });
  }
  return { markets: out, notes };
}

export interface LivePaperVenueOptions {
  portfolio: Portfolio;
  source: PriceSource;
  stateFile: string;
  clock: Clock;
  /** Starting balances of a new venue. Default { <quote>: 100,000 }. */
  balances?: Record<string, number>;
  /** Venue id reported by the port. Default 'paper'. */
  id?: string;
  host?: string;
}

export interface LivePaperVenue {
  server: VenueServer;
  /** Symbols the pump keeps priced. */
  symbols: string[];
  notes: string[];
}

export async function livePaperVenue(o: LivePaperVenueOptions): Promise<LivePaperVenue> {
  const all = await o.source.loadMarkets();
  const { markets, notes } = paperMarkets(o.portfolio, all);
  if (markets.length === 0) throw new Error(`the price source ${o.source.id} lists none of the portfolio's markets`);
  const config: SimConfig = {
    id: o.id ?? 'paper',
    quote: o.portfolio.quote,
    markets,
    balances: o.balances ?? { [o.portfolio.quote]: 100_000 },
    leverage: o.portfolio.execution.leverage,
  };
  const server = new VenueServer({
    stateFile: o.stateFile,
    config,
    makeFeed: () => new ArrayFeed(),
    startTime: o.clock.now(),
    meta: { source: 'live', prices: o.source.id },
    ...(o.host !== undefined ? { host: o.host } : {}),
  });
  return { server, symbols: markets.map((m) => m.symbol), notes };
}

export interface PricePumpOptions {
  venue: PushTarget;
  source: PriceSource;
  symbols: string[];
  clock: Clock;
  everyMs: number;
  logger?: SmallLogger;
}

export class PricePump {
  readonly #o: PricePumpOptions;
  #timer: NodeJS.Timeout | null = null;
  #busy: Promise<number> | null = null;
  /** Per perp: the next settlement announced by the source and its latest announced rate. */
  readonly #due = new Map<string, { time: number; rate: number }>();
  /** Funding settlements pushed to the venue so far. */
  fundingPushed = 0;

  constructor(o: PricePumpOptions) {
    if (!(o.everyMs > 0)) throw new RangeError(`PricePump: everyMs must be > 0, got ${o.everyMs}`);
    this.#o = o;
  }

  /** One round: move the venue clock to now, push the latest prices. Resolves with the number of bars pushed. */
  tick(): Promise<number> {
    this.#busy ??= this.#tick().finally(() => (this.#busy = null));
    return this.#busy;
  }

  async #tick(): Promise<number> {
    const { venue, source, symbols, clock } = this.#o;
    const tickers = await source.fetchTickers(symbols);
    const venueNow = (await venue.info()).time;
    const now = Math.max(venueNow, clock.now());
    await this.#funding(venueNow, now);
    if (now > venueNow) await venue.advance({ to: now });
    let n = 0;
    for (const s of symbols) {
      const t = tickers[s];
      const px = t ? (s.includes(':') ? (t.markPrice ?? t.last) : t.last) : NaN;
      if (!(px > 0) || !Number.isFinite(px)) continue;
      await venue.pushBar(s, { open: px, high: px, low: px, close: px, volume: LIVE_BAR_VOLUME }, now);
      n++;
    }
    return n;
  }

  /**
   * Settlements due in (venueNow, now] go to the venue before its clock moves past them; then the
   * source's announcements are read for the next round (a failed read keeps the last one).
   */
  async #funding(venueNow: number, now: number): Promise<void> {
    const { venue, source, symbols, logger } = this.#o;
    for (const [s, d] of this.#due) {
      if (d.time > now) continue;
      this.#due.delete(s);
      if (d.time <= venueNow) {
        logger?.warn({ symbol: s, settlement: new Date(d.time).toISOString() }, 'paper venue: a funding settlement passed while prices were not pumped; it is not made up');
        continue;
      }
      await venue.pushFunding(s, d.time, d.rate);
      this.fundingPushed++;
    }
    if (!source.fetchFundingRate) return;
    const perps = symbols.filter((s) => s.includes(':'));
    const infos = await Promise.allSettled(perps.map((s) => source.fetchFundingRate!(s)));
    infos.forEach((r, k) => {
      const s = perps[k]!;
      if (r.status === 'rejected') {
        logger?.warn({ err: r.reason, symbol: s, source: source.id }, 'paper venue: funding rate not read; the last one announced stands');
        return;
      }
      const { fundingRate, fundingTimestamp } = r.value;
      if (fundingTimestamp === null || !Number.isFinite(fundingTimestamp) || typeof fundingRate !== 'number' || !Number.isFinite(fundingRate)) return;
      // The next settlement strictly after the clock this round leaves the venue at.
      if (fundingTimestamp > now) this.#due.set(s, { time: fundingTimestamp, rate: fundingRate });
    });
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.tick().catch((e: unknown) => this.#o.logger?.warn({ err: e, source: this.#o.source.id }, 'paper venue: price update failed; prices keep their old time'));
    }, this.#o.everyMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#busy?.catch(() => 0);
  }
}
