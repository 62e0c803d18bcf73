/**
 * The service's other commands: the kill switch on a running service, `ballast journal`, `ballast snapshot`
 * (read back by `ballast plan`), `ballast sim-venue`, and the help text.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRun, type RunHandle } from '../../src/apps/cli/run.js';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import type { JournalEvent } from '../../src/ports/journal.js';
import { BIN, bundleCli, DATA, killStragglers, runCli, scratchDir, SEED_CONFIG, startVenue, type Cli } from './helpers.js';

let cli: Cli;
const scratch = scratchDir('ballast-cli-cmd-');
beforeAll(async () => {
  cli = await bundleCli();
}, 60_000);
afterAll(() => {
  killStragglers();
  cli?.dispose();
  scratch.remove();
});

async function waitFor(what: string, ok: () => boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('kill switch on a running service', () => {
  it('halt, reduce-only and resume from the command line are picked up at the next cycle, journaled with who and why', async () => {
    const db = join(scratch.dir, 'kill', 'journal.db');
    let h: RunHandle | null = null;
    try {
      h = await startRun({ config: SEED_CONFIG, replay: DATA, speed: 40, db, progress: false, out: () => {}, logLevel: 'silent' });
      const j = h.journal;
      const decisions = (): JournalEvent[] => j.events({ type: 'decision' });
      await waitFor('5 decisions', () => decisions().length >= 5);
      expect(decisions()[0]!.payload).toMatchObject({ status: 'ok', state: 'ACTIVE' });

      const halt = await runCli(cli, ['halt', '--db', db, '--reason', 'operator test: stop trading', '--by', 'tester']);
      expect(halt.code, halt.stderr).toBe(0);
      expect(halt.stdout).toMatch(/trading state ACTIVE → HALTED \(by tester: operator test: stop trading\)/);
      const haltedAt = j.events({ type: 'command' }).at(-1)!;
      expect(haltedAt.payload).toEqual({ command: 'halt', by: 'tester', reason: 'operator test: stop trading' });
      // The cycle in progress when the command lands may still carry the old state; the next ones may not.
      const since = (e: JournalEvent): JournalEvent[] => decisions().filter((d) => d.id > e.id).slice(1);
      await waitFor('a cycle after the halt', () => since(haltedAt).length >= 1);
      const intentsAtHalt = j.intents().length;
      await waitFor('3 cycles after the halt', () => since(haltedAt).length >= 3);
      for (const d of since(haltedAt)) expect(d.payload).toMatchObject({ status: 'halted', state: 'HALTED' });
      expect(j.intents().length).toBe(intentsAtHalt);
      expect(h.service.state()).toMatchObject({ state: 'HALTED', by: 'tester' });

      const reduce = await runCli(cli, ['reduce-only', '--db', db, '--reason', 'only reduce']);
      expect(reduce.code).toBe(0);
      const reducedAt = j.events({ type: 'command' }).at(-1)!;
      await waitFor('2 cycles after reduce-only', () => since(reducedAt).length >= 2);
      for (const d of since(reducedAt)) expect((d.payload as { state: string }).state).toBe('REDUCING');

      const resume = await runCli(cli, ['resume', '--db', db, '--reason', 'back to normal']);
      expect(resume.code).toBe(0);
      const resumedAt = j.events({ type: 'command' }).at(-1)!;
      await waitFor('2 cycles after resume', () => since(resumedAt).length >= 2);
      for (const d of since(resumedAt)) expect((d.payload as { state: string }).state).toBe('ACTIVE');
      const states = j.events({ type: 'state' }).map((e) => e.payload as { from?: string; to?: string; by?: string });
      expect(states.filter((s) => s.to).map((s) => `${s.from}→${s.to} ${s.by}`)).toEqual(['ACTIVE→HALTED tester', 'HALTED→REDUCING cli:' + (process.env['USER'] ?? 'operator'), 'REDUCING→ACTIVE cli:' + (process.env['USER'] ?? 'operator')]);

      const r = await h.stop('test done');
      expect(r).toMatchObject({ code: 0, finished: false, reason: 'stopped: test done' });
      h = null;
    } finally {
      await h?.stop();
    }

    const view = await runCli(cli, ['journal', '--db', db, '--limit', '400']);
    expect(view.code, view.stderr).toBe(0);
    expect(view.stdout).toMatch(/^trading state ACTIVE \(by cli:.*: back to normal\)/m);
    expect(view.stdout).toMatch(/command +halt by tester: operator test: stop trading/);
    expect(view.stdout).toMatch(/state +ACTIVE → HALTED by tester: operator test: stop trading/);
    expect(view.stdout).toMatch(/decision +halted .*\[HALTED\]/);
    expect(view.stdout).toMatch(/decision +ok — threshold: .*TPV 100,000\.00\n {4}· BTC is 0\.00% of \$100,000\.00 < lower trigger 36\.00%; to target 40\.00% add \$40,000\.00/);
    expect(view.stdout).toMatch(/order +paper +bl\w{16} ∅ → NEW {2}buy [\d.]+ BTC\/USDT limit @ [\d.]+/);
    expect(view.stdout).toMatch(/fill +paper +buy [\d.]+ BTC\/USDT at [\d.]+, fee [\d.]+ USDT {2}trade \d+ order bl/);
    const json = JSON.parse((await runCli(cli, ['journal', '--db', db, '--limit', '5', '--json'])).stdout) as { tradingState: { state: string }; events: unknown[]; summary: { decisions: number } };
    expect(json.tradingState.state).toBe('ACTIVE');
    expect(json.events).toHaveLength(5);
    expect(json.summary.decisions).toBeGreaterThan(10);
  }, 60_000);

  it('kill switch and journal on a missing journal: exit 2, nothing created', async () => {
    const db = join(scratch.dir, 'nothing', 'journal.db');
    for (const cmd of ['halt', 'journal']) {
      const r = await runCli(cli, [cmd, '--db', db]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/no journal at .*nothing\/journal\.db/);
    }
    expect(existsSync(db)).toBe(false);
  });
});

describe('ballast snapshot', () => {
  it('writes the plan format from the simulated venue on the bundled history; `ballast plan` reads it', async () => {
    const out = join(scratch.dir, 'snap', 'snapshot.json');
    const r = await runCli(cli, ['snapshot', '--config', SEED_CONFIG, '--replay', DATA, '--at', '2021-01-01', '--capital', '50000', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const snap = JSON.parse(readFileSync(out, 'utf8')) as { time: string; prices: Record<string, number>; accounts: Array<{ name: string; balances: Record<string, number> }>; markets: Record<string, unknown>; timestamps: Record<string, string> };
    expect(snap.time).toBe('2021-01-01T00:00:00.000Z');
    expect(snap.accounts).toEqual([{ name: 'paper', balances: { USDT: 50_000 }, positions: [] }]);
    expect(Object.keys(snap.prices).sort()).toEqual(['ADA', 'BTC', 'DOT', 'ETH', 'SOL']);
    expect(snap.prices['BTC']).toBe(28923.63); // the 2020-12-31 close
    expect(snap.markets['BTC/USDT']).toMatchObject({ minNotional: 5 });
    expect(snap.timestamps['BTC']).toBe('2021-01-01T00:00:00.000Z');
    const plan = await runCli(cli, ['plan', '--config', SEED_CONFIG, '--snapshot', out, '--json']);
    expect(plan.code, plan.stderr).toBe(0);
    const p = JSON.parse(plan.stdout) as { status: string; tpv: number; actions: Array<{ symbol: string; side: string }> };
    expect(p.status).toBe('ok');
    expect(p.tpv).toBe(50_000);
    expect(p.actions.map((a) => `${a.side} ${a.symbol}`)).toEqual(expect.arrayContaining(['buy BTC/USDT', 'buy ETH/USDT']));
  }, 30_000);

  it('from a running sim-venue (--venue URL)', async () => {
    const venue = await startVenue(cli, ['--config', SEED_CONFIG, '--state', join(scratch.dir, 'snapvenue', 'venue.json'), '--replay', DATA, '--capital', '1234']);
    try {
      const remote = new RemoteExchange({ url: venue.url });
      expect((await remote.info()).speed).toBe(0);
      expect((await remote.schedule())[0]).toBe(Date.UTC(2020, 7, 19));
      const r = await runCli(cli, ['snapshot', '--config', SEED_CONFIG, '--venue', venue.url]);
      expect(r.code, r.stderr).toBe(0);
      const snap = JSON.parse(r.stdout) as { time: string; accounts: Array<{ balances: Record<string, number> }> };
      expect(snap.time).toBe('2020-08-19T00:00:00.000Z');
      expect(snap.accounts[0]!.balances).toEqual({ USDT: 1234 });
    } finally {
      await venue.stop();
    }
  }, 30_000);
});

describe('help text', () => {
  it('lists the service commands and the run flags (through the real bin/ballast.js)', async () => {
    const top = await runCli(BIN, ['--help']);
    expect(top.code).toBe(0);
    for (const c of ['run', 'sim-venue', 'snapshot', 'journal', 'halt', 'reduce-only', 'resume']) expect(top.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    const run = await runCli(BIN, ['run', '--help']);
    expect(run.code).toBe(0);
    for (const f of ['--paper', '--live', '--replay [dir]', '--speed <n>', '--db <file>', '--venue <url>', '--until <date>', '--log-level <level>']) expect(run.stdout).toContain(f);
    expect(run.stdout).toMatch(/Exit codes: 0 done or stopped, 1 runtime failure [\s\S]*, 2 bad input/);
    expect(run.stdout).toContain('docs/running.md');
  }, 30_000);
});
