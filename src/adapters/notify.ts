/**
 * Optional webhook notifications: one JSON POST per event (trigger, order, fill, halt).
 *
 * - Only the event types listed in `notify.events` are sent; with no webhook nothing is sent.
 * - Each delivery has a timeout (`notify.timeoutMs`, connect + answer). A failed delivery (refused,
 *   timeout, non-2xx answer) is logged at warn and given up: `notify` never throws and never blocks
 *   trading. At most `maxPending` deliveries are in flight; beyond that events are dropped (logged).
 * - Payloads go through the log scrubber (credential fields and registered secrets become
 *   `[REDACTED]`). The webhook URL is never logged whole (it often carries a token): only its origin.
 *
 * Payload:
 *   { "source": "ballast", "type": "fill", "time": 1740787200000, "iso": "2025-03-01T00:00:00.000Z",
 *     "summary": "filled buy 0.1 BTC/USDT at 58000", "account": "main", "data": { ... } }
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { NotifyConfig, NotifyEventType } from '../core/types.js';
import { scrub, type SmallLogger } from './log.js';

export interface NotifyEvent {
  type: NotifyEventType;
  /** Epoch ms (the service clock). */
  time: number;
  /** One line a person reads in a chat channel. */
  summary: string;
  account?: string;
  data?: Record<string, unknown>;
}

export interface NotifierOptions {
  logger?: SmallLogger;
  /** Deliveries in flight before new events are dropped. Default 100. */
  maxPending?: number;
}

/** Scheme, host and port only: the path and query of a webhook URL may hold a token. */
export function webhookOrigin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
}

export class Notifier {
  readonly #config: NotifyConfig;
  readonly #logger: NotifierOptions['logger'];
  readonly #maxPending: number;
  readonly #pending = new Set<Promise<boolean>>();
  readonly #events: Set<NotifyEventType>;

  constructor(config: NotifyConfig, options: NotifierOptions = {}) {
    this.#config = { ...config, events: [...config.events] };
    this.#events = new Set(config.events);
    this.#logger = options.logger;
    this.#maxPending = options.maxPending ?? 100;
  }

  /** True when events of this type are delivered. */
  wants(type: NotifyEventType): boolean {
    return this.#config.webhook !== null && this.#events.has(type);
  }

  /**
   * Sends the event if configured. Resolves true when the webhook answered 2xx, false when the event is
   * not configured, dropped or the delivery failed. Never rejects.
   */
  notify(event: NotifyEvent): Promise<boolean> {
    if (!this.wants(event.type)) return Promise.resolve(false);
    const origin = webhookOrigin(this.#config.webhook!);
    if (this.#pending.size >= this.#maxPending) {
      this.#logger?.warn({ webhook: origin, event: event.type, pending: this.#pending.size }, 'webhook: too many deliveries in flight; event dropped');
      return Promise.resolve(false);
    }
    const p = this.#deliver(event, origin).catch(() => false);
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
    return p;
  }

  /** Waits for every delivery in flight (each ends by its timeout at the latest). */
  async flush(): Promise<void> {
    await Promise.all([...this.#pending]);
  }

  async #deliver(event: NotifyEvent, origin: string): Promise<boolean> {
    const payload = scrub({
      source: 'ballast',
      type: event.type,
      time: event.time,
      iso: Number.isFinite(event.time) ? new Date(event.time).toISOString() : null,
      summary: event.summary,
      ...(event.account !== undefined ? { account: event.account } : {}),
      ...(event.data !== undefined ? { data: event.data } : {}),
    });
    const body = JSON.stringify(payload);
    try {
      const status = await post(this.#config.webhook!, body, this.#config.timeoutMs);
      if (status >= 200 && status < 300) {
        this.#logger?.debug?.({ webhook: origin, event: event.type, status }, 'webhook: delivered');
        return true;
      }
      this.#logger?.warn({ webhook: origin, event: event.type, status }, `webhook: answered HTTP ${status}; event not delivered`);
      return false;
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.#logger?.warn({ webhook: origin, event: event.type, reason: why }, 'webhook: delivery failed; event dropped');
      return false;
    }
  }
}

/** POSTs JSON; resolves with the HTTP status; rejects on a network error or after `timeoutMs`. */
function post(url: string, body: string, timeoutMs: number): Promise<number> {
  return new Promise((resolvePost, reject) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    const done = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      f();
    };
    const req = send(u, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'ballast' },
      agent: false,
    });
    const timer = setTimeout(() => {
      done(() => reject(new Error(`no answer within ${timeoutMs} ms`)));
      req.destroy();
    }, timeoutMs);
    req.on('response', (res) => {
      res.resume(); // drain; the answer body is not used
      res.on('end', () => done(() => resolvePost(res.statusCode ?? 0)));
      res.on('error', (err) => done(() => reject(err)));
    });
    req.on('error', (err) => done(() => reject(err)));
    req.end(body);
  });
}
