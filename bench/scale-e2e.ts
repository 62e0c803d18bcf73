/**
 * B4 — many portfolios end to end (issue 11): N paper portfolios (default 10,000) replay one day of real
 * hourly prices (the bundled data/prices/1h, default 2024-03-05, a day BTC fell ~9% intraday) through the
 * real processes, on 1 worker process and on 4:
 *
 *   PostgreSQL + Redis    started on loopback by test/scale/engines.ts (fsync=off, no Redis persistence),
 *                         a fresh pair for every run
 *   ballast sim-venue --accounts --replay   ONE venue process for every paper account (each portfolio its
 *                         own account at <venue>/a/NAME, created at its target weights with 10,000 USDT)
 *   ballast serve         shared feed every --feed-every s (one fetchTickers per venue), monitor, scheduler
 *   ballast worker × W    --concurrency C each
 *
 * Phases, per run:
 *   start-up   serve queues a start-up cycle for every portfolio (nothing to trade: each is at target);
 *              figure: cycles per second until all are done
 *   replay     the venue clock moves one hour; serve's feed sees the new prices, the monitor queues a cycle
 *              for every portfolio it finds outside a band; workers trade them. When the queue is empty the
 *              next hour follows (24 hours). Figures: cycles per second (cycles / time with work queued),
 *              and per cycle that sent orders, the time from the tick to the venue's acknowledgement of its
 *              last order — from serve's feed tick (job data `at`) and from the venue's clock move (which
 *              includes serve's poll delay, up to --feed-every) — p50 / p99.
 * Then the 4-worker / 1-worker ratios.
 *
 * Portfolios: 1–3 risky classes drawn from BTC ETH SOL BNB XRP DOGE ADA LINK plus cash, targets and bands
 * (1–5 points) drawn from a seeded generator; threshold mode, market orders, spot.
 *
 * Usage: npm run bench -- B4 [--portfolios N] [--workers 1,4] [--concurrency C] [--hours H] [--day YYYY-MM-DD] [--feed-every S]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Queue, QueueEvents } from 'bullmq';
import { PortfolioStore } from '../src/adapters/scale/portfolios.js';
import { RemoteExchange } from '../src/adapters/venue/client.js';
import { QUEUE, redisConnection } from '../src/apps/scale/queue.js';
import { freePort, startPostgres, startRedis } from '../test/scale/engines.js';
import { seededUniform } from '../src/model/random.js';

const ASSETS = ['BTC', 'ETH', 'SOL', 'BNB', 'XRP', 'DOGE', 'ADA', 'LINK'] as const;
const BANDS = [1, 2, 3, 4, 5];
const CAPITAL = 10_000;

interface Spec {
  name: string;
  yaml: string;
  /** risky asset → target weight (the rest is USDT) */
  targets: Record<string, number>;
}

function specs(n: number): Spec[] {
  const rnd = seededUniform(4);
  const out: Spec[] = [];
  for (let i = 0; i < n; i++) {
    const k = 1 + Math.floor(rnd() * 3);
    const picked: string[] = [];
    while (picked.length < k) {
      const a = ASSETS[Math.floor(rnd() * ASSETS.length)]!;
      if (!picked.includes(a)) picked.push(a);
    }
    const cash = 20 + Math.floor(rnd() * 4) * 10; // 20–50 %
    const each = Math.floor((100 - cash) / k);
    const targets: Record<string, number> = {};
    const lines = picked.map((a) => {
      targets[a] = each / 100;
      return `  - { name: ${a}, target: ${each}%, band: ${BANDS[Math.floor(rnd() * BANDS.length)]}%, assets: [${a}] }`;
    });
    const cashTarget = 100 - each * k;
    const yaml = `quote: USDT
classes:
${lines.join('\n')}
  - { name: Cash, target: ${cashTarget}%, band: ${BANDS[Math.floor(rnd() * BANDS.length)]}%, assets: [USDT], cash: true }
rebalance: { mode: threshold, to: target }
execution: { instrument: spot }
accounts:
  - { name: sim, exchange: paper }
orders: { type: market }
risk: { maxDataAgeSeconds: 7200, maxOrderShare: 60% }
`;
    out.push({ name: `p${String(i).padStart(5, '0')}`, yaml, targets });
  }
  return out;
}

const VENUE_YAML = `quote: USDT
classes:
${ASSETS.map((a) => `  - { name: ${a}, target: 10%, band: 5%, assets: [${a}] }`).join('\n')}
  - { name: Cash, target: 20%, band: 5%, assets: [USDT], cash: true }
`;

