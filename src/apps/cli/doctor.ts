/**
 * `ballast doctor --config F --live`: everything a first real-money start depends on, checked against
 * each live account of the portfolio file — and nothing traded. Only read requests are sent (key
 * rights, position mode, server time, markets and tiers, balances, funding rates); no order, no
 * leverage or margin change.
 *
 * Per account:
 *   keys          the key loads (env or 0600 file); the venue says it cannot withdraw (a key that can,
 *                 or whose answer cannot be read, is NOT READY unless --allow-unverified-keys);
 *                 transfer rights are reported
 *   position mode one-way / net, else NOT READY (ballast refuses to start)
 *   clock         the venue clock offset; ccxt signs with the venue's time, a large offset is a warning
 *   markets       every market of the portfolio exists and is active; its rules (lot, tick, minimum
 *                 notional, contract size, margin tiers)
 *   balances      per wallet (spot, futures, unified, trading)
 *   funding       the funding interval of each perpetual of the portfolio
 *   rate limit    the key's request budget now, and any ban in force
 *
 * Result: `ready` when no check failed (warnings allowed). Exit code 0 ready, 1 not ready, 2 bad input.
 */
import { loadPortfolio } from '../../adapters/files/portfolio.js';
import { KeyError, loadCredentials, UnverifiedKeyError, WithdrawalPermissionError, checkKeyPermissions, type ApiCredentials } from '../../adapters/keys.js';
import type { Clock } from '../../ports/clock.js';
import { UsageError } from './errors.js';
import { ccxtLiveExchange, portfolioSymbols, type LiveExchangeFactory } from './live.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  account: string;
  check: 'keys' | 'position mode' | 'clock' | 'markets' | 'balances' | 'funding' | 'rate limit';
  status: CheckStatus;
  detail: string;
}

export interface DoctorResult {
  ready: boolean;
  checks: DoctorCheck[];
}

/** What doctor reads beyond the Exchange port (CcxtExchange has all of it). */
interface DoctorVenue {
  id: string;
  fetchKeyPermissions(): Promise<{ canWithdraw: boolean | null; canTransfer?: boolean | null; detail: string }>;
  loadMarkets(): Promise<Record<string, { symbol: string; swap: boolean; active: boolean; amountStep: number; priceStep: number; minNotional: number; contractSize: number; tiers?: unknown[] }>>;
  fetchBalance(): Promise<{ total: Record<string, number> }>;
  fetchPositionMode?(): Promise<{ mode: string; detail: string; setting: string }>;
  syncClock?(): Promise<number>;
  walletBalances?: { wallet: string; total: Record<string, number> }[];
  fetchFundingIntervals?(symbols: string[]): Promise<Record<string, number>>;
  rateLimitHeadroom?(): { tokens: number; capacity: number; bannedUntil: number | null };
}

export interface DoctorOptions {
  config: string;
  clock: Clock;
  env?: NodeJS.ProcessEnv;
  factory?: LiveExchangeFactory;
  allowUnverifiedKeys?: boolean;
  /** Clock offset above which the clock check warns (ms). Default 1000. */
  maxSkewMs?: number;
}

const errText = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const fmt = (x: number): string => String(Number(x.toPrecision(10)));

