/**
 * Ordinary mistakes end with exit code 2 and one clear line on stderr — never "internal error", never a stack
 * trace, never a silent success. Each case runs the real CLI (its esbuild bundle) and checks the exact code
 * and message. Cases that need a venue (an unreachable exchange) run in-process with a venue that fails the
 * way ccxt does offline, and go through the CLI's own error report.
 */
import { readFileSync, statSync, writeFileSync, copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { reportError } from '../../src/apps/cli/main.js';
import { startRun } from '../../src/apps/cli/run.js';
import * as ccxt from 'ccxt';
import { mapCcxtError } from '../../src/adapters/ccxt/errors.js';
import { NetworkError } from '../../src/ports/errors.js';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import { AccountLockedError } from '../../src/ports/journal.js';
import { bundleCli, DATA, REPO, runCli, scratchDir, SEED_CONFIG, type Cli } from './helpers.js';

const scratch = scratchDir('ballast-mistakes-');
const dir = scratch.dir;
let cli: Cli;
beforeAll(async () => {
  cli = await bundleCli();
}, 120_000);
afterAll(() => scratch.remove());

const EX = join(REPO, 'examples', '2-four-classes');
const FUTURES = join(EX, 'portfolio-futures.yaml');
const SERVICE = join(REPO, 'examples', 'service', 'portfolio.yaml');

/** A copy of seed example 2's snapshot, changed by `edit`. */
function snapshot(name: string, edit: (s: { accounts: { balances: Record<string, number>; positions?: unknown[] }[] }) => void): string {
  const s = JSON.parse(readFileSync(join(EX, 'snapshot.json'), 'utf8'));
  edit(s);
  const f = join(dir, `${name}.json`);
  writeFileSync(f, JSON.stringify(s, null, 2));
  return f;
}

/** Exit code 2, exactly one line on stderr (matching `line`), no stack trace, nothing about an internal error. */
async function mistake(args: string[], line: RegExp | string): Promise<string> {
  const r = await runCli(cli, args, { timeoutMs: 60_000 });
  const err = r.stderr.trimEnd();
  expect(err, `stderr of ${args.join(' ')}`).not.toMatch(/internal error|\n\s+at /);
  expect(r.code, `${args.join(' ')}\n${err}`).toBe(2);
  const lines = err.split('\n').filter((l) => l !== '(add --help for usage)');
  expect(lines, err).toHaveLength(1);
  if (typeof line === 'string') expect(lines[0]).toBe(line);
  else expect(lines[0]).toMatch(line);
  return lines[0]!;
}

describe('snapshots the valuation cannot use', () => {
  it('no balances at all (TPV 0)', async () => {
    const f = snapshot('tpv0', (s) => {
      for (const a of s.accounts) {
        a.balances = {};
        a.positions = [];
      }
    });
    await mistake(['plan', '--config', FUTURES, '--snapshot', f], new RegExp(`^ballast: ${f}:\\d+:\\d+: accounts: the total portfolio value is 0: the accounts hold nothing of value, so there is nothing to allocate$`));
  });

  it('a short worth more than the holdings (negative TPV)', async () => {
    const f = snapshot('negative', (s) => {
      s.accounts[0]!.positions = [{ symbol: 'BTC/USDT:USDT', contracts: -1_000_000, entryPrice: 50_000 }];
    });
    await mistake(
      ['plan', '--config', FUTURES, '--snapshot', f],
      new RegExp(`^ballast: ${f}:\\d+:\\d+: accounts: the total portfolio value is -\\$46,249,500,000\\.00: the futures positions lose more than the accounts hold \\(a plan needs a positive value\\)$`),
    );
  });

  it('a short of −1e9 contracts: more than float64 counts in lot steps', async () => {
    const f = snapshot('short1e9', (s) => {
      s.accounts[0]!.positions = [{ symbol: 'BTC/USDT:USDT', contracts: -1e9, entryPrice: 50_000 }];
    });
    await mistake(
      ['plan', '--config', FUTURES, '--snapshot', f],
      new RegExp(`^ballast: ${f}:\\d+:\\d+: accounts\\[0\\]\\.positions\\[0\\]\\.contracts: -1000000000 is too large: float64 counts at most 9\\.007e\\+7 in lot steps of 1e-8 \\(the default lot step; give the market's amountStep under markets if it is coarser\\)$`),
    );
  });

  it('a balance of 1e15 BTC is refused, naming the field; with the market lot step given, the limit follows it', async () => {
    const f = snapshot('huge', (s) => {
      s.accounts[0]!.balances.BTC = 1e15;
    });
    await mistake(['plan', '--config', FUTURES, '--snapshot', f], new RegExp(`^ballast: ${f}:\\d+:\\d+: accounts\\[0\\]\\.balances\\.BTC: 1000000000000000 is too large: float64 counts at most 9\\.007e\\+7 in lot steps of 1e-8`));
    const g = snapshot('huge-step', (s) => {
      s.accounts[0]!.balances.ADA = 1e15;
    });
    // ADA's lot step is 0.1 in the file: 2^53 × 0.1 ≈ 9.007e14 < 1e15
    await mistake(['plan', '--config', FUTURES, '--snapshot', g], new RegExp(`accounts\\[0\\]\\.balances\\.ADA: 1000000000000000 is too large: float64 counts at most 9\\.007e\\+14 in lot steps of 0\\.1 \\(markets\\["ADA/USDT"\\]\\.amountStep\\)$`));
  });
});

describe('backtest flags', () => {
  const bt = (...a: string[]) => ['backtest', '--config', SEED_CONFIG, ...a];

  it('--from after --to, and --from = --to: an empty range', async () => {
    await mistake(bt('--from', '2024-01-01', '--to', '2023-01-01'), 'ballast: --from 2024-01-01 is after --to 2023-01-01: the range is empty (--to is exclusive)');
    await mistake(bt('--from', '2024-01-01', '--to', '2024-01-01'), 'ballast: --from 2024-01-01 is the same day as --to 2024-01-01: the range is empty (--to is exclusive)');
  });

  it('a misspelt policy', async () => {
    await mistake(
      bt('--policy', 'threshhold'),
      'ballast: --policy threshhold: unknown policy; choose from: configured, buy-and-hold, calendar-daily, calendar-weekly, calendar-monthly, threshold, threshold-band-edge, hybrid-weekly, futures-overlay, auto, hedge-bridge',
    );
  });

  it('impossible dates are errors, never rolled over', async () => {
    await mistake(bt('--from', '2024-02-30'), "error: option '--from <date>' argument '2024-02-30' is invalid. not a date: 2024-02-30 (February 2024 has 29 days)");
    await mistake(bt('--to', '2023-13-01'), "error: option '--to <date>' argument '2023-13-01' is invalid. not a date: 2023-13-01 (there is no month 13)");
    await mistake(['run', '--config', SERVICE, '--replay', '--until', '2023-04-31'], "error: option '--until <date>' argument '2023-04-31' is invalid. not a date: 2023-04-31 (April 2023 has 30 days)");
  });

  it('--list-policies works without --config', async () => {
    const r = await runCli(cli, ['backtest', '--list-policies']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean)).toEqual([
      'configured',
      'buy-and-hold',
      'calendar-daily',
      'calendar-weekly',
      'calendar-monthly',
      'threshold',
      'threshold-band-edge',
      'hybrid-weekly',
      'futures-overlay',
      'auto',
      'hedge-bridge',
      '(the',
    ]);
    await mistake(['backtest'], "ballast: backtest: required option '-c, --config <file>' not specified");
  });

  it('a history file cut short on a complete row: a warning on stderr naming it', async () => {
    const data = join(dir, 'data-short');
    for (const sub of ['prices/1d', 'perp/1d', 'funding']) {
      mkdirSync(join(data, sub), { recursive: true });
      for (const f of readdirSync(join(DATA, sub))) if (f.endsWith('.csv')) copyFileSync(join(DATA, sub, f), join(data, sub, f));
    }
    const eth = join(data, 'prices/1d/ETHUSDT.csv');
    const rows = readFileSync(eth, 'utf8').split('\n');
    const cut = rows.findIndex((l) => l.startsWith(String(Date.UTC(2022, 2, 8))));
    writeFileSync(eth, rows.slice(0, cut + 1).join('\n') + '\n');
    const r = await runCli(cli, bt('--data', data, '--to', '2024-12-31', '--policy', 'threshold'), { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(r.stderr.trim()).toBe(`ballast: warning: the backtest ends at 2022-03-08, well before --to 2024-12-31: ${eth} ends first (last bar 2022-03-08)`);
    // the full history reaches --to: no warning
    const full = await runCli(cli, bt('--to', '2024-12-31', '--policy', 'threshold'), { timeoutMs: 60_000 });
    expect(full.code).toBe(0);
    expect(full.stderr).toBe('');
  });
});

describe('run: dates and journal paths', () => {
  it('--from after --until', async () => {
    await mistake(['run', '--config', SERVICE, '--replay', '--from', '2022-01-01', '--until', '2021-01-01', '--no-api'], 'ballast: --from 2022-01-01 is after --until 2021-01-01: the range is empty');
  });

  it('journal paths that cannot be written: one line each, and /proc does not hang', async () => {
    const run = (db: string) => ['run', '--config', SERVICE, '--replay', '--until', '2020-09-01', '--speed', '0', '--no-api', '--db', db];
    await mistake(run('/dev/null/j.db'), 'ballast: --db /dev/null/j.db: /dev/null is not a folder');
    await mistake(run('/proc/nope/j.db'), 'ballast: --db /proc/nope/j.db: cannot create the folder /proc/nope (ENOENT)');
    await mistake(run('/sys/j.db'), /^ballast: --db \/sys\/j\.db: cannot (write in|create) the folder \/sys \((EACCES|EROFS|EPERM)\)$/);
  });

  it('a new journal is created 0600 (like the token file beside it)', () => {
    const db = join(dir, 'perm', 'j.db');
    mkdirSync(join(dir, 'perm'), { recursive: true });
    const j = new SqliteJournal(db, { clock: { now: () => 0 } });
    j.close();
    expect(statSync(db).mode & 0o777).toBe(0o600);
  });
});

describe('errors reported by the CLI', () => {
  function report(e: unknown): { code: number; line: string } {
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const code = reportError(e);
      return { code, line: spy.mock.calls.map((c) => String(c[0])).join('') };
    } finally {
      spy.mockRestore();
    }
  }

  it('an unreachable exchange: which venue, and that nothing was sent; the query string stays redacted', async () => {
    const cfg = join(dir, 'live.yaml');
    writeFileSync(cfg, readFileSync(SEED_CONFIG, 'utf8') + 'accounts:\n  - { name: main, exchange: binance }\n');
    // what the ccxt adapter makes of ccxt's own error when DNS fails (offline)
    const offline = mapCcxtError(new ccxt.NetworkError('binance GET https://api.binance.com/sapi/v1/account/apiRestrictions?timestamp=1&signature=abcdef0123 fetch failed: getaddrinfo ENOTFOUND api.binance.com'), { exchange: 'binance' }) as NetworkError;
    expect(offline).toBeInstanceOf(NetworkError);
    const err = await startRun({
      config: cfg,
      live: true,
      db: join(dir, 'live', 'j.db'),
      env: { BALLAST_MAIN_API_KEY: 'k-0123456789abcdef', BALLAST_MAIN_API_SECRET: 's-0123456789abcdef' },
      liveFactory: async () => {
        throw offline;
      },
      logLevel: 'silent',
      out: () => {},
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBe(offline);
    const r = report(err);
    expect(r.code).toBe(2);
    expect(r.line).toBe('ballast: could not reach binance (NetworkError: GET https://api.binance.com/sapi/v1/account/apiRestrictions?[REDACTED] fetch failed: getaddrinfo ENOTFOUND api.binance.com); nothing was sent\n');
  });

  it('another instance holds the journal: its heartbeat in wall-clock time, not the replay clock', () => {
    const db = join(dir, 'lock.db');
    const replayClock = { now: () => Date.UTC(2020, 10, 13) };
    const a = new SqliteJournal(db, { clock: replayClock, instance: 'first' });
    const b = new SqliteJournal(db, { clock: replayClock, instance: 'second' });
    try {
      a.acquireLock('paper');
      let err: unknown = null;
      try {
        b.acquireLock('paper');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AccountLockedError);
      const msg = (err as Error).message;
      expect(msg).toMatch(/last heartbeat \d+ s ago, at 20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ\)/);
      expect(msg).not.toContain('2020-11-13');
      const r = report(err);
      expect(r.code).toBe(1);
      expect(r.line.split('\n').filter(Boolean)).toHaveLength(1);
    } finally {
      a.close();
      b.close();
    }
  });
});

describe('--allow-remote', () => {
  const run = (...a: string[]) => ['run', '--config', SERVICE, '--replay', '--until', '2020-08-25', '--speed', '0', '--db', join(dir, 'remote', `${a.length}.db`), '--api-port', '0', ...a];

  it('without it, a non-loopback address is refused naming the flag a user types', async () => {
    await mistake(
      run('--api-host', '0.0.0.0', '--log-level', 'silent'),
      'ballast: refusing to bind the API to 0.0.0.0: it would be reachable from other machines. Bind to 127.0.0.1 (the default), or pass --allow-remote — every request still needs the bearer token',
    );
  });

  it('with it, a warning at start that the API is reachable from the network', async () => {
    const r = await runCli(cli, run('--api-host', '0.0.0.0', '--allow-remote', '--log-level', 'silent'), { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^ballast: WARNING: the API listens on 0\.0\.0\.0:\d+ and is reachable from the network \(--allow-remote\); every request needs the bearer token, and the traffic is plain HTTP$/m);
  });
});

describe('output without float noise', () => {
  it('plan --json: money to 8 decimals, fractions to 14 — 0.36000000000000004 leaves as 0.36', async () => {
    const r = await runCli(cli, ['plan', '--config', FUTURES, '--snapshot', join(EX, 'snapshot.json'), '--json']);
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout) as { tpv: number; classes: { name: string; lower: number; upper: number; drift: number; spot: number }[] };
    const btc = p.classes.find((c) => c.name === 'BTC')!;
    expect(btc.lower).toBe(0.36);
    expect(btc.upper).toBe(0.44);
    expect(btc.drift).toBe(-0.015);
    expect(p.tpv).toBe(500_000);
    // no number in the money and weight fields carries more than 14 decimals
    for (const c of p.classes) for (const x of [c.lower, c.upper, c.drift, c.spot]) expect(String(x)).not.toMatch(/\.\d{15,}/);
  });
});
