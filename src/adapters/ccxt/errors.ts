/**
 * ccxt errors → the typed errors of src/ports/errors.ts, with messages scrubbed of credentials.
 *
 *   ccxt class                                   ours
 *   RequestTimeout                               RequestTimeout            (outcome unknown)
 *   DDoSProtection, RateLimitExceeded            RateLimitExceeded         (retryAfterMs: Retry-After header,
 *                                                                            Binance "banned until", or the default)
 *   OnMaintenance                                OnMaintenance
 *   ExchangeNotAvailable                         ExchangeNotAvailable      (outcome unknown for HTTP 5xx other than a
 *                                                                            plain 503 / maintenance: Binance documents
 *                                                                            5xx as "execution status UNKNOWN")
 *   MarketClosed                                 ExchangeNotAvailable      (rejected)
 *   InvalidNonce (e.g. Binance -1021 timestamp)  ExchangeNotAvailable      (rejected; the message says "clock skew")
 *   NetworkError, OperationFailed, BadResponse,  NetworkError              (outcome unknown)
 *     NullResponse, CancelPending
 *   AuthenticationError, PermissionDenied,       AuthenticationError
 *     AccountSuspended, AccountNotEnabled
 *   InsufficientFunds                            InsufficientFunds
 *   DuplicateOrderId (or an InvalidOrder whose   DuplicateOrderId
 *     venue text says "duplicate")
 *   OrderNotFound, OrderNotCached                OrderNotFound
 *   OrderImmediatelyFillable, OrderNotFillable   InvalidOrder('post-only')
 *   InvalidOrder                                 InvalidOrder(reason read from the venue text: LOT_SIZE →
 *                                                  'amount-step', PRICE_FILTER → 'price-step', NOTIONAL →
 *                                                  'min-notional', reduce-only → 'reduce-only', else 'bad-params')
 *   BadSymbol                                    BadSymbol
 *   BadRequest, ArgumentsRequired                BadRequest
 *   NotSupported                                 NotSupported
 *   any other ExchangeError / BaseError          ExchangeError
 *
 * Order of the checks matters: subclasses first (ccxt's OrderNotFound is an InvalidOrder, OnMaintenance
 * an ExchangeNotAvailable, RequestTimeout a NetworkError).
 *
 * Security: the mapped error never carries the ccxt error as `cause` (its message can hold a signed
 * URL); the message is scrubbed: every known secret value → [REDACTED]; query strings of URLs that
 * carry `signature` / `timestamp` / `sign` → `?[REDACTED]`; `signature=…` anywhere; values of
 * credential-bearing headers (X-MBX-APIKEY, X-BAPI-*, OK-ACCESS-*, Authorization, …).
 */

import * as ccxt from 'ccxt';
import {
  AuthenticationError,
  BadRequest,
  BadSymbol,
  DuplicateOrderId,
  ExchangeError,
  ExchangeNotAvailable,
  InsufficientFunds,
  InvalidOrder,
  NetworkError,
  NotSupported,
  OnMaintenance,
  OrderNotFound,
  RateLimitExceeded,
  RequestTimeout,
  type InvalidOrderReason,
} from '../../ports/errors.js';

/** Facts the adapter learned from the HTTP reply that ccxt does not keep on the error. */
export interface HttpFacts {
  status?: number;
  /** From Retry-After / venue headers / "banned until" text, relative to the reply time. */
  retryAfterMs?: number;
}

const facts = new WeakMap<object, HttpFacts>();

/** Attach HTTP facts to a ccxt error (by identity; the error object is not modified). */
export function annotate(err: unknown, more: HttpFacts): void {
  if (typeof err !== 'object' || err === null) return;
  facts.set(err, { ...facts.get(err), ...more });
}

export function httpFacts(err: unknown): HttpFacts {
  return (typeof err === 'object' && err !== null && facts.get(err)) || {};
}

// ================================================================== scrubbing

