/** The port-level vocabulary every adapter shares: the error taxonomy and the manual clock. */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/ports/clock.js';
import { positionFromPort, type PositionInfo } from '../../src/ports/exchange.js';
import {
  AuthenticationError,
  BadSymbol,
  DuplicateOrderId,
  ExchangeError,
  ExchangeNotAvailable,
  InsufficientFunds,
  InvalidOrder,
  NetworkError,
  OnMaintenance,
  OrderNotFound,
  RateLimitExceeded,
  RequestTimeout,
  outcomeUnknown,
  retryable,
} from '../../src/ports/errors.js';

describe('error taxonomy', () => {
  it.each([
    // [error, retryable, outcome unknown]
    [new RequestTimeout('t'), true, true],
    [new NetworkError('n'), true, true],
    [new RateLimitExceeded('r', 1_500), true, false],
    [new ExchangeNotAvailable('503'), true, false],
    [new ExchangeNotAvailable('504', { outcomeUnknown: true }), true, true],
    [new OnMaintenance('m', 123), true, false],
    [new InvalidOrder('i', 'amount-step'), false, false],
    [new OrderNotFound('o'), false, false],
    [new DuplicateOrderId('d'), false, false],
    [new InsufficientFunds('f'), false, false],
    [new AuthenticationError('a'), false, false],
    [new BadSymbol('b'), false, false],
  ] as const)('%s: retryable %s, outcome unknown %s', (err, isRetryable, unknown) => {
    expect(err).toBeInstanceOf(ExchangeError);
    expect(retryable(err)).toBe(isRetryable);
    expect(outcomeUnknown(err)).toBe(unknown);
    expect(err.name).toBe(err.constructor.name);
  });

  it('follows ccxt: OrderNotFound and DuplicateOrderId are InvalidOrders; timeouts are NetworkErrors', () => {
    expect(new OrderNotFound('x')).toBeInstanceOf(InvalidOrder);
    expect(new OrderNotFound('x').reason).toBe('not-found');
    expect(new DuplicateOrderId('x')).toBeInstanceOf(InvalidOrder);
    expect(new RequestTimeout('x')).toBeInstanceOf(NetworkError);
    expect(new OnMaintenance('x')).toBeInstanceOf(ExchangeNotAvailable);
    expect(new RateLimitExceeded('x', 250).retryAfterMs).toBe(250);
  });

  it('treats anything unmapped as not retryable and outcome unknown', () => {
    expect(retryable(new TypeError('bug'))).toBe(false);
    expect(outcomeUnknown(new Error('socket hang up'))).toBe(true);
  });
});

describe('ManualClock', () => {
  it('moves only forward, when told', () => {
    const c = new ManualClock(1_000);
    c.advance(500);
    expect(c.now()).toBe(1_500);
    c.set(2_000);
    expect(c.now()).toBe(2_000);
    expect(() => c.set(1_999)).toThrow(RangeError);
    expect(() => c.advance(-1)).toThrow(RangeError);
  });
});

describe('positionFromPort: a venue position as the core reads it', () => {
  const base: PositionInfo = {
    symbol: 'BTC/USDT:USDT',
    side: 'short',
    contracts: -0.5,
    contractSize: 1,
    entryPrice: 60_000,
    markPrice: 61_000,
    notional: -30_500,
    unrealizedPnl: -500,
    leverage: 5,
    marginMode: 'isolated',
    liquidationPrice: 70_000,
    initialMargin: 6_100,
    maintenanceMargin: 122,
    collateral: 6_000,
    timestamp: 0,
  };

  it('keeps the signed contracts, entry, leverage, margin mode and the isolated collateral', () => {
    expect(positionFromPort(base)).toEqual({ symbol: 'BTC/USDT:USDT', contracts: -0.5, contractSize: 1, entryPrice: 60_000, leverage: 5, marginMode: 'isolated', isolatedMargin: 6_000 });
  });

  it('an unknown collateral (null) or a cross position has no isolatedMargin (never NaN); a flat one is null', () => {
    expect(positionFromPort({ ...base, collateral: null })).not.toHaveProperty('isolatedMargin');
    expect(positionFromPort({ ...base, collateral: Number.NaN })).not.toHaveProperty('isolatedMargin');
    expect(positionFromPort({ ...base, marginMode: 'cross', collateral: null })).toEqual({ symbol: 'BTC/USDT:USDT', contracts: -0.5, contractSize: 1, entryPrice: 60_000, leverage: 5, marginMode: 'cross' });
    expect(positionFromPort({ ...base, contracts: 0 })).toBeNull();
  });
});
