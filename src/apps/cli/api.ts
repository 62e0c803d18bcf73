/**
 * Attaches the HTTP API and dashboard to a started `ballast run` (its `onStarted` hook).
 * The API module (fastify, esbuild) is imported only when the API is wanted.
 *
 * "Rebalance now" marks the service's next cycle as a manual rebalance and wakes the run's loop: the run
 * stays the only thing that runs cycles (a replay runs one per bar; a live loop is woken at once).
 */
import { LiveSnapshotSource } from '../../adapters/feed/live.js';
import { ApiConfigError } from '../api/auth.js';
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
    if (e instanceof ApiConfigError) throw new UsageError(e.message);
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new UsageError(`the API cannot listen on ${o.host}:${o.port}: the port is in use (another ballast run?); choose one with --api-port, or --no-api`);
    }
    throw e;
  });
  o.out(`dashboard: ${api.dashboardUrl}`);
  o.out(`API: ${api.url} (bearer token in ${api.tokenFile})`);
  h.logger.info({ url: api.url, tokenFile: api.tokenFile }, 'HTTP API listening');
  return () => api.close();
}