export async function runDoctor(o: DoctorOptions): Promise<DoctorResult> {
  const portfolio = loadPortfolio(o.config);
  const accounts = portfolio.accounts ?? [];
  if (accounts.length === 0) throw new UsageError(`${o.config}: doctor --live checks the accounts under \`accounts:\`; there are none`);
  const live = accounts.filter((a) => a.exchange !== 'paper');
  if (live.length === 0) throw new UsageError(`${o.config}: every account is a paper account; doctor --live checks real exchange accounts`);
  const symbols = portfolioSymbols(portfolio);
  const factory = o.factory ?? ccxtLiveExchange;
  const checks: DoctorCheck[] = [];
  for (const a of live) {
    const add = (check: DoctorCheck['check'], status: CheckStatus, detail: string) => checks.push({ account: a.name, check, status, detail });
    let credentials: ApiCredentials;
    try {
      credentials = await loadCredentials({ account: a.name, ...(a.keys?.kind === 'file' ? { keyFile: a.keys.path } : {}), ...(o.env ? { env: o.env } : {}), venue: a.exchange });
    } catch (e) {
      if (!(e instanceof KeyError)) throw e;
      add('keys', 'fail', errText(e));
      continue;
    }
    const built = await factory(a, credentials, { clock: o.clock, symbols });
    const ex = built.exchange as unknown as DoctorVenue;
    try {
      // keys and their rights
      try {
        const k = await checkKeyPermissions(ex, { allowUnverified: o.allowUnverifiedKeys === true });
        add('keys', k.verified ? (k.canTransfer === true ? 'warn' : 'ok') : 'warn', `${credentials.source}: ${k.detail}${k.verified ? '' : ' (allowed by --allow-unverified-keys)'}`);
      } catch (e) {
        if (e instanceof WithdrawalPermissionError || e instanceof UnverifiedKeyError) add('keys', 'fail', errText(e));
        else add('keys', 'fail', `the venue did not answer the key check: ${errText(e)}`);
      }
      // position mode
      if (ex.fetchPositionMode) {
        try {
          const pm = await ex.fetchPositionMode();
          add('position mode', pm.mode === 'one-way' ? 'ok' : 'fail', pm.mode === 'one-way' ? `one-way (${pm.detail})` : `${pm.mode} (${pm.detail}): set ${pm.setting}`);
        } catch (e) {
          add('position mode', 'fail', `could not read it: ${errText(e)}`);
        }
      } else add('position mode', 'warn', 'this venue adapter cannot report its position mode');
      // clock
      if (ex.syncClock) {
        try {
          const skew = await ex.syncClock();
          const limit = o.maxSkewMs ?? 1_000;
          add('clock', Math.abs(skew) <= limit ? 'ok' : 'warn', `local − venue = ${skew} ms${Math.abs(skew) <= limit ? '' : ` (over ${limit} ms: fix the machine's time sync; requests are signed with the venue's time meanwhile)`}`);
        } catch (e) {
          add('clock', 'fail', `could not read the venue time: ${errText(e)}`);
        }
      }
      // markets and their rules
      let perps: string[] = [];
      try {
        const markets = await ex.loadMarkets();
        const missing = symbols.filter((s) => !markets[s]);
        const inactive = symbols.filter((s) => markets[s] && !markets[s]!.active);
        perps = symbols.filter((s) => markets[s]?.swap === true);
        const rules = symbols
          .filter((s) => markets[s])
          .map((s) => {
            const m = markets[s]!;
            return `${s} lot ${fmt(m.amountStep)} tick ${fmt(m.priceStep)} min notional ${fmt(m.minNotional)}${m.swap ? ` contract ${fmt(m.contractSize)}${m.tiers ? ` tiers ${m.tiers.length}` : ''}` : ''}`;
          });
        const bad = [...missing.map((s) => `${s} not listed`), ...inactive.map((s) => `${s} not trading`)];
        add('markets', bad.length > 0 ? 'fail' : 'ok', [...bad, ...rules].join('; '));
      } catch (e) {
        add('markets', 'fail', errText(e));
      }
      // balances per wallet
      try {
        const b = await ex.fetchBalance();
        const wallets = ex.walletBalances ?? [{ wallet: 'account', total: b.total }];
        const text = wallets.map((w) => `${w.wallet}: ${Object.entries(w.total).map(([c, v]) => `${c} ${fmt(v)}`).join(', ') || 'empty'}`).join('; ');
        const quote = b.total[portfolio.quote] ?? 0;
        add('balances', quote > 0 || Object.keys(b.total).length > 0 ? 'ok' : 'warn', text + (quote > 0 ? '' : ` (no ${portfolio.quote})`));
      } catch (e) {
        add('balances', 'fail', errText(e));
      }
      // funding intervals
      if (perps.length > 0 && ex.fetchFundingIntervals) {
        try {
          const iv = await ex.fetchFundingIntervals(perps);
          add('funding', 'ok', perps.map((s) => `${s} every ${fmt((iv[s] ?? NaN) / 3_600_000)} h`).join('; '));
        } catch (e) {
          add('funding', 'fail', errText(e));
        }
      }
      // rate-limit headroom
      if (ex.rateLimitHeadroom) {
        const h = ex.rateLimitHeadroom();
        if (h.bannedUntil !== null) add('rate limit', 'fail', `the key is banned until ${new Date(h.bannedUntil).toISOString()}`);
        else add('rate limit', 'ok', `${fmt(Math.max(0, h.tokens))} of ${fmt(h.capacity)} request units free now`);
      }
    } finally {
      await built.close?.().catch(() => {});
    }
  }
  return { ready: checks.every((c) => c.status !== 'fail'), checks };
}

/** The report as lines: one per check, then READY / NOT READY. */
export function doctorLines(r: DoctorResult): string[] {
  const mark: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };
  const lines = r.checks.map((c) => `${mark[c.status]}  ${c.account.padEnd(10)} ${c.check.padEnd(13)} ${c.detail}`);
  const fails = r.checks.filter((c) => c.status === 'fail').length;
  lines.push(r.ready ? 'READY: every check passed (warnings above, if any, are worth a look). Nothing was traded.' : `NOT READY: ${fails} check${fails === 1 ? '' : 's'} failed. Nothing was traded.`);
  return lines;
}
