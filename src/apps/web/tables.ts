/// <reference lib="dom" />
/** Hedges, orders, fills and journal tables. */
import { money, num } from '../../core/format.js';
import { byId, clear, el, fmtTime, price } from './dom.js';
import type { Fill, Hedge, JournalEvent, Order } from './types.js';

interface Col<T> {
  head: string;
  cell: (r: T) => string;
  cls?: (r: T) => string;
  num?: boolean;
  wrap?: boolean;
}

function table<T>(id: string, cols: Col<T>[], rows: T[], empty: string, rowClass?: (r: T) => string): void {
  const box = byId(id);
  clear(box);
  if (rows.length === 0) {
    box.append(el('p', { class: 'empty', text: empty }));
    return;
  }
  const head = el('tr', {}, ...cols.map((c) => el('th', { class: c.num ? 'num' : undefined, text: c.head })));
  const body = rows.map((r) =>
    el(
      'tr',
      { class: rowClass?.(r) },
      ...cols.map((c) => {
        const text = c.cell(r);
        const long = c.wrap && text.length > LONG;
        return el('td', { class: [c.num ? 'num' : '', c.wrap ? 'wrap' : '', c.cls?.(r) ?? ''].filter(Boolean).join(' ') || undefined, title: long ? text : undefined, text: long ? `${text.slice(0, LONG - 1)}…` : text });
      }),
    ),
  );
  box.append(el('table', {}, el('thead', {}, head), el('tbody', {}, ...body)));
}

/** Longer texts are cut (the whole text is in the cell's tooltip). */
const LONG = 140;

/** A date alone when the time is midnight (daily bars), else date and time: narrower columns. */
const day = (ms: number | null): string => (ms !== null && ms % 86_400_000 === 0 ? fmtTime(ms, true).slice(0, 10) : fmtTime(ms, true));

const sign = (x: number) => (x > 0 ? 'pos' : x < 0 ? 'neg' : '');

export function renderHedges(h: { open: number; closed: number; hedges: Hedge[] }, quote: string): void {
  const f = (x: number) => money(x, quote);
  byId('hedges-sum').textContent = `${h.open} open · ${h.closed} closed`;
  table<Hedge>(
    'hedges-table',
    [
      { head: 'hedge', cell: (r) => `#${r.id} ${r.open ? 'OPEN' : 'closed'}`, cls: (r) => (r.open ? 'strong' : '') },
      { head: 'class', cell: (r) => r.class },
      { head: 'symbol', cell: (r) => r.symbol },
      { head: 'contracts', cell: (r) => num(r.contracts), num: true },
      { head: 'entry', cell: (r) => price(r.entryPrice, quote), num: true },
      { head: 'notional', cell: (r) => (r.open ? f(r.notional) : '–'), num: true },
      { head: 'opened (UTC)', cell: (r) => day(r.openedAt) },
      { head: 'closed (UTC)', cell: (r) => day(r.closedAt) },
      { head: 'funding ±', cell: (r) => f(-r.fundingPaid), num: true, cls: (r) => sign(-r.fundingPaid) },
      { head: 'price PnL', cell: (r) => f(r.realisedPnl + r.unrealisedPnl), num: true, cls: (r) => sign(r.realisedPnl + r.unrealisedPnl) },
      { head: 'fees', cell: (r) => f(r.fees), num: true },
      { head: 'net PnL', cell: (r) => f(r.netPnl), num: true, cls: (r) => sign(r.netPnl) },
      { head: 'why', cell: (r) => (r.open ? r.openReason : (r.closeReason ?? r.openReason)), wrap: true },
    ],
    h.hedges,
    'No hedges yet.',
  );
}

export function renderOrders(o: { count: number; orders: Order[] }, quote: string): void {
  byId('orders-sum').textContent = `${o.count} order intent${o.count === 1 ? '' : 's'}${o.count > o.orders.length ? ` (latest ${o.orders.length})` : ''}`;
  table<Order>(
    'orders-table',
    [
      { head: 'created (UTC)', cell: (r) => fmtTime(r.createdAt, true) },
      { head: 'client id', cell: (r) => r.clientOrderId },
      { head: 'symbol', cell: (r) => r.symbol },
      { head: 'side', cell: (r) => r.side.toUpperCase() + (r.reduceOnly ? ' (reduce-only)' : ''), cls: (r) => (r.side === 'buy' ? 'pos' : 'neg') },
      { head: 'type', cell: (r) => r.type },
      { head: 'amount', cell: (r) => num(r.amount), num: true },
      { head: 'price', cell: (r) => (r.price === null ? 'market' : price(r.price, quote)), num: true },
      { head: 'state', cell: (r) => r.state },
      { head: 'filled', cell: (r) => num(r.filled), num: true },
      { head: 'avg price', cell: (r) => (r.avgPrice === null ? '–' : price(r.avgPrice, quote)), num: true },
      { head: 'note', cell: (r) => r.reason ?? '', wrap: true },
    ],
    o.orders,
    'No orders yet.',
  );
}

export function renderFills(x: { count: number; fills: Fill[] }, quote: string): void {
  byId('fills-sum').textContent = `${x.count} fill${x.count === 1 ? '' : 's'}${x.count > x.fills.length ? ` (latest ${x.fills.length})` : ''}`;
  table<Fill>(
    'fills-table',
    [
      { head: 'time (UTC)', cell: (r) => fmtTime(r.time, true) },
      { head: 'symbol', cell: (r) => r.symbol },
      { head: 'side', cell: (r) => r.side.toUpperCase(), cls: (r) => (r.side === 'buy' ? 'pos' : 'neg') },
      { head: 'amount', cell: (r) => num(r.amount), num: true },
      { head: 'price', cell: (r) => price(r.price, quote), num: true },
      { head: 'value', cell: (r) => money(r.cost, quote), num: true },
      { head: 'fee', cell: (r) => `${num(r.fee, 4)} ${r.feeCurrency}`, num: true },
      { head: 'order', cell: (r) => r.clientOrderId ?? '(external)' },
      { head: 'flags', cell: (r) => [r.liquidation ? 'LIQUIDATION' : '', r.external ? 'external' : ''].filter(Boolean).join(' ') },
    ],
    x.fills,
    'No fills yet.',
  );
}

export function renderJournal(j: { events: JournalEvent[] }): void {
  table<JournalEvent>(
    'journal-table',
    [
      { head: 'time (UTC)', cell: (r) => fmtTime(r.time, true) },
      { head: 'type', cell: (r) => r.type },
      { head: 'what', cell: (r) => r.summary, wrap: true },
    ],
    j.events,
    'The journal is empty.',
    (r) => `type-${r.type}`,
  );
}
