/**
 * A1 — the dashboard's API on a year of minute cycles (issue 16, section 5). `npm run bench -- A1`
 *
 * 1. A synthetic journal of 500,000 one-minute cycles (`--cycles N`), written through the real journal API
 *    in the order the service writes a cycle: a periodic `reconcile` event (every 5 cycles, as with
 *    reconcileEveryMs 300 s), the `snapshot` event and its history point (one transaction), the `decision`
 *    event. Prices are seeded random walks (BTC, ETH, SOL, ADA, DOT: 3 % a day); the plan is the core
 *    planner's on the demo portfolio (examples/service/portfolio.yaml, in threshold mode, spot), so its
 *    payload is the real one. A plan that trades writes what the executor and the tracker write: the
 *    rebalance, an `execution` start event, per leg an intent (NEW → SUBMITTING → OPEN → FILLED) with its
 *    `order` events, the fill and its `fill` event, the `execution` done event, the rebalance's summary, and
 *    the snapshot after the fills with its history point. Cycles are batched 5,000 to a transaction. The
 *    file is cached under the temp dir, keyed by this benchmark's version, the schema version and the
 *    cycle count: later runs reuse it (`--rebuild` to build again). The build time is printed.
 * 2. The real HTTP API (`startApi`, the fastify app `ballast run` serves) over that journal, in a child
 *    process, on 127.0.0.1.
 * 3. 32 concurrent loopback clients (`--clients N`; node:http with keep-alive), each endpoint for `--seconds`
 *    (default 5) after a 1-second warm-up: throughput, p50, p99, the answer's size, and p99 ÷ /api/status's
 *    p99 (the baseline, measured in the same run); then one client alone for 2 s (the time one request
 *    takes, without waiting behind 31 others). `/api/history` and `/api/journal` are each measured as the
 *    dashboard asks (the answer is cached until the journal changes) and with a new `since` on every
 *    request (a cache miss each time: read from the history table or the events index, as after every cycle).
 * 4. The journal's size per cycle, and the history table's share (SQLite's dbstat).
 * 5. With `--backfill`: the back-fill of a copy of the journal with its history table emptied (a journal
 *    written before the table), timed.
 *
 * Goals: /api/history p99 ≤ 100 ms, /api/journal p99 ≤ 20 ms.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { loadPortfolio } from '../src/adapters/files/portfolio.js';
import { SqliteJournal } from '../src/adapters/journal/sqlite.js';
import { MIGRATIONS } from '../src/adapters/journal/schema.js';
import { SimExchange } from '../src/adapters/sim/exchange.js';
import { ArrayFeed } from '../src/adapters/sim/feed.js';
import { plan as makePlan } from '../src/core/planner.js';
import type { Plan, Portfolio, Snapshot } from '../src/core/types.js';
import { checkPlan } from '../src/execution/pretrade.js';
import { ManualClock, systemClock } from '../src/ports/clock.js';
import type { OrderIntent } from '../src/ports/journal.js';
import { ensureHistory, historyPoint } from '../src/service/history.js';
import { Service, summarize } from '../src/service/service.js';

/** Bump when what a cycle writes changes: the cached journal is rebuilt. */
const A1_VERSION = 2;
const MIN = 60_000;
const T0 = Date.UTC(2025, 0, 6);
const ACCOUNT = 'paper';
const ASSETS = ['BTC', 'ETH', 'SOL', 'ADA', 'DOT'] as const;
const START_PRICES: Record<string, number> = { BTC: 60_000, ETH: 3_000, SOL: 150, ADA: 0.5, DOT: 7 };

function opt(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}

function demoPortfolio(root: string): Portfolio {
  const p = loadPortfolio(join(root, 'examples', 'service', 'portfolio.yaml'));
  return { ...p, rebalance: { ...p.rebalance, mode: 'threshold' }, execution: { ...p.execution, instrument: 'spot' } };
}

/** Seeded normal deviates (mulberry32 + Box-Muller). */
function normals(seed: number): () => number {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return () => Math.sqrt(-2 * Math.log(u() + 1e-300)) * Math.cos(2 * Math.PI * u());
}

