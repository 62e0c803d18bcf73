/**
 * `ballast run --replay` end to end, through the real command line (a bundled build of it):
 * - paper trading of the seed four-class portfolio over ~60 bars of the bundled daily history: decisions on
 *   every bar, orders and fills, and the journal equal to the simulated venue at the end;
 * - a second run with the same journal resumes after the last processed bar: no bar planned twice, no order
 *   sent twice, journal still equal to the venue;
 * - SIGTERM stops a run after its cycle (exit 0, lock released) and the next run resumes;
 * - a canary secret in the environment never appears in stdout, stderr, the journal or the venue state, and
 *   `--live` refuses missing, half-set or badly stored keys (exit 2) without printing them.
 */
import { chmodSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import { ManualClock } from '../../src/ports/clock.js';
import { verifyJournalAgainstVenue } from '../crash/verify.js';
import { bundleCli, DATA, ensureDir, killStragglers, runCli, scratchDir, SEED_CONFIG, startCli, startVenue, type Cli } from './helpers.js';

let cli: Cli;
const scratch = scratchDir('ballast-cli-run-');
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
  finished: boolean;
  reason: string;
  mismatches: string[];
  replay: { cycles: number; skipped: number; lastBar: number | null };
  summary: { decisions: number; orders: number; ordersSent: number; fills: number; rebalances: number; tpvStart: number; tpvEnd: number; fees: Record<string, number> };
}

const DAY = 86_400_000;
const FIRST_CLOSE = Date.UTC(2020, 7, 19); // the seed portfolio's history starts with the 2020-08-18 bar (DOT)

function decisionTimes(db: string): number[] {
  const j = new SqliteJournal(db, { clock: new ManualClock(0) });
  try {
    return j.events({ type: 'decision' }).map((e) => e.time);
  } finally {
    j.close();
  }
}

async function verifyReplayVenue(db: string, state: string) {
  const venue = await startVenue(cli, ['--config', SEED_CONFIG, '--state', state, '--replay', DATA]);
  try {
    return await verifyJournalAgainstVenue(db, venue.url, 'paper');
  } finally {
    await venue.stop();
  }
}

describe('ballast run --replay (paper, bundled history, seed portfolio)', () => {
  const dir = join(scratch.dir, 'resume');
  const db = join(dir, 'journal.db');
  const state = join(dir, 'journal.venue.json');
  const args = (until: string) => ['run', '--no-api', '--config', SEED_CONFIG, '--replay', DATA, '--until', until, '--speed', '0', '--db', db, '--json'];

  it('trades the seed portfolio through 60 bars, journal = venue', async () => {
    const r = await runCli(cli, args('2020-10-17'), { timeoutMs: 60_000 });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const out = JSON.parse(r.stdout) as RunJson;
    expect(out).toMatchObject({ code: 0, finished: true, reason: 'replay finished', mismatches: [] });
    expect(out.replay.cycles).toBe(60);
    expect(out.replay.lastBar).toBe(FIRST_CLOSE + 59 * DAY);
    expect(out.summary.decisions).toBe(60);
    // A deterministic replay: the same numbers every run (market orders on the simulated venue, bar closes).
    expect(out.summary).toMatchObject({
      decisionsByStatus: { ok: 8, 'nothing-to-do': 52 },
      rebalances: 8,
      rebalancesByStatus: { done: 8 },
      ordersSent: 40,
      ordersByState: { FILLED: 40 },
      fills: 40,
      externalFills: 0,
      hedgesOpen: 0,
      // The seed portfolio hedges (auto): 4 hedges opened and closed in these 60 bars.
      hedgesClosed: 4,
      tpvStart: 100_000,
    });
    expect(out.summary.fees['USDT']).toBeCloseTo(111.85508936617701, 6);
    expect(out.summary.tpvEnd).toBeCloseTo(93_729.5135263643, 6);
    // one decision per bar, at the bar's close
    expect(decisionTimes(db)).toEqual(Array.from({ length: 60 }, (_, i) => FIRST_CLOSE + i * DAY));
    // structured logs on stderr: JSON lines
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('{'));
    const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(msgs.filter((m) => m === 'cycle')).toHaveLength(60);
    expect(msgs.filter((m) => m === 'service started')).toHaveLength(1);
  }, 90_000);

  it('a second run with the same journal resumes: no bar planned twice, no order sent twice', async () => {
    const r = await runCli(cli, args('2020-11-30'), { timeoutMs: 60_000 });
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    const out = JSON.parse(r.stdout) as RunJson;
    expect(out.finished).toBe(true);
    const bars = (Date.UTC(2020, 10, 30) - (FIRST_CLOSE + 59 * DAY)) / DAY;
    expect(out.replay.cycles).toBe(bars);
    expect(out.replay.skipped).toBe(0);
    const times = decisionTimes(db);
    expect(times).toHaveLength(60 + bars);
    expect(new Set(times).size).toBe(times.length);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    const log = r.stderr.split('\n').filter((l) => l.includes('resuming after the last processed bar'));
    expect(log).toHaveLength(1);

    // nothing left to do: a third run plans no bar at all
    const again = await runCli(cli, args('2020-11-30'));
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as RunJson).replay.cycles).toBe(0);
    expect(decisionTimes(db)).toHaveLength(60 + bars);

    const v = await verifyReplayVenue(db, state);
    expect(v.duplicateOrders).toEqual([]);
    expect(v.lostFills).toEqual([]);
    expect(v.mismatches).toEqual([]);
    expect(v.venueOrders).toBe(v.intents);
  }, 90_000);

  it('progress lines and the closing summary on stdout without --json', async () => {
    const d = join(scratch.dir, 'text');
    const r = await runCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--replay', DATA, '--until', '2020-08-25', '--speed', '0', '--db', join(d, 'j.db'), '--progress', '--log-level', 'warn']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^2020-08-19 {2}bar 1\/7 {2}traded/m);
    expect(r.stdout).toMatch(/TPV 100,000\.00 {2}BTC /);
    expect(r.stdout).toMatch(/ballast run: replay finished — 7 bar\(s\) this run/);
    expect(r.stdout).toMatch(/^ {2}check {7}journal = venue/m);
    expect(r.stderr).toBe('');
  }, 60_000);
});

