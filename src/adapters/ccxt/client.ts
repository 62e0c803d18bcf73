/**
 * Building the ccxt client of a venue with ballast's settings. The only place ccxt instances are
 * constructed for live use; CcxtExchange (exchange.ts) wraps what this returns.
 *
 * Settings, per venue:
 * - every venue: `verbose: false` (CcxtExchange also locks it), no last-response caches, markets of
 *   type spot + linear only, ccxt's own throttle replaced by our per-key limiter (limiter.ts),
 *   request timeout `timeoutMs` (default 10 s).
 * - binance: spot wallet + USDⓈ-M futures (`fapi`); `fetchCurrencies` off (it needs the SAPI
 *   wallet endpoints, which ballast has no use for); open orders may be listed without a symbol.
 * - bybit: unified trading account (UTA) assumed — set `unifiedAccount: false` for a classic account.
 * - okx: trading account; a passphrase (`password`) is required.
 */

import * as ccxt from 'ccxt';
import type { ApiCredentials } from '../keys.js';

export type CcxtVenue = 'binance' | 'bybit' | 'okx';
export const SUPPORTED_VENUES: readonly CcxtVenue[] = ['binance', 'bybit', 'okx'];

/** The ccxt base class every venue client extends. */
export type CcxtClient = ccxt.Exchange;

export interface CcxtClientOptions {
  /** HTTP timeout in ms. Default 10 000. */
  timeoutMs?: number;
  /** Bybit only: the account is a unified trading account. Default true. */
  unifiedAccount?: boolean;
}

export function isSupportedVenue(id: string): id is CcxtVenue {
  return (SUPPORTED_VENUES as readonly string[]).includes(id);
}

/** Apply ballast's settings to an existing ccxt client (also used by tests that build their own). */
export function configureClient(client: CcxtClient, options: CcxtClientOptions = {}): CcxtClient {
  const id = client.id;
  client.verbose = false;
  client.timeout = options.timeoutMs ?? 10_000;
  client.enableLastHttpResponse = false;
  client.enableLastJsonResponse = false;
  client.enableLastResponseHeaders = false;
  const o = client.options as Record<string, unknown>;
  const fetchMarkets = (typeof o['fetchMarkets'] === 'object' && o['fetchMarkets'] !== null ? o['fetchMarkets'] : {}) as Record<string, unknown>;
  if (id === 'binance') {
    o['fetchMarkets'] = { ...fetchMarkets, types: ['spot', 'linear'] };
    o['fetchCurrencies'] = false;
    o['fetchMargins'] = false;
    o['warnOnFetchOpenOrdersWithoutSymbol'] = false;
    o['defaultType'] = 'spot';
  } else if (id === 'bybit') {
    o['fetchMarkets'] = { ...fetchMarkets, types: ['spot', 'linear'] };
    o['fetchCurrencies'] = false;
    const uta = options.unifiedAccount ?? true;
    o['enableUnifiedAccount'] = uta;
    o['enableUnifiedMargin'] = false;
    o['defaultSettle'] = 'USDT';
  } else if (id === 'okx') {
    o['fetchMarkets'] = { ...fetchMarkets, types: ['spot', 'swap'] };
    o['fetchCurrencies'] = false;
  }
  return client;
}

/** A configured ccxt client for `venue`; keys are revealed only here, into the client. */
export function createCcxtClient(venue: CcxtVenue, credentials?: ApiCredentials, options: CcxtClientOptions = {}): CcxtClient {
  if (!isSupportedVenue(venue)) throw new Error(`ccxt adapter: unsupported venue ${String(venue)} (supported: ${SUPPORTED_VENUES.join(', ')})`);
  const args: Record<string, unknown> = { enableRateLimit: true, verbose: false };
  if (credentials) {
    args['apiKey'] = credentials.apiKey.reveal();
    args['secret'] = credentials.secret.reveal();
    if (credentials.password) args['password'] = credentials.password.reveal();
  }
  const Ctor = { binance: ccxt.binance, bybit: ccxt.bybit, okx: ccxt.okx }[venue];
  return configureClient(new Ctor(args), options);
}
