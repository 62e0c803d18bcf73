/**
 * One portfolio cycle on a worker — what a BullMQ job runs:
 *
 *   load the stored portfolio (validated again)
 *   → take each bound exchange account's Redis lock, get its fencing token, raise the token in Postgres
 *   → open the portfolio's Postgres journal (intents carry the token) and its venues (shared rate limit per
 *     key, fencing check before every order)
 *   → the same Service as `ballast run`: reconcile, snapshot, plan, journal, execute — once
 *   → stop the service (journal locks released), release the account locks.
 *
 * An account held by another worker is not waited for: the job fails with AccountBusy and BullMQ retries it
 * with backoff. Nothing here decides what to trade — that is the Service and the core, unchanged.
 */
import type { Redis } from 'ioredis';
import { serviceConfig } from '../../adapters/files/portfolio.js';
import { PostgresJournal } from '../../adapters/journal/postgres.js';
import type { SyncPg } from '../../adapters/journal/pg-sync.js';
import { AccountLocks, fencedExchange, type Held } from '../../adapters/scale/account-lock.js';
import { parseStored, type PortfolioStore, type StoredPortfolio } from '../../adapters/scale/portfolios.js';
import { limitedExchange, SharedRateLimiter } from '../../adapters/scale/rate-limit.js';
import { RemoteExchange } from '../../adapters/venue/client.js';
import type { CreateOrderRequest, Exchange, Order } from '../../ports/exchange.js';
import { Service, type CycleReport, type ServiceLog } from '../../service/service.js';
import { ExchangeSnapshotSource } from '../../service/sim-source.js';
import { executorConfigFromOrders } from '../../execution/executor.js';
import type { CrashHook } from '../../execution/crash.js';

export class AccountBusy extends Error {
  override name = 'AccountBusy';
}

export interface CycleDeps {
  url: string;
  connection: SyncPg;
  store: PortfolioStore;
  redis: Redis;
  locks: AccountLocks;
  /** Budget per exchange key (shared by every worker through Redis). */
  rate: { capacity: number; refillPerSecond: number };
  log?: ServiceLog;
  /** Crash-test hook (kills the process at a named point of the executor). */
  crash?: CrashHook;
}

export interface CycleResult {
  portfolio: string;
  status: CycleReport['status'] | 'removed';
  reason: string;
  rebalanceId?: number;
  orders: number;
  /** Wall time (epoch ms) when the venue acknowledged this cycle's last order; absent when none was sent. */
  sentAt?: number;
  tokens: Record<string, number>;
}

/** The venue with the wall time of every acknowledged createOrder reported to `sent` (for the cycle's `sentAt`). */
function timedOrders(inner: Exchange, sent: (at: number) => void): Exchange {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'createOrder') {
        return async (req: CreateOrderRequest): Promise<Order> => {
          const o = await target.createOrder(req);
          sent(Date.now());
          return o;
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** The lock (and rate-limit) key of an exchange account: where it trades and under which account name. */
export function accountKey(stored: StoredPortfolio, account: string, exchange: string): string {
  const venue = stored.bindings[account]?.venue;
  return venue !== undefined ? `paper:${venue}` : `${exchange}:${account}`;
}

export async function runPortfolioCycle(name: string, trigger: string, d: CycleDeps): Promise<CycleResult> {
  const stored = d.store.get(name);
  if (!stored) return { portfolio: name, status: 'removed', reason: 'the portfolio was removed', orders: 0, tokens: {} };
  const portfolio = parseStored(stored);
  const accounts = serviceConfig(portfolio).accounts;
  const held: Record<string, Held> = {};
  // Keep the account locks while the cycle runs; a renewal that fails means another worker may hold the
  // account now — the fencing check then refuses every further order of this cycle.
  const renew = setInterval(() => {
    for (const h of Object.values(held)) void d.locks.renew(h.key).catch(() => {});
  }, Math.max(50, Math.floor(d.locks.ttlMs / 3)));
  renew.unref();
  const release = async () => {
    clearInterval(renew);
    for (const h of Object.values(held)) await d.locks.release(h.key).catch(() => {});
  };
  let journal: PostgresJournal | undefined;
  let service: Service | undefined;
  let sentAt: number | undefined;
  try {
    for (const a of accounts) {
      const key = accountKey(stored, a.name, a.exchange);
      const mark = d.connection.query<{ token: number }>('SELECT token FROM fences WHERE lock_key = $1', [key]).rows[0]?.token ?? 0;
      const r = await d.locks.acquire(key, mark);
      if ('heldForMs' in r) throw new AccountBusy(`account ${key} of portfolio ${name} is held by another worker for up to ${r.heldForMs} ms`);
      held[a.name] = { key, token: r.token };
    }
    journal = new PostgresJournal(d.url, {
      clock: { now: () => Date.now() },
      portfolio: name,
      connection: d.connection,
      instance: d.locks.owner,
      lockStaleMs: d.locks.ttlMs,
      fenceFor: (account) => held[account] ?? null,
    });
    // The new holder's token becomes the account's high-water mark before anything is sent.
    for (const h of Object.values(held)) journal.raiseFence(h.key, h.token);

    const venues: Record<string, Exchange> = {};
    const clocks: RemoteExchange[] = [];
    for (const a of accounts) {
      const url = stored.bindings[a.name]?.venue;
      if (url === undefined) throw new Error(`account ${a.name} of portfolio ${name}: live exchange accounts are not served by workers yet; bind a simulated venue (--venue ${a.name}=URL)`);
      const remote = await RemoteExchange.connect(url);
      clocks.push(remote);
      const limiter = new SharedRateLimiter(d.redis, { key: held[a.name]!.key, ...d.rate });
      // the fencing check is the last step before the request: after the rate limiter's wait, not before it
      // (a worker that waited for a token may have lost its account meanwhile)
      venues[a.name] = timedOrders(limitedExchange(fencedExchange(remote, journal, held[a.name]!), limiter), (at) => {
        sentAt = at;
      });
    }
    const clock = { now: () => clocks[0]!.venueTime };
    const source = new ExchangeSnapshotSource({ accounts: accounts.map((a) => ({ name: a.name, exchange: venues[a.name]! })), clock, quote: portfolio.quote, portfolio });
    service = new Service(
      { portfolio, execution: executorConfigFromOrders(serviceConfig(portfolio).orders), actor: `worker:${d.locks.owner}` },
      { journal, venues, source, clock, ...(d.log ? { log: d.log } : {}), ...(d.crash ? { crash: d.crash } : {}) },
    );
    await service.start({ loop: false });
    if (trigger === 'manual') service.requestRebalance(`worker:${d.locks.owner}`);
    const report = await service.runOnce();
    const orders = report.rebalanceId !== undefined ? journal.intents({ rebalanceId: report.rebalanceId }).length : 0;
    return {
      portfolio: name,
      status: report.status,
      reason: report.reason,
      ...(report.rebalanceId !== undefined ? { rebalanceId: report.rebalanceId } : {}),
      orders,
      ...(sentAt !== undefined ? { sentAt } : {}),
      tokens: Object.fromEntries(Object.entries(held).map(([k, h]) => [k, h.token])),
    };
  } finally {
    try {
      await service?.stop();
    } finally {
      journal?.close();
      await release();
    }
  }
}