describe('ballast run: signals, locks, bad input', () => {
  it('SIGTERM stops after the current cycle (exit 0, lock released); the next run resumes', async () => {
    const d = join(scratch.dir, 'signal');
    const db = join(d, 'journal.db');
    const child = startCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--replay', DATA, '--speed', '20', '--db', db, '--progress', '--log-level', 'warn']);
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no progress: ${child.output().stderr}`)), 30_000);
      child.stdout!.on('data', () => {
        if ((child.output().stdout.match(/ bar /g) ?? []).length >= 5) {
          clearTimeout(t);
          resolve();
        }
      });
    });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    expect(code, child.output().stderr).toBe(0);
    expect(child.output().stderr).toMatch(/SIGTERM: stopping after the current cycle/);
    expect(child.output().stdout).toMatch(/ballast run: stopped: signal SIGTERM/);
    const j = new SqliteJournal(db, { clock: new ManualClock(0) });
    const processed = j.events({ type: 'decision' }).length;
    expect(j.lockHolder('paper')).toBeUndefined();
    j.close();
    expect(processed).toBeGreaterThanOrEqual(5);

    const r = await runCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--replay', DATA, '--speed', '0', '--until', '2020-09-30', '--db', db, '--json', '--log-level', 'warn']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as RunJson;
    expect(out.replay.cycles).toBe(43 - processed);
    expect(decisionTimes(db)).toEqual(Array.from({ length: 43 }, (_, i) => FIRST_CLOSE + i * DAY));
  }, 90_000);

  it('a second instance on the same journal or venue state is refused (exit 1, naming the holder)', async () => {
    const d = ensureDir(join(scratch.dir, 'twice'));
    const db = join(d, 'journal.db');
    const waitForBars = (child: ReturnType<typeof startCli>, n: number) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no progress: ${child.output().stderr}`)), 30_000);
        child.stdout!.on('data', () => {
          if ((child.output().stdout.match(/ bar /g) ?? []).length >= n) {
            clearTimeout(t);
            resolve();
          }
        });
      });
    const stop = (child: ReturnType<typeof startCli>) =>
      new Promise<number | null>((r) => {
        child.on('close', (c) => r(c));
        child.kill('SIGTERM');
      });

    // in-process replay venues: the venue state file is taken
    const first = startCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--replay', DATA, '--speed', '20', '--db', db, '--progress', '--log-level', 'warn']);
    await waitForBars(first, 2);
    const second = await runCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--replay', DATA, '--speed', '0', '--db', db, '--log-level', 'warn']);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`venue state file .*journal\\.venue\\.json is in use by process ${first.pid}`));
    expect(await stop(first)).toBe(0);

    // one shared venue process: the journal's account lock is taken
    const venue = await startVenue(cli, ['--config', SEED_CONFIG, '--state', join(d, 'shared-venue.json'), '--replay', DATA, '--speed', '10']);
    try {
      const db2 = join(d, 'shared.db');
      const a = startCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--venue', venue.url, '--db', db2, '--progress', '--log-level', 'warn']);
      await waitForBars(a, 2);
      const b = await runCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--venue', venue.url, '--db', db2, '--log-level', 'warn']);
      expect(b.code).toBe(1);
      expect(b.stderr).toMatch(new RegExp(`account paper is locked by another ballast instance \\(pid ${a.pid} `));
      expect(await stop(a)).toBe(0);
    } finally {
      await venue.stop();
    }
  }, 90_000);

  it('exit 2 on a bad portfolio file, bad flags, an unreachable --venue or a bad crash-hook spec', async () => {
    const d = ensureDir(join(scratch.dir, 'bad'));
    const bad = join(d, 'bad.yaml');
    writeFileSync(bad, 'quote: USDT\nclasses:\n  - name: BTC\n    target: 120%\n');
    const r1 = await runCli(cli, ['run', '--no-api', '--config', bad, '--replay', DATA, '--db', join(d, 'j.db')]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/bad\.yaml:4/);
    const r2 = await runCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--speed', 'fast']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/speed must be a number/);
    const r3 = await runCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--live', '--replay', DATA]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/--live trades real exchanges: it cannot be combined with --replay/);
    const r4 = await runCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--live', '--db', join(d, 'j4.db')]);
    expect(r4.code).toBe(2);
    expect(r4.stderr).toMatch(/--live needs the exchange accounts/);
    const r5 = await runCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--venue', 'http://127.0.0.1:9', '--db', join(d, 'j5.db')]);
    expect(r5.code).toBe(2);
    expect(r5.stderr).toMatch(/cannot reach the simulated venue/);
    const r6 = await runCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--replay', DATA, '--db', join(d, 'j6.db')], { env: { BALLAST_CRASH_AT: 'somewhere:1' } });
    expect(r6.code).toBe(2);
    expect(r6.stderr).toMatch(/BALLAST_CRASH_AT must be <point>:<n>/);
  }, 60_000);
});

