/**
 * Reconciliation rules one by one: baseline, orphans of ours (adopted, then cancelled or kept), foreign open
 * orders left alone, fills of orders the journal never saw, funding payments, and the named mismatch.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { clientOrderId } from '../../src/execution/ids.js';
import { Reconciler } from '../../src/execution/reconcile.js';
import type { Journal } from '../../src/ports/journal.js';
import { ACCOUNT, expectLedgerEqualsVenue, MIN, PERP, quietly, SPOT, T0, world, type World } from './helpers.js';

let w: World;
let journal: Journal;
afterEach(() => {
  journal?.close();
  w?.cleanup();
});

function reconciler(orphans: 'cancel' | 'adopt' = 'cancel'): Reconciler {
  journal = w.journal();
  const tracker = w.tracker(journal);
  return new Reconciler({ journal, venues: { [ACCOUNT]: w.venue }, tracker, clock: w.clock, sleep: w.sleep }, { orphans });
}

const ours = clientOrderId({ rebalanceId: 41, leg: 2, slice: 0, attempt: 1 });

describe('reconciliation', () => {
  it('takes the venue holdings as the baseline on the first start', async () => {
    w = world();
    await quietly(w.sim, () => w.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 0.2, clientOrderId: 'before-us' }));
    const rec = reconciler();
    const rep = await rec.reconcile('start');
    expect(rep.ok).toBe(true);
    expect(rep.accounts[0]!.baseline).toBe(true);
    expect(journal.book(ACCOUNT)).toEqual({ BTC: 1, [PERP]: -0.2 });
    // a trade from before the baseline is history: not applied again, no alert
    w.clock.advance(MIN);
    const again = await rec.reconcile();
    expect(again.ok).toBe(true);
    expect(again.accounts[0]!.externalFills).toEqual([]);
    expect(journal.tradingState().state).toBe('ACTIVE');
  });

  it('adopts an open order of ours the journal lacks (e.g. restored from a backup) and cancels it', async () => {
    w = world();
    await quietly(w.sim, () => w.sim.createOrder({ symbol: SPOT, type: 'limit', side: 'buy', amount: 0.01, price: 50_000, clientOrderId: ours }));
    const rec = reconciler('cancel');
    const rep = await rec.reconcile('start');
    expect(rep.accounts[0]!.adopted).toEqual([ours]);
    expect(rep.accounts[0]!.canceled).toEqual([ours]);
    expect(journal.intent(ours)).toMatchObject({ rebalanceId: 41, leg: 2, slice: 0, attempt: 1, state: 'CANCELED', venueOrderId: '1' });
    expect(journal.events({ type: 'alert' }).some((e) => (e.payload as { adopted?: string }).adopted === ours)).toBe(true);
    expect(await quietly(w.sim, () => w.sim.fetchOpenOrders())).toEqual([]);
    await expectLedgerEqualsVenue(w.sim, journal);
  });

  it('with orphans: adopt, keeps tracking it; its later fill lands on the adopted intent', async () => {
    w = world();
    await quietly(w.sim, () => w.sim.createOrder({ symbol: SPOT, type: 'limit', side: 'sell', amount: 0.01, price: 58_050, clientOrderId: ours }));
    const rec = reconciler('adopt');
    await rec.reconcile('start');
    expect(journal.intent(ours)!.state).toBe('OPEN');
    w.clock.advance(MIN); // the next bar trades through 58 050
    const rep = await rec.reconcile();
    expect(rep.ok).toBe(true);
    expect(journal.intent(ours)).toMatchObject({ state: 'FILLED', filled: 0.01 });
    expect(journal.fills({ clientOrderId: ours })).toHaveLength(1);
    expect(rep.accounts[0]!.externalFills).toEqual([]);
    await expectLedgerEqualsVenue(w.sim, journal);
  });

  it('leaves open orders it did not place alone, and says so', async () => {
    w = world();
    await quietly(w.sim, () => w.sim.createOrder({ symbol: SPOT, type: 'limit', side: 'buy', amount: 0.01, price: 50_000, clientOrderId: 'my-manual-bid' }));
    const rec = reconciler('cancel');
    const rep = await rec.reconcile('start');
    expect(rep.accounts[0]!.notes.join()).toMatch(/open order 1 .*my-manual-bid.* was not placed by ballast: left alone/);
    expect(await quietly(w.sim, () => w.sim.fetchOpenOrders())).toHaveLength(1);
  });

  it('records a fill of one of our orders the journal never saw as ours (not external), adopting its intent', async () => {
    w = world();
    const rec = reconciler();
    await rec.reconcile('start');
    w.clock.advance(MIN);
    await quietly(w.sim, () => w.sim.createOrder({ symbol: SPOT, type: 'market', side: 'sell', amount: 0.01, clientOrderId: ours }));
    const rep = await rec.reconcile();
    expect(rep.ok).toBe(true);
    expect(rep.accounts[0]!.adopted).toEqual([ours]);
    expect(rep.accounts[0]!.externalFills).toEqual([]);
    expect(journal.intent(ours)).toMatchObject({ state: 'FILLED', filled: 0.01 });
    expect(journal.tradingState().state).toBe('ACTIVE');
    await expectLedgerEqualsVenue(w.sim, journal);
  });

  it('records funding payments once and keeps the sweep cursors', async () => {
    w = world({ balances: { USDT: 42_000 } });
    w.feed.pushFunding(PERP, T0 + 10 * MIN, -0.0002);
    const rec = reconciler();
    await quietly(w.sim, () => w.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 0.1, clientOrderId: 'pre' }));
    await rec.reconcile('start');
    w.clock.set(T0 + 11 * MIN);
    const r1 = await rec.reconcile();
    expect(r1.accounts[0]!.fundingRecorded).toBe(1);
    const f = journal.funding()[0]!;
    expect(f.amount).toBeCloseTo(-0.1 * 58_000 * 0.0002, 9); // a short pays a negative rate
    expect((await rec.reconcile()).accounts[0]!.fundingRecorded).toBe(0);
    expect(journal.funding()).toHaveLength(1);
  });

  it('names a mismatch no fill explains (a periodic one halts trading)', async () => {
    w = world();
    await quietly(w.sim, () => w.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 0.2, clientOrderId: 'before-us' }));
    const rec = reconciler();
    await rec.reconcile('start');
    // the venue's position changes with no trade we can see (e.g. a transfer between sub-accounts)
    w.sim.ledger.contracts[w.sim.ledger.perpIndex(PERP)] = -0.3;
    const rep = await rec.reconcile();
    expect(rep.ok).toBe(false);
    expect(rep.mismatches).toEqual([`position ${PERP} on main: venue -0.3, journal -0.2, no fills explain -0.1`]);
    expect(journal.tradingState()).toMatchObject({ state: 'HALTED', by: 'reconciler' });
  });
});