/** Write `cycles` cycles as the service does; returns the counts written. */
export function buildJournal(
  file: string,
  portfolio: Portfolio,
  cycles: number,
): { rebalances: number; fills: number; events: number } {
  const clock = new ManualClock(T0);
  const j = new SqliteJournal(file, { clock, durability: 'normal', quickCheck: false });
  const z = normals(16);
  const sigma = 0.03 / Math.sqrt(1_440);
  const prices: Record<string, number> = { ...START_PRICES, USDT: 1 };
  // Start at the targets with 100,000 USDT of equity.
  const balances: Record<string, number> = {
    USDT: 15_000,
    BTC: 40_000 / prices.BTC!,
    ETH: 30_000 / prices.ETH!,
    SOL: 5_000 / prices.SOL!,
    ADA: 5_000 / prices.ADA!,
    DOT: 5_000 / prices.DOT!,
  };
  let rebalances = 0;
  let fills = 0;
  let events = 0;
  let trade = 0;
  const snapshotAt = (time: number): Snapshot => ({
    time,
    prices: { ...prices },
    marks: {},
    funding: {},
    markets: {},
    accounts: [{ name: ACCOUNT, balances: { ...balances }, positions: [] }],
    timestamps: Object.fromEntries(ASSETS.map((a) => [a, time])),
  });
  const ev = (type: Parameters<typeof j.appendEvent>[0]['type'], payload: unknown, account: string | null = null) => {
    events++;
    return j.appendEvent({ time: clock.now(), type, account, payload });
  };
  j.setBook(ACCOUNT, balances, T0);
  const BATCH = 5_000;
  for (let start = 0; start < cycles; start += BATCH) {
    j.transaction(() => {
      for (let c = start; c < Math.min(cycles, start + BATCH); c++) {
        const now = T0 + c * MIN;
        clock.set(now);
        for (const a of ASSETS) prices[a] = prices[a]! * Math.exp(sigma * z());
        if (c % 5 === 0) {
          ev('reconcile', {
            phase: c === 0 ? 'start' : 'periodic',
            time: now,
            ok: true,
            accounts: [
              {
                account: ACCOUNT,
                baseline: false,
                resolved: [],
                adopted: [],
                canceled: [],
                externalFills: [],
                fillsRecorded: 0,
                fundingRecorded: 0,
                mismatches: [],
                notes: [],
              },
            ],
            mismatches: [],
            state: 'ACTIVE',
          });
        }
        const snap = snapshotAt(now);
        let p: Plan = makePlan(portfolio, snap, { now, state: 'ACTIVE' });
        const sid = ev('snapshot', summarize(snap, { tpv: p.valuation.tpv }));
        j.recordHistory(historyPoint(now, now, sid, p.valuation));
        if (p.status === 'ok') p = { ...p, pretrade: checkPlan(portfolio, snap, p, { previousFills: [] }) };
        const decision = ev('decision', {
          status: p.status,
          trigger: p.trigger,
          explanation: p.explanation,
          actions: p.actions,
          rejected: p.rejected,
          risk: p.risk,
          tpv: p.valuation.tpv,
          state: 'ACTIVE',
          ...(p.pretrade ? { pretrade: p.pretrade } : {}),
        });
        if (p.status !== 'ok' || (p.pretrade && !p.pretrade.ok)) continue;

        // The executor and the tracker: a rebalance, each leg's intent through its states, its fill.
        const rb = j.createRebalance({ time: now, trigger: p.trigger, decisionEvent: decision });
        rebalances++;
        const legs = p.actions.filter((a) => a.type === 'spot' && a.amount > 0 && a.symbol && a.side);
        ev(
          'execution',
          {
            start: true,
            rebalanceId: rb,
            legs: legs.map((a, leg) => ({
              leg,
              class: a.class,
              symbol: a.symbol,
              side: a.side,
              amount: a.amount,
              notional: a.notional,
            })),
          },
          ACCOUNT,
        );
        const done: { clientOrderId: string; filled: number; avgPrice: number }[] = [];
        for (const [leg, a] of legs.entries()) {
          const cid = `bl${String(rb).padStart(8, '0')}${String(leg).padStart(4, '0')}0000`;
          const intent: OrderIntent = {
            clientOrderId: cid,
            rebalanceId: rb,
            leg,
            slice: 0,
            attempt: 0,
            account: ACCOUNT,
            symbol: a.symbol!,
            side: a.side!,
            type: 'market',
            amount: a.amount,
            price: null,
            reduceOnly: false,
            state: 'NEW',
            filled: 0,
            avgPrice: null,
            venueOrderId: null,
            notFoundStrikes: 0,
            purpose: a.reason,
            reason: null,
            createdAt: now,
            updatedAt: now,
          };
          j.insertIntent(intent);
          ev('order', { clientOrderId: cid, from: null, to: 'NEW', intent }, ACCOUNT);
          const venueOrderId = String(++trade);
          for (const [from, to] of [
            ['NEW', 'SUBMITTING'],
            ['SUBMITTING', 'OPEN'],
          ] as const) {
            j.updateIntent({ ...intent, state: to, venueOrderId: to === 'OPEN' ? venueOrderId : null });
            ev('order', { clientOrderId: cid, from, to, ...(to === 'OPEN' ? { venueOrderId } : {}) }, ACCOUNT);
          }
          const base = a.symbol!.split('/')[0]!;
          const price = prices[base]!;
          const cost = a.amount * price;
          const fee = cost * 0.001;
          const f = {
            account: ACCOUNT,
            tradeId: `t${trade}`,
            venueOrderId,
            clientOrderId: cid,
            symbol: a.symbol!,
            side: a.side!,
            amount: a.amount,
            price,
            cost,
            fee,
            feeCurrency: 'USDT',
            time: now,
            liquidation: false,
            external: false,
          };
          j.insertFill(f);
          fills++;
          j.updateIntent({ ...intent, state: 'FILLED', venueOrderId, filled: a.amount, avgPrice: price });
          ev(
            'order',
            { clientOrderId: cid, from: 'OPEN', to: 'FILLED', filled: a.amount, venueOrderId, reason: 'fill' },
            ACCOUNT,
          );
          ev('fill', f, ACCOUNT);
          const sign = a.side === 'buy' ? 1 : -1;
          balances[base] = balances[base]! + sign * a.amount;
          balances.USDT = balances.USDT! - sign * cost - fee;
          j.adjustBook(ACCOUNT, base, sign * a.amount, now);
          j.adjustBook(ACCOUNT, 'USDT', -sign * cost - fee, now);
          done.push({ clientOrderId: cid, filled: a.amount, avgPrice: price });
        }
        ev('execution', { done: true, rebalanceId: rb, status: 'done' }, ACCOUNT);
        j.finishRebalance(rb, 'done', now, { status: 'done', legs: done, reasons: [] });
        const after = snapshotAt(now);
        const v = makePlan(portfolio, after, { now, state: 'ACTIVE' }).valuation;
        const aid = ev('snapshot', summarize(after, { after: rb, tpv: v.tpv }));
        j.recordHistory(historyPoint(now, now, aid, v));
      }
    });
  }
  j.close();
  return { rebalances, fills, events };
}

