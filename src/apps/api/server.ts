/**
 * The HTTP API and dashboard of a running ballast (fastify 5), in the `ballast run` process.
 *
 * Security (docs/concepts.md, reliability rules): binds to 127.0.0.1 unless `allowRemote` is set; every /api/* and /metrics
 * request needs `Authorization: Bearer <token>` (token file created 0600 on first run, compared in constant
 * time); a missing or wrong token gets 401 and a log line without the token; state changes are POST only;
 * no CORS headers (a page from another origin cannot read answers); every JSON answer passes through
 * `scrub` (credential-named fields and registered secrets become [REDACTED]). The dashboard's static files
 * (HTML/JS/CSS, no data) are the only thing served without the token: a browser cannot send a header when it
 * opens a URL, so the page reads the token from the URL fragment (`#token=…`, never sent to the server),
 * keeps it in sessionStorage and sends it as a bearer header, for the live stream too (fetch streaming).
 *
 * Endpoints: see docs/api.md.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { registerSecret, scrub, scrubText } from '../../adapters/log.js';
import type { Portfolio } from '../../core/types.js';
import { systemClock, type Clock } from '../../ports/clock.js';
import type { Journal } from '../../ports/journal.js';
import type { CycleReport, Service, ServiceLog } from '../../service/service.js';
import { bearerOf, checkBind, loadOrCreateToken, tokenMatches } from './auth.js';
import { bundleDashboard, unavailablePage, type DashboardAsset } from './dashboard.js';
import { createMetrics } from './metrics.js';
import { ReadModel, type CachedAnswer, type FeedStatusLike, type Mode } from './read-model.js';
import { commandBody, emptyQuery, fillsQuery, firstProblem, fundingQuery, hedgesQuery, historyQuery, journalQuery, ordersQuery } from './schemas.js';

export type { Mode } from './read-model.js';

export interface ApiOptions {
  service: Service;
  journal: Journal;
  portfolio: Portfolio;
  mode: Mode;
  /** Default 127.0.0.1. Anything but loopback needs `allowRemote: true`. */
  host?: string;
  /** Default 8787; 0 = any free port. */
  port?: number;
  /** Explicit opt-in to listen on a non-loopback address (the token is still required on every request). */
  allowRemote?: boolean;
  /** Bearer token file, created 0600 with 32 random bytes when missing. Default `.ballast/api-token` (relative to the working directory). */
  tokenFile?: string;
  log?: ServiceLog;
  clock?: Clock;
  /** The live feed (LiveSnapshotSource), for per-input freshness in /api/status. */
  feed?: { status(): FeedStatusLike };
  /**
   * How "rebalance now" runs a cycle. Default: `service.runOnce()`, one at a time — only safe when nothing else
   * runs cycles concurrently (a service started with `loop: false`). With the service's own loop running, pass
   * a function that wakes that loop instead (see docs/api.md).
   */
  rebalanceNow?: () => Promise<CycleReport | null | void>;
  /** How often the live stream checks for changes. Default 1000 ms. */
  pollMs?: number;
  /** Serve the dashboard. Default true. */
  dashboard?: boolean;
}

export interface ApiServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The dashboard URL with the token in its fragment: print it to the terminal, never to a log file. */
  dashboardUrl: string;
  tokenFile: string;
  /** The fastify instance (tests use `inject`). */
  app: FastifyInstance;
  close(): Promise<void>;
}

const quietLog: ServiceLog = { info() {}, warn() {}, error() {} };

export const DEFAULT_PORT = 8787;
export const DEFAULT_TOKEN_FILE = join('.ballast', 'api-token');

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: { error: string; message: string; field?: string },
  ) {
    super(body.message);
  }
}

/**
 * JSON.parse, refusing keys that would reach an object's prototype (`__proto__`, `constructor.prototype`):
 * a 400 naming the key. Bad JSON is a 400 that does not echo the body.
 */
