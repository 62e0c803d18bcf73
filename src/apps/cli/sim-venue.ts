/**
 * `ballast sim-venue`: the simulated exchange as a process of its own (VenueServer, JSON-RPC on 127.0.0.1),
 * state in its own file, so that killing a service trading on it leaves the venue as a real exchange would be.
 *
 *   --replay DIR   the replayed history (data/ layout) drives prices; `--speed N` bars per second of wall time
 *                  moves the venue clock by itself; speed 0 (default) leaves the clock to the client
 *                  (`ballast run --venue URL` moves it bar by bar).
 *   no --replay    live public prices from a keyless ccxt client (`--prices`), pushed every few seconds.
 *
 * The portfolio file says which markets the venue lists. A state file that exists is restored (its own
 * balances and orders); a new venue starts with `--capital` of the quote currency.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadPortfolio, serviceConfig } from '../../adapters/files/portfolio.js';
import type { Logger } from '../../adapters/log.js';
import { RemoteExchange } from '../../adapters/venue/client.js';
import { livePaperVenue, PricePump, type PriceSource } from '../../adapters/venue/live-prices.js';
import { replayVenueServer } from '../../adapters/venue/replay.js';
import type { VenueServer } from '../../adapters/venue/server.js';
import { AccountsVenue } from '../../adapters/venue/accounts.js';
import { replayVenue } from '../../adapters/venue/replay.js';
import { ArrayFeed } from '../../adapters/sim/feed.js';
import { paperMarkets } from '../../adapters/venue/live-prices.js';
import type { Portfolio } from '../../core/types.js';
import { systemClock } from '../../ports/clock.js';
import { ccxtPriceSource, portfolioSymbols } from './live.js';
import { DEFAULT_CAPITAL, replayInput } from './run.js';

export interface SimVenueOptions {
  config: string;
  state: string;
  port?: number;
  replay?: string;
  interval?: '1d' | '1h';
  from?: number;
  to?: number;
  /** Bars per second of wall time (replay); 0 = the clock moves only when a client advances it. */
  speed?: number;
  capital?: number;
  prices?: string;
  priceSource?: PriceSource;
  logger?: Logger;
  /**
   * Many paper accounts on one market (src/adapters/venue/accounts.ts): `state` is then a folder, and each
   * account is served at `<url>/a/NAME` (created on first use with `capital`).
   */
  accounts?: boolean;
  /** fsync every save (default true). */
  sync?: boolean;
}

export interface SimVenueHandle {
  server: VenueServer | AccountsVenue;
  url: string;
  notes: string[];
  stop(): Promise<void>;
}

export async function startSimVenue(o: SimVenueOptions): Promise<SimVenueHandle> {
  const portfolio = loadPortfolio(o.config);
  const stateFile = resolve(o.state);
  mkdirSync(dirname(stateFile), { recursive: true });
  const balances = { [portfolio.quote]: o.capital ?? DEFAULT_CAPITAL };
  if (o.accounts === true) return startAccounts(o, portfolio, stateFile, balances);
  if (o.replay !== undefined) {
    const dir = o.replay;
    const { server, replay } = replayInput(dir, () =>
      replayVenueServer({
        portfolio,
        dataDir: resolve(dir),
        interval: o.interval ?? '1d',
        ...(o.from !== undefined ? { from: o.from } : {}),
        ...(o.to !== undefined ? { to: o.to } : {}),
        stateFile,
        speed: o.speed ?? 0,
        balances,
        id: 'sim',
      }),
    );
    await server.start(o.port ?? 0);
    return { server, url: server.url, notes: replay.notes, stop: () => server.stop() };
  }
  const clock = systemClock;
  const priceVenue = o.prices ?? portfolio.accounts?.find((a) => a.exchange !== 'paper')?.exchange ?? 'binance';
  const source = o.priceSource ?? (await ccxtPriceSource(priceVenue, clock, portfolioSymbols(portfolio)));
  const v = await livePaperVenue({ portfolio, source, stateFile, clock, balances });
  await v.server.start(o.port ?? 0);
  const remote = new RemoteExchange({ url: v.server.url });
  const pump = new PricePump({ venue: remote, source, symbols: v.symbols, clock, everyMs: serviceConfig(portfolio).feed.restFallbackMs, ...(o.logger ? { logger: o.logger } : {}) });
  try {
    await pump.tick();
  } catch (e) {
    await v.server.stop();
    throw e;
  }
  pump.start();
  return {
    server: v.server,
    url: v.server.url,
    notes: v.notes,
    stop: async () => {
      await pump.stop();
      await v.server.stop();
    },
  };
}

/** The many-accounts venue: replayed history (clock moved by clients) or live prices pushed by a pump. */
async function startAccounts(o: SimVenueOptions, portfolio: Portfolio, stateDir: string, balances: Record<string, number>): Promise<SimVenueHandle> {
  const sync = o.sync ?? true;
  if (o.replay !== undefined) {
    if ((o.speed ?? 0) > 0) throw new Error('--accounts: the clock of a many-accounts venue moves only when a client advances it (--speed 0)');
    const dir = o.replay;
    const r = replayInput(dir, () =>
      replayVenue({
        portfolio,
        dataDir: resolve(dir),
        interval: o.interval ?? '1d',
        ...(o.from !== undefined ? { from: o.from } : {}),
        ...(o.to !== undefined ? { to: o.to } : {}),
        balances,
        id: 'sim',
      }),
    );
    const venue = new AccountsVenue({
      stateDir,
      sync,
      config: r.config,
      makeFeed: r.makeFeed,
      startTime: r.startTime,
      barMs: r.barMs,
      meta: r.meta,
      schedule: Array.from(r.history.times, (t) => t + r.barMs),
    });
    await venue.start(o.port ?? 0);
    return { server: venue, url: venue.url, notes: r.notes, stop: () => venue.stop() };
  }
  const clock = systemClock;
  const priceVenue = o.prices ?? portfolio.accounts?.find((a) => a.exchange !== 'paper')?.exchange ?? 'binance';
  const source = o.priceSource ?? (await ccxtPriceSource(priceVenue, clock, portfolioSymbols(portfolio)));
  const { markets, notes } = paperMarkets(portfolio, await source.loadMarkets());
  if (markets.length === 0) throw new Error(`the price source ${source.id} lists none of the portfolio's markets`);
  const venue = new AccountsVenue({
    stateDir,
    sync,
    config: { id: 'paper', quote: portfolio.quote, markets, balances, leverage: portfolio.execution.leverage },
    makeFeed: () => new ArrayFeed(),
    startTime: clock.now(),
    meta: { source: 'live', prices: source.id },
  });
  await venue.start(o.port ?? 0);
  const remote = new RemoteExchange({ url: venue.url });
  const symbols = markets.map((m) => m.symbol);
  const pump = new PricePump({ venue: remote, source, symbols, clock, everyMs: serviceConfig(portfolio).feed.restFallbackMs, ...(o.logger ? { logger: o.logger } : {}) });
  try {
    await pump.tick();
  } catch (e) {
    await venue.stop();
    throw e;
  }
  pump.start();
  return {
    server: venue,
    url: venue.url,
    notes,
    stop: async () => {
      await pump.stop();
      await venue.stop();
    },
  };
}
