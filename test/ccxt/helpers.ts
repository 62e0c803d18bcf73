/** Shared rig for the offline venue tests: replay server + configured ccxt client + CcxtExchange. */
import { createCcxtClient, type CcxtClient, type CcxtVenue } from '../../src/adapters/ccxt/client.js';
import { CcxtExchange, type CcxtExchangeOptions } from '../../src/adapters/ccxt/exchange.js';
import { RateLimiter } from '../../src/adapters/ccxt/limiter.js';
import { Secret, type ApiCredentials } from '../../src/adapters/keys.js';
import { ManualClock } from '../../src/ports/clock.js';
import { fixture, pointAt, ReplayServer, type Route } from './replay.js';

export const T0 = 1_718_000_000_000;

/** Planted canary credentials: no test output may ever contain them. */
export const CANARY = {
  apiKey: 'CANARYkeyQ7v9XbZ2mP4tL8nR1sW6yK3jH5gD0fA',
  secret: 'CANARYsecretZ9y8X7w6V5u4T3s2R1q0PoNmLkJiHgF',
  password: 'CANARYpassphrase42xyz',
};

export function canaryCredentials(): ApiCredentials {
  return {
    apiKey: new Secret(CANARY.apiKey),
    secret: new Secret(CANARY.secret),
    password: new Secret(CANARY.password),
    source: 'test',
  };
}

export function containsCanary(text: string): boolean {
  return Object.values(CANARY).some((v) => text.includes(v));
}

export interface Rig {
  server: ReplayServer;
  client: CcxtClient;
  ex: CcxtExchange;
  clock: ManualClock;
  close(): Promise<void>;
}

export interface RigOptions extends Partial<Omit<CcxtExchangeOptions, 'clock'>> {
  /** Load markets from test/fixtures/ccxt/<venue>/markets.json (default true). */
  fixtureMarkets?: boolean;
  timeoutMs?: number;
}

/** A permissive limiter (tests of the limiter itself build their own). */
export function looseLimiter(clock: ManualClock): RateLimiter {
  return new RateLimiter({ capacity: 1e6, refillPerSecond: 1e6, clock, sleep: async () => undefined });
}

export async function rig(venue: CcxtVenue, routes: Record<string, Route>, options: RigOptions = {}): Promise<Rig> {
  const server = await new ReplayServer(routes).start();
  const clock = new ManualClock(T0);
  const client = createCcxtClient(venue, canaryCredentials(), { timeoutMs: options.timeoutMs ?? 5_000 });
  pointAt(client, server.url);
  if (options.fixtureMarkets !== false) client.setMarkets(fixture(venue, 'markets'));
  const { fixtureMarkets: _f, timeoutMs: _t, ...rest } = options;
  const ex = new CcxtExchange(client, { clock, limiter: looseLimiter(clock), ...rest });
  return { server, client, ex, clock, close: () => server.stop() };
}

export const caught = (p: Promise<unknown>): Promise<unknown> => p.then(() => undefined, (e: unknown) => e);
