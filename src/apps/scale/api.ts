/**
 * `GET /api/portfolios` of `ballast serve`: every stored portfolio with its TPV, worst drift (weight −
 * target) and its class, distance to the nearest band edge (> 0: outside), trading state and last cycle —
 * from the monitor (holdings as of each portfolio's last cycle, valued at the feed's latest prices) and the
 * journal. Same rules as the single-portfolio API: 127.0.0.1, `Authorization: Bearer <token>` (token file
 * 0600, compared in constant time). `?sort=drift` puts the largest |drift| first.
 *
 * With `views`, the dashboard too: `/` is the portfolio list (src/apps/web/portfolios.ts, sortable, each name a
 * link), `/p/NAME/` the single-portfolio dashboard of `ballast run` for that portfolio, its API under
 * `/p/NAME/api/…` (./views.ts: the same read model over the Postgres journal; halt / reduce-only / resume
 * write the portfolio's trading state, rebalance-now queues a manual cycle). The files hold no data and are
 * served without the token; every /api/ call needs it.
 */
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { registerSecret, scrub } from '../../adapters/log.js';
import type { TradingState } from '../../core/types.js';
import type { ServiceLog } from '../../service/service.js';
import { bearerOf, loadOrCreateToken, tokenMatches } from '../api/auth.js';
import { bundleDashboard, unavailablePage, type DashboardAsset } from '../api/dashboard.js';
import type { ReadModel } from '../api/read-model.js';
import { commandBody, emptyQuery, fillsQuery, firstProblem, fundingQuery, hedgesQuery, historyQuery, journalQuery, ordersQuery } from '../api/schemas.js';
import { CSP, SECURITY_HEADERS } from '../api/server.js';
import { setTradingStateCommand } from '../cli/journal-view.js';
import type { PortfolioViews } from './views.js';
import type { Monitor } from '../../core/monitor.js';
import type { PortfolioListing } from '../../adapters/scale/portfolios.js';

export interface PortfolioRow extends PortfolioListing {
  tpv: number | null;
  worstDrift: { class: string; drift: number } | null;
  /** Largest distance outside a band (> 0) or the room left inside (< 0), in weight points. */
  bandDistance: number | null;
}

/** Where the single-portfolio page is kept in the asset map (served as /p/NAME/). */
const SINGLE = '/p/:name/';

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
  /** The portfolio list with the token in its fragment: print it to the terminal, never to a log file. */
  dashboardUrl: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

export interface PortfoliosApiOptions {
  port: number;
  host?: string;
  tokenFile: string;
  rows: () => PortfolioRow[];
  /** Each portfolio's dashboard (`/p/NAME/`); without it, only `/api/portfolios` is served. */
  views?: PortfolioViews;
  /** Queue a manual cycle (the dashboard's "Rebalance now"). */
  rebalance?: (name: string) => Promise<string>;
  /** Serve the dashboard files (default true when `views` is given). */
  dashboard?: boolean;
  log?: ServiceLog;
}

const STATES: Record<string, TradingState> = { halt: 'HALTED', 'reduce-only': 'REDUCING', resume: 'ACTIVE' };

