/**
 * An API over an in-process service: the seed's first portfolio (BTC 50% ± 5 / Stablecoins 50% ± 5) on the
 * SimExchange with a SQLite journal (test/execution/helpers.ts `world`), one cycle run (BTC at 58%: it sells
 * $8,000 of BTC), then the API on a free loopback port with a token file in a temp dir. The log is captured
 * raw (not through the scrubbing logger), so a token that reached it would be seen.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApi, type ApiOptions, type ApiServer } from '../../src/apps/api/server.js';
import type { Service, ServiceLog } from '../../src/service/service.js';
import { world, type World } from '../execution/helpers.js';

export interface ApiWorld {
  w: World;
  service: Service;
  api: ApiServer;
  token: string;
  tokenFile: string;
  dir: string;
  /** Every log line, as JSON text. */
  logs: string[];
  get(path: string, token?: string | null, headers?: Record<string, string>): Promise<Response>;
  post(path: string, body?: unknown, token?: string | null, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

export function captureLog(lines: string[]): ServiceLog {
  const put = (level: string) => (obj: object, msg?: string) => {
    const o = obj as Record<string, unknown>;
    const plain = Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v instanceof Error ? { message: v.message, stack: v.stack } : v]));
    lines.push(JSON.stringify({ level, ...plain, msg }));
  };
  return { info: put('info'), warn: put('warn'), error: put('error') };
}

export async function apiWorld(o: { cycles?: number; api?: Partial<ApiOptions>; worldOptions?: Parameters<typeof world>[0]; before?: (w: World) => Promise<void> } = {}): Promise<ApiWorld> {
  const w = world(o.worldOptions);
  await o.before?.(w);
  const service = w.service();
  await service.start({ loop: false });
  for (let i = 0; i < (o.cycles ?? 1); i++) {
    await service.runOnce();
    w.clock.advance(60_000);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ballast-api-test-'));
  const tokenFile = join(dir, 'state', 'api-token');
  const logs: string[] = [];
  const api = await startApi({
    service,
    journal: service.journal,
    portfolio: w.portfolio,
    mode: 'paper',
    port: 0,
    tokenFile,
    clock: w.clock,
    log: captureLog(logs),
    dashboard: false,
    pollMs: 50,
    ...o.api,
  });
  const token = readFileSync(tokenFile, 'utf8').trim();
  const auth = (t: string | null | undefined): Record<string, string> => (t === null ? {} : { authorization: `Bearer ${t ?? token}` });
  return {
    w,
    service,
    api,
    token,
    tokenFile,
    dir,
    logs,
    get: (path, t, headers = {}) => fetch(api.url + path, { headers: { ...auth(t), ...headers } }),
    post: (path, body, t, headers = {}) =>
      fetch(api.url + path, {
        method: 'POST',
        headers: { ...auth(t), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      }),
    async close() {
      await api.close();
      try {
        service.journal.close();
      } catch {
        // already closed
      }
      w.cleanup();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every read endpoint with a query that exercises its filters. */
export const READ_ENDPOINTS = [
  '/api/status',
  '/api/portfolio',
  '/api/plan',
  '/api/history',
  '/api/history?since=0&maxPoints=10',
  '/api/hedges',
  '/api/hedges?open=true',
  '/api/orders',
  '/api/orders?live=true',
  '/api/orders?state=FILLED,CANCELED',
  '/api/fills',
  '/api/fills?external=false&limit=5',
  '/api/journal',
  '/api/journal?type=snapshot,decision,command,alert&limit=50',
  '/api/funding',
  '/metrics',
];
