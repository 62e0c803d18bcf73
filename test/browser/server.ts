/**
 * Start the thing the dashboard test looks at: ballast's API and dashboard over a replayed slice of the bundled
 * history, with a class in breach at the end. One function, so it is easy to swap for a spawned
 * `ballast run --replay` later (it only has to return the URLs and the token and a way to stop).
 *
 * The slice: the seed's four classes (test/browser/portfolio.yaml), $100,000 at target on 2024-01-01, checked
 * weekly (hybrid), replayed day by day up to the close of 2024-03-11. By then ballast has rebalanced several
 * times with short futures hedges (opened, unwound, funding received), holds an open ETH short hedge (ETH spot
 * ~34%, net 30.1%), and the cash class is below its band (11.8% < 12%), waiting for the next weekly check.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApi } from '../../src/apps/api/server.js';
import { replayWorld } from './replay.js';

export interface RunningServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** URL with `#token=…` */
  dashboardUrl: string;
  token: string;
  close(): Promise<void>;
}

export const REPLAY_FROM = Date.UTC(2024, 0, 1);
export const REPLAY_UNTIL = Date.UTC(2024, 2, 12);

export async function startServer(): Promise<RunningServer> {
  const world = await replayWorld({ from: REPLAY_FROM, to: Date.UTC(2024, 3, 1) });
  await world.runUntil(REPLAY_UNTIL);
  const dir = mkdtempSync(join(tmpdir(), 'ballast-api-'));
  const tokenFile = join(dir, 'api-token');
  const api = await startApi({
    service: world.service,
    journal: world.journal,
    portfolio: world.portfolio,
    mode: 'replay',
    port: 0,
    tokenFile,
    clock: world.clock,
    pollMs: 200,
  });
  return {
    url: api.url,
    dashboardUrl: api.dashboardUrl,
    token: readFileSync(tokenFile, 'utf8').trim(),
    async close() {
      await api.close();
      await world.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
