/** Fakes for the feed tests: a WebSocket watcher the test feeds by hand, and a REST venue with programmable data. */
import type { Watcher } from '../../src/adapters/feed/live.js';
import type { Clock } from '../../src/ports/clock.js';
import { NetworkError, NotSupported } from '../../src/ports/errors.js';
import type {
  Balances,
  Exchange,
  FundingPayment,
  FundingRateInfo,
  Market,
  Order,
  PositionInfo,
  Ticker,
  Trade,
} from '../../src/ports/exchange.js';

type Stream = 'tickers' | 'balance' | 'positions';

/** Each watch call resolves with the next pushed update (queued if pushed before the call). */
export class FakeWatcher implements Watcher {
  readonly calls: Record<Stream, number> = { tickers: 0, balance: 0, positions: 0 };
  readonly symbolsAsked: string[][] = [];
  readonly #queues: Record<Stream, ({ ok: unknown } | { err: unknown })[]> = { tickers: [], balance: [], positions: [] };
  readonly #waiting: Record<Stream, { resolve: (v: unknown) => void; reject: (e: unknown) => void } | null> = { tickers: null, balance: null, positions: null };
  closed = false;

  constructor(readonly streams: Stream[] = ['tickers', 'balance', 'positions']) {
    if (!streams.includes('tickers')) this.watchTickers = undefined;
    if (!streams.includes('balance')) this.watchBalance = undefined;
    if (!streams.includes('positions')) this.watchPositions = undefined;
  }

  push(stream: Stream, value: unknown): void {
    const w = this.#waiting[stream];
    if (w) {
      this.#waiting[stream] = null;
      w.resolve(value);
    } else this.#queues[stream].push({ ok: value });
  }

  fail(stream: Stream, error: unknown): void {
    const w = this.#waiting[stream];
    if (w) {
      this.#waiting[stream] = null;
      w.reject(error);
    } else this.#queues[stream].push({ err: error });
  }

  #next<T>(stream: Stream): Promise<T> {
    this.calls[stream]++;
    if (this.closed) return Promise.reject(new NetworkError('watcher closed'));
    const q = this.#queues[stream].shift();
    if (q) return 'ok' in q ? Promise.resolve(q.ok as T) : Promise.reject(q.err);
    return new Promise<T>((resolve, reject) => {
      this.#waiting[stream] = { resolve: resolve as (v: unknown) => void, reject };
    });
  }

  watchTickers?: (symbols: string[]) => Promise<Record<string, Ticker>> = (symbols) => {
    this.symbolsAsked.push([...symbols]);
    return this.#next('tickers');
  };
  watchBalance?: () => Promise<Balances> = () => this.#next('balance');
  watchPositions?: () => Promise<PositionInfo[]> = () => this.#next('positions');

  async close(): Promise<void> {
    this.closed = true;
    for (const s of ['tickers', 'balance', 'positions'] as const) {
      const w = this.#waiting[s];
      this.#waiting[s] = null;
      w?.reject(new NetworkError('watcher closed'));
    }
  }
}

export function spotMarket(symbol: string): Market {
  const [base, quote] = symbol.split('/') as [string, string];
  return {
    symbol,
    type: 'spot',
    spot: true,
    swap: false,
    base,
    quote,
    settle: null,
    amountStep: 0.00001,
    priceStep: 0.01,
    minAmount: 0.00001,
    minNotional: 5,
    contractSize: 1,
    maintenanceMarginRate: 0,
    maker: 0.001,
    taker: 0.001,
    active: true,
  };
}

export function perpMarket(symbol: string): Market {
  const base = symbol.split('/')[0]!;
  return { ...spotMarket(`${base}/USDT`), symbol, type: 'swap', spot: false, swap: true, settle: 'USDT', amountStep: 0.001, minAmount: 0.001, maintenanceMarginRate: 0.004, maker: 0.0002, taker: 0.0005 };
}

/** REST venue: answers from fields the test sets; `down` makes every call throw NetworkError. */
export class FakeRest implements Exchange {
  readonly id: string;
  down = false;
  readonly calls: Record<string, number> = {};
  markets: Record<string, Market>;
  tickers: Record<string, Ticker> = {};
  balance: Balances;
  positions: PositionInfo[] = [];
  funding: Record<string, FundingRateInfo> = {};

  constructor(
    readonly clock: Clock,
    markets: Market[],
    balance: Record<string, number>,
    id = 'fake',
  ) {
    this.id = id;
    this.markets = Object.fromEntries(markets.map((m) => [m.symbol, m]));
    this.balance = { timestamp: clock.now(), free: { ...balance }, used: {}, total: { ...balance } };
  }

  #hit(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
    if (this.down) throw new NetworkError(`${this.id}: ${name}: connection reset`, { exchange: this.id });
  }

  async loadMarkets(): Promise<Record<string, Market>> {
    this.#hit('loadMarkets');
    return structuredClone(this.markets);
  }
  async fetchBalance(): Promise<Balances> {
    this.#hit('fetchBalance');
    return { ...structuredClone(this.balance), timestamp: this.clock.now() };
  }
  async fetchPositions(): Promise<PositionInfo[]> {
    this.#hit('fetchPositions');
    return structuredClone(this.positions);
  }
  async fetchTicker(symbol: string): Promise<Ticker> {
    this.#hit('fetchTicker');
    return structuredClone(this.tickers[symbol]!);
  }
  async fetchTickers(symbols?: string[]): Promise<Record<string, Ticker>> {
    this.#hit('fetchTickers');
    const out: Record<string, Ticker> = {};
    for (const s of symbols ?? Object.keys(this.tickers)) if (this.tickers[s]) out[s] = structuredClone(this.tickers[s]!);
    return out;
  }
  async fetchFundingRate(symbol: string): Promise<FundingRateInfo> {
    this.#hit('fetchFundingRate');
    return structuredClone(this.funding[symbol]!);
  }
  async fetchFundingHistory(): Promise<FundingPayment[]> {
    throw new NotSupported('fake');
  }
  async createOrder(): Promise<Order> {
    throw new NotSupported('fake: the feed never trades');
  }
  async cancelOrder(): Promise<Order> {
    throw new NotSupported('fake');
  }
  async fetchOrder(): Promise<Order> {
    throw new NotSupported('fake');
  }
  async fetchOpenOrders(): Promise<Order[]> {
    throw new NotSupported('fake');
  }
  async fetchClosedOrders(): Promise<Order[]> {
    throw new NotSupported('fake');
  }
  async fetchMyTrades(): Promise<Trade[]> {
    throw new NotSupported('fake');
  }
  async setLeverage(): Promise<void> {
    throw new NotSupported('fake');
  }
  async setMarginMode(): Promise<void> {
    throw new NotSupported('fake');
  }
}

export function ticker(symbol: string, last: number, timestamp: number, markPrice: number | null = null): Ticker {
  return { symbol, timestamp, bid: last, ask: last, last, markPrice };
}

export function balances(total: Record<string, number>, timestamp: number): Balances {
  return { timestamp, free: { ...total }, used: {}, total: { ...total } };
}

/** Lets the stream loops run (they resume on microtasks). */
export const settle = () => new Promise<void>((r) => setImmediate(r));
