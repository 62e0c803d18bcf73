/**
 * Attaches the HTTP API and dashboard to a started `ballast run` (its `onStarted` hook).
 * The API module (fastify, esbuild) is imported only when the API is wanted.
 *
 * "Rebalance now" marks the service's next cycle as a manual rebalance and wakes the run's loop: the run
 * stays the only thing that runs cycles (a replay runs one per bar; a live loop is woken at once).
 */
import { LiveSnapshotSource } from '../../adapters/feed/live.js';
import { ApiConfigError, isLoopback } from '../api/auth.js';
import { UsageError } from './errors.js';
import type { Cleanup, RunHandle } from './run.js';

export interface AttachApiOptions {
  host: string;
  port: number;
  allowRemote: boolean;
  tokenFile: string;
  /** Where the dashboard URL (with its token) is printed: the terminal, never the log. */
  out: (line: string) => void;
}

export async function attachApi(h: RunHandle, o: AttachApiOptions): Promise<Cleanup> {
  const { startApi } = await import('../api/server.js');
  const api = await startApi({
    service: h.service,
    journal: h.journal,
    portfolio: h.portfolio,
    mode: h.mode === 'live' ? 'live' : h.mode === 'replay' ? 'replay' : 'paper',
    host: o.host,
    port: o.port,
    allowRemote: o.allowRemote,
    tokenFile: o.tokenFile,
    log: h.logger,
    clock: h.clock,
    ...(h.source instanceof LiveSnapshotSource ? { feed: h.source } : {}),
    rebalanceNow: async () => {
      h.cycleNow();
      return null;
    },
  }).catch((e: unknown) => {
    // The CLI's name for the library's `allowRemote` option is the flag a user types.
    if (e instanceof ApiConfigError) throw new UsageError(e.message.replace('the explicit remote flag (allowRemote)', '--allow-remote'));
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new UsageError(`the API cannot listen on ${o.host}:${o.port}: the port is in use (another ballast run?); choose one with --api-port, or --no-api`);
    }
    throw e;
  });
  if (o.allowRemote && !isLoopback(o.host)) {
    const warning = `WARNING: the API listens on ${o.host}:${api.url.slice(api.url.lastIndexOf(':') + 1)} and is reachable from the network (--allow-remote); every request needs the bearer token, and the traffic is plain HTTP`;
    h.logger.warn({ host: o.host }, warning);
    process.stderr.write(`ballast: ${warning}\n`);
  }
  o.out(`dashboard: ${api.dashboardUrl}`);
  o.out(`API: ${api.url} (bearer token in ${api.tokenFile})`);
  h.logger.info({ url: api.url, tokenFile: api.tokenFile }, 'HTTP API listening');
  return () => api.close();
}
