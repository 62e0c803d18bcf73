/**
 * Many paper accounts in one simulated venue process (`ballast sim-venue --accounts`): one market (one clock,
 * the same bars and funding for everyone) and any number of accounts, each a SimExchange with its own
 * balances, orders and trades — what a real exchange is to many API keys. Ten thousand paper portfolios need
 * one such process, not ten thousand.
 *
 * Routes (JSON over HTTP on 127.0.0.1, the protocol of protocol.ts):
 *
 *   the venue      GET /info, GET /schedule, POST /advance, /push-bar, /push-funding   (as a one-account venue)
 *                  POST /rpc        market data only: loadMarkets, fetchTicker(s), fetchFundingRate
 *                  POST /accounts   {"name": N, "balances"?: {...}} → {"name", "url"}: a new account (an
 *                                   existing name is refused); balances default to the venue's starting ones
 *   an account     <venue>/a/NAME/rpc, /info, /state, /schedule, /advance — a one-account venue's routes, so
 *                  `RemoteExchange` (and `--venue acct=URL/a/NAME`) works unchanged. An account that does not
 *                  exist yet is created with the venue's starting balances on its first call.
 *
 * State (a folder): `venue.json` {"format": "ballast-venue-accounts", "version": 1, "clock", "meta"} and
 * `accounts/NAME.json`, each in the one-account venue's state format (so `/a/NAME/state` is what a
 * one-account venue's `/state` is). The save rule of server.ts holds per account: after a call that changed
 * an account, that account's file is written (atomically) before the reply; a read of a fault-free account
 * with the clock where it was at its last save writes nothing. Moving the clock writes `venue.json` only:
 * each account catches up with the market on its next call (the simulator processes the feed up to the
 * clock before every port method), so a clock move costs O(1), not O(accounts).
 *
 * Every account has its own cursor over the market data (its own feed from `makeFeed()`, plus the bars and
 * funding pushed since the venue started), so accounts never see each other's events. Each account's calls
 * run one at a time, in arrival order, as on a one-account venue; accounts do not wait for each other (a
 * slow queue of one account must not delay another's order past its client's deadline).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ManualClock } from '../../ports/clock.js';
import { BadRequest, ExchangeNotAvailable, NotSupported } from '../../ports/errors.js';
import { SimExchange, type SimConfig } from '../sim/exchange.js';
import type { Bar, MarketFeed } from '../sim/feed.js';
import { decode, encode, errorToPayload, isPortMethod, type RpcReply } from './protocol.js';
import { MAX_BODY, READ_ONLY, readBody, send, sendText, STATE_FORMAT, writeFileAtomic, type VenueState } from './server.js';

export const ACCOUNTS_FORMAT = 'ballast-venue-accounts';

/** Account names: what fits in a URL path segment and a file name. */
export const ACCOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Market-data methods the venue answers at its root (no account). */
const MARKET_METHODS: ReadonlySet<string> = new Set(['loadMarkets', 'fetchTicker', 'fetchTickers', 'fetchFundingRate']);

interface PushableFeed extends MarketFeed {
  pushBar(symbol: string, bar: Bar): void;
  pushFunding(symbol: string, time: number, rate: number): void;
}

type Pushed = { kind: 'bar'; symbol: string; bar: Bar } | { kind: 'funding'; symbol: string; time: number; rate: number };

export interface AccountsVenueOptions {
  /** The venue's state folder (created when missing). */
  stateDir: string;
  /** fsync every save (default true); false keeps the atomic rename only (see server.ts). */
  sync?: boolean;
  /** Simulator configuration of every new account (markets, fees, fill model, faults, starting balances). */
  config: SimConfig;
  /** A fresh market feed positioned before its first event; the same events every call. */
  makeFeed: () => MarketFeed;
  /** Clock of a new venue (epoch ms). */
  startTime: number;
  /** Length of one bar (for `/advance {bars}`). Default 1 h. */
  barMs?: number;
  meta?: unknown;
  /** When the market data changes (a replay's bar closes), served by GET /schedule. */
  schedule?: readonly number[];
  host?: string;
}

interface Account {
  name: string;
  feed: MarketFeed;
  sim: SimExchange;
  saved: string;
  savedMark: string;
  broken: string | null;
}

