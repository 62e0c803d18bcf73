/**
 * Recorded venue replies served through ccxt's own `fetchImplementation` hook: ballast's real
 * client (createCcxtClient + CcxtExchange on ccxt 4.5) runs unchanged — request building, signing,
 * the venue's error tables — and only the HTTP transport answers from test/fixtures/venues/.
 *
 * Routes are keyed `METHOD /path` (no host, no query); a route is a fixed reply or a function of the
 * request. Every request is recorded (method, path, query, parsed body) so tests can check what ccxt
 * sent. An unknown route answers 404 and is listed in `unmatched`.
 *
 * The ccxt client's clock (`milliseconds()`, used for signatures and timestamps) is the test's
 * ManualClock, so clock-skew tests are deterministic.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createCcxtClient, type CcxtClient, type CcxtClientOptions, type CcxtVenue } from '../../src/adapters/ccxt/client.js';
import { CcxtExchange, type CcxtExchangeOptions } from '../../src/adapters/ccxt/exchange.js';
import { ManualClock } from '../../src/ports/clock.js';
import { canaryCredentials, looseLimiter, T0 } from './helpers.js';

const VENUES = fileURLToPath(new URL('../fixtures/venues/', import.meta.url));

/** `test/fixtures/venues/<venue>/<name>.json`. */
export function recorded<T = unknown>(venue: string, name: string): T {
  return JSON.parse(readFileSync(`${VENUES}${venue}/${name}.json`, 'utf8')) as T;
}

export interface SeenRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: Record<string, string>;
}

export interface VenueReply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type VenueRoute = VenueReply | ((req: SeenRequest) => VenueReply);

/** A reply whose body is a recorded file. */
export const rec = (venue: string, name: string, status = 200): VenueReply => ({ status, body: recorded(venue, name) });

export class FetchReplay {
  readonly requests: SeenRequest[] = [];
  readonly unmatched: SeenRequest[] = [];
  constructor(public routes: Record<string, VenueRoute> = {}) {}

  calls(pathPart: string): SeenRequest[] {
    return this.requests.filter((r) => r.path.includes(pathPart));
  }

  /** The `fetchImplementation` ccxt calls instead of the network. */
  readonly fetch = async (url: string, init: { method?: string; body?: unknown } = {}): Promise<Response> => {
    const u = new URL(url);
    const method = (init.method ?? 'GET').toUpperCase();
    const text = typeof init.body === 'string' ? init.body : '';
    let body: Record<string, string> = {};
    if (text.trimStart().startsWith('{') || text.trimStart().startsWith('[')) {
      const parsed = JSON.parse(text) as unknown;
      const obj = (Array.isArray(parsed) ? parsed[0] : parsed) as Record<string, unknown>;
      body = Object.fromEntries(Object.entries(obj ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
    } else if (text.length > 0) body = Object.fromEntries(new URLSearchParams(text).entries());
    const req: SeenRequest = { method, path: u.pathname, query: Object.fromEntries(u.searchParams.entries()), body };
    this.requests.push(req);
    const route = this.routes[`${method} ${u.pathname}`];
    if (!route) {
      this.unmatched.push(req);
      return new Response(JSON.stringify({ code: -1, msg: `replay: no route for ${method} ${u.pathname}` }), { status: 404, headers: { 'content-type': 'application/json' } });
    }
    const reply = typeof route === 'function' ? route(req) : route;
    const payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
    return new Response(payload, { status: reply.status ?? 200, headers: { 'content-type': 'application/json', ...reply.headers } });
  };
}

export interface VenueRig {
  replay: FetchReplay;
  client: CcxtClient;
  ex: CcxtExchange;
  clock: ManualClock;
}

export interface VenueRigOptions extends Partial<Omit<CcxtExchangeOptions, 'clock'>> {
  /** Markets: the recorded `markets.json` of the venue (default), or none (ccxt loads them through routes). */
  markets?: 'recorded' | 'none';
  now?: number;
  client?: CcxtClientOptions;
}

/** ballast's ccxt client and CcxtExchange for `venue`, its HTTP answered by `routes`. */
export function venueRig(venue: CcxtVenue, routes: Record<string, VenueRoute>, o: VenueRigOptions = {}): VenueRig {
  const replay = new FetchReplay(routes);
  const clock = new ManualClock(o.now ?? T0);
  const client = createCcxtClient(venue, canaryCredentials(), { timeoutMs: 5_000, ...o.client });
  (client as unknown as { fetchImplementation: unknown }).fetchImplementation = replay.fetch;
  (client as unknown as { milliseconds: () => number }).milliseconds = () => clock.now();
  if ((o.markets ?? 'recorded') === 'recorded') client.setMarkets(recorded(venue, 'markets'));
  const { markets: _m, now: _n, client: _c, ...rest } = o;
  const ex = new CcxtExchange(client, { clock, limiter: looseLimiter(clock), ...rest });
  return { replay, client, ex, clock };
}
