/**
 * The crash test's verdict: the journal against the simulated venue, both read after the last run ended.
 *
 *   duplicate orders   a client order id the venue received more than once; two intents claiming one venue
 *                      order; a venue order of ours that no intent explains
 *   lost fills         a venue trade that is not in the journal's fills (and a journal fill the venue lacks)
 *   mismatches         the journal does not equal the venue:
 *                        · an intent's filled amount or state differs from its venue order
 *                        · the journal's book differs from the venue's balances and positions
 *                        · balances derived from the journal's fills alone (baseline + Σ fills − fees, and the
 *                          quote: starting balance − Σ buy cost + Σ sell cost − quote fees + funding) differ
 *                          from the venue's
 */
import { Decimal } from 'decimal.js';
import { SqliteJournal } from '../../src/adapters/journal/sqlite.js';
import type { VenueState } from '../../src/adapters/venue/server.js';
import { RemoteExchange } from '../../src/adapters/venue/client.js';
import { isOurs } from '../../src/execution/ids.js';
import { ManualClock } from '../../src/ports/clock.js';
import type { Journal } from '../../src/ports/journal.js';

export interface Verdict {
  duplicateOrders: string[];
  lostFills: string[];
  mismatches: string[];
  /** Counts for the report. */
  venueOrders: number;
  venueTrades: number;
  intents: number;
}

const close = (a: number, b: number): boolean => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

