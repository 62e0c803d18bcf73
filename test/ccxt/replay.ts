/**
 * A local HTTP server (node:http on 127.0.0.1, port 0) that answers venue REST calls with recorded
 * JSON, and records every request it receives so tests can check what ccxt sent. Routes are keyed
 * `METHOD /path` (no query string); a route's answer is a fixed reply or a function of the request.
 * Unknown routes answer 404 and are recorded too (`unmatched`).
 *
 * `pointAt(client, server.url)` rewrites the client's REST base URLs to the server. Binance picks its
 * per-market error table (spot / linear) by hostname; `pointAt` maps the local URL back to the real
 * host for that lookup only, so errors go through ccxt's own tables exactly as in production.
 */

import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { CcxtClient } from '../../src/adapters/ccxt/client.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: string;
  /** Form or JSON body parsed to a flat record (strings); for a JSON array, its first element. */
  form: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
}

export interface Reply {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Never answer (to provoke a client timeout). */
  hang?: boolean;
}

export type Route = Reply | ((req: RecordedRequest) => Reply | Promise<Reply>);

const FIXTURES = fileURLToPath(new URL('../fixtures/ccxt/', import.meta.url));

/** Load `test/fixtures/ccxt/<venue>/<name>.json`. */
export function fixture<T = unknown>(venue: string, name: string): T {
  return JSON.parse(readFileSync(`${FIXTURES}${venue}/${name}.json`, 'utf8')) as T;
}

/** A reply carrying a fixture as its body. */
export function body(venue: string, name: string, status = 200): Reply {
  return { status, body: fixture(venue, name) };
}

export class ReplayServer {
  readonly requests: RecordedRequest[] = [];
  readonly unmatched: RecordedRequest[] = [];
  routes: Record<string, Route>;
  #server: Server;
  #url = '';
  readonly #hanging = new Set<ServerResponse>();

  constructor(routes: Record<string, Route> = {}) {
    this.routes = routes;
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  get url(): string {
    return this.#url;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as AddressInfo;
    this.#url = `http://127.0.0.1:${port}`;
    return this;
  }

  async stop(): Promise<void> {
    for (const r of this.#hanging) r.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** Requests whose path matches. */
  calls(pathPart: string): RecordedRequest[] {
    return this.requests.filter((r) => r.path.includes(pathPart));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const u = new URL(req.url ?? '/', 'http://local');
    const query = Object.fromEntries(u.searchParams.entries());
    let form: Record<string, string> = {};
    if (text.length > 0) {
      const t = text.trimStart();
      if (t.startsWith('{') || t.startsWith('[')) {
        try {
          // A JSON array body (OKX batch endpoints): the first element.
          const parsed = JSON.parse(text) as unknown;
          const obj = (Array.isArray(parsed) ? parsed[0] : parsed) as Record<string, unknown>;
          form = Object.fromEntries(Object.entries(obj ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
        } catch {
          form = {};
        }
      } else {
        form = Object.fromEntries(new URLSearchParams(text).entries());
      }
    }
    const rec: RecordedRequest = { method: req.method ?? 'GET', path: u.pathname, query, body: text, form, headers: req.headers };
    this.requests.push(rec);
    const route = this.routes[`${rec.method} ${rec.path}`];
    if (!route) {
      this.unmatched.push(rec);
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ code: -1, msg: `replay: no route for ${rec.method} ${rec.path}` }));
      return;
    }
    const reply = typeof route === 'function' ? await route(rec) : route;
    if (reply.hang) {
      this.#hanging.add(res);
      return;
    }
    res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
    res.end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {}));
  }
}

const REAL_BINANCE: Array<[RegExp, string]> = [
  [/^\/fapi\//, 'https://fapi.binance.com'],
  [/^\/dapi\//, 'https://dapi.binance.com'],
  [/^\/(api|sapi)\//, 'https://api.binance.com'],
];

/** Point every REST base URL of `client` at `baseUrl` (scheme + host + port of the replay server). */
export function pointAt(client: CcxtClient, baseUrl: string): void {
  const rewrite = (v: unknown): unknown => {
    if (typeof v === 'string') return v.replace(/^https?:\/\/[^/]+/, baseUrl);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) o[k] = rewrite(o[k]);
      return o;
    }
    return v;
  };
  const urls = client.urls as Record<string, unknown>;
  urls['api'] = rewrite(structuredClone(urls['api']));
  if (client.id === 'binance') {
    const c = client as unknown as { getExceptionsByUrl(url: string, kind: string): unknown };
    const original = c.getExceptionsByUrl.bind(client);
    c.getExceptionsByUrl = (url: string, kind: string) => {
      if (typeof url === 'string' && url.startsWith(baseUrl)) {
        const path = url.slice(baseUrl.length);
        const real = REAL_BINANCE.find(([re]) => re.test(path));
        if (real) return original(real[1] + path, kind);
      }
      return original(url, kind);
    };
  }
}
