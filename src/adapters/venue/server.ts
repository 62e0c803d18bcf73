/**
 * The simulated venue as its own process: one SimExchange served over HTTP JSON-RPC on 127.0.0.1
 * (protocol in protocol.ts), with its state in its own file, so that killing the service that trades
 * on it leaves the venue exactly as a real exchange would be left.
 *
 * State file rules
 * - Content: {"format": "ballast-venue", "version": 1, "clock": T, "meta": ..., "sim": SimExchange.toJSON()}.
 * - At start: if the file exists it is restored (the feed from `makeFeed()` is moved to the saved
 *   time, the clock set to the saved clock); a file that cannot be read or parsed stops the start —
 *   a venue never silently resets. If it does not exist, a fresh venue is created from `config` at
 *   `startTime` and saved at once.
 * - After every call, clock move or pushed bar, the state is serialised; when it differs from the
 *   last saved one it is written atomically (temp file + fsync + rename + fsync of the folder) BEFORE
 *   the reply is sent. A reply therefore never reports a state that a crash could lose. Exception, for
 *   speed: a read (fetch…, loadMarkets, /info, /state) on a venue without configured faults, with the
 *   clock and the feed where they were at the last save, changes only call counters — not saved.
 * - If saving fails, the reply is ExchangeNotAvailable with outcomeUnknown (HTTP 503) and the venue
 *   refuses every later call until restarted from its last saved state.
 * - Calls are executed one at a time, in arrival order.
 *
 * Time: the venue has its own ManualClock. With `speed` N > 0 it advances by N bars (N × barMs) per
 * second of wall time; `/advance` moves it by hand (tests). The service reads the venue time from
 * every reply (`RemoteExchange.venueClock()`).
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { ManualClock } from '../../ports/clock.js';
import { BadRequest, ExchangeNotAvailable, NotSupported } from '../../ports/errors.js';
import { SimExchange, type SimConfig, type SimExchangeJSON } from '../sim/exchange.js';
import type { Bar, MarketFeed } from '../sim/feed.js';
import { decode, encode, errorToPayload, isPortMethod, type RpcReply } from './protocol.js';
import { pidAlive } from '../process.js';

export const STATE_FORMAT = 'ballast-venue';

/** Another live process (or another server in this one) serves the same state file. */
export class VenueStateInUseError extends Error {
  override name = 'VenueStateInUseError';
}

export interface VenueState {
  format: typeof STATE_FORMAT;
  version: 1;
  /** Venue clock, epoch ms. */
  clock: number;
  /** Whatever the starter recorded about the venue's data (e.g. the replay source); not interpreted. */
  meta: unknown;
  sim: SimExchangeJSON;
}

/** A feed that accepts bars pushed at run time (ArrayFeed). */
interface PushableFeed extends MarketFeed {
  pushBar(symbol: string, bar: Bar): void;
  pushFunding(symbol: string, time: number, rate: number): void;
}

export interface VenueServerOptions {
  /** The venue's own state file. */
  stateFile: string;
  /**
   * fsync the state file (and its folder) on every save. Default true. False keeps the atomic rename — a
   * killed process still leaves a whole state behind — but not a power loss: for a replay's venue in the
   * same process as the service, where the fsyncs were most of the replay's time.
   */
  sync?: boolean;
  /** Simulator configuration of a NEW venue (ignored when restoring: the state file has its own). */
  config: SimConfig;
  /**
   * A fresh market feed positioned before its first event. Must give the same events every time it is
   * called: restoring moves it to the saved time.
   */
  makeFeed: () => MarketFeed;
  /** Clock of a new venue (epoch ms). */
  startTime: number;
  /** Length of one bar in ms (for `speed` and `/advance {bars}`). Default 1 h. */
  barMs?: number;
  /** Bars per second of wall time; 0 (default) = the clock moves only through /advance. */
  speed?: number;
  /** The speed clock stops here (e.g. the close of the last replayed bar). /advance is not limited. */
  stopAt?: number;
  /** Saved with a new venue's state and reported by /info. */
  meta?: unknown;
  /**
   * Times (epoch ms, ascending) at which the venue's market data changes — a replay's bar closes. Served by
   * GET /schedule so a client can step the clock bar by bar without reading the history itself. Not saved.
   */
  schedule?: readonly number[];
  /** Listen address. Default 127.0.0.1. */
  host?: string;
}

/** Port methods that read only (a fault-free venue changes nothing material answering them). */
export const READ_ONLY: ReadonlySet<string> = new Set([
  'loadMarkets',
  'fetchBalance',
  'fetchPositions',
  'fetchTicker',
  'fetchTickers',
  'fetchFundingRate',
  'fetchFundingHistory',
  'fetchOrder',
  'fetchOpenOrders',
  'fetchClosedOrders',
  'fetchMyTrades',
]);

