/**
 * Running the real `ballast` binary in tests.
 *
 * `bundleCli()` starts the CLI's esbuild bundle directly (the one `bin/ballast.js` runs, from
 * scripts/bundle-cli.js), skipping the binary's check of the sources: the crash test starts hundreds of
 * processes. `runCli` runs a command to its end; `startCli` keeps it running (for `sim-venue`, or a run a
 * test stops with a signal).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliBundle } from '../../scripts/bundle-cli.js';

export const REPO = resolve(fileURLToPath(new URL('../../', import.meta.url)));
export const DATA = join(REPO, 'data');
export const SEED_CONFIG = join(REPO, 'examples', 'backtest', 'portfolio.yaml');

export interface Cli {
  /** `node` arguments that start the CLI (before the command's own). */
  argv: string[];
  dispose(): void;
}

/** A folder for test files: on tmpfs when the machine has one (fsync is free there; kill -9 keeps the page cache). */
export function scratchDir(prefix: string): { dir: string; remove: () => void } {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const dir = mkdtempSync(join(base, prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function bundleCli(): Promise<Cli> {
  return { argv: [await cliBundle()], dispose: () => {} };
}

/** The CLI through its real binary, exactly as users run it. */
export const BIN: Cli = { argv: [join(REPO, 'bin', 'ballast.js')], dispose: () => {} };

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  timeoutMs?: number;
}

function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' };
  for (const k of Object.keys(env)) if (k.startsWith('BALLAST_')) delete env[k];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Children still running (killed by `killStragglers` after a failed test). */
const running = new Set<ChildProcess>();

/** SIGKILL every child this test file started that is still running (each by its own pid). */
export function killStragglers(): void {
  for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  running.clear();
}

export function startCli(cli: Cli, args: string[], o: CliOptions = {}): ChildProcess & { output: () => { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [...cli.argv, ...args], { cwd: o.cwd ?? REPO, env: childEnv(o.env), stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return Object.assign(child, { output: () => ({ stdout, stderr }) });
}

export function runCli(cli: Cli, args: string[], o: CliOptions = {}): Promise<CliResult> {
  const child = startCli(cli, args, o);
  return new Promise((resolveRun, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ballast ${args.join(' ')} did not finish within ${o.timeoutMs ?? 60_000} ms:\n${child.output().stderr.slice(-3000)}`));
    }, o.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, ...child.output() });
    });
  });
}

/** A running `ballast sim-venue`: its URL once it listens. */
export async function startVenue(cli: Cli, args: string[], o: CliOptions = {}): Promise<{ child: ChildProcess; url: string; stop: () => Promise<void> }> {
  const child = startCli(cli, ['sim-venue', ...args], o);
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`sim-venue did not start: ${child.output().stderr}`)), o.timeoutMs ?? 30_000);
    child.stdout!.on('data', () => {
      const m = /listening (http:\/\/\S+)/.exec(child.output().stdout);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sim-venue exited (${code}): ${child.output().stderr}`));
    });
  });
  const stop = (): Promise<void> =>
    new Promise((r) => {
      if (child.exitCode !== null || child.signalCode !== null) return r();
      child.once('exit', () => r());
      child.kill('SIGTERM');
    });
  return { child, url, stop };
}

export function ensureDir(d: string): string {
  mkdirSync(d, { recursive: true });
  return d;
}
