/**
 * Live accounts for `ballast run --live` and `ballast snapshot --live`: keys, permission check, ccxt
 * adapters. ccxt is imported only here and only when a live or live-price paper venue is asked for (it takes
 * seconds to load), so replay and paper runs never load it.
 *
 * Rules
 * - `--live` needs accounts on real exchanges in the portfolio file (`accounts:`); a paper account is refused.
 * - Keys come from the environment or a 0600 key file (src/adapters/keys.ts): a missing or half-set key, or a
 *   looser key file, refuses the start (exit 2) naming the variable or file — never a value.
 * - Every key is checked with the venue: a key that can WITHDRAW is refused; when the venue's answer
 *   cannot be read the key is refused too (fail closed), unless `allowUnverifiedKeys` (the user's
 *   `--allow-unverified-keys`). Transfer rights are logged.
 * - The account's position mode is read at start: anything but one-way (net) is refused (exit 2),
 *   naming the venue setting to change.
 * - The venue clock offset is measured at start (ccxt adjusts signatures with it) and logged.
 */
import type { AccountConfig, Portfolio } from '../../core/types.js';
import type { Clock } from '../../ports/clock.js';
import type { Exchange } from '../../ports/exchange.js';
import { checkKeyPermissions, loadCredentials, type ApiCredentials, type KeyCheck, type KeyPermissionSource } from '../../adapters/keys.js';
import type { Watcher } from '../../adapters/feed/live.js';
import type { PriceSource } from '../../adapters/venue/live-prices.js';
import { UsageError } from './errors.js';

/** What a live venue may offer beyond the Exchange port (CcxtExchange does). */
export interface AccountChecks {
  fetchPositionMode?(): Promise<{ mode: 'one-way' | 'hedge' | 'unknown'; detail: string; setting: string }>;
  syncClock?(): Promise<number>;
}

export interface LiveVenue {
  exchange: Exchange & KeyPermissionSource & AccountChecks;
  watcher?: Watcher;
  close?(): Promise<void>;
}

export interface LiveFactoryContext {
  clock: Clock;
  /** Markets the account trades (spot and perps of the portfolio). */
  symbols: string[];
}

/** Builds the venue of one live account from its keys (default: ccxt). Tests pass a fake: no network. */
export type LiveExchangeFactory = (account: AccountConfig, credentials: ApiCredentials, ctx: LiveFactoryContext) => Promise<LiveVenue>;

export interface LiveAccount {
  name: string;
  venue: LiveVenue;
  permissions: KeyCheck;
}