export function parseJsonBody(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, { error: 'bad request', field: '(body)', message: 'the body is not valid JSON' });
  }
  const walk = (v: unknown, path: string[]): void => {
    if (typeof v !== 'object' || v === null) return;
    for (const k of Object.keys(v)) {
      const child = (v as Record<string, unknown>)[k];
      if (k === '__proto__' || (k === 'prototype' && path[path.length - 1] === 'constructor')) {
        const field = [...path, k].join('.');
        throw new HttpError(400, { error: 'bad request', field, message: `field "${field}": prototype keys (__proto__, constructor.prototype) are refused` });
      }
      walk(child, [...path, k]);
    }
  };
  walk(value, []);
  return value;
}

function parse<S extends z.ZodType>(schema: S, input: unknown, where: 'query' | 'body'): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (r.success) return r.data;
  const p = firstProblem(r.error);
  throw new HttpError(400, { error: 'bad request', field: p.field, message: `${where} field "${p.field}": ${p.message}` });
}

/** The path of a URL, without the query string (which is never logged). */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function cycleView(c: CycleReport): object {
  return {
    time: c.time,
    status: c.status,
    reason: c.reason,
    state: c.state,
    rebalanceId: c.rebalanceId ?? null,
    actions: c.plan?.actions.length ?? 0,
    execution: c.execution ? { status: c.execution.status } : null,
  };
}

