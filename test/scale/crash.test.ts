/**
 * Crash test across workers (issue 11): worker processes (the real `ballast worker`, from the CLI bundle)
 * run portfolio cycles from BullMQ against one simulated venue process holding every portfolio's paper account
 * (`sim-venue --accounts`); workers are killed with SIGKILL at random crash
 * points of the executor (BALLAST_CRASH_AT, the points of src/execution/crash.ts: after the intent is saved,
 * after the send, before / after a fill is recorded, at the 1st–3rd hit), and restarted; Redis (with its
 * append-only file, as BullMQ asks for in production) is restarted once mid-run.
 *
 * Each round moves BTC or ETH by ±30% (every portfolio leaves its band) and queues one manual cycle per
 * portfolio (one job id per portfolio and round). Rounds continue until enough workers were killed. Then clean
 * workers run one settling cycle per portfolio, and for every portfolio:
 *
 *   0 duplicate orders   no client order id received twice by its venue; every venue order has its intent
 *   0 lost fills         every venue trade is in the journal
 *   journal = venue      intents, fills, book and fill-derived balances (test/crash/verify.ts); an intent killed
 *                        between its SUBMITTING commit and the request (by a crash of the other cycle in the
 *                        same worker) ends LOST, never resent: counted and printed, not a mismatch
 *   no cycle lost or doubled   every queued job completed exactly once, none failed
 *
 * Scale: BALLAST_SCALE_CRASH_PORTFOLIOS (default 6), BALLAST_SCALE_CRASH_WORKERS (4),
 * BALLAST_SCALE_CRASH_KILLS (minimum kills, default 10). The full size is 200 portfolios and 100 kills.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresJournal } from '../../src/adapters/journal/postgres.js';
import { PortfolioStore } from '../../src/adapters/scale/portfolios.js';
import type { PriceSource } from '../../src/adapters/venue/live-prices.js';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import { startSimVenue, type SimVenueHandle } from '../../src/apps/cli/sim-venue.js';
import { CycleQueue } from '../../src/apps/scale/queue.js';
import { CRASH_POINTS } from '../../src/execution/crash.js';
import { systemClock } from '../../src/ports/clock.js';
import type { Market, Ticker } from '../../src/ports/exchange.js';
import { bundleCli, killStragglers, startCli, type Cli } from '../cli/helpers.js';
import { verifyJournalAgainstVenue, type Verdict } from '../crash/verify.js';
import { startPostgres, startRedis, type LocalPostgres, type LocalRedis } from './engines.js';
import { seededUniform } from '../../src/model/random.js';
import { halfCashYaml } from './portfolio.js';

const N_PORTFOLIOS = Number(process.env.BALLAST_SCALE_CRASH_PORTFOLIOS ?? 6);
const N_WORKERS = Number(process.env.BALLAST_SCALE_CRASH_WORKERS ?? 4);
const MIN_KILLS = Number(process.env.BALLAST_SCALE_CRASH_KILLS ?? 10);
const MAX_ROUNDS = 40;

const PRICES: Record<string, number> = { BTC: 60_000, ETH: 3_000 };

function fakeSource(): PriceSource {
  const market = (a: string): Market => ({
    symbol: `${a}/USDT`, type: 'spot', spot: true, swap: false, base: a, quote: 'USDT', settle: null, amountStep: 1e-5, priceStep: 1e-2,
    minAmount: 1e-5, minNotional: 5, contractSize: 1, maintenanceMarginRate: 0, maker: 0.001, taker: 0.001, active: true,
  });
  return {
    id: 'fakeprices',
    loadMarkets: async () => Object.fromEntries(Object.keys(PRICES).map((a) => [`${a}/USDT`, market(a)])),
    fetchTickers: async (symbols?: string[]) => {
      const out: Record<string, Ticker> = {};
      for (const s of symbols ?? Object.keys(PRICES).map((a) => `${a}/USDT`)) {
        const px = PRICES[s.split('/')[0]!];
        if (px) out[s] = { symbol: s, timestamp: systemClock.now(), bid: px, ask: px, last: px, markPrice: null };
      }
      return out;
    },
  };
}

let pg: LocalPostgres;
let redis: LocalRedis;
let cli: Cli;
let dir = '';
/** One venue process for every paper account (src/adapters/venue/accounts.ts): each portfolio its own account. */
let venue: SimVenueHandle;
const names: string[] = [];
const accountUrl = (name: string) => `${venue.url}/a/${name}`;