/** `journal`: a SQLite file path (opened and closed here) or an open Journal (any implementation; left open). */
export async function verifyJournalAgainstVenue(journal: string | Journal, venueUrl: string, account: string, quote = 'USDT'): Promise<Verdict> {
  const venue = new RemoteExchange({ url: venueUrl });
  const state = (await venue.state()) as VenueState;
  const sim = state.sim;
  const balance = await venue.fetchBalance();
  const positions = await venue.fetchPositions();
  const j = typeof journal === 'string' ? new SqliteJournal(journal, { clock: new ManualClock(0) }) : journal;
  const v: Verdict = { duplicateOrders: [], lostFills: [], mismatches: [], venueOrders: sim.orders.length, venueTrades: sim.trades.length, intents: 0 };
  try {
    const intents = j.intents({ account });
    v.intents = intents.length;

    // ---- no order sent twice
    const perCid = new Map<string, number>();
    for (const o of sim.orders) if (o.clientOrderId !== null) perCid.set(o.clientOrderId, (perCid.get(o.clientOrderId) ?? 0) + 1);
    for (const [cid, n] of perCid) if (n > 1) v.duplicateOrders.push(`client id ${cid} received ${n} times by the venue`);
    const perVenueId = new Map<string, string[]>();
    for (const i of intents) if (i.venueOrderId !== null) perVenueId.set(i.venueOrderId, [...(perVenueId.get(i.venueOrderId) ?? []), i.clientOrderId]);
    for (const [id, cids] of perVenueId) if (cids.length > 1) v.duplicateOrders.push(`venue order ${id} claimed by intents ${cids.join(', ')}`);
    for (const o of sim.orders) {
      if (!isOurs(o.clientOrderId)) continue;
      const i = j.intent(o.clientOrderId!);
      if (!i) {
        v.duplicateOrders.push(`venue order ${o.id} (${o.clientOrderId}) has no intent in the journal`);
        continue;
      }
      if (i.venueOrderId !== o.id) v.mismatches.push(`intent ${i.clientOrderId}: venue order id ${i.venueOrderId} ≠ ${o.id}`);
      if (!close(i.filled, o.filled)) v.mismatches.push(`intent ${i.clientOrderId}: filled ${i.filled} ≠ venue ${o.filled}`);
      const want = o.status === 'closed' ? ['FILLED'] : o.status === 'open' ? ['OPEN', 'PARTIALLY_FILLED', 'CANCELING'] : o.filled >= o.amount ? ['FILLED'] : ['CANCELED'];
      if (!want.includes(i.state)) v.mismatches.push(`intent ${i.clientOrderId}: state ${i.state}, venue order ${o.status} (filled ${o.filled} of ${o.amount})`);
    }
    for (const i of intents) {
      if (i.venueOrderId === null && !['NEW', 'REJECTED', 'CANCELED'].includes(i.state)) v.mismatches.push(`intent ${i.clientOrderId} is ${i.state} without a venue order`);
      if (i.venueOrderId === null && i.state === 'CANCELED' && perCid.has(i.clientOrderId)) v.mismatches.push(`intent ${i.clientOrderId} abandoned as never sent, but the venue has it`);
    }

    // ---- no fill lost
    const fills = j.fills({ account });
    const byTrade = new Map(fills.map((f) => [f.tradeId, f]));
    for (const t of sim.trades) {
      const f = byTrade.get(t.id);
      if (!f) v.lostFills.push(`venue trade ${t.id} (${t.side} ${t.amount} ${t.symbol}, order ${t.order}, ${t.clientOrderId}) is not in the journal`);
      else if (!close(f.amount, t.amount) || !close(f.price, t.price)) v.mismatches.push(`fill ${t.id}: journal ${f.amount} @ ${f.price}, venue ${t.amount} @ ${t.price}`);
    }
    const venueTrades = new Set(sim.trades.map((t) => t.id));
    for (const f of fills) if (!venueTrades.has(f.tradeId)) v.mismatches.push(`journal fill ${f.tradeId} does not exist on the venue`);

    // ---- the journal's book equals the venue
    const book = j.book(account) ?? {};
    for (const [asset, total] of Object.entries(balance.total)) if (asset !== quote && !close(book[asset] ?? 0, total)) v.mismatches.push(`book ${asset}: journal ${book[asset] ?? 0}, venue ${total}`);
    for (const p of positions) if (!close(book[p.symbol] ?? 0, p.contracts)) v.mismatches.push(`book ${p.symbol}: journal ${book[p.symbol] ?? 0}, venue ${p.contracts}`);
    for (const [k, x] of Object.entries(book)) {
      if (k.includes('/')) {
        if (!close(positions.find((p) => p.symbol === k)?.contracts ?? 0, x)) v.mismatches.push(`book position ${k}: journal ${x}, venue none`);
      } else if (!close(balance.total[k] ?? 0, x)) v.mismatches.push(`book ${k}: journal ${x}, venue ${balance.total[k] ?? 0}`);
    }

    // ---- balances derived from the journal's fills alone
    const baselineEvent = j.events({ type: 'reconcile', account }).find((e) => (e.payload as { baseline?: unknown }).baseline !== undefined);
    const derived = new Map<string, Decimal>(Object.entries((baselineEvent?.payload as { baseline?: Record<string, number> })?.baseline ?? {}).map(([k, x]) => [k, new Decimal(x)]));
    let cash = new Decimal(sim.config.balances[quote] ?? 0);
    // Perps settle in the quote: their fees, and the PnL a reduce realises against the average entry price.
    const perps = new Map<string, { qty: Decimal; entry: Decimal }>();
    for (const f of fills) {
      if (f.symbol.includes(':')) {
        if (f.feeCurrency === quote) cash = cash.minus(f.fee);
        const signed = new Decimal(f.amount).mul(f.side === 'buy' ? 1 : -1);
        const p = perps.get(f.symbol) ?? { qty: new Decimal(0), entry: new Decimal(0) };
        if (p.qty.isZero() || p.qty.isPositive() === signed.isPositive()) {
          p.entry = p.entry.mul(p.qty.abs()).plus(new Decimal(f.price).mul(signed.abs())).div(p.qty.abs().plus(signed.abs()));
          p.qty = p.qty.plus(signed);
        } else {
          const closed = Decimal.min(signed.abs(), p.qty.abs());
          cash = cash.plus(closed.mul(p.qty.isPositive() ? 1 : -1).mul(new Decimal(f.price).minus(p.entry)));
          const flips = signed.abs().greaterThan(p.qty.abs());
          p.qty = p.qty.plus(signed);
          if (flips) p.entry = new Decimal(f.price);
        }
        perps.set(f.symbol, p);
        continue;
      }
      const base = f.symbol.split('/')[0]!;
      const signed = new Decimal(f.amount).mul(f.side === 'buy' ? 1 : -1);
      derived.set(base, (derived.get(base) ?? new Decimal(0)).plus(signed).minus(f.feeCurrency === base ? f.fee : 0));
      cash = cash.minus(new Decimal(f.cost).mul(f.side === 'buy' ? 1 : -1)).minus(f.feeCurrency === quote ? f.fee : 0);
    }
    for (const fp of j.funding({ account })) if (fp.currency === quote) cash = cash.plus(fp.amount);
    for (const [asset, x] of derived) if (!close(x.toNumber(), balance.total[asset] ?? 0)) v.mismatches.push(`${asset} from the journal's fills ${x.toNumber()}, venue ${balance.total[asset] ?? 0}`);
    if (positions.length === 0 && !close(cash.toNumber(), balance.total[quote] ?? 0)) v.mismatches.push(`${quote} from the journal's fills ${cash.toNumber()}, venue ${balance.total[quote] ?? 0}`);
  } finally {
    if (typeof journal === 'string') j.close();
  }
  return v;
}
