/**
 * Start what the dashboard test looks at, the way a user does: `ballast run --replay` on the bundled history,
 * as a child process, with its HTTP API on a free loopback port, kept serving once the replay has ended.
 *
 * The slice: the seed's four classes (test/browser/portfolio.yaml), $100,000 at target on 2024-01-01, checked
 * weekly (hybrid), replayed day by day up to the close of 2024-03-04. By then ballast has rebalanced three
 * times; the last cycle (Tuesday 2024-03-05 00:00, the cash class below its band) trades — it sells ETH and
 * opens a BTC short hedge (BTC's spot weight is outside its inner band) — so the end state is the one after
 * those fills.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../src/apps/cli/main.js';

export interface RunningServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** URL with `#token=…` */
  dashboardUrl: string;
  token: string;
  /** The journal database the service writes. */
  db: string;
  /** Everything the process printed (stdout and stderr), for the no-secret checks. */
  output(): string;
  close(): Promise<void>;
}

export const REPLAY_FROM = Date.UTC(2024, 0, 1);
export const REPLAY_UNTIL = Date.UTC(2024, 2, 11);

export async function startServer(): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ballast-dash-'));
  const tokenFile = join(dir, 'api-token');
  const args = [
    join(ROOT, 'bin', 'ballast.js'), 'run',
    '--config', join(ROOT, 'test', 'browser', 'portfolio.yaml'),
    '--replay', join(ROOT, 'data'),
    '--from', '2024-01-01', '--until', '2024-03-05', '--speed', '0',
    '--db', join(dir, 'journal.db'),
    '--api-port', '0', '--api-token-file', tokenFile,
    '--keep-serving', '--log-level', 'warn',
  ];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString('utf8')));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString('utf8')));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));

  // Wait for the dashboard URL and the end of the replay.
  const deadline = Date.now() + 90_000;
  while (!/replay finished; serving the dashboard/.test(out)) {
    if (child.exitCode !== null) throw new Error(`ballast run exited with ${child.exitCode}:\n${out.slice(-3000)}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`ballast run did not finish its replay in time:\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+)\/#token=(\S+)/.exec(out);
  if (!m) throw new Error(`no dashboard URL printed:\n${out.slice(-3000)}`);
  const token = readFileSync(tokenFile, 'utf8').trim();
  return {
    url: m[1]!,
    dashboardUrl: `${m[1]}/#token=${m[2]}`,
    token,
    db: join(dir, 'journal.db'),
    output: () => out,
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000))]);
        if (code === 'timeout') child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