beforeAll(async () => {
  [pg, redis, cli] = await Promise.all([startPostgres(), startRedis({ persistent: true }), bundleCli()]);
  dir = mkdtempSync(join(tmpdir(), 'ballast-scale-crash-'));
  writeFileSync(join(dir, 'btc.yaml'), halfCashYaml('BTC'));
  writeFileSync(join(dir, 'eth.yaml'), halfCashYaml('ETH'));
  // the venue lists the markets of every portfolio
  writeFileSync(join(dir, 'venue.yaml'), halfCashYaml('BTC').replace('{ name: BTC, target: 50%, band: 5%, assets: [BTC] }', '{ name: BTC, target: 25%, band: 5%, assets: [BTC] }\n  - { name: ETH, target: 25%, band: 5%, assets: [ETH] }'));
  venue = await startSimVenue({ config: join(dir, 'venue.yaml'), state: join(dir, 'venue'), priceSource: fakeSource(), capital: 10_000, accounts: true });
  const store = new PortfolioStore(pg.url);
  try {
    for (let i = 0; i < N_PORTFOLIOS; i++) {
      const file = join(dir, i % 2 === 0 ? 'btc.yaml' : 'eth.yaml');
      const name = `p${String(i).padStart(3, '0')}`;
      names.push(name);
      store.add({ name, source: halfCashYaml(i % 2 === 0 ? 'BTC' : 'ETH'), fileName: file, bindings: { sim: { venue: accountUrl(name) } }, time: Date.now() });
    }
  } finally {
    store.close();
  }
}, 1_200_000);

