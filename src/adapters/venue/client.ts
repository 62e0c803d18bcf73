/**
 * RemoteExchange — the Exchange port over the simulated venue's HTTP JSON-RPC (protocol.ts).
 *
 * Errors: a typed error payload is rebuilt into the same class of src/ports/errors.ts (with its
 * reason / retryAfterMs / untilMs / outcomeUnknown). Transport failures follow the port's rules:
 *   - no connection, connection reset, broken reply          → NetworkError (outcome unknown)
 *   - no complete answer within `timeoutMs`                   → RequestTimeout (outcome unknown)
 *   - an answer that is not the protocol (HTML, bad status)   → ExchangeNotAvailable, outcome unknown
 * so a createOrder that ends in any of them must be resolved by client order id, never resent blindly.
 *
 * Every reply carries the venue clock; `venueClock()` is a Clock that reads the latest one (replayed
 * history runs on the venue's time, not the wall clock).
 */
import { Agent, request } from 'node:http';
import type { MarginMode } from '../../core/types.js';
import type { Clock } from '../../ports/clock.js';
import { ExchangeNotAvailable, NetworkError, RequestTimeout } from '../../ports/errors.js';
import type {
  Balances,
  CreateOrderRequest,
  Exchange,
  FundingPayment,
  FundingRateInfo,
  Market,
  Order,
  OrderRef,
  PositionInfo,
  Ticker,
  Trade,
} from '../../ports/exchange.js';
import type { Bar } from '../sim/feed.js';
import { decode, encode, errorFromPayload, type ErrorPayload, type PortMethod, type RpcReply } from './protocol.js';

export interface RemoteExchangeOptions {
  /** Base URL of the venue, e.g. http://127.0.0.1:7070 */
  url: string;
  /** Exchange id the port reports. Default 'sim' (use `RemoteExchange.connect` to ask the venue). */
  id?: string;
  /** Per-request deadline (connect + complete answer). Default 10 s. */
  timeoutMs?: number;
}

interface HttpAnswer {
  status: number;
  body: string;
}

/**
 * Connections are kept alive (a round trip costs a third of a fresh connection); an idle pooled socket is
 * dropped after 4 s, before the venue's own 5 s keep-alive timeout. A pooled socket that died meanwhile (the
 * venue restarted) fails the next request with ECONNRESET: a read is sent again once on a fresh connection;
 * a createOrder is not (its outcome is unknown, resolved by client order id like any other).
 */
const agent = new Agent({ keepAlive: true, timeout: 4_000 });

function httpCall(url: string, method: 'GET' | 'POST', body: string | undefined, timeoutMs: number, exchange: string, retryStale = true, fresh = false): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      f();
    };
    const req = request(url, {
      method,
      ...(fresh ? { agent: false } : { agent }),
      headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    let answered = false;
    const timer = setTimeout(() => {
      finish(() => reject(new RequestTimeout(`${exchange}: no answer from the venue within ${timeoutMs} ms (outcome unknown)`, { exchange })));
      req.destroy();
    }, timeoutMs);
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish(() => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') })));
      res.on('error', (err) => finish(() => reject(new NetworkError(`${exchange}: the venue's answer broke off: ${err.message}`, { exchange, cause: err }))));
      res.on('aborted', () => finish(() => reject(new NetworkError(`${exchange}: the venue's answer broke off`, { exchange }))));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (retryStale && !answered && !fresh && req.reusedSocket && err.code === 'ECONNRESET') {
        // The pooled connection was dead: send the request once more on a new connection.
        finish(() => httpCall(url, method, body, timeoutMs, exchange, false, true).then(resolve, reject));
        return;
      }
      const code = err.code ? ` (${err.code})` : '';
      finish(() => reject(new NetworkError(`${exchange}: cannot reach the venue at ${new URL(url).origin}${code}: ${err.message}`, { exchange, cause: err })));
    });
    req.end(body);
  });
}

export class RemoteExchange implements Exchange {
  readonly id: string;
  readonly url: string;
  readonly timeoutMs: number;
  #venueTime = NaN;

  constructor(opts: RemoteExchangeOptions) {
    this.url = opts.url.replace(/\/+$/, '');
    this.id = opts.id ?? 'sim';
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Asks the venue for its id and time, and returns a client reporting that id. */
  static async connect(url: string, opts: Omit<RemoteExchangeOptions, 'url' | 'id'> = {}): Promise<RemoteExchange> {
    const probe = new RemoteExchange({ ...opts, url });
    const info = await probe.info();
    const ex = new RemoteExchange({ ...opts, url, id: info.id });
    ex.#venueTime = info.time;
    return ex;
  }

  /** Venue clock as of the latest reply (epoch ms); NaN before the first. */
  get venueTime(): number {
    return this.#venueTime;
  }

  /** A Clock that reads the venue time of the latest reply (call `info()` or any method to refresh it). */
  venueClock(): Clock {
    return { now: () => this.#venueTime };
  }

  async info(): Promise<{ id: string; time: number; speed: number; barMs: number; meta: unknown }> {
    const reply = await this.#get('/info');
    const info = reply as { id: string; time: number; speed: number; barMs: number; meta: unknown };
    if (Number.isFinite(info.time)) this.#venueTime = info.time;
    return info;
  }

  async #get(path: string): Promise<unknown> {
    const ans = await httpCall(this.url + path, 'GET', undefined, this.timeoutMs, this.id);
    return this.#parse(ans);
  }

  #parse(ans: HttpAnswer): unknown {
    let body: RpcReply;
    try {
      body = decode(ans.body) as RpcReply;
    } catch {
      throw new ExchangeNotAvailable(`${this.id}: the venue answered HTTP ${ans.status} with something that is not JSON`, { exchange: this.id, outcomeUnknown: true });
    }
    if (body !== null && typeof body === 'object') {
      if (typeof body.time === 'number' && Number.isFinite(body.time)) this.#venueTime = body.time;
      if (body.error && typeof body.error === 'object') throw errorFromPayload({ exchange: this.id, ...(body.error as ErrorPayload) });
      if (ans.status === 200) return body;
    }
    throw new ExchangeNotAvailable(`${this.id}: unexpected answer from the venue (HTTP ${ans.status})`, { exchange: this.id, outcomeUnknown: true });
  }