/** The API over `file`, as `ballast run` serves it (no cycles: the journal is the whole state). Prints its URL and token. */
export async function serve(root: string, file: string): Promise<void> {
  const portfolio = demoPortfolio(root);
  const journal = new SqliteJournal(file, { clock: systemClock });
  const venue = new SimExchange(
    { quote: 'USDT', markets: [], balances: {} },
    { feed: new ArrayFeed(), clock: systemClock },
  );
  const service = new Service(
    { portfolio, intervalMs: MIN },
    {
      journal,
      venues: { [ACCOUNT]: venue },
      source: { take: () => Promise.reject(new Error('A1 serves the journal only')), close: async () => {} },
      clock: systemClock,
    },
  );
  const dir = mkdtempSync(join(tmpdir(), 'ballast-a1-'));
  const tokenFile = join(dir, 'token');
  const { startApi } = await import('../src/apps/api/server.js');
  const api = await startApi({
    service,
    journal,
    portfolio,
    mode: 'paper',
    port: 0,
    tokenFile,
    clock: systemClock,
    dashboard: false,
  });
  process.stdout.write(`A1-READY ${api.url} ${readFileSync(tokenFile, 'utf8').trim()}\n`);
  process.on('SIGTERM', () => {
    void api.close().then(() => {
      journal.close();
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
  });
}

interface Measured {
  name: string;
  requests: number;
  seconds: number;
  p50: number;
  p99: number;
  bytes: number;
  gzip: boolean;
  errors: number;
}

/** `clients` loops, each sending its next request when the last answer is read; latencies of the measured window. */
async function load(
  base: string,
  token: string,
  name: string,
  path: (k: number) => string,
  clients: number,
  seconds: number,
): Promise<Measured> {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const url = new URL(base);
  const one = (p: string) =>
    new Promise<{ ms: number; bytes: number; status: number; gzip: boolean }>((resolve, reject) => {
      const t = performance.now();
      const req = request(
        // As a browser asks: it accepts gzip (the bytes read are the bytes sent; inflating them is the browser's time).
        { host: url.hostname, port: url.port, path: p, agent, headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip, deflate, br' } },
        (res) => {
          let bytes = 0;
          res.on('data', (d: Buffer) => (bytes += d.length));
          res.on('end', () => resolve({ ms: performance.now() - t, bytes, status: res.statusCode ?? 0, gzip: res.headers['content-encoding'] === 'gzip' }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  let k = 0;
  const run = async (until: number, into: number[] | null, stats: { bytes: number; errors: number; gzip: boolean }) => {
    while (performance.now() < until) {
      const r = await one(path(k++));
      if (r.status !== 200) stats.errors++;
      if (into) {
        into.push(r.ms);
        stats.bytes = r.bytes;
        stats.gzip = r.gzip;
      }
    }
  };
  const warm = { bytes: 0, errors: 0, gzip: false };
  const w = performance.now() + 1_000;
  await Promise.all(Array.from({ length: clients }, () => run(w, null, warm)));
  const lat: number[] = [];
  const stats = { bytes: 0, errors: 0, gzip: false };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, () => run(t0 + seconds * 1_000, lat, stats)));
  const took = (performance.now() - t0) / 1_000;
  agent.destroy();
  lat.sort((a, b) => a - b);
  const q = (f: number) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))]!;
  return {
    name,
    requests: lat.length,
    seconds: took,
    p50: q(0.5),
    p99: q(0.99),
    bytes: stats.bytes,
    gzip: stats.gzip,
    errors: stats.errors + warm.errors,
  };
}

export async function a1(root: string, script: string, args: string[]): Promise<void> {
  const cycles = opt(args, '--cycles', 500_000);
  const clients = opt(args, '--clients', 32);
  const seconds = opt(args, '--seconds', 5);
  const cacheDir = join(tmpdir(), 'ballast-bench-cache');
  mkdirSync(cacheDir, { recursive: true });
  const file = join(cacheDir, `a1-v${A1_VERSION}-schema${MIGRATIONS.length}-${cycles}.db`);
  const portfolio = demoPortfolio(root);
  const load0 = loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
  if (args.includes('--rebuild')) rmSync(file, { force: true });
  if (existsSync(file)) {
    console.log(`A1 journal: ${file} (cached; --rebuild to build again)`);
  } else {
    const tmp = `${file}.building-${process.pid}`;
    const t = performance.now();
    const n = buildJournal(tmp, portfolio, cycles);
    renameSync(tmp, file);
    console.log(
      `A1 journal built in ${((performance.now() - t) / 1_000).toFixed(1)} s: ${cycles.toLocaleString('en-US')} one-minute cycles, ${n.events.toLocaleString('en-US')} events, ` +
        `${n.rebalances} rebalances, ${n.fills} fills (load average at start ${load0})`,
    );
  }

  // Size: the file, per cycle; the history table's share (pages of the table and its key).
  const size = statSync(file).size;
  const db = new Database(file, { readonly: true });
  const pages = (name: string) =>
    (db.prepare('SELECT COALESCE(SUM(pgsize), 0) AS b FROM dbstat WHERE name = ?').get(name) as { b: number }).b;
  const historyBytes = pages('history');
  const eventsBytes = pages('events') + pages('events_type_time') + pages('events_type_id');
  const rows = (db.prepare('SELECT COUNT(*) AS n FROM history').get() as { n: number }).n;
  const level0 = (db.prepare('SELECT COUNT(*) AS n FROM history WHERE level = 0').get() as { n: number }).n;
  const deepBefore = (db.prepare('SELECT id FROM events ORDER BY id LIMIT 1 OFFSET 5000').get() as { id: number }).id;
  const oldest = (db.prepare('SELECT MIN(bucket) AS t FROM history WHERE level = 0').get() as { t: number }).t;
  db.close();

  const child = spawn(process.execPath, [...process.execArgv, script, 'A1', '--a1-serve', file, '--child'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await new Promise<{ url: string; token: string }>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /A1-READY (\S+) (\S+)/.exec(out);
      if (m) resolve({ url: m[1]!, token: m[2]! });
    });
    child.on('exit', (code) => reject(new Error(`A1 server exited (${code}) before it was ready`)));
  });
  const results: (Measured & { single: Measured })[] = [];
  try {
    const ep: [string, (k: number) => string][] = [
      ['/api/status (baseline)', () => '/api/status'],
      ['/api/history?maxPoints=1500 (as the dashboard asks: cached until the journal changes)', () => '/api/history?maxPoints=1500'],
      [
        '/api/history?maxPoints=1500 (a new since each request: read from the table)',
        (k) => `/api/history?maxPoints=1500&since=${oldest + (k % 100_000)}`,
      ],
      [
        '/api/journal?limit=150 (as the dashboard asks: the newest page, cached until the journal changes)',
        () => '/api/journal?limit=150',
      ],
      [
        '/api/journal?limit=150 (a new since each request: read from the journal)',
        (k) => `/api/journal?limit=150&since=${k}`,
      ],
      [
        `/api/journal?limit=150&before=${deepBefore} (a deep page)`,
        () => `/api/journal?limit=150&before=${deepBefore}`,
      ],
      [
        `/api/journal?limit=150&before=${deepBefore} (a deep page, a new since each request)`,
        (k) => `/api/journal?limit=150&before=${deepBefore}&since=${k}`,
      ],
    ];
    for (const [name, path] of ep) {
      const many = await load(ready.url, ready.token, name, path, clients, seconds);
      const one = await load(ready.url, ready.token, name, (k) => path(k + 1_000_000), 1, Math.min(2, seconds));
      results.push({ ...many, single: one });
    }
  } finally {
    child.kill('SIGTERM');
  }

  const base = results[0]!;
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  console.log(
    `A1 API over a journal of ${cycles.toLocaleString('en-US')} cycles, ${clients} concurrent loopback clients, ${seconds} s per endpoint after a 1 s warm-up (load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(', ')})`,
  );
  for (const r of results) {
    console.log(
      `  ${r.name}\n      ${clients} clients: ${(r.requests / r.seconds).toFixed(0)} req/s, p50 ${ms(r.p50)}, p99 ${ms(r.p99)}, p99 ÷ status p99 ${(r.p99 / base.p99).toFixed(2)}; ` +
        `1 client: p50 ${ms(r.single.p50)}, p99 ${ms(r.single.p99)} (÷ status ${(r.single.p50 / base.single.p50).toFixed(1)}); answer ${(r.bytes / 1024).toFixed(1)} KiB${r.gzip ? ' gzipped' : ''} (to the lone client ${(r.single.bytes / 1024).toFixed(1)} KiB${r.single.gzip ? ' gzipped' : ''})${r.errors + r.single.errors ? `, ${r.errors + r.single.errors} non-200 answers` : ''}`,
    );
  }
  const worst = (re: RegExp, miss: boolean) => Math.max(...results.filter((r) => re.test(r.name) && /a new since/.test(r.name) === miss).map((r) => r.p99));
  const verdict = (x: number, goal: number) => `${ms(x)} (${x <= goal ? 'met' : 'NOT met'})`;
  console.log(
    `  goals, ${clients} clients: /api/history p99 ≤ 100 ms: as the dashboard asks ${verdict(worst(/^\/api\/history/, false), 100)}, on a cache miss every request ${verdict(worst(/^\/api\/history/, true), 100)}; ` +
      `/api/journal p99 ≤ 20 ms: as the dashboard asks (first or deep page) ${verdict(worst(/^\/api\/journal/, false), 20)}, on a cache miss every request ${verdict(worst(/^\/api\/journal/, true), 20)}; ` +
      `/api/status p99 ${ms(base.p99)}`,
  );
  console.log(
    `  journal file ${(size / 2 ** 20).toFixed(1)} MiB = ${(size / cycles).toFixed(0)} bytes per cycle; events with their indexes ${(eventsBytes / cycles).toFixed(0)} B/cycle; ` +
      `history table ${(historyBytes / cycles).toFixed(0)} B/cycle (${((100 * historyBytes) / size).toFixed(1)} % of the file; ${rows.toLocaleString('en-US')} rows, ${level0.toLocaleString('en-US')} at level 0)`,
  );

  if (args.includes('--backfill')) {
    // A journal written before the history table: a copy with the table emptied and the migration's mark, back-filled as a service start does.
    const copy = `${file}.backfill-${process.pid}`;
    copyFileSync(file, copy);
    try {
      const raw = new Database(copy);
      raw.exec("DELETE FROM history; INSERT OR REPLACE INTO meta (key, value) VALUES ('history.backfill', 'pending')");
      raw.close();
      const j = new SqliteJournal(copy, { clock: systemClock, quickCheck: false });
      const t = performance.now();
      const snapshots = ensureHistory(j, portfolio);
      const took = (performance.now() - t) / 1_000;
      const same = j.historyCount({ level: 0, limit: 10_000_000 }) === level0;
      j.close();
      console.log(
        `  back-fill of the same journal with its history table emptied: ${snapshots.toLocaleString('en-US')} snapshots valued in ${took.toFixed(1)} s ` +
          `(${((1e6 * took) / snapshots).toFixed(0)} µs each), ${same ? 'the same' : 'NOT the same'} number of level-0 rows (load average ${loadavg().map((x) => x.toFixed(2)).join(', ')})`,
      );
    } finally {
      rmSync(copy, { force: true });
      rmSync(`${copy}-wal`, { force: true });
      rmSync(`${copy}-shm`, { force: true });
    }
  }
}
