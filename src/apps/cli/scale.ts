/**
 * The many-portfolio commands (docs/scale.md):
 *
 *   ballast portfolios add FILE --db postgres://… [--name N] [--venue ACCOUNT=URL …] [--replace]
 *   ballast portfolios list|show NAME|remove NAME --db postgres://…
 *   ballast portfolios rebalance NAME --db postgres://… --redis redis://…     (queue a manual cycle)
 *   ballast serve  --db postgres://… --redis redis://… [--check-every S] [--feed-every S]
 *   ballast worker --db postgres://… --redis redis://… [--concurrency N]
 *
 * This file only parses flags and prints; the work is in src/apps/scale/.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { Command, InvalidArgumentError } from '@commander-js/extra-typings';
import { isPostgresUrl } from '../../adapters/journal/open.js';
import { PortfolioStore, PortfolioStoreError, type AccountBinding } from '../../adapters/scale/portfolios.js';
import { createLogger } from '../../adapters/log.js';
// BullMQ, ioredis and the scale apps load only when a scale command runs: every other command starts as fast as before.
import { UsageError } from './errors.js';
import { CRASH_ENV, crashHookFromSpec } from './run.js';

interface Ctx {
  code: number;
}

function pgUrl(v: string): string {
  if (!isPostgresUrl(v)) throw new InvalidArgumentError(`expected a postgres://user@host:port/db URL, got "${v}" (portfolios live in the Postgres journal)`);
  return v;
}

function redisUrl(v: string): string {
  if (!/^rediss?:\/\/[^\s]+$/.test(v)) throw new InvalidArgumentError(`expected a redis://host:port URL, got "${v}"`);
  return v;
}

function port(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new InvalidArgumentError(`${what} must be a TCP port in [1, 65535], got "${v}"`);
    return n;
  };
}

function positiveInt(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new InvalidArgumentError(`${what} must be an integer in [1, 10000], got "${v}"`);
    return n;
  };
}

function seconds(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a number of seconds > 0, got "${v}"`);
    return n;
  };
}

function binding(v: string, prev: Record<string, AccountBinding> = {}): Record<string, AccountBinding> {
  const m = /^([^=\s]+)=(\S+)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`expected ACCOUNT=URL, got "${v}"`);
  return { ...prev, [m[1]!]: { venue: m[2]! } };
}

function withStore<T>(db: string, fn: (s: PortfolioStore) => T): T {
  const s = new PortfolioStore(db);
  try {
    return fn(s);
  } catch (e) {
    if (e instanceof PortfolioStoreError) throw new UsageError(e.message);
    throw e;
  } finally {
    s.close();
  }
}

const iso = (t: number | null | undefined) => (t === null || t === undefined ? '—' : new Date(t).toISOString().replace('.000Z', 'Z'));

export function addScaleCommands(program: Command, out: (s: string) => void, ctx: Ctx, untilSignal: () => Promise<void>): void {
  const portfolios = program.command('portfolios').description('Portfolios as data in the Postgres journal: add, list, show, remove, rebalance (docs/scale.md).');

  portfolios
    .command('add')
    .description('Validate a portfolio file and store it with its account bindings.')
    .argument('<file>', 'portfolio file (YAML or JSON)')
    .requiredOption('--db <url>', 'postgres://… journal', pgUrl)
    .option('--name <name>', 'portfolio name (default: the file name without extension)')
    .option('--venue <account=url>', 'bind an account to a running simulated venue (repeatable)', binding, {} as Record<string, AccountBinding>)
    .option('--replace', 'replace a stored portfolio of the same name')
    .action((file, o) => {
      let source: string;
      try {
        source = readFileSync(file, 'utf8');
      } catch (e) {
        throw new UsageError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      const name = o.name ?? basename(file, extname(file));
      const p = withStore(o.db, (s) => s.add({ name, source, fileName: file, bindings: o.venue, time: Date.now(), replace: o.replace === true }));
      out(`portfolio ${name} stored: ${p.classes.length} classes (${p.classes.map((c) => c.name).join(', ')}), accounts ${Object.keys(o.venue).join(', ') || '(none bound)'}`);
    });

  portfolios
    .command('list')
    .description('Every stored portfolio: accounts, trading state, last cycle.')
    .requiredOption('--db <url>', 'postgres://… journal', pgUrl)
    .option('--json', 'print JSON')
    .action((o) => {
      const rows = withStore(o.db, (s) => s.list());
      if (o.json) return out(JSON.stringify(rows, null, 2));
      if (rows.length === 0) return out('no portfolios (add one with `ballast portfolios add FILE --db …`)');
      out(['name', 'classes', 'accounts', 'state', 'last cycle'].join('\t'));
      for (const r of rows) {
        out([r.name, r.classes, r.accounts.join(','), r.state, r.lastCycle ? `#${r.lastCycle.id} ${r.lastCycle.status} ${iso(r.lastCycle.startedAt)}` : '—'].join('\t'));
      }
    });

  portfolios
    .command('show')
    .description('One stored portfolio: its file and bindings.')
    .argument('<name>')
    .requiredOption('--db <url>', 'postgres://… journal', pgUrl)
    .action((name, o) => {
      const p = withStore(o.db, (s) => s.get(name));
      if (!p) throw new UsageError(`no portfolio named ${name}`);
      out(`# portfolio ${p.name} (${p.format}), added ${iso(p.createdAt)}, updated ${iso(p.updatedAt)}`);
      out(`# bindings: ${JSON.stringify(p.bindings)}`);
      out(p.source.trimEnd());
    });

  portfolios
    .command('remove')
    .description('Remove a stored portfolio (its journal rows stay, as its history).')
    .argument('<name>')
    .requiredOption('--db <url>', 'postgres://… journal', pgUrl)
    .action((name, o) => {
      if (!withStore(o.db, (s) => s.remove(name))) throw new UsageError(`no portfolio named ${name}`);
      out(`portfolio ${name} removed`);
    });

  portfolios
    .command('rebalance')
    .description('Queue a manual rebalance cycle for a portfolio (a worker runs it).')
    .argument('<name>')
    .requiredOption('--db <url>', 'postgres://… journal', pgUrl)
    .requiredOption('--redis <url>', 'redis://…', redisUrl)
    .action(async (name, o) => {
      if (!withStore(o.db, (s) => s.get(name))) throw new UsageError(`no portfolio named ${name}`);
      const { CycleQueue } = await import('../scale/queue.js');
      const q = new CycleQueue(o.redis);
      try {
        const t = Date.now();
        out(`queued ${await q.enqueue(name, 'manual', t, t)}`);
      } finally {
        await q.close();
      }
    });

  program
    .command('serve')
    .description('The shared feed, the monitor and the scheduler for every stored portfolio (workers run the cycles).')
    .requiredOption('--db <url>', 'postgres://… journal', pgUrl)
    .requiredOption('--redis <url>', 'redis://…', redisUrl)
    .option('--check-every <seconds>', 'calendar check of every portfolio', seconds('--check-every'), 3600)
    .option('--feed-every <seconds>', 'shared feed poll', seconds('--feed-every'), 5)
    .option('--cooldown <seconds>', 'a portfolio gets at most one monitor cycle per cooldown', seconds('--cooldown'), 60)
    .option('--api-port <port>', '`GET /api/portfolios` on 127.0.0.1 (token in --token-file)', port('--api-port'), 8788)
    .option('--token-file <file>', 'API bearer token (created 0600 when missing)', '.ballast/api-token')
    .option('--log-level <level>', 'log level', 'info')
    .action(async (o) => {
      const log = createLogger({ level: o.logLevel as 'info' });
      const { startServe } = await import('../scale/serve.js');
      const h = await startServe({ db: o.db, redis: o.redis, checkEveryMs: o.checkEvery * 1000, feedEveryMs: o.feedEvery * 1000, cooldownMs: o.cooldown * 1000, log, api: { port: o.apiPort, tokenFile: o.tokenFile } });
      log.info({ portfolios: h.monitor()?.ids.length ?? 0, api: `${h.api?.url}/api/portfolios` }, 'serve started: start-up cycles queued');
      // the token goes to the terminal only, never to a log
      if (h.api) out(`dashboard ${h.api.dashboardUrl}`);
      await untilSignal();
      await h.close();
      ctx.code = 0;
    });

  program
    .command('worker')
    .description('Run portfolio cycles from the queue (any number of workers, on any machine).')
    .requiredOption('--db <url>', 'postgres://… journal', pgUrl)
    .requiredOption('--redis <url>', 'redis://…', redisUrl)
    .option('--concurrency <n>', 'cycles at once in this process', positiveInt('--concurrency'), 4)
    .option('--lock-ttl <seconds>', 'account lock lifetime (renewed while a cycle runs; a dead worker frees its accounts after it)', seconds('--lock-ttl'), 30)
    .option('--log-level <level>', 'log level', 'info')
    .action(async (o) => {
      const log = createLogger({ level: o.logLevel as 'info' });
      const crash = crashHookFromSpec(process.env[CRASH_ENV]);
      const { startWorker } = await import('../scale/worker.js');
      const h = await startWorker({ db: o.db, redis: o.redis, concurrency: o.concurrency, lockTtlMs: o.lockTtl * 1000, log, ...(crash ? { crash } : {}) });
      log.info({ worker: h.id, concurrency: o.concurrency }, 'worker started');
      await untilSignal();
      await h.close();
      ctx.code = 0;
    });
}
