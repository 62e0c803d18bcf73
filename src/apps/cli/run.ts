/**
 * `ballast run`: the long-running service, wired. Programmatic entry: `startRun(options)` returns a RunHandle
 * (the service, its journal, `stop()` and `done`) once the service has started — account locks taken and the
 * journal reconciled with the venue. The CLI command only parses flags, installs the signal handlers and prints.
 *
 * Venues and time (docs/running.md):
 *   paper, --replay DIR       the simulated venue replaying the bundled daily history, in this process, with its
 *                             state in its own file (`--venue-state`, default next to the journal). The run moves
 *                             the venue clock bar by bar (`--speed` bars per second, 0 = as fast as possible);
 *                             the service plans on each bar's snapshot and trades through the executor.
 *   paper, --venue URL        a separately running `ballast sim-venue` (RemoteExchange). A replay venue whose own
 *                             speed is 0 is moved by the run as above; one with a speed moves by itself and the run
 *                             follows its clock. Killing the run leaves the venue's state intact.
 *   paper (neither)           the simulated venue on live public prices (a keyless ccxt client, `--prices`).
 *   --live                    real exchanges through ccxt with keys from the environment or a 0600 key file; keys
 *                             that can withdraw are refused. Never the default.
 *
 * Resume: a restart with the same journal (and, for replay, the same venue state) reconciles first, then
 * continues after the last bar the journal has processed — no bar is planned twice, no intent is sent twice.
 *
 * Crash test hook: BALLAST_CRASH_AT="<point>:<n>" (points of src/execution/crash.ts) makes the process kill
 * itself with SIGKILL at the n-th time it reaches that point. Paper only; refused with --live.
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { LevelWithSilent } from 'pino';
import { amount, pct } from '../../core/format.js';
import type { AccountConfig, Portfolio } from '../../core/types.js';
import { CRASH_POINTS, type CrashHook, type CrashPoint } from '../../execution/crash.js';
import { executorConfigFromOrders } from '../../execution/executor.js';
import { guard } from '../../execution/retry.js';
import { loadPortfolio, serviceConfig } from '../../adapters/files/portfolio.js';
import { isPostgresUrl, openJournal } from '../../adapters/journal/open.js';
import { credentialsFromEnv } from '../../adapters/keys.js';
import { createLogger, type Logger } from '../../adapters/log.js';
import { Notifier } from '../../adapters/notify.js';
import { LiveSnapshotSource } from '../../adapters/feed/live.js';
import { RemoteExchange } from '../../adapters/venue/client.js';
import { livePaperVenue, PricePump, type PriceSource } from '../../adapters/venue/live-prices.js';
import { replayVenue, replayVenueServer } from '../../adapters/venue/replay.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import type { Exchange } from '../../ports/exchange.js';
import type { Journal } from '../../ports/journal.js';
import type { SnapshotSource } from '../../ports/snapshot-source.js';
import { ReplayDriver, type ReplayOutcome } from '../../service/replay.js';
import { followTime, steppedTime, wallTime, type RunTime } from '../../service/run-time.js';
import { Service, type CycleReport } from '../../service/service.js';
import { ExchangeSnapshotSource } from '../../service/sim-source.js';
import { summarizeJournal, summaryLines, type RunSummary } from '../../service/summary.js';
import { UsageError } from './errors.js';
import { ccxtPriceSource, openLiveAccounts, portfolioSymbols, type LiveAccount, type LiveExchangeFactory } from './live.js';

/** Default journal, relative to the working directory. */
export const DEFAULT_DB = join('.ballast', 'journal.db');
/** Default replay speed: bars per second of wall time. */
export const DEFAULT_SPEED = 10;
export const DEFAULT_CAPITAL = 100_000;
export const CRASH_ENV = 'BALLAST_CRASH_AT';

export type Cleanup = () => void | Promise<void>;

