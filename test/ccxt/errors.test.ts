/** ccxt error classes → port errors, one case per row of the table in src/adapters/ccxt/errors.ts; scrubbing. */
import * as ccxt from 'ccxt';
import { describe, expect, it } from 'vitest';
import { annotate, mapCcxtError, retryAfterFrom, scrubMessage } from '../../src/adapters/ccxt/errors.js';
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
  outcomeUnknown,
  retryable,
} from '../../src/ports/errors.js';
import { CANARY, containsCanary } from './helpers.js';

const ctx = { exchange: 'binance', secrets: Object.values(CANARY) };
const map = (e: unknown) => mapCcxtError(e, ctx) as ExchangeError;

describe('mapCcxtError: one row per ccxt class', () => {
  const rows: Array<[string, Error, new (...a: never[]) => ExchangeError, { retryable: boolean; unknown: boolean }]> = [
    ['RequestTimeout', new ccxt.RequestTimeout('binance POST https://api.binance.com/api/v3/order request timed out (10000 ms)'), RequestTimeout, { retryable: true, unknown: true }],
    ['DDoSProtection', new ccxt.DDoSProtection('binance 429 Too Many Requests {"code":-1003}'), RateLimitExceeded, { retryable: true, unknown: false }],
    ['RateLimitExceeded', new ccxt.RateLimitExceeded('binance {"code":-1015,"msg":"Too many new orders"}'), RateLimitExceeded, { retryable: true, unknown: false }],
    ['OnMaintenance', new ccxt.OnMaintenance('binance System is under maintenance.'), OnMaintenance, { retryable: true, unknown: false }],
    ['ExchangeNotAvailable (503)', new ccxt.ExchangeNotAvailable('binance GET https://api.binance.com/api/v3/account 503 Service Unavailable'), ExchangeNotAvailable, { retryable: true, unknown: false }],
    ['ExchangeNotAvailable (502)', new ccxt.ExchangeNotAvailable('binance POST https://api.binance.com/api/v3/order 502 Bad Gateway'), ExchangeNotAvailable, { retryable: true, unknown: true }],
    ['ExchangeNotAvailable (403)', new ccxt.ExchangeNotAvailable('bybit GET https://api.bybit.com/v5/x 403 Forbidden'), ExchangeNotAvailable, { retryable: true, unknown: false }],
    ['InvalidNonce', new ccxt.InvalidNonce('binance {"code":-1021}'), ExchangeNotAvailable, { retryable: true, unknown: false }],
    ['MarketClosed', new ccxt.MarketClosed('binance Market is closed.'), ExchangeNotAvailable, { retryable: true, unknown: false }],
    ['NetworkError', new ccxt.NetworkError('binance GET https://api.binance.com/api/v3/time fetch failed: ECONNRESET'), NetworkError, { retryable: true, unknown: true }],
    ['OperationFailed', new ccxt.OperationFailed('binance {"code":-1001,"msg":"Internal error"}'), NetworkError, { retryable: true, unknown: true }],
    ['BadResponse', new ccxt.BadResponse('okx unparsable'), NetworkError, { retryable: true, unknown: true }],
    ['AuthenticationError', new ccxt.AuthenticationError('binance {"code":-2015}'), AuthenticationError, { retryable: false, unknown: false }],
    ['PermissionDenied', new ccxt.PermissionDenied('binance Rest API trading is not enabled.'), AuthenticationError, { retryable: false, unknown: false }],
    ['AccountSuspended', new ccxt.AccountSuspended('binance This action is disabled on this account.'), AuthenticationError, { retryable: false, unknown: false }],
    ['InsufficientFunds', new ccxt.InsufficientFunds('binance Account has insufficient balance for requested action.'), InsufficientFunds, { retryable: false, unknown: false }],
    ['DuplicateOrderId', new ccxt.DuplicateOrderId('okx {"sCode":"51016"}'), DuplicateOrderId, { retryable: false, unknown: false }],
    ['OrderNotFound', new ccxt.OrderNotFound('binance {"code":-2013}'), OrderNotFound, { retryable: false, unknown: false }],
    ['OrderNotCached', new ccxt.OrderNotCached('kraken'), OrderNotFound, { retryable: false, unknown: false }],
    ['OrderImmediatelyFillable', new ccxt.OrderImmediatelyFillable('binance Order would immediately match and take.'), InvalidOrder, { retryable: false, unknown: false }],
    ['InvalidOrder', new ccxt.InvalidOrder('binance {"code":-1013,"msg":"Filter failure: LOT_SIZE"}'), InvalidOrder, { retryable: false, unknown: false }],
    ['BadSymbol', new ccxt.BadSymbol('binance {"code":-1121,"msg":"Invalid symbol."}'), BadSymbol, { retryable: false, unknown: false }],
    ['BadRequest', new ccxt.BadRequest('binance {"code":-1102}'), BadRequest, { retryable: false, unknown: false }],
    ['ArgumentsRequired', new ccxt.ArgumentsRequired('binance fetchOrder() requires a symbol argument'), BadRequest, { retryable: false, unknown: false }],
    ['NotSupported', new ccxt.NotSupported('okx fetchBidsAsks() is not supported yet'), NotSupported, { retryable: false, unknown: false }],
    ['ExchangeError', new ccxt.ExchangeError('binance {"code":-9999}'), ExchangeError, { retryable: false, unknown: false }],
  ];
  for (const [name, err, cls, flags] of rows) {
    it(`${name} → ${cls.name}`, () => {
      const m = map(err);
      expect(m).toBeInstanceOf(cls);
      expect(m.constructor).toBe(cls);
      expect(retryable(m)).toBe(flags.retryable);
      expect(outcomeUnknown(m)).toBe(flags.unknown);
      expect(m.exchange).toBe('binance');
      expect(m.cause).toBeUndefined();
      expect(m.message).toContain(name.split(' ')[0]);
    });
  }

  it('InvalidOrder reasons come from the venue text', () => {
    const reason = (msg: string) => (map(new ccxt.InvalidOrder(msg)) as InvalidOrder).reason;
    expect(reason('binance {"code":-1013,"msg":"Filter failure: LOT_SIZE"}')).toBe('amount-step');
    expect(reason('binance {"code":-1013,"msg":"Filter failure: PRICE_FILTER"}')).toBe('price-step');
    expect(reason('binance {"code":-1013,"msg":"Filter failure: NOTIONAL"}')).toBe('min-notional');
    expect(reason('binance {"code":-4164,"msg":"Order\'s notional must be no smaller than 100 (unless you choose reduce only)."}')).toBe('min-notional');
    expect(reason('binance {"code":-2022,"msg":"ReduceOnly Order is rejected."}')).toBe('reduce-only');
    expect(reason('binance {"code":-2010,"msg":"Something else"}')).toBe('bad-params');
    expect(map(new ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'))).toBeInstanceOf(DuplicateOrderId);
    expect((map(new ccxt.OrderNotFillable('post only')) as InvalidOrder).reason).toBe('post-only');
  });

  it('reads retry-after attached from the reply; falls back to the default', () => {
    const e = new ccxt.RateLimitExceeded('x');
    annotate(e, { status: 429, retryAfterMs: 3_000 });
    expect((map(e) as RateLimitExceeded).retryAfterMs).toBe(3_000);
    expect((mapCcxtError(new ccxt.DDoSProtection('y'), { exchange: 'x', defaultRetryAfterMs: 1_234 }) as RateLimitExceeded).retryAfterMs).toBe(1_234);
  });

  it('uses the attached HTTP status for outcome-unknown 5xx', () => {
    const e = new ccxt.ExchangeNotAvailable('bybit gateway error');
    annotate(e, { status: 500 });
    expect(outcomeUnknown(map(e))).toBe(true);
  });

  it('returns our own errors and non-ccxt errors unchanged', () => {
    const ours = new InsufficientFunds('already typed');
    expect(map(ours)).toBe(ours);
    const bug = new TypeError('x is undefined');
    expect(mapCcxtError(bug, ctx)).toBe(bug);
  });
});

describe('scrubbing', () => {
  it('removes secrets, signed query strings, signatures and credential headers', () => {
    const raw =
      `binance POST https://api.binance.com/api/v3/order?symbol=BTCUSDT&timestamp=1718000000000&signature=abcdef0123 request timed out ` +
      `headers {"X-MBX-APIKEY":"${CANARY.apiKey}","Content-Type":"application/x-www-form-urlencoded"} ` +
      `OK-ACCESS-KEY: someokxkey OK-ACCESS-SIGN: c2lnbg== OK-ACCESS-PASSPHRASE: ${CANARY.password} X-BAPI-SIGN=deadbeef secret ${CANARY.secret} ` +
      `body quantity=1&signature=ffff public https://api.binance.com/api/v3/ticker/24hr?symbol=BTCUSDT`;
    const s = scrubMessage(raw, Object.values(CANARY));
    expect(containsCanary(s)).toBe(false);
    expect(s).not.toMatch(/abcdef0123|someokxkey|c2lnbg==|deadbeef|ffff/);
    expect(s).toContain('https://api.binance.com/api/v3/order?[REDACTED]');
    expect(s).toContain('https://api.binance.com/api/v3/ticker/24hr?symbol=BTCUSDT'); // public query kept
    expect(s).toContain('"Content-Type":"application/x-www-form-urlencoded"');
  });

  it('the mapped error never carries the key, even when ccxt put it in the message', () => {
    const e = new ccxt.AuthenticationError(`binance {"code":-2015,"msg":"Invalid API-key ${CANARY.apiKey}, IP, or permissions for action."} GET https://api.binance.com/api/v3/account?timestamp=1&signature=99`);
    const m = map(e);
    expect(containsCanary(m.message)).toBe(false);
    expect(containsCanary(m.stack ?? '')).toBe(false);
    expect(m.message).not.toContain('signature=99');
  });
});

describe('retryAfterFrom', () => {
  const now = 1_718_000_000_000;
  it('reads Retry-After in seconds or as an HTTP date', () => {
    expect(retryAfterFrom({ 'Retry-After': '12' }, '', now)).toBe(12_000);
    expect(retryAfterFrom({ 'retry-after': new Date(now + 30_000).toUTCString() }, '', now)).toBe(30_000);
  });
  it('reads Bybit’s reset timestamp and Binance’s "banned until"', () => {
    expect(retryAfterFrom({ 'X-Bapi-Limit-Reset-Timestamp': String(now + 2_500) }, '', now)).toBe(2_500);
    expect(retryAfterFrom({}, `{"code":-1003,"msg":"Way too much request weight used; IP banned until ${now + 60_000}."}`, now)).toBe(60_000);
  });
  it('gives undefined when the reply says nothing', () => {
    expect(retryAfterFrom({}, '{"code":-1003}', now)).toBeUndefined();
  });
});
