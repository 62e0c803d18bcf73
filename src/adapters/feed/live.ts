/**
 * LiveSnapshotSource — the SnapshotSource of live and paper trading: per account, WebSocket streams
 * (a `Watcher`: ccxt.pro watchTickers / watchBalance / watchPositions where the venue has them) with
 * REST polling through the Exchange port when a stream is silent.
 *
 * Rules
 * - Every input keeps the time of its data: a ticker its `timestamp` (the time of the data, not of the
 *   call), a funding rate its `timestamp`, a balance its `timestamp`; a position list the time it was
 *   received (position streams push on change only, and a position's own time is its last change).
 *   They go to `snapshot.timestamps` under: asset (spot price), perp symbol (mark),
 *   `funding:<symbol>`, `balances:<account>`, `positions:<account>`. The planner stops trading
 *   (status STALE) when any of them is older than risk.maxDataAgeMs or in the future; this source
 *   never hides an old time.
 * - Balances come from REST only (the Exchange port's fetchBalance: every wallet of the account,
 *   spot and futures). A balance stream event only PROMPTS a re-read at the next `take()`: venue
 *   streams carry deltas or one wallet (Binance `balanceUpdate` is a delta, and the spot stream
 *   knows nothing of the futures wallet), so a stream balance is never used as the account's balance.
 * - REST fallback: at `take()`, an input whose stream has delivered nothing for `restFallbackMs`, or
 *   whose data is older than that, or that no stream provides (funding rates, venues without a
 *   watcher), is fetched through the Exchange port. A failed fetch keeps the old value with its old
 *   time (→ STALE in time); it is reported in `status()`.
 * - A newer value replaces an older one (by data time); a value from the future is always replaced.
 * - Prices: for each portfolio asset, the `ASSET/QUOTE` ticker's last price of whichever account has the
 *   newest one. Marks: the perp ticker's markPrice, else the funding rate's markPrice, else the
 *   position's. Balances: wallet totals (`Balances.total`) of the portfolio's assets only (an asset
 *   outside the portfolio has no price to value it with); zero balances are left out.
 * - `take()` throws (the last typed venue error, or ExchangeError) only when something the valuation
 *   cannot do without has NEVER been obtained: an account's markets or balances, the price of a held
 *   asset, the mark of an open position.
 * - Stream errors are retried after `retryDelayMs`, doubling up to 30 s.
 */
import type { Account, FundingRate, MarketRules, Portfolio, Position, Snapshot } from '../../core/types.js';
import type { Clock } from '../../ports/clock.js';
import { ExchangeError, NotSupported } from '../../ports/errors.js';
import { marketRules, type Balances, type Exchange, type FundingRateInfo, type Market, type PositionInfo, type Ticker } from '../../ports/exchange.js';
import type { SnapshotSource } from '../../ports/snapshot-source.js';
import type { SmallLogger } from '../log.js';

/** The WebSocket side of one account. Each method resolves with the next update (ccxt.pro semantics). */
export interface Watcher {
  /** Resolves with the tickers that changed (a partial map is fine). */
  watchTickers?(symbols: string[]): Promise<Record<string, Ticker>>;
  watchBalance?(): Promise<Balances>;
  /** Resolves with the full list of open positions. */
  watchPositions?(symbols?: string[]): Promise<PositionInfo[]>;
  /** Ends every subscription; pending watch calls reject. */
  close(): Promise<void>;
}

export interface FeedAccount {
  name: string;
  /** REST side (and markets). */
  exchange: Exchange;
  /** WebSocket side; absent = REST polling only. */
  watcher?: Watcher;
}


export interface LiveSnapshotOptions {
  portfolio: Portfolio;
  accounts: FeedAccount[];
  clock: Clock;
  /** A stream silent (or with data older than this) is replaced by REST. */
  restFallbackMs: number;
  /** Markets are reloaded this often. Default 1 h. */
  marketsRefreshMs?: number;
  /** First wait after a stream error (ms), doubling up to 30 s. Default 1000. */
  retryDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  logger?: SmallLogger;
}

type Via = 'stream' | 'rest';

interface Stamped<T> {
  value: T;
  /** Data time (epoch ms). */
  time: number;
  /** Clock time it arrived. */
  received: number;
  via: Via;
}

type Group = 'tickers' | 'balance' | 'positions' | 'funding' | 'markets';