export interface LiveLog {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** The markets a portfolio trades: `ASSET/QUOTE` for every non-quote asset, hedges and index perps. */
export function portfolioSymbols(p: Portfolio): string[] {
  const out = new Set<string>();
  for (const c of p.classes) {
    for (const a of c.assets) if (a !== p.quote) out.add(`${a}/${p.quote}`);
    if (c.hedge) out.add(c.hedge);
  }
  for (const x of p.indexPerps) out.add(x.symbol);
  return [...out].sort();
}

/** The ccxt adapter of a live account (REST + ccxt.pro streams), keys revealed only into the clients. */
export const ccxtLiveExchange: LiveExchangeFactory = async (account, credentials, ctx) => {
  if (account.exchange === 'paper') throw new UsageError(`account ${account.name} is a paper account`);
  const [{ createCcxtClient, configureClient }, { CcxtExchange }, { CcxtProWatcher }, ccxt] = await Promise.all([
    import('../../adapters/ccxt/client.js'),
    import('../../adapters/ccxt/exchange.js'),
    import('../../adapters/feed/ccxt-watcher.js'),
    import('ccxt'),
  ]);
  const venue = account.exchange as 'binance' | 'bybit' | 'okx';
  const client = createCcxtClient(venue, credentials);
  const exchange = new CcxtExchange(client, { clock: ctx.clock, symbols: ctx.symbols });
  const args: Record<string, unknown> = { enableRateLimit: true, verbose: false, apiKey: credentials.apiKey.reveal(), secret: credentials.secret.reveal() };
  if (credentials.password) args['password'] = credentials.password.reveal();
  const Pro = (ccxt.pro as unknown as Record<string, new (a: Record<string, unknown>) => import('ccxt').Exchange>)[venue];
  let watcher: Watcher | undefined;
  if (Pro) {
    const pro = configureClient(new Pro(args));
    watcher = new CcxtProWatcher(pro as unknown as ConstructorParameters<typeof CcxtProWatcher>[0]);
  }
  return { exchange, ...(watcher ? { watcher } : {}), close: async () => watcher?.close() };
};

/** A keyless ccxt client as the price source of paper trading on live prices. */
export async function ccxtPriceSource(venue: string, clock: Clock, symbols: string[]): Promise<PriceSource> {
  const [{ createCcxtClient, isSupportedVenue }, { CcxtExchange }] = await Promise.all([import('../../adapters/ccxt/client.js'), import('../../adapters/ccxt/exchange.js')]);
  if (!isSupportedVenue(venue)) throw new UsageError(`--prices: unsupported venue ${venue} (binance, bybit, okx)`);
  return new CcxtExchange(createCcxtClient(venue), { clock, symbols });
}

/**
 * Keys, venue and permission check of every account. Throws UsageError for configuration problems (paper
 * accounts, no accounts), KeyError for keys, WithdrawalPermissionError for a key that can withdraw.
 */
export async function openLiveAccounts(
  portfolio: Portfolio,
  o: { clock: Clock; env?: NodeJS.ProcessEnv; factory?: LiveExchangeFactory; log?: LiveLog; allowUnverifiedKeys?: boolean },
): Promise<LiveAccount[]> {
  const accounts = portfolio.accounts;
  if (!accounts || accounts.length === 0) {
    throw new UsageError('--live needs the exchange accounts to trade: list them under `accounts:` in the portfolio file (e.g. { name: main, exchange: binance })');
  }
  const paper = accounts.filter((a) => a.exchange === 'paper');
  if (paper.length > 0) throw new UsageError(`--live trades real exchanges only; account ${paper.map((a) => a.name).join(', ')} is a paper account (exchange: paper). Run without --live for paper trading.`);
  const factory = o.factory ?? ccxtLiveExchange;
  const symbols = portfolioSymbols(portfolio);
  const out: LiveAccount[] = [];
  try {
    for (const a of accounts) {
      const credentials = await loadCredentials({
        account: a.name,
        ...(a.keys?.kind === 'file' ? { keyFile: a.keys.path } : {}),
        ...(o.env ? { env: o.env } : {}),
        venue: a.exchange,
      });
      const venue = await factory(a, credentials, { clock: o.clock, symbols });
      out.push({ name: a.name, venue, permissions: { verified: false, detail: 'not checked' } });
      const permissions = await checkKeyPermissions(venue.exchange, { allowUnverified: o.allowUnverifiedKeys === true });
      out[out.length - 1]!.permissions = permissions;
      if (permissions.verified) o.log?.info({ account: a.name, exchange: a.exchange, keys: credentials.source }, permissions.detail);
      else o.log?.warn({ account: a.name, exchange: a.exchange, keys: credentials.source }, `${permissions.detail}: used because --allow-unverified-keys was given`);
      const ex = venue.exchange;
      if (ex.syncClock) {
        const skew = await ex.syncClock();
        o.log?.info({ account: a.name, exchange: a.exchange, clockSkewMs: skew }, `venue clock offset ${skew} ms (local − venue)`);
      }
      if (ex.fetchPositionMode) {
        const pm = await ex.fetchPositionMode();
        if (pm.mode !== 'one-way') {
          throw new UsageError(
            `account ${a.name} (${a.exchange}): position mode is ${pm.mode === 'hedge' ? 'hedge (long/short)' : 'unknown'} (${pm.detail}); ballast trades one-way (net) accounts only: set ${pm.setting}`,
          );
        }
      }
    }
  } catch (e) {
    for (const x of out) await x.venue.close?.().catch(() => {});
    throw e;
  }
  return out;
}

export type { ApiCredentials };
