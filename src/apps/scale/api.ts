/**
 * `GET /api/portfolios` of `ballast serve`: every stored portfolio with its TPV, worst drift (weight −
 * target) and its class, distance to the nearest band edge (> 0: outside), trading state and last cycle —
 * from the monitor (holdings as of each portfolio's last cycle, valued at the feed's latest prices) and the
 * journal. Same rules as the single-portfolio API: 127.0.0.1, `Authorization: Bearer <token>` (token file
 * 0600, compared in constant time), read-only. `?sort=drift` puts the largest |drift| first.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { bearerOf, loadOrCreateToken, tokenMatches } from '../api/auth.js';
import type { Monitor } from '../../core/monitor.js';
import type { PortfolioListing } from '../../adapters/scale/portfolios.js';

export interface PortfolioRow extends PortfolioListing {
  tpv: number | null;
  worstDrift: { class: string; drift: number } | null;
  /** Largest distance outside a band (> 0) or the room left inside (< 0), in weight points. */
  bandDistance: number | null;
}

export function portfolioRows(list: PortfolioListing[], m: Monitor | null): PortfolioRow[] {
  const at = new Map(m ? m.ids.map((id, i) => [id, i]) : []);
  return list.map((r) => {
    const p = at.get(r.name);
    if (m === null || p === undefined) return { ...r, tpv: null, worstDrift: null, bandDistance: null };
    const tpv = m.tpv[p]!;
    let worst: { class: string; drift: number } | null = null;
    for (let c = m.classStart[p]!; c < m.classStart[p + 1]!; c++) {
      const drift = (tpv > 0 ? m.classExposure[c]! / tpv : 0) - (m.classLower[c]! + m.classUpper[c]!) / 2;
      if (worst === null || Math.abs(drift) > Math.abs(worst.drift)) worst = { class: m.classNames[c]!, drift };
    }
    return { ...r, tpv, worstDrift: worst, bandDistance: m.distance[p]! };
  });
}

export interface PortfoliosApi {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function startPortfoliosApi(o: { port: number; host?: string; tokenFile: string; rows: () => PortfolioRow[] }): Promise<PortfoliosApi> {
  const { token } = loadOrCreateToken(o.tokenFile);
  const app = Fastify({ logger: false });
  app.addHook('onRequest', async (req, reply) => {
    const presented = bearerOf(req.headers.authorization);
    if (presented === null || !tokenMatches(presented, token)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="ballast"').send({ error: 'unauthorized', message: 'send the API token as "Authorization: Bearer <token>"' });
    }
  });
  app.get('/api/portfolios', async (req) => {
    const rows = o.rows();
    if ((req.query as { sort?: string }).sort === 'drift') rows.sort((a, b) => Math.abs(b.worstDrift?.drift ?? 0) - Math.abs(a.worstDrift?.drift ?? 0));
    return { portfolios: rows };
  });
  const host = o.host ?? '127.0.0.1';
  await app.listen({ port: o.port, host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  return { url: `http://${host}:${port}`, app, close: () => app.close() };
}