  /** POSTs to a venue route; returns the decoded body. */
  async post(path: '/rpc' | '/advance' | '/push-bar' | '/push-funding' | '/accounts', payload: unknown, retryStale = true): Promise<RpcReply> {
    const ans = await httpCall(this.url + path, 'POST', encode(payload), this.timeoutMs, this.id, retryStale);
    return this.#parse(ans) as RpcReply;
  }

  async #call<T>(method: PortMethod, ...params: unknown[]): Promise<T> {
    while (params.length > 0 && params[params.length - 1] === undefined) params.pop();
    const reply = await this.post('/rpc', { method, params: params.map((p) => (p === undefined ? null : p)) }, method !== 'createOrder');
    return reply.result as T;
  }

  // ---------------------------------------------------------------- the port

  loadMarkets(): Promise<Record<string, Market>> {
    return this.#call('loadMarkets');
  }
  fetchBalance(): Promise<Balances> {
    return this.#call('fetchBalance');
  }
  fetchPositions(symbols?: string[]): Promise<PositionInfo[]> {
    return this.#call('fetchPositions', symbols);
  }
  fetchTicker(symbol: string): Promise<Ticker> {
    return this.#call('fetchTicker', symbol);
  }
  fetchTickers(symbols?: string[]): Promise<Record<string, Ticker>> {
    return this.#call('fetchTickers', symbols);
  }
  fetchFundingRate(symbol: string): Promise<FundingRateInfo> {
    return this.#call('fetchFundingRate', symbol);
  }
  fetchFundingHistory(symbol?: string, since?: number, limit?: number): Promise<FundingPayment[]> {
    return this.#call('fetchFundingHistory', symbol, since, limit);
  }
  createOrder(request: CreateOrderRequest): Promise<Order> {
    return this.#call('createOrder', request);
  }
  cancelOrder(ref: OrderRef, symbol?: string): Promise<Order> {
    return this.#call('cancelOrder', ref, symbol);
  }
  fetchOrder(ref: OrderRef, symbol?: string): Promise<Order> {
    return this.#call('fetchOrder', ref, symbol);
  }
  fetchOpenOrders(symbol?: string, since?: number, limit?: number): Promise<Order[]> {
    return this.#call('fetchOpenOrders', symbol, since, limit);
  }
  fetchClosedOrders(symbol?: string, since?: number, limit?: number): Promise<Order[]> {
    return this.#call('fetchClosedOrders', symbol, since, limit);
  }
  fetchMyTrades(symbol?: string, since?: number, limit?: number): Promise<Trade[]> {
    return this.#call('fetchMyTrades', symbol, since, limit);
  }
  async setLeverage(leverage: number, symbol: string): Promise<void> {
    await this.#call('setLeverage', leverage, symbol);
  }
  async setMarginMode(marginMode: MarginMode, symbol: string): Promise<void> {
    await this.#call('setMarginMode', marginMode, symbol);
  }

  // ---------------------------------------------------------------- venue control (tests, replay)

  /** Moves the venue clock forward by `ms`, by `bars` bar lengths, or `to` a time. Returns the new venue time. */
  async advance(by: { ms: number } | { bars: number } | { to: number }): Promise<number> {
    const r = (await this.post('/advance', by)) as { time: number };
    return r.time;
  }

  /** Tests: makes `bar` the bar that has just closed on `symbol` (needs a venue whose feed accepts pushes). */
  async pushBar(symbol: string, bar: Omit<Bar, 'time'>, time?: number): Promise<number> {
    const r = (await this.post('/push-bar', { symbol, bar, ...(time !== undefined ? { time } : {}) })) as { time: number };
    return r.time;
  }

  /** A funding settlement of `symbol` at `time` at `rate` (needs a venue whose feed accepts pushes). */
  async pushFunding(symbol: string, time: number, rate: number): Promise<number> {
    const r = (await this.post('/push-funding', { symbol, time, rate })) as { time: number };
    return r.time;
  }

  /** A many-accounts venue (accounts.ts): a new account with its own starting balances; returns its URL. */
  async createAccount(name: string, balances?: Record<string, number>): Promise<string> {
    const r = (await this.post('/accounts', { name, ...(balances !== undefined ? { balances } : {}) })) as unknown as { url: string };
    return r.url;
  }

  /** When the venue's market data changes (a replay's bar closes, ascending); [] when the venue does not say. */
  async schedule(): Promise<number[]> {
    const r = (await this.#get('/schedule')) as { schedule?: unknown };
    return Array.isArray(r.schedule) ? r.schedule.filter((t): t is number => typeof t === 'number' && Number.isFinite(t)) : [];
  }

  /** The venue's state file content (decoded). */
  async state(): Promise<unknown> {
    return this.#get('/state');
  }
}