export interface RunOptions {
  /** Portfolio file. */
  config: string;
  /** Trade real exchanges (needs keys). Default false: paper. */
  live?: boolean;
  /** Replay the history in this folder (layout of data/). */
  replay?: string;
  interval?: '1d' | '1h';
  /** Replay: bars per second of wall time; 0 = as fast as possible. Default 10. */
  speed?: number;
  /** Replay: first bar (open time, epoch ms). */
  from?: number;
  /** Replay: stop after the last bar closing at or before this time (epoch ms). */
  until?: number;
  /** Starting quote balance of a new simulated venue. Default 100,000. */
  capital?: number;
  /** Journal file. Default .ballast/journal.db. */
  db?: string;
  /** URL of a running `ballast sim-venue`. */
  venue?: string;
  /** State file of the in-process simulated venue. Default: beside the journal, `<journal>.venue.json`. */
  venueState?: string;
  /** Paper on live prices: the public price source (binance, bybit, okx). Default: the first configured exchange, else binance. */
  prices?: string;
  /** Pause between cycles of a live or live-price paper run. Default 60 s. */
  intervalMs?: number;
  logLevel?: LevelWithSilent;
  /** Log destination (tests); default stderr. */
  logStream?: { write(s: string): unknown };
  /** Where progress lines and the summary go. Default stdout. */
  out?: (line: string) => void;
  /** A progress line per cycle. Default: stdout is a terminal. */
  progress?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Tests: live venues without ccxt (no network). */
  liveFactory?: LiveExchangeFactory;
  /** --live: use keys whose withdrawal right the venue does not report (refused by default). */
  allowUnverifiedKeys?: boolean;
  /** Tests: the price source of paper on live prices (no network). */
  priceSource?: PriceSource;
  /** Replay: when the history ends, keep the process (and the HTTP API) up until stop() or a signal. */
  keepServing?: boolean;
  /**
   * Called once the service has started (locks taken, reconciled), before the first cycle: the place to attach
   * the HTTP API. May return a cleanup, run after the service stopped and before the journal closes.
   */
  onStarted?: (h: RunHandle) => void | Cleanup | Promise<void | Cleanup>;
}

export type RunMode = 'replay' | 'venue' | 'paper-live' | 'live';

export interface RunResult {
  /** Process exit code: 0 done or stopped cleanly, 1 runtime failure. */
  code: 0 | 1;
  /** Every bar up to --until (or the end of the history) is processed (replay); false for live runs. */
  finished: boolean;
  reason: string;
  summary: RunSummary;
  replay?: ReplayOutcome;
  /** Final reconciliation (end of a replay): mismatches, empty when the journal equals the venue. */
  mismatches: string[];
}

export interface RunHandle {
  readonly service: Service;
  readonly journal: Journal;
  readonly portfolio: Portfolio;
  readonly mode: RunMode;
  readonly logger: Logger;
  /** The run's clock: the replay's virtual time in a replay, else the system clock. */
  readonly clock: Clock;
  /** Where the service's snapshots come from (a LiveSnapshotSource reports per-input freshness). */
  readonly source: SnapshotSource;
  /** Run the next cycle now instead of waiting for the interval (live loops; a replay runs bar by bar anyway). */
  cycleNow(): void;
  /** End after the cycle in progress; resolves when everything is closed. Idempotent. */
  stop(reason?: string): Promise<RunResult>;
  readonly done: Promise<RunResult>;
}

// ================================================================== helpers

/** The crash hook of BALLAST_CRASH_AT="<point>:<n>": SIGKILL of this process at the n-th hit of the point. */
export function crashHookFromSpec(spec: string | undefined): CrashHook | undefined {
  if (spec === undefined || spec.trim() === '') return undefined;
  const m = /^([a-z-]+):(\d+)$/.exec(spec.trim());
  const point = m?.[1] as CrashPoint | undefined;
  const n = Number(m?.[2]);
  if (!m || !CRASH_POINTS.includes(point!) || !(n >= 1)) {
    throw new UsageError(`${CRASH_ENV} must be <point>:<n> with point one of ${CRASH_POINTS.join(', ')} and n ≥ 1, got "${spec}"`);
  }
  let hits = 0;
  return (p) => {
    if (p !== point || ++hits !== n) return;
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL to oneself is delivered at once; never run another line meanwhile.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
  };
}

/**
 * Build a replay venue, reporting what is wrong with the history or the range as a user error (exit 2): plain
 * Errors from the replay/history loaders describe bad input (empty range, quote not USDT, unknown interval).
 */
export function replayInput<T>(dir: string, build: () => T): T {
  try {
    return build();
  } catch (e) {
    if (e instanceof Error && e.constructor === Error) throw new UsageError(`--replay ${dir}: ${e.message}`);
    throw e;
  }
}

