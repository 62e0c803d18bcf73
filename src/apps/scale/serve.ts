/**
 * `ballast serve --db postgres://… --redis redis://…`: the shared feed, the monitor and the scheduler.
 * It sends no order and holds no account lock; workers (`ballast worker`) run the cycles it queues.
 *
 * Scheduler — a cycle is queued for a portfolio (one job id per portfolio and cycle, ./queue.ts):
 *   start      once per portfolio when serve starts
 *   calendar   every `checkEveryMs` for every portfolio (the cycle's own schedule decides whether it is due:
 *              threshold / calendar / hybrid, as in `ballast run`)
 *   monitor    when a feed tick leaves one of its classes outside its band (at most once per `cooldownMs`)
 *   manual     `ballast portfolios rebalance NAME` queues it directly, serve need not run
 *
 * Shared feed: one fetchTickers per venue per `feedEveryMs`, whatever the number of portfolios on it.
 * Monitor: built from every portfolio's last journaled snapshot at start, rebuilt after cycles complete
 * (their fills changed the holdings), ticked by the feed (src/core/monitor.ts).
 */
import { QueueEvents } from 'bullmq';
import { buildMonitor, breachedByLastTick, tick, type Monitor, type MonitorPortfolio } from '../../core/monitor.js';
import { SyncPg } from '../../adapters/journal/pg-sync.js';
import { parseStored, PortfolioStore } from '../../adapters/scale/portfolios.js';
import { RemoteExchange } from '../../adapters/venue/client.js';
import { marketUrl } from '../../adapters/venue/accounts.js';
import type { ServiceLog } from '../../service/service.js';
import { portfolioRows, startPortfoliosApi, type PortfolioRow, type PortfoliosApi } from './api.js';
import { PortfolioViews } from './views.js';
import { applyFills, holdingsFromSnapshot, type FillDelta } from './holdings.js';
import { CycleQueue, QUEUE, redisConnection, type Trigger } from './queue.js';

export interface ServeOptions {
  db: string;
  redis: string;
  checkEveryMs?: number;
  feedEveryMs?: number;
  cooldownMs?: number;
  log?: ServiceLog;
  now?: () => number;
  /**
   * Serve `GET /api/portfolios` and the dashboard (the portfolio list at `/`, each portfolio's dashboard at
   * `/p/NAME/`) on 127.0.0.1:port (0 = any free port) with the token in `tokenFile`. `dashboard: false`: the API only.
   */
  api?: { port: number; tokenFile: string; dashboard?: boolean };
}

export interface ServeHandle {
  queue: CycleQueue;
  /** The `/api/portfolios` server, when asked for. */
  api: PortfoliosApi | null;
  /** What `/api/portfolios` returns. */
  rows(): PortfolioRow[];
  monitor(): Monitor | null;
  /** Queue a cycle now (what the timers and the feed call). */
  enqueue(name: string, trigger: Trigger, at?: number): Promise<string>;
  /** One feed pass: read every venue's tickers, tick the monitor, queue cycles for new breaches. Returns the queued portfolios. */
  feedOnce(): Promise<string[]>;
  rebuildMonitor(): void;
  close(): Promise<void>;
}

