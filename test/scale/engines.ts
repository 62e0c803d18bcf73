/**
 * Real PostgreSQL and Redis for the tests and benches: installed by scripts/setup-services.sh when missing
 * (Debian packages), then started here on a free loopback port in a temporary directory, and stopped by pid.
 * Nothing is assumed to be running and nothing outside the temporary directory is touched.
 *
 *   const pg = await startPostgres();   // pg.url = postgres://ballast@127.0.0.1:PORT/ballast
 *   const redis = await startRedis();   // redis.url = redis://127.0.0.1:PORT; redis.restart() keeps the port
 *   await pg.stop(); await redis.stop();
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root: the nearest folder above this file with scripts/setup-services.sh (this file also runs bundled into out/ by the benches). */
function repoRoot(): string {
  for (let dir = import.meta.dirname; ; dir = resolve(dir, '..')) {
    if (existsSync(join(dir, 'scripts', 'setup-services.sh'))) return dir;
    if (resolve(dir, '..') === dir) throw new Error(`no scripts/setup-services.sh above ${import.meta.dirname}`);
  }
}
const ROOT = repoRoot();

function ensureInstalled(): void {
  const r = spawnSync(join(ROOT, 'scripts/setup-services.sh'), { stdio: ['ignore', 'inherit', 'inherit'], timeout: 1_200_000 });
  if (r.status !== 0) throw new Error(`scripts/setup-services.sh failed (exit ${r.status}): PostgreSQL and Redis are needed by this test`);
}

function pgBin(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = `/usr/lib/postgresql/${v}/bin`;
    if (existsSync(join(dir, 'pg_ctl'))) return dir;
  }
  throw new Error('no /usr/lib/postgresql/*/bin/pg_ctl');
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

async function waitGone(pid: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > until) {
      process.kill(pid, 'SIGKILL');
      return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface LocalPostgres {
  url: string;
  port: number;
  pid: number;
  /** A fresh database on the same server (isolation between suites or tests). */
  createDatabase(name: string): string;
  stop(): Promise<void>;
}

/** initdb + pg_ctl start in a temporary directory (as the `postgres` user when running as root). */
export async function startPostgres(): Promise<LocalPostgres> {
  ensureInstalled();
  const bin = pgBin();
  const dir = mkdtempSync(join(tmpdir(), 'ballast-pg-'));
  const data = join(dir, 'data');
  const root = process.getuid?.() === 0;
  const asOwner = (cmd: string, args: string[]) =>
    root ? execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' }) : execFileSync(cmd, args, { stdio: 'pipe' });
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chmodSync(dir, 0o700);
    chownSync(dir, uid, gid);
  }
  asOwner(join(bin, 'initdb'), ['-D', data, '-U', 'ballast', '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  const port = await freePort();
  asOwner(join(bin, 'pg_ctl'), [
    '-D',
    data,
    '-l',
    join(dir, 'log'),
    '-w',
    '-t',
    '60',
    '-o',
    `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=300 -c shared_buffers=32MB`,
    'start',
  ]);
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const psql = (db: string, sql: string) => asOwner(join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'ballast', '-d', db, '-v', 'ON_ERROR_STOP=1', '-q', '-c', sql]);
  psql('postgres', 'CREATE DATABASE ballast');
  const urlOf = (db: string) => `postgres://ballast@127.0.0.1:${port}/${db}`;
  return {
    url: urlOf('ballast'),
    port,
    pid,
    createDatabase(name: string) {
      psql('postgres', `CREATE DATABASE "${name}"`);
      return urlOf(name);
    },
    async stop() {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        // already gone
      }
      await waitGone(pid, 20_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface LocalRedis {
  url: string;
  port: number;
  pid(): number;
  /** Stop and start again on the same port (the data is gone: no persistence, as configured). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** `persistent`: append-only file with fsync per write (what BullMQ asks for in production), so a restart keeps the queue. */
export async function startRedis(o: { persistent?: boolean } = {}): Promise<LocalRedis> {
  ensureInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'ballast-redis-'));
  const port = await freePort();
  const pidfile = join(dir, 'redis.pid');
  let pid = 0;
  const start = async () => {
    execFileSync('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--daemonize', 'yes', '--pidfile', pidfile, '--save', '', ...(o.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']), '--dir', dir, '--logfile', join(dir, 'log')], {
      stdio: 'pipe',
    });
    const until = Date.now() + 10_000;
    while (!existsSync(pidfile)) {
      if (Date.now() > until) throw new Error(`redis-server did not start on port ${port}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    pid = Number(readFileSync(pidfile, 'utf8').trim());
    // ready when it answers PING
    for (;;) {
      const r = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' });
      if (r.stdout?.trim() === 'PONG') break;
      if (Date.now() > until) throw new Error(`redis-server on port ${port} does not answer`);
      await new Promise((r2) => setTimeout(r2, 20));
    }
  };
  const halt = async () => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
    await waitGone(pid, 10_000);
    rmSync(pidfile, { force: true });
  };
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: () => pid,
    async restart() {
      await halt();
      await start();
    },
    async stop() {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
