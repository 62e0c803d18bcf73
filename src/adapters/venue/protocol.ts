/**
 * The wire protocol of the simulated venue (`VenueServer` ⇄ `RemoteExchange`): JSON over HTTP on
 * 127.0.0.1, one POST per call of the Exchange port.
 *
 *   POST /rpc        {"method": "createOrder", "params": [{...}]}
 *                    → 200 {"result": ..., "time": T}            the call returned
 *                    → 200 {"error": {...}, "time": T}           the call threw a typed venue error
 *                    → 400 {"error": {"name": "BadRequest", ...}} malformed request / unknown method
 *                    → 503 {"error": {"name": "ExchangeNotAvailable", "outcomeUnknown": true, ...}}
 *                                                               the venue could not save its state
 *   POST /advance    {"ms": N} | {"bars": N} | {"to": T}  → {"time": T}   move the venue clock
 *   POST /push-bar   {"symbol": S, "bar": {open, high, low, close, volume}, "time"?: T} → {"time": T}
 *                    (a bar that has just closed: paper on live prices, tests; needs a feed that accepts pushes)
 *   POST /push-funding {"symbol": S, "time": T, "rate": R} → {"time": T}
 *                    a funding settlement at T (≥ the venue clock), settled on the mark when the clock reaches T
 *   GET  /info       {"id", "time", "speed", "barMs", "meta"}
 *   GET  /state      the state file's content
 *   GET  /schedule   {"schedule": [T, ...]}  when the market data changes (a replay's bar closes; [] if unknown)
 *
 * `time` is the venue clock (epoch ms) after the call. `params` are the port method's positional
 * arguments; a null parameter means "not given" (undefined). Numbers that JSON cannot carry
 * (Infinity, NaN) travel as {"$num": "Infinity"}. Error payload: {name, message, exchange?,
 * reason? (InvalidOrder), retryAfterMs? (RateLimitExceeded), untilMs? (OnMaintenance),
 * outcomeUnknown? (ExchangeNotAvailable)}; the client rebuilds the class of src/ports/errors.ts by name.
 */
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

/** The Exchange port methods the venue serves. */
export const PORT_METHODS = [
  'loadMarkets',
  'fetchBalance',
  'fetchPositions',
  'fetchTicker',
  'fetchTickers',
  'fetchFundingRate',
  'fetchFundingHistory',
  'createOrder',
  'cancelOrder',
  'fetchOrder',
  'fetchOpenOrders',
  'fetchClosedOrders',
  'fetchMyTrades',
  'setLeverage',
  'setMarginMode',
] as const;
export type PortMethod = (typeof PORT_METHODS)[number];

export function isPortMethod(m: unknown): m is PortMethod {
  return typeof m === 'string' && (PORT_METHODS as readonly string[]).includes(m);
}

export interface ErrorPayload {
  name: string;
  message: string;
  exchange?: string;
  reason?: InvalidOrderReason;
  retryAfterMs?: number;
  untilMs?: number;
  outcomeUnknown?: boolean;
}

export interface RpcReply {
  result?: unknown;
  error?: ErrorPayload;
  time?: number;
}

// ------------------------------------------------------------------ JSON with non-finite numbers

const NUM_TAG = '$num';

export function encode(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? { [NUM_TAG]: String(v) } : v));
}

export function decode(text: string): unknown {
  return JSON.parse(text, (_k, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const keys = Object.keys(v);
      if (keys.length === 1 && keys[0] === NUM_TAG) return Number((v as Record<string, string>)[NUM_TAG]);
    }
    return v;
  });
}

// ------------------------------------------------------------------ errors

/** A typed venue error as data. Anything that is not an ExchangeError becomes a final ExchangeError. */
export function errorToPayload(e: unknown): ErrorPayload {
  if (!(e instanceof ExchangeError)) {
    const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return { name: 'ExchangeError', message: `venue internal error: ${message}` };
  }
  const p: ErrorPayload = { name: e.name, message: e.message };
  if (e.exchange !== undefined) p.exchange = e.exchange;
  if (e instanceof InvalidOrder) p.reason = e.reason;
  if (e instanceof RateLimitExceeded) p.retryAfterMs = e.retryAfterMs;
  if (e instanceof OnMaintenance && e.untilMs !== undefined) p.untilMs = e.untilMs;
  if (e instanceof ExchangeNotAvailable) p.outcomeUnknown = e.outcomeUnknown;
  return p;
}

const INVALID_REASONS: readonly InvalidOrderReason[] = [
  'amount-step',
  'min-amount',
  'price-step',
  'min-notional',
  'reduce-only',
  'post-only',
  'bad-params',
  'not-found',
  'duplicate-id',
];

/** Rebuilds the typed error of src/ports/errors.ts named by the payload (unknown names: ExchangeError). */
export function errorFromPayload(p: ErrorPayload): ExchangeError {
  const message = typeof p.message === 'string' ? p.message : 'venue error';
  const opts = p.exchange !== undefined ? { exchange: String(p.exchange) } : {};
  const reason = INVALID_REASONS.includes(p.reason as InvalidOrderReason) ? (p.reason as InvalidOrderReason) : 'bad-params';
  switch (p.name) {
    case 'AuthenticationError':
      return new AuthenticationError(message, opts);
    case 'BadRequest':
      return new BadRequest(message, opts);
    case 'BadSymbol':
      return new BadSymbol(message, opts);
    case 'NotSupported':
      return new NotSupported(message, opts);
    case 'InsufficientFunds':
      return new InsufficientFunds(message, opts);
    case 'InvalidOrder':
      return new InvalidOrder(message, reason, opts);
    case 'OrderNotFound':
      return new OrderNotFound(message, opts);
    case 'DuplicateOrderId':
      return new DuplicateOrderId(message, opts);
    case 'NetworkError':
      return new NetworkError(message, opts);
    case 'RequestTimeout':
      return new RequestTimeout(message, opts);
    case 'RateLimitExceeded':
      return new RateLimitExceeded(message, Number.isFinite(p.retryAfterMs) ? p.retryAfterMs! : 1000, opts);
    case 'ExchangeNotAvailable':
      return new ExchangeNotAvailable(message, { ...opts, outcomeUnknown: p.outcomeUnknown === true });
    case 'OnMaintenance':
      return new OnMaintenance(message, Number.isFinite(p.untilMs) ? p.untilMs : undefined, opts);
    default:
      return new ExchangeError(message, opts);
  }
}