interface AccountState {
  cfg: FeedAccount;
  markets: Record<string, Market> | null;
  marketsAt: number;
  tickers: Map<string, Stamped<Ticker>>;
  /** Mark prices read over REST for perps whose ticker stream carries none (OKX). */
  marks: Map<string, Stamped<number>>;
  balance: Stamped<Balances> | null;
  /** A balance stream event arrived since the last REST read: re-read at the next take(). */
  balanceDirty: boolean;
  positions: Stamped<PositionInfo[]> | null;
  funding: Map<string, Stamped<FundingRateInfo>>;
  /** Clock time of the last message per stream. */
  streamAt: { tickers: number; balance: number; positions: number };
  /** Last failure per input group (`markets`, `tickers`, `balance`, `positions`, `funding`, `stream:<group>`); cleared on success. */
  errors: Record<string, { time: number; error: unknown }>;
  started: boolean;
}

export interface InputStatus {
  key: string;
  time: number | null;
  via: Via | null;
}

export interface FeedStatus {
  accounts: {
    name: string;
    inputs: InputStatus[];
    errors: { what: string; time: number; message: string }[];
    /** Venue clock offset (local − venue, ms) as last measured by the exchange adapter; null if unknown. */
    clockSkewMs: number | null;
  }[];
}

const FUTURE_TOLERANCE_MS = 5_000;
const MAX_RETRY_MS = 30_000;

const defaultSleep = (ms: number) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref?.();
  });

export class LiveSnapshotSource implements SnapshotSource {
  readonly #opts: LiveSnapshotOptions;
  readonly #accounts: AccountState[];
  readonly #assets: string[];
  readonly #perps: string[];
  readonly #sleep: (ms: number) => Promise<void>;
  #closed = false;
  readonly #loops: Promise<void>[] = [];