describe('canary secret: never in logs, output, journal or venue state', () => {
  const KEY = 'CANARYKEY-7f3a9c1e5b2d4f60';
  const SECRET = 'CANARYSECRET-0d9e8c7b6a5f4e3d';

  function expectNoCanary(what: string, text: string | Buffer): void {
    const s = typeof text === 'string' ? text : text.toString('latin1');
    for (const c of [KEY, SECRET, KEY.slice(0, 14), SECRET.slice(0, 16)]) expect(s.includes(c), `${what} contains the canary ${c.slice(0, 8)}…`).toBe(false);
  }

  it('a paper run with canary keys in the environment', async () => {
    const d = join(scratch.dir, 'canary');
    const db = join(d, 'journal.db');
    const r = await runCli(cli, ['run', '--no-api', '--config', SEED_CONFIG, '--replay', DATA, '--until', '2020-09-05', '--speed', '0', '--db', db, '--progress', '--log-level', 'trace'], {
      env: { BALLAST_PAPER_API_KEY: KEY, BALLAST_PAPER_API_SECRET: SECRET },
    });
    expect(r.code, r.stderr.slice(-2000)).toBe(0);
    expect(r.stderr).toMatch(/API keys found in the environment are not used in paper mode/);
    expectNoCanary('stdout', r.stdout);
    expectNoCanary('stderr', r.stderr);
    const j = await runCli(cli, ['journal', '--db', db, '--all', '--limit', '100000', '--json']);
    expect(j.code).toBe(0);
    expectNoCanary('ballast journal', j.stdout);
    for (const f of readdirSync(d)) expectNoCanary(f, readFileSync(join(d, f)));
  }, 60_000);

  it('--live refuses missing, half-set and loosely stored keys without printing them (exit 2, no network)', async () => {
    const d = ensureDir(join(scratch.dir, 'canary-live'));
    const keys = join(d, 'keys.json');
    writeFileSync(keys, JSON.stringify({ apiKey: KEY, secret: SECRET }));
    chmodSync(keys, 0o644);
    const cfg = join(d, 'live.yaml');
    writeFileSync(cfg, readFileSync(SEED_CONFIG, 'utf8') + `accounts:\n  - { name: main, exchange: binance, keys: { file: keys.json } }\n`);
    const r1 = await runCli(cli, ['run', '--no-api', '--config', cfg, '--live', '--db', join(d, 'j.db')]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/keys\.json has mode 0644: it must be 0600/);
    expectNoCanary('stderr (key file)', r1.stderr + r1.stdout);

    const cfg2 = join(d, 'live-env.yaml');
    writeFileSync(cfg2, readFileSync(SEED_CONFIG, 'utf8') + `accounts:\n  - { name: main, exchange: binance }\n`);
    const r2 = await runCli(cli, ['run', '--no-api', '--config', cfg2, '--live', '--db', join(d, 'j2.db')], { env: { BALLAST_MAIN_API_KEY: KEY } });
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/set both BALLAST_MAIN_API_KEY and BALLAST_MAIN_API_SECRET/);
    expectNoCanary('stderr (half-set keys)', r2.stderr + r2.stdout);

    const r3 = await runCli(cli, ['run', '--no-api', '--config', cfg2, '--live', '--db', join(d, 'j3.db')]);
    expect(r3.code).toBe(2);
    expect(r3.stderr).toMatch(/account main: no API key: set BALLAST_MAIN_API_KEY and BALLAST_MAIN_API_SECRET/);
  }, 60_000);
});
