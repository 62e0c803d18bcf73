/// <reference lib="dom" />
/** "Latest plan": status, trigger, the actions in plain words, the arithmetic, and the full `ballast plan` text. */
import { money, num } from '../../core/format.js';
import { price } from './dom.js';
import { byId, clear, el, fmtTime } from './dom.js';
import type { PlanView } from './types.js';

const STATUS_TEXT: Record<string, string> = {
  ok: 'trades planned',
  'nothing-to-do': 'nothing to do',
  'not-due': 'not due',
  stale: 'STALE data',
  halted: 'halted',
};

/** The pre-trade gate's refusals, when the API's plan carries them (`planToJson`'s `pretrade`). */
function refusalsOf(p: PlanView): { rule: string; message: string }[] {
  const v = (p as PlanView & { pretrade?: { ok: boolean; refusals: { rule: string; message: string }[] } }).pretrade;
  return v && !v.ok ? v.refusals : [];
}

export function renderPlan(p: PlanView | null): void {
  const status = byId('plan-status');
  const actions = byId('plan-actions');
  const explain = byId('plan-explain');
  clear(actions);
  clear(explain);
  if (!p) {
    status.textContent = 'no plan yet';
    status.removeAttribute('data-status');
    byId('plan-trigger').textContent = 'The service has not completed a cycle yet.';
    byId('plan-text').textContent = '';
    return;
  }
  const refused = refusalsOf(p);
  const x = p.execution;
  const executed = x !== null && x.fills.length > 0;
  status.textContent = refused.length > 0 ? 'REFUSED by the pre-trade gate: nothing sent' : x ? (executed ? `executed (${x.status})` : `sent, no fill (${x.status})`) : (STATUS_TEXT[p.status ?? ''] ?? p.status ?? '?');
  status.setAttribute('data-status', refused.length > 0 ? 'refused' : x ? (executed ? 'executed' : 'unfilled') : (p.status ?? ''));
  byId('plan-trigger').textContent = `${p.trigger ?? ''}${p.time ? ` — planned on the snapshot of ${fmtTime(Date.parse(p.time))}` : ''}`;
  const q = p.quote ?? 'USDT';
  const fills = byId('plan-fills');
  clear(fills);
  fills.hidden = x === null;
  if (x) {
    fills.append(el('h3', { text: `Executed: rebalance #${x.rebalanceId}, ${x.status} — ${x.fills.length} fill${x.fills.length === 1 ? '' : 's'} of ${x.orders} order${x.orders === 1 ? '' : 's'}` }));
    const ol = el('ul', { class: 'fills' });
    for (const f of x.fills) ol.append(el('li', { text: `${fmtTime(f.time)} ${f.side.toUpperCase()} ${num(f.amount)} ${f.symbol} at ${price(f.price, q)} = ${money(f.cost, q)}, fee ${num(f.fee, 4)} ${f.feeCurrency}` }));
    fills.append(ol);
  }
  const real = p.actions.filter((a) => a.type !== 'wait');
  if (p.actions.length === 0) actions.append(el('li', { class: 'muted', text: 'None: no class needs a trade.' }));
  for (const a of p.actions) {
    const what =
      a.type === 'wait'
        ? `WAIT ${a.class}`
        : `${(a.side ?? '').toUpperCase()} ${num(a.amount)} ${a.symbol ?? ''} ${a.type}${a.reduceOnly ? ' reduce-only' : ''} ≈ ${money(a.notional, q)}${executed ? ' (planned; fills below)' : ''}`;
    actions.append(el('li', {}, el('div', { class: 'what', text: what }), el('div', { class: 'why', text: a.reason })));
  }
  if (real.length === 0 && p.actions.length > 0) actions.append(el('li', { class: 'muted', text: 'Only waits: no order is sent.' }));
  for (const r of refused) explain.append(el('li', { class: 'breach', text: `Pre-trade gate refused [${r.rule}]: ${r.message}` }));
  for (const line of p.explanation) explain.append(el('li', { class: /ABOVE|BELOW|STALE|HALTED/.test(line) ? 'breach' : undefined, text: line }));
  for (const r of p.rejected) explain.append(el('li', { class: 'muted', text: `Not chosen — ${r.class} ${r.alternative}${r.symbol ? ` ${r.symbol}` : ''}: ${r.reason}` }));
  byId('plan-text').textContent = p.text;
}
