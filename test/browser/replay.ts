/**
 * An in-process paper service replaying a slice of the bundled history (data/): the SimExchange of the replay
 * venue on a ManualClock, a SQLite journal in a temp dir, the Service without its loop — the driver steps one
 * cycle per bar, moving the clock to the bar's close. Deterministic: same slice, same journal.
 *
 * This is what the dashboard test starts the API over (see `startServer` in dashboard.test.ts); the lead may
 * swap it for a spawned `ballast run --replay`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import { loadPortfolio } from '../../src/adapters/files/portfolio.js';
import { SimExchange } from '../../src/adapters/sim/exchange.js';
import { replayVenue, type ReplayVenue } from '../../src/adapters/venue/replay.js';
import type { Portfolio } from '../../src/core/types.js';
import { GuardedExchange } from '../../src/execution/retry.js';
import { ManualClock } from '../../src/ports/clock.js';
import { Service, type CycleReport } from '../../src/service/service.js';
import { ExchangeSnapshotSource } from '../../src/service/sim-source.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ACCOUNT = 'paper';

export interface ReplayWorldOptions {
  portfolioFile?: string;
  portfolio?: Portfolio;
  /** First bar (open time), e.g. Date.UTC(2024, 0, 1). */
  from: number;
  /** End of the slice (exclusive bar open time). */
  to: number;
  /** Starting balances. Default: `capital` spread at the targets (equal split inside a class) at the first close. */
  balances?: Record<string, number>;
  /** Default 100,000 USDT. */
  capital?: number;
}

/** Holdings worth `capital` at the portfolio's targets, priced at the first bar's close. */
export function atTarget(portfolio: Portfolio, replay: ReplayVenue, capital: number): Record<string, number> {
  const h = replay.history;
  const out: Record<string, number> = {};
  for (const c of portfolio.classes) {
    if (c.cash) {
      out[portfolio.quote] = (out[portfolio.quote] ?? 0) + c.target * capital;
      continue;
    }
    for (const a of c.assets) {
      const k = h.assets.indexOf(a);
      if (k < 0) throw new Error(`no history for ${a}`);
      const px = h.close[k]![0]!;
      out[a] = Number(((c.target * capital) / c.assets.length / px).toFixed(6));
    }
  }
  return out;
}

export interface ReplayWorld {
  clock: ManualClock;
  sim: SimExchange;
  replay: ReplayVenue;
  portfolio: Portfolio;
  journal: SqliteJournal;
  service: Service;
  dir: string;
  /** Run a cycle at the current time, then move to the next bar's close. Returns the report. */
  step(): Promise<CycleReport>;
  /** Step until the clock reaches `time` (a bar close) or the history ends. */
  runUntil(time: number): Promise<CycleReport[]>;
  close(): Promise<void>;
}

export async function replayWorld(o: ReplayWorldOptions): Promise<ReplayWorld> {
  const portfolio = o.portfolio ?? loadPortfolio(o.portfolioFile ?? join(ROOT, 'test/browser/portfolio.yaml'));
  const replay = replayVenue({ portfolio, dataDir: join(ROOT, 'data'), interval: '1d', from: o.from, to: o.to });
  const balances = o.balances ?? atTarget(portfolio, replay, o.capital ?? 100_000);
  const clock = new ManualClock(replay.startTime);
  const sim = new SimExchange({ ...replay.config, balances }, { feed: replay.makeFeed(), clock });
  sim.sync();
  const sleep = async (ms: number): Promise<void> => {
    if (ms > 0) clock.advance(ms);
  };
  const venue = new GuardedExchange(sim, { clock, sleep });
  const dir = mkdtempSync(join(tmpdir(), 'ballast-replay-'));
  const journal = new SqliteJournal(join(dir, 'journal.db'), { clock });
  const source = new ExchangeSnapshotSource({ accounts: [{ name: ACCOUNT, exchange: venue }], clock, quote: portfolio.quote, portfolio });
  const service = new Service({ portfolio, intervalMs: replay.barMs }, { journal, venues: { [ACCOUNT]: venue }, source, clock, sleep });
  await service.start({ loop: false });
  let nextBar = replay.startTime;
  const world: ReplayWorld = {
    clock,
    sim,
    replay,
    portfolio,
    journal,
    service,
    dir,
    async step() {
      if (clock.now() < nextBar) clock.set(nextBar);
      const r = await service.runOnce();
      nextBar += replay.barMs;
      // The executor's virtual sleeps may have moved the clock past the bar close: keep to the bar grid.
      while (nextBar <= clock.now()) nextBar += replay.barMs;
      return r;
    },
    async runUntil(time) {
      const out: CycleReport[] = [];
      while (nextBar <= Math.min(time, replay.endTime)) out.push(await world.step());
      return out;
    },
    async close() {
      await service.stop();
      journal.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}