/** `.ballast/journal.db` → `.ballast/journal.venue.json`. */
export function defaultVenueState(db: string): string {
  if (isPostgresUrl(db)) return join('.ballast', 'journal.venue.json');
  const b = basename(db).replace(/\.(db|sqlite3?)$/i, '');
  return join(dirname(db), `${b}.venue.json`);
}

/** The simulated account's name: the portfolio's only account, else `paper`. */
export function paperAccountName(p: Portfolio): string {
  return p.accounts?.length === 1 ? p.accounts[0]!.name : 'paper';
}

const day = (t: number): string => new Date(t).toISOString().replace('T00:00:00.000Z', '').replace('.000Z', 'Z');

/** One human line per cycle. */
export function cycleLine(r: CycleReport, bar?: { index: number; total: number }): string {
  const parts = [day(r.time)];
  if (bar) parts.push(`bar ${String(bar.index + 1).padStart(String(bar.total).length)}/${bar.total}`);
  parts.push(r.status.padEnd(13));
  const v = r.plan?.valuation;
  if (v && Number.isFinite(v.tpv)) {
    parts.push(`TPV ${amount(v.tpv)}`);
    parts.push(v.classes.map((c) => `${c.name} ${pct(c.weight, 1)}${c.breach ? (c.breach === 'upper' ? '↑' : '↓') : ''}`).join(' '));
  }
  if (r.execution) {
    const orders = r.execution.legs.reduce((s, l) => s + l.orders.length, 0);
    parts.push(`legs ${r.execution.legs.filter((l) => l.filled > 0).length}/${r.execution.legs.length} filled, ${orders} orders`);
  }
  if (r.status !== 'traded' && r.status !== 'nothing-to-do' && r.reason) parts.push(`(${r.reason.split('\n')[0]})`);
  return parts.join('  ');
}

function notifyCycle(n: Notifier, r: CycleReport, prevState: string): void {
  if (r.plan?.status === 'ok') n.notify({ type: 'trigger', time: r.time, summary: `${r.plan.trigger}: ${r.plan.actions.length} action(s)`, data: { trigger: r.plan.trigger, tpv: r.plan.valuation.tpv } });
  for (const l of r.execution?.legs ?? []) {
    if (l.orders.length > 0) n.notify({ type: 'order', time: r.time, account: l.account, summary: `${l.side} ${l.requested} ${l.symbol}: ${l.orders.length} order(s), ${l.status}`, data: { leg: l } });
    if (l.filled > 0) n.notify({ type: 'fill', time: r.time, account: l.account, summary: `filled ${l.side} ${l.filled} ${l.symbol}${l.avgPrice !== null ? ` at ${l.avgPrice}` : ''}`, data: { leg: l } });
  }
  if (r.state === 'HALTED' && prevState !== 'HALTED') n.notify({ type: 'halt', time: r.time, summary: `trading HALTED: ${r.reason}` });
}

/**
 * Keys in the environment for the configured accounts (and the paper account) are registered as secrets —
 * scrubbed from every log line and error message — even when this run does not use them.
 */
function registerEnvKeys(p: Portfolio, env: NodeJS.ProcessEnv, log: Logger, live: boolean): void {
  const names = new Set([...(p.accounts ?? []).map((a) => a.name), paperAccountName(p)]);
  for (const name of names) {
    try {
      if (credentialsFromEnv(name, env) && !live) log.info({ account: name }, 'API keys found in the environment are not used in paper mode');
    } catch {
      // a half-set key: reported by --live; paper never reads it
    }
  }
}

// ================================================================== wiring

interface Wiring {
  mode: RunMode;
  time: RunTime;
  venues: Record<string, Exchange>;
  /** Built over the guarded venues. */
  source: (guarded: Record<string, Exchange>) => SnapshotSource;
  closes?: number[];
  barMs?: number;
  notes: string[];
  remote?: RemoteExchange;
  cleanup: Cleanup[];
}