  constructor(opts: LiveSnapshotOptions) {
    if (!(opts.restFallbackMs > 0)) throw new RangeError(`LiveSnapshotSource: restFallbackMs must be > 0, got ${opts.restFallbackMs}`);
    const names = new Set<string>();
    for (const a of opts.accounts) {
      if (names.has(a.name)) throw new Error(`LiveSnapshotSource: account ${a.name} listed twice`);
      names.add(a.name);
    }
    this.#opts = opts;
    this.#sleep = opts.sleep ?? defaultSleep;
    const p = opts.portfolio;
    this.#assets = [...new Set(p.classes.flatMap((c) => c.assets))].filter((a) => a !== p.quote).sort();
    this.#perps = [...new Set([...p.classes.flatMap((c) => (c.hedge ? [c.hedge] : [])), ...p.indexPerps.map((x) => x.symbol)])].sort();
    this.#accounts = opts.accounts.map((cfg) => ({
      cfg,
      markets: null,
      marketsAt: -Infinity,
      tickers: new Map(),
      marks: new Map(),
      balance: null,
      balanceDirty: false,
      positions: null,
      funding: new Map(),
      streamAt: { tickers: -Infinity, balance: -Infinity, positions: -Infinity },
      errors: {},
      started: false,
    }));
  }

  // ---------------------------------------------------------------- SnapshotSource

  async take(): Promise<Snapshot> {
    if (this.#closed) throw new Error('LiveSnapshotSource: closed');
    await Promise.all(this.#accounts.map((a) => this.#refresh(a)));
    return this.#build();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      this.#accounts.map(async (a) => {
        try {
          await a.cfg.watcher?.close();
        } catch {
          // closing is best effort
        }
      }),
    );
  }

  /** What each input is, how old, and where it came from; the last errors. For logs and the dashboard. */
  status(): FeedStatus {
    return {
      accounts: this.#accounts.map((a) => {
        const inputs: InputStatus[] = [];
        for (const [s, t] of [...a.tickers].sort(([x], [y]) => (x < y ? -1 : 1))) inputs.push({ key: s, time: t.time, via: t.via });
        for (const [s, f] of [...a.funding].sort(([x], [y]) => (x < y ? -1 : 1))) inputs.push({ key: `funding:${s}`, time: f.time, via: f.via });
        inputs.push({ key: `balances:${a.cfg.name}`, time: a.balance?.time ?? null, via: a.balance?.via ?? null });
        inputs.push({ key: `positions:${a.cfg.name}`, time: a.positions?.time ?? null, via: a.positions?.via ?? null });
        const errors = Object.entries(a.errors).map(([what, e]) => ({ what, time: e.time, message: e.error instanceof Error ? e.error.message : String(e.error) }));
        const skew = (a.cfg.exchange as { clockSkewMs?: unknown }).clockSkewMs;
        return { name: a.cfg.name, inputs, errors, clockSkewMs: typeof skew === 'number' && Number.isFinite(skew) ? skew : null };
      }),
    };
  }

  // ---------------------------------------------------------------- symbols

  #spotSymbols(a: AccountState): string[] {
    const q = this.#opts.portfolio.quote;
    return this.#assets.map((x) => `${x}/${q}`).filter((s) => a.markets?.[s]?.spot === true);
  }

  /** Perps of the portfolio this account lists, plus any it holds a position in. */
  #perpSymbols(a: AccountState): string[] {
    const out = new Set(this.#perps.filter((s) => a.markets?.[s]?.swap === true));
    for (const p of a.positions?.value ?? []) if (p.contracts !== 0) out.add(p.symbol);
    return [...out].sort();
  }

  #tickerSymbols(a: AccountState): string[] {
    return [...this.#spotSymbols(a), ...this.#perpSymbols(a)];
  }

  // ---------------------------------------------------------------- storing

  #fresh(now: number, s: { time: number; received: number } | null | undefined, streamAt = -Infinity): boolean {
    if (!s) return false;
    const fb = this.#opts.restFallbackMs;
    const heard = Math.max(s.received, streamAt);
    return now - heard <= fb && now - s.time <= fb && s.time <= now + FUTURE_TOLERANCE_MS;
  }

  /** Newer data wins; data from the future is always replaced. */
  #better<T>(old: Stamped<T> | null | undefined, next: Stamped<T>, now: number): boolean {
    return !old || next.time >= old.time || old.time > now + FUTURE_TOLERANCE_MS;
  }

  #storeTicker(a: AccountState, t: Ticker, via: Via): void {
    if (!t || typeof t.symbol !== 'string') return;
    const now = this.#opts.clock.now();
    const time = Number.isFinite(t.timestamp) ? t.timestamp : now;
    const next: Stamped<Ticker> = { value: { ...t }, time, received: now, via };
    if (this.#better(a.tickers.get(t.symbol), next, now)) a.tickers.set(t.symbol, next);
  }

  #storeBalance(a: AccountState, b: Balances, via: Via): void {
    const now = this.#opts.clock.now();
    const time = Number.isFinite(b.timestamp) ? b.timestamp : now;
    const next: Stamped<Balances> = { value: b, time, received: now, via };
    if (this.#better(a.balance, next, now)) a.balance = next;
  }

  #storePositions(a: AccountState, list: PositionInfo[], via: Via): void {
    const now = this.#opts.clock.now();
    a.positions = { value: list.map((p) => ({ ...p })), time: now, received: now, via };
  }

  #storeFunding(a: AccountState, f: FundingRateInfo, via: Via): void {
    const now = this.#opts.clock.now();
    const time = Number.isFinite(f.timestamp) ? f.timestamp : now;
    const next: Stamped<FundingRateInfo> = { value: { ...f }, time, received: now, via };
    if (this.#better(a.funding.get(f.symbol), next, now)) a.funding.set(f.symbol, next);
  }

  #error(a: AccountState, what: string, error: unknown): void {
    a.errors[what] = { time: this.#opts.clock.now(), error };
    this.#opts.logger?.warn({ account: a.cfg.name, what, err: error }, `feed: ${what} failed on ${a.cfg.name}`);
  }

  // ---------------------------------------------------------------- REST

  async #refresh(a: AccountState): Promise<void> {
    const ex = a.cfg.exchange;
    const clock = this.#opts.clock;
    let now = clock.now();
    if (!a.markets || now - a.marketsAt > (this.#opts.marketsRefreshMs ?? 3_600_000)) {
      try {
        a.markets = await ex.loadMarkets();
        a.marketsAt = now;
        delete a.errors.markets;
      } catch (e) {
        this.#error(a, 'markets', e);
      }
    }
    if (!a.markets) return;
    this.#startStreams(a);

    now = clock.now();
    const staleTickers = this.#tickerSymbols(a).filter((s) => !this.#fresh(now, a.tickers.get(s), a.streamAt.tickers));
    // Perps whose (streamed) ticker carries no mark price, with no fresh mark from elsewhere: the
    // REST ticker of the Exchange port has one (OKX's ticker channel has none).
    const noMark = this.#perpSymbols(a).filter((s) => {
      if (staleTickers.includes(s)) return false;
      const t = a.tickers.get(s);
      if (t?.value.markPrice !== null && t?.value.markPrice !== undefined) return false;
      return !this.#fresh(now, a.marks.get(s) ?? null) && !(this.#fresh(now, a.funding.get(s) ?? null) && (a.funding.get(s)?.value.markPrice ?? 0) > 0);
    });
    const restTickers = [...staleTickers, ...noMark];
    if (restTickers.length > 0) {
      try {
        const got = await ex.fetchTickers(restTickers);
        for (const t of Object.values(got)) {
          this.#storeTicker(a, t, 'rest');
          if (t.markPrice !== null && t.markPrice > 0) {
            const nowT = clock.now();
            a.marks.set(t.symbol, { value: t.markPrice, time: Number.isFinite(t.timestamp) ? t.timestamp : nowT, received: nowT, via: 'rest' });
          }
        }
        delete a.errors.tickers;
      } catch (e) {
        this.#error(a, 'tickers', e);
      }
    }
    if (a.balanceDirty || !this.#fresh(clock.now(), a.balance, a.streamAt.balance)) {
      try {
        a.balanceDirty = false;
        this.#storeBalance(a, await ex.fetchBalance(), 'rest');
        delete a.errors.balance;
      } catch (e) {
        a.balanceDirty = true;
        this.#error(a, 'balance', e);
      }
    }
    const usesFutures = this.#perpSymbols(a).length > 0 || Object.values(a.markets).some((m) => m.swap);
    if (usesFutures && !this.#fresh(clock.now(), a.positions, a.streamAt.positions)) {
      try {
        this.#storePositions(a, await ex.fetchPositions(), 'rest');
        delete a.errors.positions;
      } catch (e) {
        if (e instanceof NotSupported) this.#storePositions(a, [], 'rest'); // no futures on this venue / key
        else this.#error(a, 'positions', e);
      }
    }
    for (const s of this.#perpSymbols(a)) {
      if (this.#fresh(clock.now(), a.funding.get(s))) continue;
      try {
        this.#storeFunding(a, await ex.fetchFundingRate(s), 'rest');
        delete a.errors.funding;
      } catch (e) {
        this.#error(a, 'funding', e);
      }
    }
  }

  // ---------------------------------------------------------------- streams

  #startStreams(a: AccountState): void {
    const w = a.cfg.watcher;
    if (a.started || !w || this.#closed) return;
    a.started = true;
    if (w.watchTickers) {
      this.#loops.push(
        this.#loop(a, 'tickers', async () => {
          const symbols = this.#tickerSymbols(a);
          if (symbols.length === 0) {
            await this.#sleep(this.#opts.restFallbackMs);
            return;
          }
          const got = await w.watchTickers!(symbols);
          a.streamAt.tickers = this.#opts.clock.now();
          for (const t of Object.values(got)) this.#storeTicker(a, t, 'stream');
        }),
      );
    }
    if (w.watchBalance) {
      this.#loops.push(
        this.#loop(a, 'balance', async () => {
          await w.watchBalance!();
          a.streamAt.balance = this.#opts.clock.now();
          a.balanceDirty = true;
        }),
      );
    }
    if (w.watchPositions) {
      this.#loops.push(
        this.#loop(a, 'positions', async () => {
          const list = await w.watchPositions!();
          a.streamAt.positions = this.#opts.clock.now();
          this.#storePositions(a, list, 'stream');
        }),
      );
    }
  }

  async #loop(a: AccountState, what: 'tickers' | 'balance' | 'positions', step: () => Promise<void>): Promise<void> {
    const first = this.#opts.retryDelayMs ?? 1000;
    let delay = first;
    while (!this.#closed) {
      try {
        await step();
        delay = first;
        delete a.errors[`stream:${what}`];
      } catch (e) {
        if (this.#closed) break;
        this.#error(a, `stream:${what}`, e);
        await this.#sleep(delay);
        delay = Math.min(delay * 2, MAX_RETRY_MS);
      }
    }
  }

  // ---------------------------------------------------------------- snapshot

  #build(): Snapshot {
    const p = this.#opts.portfolio;
    const now = this.#opts.clock.now();
    const missing: string[] = [];
    let cause: unknown;
    const noteMissing = (what: string, a?: AccountState, group?: Group) => {
      missing.push(what);
      const e = a && group ? a.errors[group] : undefined;
      if (cause === undefined && e) cause = e.error;
    };

    const timestamps: Record<string, number> = {};
    const prices: Record<string, number> = {};
    const markets: Record<string, Partial<MarketRules>> = {};
    for (const a of this.#accounts) {
      if (!a.markets) {
        noteMissing(`markets of ${a.cfg.name}`, a, 'markets');
        continue;
      }
      for (const s of this.#tickerSymbols(a)) {
        const m = a.markets[s];
        if (m && markets[s] === undefined) markets[s] = marketRules(m);
      }
    }

    // Spot prices: the newest ticker over the accounts.
    for (const asset of this.#assets) {
      const symbol = `${asset}/${p.quote}`;
      let best: Stamped<Ticker> | undefined;
      for (const a of this.#accounts) {
        const t = a.tickers.get(symbol);
        if (!t || !(priceOfTicker(t.value) > 0)) continue;
        if (!best || preferNewer(t.time, best.time, now)) best = t;
      }
      if (best) {
        prices[asset] = priceOfTicker(best.value);
        timestamps[asset] = best.time;
      }
    }

    // Accounts.
    const accounts: Account[] = [];
    const held = new Set<string>();
    const positionSymbols = new Set<string>();
    const wanted = new Set([p.quote, ...this.#assets]);
    for (const a of this.#accounts) {
      const name = a.cfg.name;
      const balances: Record<string, number> = {};
      if (a.balance) {
        for (const [c, v] of Object.entries(a.balance.value.total ?? {})) {
          if (!wanted.has(c) || !Number.isFinite(v) || v === 0) continue;
          balances[c] = v;
          held.add(c);
        }
        timestamps[`balances:${name}`] = a.balance.time;
      } else if (a.markets) noteMissing(`balances of ${name}`, a, 'balance');
      const positions: Position[] = [];
      for (const x of a.positions?.value ?? []) {
        if (x.contracts === 0) continue;
        const pos: Position = {
          symbol: x.symbol,
          contracts: x.contracts,
          contractSize: x.contractSize,
          entryPrice: x.entryPrice,
          leverage: x.leverage,
          marginMode: x.marginMode,
        };
        if (x.marginMode === 'isolated' && x.collateral !== null && Number.isFinite(x.collateral)) pos.isolatedMargin = x.collateral;
        positions.push(pos);
        positionSymbols.add(x.symbol);
      }
      if (a.positions) timestamps[`positions:${name}`] = a.positions.time;
      accounts.push({ name, balances, positions });
    }

    // Marks and funding.
    const marks: Record<string, number> = {};
    const funding: Record<string, FundingRate> = {};
    const perpSymbols = new Set<string>([...this.#perps, ...positionSymbols]);
    for (const symbol of [...perpSymbols].sort()) {
      let mark: { price: number; time: number } | undefined;
      let rate: Stamped<FundingRateInfo> | undefined;
      for (const a of this.#accounts) {
        const candidates: { price: number; time: number }[] = [];
        const t = a.tickers.get(symbol);
        if (t && t.value.markPrice !== null && t.value.markPrice > 0) candidates.push({ price: t.value.markPrice, time: t.time });
        const rm = a.marks.get(symbol);
        if (rm) candidates.push({ price: rm.value, time: rm.time });
        const f = a.funding.get(symbol);
        if (f && f.value.markPrice !== null && f.value.markPrice > 0) candidates.push({ price: f.value.markPrice, time: f.time });
        const pos = a.positions?.value.find((x) => x.symbol === symbol && x.markPrice > 0);
        if (pos && a.positions) candidates.push({ price: pos.markPrice, time: a.positions.time });
        const c = candidates[0]; // the order above is the order of preference
        if (c && (!mark || preferNewer(c.time, mark.time, now))) mark = c;
        if (f && (!rate || preferNewer(f.time, rate.time, now))) rate = f;
      }
      if (mark) {
        marks[symbol] = mark.price;
        timestamps[symbol] = mark.time;
      } else if (positionSymbols.has(symbol)) noteMissing(`mark of ${symbol} (open position)`);
      const r = rate?.value.fundingRate;
      if (rate && typeof r === 'number' && Number.isFinite(r)) {
        funding[symbol] = { rate: r, intervalHours: rate.value.intervalMs > 0 ? rate.value.intervalMs / 3_600_000 : 8 };
        timestamps[`funding:${symbol}`] = rate.time;
      }
    }
    for (const asset of held) if (asset !== p.quote && prices[asset] === undefined) noteMissing(`price of ${asset} (held)`, this.#accounts.find((a) => a.errors.tickers), 'tickers');

    if (missing.length > 0) {
      if (cause instanceof ExchangeError) throw cause;
      throw new ExchangeError(`feed: no data yet for ${missing.join(', ')}`, cause === undefined ? {} : { cause });
    }
    return { time: now, prices, marks, funding, accounts, markets, timestamps };
  }
}

function priceOfTicker(t: Ticker): number {
  if (Number.isFinite(t.last) && t.last > 0) return t.last;
  if (t.bid > 0 && t.ask > 0) return (t.bid + t.ask) / 2;
  return NaN;
}

/** a is preferred over b: newer, unless it lies in the future. */
function preferNewer(a: number, b: number, now: number): boolean {
  const aFuture = a > now + FUTURE_TOLERANCE_MS;
  const bFuture = b > now + FUTURE_TOLERANCE_MS;
  if (aFuture !== bFuture) return !aFuture;
  return a > b;
}