export const MAX_BODY = 1 << 20;
const TICK_MS = 100;

export class VenueServer {
  readonly #opts: VenueServerOptions;
  readonly #barMs: number;
  readonly #speed: number;
  #clock!: ManualClock;
  #feed!: MarketFeed;
  #sim!: SimExchange;
  #meta: unknown;
  #server: Server | null = null;
  #timer: NodeJS.Timeout | null = null;
  #lastTick = 0;
  #saved = '';
  /** Clock, simulator and feed times when the state was last saved (see #unchanged). */
  #savedMark = '';
  #broken: string | null = null;
  /** Serialises calls: each runs after the previous one has been saved. */
  #chain: Promise<unknown> = Promise.resolve();

  constructor(opts: VenueServerOptions) {
    this.#opts = opts;
    this.#barMs = opts.barMs ?? 3_600_000;
    this.#speed = opts.speed ?? 0;
    if (!(this.#barMs > 0)) throw new RangeError(`VenueServer: barMs must be > 0, got ${this.#barMs}`);
    if (!(this.#speed >= 0) || !Number.isFinite(this.#speed)) throw new RangeError(`VenueServer: speed must be ≥ 0, got ${this.#speed}`);
  }

  /** The simulator (for in-process harnesses and checks). */
  get sim(): SimExchange {
    return this.#sim;
  }

  get clock(): ManualClock {
    return this.#clock;
  }

  get port(): number {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? (a as AddressInfo).port : 0;
  }

  get url(): string {
    return `http://${this.#opts.host ?? '127.0.0.1'}:${this.port}`;
  }

  /**
   * Restores or creates the venue, then listens on `port` (0: any free port). Resolves with the port. The state
   * file is locked (`<state>.lock` holding the pid) while the venue runs: a second venue on the same file is
   * refused with VenueStateInUseError; a lock left by a killed process is taken over.
   */
  async start(port = 0): Promise<number> {
    if (this.#server) throw new Error('VenueServer: already started');
    this.#lock();
    const server = createServer((req, res) => this.#handle(req, res));
    try {
      this.#load();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, this.#opts.host ?? '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      this.#unlock();
      throw e;
    }
    this.#server = server;
    if (this.#speed > 0) {
      this.#lastTick = performance.now();
      this.#timer = setInterval(() => void this.#enqueue(() => this.#tick()).catch(() => {}), TICK_MS);
    }
    return this.port;
  }

  #locked = false;

  #lock(): void {
    const file = `${this.#opts.stateFile}.lock`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(file, 'wx', 0o600);
        try {
          writeSync(fd, String(process.pid));
        } finally {
          closeSync(fd);
        }
        this.#locked = true;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let pid = NaN;
      try {
        pid = Number(readFileSync(file, 'utf8').trim());
      } catch {
        // vanished meanwhile: try again
      }
      if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) {
        throw new VenueStateInUseError(`venue state file ${this.#opts.stateFile} is in use by process ${pid}${pid === process.pid ? ' (this one)' : ''}; stop that venue first`);
      }
      rmSync(file, { force: true }); // left by a process that is gone
    }
    throw new VenueStateInUseError(`venue state file ${this.#opts.stateFile}: cannot take its lock file ${file}`);
  }

  #unlock(): void {
    if (!this.#locked) return;
    this.#locked = false;
    rmSync(`${this.#opts.stateFile}.lock`, { force: true });
  }

  /** Stops the clock and the listener after the call in progress (its state is saved already), and unlocks the state file. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#chain.catch(() => {});
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.#chain.catch(() => {});
    this.#unlock();
  }

  // ---------------------------------------------------------------- state

  #load(): void {
    const file = this.#opts.stateFile;
    if (existsSync(file)) {
      let state: VenueState;
      try {
        state = decode(readFileSync(file, 'utf8')) as VenueState;
      } catch (e) {
        throw new Error(`venue state file ${file} cannot be read: ${(e as Error).message}; refusing to start (move it away to start a new venue)`);
      }
      if (state?.format !== STATE_FORMAT || state.version !== 1 || !Number.isFinite(state.clock) || typeof state.sim !== 'object') {
        throw new Error(`venue state file ${file} is not a ballast venue state (version 1); refusing to start`);
      }
      this.#clock = new ManualClock(state.clock);
      this.#feed = this.#opts.makeFeed();
      if (state.sim.time !== null) this.#feed.advance(state.sim.time);
      this.#sim = SimExchange.fromJSON(state.sim, { feed: this.#feed, clock: this.#clock });
      this.#meta = state.meta ?? null;
      this.#saved = this.#serialise();
      this.#savedMark = this.#mark();
      return;
    }
    this.#clock = new ManualClock(this.#opts.startTime);
    this.#feed = this.#opts.makeFeed();
    this.#sim = new SimExchange(this.#opts.config, { feed: this.#feed, clock: this.#clock });
    this.#meta = this.#opts.meta ?? null;
    this.#sim.sync();
    this.#save();
  }

  #serialise(): string {
    const state: VenueState = { format: STATE_FORMAT, version: 1, clock: this.#clock.now(), meta: this.#meta, sim: this.#sim.toJSON() };
    return encode(state);
  }

  /** Writes the state if it changed: temp file, fsync, rename, fsync of the folder. */
  #save(): void {
    const text = this.#serialise();
    if (text === this.#saved) return;
    writeFileAtomic(this.#opts.stateFile, text, this.#opts.sync !== false);
    this.#saved = text;
    this.#savedMark = this.#mark();
  }

  #mark(): string {
    return `${this.#clock.now()}|${this.#sim.time}|${this.#feed.time}`;
  }

  /**
   * A read on a venue without configured faults changes nothing but the fault injector's call counters when
   * neither the clock nor the feed moved since the last save: saving (serialising the whole state) can be skipped.
   */
  #quiet(): boolean {
    const f = this.#sim.faults.config;
    const p = f.probability ?? {};
    return (
      !(f.script?.length) &&
      !(f.maintenance?.length) &&
      !(f.bans?.length) &&
      f.rateLimit === undefined &&
      !(f.notFoundLag ?? 0) &&
      !(p.replyLost || p.reject || p.rateLimit || p.lateFill)
    );
  }

  /** Runs `work`, then saves; a failed save breaks the venue (see the header). `readOnly`: see #quiet. */
  #enqueue<T>(work: () => T | Promise<T>, readOnly = false): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.#broken !== null) throw new ExchangeNotAvailable(`venue: state cannot be saved (${this.#broken}); restart the venue`, { outcomeUnknown: true });
      const skippable = readOnly && this.#savedMark === this.#mark() && this.#quiet();
      const out = await work();
      if (skippable && this.#savedMark === this.#mark()) return out;
      try {
        this.#save();
      } catch (e) {
        this.#broken = (e as Error).message;
        throw new ExchangeNotAvailable(`venue: state could not be saved (${this.#broken}); the outcome of this call is unknown`, { outcomeUnknown: true });
      }
      return out;
    };
    const p = this.#chain.then(run, run);
    this.#chain = p.catch(() => {});
    return p;
  }

  #tick(): void {
    const now = performance.now();
    let ms = Math.floor(((now - this.#lastTick) * this.#speed * this.#barMs) / 1000);
    if (ms <= 0) return;
    this.#lastTick += (ms * 1000) / (this.#speed * this.#barMs);
    const stopAt = this.#opts.stopAt ?? Infinity;
    ms = Math.min(ms, stopAt - this.#clock.now());
    if (ms <= 0) return;
    this.#clock.advance(ms);
    this.#sim.sync();
  }

  // ---------------------------------------------------------------- HTTP

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/info') {
      this.#enqueue(() => ({ id: this.#sim.id, time: this.#clock.now(), speed: this.#speed, barMs: this.#barMs, meta: this.#meta }), true).then(
        (info) => send(res, 200, info),
        (e) => send(res, 503, { error: errorToPayload(e) }),
      );
      return;
    }
    if (req.method === 'GET' && url === '/schedule') {
      send(res, 200, { schedule: this.#opts.schedule ?? [] });
      return;
    }
    if (req.method === 'GET' && url === '/state') {
      this.#enqueue(() => this.#saved, true).then(
        (text) => sendText(res, 200, text),
        (e) => send(res, 503, { error: errorToPayload(e) }),
      );
      return;
    }
    if (req.method !== 'POST' || !['/rpc', '/advance', '/push-bar', '/push-funding'].includes(url)) {
      send(res, 404, { error: { name: 'BadRequest', message: `venue: no route ${req.method} ${url}` } });
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
        const route =
          url === '/rpc' ? this.#rpc(body) : url === '/advance' ? this.#advance(body) : url === '/push-funding' ? this.#pushFunding(body) : this.#pushBar(body);
        route.then(
          ([status, reply]) => send(res, status, reply),
          (e: unknown) => send(res, e instanceof ExchangeNotAvailable ? 503 : 400, { error: errorToPayload(e), time: this.#clock.now() }),
        );
      },
      () => send(res, 413, { error: { name: 'BadRequest', message: `venue: request body larger than ${MAX_BODY} bytes` } }),
    );
  }

  async #rpc(body: unknown): Promise<[number, RpcReply]> {
    const b = body as { method?: unknown; params?: unknown };
    if (body === null || typeof body !== 'object' || !isPortMethod(b.method)) {
      const m = body !== null && typeof body === 'object' ? String(b.method) : '';
      throw new NotSupported(`venue: unknown method ${JSON.stringify(m)}`);
    }
    if (b.params !== undefined && !Array.isArray(b.params)) throw new BadRequest('venue: params must be a list');
    const method = b.method;
    const params = ((b.params as unknown[] | undefined) ?? []).map((p) => (p === null ? undefined : p));
    return this.#enqueue(async (): Promise<[number, RpcReply]> => {
      try {
        const fn = this.#sim[method] as (...args: unknown[]) => Promise<unknown>;
        const result = await fn.apply(this.#sim, params);
        return [200, { result, time: this.#clock.now() }];
      } catch (e) {
        return [200, { error: errorToPayload(e), time: this.#clock.now() }];
      }
    }, READ_ONLY.has(method));
  }

  #advance(body: unknown): Promise<[number, { time: number }]> {
    const b = (body ?? {}) as { ms?: unknown; bars?: unknown; to?: unknown };
    return this.#enqueue((): [number, { time: number }] => {
      const now = this.#clock.now();
      let to: number;
      if (typeof b.to === 'number') to = b.to;
      else if (typeof b.ms === 'number') to = now + b.ms;
      else if (typeof b.bars === 'number') to = now + b.bars * this.#barMs;
      else throw new BadRequest('venue: /advance needs {ms}, {bars} or {to}');
      if (!Number.isFinite(to) || to < now) throw new BadRequest(`venue: the clock only moves forward (now ${now}, asked ${to})`);
      this.#clock.set(to);
      this.#sim.sync();
      return [200, { time: this.#clock.now() }];
    });
  }

  #pushBar(body: unknown): Promise<[number, { time: number }]> {
    const b = (body ?? {}) as { symbol?: unknown; bar?: Partial<Bar>; time?: unknown };
    return this.#enqueue((): [number, { time: number }] => {
      const feed = this.#feed as Partial<PushableFeed>;
      if (typeof feed.pushBar !== 'function') throw new NotSupported('venue: this feed does not accept pushed bars');
      if (typeof b.symbol !== 'string' || b.bar === null || typeof b.bar !== 'object') throw new BadRequest('venue: /push-bar needs {symbol, bar}');
      const time = typeof b.time === 'number' ? b.time : this.#clock.now();
      const { open, high, low, close, volume } = b.bar;
      try {
        feed.pushBar.call(this.#feed, b.symbol, { time, open: open!, high: high!, low: low!, close: close!, volume: volume! });
      } catch (e) {
        throw new BadRequest(`venue: ${(e as Error).message}`);
      }
      this.#sim.sync();
      return [200, { time: this.#clock.now() }];
    });
  }

  /** A funding settlement of `symbol` at `time` (not before the venue clock) at `rate`: settled when the clock reaches it. */
  #pushFunding(body: unknown): Promise<[number, { time: number }]> {
    const b = (body ?? {}) as { symbol?: unknown; time?: unknown; rate?: unknown };
    return this.#enqueue((): [number, { time: number }] => {
      const feed = this.#feed as Partial<PushableFeed>;
      if (typeof feed.pushFunding !== 'function') throw new NotSupported('venue: this feed does not accept pushed funding');
      if (typeof b.symbol !== 'string' || typeof b.time !== 'number' || typeof b.rate !== 'number') throw new BadRequest('venue: /push-funding needs {symbol, time, rate}');
      try {
        feed.pushFunding.call(this.#feed, b.symbol, b.time, b.rate);
      } catch (e) {
        throw new BadRequest(`venue: ${(e as Error).message}`);
      }
      this.#sim.sync();
      return [200, { time: this.#clock.now() }];
    });
  }
}

/** Reads a venue state file (e.g. to rebuild its feed from `meta` before restarting it); null if there is none. */
export function readVenueState(file: string): VenueState | null {
  if (!existsSync(file)) return null;
  const state = decode(readFileSync(file, 'utf8')) as VenueState;
  if (state?.format !== STATE_FORMAT || state.version !== 1) throw new Error(`${file} is not a ballast venue state (version 1)`);
  return state;
}

/** Writes `text` to `file` atomically: temp file, (fsync), rename, (fsync of the folder). */
export function writeFileAtomic(file: string, text: string, sync: boolean): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    if (sync) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  if (!sync) return;
  try {
    const dfd = openSync(dirname(file), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // some platforms cannot fsync a directory; the rename is still atomic
  }
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function send(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, encode(body));
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
