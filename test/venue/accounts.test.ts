/**
 * Many paper accounts in one venue process: accounts are independent (balances, orders, client ids), share
 * one market and one clock, survive a restart from the state folder, and the venue root serves market data
 * only. Each account's `/state` is a one-account venue state (what test/crash/verify.ts reads).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ArrayFeed } from '../../src/adapters/sim/feed.js';
import { AccountsVenue, marketUrl, type AccountsVenueOptions } from '../../src/adapters/venue/accounts.js';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import type { VenueState } from '../../src/adapters/venue/server.js';
import { BadRequest, InsufficientFunds } from '../../src/ports/errors.js';
import { CONTRACT_CONFIG, T0, tempDir } from './helpers.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const flat = (p: number, volume = 1e9) => ({ open: p, high: p, low: p, close: p, volume });

async function start(dir: string): Promise<AccountsVenue> {
  const o: AccountsVenueOptions = { stateDir: join(dir, 'venue'), config: CONTRACT_CONFIG, makeFeed: () => new ArrayFeed(), startTime: T0, sync: false };
  const v = new AccountsVenue(o);
  await v.start(0);
  cleanups.push(() => v.stop());
  return v;
}

describe('many accounts in one venue', () => {
  it('keeps accounts apart on one market and one clock, and restores them from the state folder', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const v = await start(t.dir);
    const root = new RemoteExchange({ url: v.url });
    await root.pushBar('BTC/USDT', flat(100));
    await root.advance({ ms: 60_000 });

    // explicit creation with own balances; implicit creation with the venue's starting balances
    expect(await root.createAccount('alice', { USDT: 1_000 })).toBe(v.accountUrl('alice'));
    const alice = await RemoteExchange.connect(v.accountUrl('alice'));
    const bob = await RemoteExchange.connect(v.accountUrl('bob'));
    expect((await alice.fetchBalance()).total.USDT).toBe(1_000);
    expect((await bob.fetchBalance()).total.USDT).toBe(100_000);

    // the same client order id in two accounts is two orders; a fill in one leaves the other untouched
    await alice.createOrder({ symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 5, clientOrderId: 'c1' });
    await bob.createOrder({ symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 1, clientOrderId: 'c1' });
    expect((await alice.fetchBalance()).total.BTC).toBeCloseTo(5, 9); // its own balances: no BTC to start with
    expect((await bob.fetchBalance()).total.BTC).toBeCloseTo(11, 9);
    await expect(alice.createOrder({ symbol: 'BTC/USDT', type: 'market', side: 'buy', amount: 100, clientOrderId: 'c2' })).rejects.toBeInstanceOf(InsufficientFunds);

    // one market: a pushed bar and a clock move are seen by every account (and by accounts created later)
    await root.pushBar('BTC/USDT', flat(120));
    const now = await root.advance({ ms: 60_000 });
    expect((await alice.fetchTicker('BTC/USDT')).last).toBe(120);
    expect((await bob.fetchTicker('BTC/USDT')).last).toBe(120);
    const carol = await RemoteExchange.connect(v.accountUrl('carol'));
    expect((await carol.fetchTicker('BTC/USDT')).last).toBe(120);
    expect(carol.venueTime).toBe(now);

    // the root serves market data, not trading; a bad account name is refused
    expect((await root.fetchTickers(['BTC/USDT']))['BTC/USDT']!.last).toBe(120);
    await expect(root.fetchBalance()).rejects.toBeInstanceOf(BadRequest);
    await expect(new RemoteExchange({ url: `${v.url}/a/..bad` }).fetchBalance()).rejects.toThrow(/not valid/);
    await expect(root.createAccount('alice')).rejects.toThrow(/exists already/);

    // an account's /state is a one-account venue state
    const st = (await alice.state()) as VenueState;
    expect(st.format).toBe('ballast-venue');
    expect(st.sim.trades).toHaveLength(1);
    expect(readdirSync(join(t.dir, 'venue', 'accounts')).sort()).toEqual(['alice.json', 'bob.json', 'carol.json']);
    expect(marketUrl(v.accountUrl('alice'))).toBe(v.url);
    expect(marketUrl(v.url)).toBe(v.url);

    // restart from the folder: balances, orders and the clock are back
    const before = { a: await alice.fetchBalance(), b: await bob.fetchBalance(), orders: await alice.fetchClosedOrders() };
    await v.stop();
    const w = await start(t.dir);
    expect(existsSync(join(t.dir, 'venue', 'venue.json'))).toBe(true);
    expect(w.names()).toEqual(['alice', 'bob', 'carol']);
    const alice2 = await RemoteExchange.connect(w.accountUrl('alice'));
    const bob2 = await RemoteExchange.connect(w.accountUrl('bob'));
    expect(alice2.venueTime).toBe(now);
    expect((await alice2.fetchBalance()).total).toEqual(before.a.total);
    expect((await bob2.fetchBalance()).total).toEqual(before.b.total);
    expect(await alice2.fetchClosedOrders()).toEqual(before.orders);
    // an order sent before the restart is still found by its client id, in its own account only
    expect((await alice2.fetchOrder({ clientOrderId: 'c1' }, 'BTC/USDT')).amount).toBe(5);
    expect((await bob2.fetchOrder({ clientOrderId: 'c1' }, 'BTC/USDT')).amount).toBe(1);
  });
});