function arg(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => loadavg()[0]!.toFixed(2);
const pct = (xs: number[], q: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : 'n/a');

interface RunResult {
  workers: number;
  startupCycles: number;
  startupSeconds: number;
  replayCycles: number;
  replayOrders: number;
  replaySeconds: number;
  fromFeed: number[];
  fromMove: number[];
  failed: number;
}

class Procs {
  readonly all = new Set<ChildProcess>();
  /** A process that ended on its own with an error (the run stops). */
  dead: string | null = null;
  constructor(readonly bin: string) {}
  check(): void {
    if (this.dead !== null) throw new Error(this.dead);
  }
  start(args: string[], label: string): ChildProcess {
    const p = spawn(process.execPath, [this.bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    this.all.add(p);
    const tail: string[] = [];
    p.stderr!.on('data', (c: Buffer) => {
      tail.push(c.toString());
      if (tail.length > 20) tail.shift();
    });
    p.on('exit', (code, signal) => {
      this.all.delete(p);
      if (code !== 0 && signal === null) this.dead = `B4: ${label} exited ${code}: ${tail.join('').slice(-2000)}`;
    });
    return p;
  }
  async stop(): Promise<void> {
    for (const p of this.all) p.kill('SIGTERM');
    const until = Date.now() + 15_000;
    while (this.all.size > 0 && Date.now() < until) await sleep(50);
    for (const p of this.all) p.kill('SIGKILL');
  }
}

async function run(root: string, n: number, workers: number, o: { concurrency: number; hours: number; day: number; feedEvery: number }): Promise<RunResult> {
  const bin = join(root, 'bin', 'ballast.js');
  const procs = new Procs(bin);
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, 'ballast-b4-'));
  const [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
  // an interrupted bench leaves no engine or process behind
  const onSignal = () => {
    void procs.stop().finally(() => Promise.all([redis.stop(), pg.stop()]).finally(() => process.exit(130)));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const queue = new Queue(QUEUE, { connection: redisConnection(redis.url) });
  const events = new QueueEvents(QUEUE, { connection: redisConnection(redis.url) });
  try {
    writeFileSync(join(dir, 'venue.yaml'), VENUE_YAML);
    const from = new Date(o.day).toISOString().slice(0, 10);
    const toDay = new Date(o.day + 2 * 86_400_000).toISOString().slice(0, 10);
    const venueProc = procs.start(
      ['sim-venue', '--accounts', '--config', join(dir, 'venue.yaml'), '--state', join(dir, 'venue'), '--replay', join(root, 'data'), '--interval', '1h', '--from', from, '--to', toDay],
      'sim-venue',
    );
    const url = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: venueProc.stdout! });
      rl.on('line', (l) => {
        const m = /^listening (\S+)/.exec(l);
        if (m) resolve(m[1]!);
      });
      venueProc.once('exit', (c) => reject(new Error(`sim-venue exited ${c} before listening`)));
    });
    const venue = new RemoteExchange({ url });
    // the replay covers the whole day (and the next, for --to); start at the day's first hour close
    const startAt = o.day + 3_600_000;
    await venue.advance({ to: startAt });
    const tickers = await venue.fetchTickers();
    const price = (a: string) => tickers[`${a}/USDT`]!.last!;

    const list = specs(n);
    const t0 = Date.now();
    const store = new PortfolioStore(pg.url);
    try {
      for (const [i, s] of list.entries()) {
        const balances: Record<string, number> = { USDT: CAPITAL };
        for (const [a, w] of Object.entries(s.targets)) {
          const qty = Math.floor(((CAPITAL * w) / price(a)) * 1e6) / 1e6;
          balances[a] = qty;
          balances.USDT! -= qty * price(a);
        }
        const acct = await venue.createAccount(s.name, balances);
        store.add({ name: s.name, source: s.yaml, fileName: `${s.name}.yaml`, bindings: { sim: { venue: acct } }, time: Date.now() });
        if ((i + 1) % 2000 === 0) console.log(`    set-up: ${i + 1} / ${n} accounts and portfolios (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      }
    } finally {
      store.close();
    }

    const completed: { id: string; result: { orders?: number; sentAt?: number; status?: string } }[] = [];
    let failed = 0;
    events.on('completed', ({ jobId, returnvalue }) => {
      const r = (typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as { orders?: number; sentAt?: number };
      completed.push({ id: jobId, result: r ?? {} });
    });
    events.on('failed', () => {
      failed++;
    });
    await events.waitUntilReady();

    for (let w = 0; w < workers; w++) procs.start(['worker', '--db', pg.url, '--redis', redis.url, '--concurrency', String(o.concurrency), '--log-level', 'error'], `worker ${w}`);
    await sleep(2_000);
    const startupFrom = Date.now();
    procs.start(
      ['serve', '--db', pg.url, '--redis', redis.url, '--feed-every', String(o.feedEvery), '--check-every', '86400', '--cooldown', '0.1', '--api-port', String(await freePort()), '--token-file', join(dir, 'token'), '--log-level', 'error'],
      'serve',
    );
    const idle = async () => {
      const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children');
      return Object.values(c).every((x) => x === 0);
    };
    let lastPrint = Date.now();
    while (completed.filter((c) => c.id.includes('.start.')).length < n) {
      await sleep(200);
      if (Date.now() - lastPrint > 10_000) {
        lastPrint = Date.now();
        console.log(`    start-up: ${completed.length} / ${n} cycles (${((Date.now() - startupFrom) / 1000).toFixed(0)} s, load ${load()})`);
      }
      if (failed > 0) throw new Error(`${failed} cycles failed during start-up`);
      procs.check();
    }
    const startupSeconds = (Date.now() - startupFrom) / 1000;
    const startupCycles = completed.length;
    while (!(await idle())) await sleep(100);
    // serve rebuilds its monitor from the start-up snapshots on its next feed pass
    await sleep(2.5 * o.feedEvery * 1000);

    // replay: one hour at a time
    const fromFeed: number[] = [];
    const fromMove: number[] = [];
    let replayCycles = 0;
    let replayOrders = 0;
    let busyMs = 0;
    for (let h = 1; h <= o.hours; h++) {
      const before = completed.length;
      const moveAt = Date.now();
      await venue.advance({ bars: 1 });
      // done when the queue is empty and serve has had two feed passes after the last completion
      let lastChange = Date.now();
      let seen = completed.length;
      for (;;) {
        await sleep(100);
        procs.check();
        if (completed.length !== seen) {
          seen = completed.length;
          lastChange = Date.now();
        }
        if (Date.now() - Math.max(lastChange, moveAt) > 2.5 * o.feedEvery * 1000 && (await idle())) break;
      }
      const mine = completed.slice(before);
      let end = moveAt;
      let orders = 0;
      for (const c of mine) {
        const job = await queue.getJob(c.id);
        if (job?.finishedOn !== undefined) end = Math.max(end, job.finishedOn);
        if (c.result.sentAt !== undefined && job) {
          orders++;
          fromFeed.push(c.result.sentAt - job.data.at);
          fromMove.push(c.result.sentAt - moveAt);
        }
      }
      busyMs += end - moveAt;
      replayCycles += mine.length;
      replayOrders += orders;
      console.log(`    hour ${String(h).padStart(2)}: ${String(mine.length).padStart(5)} cycles, ${String(orders).padStart(5)} with orders, work ${((end - moveAt) / 1000).toFixed(1)} s (load ${load()})`);
    }
    return { workers, startupCycles, startupSeconds, replayCycles, replayOrders, replaySeconds: busyMs / 1000, fromFeed, fromMove, failed };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await procs.stop();
    await events.close();
    await queue.close();
    await redis.stop();
    await pg.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function b4(root: string, args: string[]): Promise<void> {
  const n = Number(arg(args, '--portfolios') ?? 10_000);
  const workerCounts = (arg(args, '--workers') ?? '1,4').split(',').map(Number);
  const concurrency = Number(arg(args, '--concurrency') ?? 4);
  const hours = Number(arg(args, '--hours') ?? 24);
  const day = Date.parse(`${arg(args, '--day') ?? '2024-03-05'}T00:00:00Z`);
  const feedEvery = Number(arg(args, '--feed-every') ?? 1);
  if (!(n >= 1) || workerCounts.some((w) => !(w >= 1)) || !(concurrency >= 1) || !(hours >= 1 && hours <= 24) || !Number.isFinite(day) || !(feedEvery > 0)) {
    throw new Error('B4: --portfolios N ≥ 1, --workers 1,4, --concurrency C ≥ 1, --hours 1–24, --day YYYY-MM-DD, --feed-every S > 0');
  }
  console.log(
    `B4 end to end: ${n.toLocaleString('en')} paper portfolios, one venue process (many accounts), ${hours} hourly ticks of ${new Date(day).toISOString().slice(0, 10)} (data/prices/1h), ` +
      `serve --feed-every ${feedEvery}, workers ${workerCounts.join(' and ')} × --concurrency ${concurrency}; load average ${load()}`,
  );
  const results: RunResult[] = [];
  for (const w of workerCounts) {
    console.log(`  ${w} worker process${w > 1 ? 'es' : ''}:`);
    const r = await run(root, n, w, { concurrency, hours, day, feedEvery });
    results.push(r);
    console.log(
      `  ${w} worker(s): start-up ${r.startupCycles} cycles (from serve's launch) in ${r.startupSeconds.toFixed(1)} s = ${(r.startupCycles / r.startupSeconds).toFixed(1)} cycles/s; ` +
        `replay ${r.replayCycles} cycles (${r.replayOrders} with orders) in ${r.replaySeconds.toFixed(1)} s of work = ${(r.replayCycles / r.replaySeconds).toFixed(1)} cycles/s; ` +
        `tick → last order acknowledged: from serve's feed tick p50 ${ms(pct(r.fromFeed, 0.5))} p99 ${ms(pct(r.fromFeed, 0.99))}, ` +
        `from the venue's price move p50 ${ms(pct(r.fromMove, 0.5))} p99 ${ms(pct(r.fromMove, 0.99))}; ${r.failed} failed (load ${load()})`,
    );
  }
  const one = results.find((r) => r.workers === 1);
  for (const r of results) {
    if (!one || r === one) continue;
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    console.log(
      `  ${r.workers} / 1 workers: start-up cycles/s ×${ratio(r.startupCycles / r.startupSeconds, one.startupCycles / one.startupSeconds)}, ` +
        `replay cycles/s ×${ratio(r.replayCycles / r.replaySeconds, one.replayCycles / one.replaySeconds)}, p99 tick→orders ×${ratio(pct(r.fromFeed, 0.99), pct(one.fromFeed, 0.99))} (load ${load()})`,
    );
  }
}