export async function startPortfoliosApi(o: PortfoliosApiOptions): Promise<PortfoliosApi> {
  const { token } = loadOrCreateToken(o.tokenFile);
  registerSecret(token);
  let assets = new Map<string, DashboardAsset>();
  if (o.views && (o.dashboard ?? true)) {
    try {
      const all = await bundleDashboard();
      // `/` is the list; every portfolio's page is the single-portfolio dashboard at /p/NAME/
      const single = all.get('/')!;
      const list = all.get('/portfolios.html')!;
      all.delete('/portfolios.html');
      all.set('/', list);
      all.set(SINGLE, single);
      assets = all;
    } catch (e) {
      o.log?.error({ err: (e as Error).message }, 'serve: the dashboard could not be bundled; serving the API only');
      assets = unavailablePage(e instanceof Error ? e.message.split('\n')[0]! : String(e));
    }
  }
  const isPage = (path: string) => /^\/p\/[^/]+\/$/.test(path);
  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 16 * 1024 });
  app.addHook('onRequest', async (req, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    const path = req.url.split('?')[0]!;
    // the dashboard's files hold no data: served without the token (the page sends it with every API call)
    if ((req.method === 'GET' || req.method === 'HEAD') && (assets.has(path) || (assets.has(SINGLE) && (isPage(path) || /^\/p\/[^/]+$/.test(path))))) return;
    const presented = bearerOf(req.headers.authorization);
    if (presented === null || !tokenMatches(presented, token)) {
      return reply.code(401).header('www-authenticate', 'Bearer realm="ballast"').send({ error: 'unauthorized', message: 'send the API token as "Authorization: Bearer <token>"' });
    }
    reply.header('cache-control', 'no-store');
  });
  app.addHook('preSerialization', async (_req, _reply, payload) => scrub(payload));
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not found', message: `no endpoint ${req.method} ${req.url.split('?')[0]}` }));

  for (const [path, a] of assets) {
    if (path === SINGLE) continue;
    app.get(path, async (_req, reply) => {
      reply.header('content-type', a.type).header('cache-control', 'no-cache');
      if (a.type.startsWith('text/html')) reply.header('content-security-policy', CSP);
      return reply.send(a.body);
    });
  }
  const single = assets.get(SINGLE);
  if (single) {
    app.get('/p/:name', async (req, reply) => reply.redirect(`/p/${encodeURIComponent((req.params as { name: string }).name)}/`));
    app.get('/p/:name/', async (_req, reply) => reply.header('content-type', single.type).header('cache-control', 'no-cache').header('content-security-policy', CSP).send(single.body));
  }

  app.get('/api/portfolios', async (req) => {
    const rows = o.rows();
    if ((req.query as { sort?: string }).sort === 'drift') rows.sort((a, b) => Math.abs(b.worstDrift?.drift ?? 0) - Math.abs(a.worstDrift?.drift ?? 0));
    return { portfolios: rows };
  });

  const views = o.views;
  const clients = new Set<{ res: ServerResponse; name: string; last: string }>();
  let timer: NodeJS.Timeout | null = null;
  if (views) {
    const viewOf = (req: FastifyRequest, reply: FastifyReply) => {
      const name = (req.params as { name: string }).name;
      const v = views.get(name);
      if (!v) {
        void reply.code(404).send({ error: 'not found', message: `no portfolio named ${name}` });
        return null;
      }
      return v;
    };
    const bad = (reply: FastifyReply, error: z.ZodError, where: string) => {
      const p = firstProblem(error);
      return reply.code(400).send({ error: 'bad request', field: p.field, message: `${where} field "${p.field}": ${p.message}` });
    };
    const read = <S extends z.ZodType>(path: string, schema: S, view: (m: ReadModel, q: z.output<S>) => unknown) =>
      app.get(`/p/:name/api/${path}`, async (req, reply) => {
        const q = schema.safeParse(req.query ?? {});
        if (!q.success) return bad(reply, q.error, 'query');
        const v = viewOf(req, reply);
        if (!v) return reply;
        const out = view(v.model, q.data);
        if (out === null) return reply.code(503).send({ error: 'not ready', message: `${path}: no cycle of ${v.name} has been journaled yet` });
        return out;
      });
    read('status', emptyQuery, (m) => m.status());
    read('portfolio', emptyQuery, (m) => m.portfolio());
    read('plan', emptyQuery, (m) => m.plan());
    read('history', historyQuery, (m, q) => m.history(q));
    read('hedges', hedgesQuery, (m, q) => m.hedges(q));
    read('orders', ordersQuery, (m, q) => m.orders(q));
    read('fills', fillsQuery, (m, q) => m.fills(q));
    read('funding', fundingQuery, (m, q) => m.funding(q));
    read('journal', journalQuery, (m, q) =>
      m.journal({ limit: q.limit, ...(q.type ? { types: q.type } : {}), ...(q.account ? { account: q.account } : {}), ...(q.since !== undefined ? { since: q.since } : {}), ...(q.before !== undefined ? { beforeId: q.before } : {}) }),
    );
    for (const command of Object.keys(STATES)) {
      app.post(`/p/:name/api/${command}`, async (req, reply) => {
        const body = commandBody.safeParse(req.body ?? {});
        if (!body.success) return bad(reply, body.error, 'body');
        const v = viewOf(req, reply);
        if (!v) return reply;
        const by = `serve-api${body.data.by ? `:${body.data.by}` : ''}@${req.ip}`;
        const r = setTradingStateCommand(v.journal, STATES[command]!, by, body.data.reason ?? `${command} from the dashboard`);
        o.log?.warn({ portfolio: v.name, command, by }, 'serve: command');
        return { ok: true, trading: r.current };
      });
    }
    app.post('/p/:name/api/rebalance-now', async (req, reply) => {
      const body = commandBody.safeParse(req.body ?? {});
      if (!body.success) return bad(reply, body.error, 'body');
      const v = viewOf(req, reply);
      if (!v) return reply;
      if (!o.rebalance) return reply.code(503).send({ error: 'not available', message: 'this server cannot queue cycles' });
      const job = await o.rebalance(v.name);
      o.log?.warn({ portfolio: v.name, job }, 'serve: rebalance requested from the dashboard');
      // the cycle runs on a worker: accepted, its result shows up in the journal
      return reply.code(202).send({ ok: true, accepted: true, cycle: null, job, trading: v.journal.tradingState() });
    });
    const version = (name: string): string => {
      const v = views.get(name);
      return v ? v.model.version() : 'gone';
    };
    app.get('/p/:name/api/events', async (req, reply) => {
      const v = viewOf(req, reply);
      if (!v) return reply;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no', ...SECURITY_HEADERS });
      const c = { res, name: v.name, last: version(v.name) };
      const st = v.journal.tradingState();
      res.write(`retry: 3000\n\nevent: hello\ndata: ${JSON.stringify({ version: c.last, state: st.state, service: 'running', lastCycle: null })}\n\n`);
      clients.add(c);
      const drop = () => clients.delete(c);
      req.raw.on('close', drop);
      res.on('error', drop);
    });
    timer = setInterval(() => {
      for (const c of clients) {
        try {
          const now = version(c.name);
          if (now !== c.last) {
            c.last = now;
            c.res.write(`event: update\ndata: ${JSON.stringify({ version: now, state: views.get(c.name)?.journal.tradingState().state ?? null, service: 'running', lastCycle: null })}\n\n`);
          } else c.res.write(': keep-alive\n\n');
        } catch (e) {
          o.log?.warn({ err: (e as Error).message }, 'serve: live update failed');
        }
      }
    }, 2_000);
    timer.unref();
  }

  const host = o.host ?? '127.0.0.1';
  await app.listen({ port: o.port, host });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : o.port;
  const url = `http://${host}:${port}`;
  return {
    url,
    dashboardUrl: `${url}/#token=${token}`,
    app,
    async close() {
      if (timer) clearInterval(timer);
      for (const c of clients) c.res.end();
      clients.clear();
      await app.close();
    },
  };
}