afterAll(async () => {
  killStragglers();
  await venue?.stop();
  await redis?.stop();
  await pg?.stop();
  cli?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('crash test across workers', () => {
  it(`SIGKILLs workers at random crash points (≥ ${MIN_KILLS}) and restarts Redis once: 0 duplicates, 0 lost fills, journal = venue, no cycle lost or doubled`, async () => {
    const rnd = seededUniform(11);
    const queue = new CycleQueue(redis.url);
    const kills: string[] = [];
    const workers = new Set<ReturnType<typeof startCli>>();
    let stopping = false;
    const spawnWorker = (crash: boolean) => {
      const spec = crash ? `${CRASH_POINTS[Math.floor(rnd() * CRASH_POINTS.length)]}:${1 + Math.floor(rnd() * 3)}` : undefined;
      const w = startCli(cli, ['worker', '--db', pg.url, '--redis', redis.url, '--concurrency', '2', '--lock-ttl', '3', '--log-level', 'error'], { env: { BALLAST_CRASH_AT: spec } });
      workers.add(w);
      w.on('exit', (_code, signal) => {
        workers.delete(w);
        if (signal === 'SIGKILL' && spec !== undefined) kills.push(spec);
        if (!stopping) spawnWorker(true);
      });
    };
    for (let i = 0; i < N_WORKERS; i++) spawnWorker(true);

    const jobIds: string[] = [];
    const waitRound = async (ids: string[], what: string) => {
      const end = Date.now() + 600_000;
      for (;;) {
        const states = await Promise.all(ids.map((id) => queue.queue.getJobState(id)));
        if (states.every((s) => s === 'completed')) return;
        const failed = ids.filter((_, k) => states[k] === 'failed');
        if (failed.length > 0) throw new Error(`${what}: jobs failed: ${failed.join(', ')}`);
        if (Date.now() > end) throw new Error(`${what}: not all completed: ${ids.filter((_, k) => states[k] !== 'completed').join(', ')}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const movePrices = async (round: number) => {
      const f = round % 2 === 1 ? 1.3 : 1 / 1.3;
      PRICES.BTC = PRICES.BTC! * f;
      PRICES.ETH = PRICES.ETH! * f;
      // the venue (every account: one market) sees the new prices before the round's cycles are queued
      const remote = new RemoteExchange({ url: venue.url });
      for (const sym of ['BTC/USDT', 'ETH/USDT']) {
        const want = PRICES[sym.split('/')[0]!]!;
        for (let n = 0; (await remote.fetchTickers([sym]))[sym]!.last !== want; n++) {
          if (n > 600) throw new Error(`the venue does not see ${sym} at ${want}`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };

    let round = 0;
    let redisRestarted = false;
    const started = Date.now();
    while ((kills.length < MIN_KILLS || round < 3) && round < MAX_ROUNDS) {
      round++;
      await movePrices(round);
      const ids: string[] = [];
      for (const n of names) ids.push(await queue.enqueue(n, 'manual', round, Date.now()));
      jobIds.push(...ids);
      if (!redisRestarted && round === 2) {
        await new Promise((r) => setTimeout(r, 500)); // let cycles start
        await redis.restart();
        redisRestarted = true;
      }
      await waitRound(ids, `round ${round}`);
    }
    stopping = true;
    for (const w of [...workers]) w.kill('SIGKILL');
    while (workers.size > 0) await new Promise((r) => setTimeout(r, 50));

    // settle: clean workers, one cycle per portfolio (reconcile first; at target, nothing to trade)
    stopping = false;
    const clean = new Set<ReturnType<typeof startCli>>();
    for (let i = 0; i < 2; i++) {
      const w = startCli(cli, ['worker', '--db', pg.url, '--redis', redis.url, '--concurrency', '4', '--lock-ttl', '3', '--log-level', 'error']);
      clean.add(w);
    }
    const settle: string[] = [];
    for (const n of names) settle.push(await queue.enqueue(n, 'calendar', 1, Date.now()));
    await waitRound(settle, 'settling');
    for (const w of clean) w.kill('SIGTERM');

    // no cycle lost or doubled: every queued job id exists once, completed, not failed
    const all = [...jobIds, ...settle];
    expect(new Set(all).size).toBe(all.length);
    const completed = await queue.queue.getJobs(['completed']);
    const failed = await queue.queue.getJobs(['failed']);
    const doneIds = completed.map((j) => j.id);
    for (const id of all) expect(doneIds.filter((d) => d === id)).toHaveLength(1);
    expect(failed.map((j) => j.id)).toEqual([]);
    const retried = completed.filter((j) => j.attemptsMade > 1 || (j.stalledCounter ?? 0) > 0).length;
    await queue.close();

    // journal = venue for every portfolio
    const verdicts: Verdict[] = [];
    for (const n of names) {
      const j = new PostgresJournal(pg.url, { clock: systemClock, portfolio: n });
      try {
        verdicts.push(await verifyJournalAgainstVenue(j, accountUrl(n), 'sim'));
      } finally {
        j.close();
      }
    }
    const dup = verdicts.flatMap((v) => v.duplicateOrders);
    const lost = verdicts.flatMap((v) => v.lostFills);
    // A worker runs two cycles at once: when one cycle's crash point kills the process, the other may have
    // committed an intent as SUBMITTING whose request never reached the venue. After the restart it cannot be
    // found; by the rules (a missing report is unknown, never "absent") it ends LOST after its strikes — never
    // resent. That is the journal telling the truth about what it knows, not a mismatch; counted apart.
    const allMism = verdicts.flatMap((v) => v.mismatches);
    const lostUnsent = allMism.filter((x) => /^intent \S+ is LOST without a venue order$/.test(x));
    const mism = allMism.filter((x) => !lostUnsent.includes(x));
    const orders = verdicts.reduce((s, v) => s + v.venueOrders, 0);
    const trades = verdicts.reduce((s, v) => s + v.venueTrades, 0);
    const byPoint = CRASH_POINTS.map((p) => `${p} ${kills.filter((k) => k.startsWith(p)).length}`).join(', ');
    console.log(
      `scale crash test: ${N_PORTFOLIOS} portfolios, ${N_WORKERS} workers, ${round} rounds, ${kills.length} SIGKILLs (${byPoint}), Redis restarted ${redisRestarted ? 1 : 0}×, ` +
        `${all.length} cycles queued, ${doneIds.length} completed once (${retried} after a retry), ${failed.length} failed; ` +
        `${orders} venue orders, ${trades} venue trades; ${dup.length} duplicate orders, ${lost.length} lost fills, ${mism.length} journal mismatches; ${lostUnsent.length} intents LOST unsent (killed between commit and send, never resent) (${((Date.now() - started) / 1000).toFixed(0)} s)`,
    );
    if (dup.length + lost.length + mism.length > 0) {
      for (const v of verdicts.filter((x) => x.duplicateOrders.length + x.lostFills.length + x.mismatches.length > 0).slice(0, 5)) console.log(JSON.stringify(v, null, 1).slice(0, 3000));
    }
    expect(dup, 'duplicate orders').toEqual([]);
    expect(lost, 'lost fills').toEqual([]);
    expect(mism, 'journal mismatches').toEqual([]);
    expect(kills.length).toBeGreaterThanOrEqual(MIN_KILLS);
    expect(trades).toBeGreaterThan(0);
  }, 1_800_000);
});