const REDACTED = '[REDACTED]';
const SENSITIVE_HEADER = String.raw`(?:x-mbx-apikey|x-bapi-[a-z-]+|ok-access-[a-z-]+|authorization|api-?key|api-?secret|api-?sign(?:ature)?|passphrase|x-api-key|cookie)`;
const HEADER_COLON = new RegExp(String.raw`(["']?${SENSITIVE_HEADER}["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;}&]+)`, 'gi');
const URL_WITH_QUERY = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s?#"'<>]+)\?([^\s"'<>]*)/gi;
const SIGNED_QUERY = /(^|[&?])(signature|sign|timestamp|apikey|api_key|recvWindow)=/i;
const SIGNATURE_PARAM = /\b(signature|sign)=[^&\s"']+/gi;

/** Remove credentials, signatures and signed query strings from a message. */
export function scrubMessage(message: string, secrets: readonly string[] = []): string {
  let out = message;
  for (const s of secrets) {
    if (typeof s === 'string' && s.length >= 4) out = out.split(s).join(REDACTED);
  }
  out = out.replace(URL_WITH_QUERY, (whole, base: string, query: string) => (SIGNED_QUERY.test('?' + query) ? `${base}?${REDACTED}` : whole));
  out = out.replace(SIGNATURE_PARAM, (_m, name: string) => `${name}=${REDACTED}`);
  out = out.replace(HEADER_COLON, (_m, head: string) => `${head}${REDACTED}`);
  return out;
}

// ================================================================== retry-after

/**
 * Milliseconds to wait, read from the reply: `Retry-After` (seconds or an HTTP date), Bybit's
 * `X-Bapi-Limit-Reset-Timestamp` (epoch ms), or Binance's body text "banned until <epoch ms>".
 */
export function retryAfterFrom(headers: Record<string, unknown> | undefined, body: string | undefined, now: number): number | undefined {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) if (v !== undefined && v !== null) h[k.toLowerCase()] = String(v);
  const ra = h['retry-after'];
  if (ra !== undefined) {
    const secs = Number(ra);
    if (Number.isFinite(secs) && secs >= 0) return Math.ceil(secs * 1000);
    const date = Date.parse(ra);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  const reset = Number(h['x-bapi-limit-reset-timestamp']);
  if (Number.isFinite(reset) && reset > now) return reset - now;
  const until = /banned until (\d{12,})/i.exec(body ?? '');
  if (until) return Math.max(0, Number(until[1]) - now);
  return undefined;
}

// ================================================================== mapping

export interface MapContext {
  /** Venue id (ccxt `exchange.id`). */
  exchange: string;
  /** Secret values to scrub from messages (API key, secret, password). */
  secrets?: readonly string[];
  /** Wait assumed after a rate-limit error that carries no retry-after information. */
  defaultRetryAfterMs?: number;
}

export const DEFAULT_RETRY_AFTER_MS = 10_000;

/** True for errors thrown by ccxt (its BaseError tree). */
export function isCcxtError(err: unknown): err is InstanceType<typeof ccxt.BaseError> {
  return err instanceof ccxt.BaseError;
}

function statusFromMessage(message: string): number | undefined {
  // ccxt's handleHttpStatusCode: "<id> <METHOD> <url> <code> <reason> <body>"
  const m = /\b(?:GET|POST|PUT|DELETE)\s+\S+\s+(\d{3})\b/.exec(message);
  return m ? Number(m[1]) : undefined;
}

function invalidOrderReason(text: string): InvalidOrderReason {
  if (/LOT_SIZE|MARKET_LOT_SIZE|step ?size|qty.*(precision|step)|quantity.*(precision|step|multiple)|lot size/i.test(text)) return 'amount-step';
  if (/PRICE_FILTER|tick ?size|price.*(precision|tick|multiple)/i.test(text)) return 'price-step';
  if (/NOTIONAL|MIN_NOTIONAL|order value|order cost|minimum amount|too small/i.test(text)) return 'min-notional';
  if (/reduce[-_ ]?only/i.test(text)) return 'reduce-only';
  if (/post[-_ ]?only|immediately match|would take|as maker/i.test(text)) return 'post-only';
  if (/minimum|min qty|min_qty|below the min/i.test(text)) return 'min-amount';
  return 'bad-params';
}

const DUPLICATE = /duplicate|already exists|ClientOrderId is duplicated|clOrdId.*(repeat|duplicat)|orderLinkId.*(repeat|duplicat|unique)/i;
/** 5xx replies that prove the request was refused (everything else 5xx: outcome unknown). */
const PROVEN_REFUSAL_5XX = /Service Unavailable|overloaded|maintenance/i;

/**
 * Map any error thrown by a ccxt call to a typed port error. Non-ccxt errors (bugs, our own typed
 * errors) are returned unchanged — our own errors are already typed and scrubbed.
 */
export function mapCcxtError(err: unknown, ctx: MapContext): unknown {
  if (err instanceof ExchangeError) return err;
  if (!isCcxtError(err)) return err;
  const opts = { exchange: ctx.exchange };
  const kind = err.constructor?.name ?? 'Error';
  const text = scrubMessage(String(err.message ?? ''), ctx.secrets);
  const msg = `${ctx.exchange}: ${kind}: ${text.startsWith(ctx.exchange + ' ') ? text.slice(ctx.exchange.length + 1) : text}`;
  const f = httpFacts(err);
  const status = f.status ?? statusFromMessage(text);

  // ---- network family (retryable)
  if (err instanceof ccxt.RequestTimeout) return new RequestTimeout(msg, opts);
  if (err instanceof ccxt.DDoSProtection || err instanceof ccxt.RateLimitExceeded) {
    return new RateLimitExceeded(msg, f.retryAfterMs ?? ctx.defaultRetryAfterMs ?? DEFAULT_RETRY_AFTER_MS, opts);
  }
  if (err instanceof ccxt.OnMaintenance) return new OnMaintenance(msg, undefined, opts);
  if (err instanceof ccxt.ExchangeNotAvailable) {
    const unknown = status !== undefined && status >= 500 && !(status === 503 && PROVEN_REFUSAL_5XX.test(text)) && !/maintenance/i.test(text);
    return new ExchangeNotAvailable(msg, { ...opts, outcomeUnknown: unknown });
  }
  if (err instanceof ccxt.InvalidNonce) {
    return new ExchangeNotAvailable(`${msg} (clock skew: the request timestamp was outside the venue's window; the request was refused)`, opts);
  }
  if (err instanceof ccxt.NetworkError || err instanceof ccxt.OperationFailed) return new NetworkError(msg, opts);

  // ---- final errors
  if (err instanceof ccxt.MarketClosed) return new ExchangeNotAvailable(msg, opts);
  if (err instanceof ccxt.AuthenticationError || err instanceof ccxt.AccountSuspended) return new AuthenticationError(msg, opts);
  if (err instanceof ccxt.InsufficientFunds) return new InsufficientFunds(msg, opts);
  if (err instanceof ccxt.DuplicateOrderId) return new DuplicateOrderId(msg, opts);
  if (err instanceof ccxt.OrderNotFound || err instanceof ccxt.OrderNotCached) return new OrderNotFound(msg, opts);
  if (err instanceof ccxt.OrderImmediatelyFillable || err instanceof ccxt.OrderNotFillable) return new InvalidOrder(msg, 'post-only', opts);
  if (err instanceof ccxt.InvalidOrder) {
    if (DUPLICATE.test(text)) return new DuplicateOrderId(msg, opts);
    return new InvalidOrder(msg, invalidOrderReason(text), opts);
  }
  if (err instanceof ccxt.BadSymbol) return new BadSymbol(msg, opts);
  if (err instanceof ccxt.BadRequest || err instanceof ccxt.ArgumentsRequired) return new BadRequest(msg, opts);
  if (err instanceof ccxt.NotSupported) return new NotSupported(msg, opts);
  return new ExchangeError(msg, opts);
}