async function wireReplayInProcess(o: RunOptions, p: Portfolio, account: string, db: string, log: Logger): Promise<Wiring> {
  const stateFile = resolve(o.venueState ?? defaultVenueState(db));
  mkdirSync(dirname(stateFile), { recursive: true });
  const { server, replay } = replayInput(o.replay!, () =>
    replayVenueServer({
      portfolio: p,
      dataDir: resolve(o.replay!),
      interval: o.interval ?? '1d',
      ...(o.from !== undefined ? { from: o.from } : {}),
      stateFile,
      // in this process: a kill -9 takes the service down with it, so the state needs no fsync (see VenueServer)
      sync: false,
      speed: 0,
      balances: { [p.quote]: o.capital ?? DEFAULT_CAPITAL },
      id: 'sim',
    }),
  );
  const cleanup: Cleanup[] = [];
  await server.start(0);
  cleanup.push(() => server.stop());
  try {
    const remote = await RemoteExchange.connect(server.url);
    log.info({ venueState: stateFile, url: server.url, start: new Date(replay.startTime).toISOString(), end: new Date(replay.endTime).toISOString() }, 'replay venue started in this process');
    return {
      mode: 'replay',
      time: steppedTime(remote),
      venues: { [account]: remote },
      source: (g) => new ExchangeSnapshotSource({ accounts: [{ name: account, exchange: g[account]! }], clock: { now: () => remote.venueTime }, quote: p.quote, portfolio: p }),
      closes: Array.from(replay.history.times, (t) => t + replay.barMs),
      barMs: replay.barMs,
      notes: replay.notes,
      remote,
      cleanup,
    };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

interface VenueMeta {
  source?: string;
  dataDir?: string;
  interval?: '1d' | '1h';
  from?: number | null;
  to?: number | null;
}

async function wireRemoteVenue(o: RunOptions, p: Portfolio, account: string, log: Logger): Promise<Wiring> {
  let remote: RemoteExchange;
  try {
    remote = await RemoteExchange.connect(o.venue!);
  } catch (e) {
    throw new UsageError(`--venue ${o.venue}: cannot reach the simulated venue (${(e as Error).message}); start it with \`ballast sim-venue\``);
  }
  const info = await remote.info();
  const meta = (info.meta ?? {}) as VenueMeta;
  const clock = { now: () => remote.venueTime };
  const source = (g: Record<string, Exchange>): SnapshotSource => new ExchangeSnapshotSource({ accounts: [{ name: account, exchange: g[account]! }], clock, quote: p.quote, portfolio: p });
  // A replay venue publishes its bar closes; an older one is asked for its history folder instead.
  let closes = await remote.schedule();
  let notes: string[] = [];
  if (closes.length === 0 && (o.replay !== undefined || meta.source === 'history')) {
    const dataDir = resolve(o.replay ?? meta.dataDir ?? '');
    const interval = meta.interval ?? o.interval ?? '1d';
    const replay = replayInput(dataDir, () => replayVenue({ portfolio: p, dataDir, interval, ...(meta.from != null ? { from: meta.from } : {}), ...(meta.to != null ? { to: meta.to } : {}) }));
    if (replay.barMs !== info.barMs) throw new UsageError(`--venue ${o.venue}: the venue's bars are ${info.barMs} ms long, the replayed history's ${replay.barMs} ms (${interval})`);
    closes = Array.from(replay.history.times, (t) => t + replay.barMs);
    notes = replay.notes;
  }
  if (closes.length > 0) {
    const time = info.speed > 0 ? followTime(remote, { rate: (info.speed * info.barMs) / 1000 }) : steppedTime(remote);
    log.info({ venue: remote.url, speed: info.speed, time: time.kind, venueTime: new Date(info.time).toISOString() }, 'replay on a separate venue process');
    return { mode: 'venue', time, venues: { [account]: remote }, source, closes, barMs: info.barMs, notes, remote, cleanup: [] };
  }
  log.info({ venue: remote.url }, 'paper trading on a separate venue process (its own clock)');
  return { mode: 'venue', time: wallTime(clock), venues: { [account]: remote }, source, notes: [], remote, cleanup: [] };
}

async function wirePaperLive(o: RunOptions, p: Portfolio, account: string, db: string, log: Logger): Promise<Wiring> {
  const clock = systemClock;
  const priceVenue = o.prices ?? p.accounts?.find((a: AccountConfig) => a.exchange !== 'paper')?.exchange ?? 'binance';
  const src = o.priceSource ?? (await ccxtPriceSource(priceVenue, clock, portfolioSymbols(p)));
  const stateFile = resolve(o.venueState ?? defaultVenueState(db));
  mkdirSync(dirname(stateFile), { recursive: true });
  const v = await livePaperVenue({ portfolio: p, source: src, stateFile, clock, balances: { [p.quote]: o.capital ?? DEFAULT_CAPITAL } });
  const cleanup: Cleanup[] = [];
  await v.server.start(0);
  cleanup.push(() => v.server.stop());
  try {
    const remote = await RemoteExchange.connect(v.server.url);
    const pump = new PricePump({ venue: remote, source: src, symbols: v.symbols, clock, everyMs: serviceConfig(p).feed.restFallbackMs, logger: log });
    await pump.tick();
    pump.start();
    cleanup.unshift(() => pump.stop());
    log.info({ prices: src.id, venueState: stateFile, markets: v.symbols }, 'paper trading on live prices');
    return {
      mode: 'paper-live',
      time: wallTime(clock),
      venues: { [account]: remote },
      source: (g) => new ExchangeSnapshotSource({ accounts: [{ name: account, exchange: g[account]! }], clock, quote: p.quote, portfolio: p }),
      notes: v.notes,
      remote,
      cleanup,
    };
  } catch (e) {
    for (const c of cleanup) await c();
    throw e;
  }
}

async function wireLive(o: RunOptions, p: Portfolio, log: Logger): Promise<Wiring> {
  const clock = systemClock;
  const accounts: LiveAccount[] = await openLiveAccounts(p, { clock, ...(o.env ? { env: o.env } : {}), ...(o.liveFactory ? { factory: o.liveFactory } : {}), ...(o.allowUnverifiedKeys ? { allowUnverifiedKeys: true } : {}), log });
  const restFallbackMs = serviceConfig(p).feed.restFallbackMs;
  return {
    mode: 'live',
    time: wallTime(clock),
    venues: Object.fromEntries(accounts.map((a) => [a.name, a.venue.exchange])),
    source: (g) =>
      new LiveSnapshotSource({
        portfolio: p,
        accounts: accounts.map((a) => ({ name: a.name, exchange: g[a.name]!, ...(a.venue.watcher ? { watcher: a.venue.watcher } : {}) })),
        clock,
        restFallbackMs,
        logger: log,
      }),
    notes: [],
    cleanup: accounts.map((a) => async () => a.venue.close?.()),
  };
}

// ================================================================== start

/**
 * The folder of a file ballast will write (journal, venue state): the missing folders are created one level
 * at a time (a recursive mkdir under /proc never returns), and the folder must take a new file. Anything else
 * is a UsageError naming the flag, the file and the problem.
 */
export function prepareFolder(file: string, flag: string): void {
  const dir = dirname(file);
  const fail = (what: string): never => {
    throw new UsageError(`${flag} ${file}: ${what}`);
  };
  const code = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? String(e);
  const missing: string[] = [];
  for (let d = dir; ; ) {
    let isDir: boolean;
    try {
      isDir = statSync(d).isDirectory();
    } catch (e) {
      if (code(e) !== 'ENOENT' && code(e) !== 'ENOTDIR') fail(`cannot use the folder ${d} (${code(e)})`);
      if (code(e) === 'ENOTDIR') fail(`${d} is not a folder (part of its path is a file)`);
      missing.unshift(d);
      const up = dirname(d);
      if (up === d) break;
      d = up;
      continue;
    }
    if (!isDir) fail(`${d} is not a folder`);
    break;
  }
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (e) {
      if (code(e) !== 'EEXIST') fail(`cannot create the folder ${m} (${code(e)})`);
    }
  }
  // The folder must take a new file (the journal's -wal and -shm files, the venue state's lock): root passes
  // access(2) checks on read-only pseudo file systems such as /sys, so try one.
  const probe = join(dir, `.ballast-probe-${process.pid}`);
  try {
    writeFileSync(probe, '', { flag: 'wx', mode: 0o600 });
    rmSync(probe, { force: true });
  } catch (e) {
    fail(`cannot write in the folder ${dir} (${code(e)})`);
  }
}

export async function startRun(o: RunOptions): Promise<RunHandle> {
  const env = o.env ?? process.env;
  const out = o.out ?? ((s: string) => void process.stdout.write(s + '\n'));
  const live = o.live === true;
  if (live && (o.replay !== undefined || o.venue !== undefined)) throw new UsageError('--live trades real exchanges: it cannot be combined with --replay or --venue');
  if (o.speed !== undefined && !(o.speed >= 0 && Number.isFinite(o.speed))) throw new UsageError(`--speed must be a number ≥ 0, got ${o.speed}`);
  const crash = crashHookFromSpec(env[CRASH_ENV]);
  if (crash && live) throw new UsageError(`${CRASH_ENV} (a crash-test hook) is refused with --live`);

  const portfolio0 = loadPortfolio(o.config);
  const cfg = serviceConfig(portfolio0);
  const logger = createLogger({ level: o.logLevel ?? 'info', ...(o.logStream ? { stream: o.logStream } : {}), base: { app: 'ballast' } });
  registerEnvKeys(portfolio0, env, logger, live);
  const db = o.db !== undefined && isPostgresUrl(o.db) ? o.db : resolve(o.db ?? DEFAULT_DB);
  if (!isPostgresUrl(db)) prepareFolder(db, '--db');
  if (o.venueState !== undefined) prepareFolder(resolve(o.venueState), '--venue-state');
  const account = paperAccountName(portfolio0);

  const w: Wiring = live
    ? await wireLive(o, portfolio0, logger)
    : o.venue !== undefined
      ? await wireRemoteVenue(o, portfolio0, account, logger)
      : o.replay !== undefined
        ? await wireReplayInProcess(o, portfolio0, account, db, logger)
        : await wirePaperLive(o, portfolio0, account, db, logger);
  const cleanups = [...w.cleanup];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.splice(0)) {
      try {
        await c();
      } catch (e) {
        logger.warn({ err: e }, 'cleanup failed');
      }
    }
  };
  for (const n of w.notes) logger.info({ note: n }, 'venue note');

  // A replayed bar is the freshest data there is: ages up to one bar are normal, older still stops trading.
  const portfolio: Portfolio =
    w.barMs !== undefined && portfolio0.risk.maxDataAgeMs < w.barMs ? { ...portfolio0, risk: { ...portfolio0.risk, maxDataAgeMs: w.barMs } } : portfolio0;
  if (portfolio !== portfolio0) logger.info({ maxDataAgeMs: w.barMs }, 'replay: data may be one bar old (risk.maxDataAgeMs raised to the bar length)');

  let journal: Journal;
  let service: Service;
  let source!: SnapshotSource;
  try {
    if (!isPostgresUrl(db)) mkdirSync(dirname(db), { recursive: true });
    // A replay trades a simulated venue: its SQLite journal is crash-safe (WAL) but not synced on every commit.
    journal = openJournal(db, { clock: w.time.clock, ...(w.mode === 'replay' ? { durability: 'normal' as const } : {}) });
  } catch (e) {
    await closeAll();
    throw e;
  }
  try {
    const guarded = Object.fromEntries(Object.entries(w.venues).map(([n, v]) => [n, guard(v, { clock: w.time.clock, sleep: w.time.sleep })]));
    source = w.source(guarded);
    service = new Service(
      { portfolio, intervalMs: o.intervalMs ?? 60_000, execution: executorConfigFromOrders(cfg.orders), actor: 'service' },
      { journal, venues: guarded, source, clock: w.time.clock, sleep: w.time.sleep, log: logger, ...(crash ? { crash } : {}) },
    );
    const report = await service.start({ loop: false });
    logger.info({ mode: w.mode, journal: db, accounts: service.accounts, reconciled: report?.ok ?? null, trading: journal.tradingState() }, 'service started');
  } catch (e) {
    try {
      journal.close();
    } catch {
      // closing a failed journal
    }
    await closeAll();
    throw e;
  }

  const notifier = new Notifier(cfg.notify, { logger });
  const progress = o.progress ?? process.stdout.isTTY === true;
  let stopRequested: string | null = null;
  let driver: ReplayDriver | null = null;
  let wakeLive: (() => void) | null = null;
  let releaseHold: (() => void) | null = null;
  let resolveDone!: (r: RunResult) => void;
  let rejectDone!: (e: unknown) => void;
  const done = new Promise<RunResult>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  // A run that ends by itself must not leave an unhandled rejection behind when nobody awaits `done`.
  done.catch(() => {});

  const handle: RunHandle = {
    service,
    journal,
    portfolio,
    mode: w.mode,
    logger,
    clock: w.time.clock,
    source,
    cycleNow: () => wakeLive?.(),
    stop: async (reason = 'stop requested') => {
      if (stopRequested === null) {
        stopRequested = reason;
        logger.info({ reason }, 'stopping after the cycle in progress');
        driver?.stop();
        wakeLive?.();
        releaseHold?.();
      }
      return done;
    },
    done,
  };

  let hookCleanup: void | Cleanup;
  try {
    hookCleanup = await o.onStarted?.(handle);
  } catch (e) {
    await service.stop();
    journal.close();
    await closeAll();
    throw e;
  }

  const main = async (): Promise<RunResult> => {
    let prevState = journal.tradingState().state as string;
    const onReport = (r: CycleReport, bar?: { index: number; total: number }): void => {
      if (progress) out(cycleLine(r, bar));
      notifyCycle(notifier, r, prevState);
      prevState = r.state;
    };
    let outcome: ReplayOutcome | undefined;
    let reason: string;
    let failed = false;
    const mismatches: string[] = [];
    try {
      if (w.closes) {
        driver = new ReplayDriver({
          service,
          journal,
          time: w.time,
          closes: w.closes,
          ...(o.from !== undefined ? { from: o.from + (w.barMs ?? 0) } : {}),
          ...(o.until !== undefined ? { until: o.until } : {}),
          speed: w.time.kind === 'stepped' ? (o.speed ?? DEFAULT_SPEED) : 0,
          log: logger,
          onCycle: (c) => onReport(c.report, { index: c.index, total: c.total }),
        });
        if (stopRequested !== null) driver.stop();
        outcome = await driver.run();
        failed = outcome.reason === 'halted';
        reason = outcome.reason === 'end' ? 'replay finished' : outcome.reason === 'halted' ? 'halted: the journal failed' : `stopped: ${stopRequested ?? 'stop requested'}`;
        if (outcome.finished && !failed) {
          // Final check: the journal must equal the venue.
          const rec = await service.reconciler.reconcile('periodic');
          mismatches.push(...rec.mismatches);
          if (!rec.ok) {
            failed = true;
            logger.error({ mismatches: rec.mismatches }, 'final reconciliation: the journal does not match the venue');
          }
        }
        if (o.keepServing === true && stopRequested === null) {
          // The replay is over; the dashboard and API stay up (read-only history, kill switch) until stopped.
          for (const l of summaryLines(summarizeJournal(journal), portfolio.quote)) out(l);
          out('replay finished; serving the dashboard until stopped (Ctrl-C)');
          await new Promise<void>((r2) => {
            releaseHold = r2;
          });
          releaseHold = null;
        }
      } else {
        while (stopRequested === null) {
          const r = await service.runOnce();
          onReport(r);
          if (r.status === 'halted' && r.reason.startsWith('journal failure')) {
            failed = true;
            break;
          }
          if (stopRequested !== null) break;
          // Wait for the next cycle; stop() cuts the wait short (and clears the timer, so the process can exit).
          await new Promise<void>((r2) => {
            const t = setTimeout(r2, o.intervalMs ?? 60_000);
            wakeLive = () => {
              clearTimeout(t);
              r2();
            };
          });
          wakeLive = null;
        }
        reason = failed ? 'halted: the journal failed' : `stopped: ${stopRequested ?? 'stop requested'}`;
      }
    } catch (e) {
      logger.error({ err: e }, 'run failed');
      reason = `failed: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`;
      failed = true;
    }
    await service.stop();
    await notifier.flush();
    let summary: RunSummary;
    try {
      summary = summarizeJournal(journal);
    } finally {
      if (typeof hookCleanup === 'function') {
        try {
          await hookCleanup();
        } catch (e) {
          logger.warn({ err: e }, 'onStarted cleanup failed');
        }
      }
      try {
        journal.close();
      } catch {
        // already closed or broken
      }
      await closeAll();
    }
    const finished = outcome?.finished === true;
    logger.info({ reason, finished, cycles: outcome?.cycles ?? null }, 'run ended');
    return { code: failed ? 1 : 0, finished, reason, summary, ...(outcome ? { replay: outcome } : {}), mismatches };
  };
  main().then(resolveDone, rejectDone);
  return handle;
}

/** The closing text of a run. */
export function resultLines(r: RunResult, quote: string): string[] {
  const head = r.replay
    ? `ballast run: ${r.reason} — ${r.replay.cycles} bar(s) this run${r.replay.skipped ? `, ${r.replay.skipped} skipped` : ''}, last bar ${r.replay.lastBar === null ? '—' : new Date(r.replay.lastBar).toISOString()}`
    : `ballast run: ${r.reason}`;
  const lines = [head, ...summaryLines(r.summary, quote)];
  if (r.replay?.finished) lines.push(r.mismatches.length === 0 ? '  check       journal = venue (final reconciliation)' : `  check       MISMATCH: ${r.mismatches.join('; ')}`);
  return lines;
}
