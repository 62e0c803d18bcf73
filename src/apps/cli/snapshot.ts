/**
 * `ballast snapshot`: the configured accounts as a snapshot file in the format `ballast plan` reads.
 *
 *   default        the simulated venue replaying the bundled history (or --replay DIR) at --at (default: its
 *                  first bar), with --capital of the quote currency — offline, no keys
 *   --venue URL    a running `ballast sim-venue` (e.g. the one a paper run trades on)
 *   --live         the real accounts of the portfolio file, with their keys (withdrawal-capable keys refused)
 *
 * Times are written as ISO 8601; every input's own time goes to `timestamps`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadPortfolio } from '../../adapters/files/portfolio.js';
import { SimExchange } from '../../adapters/sim/exchange.js';
import { RemoteExchange } from '../../adapters/venue/client.js';
import { replayVenue } from '../../adapters/venue/replay.js';
import type { Snapshot } from '../../core/types.js';
import { ManualClock, systemClock } from '../../ports/clock.js';
import { ExchangeSnapshotSource } from '../../service/sim-source.js';
import { UsageError } from './errors.js';
import { openLiveAccounts, type LiveExchangeFactory } from './live.js';
import { DEFAULT_CAPITAL, paperAccountName, replayInput } from './run.js';

export interface SnapshotOptions {
  config: string;
  live?: boolean;
  venue?: string;
  /** History folder for the default simulated venue. */
  replay: string;
  interval?: '1d' | '1h';
  /** Time of the snapshot on the replayed history (epoch ms); default its first bar. */
  at?: number;
  capital?: number;
  env?: NodeJS.ProcessEnv;
  liveFactory?: LiveExchangeFactory;
}

const isoTime = (t: number): string | number => (Number.isFinite(t) ? new Date(t).toISOString() : t);

/** A Snapshot as the JSON of a snapshot file. */
export function snapshotToJson(s: Snapshot): Record<string, unknown> {
  return {
    time: isoTime(s.time),
    prices: s.prices,
    marks: s.marks,
    funding: s.funding,
    accounts: s.accounts.map((a) => ({
      name: a.name,
      balances: a.balances,
      positions: a.positions.map((p) => ({
        symbol: p.symbol,
        contracts: p.contracts,
        contractSize: p.contractSize,
        entryPrice: p.entryPrice,
        leverage: p.leverage,
        marginMode: p.marginMode,
        ...(p.isolatedMargin !== undefined ? { isolatedMargin: p.isolatedMargin } : {}),
      })),
    })),
    markets: Object.fromEntries(Object.entries(s.markets).map(([k, m]) => [k, Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined && Number.isFinite(v)))])),
    ...(s.timestamps ? { timestamps: Object.fromEntries(Object.entries(s.timestamps).filter(([, t]) => Number.isFinite(t)).map(([k, t]) => [k, isoTime(t)])) } : {}),
    ...(s.lastRebalance !== undefined ? { lastRebalance: isoTime(s.lastRebalance) } : {}),
  };
}

export async function takeSnapshot(o: SnapshotOptions): Promise<Snapshot> {
  const portfolio = loadPortfolio(o.config);
  if (o.live && o.venue !== undefined) throw new UsageError('--live reads the real accounts: it cannot be combined with --venue');
  if (o.live) {
    const accounts = await openLiveAccounts(portfolio, { clock: systemClock, ...(o.env ? { env: o.env } : {}), ...(o.liveFactory ? { factory: o.liveFactory } : {}) });
    try {
      const source = new ExchangeSnapshotSource({ accounts: accounts.map((a) => ({ name: a.name, exchange: a.venue.exchange })), clock: systemClock, quote: portfolio.quote, portfolio });
      return await source.take();
    } finally {
      for (const a of accounts) await a.venue.close?.().catch(() => {});
    }
  }
  const account = paperAccountName(portfolio);
  if (o.venue !== undefined) {
    let remote: RemoteExchange;
    try {
      remote = await RemoteExchange.connect(o.venue);
    } catch (e) {
      throw new UsageError(`--venue ${o.venue}: cannot reach the simulated venue (${(e as Error).message})`);
    }
    const source = new ExchangeSnapshotSource({ accounts: [{ name: account, exchange: remote }], clock: { now: () => remote.venueTime }, quote: portfolio.quote, portfolio });
    return source.take();
  }
  const replay = replayInput(o.replay, () => replayVenue({ portfolio, dataDir: resolve(o.replay), interval: o.interval ?? '1d', balances: { [portfolio.quote]: o.capital ?? DEFAULT_CAPITAL } }));
  const at = o.at ?? replay.startTime;
  if (at < replay.startTime || at > replay.endTime) {
    throw new UsageError(`--at ${new Date(at).toISOString()} is outside the history (${new Date(replay.startTime).toISOString()} … ${new Date(replay.endTime).toISOString()})`);
  }
  const clock = new ManualClock(at);
  const sim = new SimExchange(replay.config, { feed: replay.makeFeed(), clock });
  sim.sync();
  const source = new ExchangeSnapshotSource({ accounts: [{ name: account, exchange: sim }], clock, quote: portfolio.quote, portfolio });
  return source.take();
}

/** Take the snapshot and write it (or return the text when `out` is undefined). */
export async function runSnapshot(o: SnapshotOptions & { out?: string }): Promise<string> {
  const text = JSON.stringify(snapshotToJson(await takeSnapshot(o)), null, 2) + '\n';
  if (o.out !== undefined) {
    mkdirSync(dirname(resolve(o.out)), { recursive: true });
    writeFileSync(o.out, text);
  }
  return text;
}