export async function startServe(o: ServeOptions): Promise<ServeHandle> {
  const now = o.now ?? (() => Date.now());
  const checkEveryMs = o.checkEveryMs ?? 3_600_000;
  const feedEveryMs = o.feedEveryMs ?? 5_000;
  const cooldownMs = o.cooldownMs ?? 60_000;
  const conn = new SyncPg(o.db);
  const store = new PortfolioStore(o.db, conn);
  const queue = new CycleQueue(o.redis);
  const events = new QueueEvents(QUEUE, { connection: redisConnection(o.redis) });
  const startedAt = now();
  let monitor: Monitor | null = null;
  const lastQueued = new Map<string, number>();
  /** Monitor cycles queued and not finished yet, by portfolio (forgotten after a calendar period, should an event be lost). */
  const monitorJobs = new Map<string, { id: string; at: number }>();
  const remotes = new Map<string, RemoteExchange>();
  /** The latest price the feed saw per monitor key (asset, or perp symbol). */
  const feedPrices = new Map<string, number>();
  /** Parsed portfolio files by name, kept while their source is unchanged (rebuilds parse only what changed). */
  const parsedCache = new Map<string, { source: string; portfolio: ReturnType<typeof parseStored> }>();

  /** `at`: when the trigger fired (default now); a feed tick passes its own time to every cycle it queues. */
  const enqueue = (name: string, trigger: Trigger, at?: number): Promise<string> => {
    const t = at ?? now();
    const slot = trigger === 'start' ? startedAt : trigger === 'calendar' ? Math.floor(t / checkEveryMs) : trigger === 'monitor' ? Math.floor(t / feedEveryMs) : t;
    return queue.enqueue(name, trigger, slot, t);
  };

  const rebuildMonitor = () => {
    const rows = conn.query<{ portfolio: string; payload: string; time: number }>(
      `SELECT DISTINCT ON (e.portfolio) e.portfolio, e.payload, e.time FROM events e JOIN portfolios p ON p.name = e.portfolio
        WHERE e.type = 'snapshot' ORDER BY e.portfolio, e.id DESC`,
    ).rows;
    // the fills each portfolio journaled after its last snapshot (fill events after the snapshot event; one query for all)
    const fills = new Map<string, FillDelta[]>();
    for (const f of conn.query<{ portfolio: string; payload: string }>(
      `SELECT f.portfolio, f.payload FROM events f
         JOIN (SELECT DISTINCT ON (portfolio) portfolio, id FROM events WHERE type = 'snapshot' ORDER BY portfolio, id DESC) s ON s.portfolio = f.portfolio
        WHERE f.type = 'fill' AND f.id > s.id ORDER BY f.portfolio, f.id`,
    ).rows) {
      const list = fills.get(f.portfolio) ?? [];
      list.push(JSON.parse(f.payload) as FillDelta);
      fills.set(f.portfolio, list);
    }
    const inputs: MonitorPortfolio[] = [];
    const prices: Record<string, number> = {};
    const stored = new Map(store.all().map((p) => [p.name, p]));
    for (const r of rows) {
      const sp = stored.get(r.portfolio);
      if (!sp) continue;
      let parsed = parsedCache.get(r.portfolio);
      if (parsed?.source !== sp.source) {
        parsed = { source: sp.source, portfolio: parseStored(sp) };
        parsedCache.set(r.portfolio, parsed);
      }
      const h = holdingsFromSnapshot(r.portfolio, parsed.portfolio, applyFills(JSON.parse(r.payload), fills.get(r.portfolio) ?? []));
      for (const n of h.notes) o.log?.warn({ portfolio: r.portfolio }, n);
      inputs.push(h.input);
      Object.assign(prices, h.prices);
    }
    // The feed's latest prices win over the snapshots' (a snapshot is as old as its portfolio's last cycle):
    // holdings as of the last cycle, valued now.
    for (const [k, px] of feedPrices) if (k in prices) prices[k] = px;
    monitor = buildMonitor(inputs, prices);
  };

  const venues = (): string[] => {
    const urls = new Set<string>();
    // one feed per market: the accounts of a many-accounts venue (…/a/NAME) share their venue's market
    for (const p of store.all()) for (const b of Object.values(p.bindings)) if (b.venue !== undefined) urls.add(marketUrl(b.venue));
    return [...urls];
  };

  const feedOnce = async (): Promise<string[]> => {
    const m = monitor;
    if (!m) return [];
    const queued: string[] = [];
    for (const url of venues()) {
      let remote = remotes.get(url);
      if (!remote) {
        remote = await RemoteExchange.connect(url);
        remotes.set(url, remote);
      }
      const tickers = await remote.fetchTickers();
      const tickAt = now();
      for (const [symbol, t] of Object.entries(tickers)) {
        const key = symbol.includes(':') ? symbol : symbol.split('/')[0]!;
        const px = symbol.includes(':') ? (t.markPrice ?? t.last) : t.last;
        if (px !== undefined && px !== null && px > 0) feedPrices.set(key, px);
        const a = m.assetIndex.get(key);
        if (a === undefined || px === undefined || px === null || !(px > 0) || m.prices[a] === px) continue;
        tick(m, a, px);
        for (const p of breachedByLastTick(m)) {
          const name = m.ids[p]!;
          const last = lastQueued.get(name) ?? -Infinity;
          if (now() - last < cooldownMs) continue;
          // its previous monitor cycle has not run yet: that cycle will see these prices
          const pending = monitorJobs.get(name);
          if (pending !== undefined && now() - pending.at < checkEveryMs) continue;
          lastQueued.set(name, now());
          monitorJobs.set(name, { id: await enqueue(name, 'monitor', tickAt), at: now() });
          queued.push(name);
        }
      }
    }
    return queued;
  };

  rebuildMonitor();
  for (const name of store.names()) await enqueue(name, 'start');
  const rows = () => portfolioRows(store.list(), monitor);
  const views = o.api ? new PortfolioViews({ url: o.db, connection: conn, store }) : null;
  const api = o.api
    ? await startPortfoliosApi({
        port: o.api.port,
        tokenFile: o.api.tokenFile,
        rows,
        ...(views ? { views } : {}),
        rebalance: (name) => enqueue(name, 'manual'),
        ...(o.api.dashboard !== undefined ? { dashboard: o.api.dashboard } : {}),
        ...(o.log ? { log: o.log } : {}),
      })
    : null;

  let rebuildPending = false;
  const finished = ({ jobId }: { jobId: string }) => {
    const name = jobId.slice(0, jobId.indexOf('.'));
    if (monitorJobs.get(name)?.id === jobId) monitorJobs.delete(name);
  };
  events.on('completed', (e) => {
    rebuildPending = true;
    finished(e);
  });
  events.on('failed', finished);
  const timers = [
    setInterval(() => {
      for (const name of store.names()) void enqueue(name, 'calendar').catch((e: Error) => o.log?.error({ err: e.message }, 'calendar enqueue failed'));
    }, checkEveryMs),
    setInterval(() => {
      if (rebuildPending) {
        rebuildPending = false;
        try {
          rebuildMonitor();
        } catch (e) {
          o.log?.error({ err: (e as Error).message }, 'monitor rebuild failed');
        }
      }
      void feedOnce().catch((e: Error) => o.log?.warn({ err: e.message }, 'feed pass failed'));
    }, feedEveryMs),
  ];
  for (const t of timers) t.unref();

  return {
    queue,
    api,
    rows,
    monitor: () => monitor,
    enqueue,
    feedOnce,
    rebuildMonitor,
    async close() {
      for (const t of timers) clearInterval(t);
      await api?.close();
      views?.close();
      await events.close();
      await queue.close();
      store.close();
      conn.close();
    },
  };
}
