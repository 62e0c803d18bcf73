/**
 * The paper service of `npm start` (examples/service/portfolio.yaml: weekly hybrid checks, spot or perp hedge
 * chosen by the cost model, market orders) replayed through the real command line over 2020-11-15 →
 * 2021-04-10, the stretch where the planner once spent margin as if it were cash: 5 orders were REJECTED
 * for funds there (ETH and BTC shorts, 2020-12-01 … 2021-04-06) and rebalances ended partial. With buys
 * sized against the quote the futures leave free (the simulator's own rule) and hedges that convert at the
 * weekly check, every order is filled, every rebalance completes, and the hedges open and close.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import { ManualClock } from '../../src/ports/clock.js';
import { bundleCli, DATA, killStragglers, REPO, runCli, scratchDir, type Cli } from './helpers.js';

let cli: Cli;
const scratch = scratchDir('ballast-cli-hedges-');
beforeAll(async () => {
  cli = await bundleCli();
}, 60_000);
afterAll(() => {
  killStragglers();
  cli?.dispose();
  scratch.remove();
});

interface RunJson {
  code: number;
  summary: { rebalancesByStatus: Record<string, number>; ordersByState: Record<string, number>; hedgesClosed: number; hedgesOpen: number };
}

describe('ballast run --replay of the hedging service portfolio', () => {
  it('no order rejected for funds or margin, no partial rebalance, hedges opened and closed', async () => {
    const db = join(scratch.dir, 'j.db');
    const config = join(REPO, 'examples', 'service', 'portfolio.yaml');
    const r = await runCli(cli, ['run', '--no-api', '--config', config, '--replay', DATA, '--from', '2020-11-15', '--until', '2021-04-10', '--speed', '0', '--db', db, '--json', '--log-level', 'warn'], { timeoutMs: 240_000 });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const out = JSON.parse(r.stdout) as RunJson;
    expect(out.summary.ordersByState.REJECTED ?? 0).toBe(0);
    expect(Object.keys(out.summary.ordersByState)).toEqual(['FILLED']);
    expect(Object.keys(out.summary.rebalancesByStatus)).toEqual(['done']);
    expect(out.summary.hedgesClosed).toBeGreaterThan(0);
    // Every hedge the journal closed was closed by a rule the planner names (convert, unwind, cut).
    const j = new SqliteJournal(db, { clock: new ManualClock(0) });
    try {
      const closed = j.hedges({ open: false }).filter((h) => h.closedAt !== null);
      expect(closed.length).toBe(out.summary.hedgesClosed);
      for (const h of closed) expect(h.closeReason ?? '', h.symbol).toMatch(/exit rule|inner band|gross cap|funding|margin risk|shrink|to target/);
    } finally {
      j.close();
    }
  }, 300_000);
});
