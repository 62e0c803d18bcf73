/**
 * Building the ccxt client of a venue with ballast's settings. The only place ccxt instances are
 * constructed for live use; CcxtExchange (exchange.ts) wraps what this returns.
 *
 * Settings, per venue:
 * - every venue: `verbose: false` (CcxtExchange also locks it), no last-response caches, markets of
 *   type spot + linear only, ccxt's own throttle replaced by our per-key limiter (limiter.ts),
 *   request timeout `timeoutMs` (default 10 s).
 * - per venue: the ccxt options and `has` overrides of its quirks object (quirks.ts): binance spot
 *   wallet + USDⓈ-M futures, positionRisk V2 through options; bybit unified trading account (UTA)
 *   assumed — set `unifiedAccount: false` for a classic account; okx trading account (a passphrase
 *   is required). `has.fetchCurrencies = false` everywhere (the currency endpoints need wallet
 *   rights ballast has no use for).
 * - `adjustForTimeDifference` on: ccxt measures the venue clock offset when markets load.
 */

import * as ccxt from 'ccxt';
import type { ApiCredentials } from '../keys.js';
import { QUIRKS, type CcxtVenue } from './quirks.js';

export type { CcxtVenue };
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
  if (!isSupportedVenue(id)) return client;
  const q = QUIRKS[id];
  const o = client.options as Record<string, unknown>;
  const fetchMarkets = (typeof o['fetchMarkets'] === 'object' && o['fetchMarkets'] !== null ? o['fetchMarkets'] : {}) as Record<string, unknown>;
  o['fetchMarkets'] = { ...fetchMarkets, types: q.marketTypes };
  Object.assign(o, q.ccxtOptions({ unifiedAccount: options.unifiedAccount ?? true }));
  // Requests carry a timestamp the venue checks against its clock (binance -1021, bybit 10002,
  // okx 50102): ccxt measures the offset when markets load and on loadTimeDifference().
  o['adjustForTimeDifference'] = true;
  Object.assign(client.has, q.has);
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