export class AccountsVenue {
  readonly #o: AccountsVenueOptions;
  readonly #barMs: number;
  #clock!: ManualClock;
  #meta: unknown = null;
  #market!: SimExchange;
  readonly #accounts = new Map<string, Account>();
  readonly #pushed: Pushed[] = [];
  #server: Server | null = null;
  /** One queue per account (its calls run in arrival order), one for the venue's own routes (clock, pushes, new accounts). */
  readonly #chains = new Map<string | null, Promise<unknown>>();
  #broken: string | null = null;

  constructor(o: AccountsVenueOptions) {
    this.#o = o;
    this.#barMs = o.barMs ?? 3_600_000;
    if (!(this.#barMs > 0)) throw new RangeError(`AccountsVenue: barMs must be > 0, got ${this.#barMs}`);
  }

  get clock(): ManualClock {
    return this.#clock;
  }

  get port(): number {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? (a as AddressInfo).port : 0;
  }

  get url(): string {
    return `http://${this.#o.host ?? '127.0.0.1'}:${this.port}`;
  }

  /** The URL of one account (what a portfolio's `--venue ACCOUNT=URL` binds). */
  accountUrl(name: string): string {
    return `${this.url}/a/${name}`;
  }

  /** Account names, in creation order. */
  names(): string[] {
    return [...this.#accounts.keys()];
  }

  /** One account's simulator (in-process harnesses and checks); undefined when there is no such account. */
  sim(name: string): SimExchange | undefined {
    return this.#accounts.get(name)?.sim;
  }

  async start(port = 0): Promise<number> {
    if (this.#server) throw new Error('AccountsVenue: already started');
    this.#load();
    const server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.#o.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    return this.port;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#chains.values()].map((c) => c.catch(() => {})));
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Creates an account (refused when the name is taken or not a valid name). */
  createAccount(name: string, balances?: Record<string, number>): Promise<Account> {
    return this.#enqueue(() => this.#create(name, balances, true), null);
  }

  // ---------------------------------------------------------------- state

  get #venueFile(): string {
    return join(this.#o.stateDir, 'venue.json');
  }

  #accountFile(name: string): string {
    return join(this.#o.stateDir, 'accounts', `${name}.json`);
  }

  #load(): void {
    mkdirSync(join(this.#o.stateDir, 'accounts'), { recursive: true, mode: 0o700 });
    const file = this.#venueFile;
    if (existsSync(file)) {
      let v: { format?: unknown; version?: unknown; clock?: unknown; meta?: unknown };
      try {
        v = decode(readFileSync(file, 'utf8')) as typeof v;
      } catch (e) {
        throw new Error(`venue state file ${file} cannot be read: ${(e as Error).message}; refusing to start`);
      }
      if (v?.format !== ACCOUNTS_FORMAT || v.version !== 1 || typeof v.clock !== 'number' || !Number.isFinite(v.clock)) {
        throw new Error(`${file} is not a ballast accounts venue state (version 1); refusing to start`);
      }
      this.#clock = new ManualClock(v.clock);
      this.#meta = v.meta ?? null;
    } else {
      this.#clock = new ManualClock(this.#o.startTime);
      this.#meta = this.#o.meta ?? null;
      this.#saveVenue();
    }
    this.#market = new SimExchange({ ...this.#o.config, balances: {} }, { feed: this.#feedFor(), clock: this.#clock });
    for (const f of readdirSync(join(this.#o.stateDir, 'accounts')).sort()) {
      if (!f.endsWith('.json')) continue;
      const name = f.slice(0, -'.json'.length);
      if (!ACCOUNT_NAME.test(name)) continue;
      const path = this.#accountFile(name);
      let state: VenueState;
      try {
        state = decode(readFileSync(path, 'utf8')) as VenueState;
      } catch (e) {
        throw new Error(`account state file ${path} cannot be read: ${(e as Error).message}; refusing to start`);
      }
      if (state?.format !== STATE_FORMAT || state.version !== 1 || typeof state.sim !== 'object') throw new Error(`${path} is not a ballast venue state (version 1); refusing to start`);
      const feed = this.#feedFor();
      if (state.sim.time !== null) feed.advance(state.sim.time);
      const sim = SimExchange.fromJSON(state.sim, { feed, clock: this.#clock });
      const a: Account = { name, feed, sim, saved: '', savedMark: '', broken: null };
      a.saved = this.#serialise(a);
      a.savedMark = this.#mark(a);
      this.#accounts.set(name, a);
    }
  }

  /** A fresh feed for one account: the market data, then what was pushed since the venue started. */
  #feedFor(): MarketFeed {
    const feed = this.#o.makeFeed();
    if (this.#pushed.length > 0) {
      const p = feed as Partial<PushableFeed>;
      for (const e of this.#pushed) {
        if (e.kind === 'bar') p.pushBar?.call(feed, e.symbol, e.bar);
        else p.pushFunding?.call(feed, e.symbol, e.time, e.rate);
      }
    }
    return feed;
  }

  #create(name: string, balances: Record<string, number> | undefined, explicit: boolean): Account {
    if (!ACCOUNT_NAME.test(name)) throw new BadRequest(`venue: account name ${JSON.stringify(name)} is not valid (letters, digits, _ . -; at most 64)`);
    if (this.#accounts.has(name)) {
      if (explicit) throw new BadRequest(`venue: account ${name} exists already`);
      return this.#accounts.get(name)!;
    }
    if (balances !== undefined) {
      for (const [asset, v] of Object.entries(balances)) {
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new BadRequest(`venue: account ${name}: balance of ${asset} must be a number ≥ 0, got ${JSON.stringify(v)}`);
      }
    }
    const feed = this.#feedFor();
    const sim = new SimExchange({ ...this.#o.config, ...(balances !== undefined ? { balances } : {}) }, { feed, clock: this.#clock });
    sim.sync();
    const a: Account = { name, feed, sim, saved: '', savedMark: '', broken: null };
    this.#accounts.set(name, a);
    this.#saveAccount(a);
    return a;
  }

  #serialise(a: Account): string {
    const state: VenueState = { format: STATE_FORMAT, version: 1, clock: this.#clock.now(), meta: this.#meta, sim: a.sim.toJSON() };
    return encode(state);
  }

  #mark(a: Account): string {
    return `${this.#clock.now()}|${a.sim.time}|${a.feed.time}`;
  }

  #saveAccount(a: Account): void {
    const text = this.#serialise(a);
    if (text === a.saved) return;
    writeFileAtomic(this.#accountFile(a.name), text, this.#o.sync !== false);
    a.saved = text;
    a.savedMark = this.#mark(a);
  }

  #saveVenue(): void {
    writeFileAtomic(this.#venueFile, encode({ format: ACCOUNTS_FORMAT, version: 1, clock: this.#clock.now(), meta: this.#meta }), this.#o.sync !== false);
  }

  #quiet(a: Account): boolean {
    const f = a.sim.faults.config;
    const p = f.probability ?? {};
    return !(f.script?.length) && !(f.maintenance?.length) && !(f.bans?.length) && f.rateLimit === undefined && !(f.notFoundLag ?? 0) && !(p.replyLost || p.reject || p.rateLimit || p.lateFill);
  }

  /**
   * Runs `work` after the calls before it; then saves the account it named (or, with `account` null, the
   * venue file when `venue` is set). A failed save breaks that account (or the venue) until a restart.
   */
  #enqueue<T>(work: () => T | Promise<T>, account: string | null, o: { readOnly?: boolean; venue?: boolean } = {}): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.#broken !== null) throw new ExchangeNotAvailable(`venue: state cannot be saved (${this.#broken}); restart the venue`, { outcomeUnknown: true });
      let a: Account | undefined;
      if (account !== null) {
        a = this.#accounts.get(account) ?? this.#create(account, undefined, false);
        if (a.broken !== null) throw new ExchangeNotAvailable(`venue: account ${account}: state cannot be saved (${a.broken}); restart the venue`, { outcomeUnknown: true });
      }
      const skippable = a !== undefined && o.readOnly === true && a.savedMark === this.#mark(a) && this.#quiet(a);
      const out = await work();
      try {
        if (a !== undefined && !(skippable && a.savedMark === this.#mark(a))) this.#saveAccount(a);
        if (o.venue) this.#saveVenue();
      } catch (e) {
        const why = (e as Error).message;
        if (a !== undefined) a.broken = why;
        else this.#broken = why;
        throw new ExchangeNotAvailable(`venue: state could not be saved (${why}); the outcome of this call is unknown`, { outcomeUnknown: true });
      }
      return out;
    };
    const chain = this.#chains.get(account) ?? Promise.resolve();
    const p = chain.then(run, run);
    const tail = p.catch(() => {});
    this.#chains.set(account, tail);
    // forget a queue that went idle (10,000 accounts need not keep 10,000 settled promises)
    void tail.then(() => {
      if (this.#chains.get(account) === tail) this.#chains.delete(account);
    });
    return p;
  }

  // ---------------------------------------------------------------- HTTP

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const full = req.url ?? '/';
    let account: string | null = null;
    let path = full;
    const m = /^\/a\/([^/]+)(\/.*)$/.exec(full);
    if (m) {
      account = decodeURIComponent(m[1]!);
      path = m[2]!;
      if (!ACCOUNT_NAME.test(account)) {
        send(res, 400, { error: { name: 'BadRequest', message: `venue: account name ${JSON.stringify(account)} is not valid (letters, digits, _ . -; at most 64)` } });
        return;
      }
    }
    const fail = (e: unknown) => send(res, e instanceof ExchangeNotAvailable ? 503 : 400, { error: errorToPayload(e), time: this.#clock.now() });
    if (req.method === 'GET' && path === '/info') {
      this.#enqueue(() => ({ id: this.#o.config.id ?? 'sim', time: this.#clock.now(), speed: 0, barMs: this.#barMs, meta: this.#meta, ...(account !== null ? { account } : {}) }), account, { readOnly: true }).then(
        (info) => send(res, 200, info),
        fail,
      );
      return;
    }
    if (req.method === 'GET' && path === '/schedule') {
      send(res, 200, { schedule: this.#o.schedule ?? [] });
      return;
    }
    if (req.method === 'GET' && path === '/state' && account !== null) {
      this.#enqueue(() => this.#accounts.get(account)!.saved, account, { readOnly: true }).then((text) => sendText(res, 200, text), fail);
      return;
    }
    const posts = account !== null ? ['/rpc', '/advance'] : ['/rpc', '/advance', '/push-bar', '/push-funding', '/accounts'];
    if (req.method !== 'POST' || !posts.includes(path)) {
      send(res, 404, { error: { name: 'BadRequest', message: `venue: no route ${req.method} ${full}` } });
      return;
    }
    readBody(req).then(
      (text) => {
        let body: unknown;
        try {
          body = decode(text);
        } catch {
          send(res, 400, { error: { name: 'BadRequest', message: 'venue: the request body is not JSON' } });
          return;
        }
        let route: Promise<[number, unknown]>;
        if (path === '/rpc') route = this.#rpc(body, account);
        else if (path === '/advance') route = this.#advance(body);
        else if (path === '/accounts') route = this.#accountsRoute(body);
        else route = this.#push(path, body);
        route.then(([status, reply]) => send(res, status, reply), fail);
      },
      () => send(res, 413, { error: { name: 'BadRequest', message: `venue: request body larger than ${MAX_BODY} bytes` } }),
    );
  }

  #rpc(body: unknown, account: string | null): Promise<[number, RpcReply]> {
    const b = body as { method?: unknown; params?: unknown };
    if (body === null || typeof body !== 'object' || !isPortMethod(b.method)) {
      const m = body !== null && typeof body === 'object' ? String(b.method) : '';
      return Promise.reject(new NotSupported(`venue: unknown method ${JSON.stringify(m)}`));
    }
    if (b.params !== undefined && !Array.isArray(b.params)) return Promise.reject(new BadRequest('venue: params must be a list'));
    const method = b.method;
    if (account === null && !MARKET_METHODS.has(method)) {
      return Promise.reject(new BadRequest(`venue: ${method} needs an account: call ${this.url}/a/NAME/rpc (this venue keeps many accounts)`));
    }
    const params = ((b.params as unknown[] | undefined) ?? []).map((p) => (p === null ? undefined : p));
    return this.#enqueue(
      async (): Promise<[number, RpcReply]> => {
        const sim = account === null ? this.#market : this.#accounts.get(account)!.sim;
        try {
          const fn = sim[method] as (...args: unknown[]) => Promise<unknown>;
          const result = await fn.apply(sim, params);
          return [200, { result, time: this.#clock.now() }];
        } catch (e) {
          return [200, { error: errorToPayload(e), time: this.#clock.now() }];
        }
      },
      account,
      { readOnly: READ_ONLY.has(method) },
    );
  }

  #advance(body: unknown): Promise<[number, { time: number }]> {
    const b = (body ?? {}) as { ms?: unknown; bars?: unknown; to?: unknown };
    return this.#enqueue(
      (): [number, { time: number }] => {
        const now = this.#clock.now();
        let to: number;
        if (typeof b.to === 'number') to = b.to;
        else if (typeof b.ms === 'number') to = now + b.ms;
        else if (typeof b.bars === 'number') to = now + b.bars * this.#barMs;
        else throw new BadRequest('venue: /advance needs {ms}, {bars} or {to}');
        if (!Number.isFinite(to) || to < now) throw new BadRequest(`venue: the clock only moves forward (now ${now}, asked ${to})`);
        this.#clock.set(to);
        return [200, { time: this.#clock.now() }];
      },
      null,
      { venue: true },
    );
  }

  #accountsRoute(body: unknown): Promise<[number, { name: string; url: string }]> {
    const b = (body ?? {}) as { name?: unknown; balances?: unknown };
    return this.#enqueue((): [number, { name: string; url: string }] => {
      if (typeof b.name !== 'string') throw new BadRequest('venue: /accounts needs {name, balances?}');
      if (b.balances !== undefined && (b.balances === null || typeof b.balances !== 'object' || Array.isArray(b.balances))) throw new BadRequest('venue: /accounts: balances must be an object of asset → amount');
      this.#create(b.name, b.balances as Record<string, number> | undefined, true);
      return [200, { name: b.name, url: this.accountUrl(b.name) }];
    }, null);
  }

  /** A pushed bar or funding settlement goes to the market and to every account's feed (and to later accounts'). */
  #push(path: string, body: unknown): Promise<[number, { time: number }]> {
    return this.#enqueue((): [number, { time: number }] => {
      let e: Pushed;
      if (path === '/push-bar') {
        const b = (body ?? {}) as { symbol?: unknown; bar?: Partial<Bar>; time?: unknown };
        if (typeof b.symbol !== 'string' || b.bar === null || typeof b.bar !== 'object') throw new BadRequest('venue: /push-bar needs {symbol, bar}');
        const time = typeof b.time === 'number' ? b.time : this.#clock.now();
        const { open, high, low, close, volume } = b.bar;
        e = { kind: 'bar', symbol: b.symbol, bar: { time, open: open!, high: high!, low: low!, close: close!, volume: volume! } };
      } else {
        const b = (body ?? {}) as { symbol?: unknown; time?: unknown; rate?: unknown };
        if (typeof b.symbol !== 'string' || typeof b.time !== 'number' || typeof b.rate !== 'number') throw new BadRequest('venue: /push-funding needs {symbol, time, rate}');
        e = { kind: 'funding', symbol: b.symbol, time: b.time, rate: b.rate };
      }
      const feeds = [this.#market.feed, ...[...this.#accounts.values()].map((a) => a.feed)];
      for (const feed of feeds) {
        const f = feed as Partial<PushableFeed>;
        if (typeof f.pushBar !== 'function' || typeof f.pushFunding !== 'function') throw new NotSupported('venue: this feed does not accept pushed data');
        try {
          if (e.kind === 'bar') f.pushBar.call(feed, e.symbol, e.bar);
          else f.pushFunding.call(feed, e.symbol, e.time, e.rate);
        } catch (err) {
          throw new BadRequest(`venue: ${(err as Error).message}`);
        }
      }
      this.#pushed.push(e);
      return [200, { time: this.#clock.now() }];
    }, null);
  }
}

/** The market URL of an account URL (`…/a/NAME` → `…`): where one feed serves every account of a venue. */
export function marketUrl(url: string): string {
  return url.replace(/\/+$/, '').replace(/\/a\/[^/]+$/, '');
}