export const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export async function startApi(o: ApiOptions): Promise<ApiServer> {
  const host = o.host ?? '127.0.0.1';
  checkBind(host, o.allowRemote);
  const log = o.log ?? quietLog;
  const clock = o.clock ?? systemClock;
  const tokenFile = resolve(o.tokenFile ?? DEFAULT_TOKEN_FILE);
  const { token, created } = loadOrCreateToken(tokenFile);
  registerSecret(token);
  if (created) log.info({ tokenFile }, 'api: bearer token generated');

  const model = new ReadModel({ service: o.service, journal: o.journal, portfolio: o.portfolio, mode: o.mode, clock, ...(o.feed ? { feed: o.feed } : {}) });
  model.refresh();
  const metrics = createMetrics(model, o.service);

  let assets: Map<string, DashboardAsset> = new Map();
  if (o.dashboard ?? true) {
    try {
      assets = await bundleDashboard();
      // `ballast serve`'s portfolio list has no place on one portfolio's server
      assets.delete('/portfolios.html');
      assets.delete('/assets/portfolios.js');
    } catch (e) {
      log.error({ err: e }, 'api: the dashboard could not be bundled; serving the API only');
      assets = unavailablePage(e instanceof Error ? e.message.split('\n')[0]! : String(e));
    }
  }

  const app = Fastify({ logger: false, forceCloseConnections: true, bodyLimit: 16 * 1024, return503OnClosing: true });
  // JSON bodies: our own parser, so that a prototype key gets its own answer (fastify's says "not valid JSON").
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    const body = String(text);
    if (body.trim() === '') return done(null, undefined);
    try {
      done(null, parseJsonBody(body));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  // ------------------------------------------------------------------ auth, headers, logs

  app.addHook('onRequest', async (req, reply) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    const path = pathOf(req.url);
    if ((req.method === 'GET' || req.method === 'HEAD') && assets.has(path)) return;
    const presented = bearerOf(req.headers.authorization);
    if (presented !== null && tokenMatches(presented, token)) return;
    log.warn({ method: req.method, path, ip: req.ip, reason: presented === null ? 'missing bearer token' : 'wrong bearer token' }, 'api: unauthorized request');
    metrics.requests.inc({ route: 'unauthorized', method: req.method, status: '401' });
    reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="ballast"')
      .header('cache-control', 'no-store')
      .send({ error: 'unauthorized', message: 'send the API token as "Authorization: Bearer <token>" (it is in the token file, mode 0600)' });
    return reply;
  });

  app.addHook('preSerialization', async (_req, _reply, payload) => scrub(payload));

  app.addHook('onSend', async (req, reply, payload) => {
    if (!assets.has(pathOf(req.url))) reply.header('cache-control', 'no-store');
    return payload;
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    if (reply.statusCode !== 401) metrics.requests.inc({ route, method: req.method, status: String(reply.statusCode) });
    if (reply.statusCode >= 500) metrics.apiErrors.count++;
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof HttpError) return reply.code(err.status).send(err.body);
    const status = err.statusCode ?? 500;
    if (status < 500) {
      // fastify's own 4xx (bad JSON, wrong content type, body too large): say what, without echoing the body.
      const message = err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'send the body as application/json' : err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? 'body too large' : scrubText(err.message).slice(0, 200);
      return reply.code(status).send({ error: 'bad request', field: '(body)', message });
    }
    log.error({ err, method: req.method, path: pathOf(req.url) }, 'api: request failed');
    return reply.code(500).send({ error: 'internal error', message: 'the request failed; the service log has the details' });
  });

  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'not found', message: `no endpoint ${req.method} ${pathOf(req.url)}; see docs/api.md` }));

  // ------------------------------------------------------------------ dashboard files

  for (const [path, a] of assets) {
    app.get(path, async (_req, reply) => {
      reply.header('content-type', a.type).header('cache-control', 'no-cache');
      if (a.type.startsWith('text/html')) reply.header('content-security-policy', CSP);
      return reply.send(a.body);
    });
  }

  // ------------------------------------------------------------------ read endpoints

  const fresh = async (): Promise<void> => model.refresh();
  const get = (path: string, handler: (req: FastifyRequest, reply: FastifyReply) => unknown) =>
    app.get(path, { preHandler: fresh }, async (req, reply) => handler(req, reply));
  const notReady = (what: string) => new HttpError(503, { error: 'not ready', message: `${what}: the service has not valued the portfolio yet (no cycle and no journaled snapshot)` });

  get('/api/status', (req) => {
    parse(emptyQuery, req.query, 'query');
    return model.status();
  });
  get('/api/portfolio', (req) => {
    parse(emptyQuery, req.query, 'query');
    const p = model.portfolio();
    if (!p) throw notReady('no portfolio');
    return p;
  });
  get('/api/plan', (req) => {
    parse(emptyQuery, req.query, 'query');
    const p = model.plan();
    if (!p) throw notReady('no plan');
    return p;
  });
  // History and journal pages: the cached JSON text (scrubbed once when made; the answer changes only when the
  // journal does), gzipped for a client that accepts it once the same answer is asked for again (a browser
  // polling): compressed once, sent many times; a one-off answer is not compressed.
  const cached = (req: FastifyRequest, reply: FastifyReply, a: CachedAnswer) => {
    reply.type('application/json; charset=utf-8').header('vary', 'accept-encoding');
    if (a.hits > 0 && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
      a.gzip ??= gzipSync(a.json, { level: 4 });
      return reply.header('content-encoding', 'gzip').send(a.gzip);
    }
    return reply.send(a.json);
  };
  get('/api/history', (req, reply) => cached(req, reply, model.historyJson(parse(historyQuery, req.query, 'query'))));
  get('/api/hedges', (req) => model.hedges(parse(hedgesQuery, req.query, 'query')));
  get('/api/orders', (req) => model.orders(parse(ordersQuery, req.query, 'query')));
  get('/api/fills', (req) => model.fills(parse(fillsQuery, req.query, 'query')));
  get('/api/journal', (req, reply) => {
    const q = parse(journalQuery, req.query, 'query');
    return cached(req, reply, model.journalJson({ limit: q.limit, ...(q.type ? { types: q.type } : {}), ...(q.account ? { account: q.account } : {}), ...(q.since !== undefined ? { since: q.since } : {}), ...(q.before !== undefined ? { beforeId: q.before } : {}) }));
  });
  get('/api/funding', (req) => model.funding(parse(fundingQuery, req.query, 'query')));

  app.get('/metrics', async (req, reply) => {
    parse(emptyQuery, req.query, 'query');
    model.refresh();
    const text = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(scrubText(text));
  });

  // ------------------------------------------------------------------ write endpoints (POST only)

  const who = (by: string | undefined, req: FastifyRequest) => `api${by ? `:${by}` : ''}@${req.ip}`;
  const command = (path: string, run: (by: string, reason: string) => unknown, defaultReason: string) =>
    app.post(path, async (req) => {
      const body = parse(commandBody, req.body, 'body');
      const by = who(body.by, req);
      const reason = body.reason ?? defaultReason;
      const trading = run(by, reason);
      log.warn({ path, by, reason }, 'api: command');
      return { ok: true, trading };
    });
  command('/api/halt', (by, why) => o.service.halt(by, why), 'halted from the API');
  command('/api/reduce-only', (by, why) => o.service.reduceOnly(by, why), 'reduce-only from the API');
  command('/api/resume', (by, why) => o.service.resume(by, why), 'resumed from the API');

  let cycleChain: Promise<unknown> = Promise.resolve();
  const runCycle = (): Promise<CycleReport | null | void> => {
    const next = cycleChain.then(() => (o.rebalanceNow ? o.rebalanceNow() : o.service.runOnce()));
    cycleChain = next.catch(() => {});
    return next;
  };
  app.post('/api/rebalance-now', async (req, reply) => {
    const body = parse(commandBody, req.body, 'body');
    const by = who(body.by, req);
    const reason = body.reason ?? 'rebalance requested from the API';
    o.journal.appendEvent({ time: clock.now(), type: 'command', payload: { command: 'rebalance-now', by, reason } });
    log.warn({ path: '/api/rebalance-now', by, reason }, 'api: command');
    // The next cycle (this one when the API runs it, else the loop's) moves every class to target.
    o.service.requestRebalance(by);
    const report = await runCycle();
    if (!report) return reply.code(202).send({ ok: true, accepted: true, cycle: null, trading: o.service.state() });
    return { ok: true, accepted: true, cycle: cycleView(report), trading: o.service.state() };
  });

  // ------------------------------------------------------------------ live updates (server-sent events)

  const clients = new Set<ServerResponse>();
  const sse = (res: ServerResponse, event: string, data: unknown) => {
    res.write(`event: ${event}\ndata: ${scrubText(JSON.stringify(scrub(data)))}\n\n`);
  };
  const pulse = () => {
    const st = o.service.state();
    return { version: model.version(), state: st.state, service: o.service.status, lastCycle: o.service.lastCycle?.time ?? null };
  };
  app.get('/api/events', async (req, reply) => {
    parse(emptyQuery, req.query, 'query');
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no', ...SECURITY_HEADERS });
    res.write('retry: 3000\n\n');
    sse(res, 'hello', pulse());
    clients.add(res);
    const drop = () => clients.delete(res);
    (req.raw as IncomingMessage).on('close', drop);
    res.on('error', drop);
  });
  let lastSig = '';
  let beats = 0;
  const tick = setInterval(() => {
    try {
      model.refresh();
      const p = pulse();
      if (p.version !== lastSig) {
        lastSig = p.version;
        for (const c of clients) sse(c, 'update', p);
      } else if (++beats % 15 === 0) {
        for (const c of clients) c.write(': keep-alive\n\n');
      }
    } catch (e) {
      log.error({ err: e }, 'api: live update failed');
    }
  }, o.pollMs ?? 1000);
  tick.unref();

  // ------------------------------------------------------------------ listen

  await app.listen({ host, port: o.port ?? DEFAULT_PORT });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? DEFAULT_PORT);
  // A wildcard bind is reached on loopback from this machine.
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const urlHost = reachable.includes(':') ? `[${reachable}]` : reachable;
  const url = `http://${urlHost}:${port}`;
  log.info({ url, mode: o.mode, dashboard: assets.size > 1 }, 'api: listening');

  return {
    url,
    dashboardUrl: `${url}/#token=${token}`,
    tokenFile,
    app,
    async close() {
      clearInterval(tick);
      for (const c of clients) c.end();
      clients.clear();
      await app.close();
    },
  };
}
