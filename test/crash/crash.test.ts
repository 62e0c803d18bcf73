/**
 * The crash test (reliability rule (docs/concepts.md), fault row 5): kill -9 of the paper service at named points of a rebalance,
 * across processes, against a simulated venue that survives it.
 *
 * Set-up per chain: `ballast sim-venue --replay` (its own process, its own state file, clock moved only by its
 * client) and a journal. Then, again and again:
 *
 *   ballast run --venue URL --db J --until U      with BALLAST_CRASH_AT="<point>:<n>"
 *
 * The run kills itself (SIGKILL) the n-th time it reaches <point> — after-intent-saved, after-send,
 * before-fill-recorded or after-fill (src/execution/crash.ts) — counting from its own start, so a restart that
 * is killed again may die inside its start-up reconciliation. The next run restarts from the same journal and
 * venue; the chain ends when a run reaches --until without being killed, followed by one clean run.
 * Points cycle through the four kinds with n = 1, 2, 3, so the chain moves forward through the replay and
 * every kill lands at a new place.
 *
 * Verdict after each chain (verify.ts): no order sent twice, no fill lost, journal = venue (intents, fills,
 * book, and balances derived from the journal's fills alone). Two chains over different stretches of history
 * run in parallel; the test prints the total number of crash points and fails below 200.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { CRASH_POINTS, type CrashPoint } from '../../src/execution/crash.js';
import { bundleCli, DATA, killStragglers, REPO, runCli, scratchDir, startVenue, type Cli } from '../cli/helpers.js';
import { verifyJournalAgainstVenue, type Verdict } from './verify.js';

const CONFIG = join(REPO, 'test', 'crash', 'portfolio.yaml');
const ACCOUNT = 'paper';
const MIN_CRASH_POINTS = 200;

interface Kill {
  point: CrashPoint;
  n: number;
  ms: number;
}

interface ChainResult {
  name: string;
  kills: Kill[];
  runs: number;
  verdict: Verdict;
  ms: number;
}

let cli: Cli;
beforeAll(async () => {
  cli = await bundleCli();
}, 60_000);
afterAll(() => {
  killStragglers();
  cli?.dispose();
});

/** The k-th crash point of a chain: the four kinds in turn, hit index 1, 2, 3 in turn (period 12). */
function crashPoint(k: number): { point: CrashPoint; n: number } {
  return { point: CRASH_POINTS[k % CRASH_POINTS.length]!, n: 1 + (Math.floor(k / CRASH_POINTS.length) % 3) };
}

async function chain(name: string, from: string, until: string, maxKills: number): Promise<ChainResult> {
  const started = performance.now();
  const tmp = scratchDir(`ballast-crash-${name}-`);
  const venue = await startVenue(cli, ['--config', CONFIG, '--state', join(tmp.dir, 'venue.json'), '--replay', DATA, '--from', from, '--speed', '0']);
  const db = join(tmp.dir, 'journal.db');
  const args = ['run', '--no-api', '--config', CONFIG, '--venue', venue.url, '--db', db, '--until', until, '--log-level', 'warn', '--json'];
  const kills: Kill[] = [];
  let runs = 0;
  try {
    for (;;) {
      const k = kills.length;
      const crash = k < maxKills ? crashPoint(k) : null;
      const t0 = performance.now();
      const r = await runCli(cli, args, { env: crash ? { BALLAST_CRASH_AT: `${crash.point}:${crash.n}` } : {}, timeoutMs: 30_000 });
      runs++;
      if (r.signal === 'SIGKILL' && crash) {
        kills.push({ ...crash, ms: performance.now() - t0 });
        continue;
      }
      expect(r.code, `${name}: run ${runs} (crash ${crash ? `${crash.point}:${crash.n}` : 'none'}) ended with ${r.code ?? r.signal}:\n${r.stderr.slice(-4000)}`).toBe(0);
      const result = JSON.parse(r.stdout) as { finished: boolean; mismatches: string[] };
      expect(result.finished).toBe(true);
      expect(result.mismatches).toEqual([]);
      break;
    }
    // One more clean restart: nothing left to do, and it must start (reconcile) cleanly.
    const last = await runCli(cli, args, { timeoutMs: 30_000 });
    runs++;
    expect(last.code, last.stderr.slice(-4000)).toBe(0);
    const verdict = await verifyJournalAgainstVenue(db, venue.url, ACCOUNT);
    return { name, kills, runs, verdict, ms: performance.now() - started };
  } finally {
    await venue.stop();
    tmp.remove();
  }
}

describe('crash test: kill -9 at named points, restart, journal = venue', () => {
  it(`survives at least ${MIN_CRASH_POINTS} crash points without duplicate orders, lost fills or journal mismatches`, async () => {
    const started = performance.now();
    const results = await Promise.all([chain('a', '2020-08-18', '2021-02-15', 110), chain('b', '2021-02-16', '2021-08-15', 110)]);
    const kills = results.flatMap((r) => r.kills);
    const dup = results.flatMap((r) => r.verdict.duplicateOrders);
    const lost = results.flatMap((r) => r.verdict.lostFills);
    const mism = results.flatMap((r) => r.verdict.mismatches);
    const byPoint = CRASH_POINTS.map((p) => `${p} ${kills.filter((k) => k.point === p).length}`).join(', ');
    const slowest = Math.max(...kills.map((k) => k.ms));
    process.stdout.write(
      `crash test: ${kills.length} crash points, ${dup.length} duplicate orders, ${lost.length} lost fills, ${mism.length} journal mismatches` +
        ` (${byPoint}; ${results.map((r) => `chain ${r.name}: ${r.runs} runs, ${r.verdict.venueOrders} venue orders, ${r.verdict.venueTrades} trades, ${(r.ms / 1000).toFixed(1)} s`).join('; ')};` +
        ` slowest crash point ${(slowest / 1000).toFixed(1)} s; total ${((performance.now() - started) / 1000).toFixed(1)} s)\n`,
    );
    expect(dup, 'duplicate orders').toEqual([]);
    expect(lost, 'lost fills').toEqual([]);
    expect(mism, 'journal mismatches').toEqual([]);
    expect(kills.length).toBeGreaterThanOrEqual(MIN_CRASH_POINTS);
    for (const p of CRASH_POINTS) expect(kills.filter((k) => k.point === p).length, p).toBeGreaterThanOrEqual(MIN_CRASH_POINTS / CRASH_POINTS.length / 2);
  }, 300_000);
});
