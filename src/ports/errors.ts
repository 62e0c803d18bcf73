/**
 * Typed errors at the venue edge, named after ccxt's hierarchy so the ccxt adapter can map ccxt's
 * classes by name. One deliberate difference: in ccxt `NetworkError` sits beside `ExchangeError`
 * under `BaseError`; here `ExchangeError` is the root of everything a venue can throw, and the split
 * that matters is carried by two flags:
 *
 * - `retryable` — a retry *may* succeed (every `NetworkError`). Final errors will fail the same way
 *   again: never retry them (fix the order or stop).
 * - `outcomeUnknown` — the venue may have executed the request even though the call threw
 *   (`RequestTimeout`, and a bare `NetworkError`). A `createOrder` that ends like this must NOT be
 *   resubmitted blindly: resolve it by client order id, open/closed orders and trades first.
 *   `RateLimitExceeded`, `OnMaintenance` and (by default) `ExchangeNotAvailable` prove rejection.
 *
 *     ExchangeError                        final
 *     ├─ AuthenticationError               final
 *     ├─ BadRequest                        final
 *     │  └─ BadSymbol                      final (unknown market)
 *     ├─ NotSupported                      final
 *     ├─ InsufficientFunds                 final
 *     ├─ InvalidOrder (reason)             final (lot / tick / min notional / reduce-only / post-only)
 *     │  ├─ OrderNotFound                  final — but NOT proof of absence (docs/concepts.md)
 *     │  └─ DuplicateOrderId               final
 *     └─ NetworkError                      retryable, outcome unknown
 *        ├─ RequestTimeout                 retryable, outcome unknown
 *        ├─ RateLimitExceeded (retryAfterMs) retryable, rejected (429 / ban)
 *        └─ ExchangeNotAvailable           retryable, rejected unless constructed with outcomeUnknown
 *           └─ OnMaintenance (untilMs?)    retryable, rejected
 *
 * As in ccxt, `OrderNotFound` and `DuplicateOrderId` are subclasses of `InvalidOrder`: test for them
 * before testing for `InvalidOrder`.
 */

export interface ExchangeErrorOptions {
  /** Venue or adapter name (ccxt `exchange.id`). */
  exchange?: string;
  cause?: unknown;
}

export class ExchangeError extends Error {
  override name = 'ExchangeError';
  readonly exchange: string | undefined;

  constructor(message: string, options: ExchangeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.exchange = options.exchange;
  }

  /** A retry may succeed. */
  get retryable(): boolean {
    return false;
  }

  /** The venue may have executed the request although the call threw. */
  get outcomeUnknown(): boolean {
    return false;
  }
}

export class AuthenticationError extends ExchangeError {
  override name = 'AuthenticationError';
}

export class BadRequest extends ExchangeError {
  override name = 'BadRequest';
}

export class BadSymbol extends BadRequest {
  override name = 'BadSymbol';
}

export class NotSupported extends ExchangeError {
  override name = 'NotSupported';
}

export class InsufficientFunds extends ExchangeError {
  override name = 'InsufficientFunds';
}

/** Why an order was refused at the order boundary. Reported to the user as is; never retried. */
export type InvalidOrderReason =
  | 'amount-step'
  | 'min-amount'
  | 'price-step'
  | 'min-notional'
  | 'reduce-only'
  | 'post-only'
  | 'bad-params'
  | 'not-found'
  | 'duplicate-id';

export class InvalidOrder extends ExchangeError {
  override name = 'InvalidOrder';
  readonly reason: InvalidOrderReason;

  constructor(message: string, reason: InvalidOrderReason = 'bad-params', options: ExchangeErrorOptions = {}) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * The venue does not know the order (yet). Venues lag: a freshly accepted order can be "not found"
 * for a while. Count strikes before declaring an order lost.
 */
export class OrderNotFound extends InvalidOrder {
  override name = 'OrderNotFound';

  constructor(message: string, options: ExchangeErrorOptions = {}) {
    super(message, 'not-found', options);
  }
}

/** The client order id is already used by an order that is still open. */
export class DuplicateOrderId extends InvalidOrder {
  override name = 'DuplicateOrderId';

  constructor(message: string, options: ExchangeErrorOptions = {}) {
    super(message, 'duplicate-id', options);
  }
}

/** Transport-level failure: the request may or may not have reached the venue. */
export class NetworkError extends ExchangeError {
  override name = 'NetworkError';

  override get retryable(): boolean {
    return true;
  }

  override get outcomeUnknown(): boolean {
    return true;
  }
}

/** No reply in time. The outcome is UNKNOWN: the order may be live. Resolve by client order id. */
export class RequestTimeout extends NetworkError {
  override name = 'RequestTimeout';
}

/** 429 or an IP ban. The request was rejected; wait `retryAfterMs` before the next call on this key. */
export class RateLimitExceeded extends NetworkError {
  override name = 'RateLimitExceeded';
  readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number, options: ExchangeErrorOptions = {}) {
    super(message, options);
    this.retryAfterMs = retryAfterMs;
  }

  override get outcomeUnknown(): boolean {
    return false;
  }
}

export interface NotAvailableOptions extends ExchangeErrorOptions {
  /** True when the venue may still have processed the request (e.g. 502/504 from a gateway). */
  outcomeUnknown?: boolean;
}

/** 5xx before acceptance: the venue is up but refused to work. Rejection proven unless flagged otherwise. */
export class ExchangeNotAvailable extends NetworkError {
  override name = 'ExchangeNotAvailable';
  readonly #outcomeUnknown: boolean;

  constructor(message: string, options: NotAvailableOptions = {}) {
    super(message, options);
    this.#outcomeUnknown = options.outcomeUnknown ?? false;
  }

  override get outcomeUnknown(): boolean {
    return this.#outcomeUnknown;
  }
}

/** Scheduled maintenance: every call fails until `untilMs` (when known). */
export class OnMaintenance extends ExchangeNotAvailable {
  override name = 'OnMaintenance';
  readonly untilMs: number | undefined;

  constructor(message: string, untilMs?: number, options: ExchangeErrorOptions = {}) {
    super(message, options);
    this.untilMs = untilMs;
  }
}

/** True when a retry may succeed (reads: retry with backoff; writes: only if `!outcomeUnknown(err)`). */
export function retryable(err: unknown): boolean {
  return err instanceof ExchangeError && err.retryable;
}

/**
 * True when the call threw but the venue may have acted on it. Anything that is not an
 * ExchangeError (a bug, a socket error the adapter failed to map) is treated as unknown too.
 */
export function outcomeUnknown(err: unknown): boolean {
  return err instanceof ExchangeError ? err.outcomeUnknown : true;
}
