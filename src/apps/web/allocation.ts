/// <reference lib="dom" />
/**
 * "Allocation now": one row per class — its net weight against the target and the tolerance band (drawn),
 * the spot part and the futures part of the exposure, and breaches highlighted with how much is outside.
 */
import { money, num, pct } from '../../core/format.js';
import { byId, clear, el, fmtTime, price } from './dom.js';
import type { ClassView, PortfolioView } from './types.js';

/** Scale of the bars: a round percentage above every band edge and weight. */
function scaleMax(p: PortfolioView): number {
  let m = 0;
  for (const c of p.classes) m = Math.max(m, c.upper, c.weight, p.tpv > 0 ? c.spot / p.tpv : 0);
  return Math.min(1.6, Math.max(0.1, Math.ceil((m * 1.08) / 0.1) * 0.1));
}

function bar(c: ClassView, tpv: number, max: number): HTMLElement {
  const x = (w: number) => `${(Math.max(0, Math.min(w, max)) / max) * 100}%`;
  const spotW = tpv > 0 ? c.spot / tpv : 0;
  const netW = c.weight;
  const solid = Math.max(0, Math.min(spotW, netW));
  const lo = Math.min(spotW, netW);
  const hi = Math.max(spotW, netW);
  const b = el('div', { class: 'bar', role: 'img', 'aria-label': `${c.name}: net weight ${pct(netW)}, target ${pct(c.target)}, band ${pct(c.lower)} to ${pct(c.upper)}` });
  const step = max > 0.6 ? 0.2 : 0.1;
  for (let t = step; t < max - 1e-9; t += step) b.append(el('div', { class: 'grid-line', style: `left:${x(t)}` }));
  b.append(el('div', { class: 'band', style: `left:${x(c.lower)};width:calc(${x(c.upper)} - ${x(c.lower)})`, title: `band ${pct(c.lower)}–${pct(c.upper)}` }));
  if (solid > 0) b.append(el('div', { class: 'spot', style: `left:0;width:${x(solid)}`, title: `spot ${pct(spotW)}` }));
  if (Math.abs(c.futures) > 0 && hi - lo > 0) {
    b.append(el('div', { class: 'fut', style: `left:${x(Math.max(0, lo))};width:calc(${x(hi)} - ${x(Math.max(0, lo))})`, title: `futures ${c.futures < 0 ? 'short' : 'long'} ${pct(Math.abs(c.futures) / tpv)}` }));
  }
  b.append(el('div', { class: 'target', style: `left:${x(c.target)}`, title: `target ${pct(c.target)}` }));
  b.append(el('div', { class: 'net', style: `left:${x(netW)}`, title: `net weight ${pct(netW)}` }));
  for (let t = 0; t < max - 1e-9; t += step) b.append(el('span', { class: `tick${t === 0 ? ' first' : ''}`, style: `left:${x(t)}`, text: `${Math.round(t * 100)}%` }));
  return b;
}

export function renderAllocation(p: PortfolioView): void {
  byId('tpv').textContent = money(p.tpv, p.quote);
  const moment = p.afterTrades !== null ? ` · after the fills of rebalance #${p.afterTrades}` : '';
  byId('asof').textContent = `as of ${fmtTime(p.time)}${moment}${p.unrealizedPnl !== 0 ? ` · unrealised futures PnL ${money(p.unrealizedPnl, p.quote)}` : ''}`;
  const box = byId('classes');
  clear(box);
  const max = scaleMax(p);
  for (const c of p.classes) {
    const f = (x: number) => money(x, p.quote, 0);
    const breachText = c.breach === 'upper' ? `ABOVE BAND +${money(c.deviation, p.quote, 0)}` : c.breach === 'lower' ? `BELOW BAND −${money(-c.deviation, p.quote, 0)}` : null;
    const row = el(
      'div',
      { class: `class-row${c.breach ? ' breach' : ''}`, 'data-class': c.name, 'data-breach': c.breach ?? '' },
      el('div', { class: 'cls-name' }, el('span', { text: c.name }, c.cash ? el('span', { class: 'cash', text: ' (cash)' }) : null), breachText ? el('span', { class: 'chip breach', text: breachText }) : el('span', { class: 'chip inside', text: 'inside band' })),
      bar(c, p.tpv, max),
      el(
        'div',
        { class: 'cls-nums' },
        el('span', { class: 'weight', 'data-weight': String(c.weight), text: pct(c.weight) }),
        el('span', { class: 'line', text: `target ${pct(c.target)} · band ${pct(c.lower)}–${pct(c.upper)}` }),
        el('span', { class: 'line', text: `drift ${c.drift >= 0 ? '+' : ''}${pct(c.drift)} (${c.drift >= 0 ? '+' : ''}${money(c.drift * p.tpv, p.quote, 0)})` }),
      ),
      el('div', { class: 'cls-parts', text: `spot ${f(c.spot)} · futures ${f(c.futures)} · net ${f(c.net)}` }),
    );
    box.append(row);
  }
  const pos = byId('positions');
  clear(pos);
  if (p.positions.length > 0) {
    pos.append(el('strong', { text: 'Open futures positions: ' }));
    pos.append(
      p.positions
        .map((x) => `${x.symbol} ${num(x.contracts)} contracts (${x.contracts < 0 ? 'short' : 'long'} ${money(Math.abs(x.notional), p.quote, 0)} at mark ${price(x.mark, p.quote)}, uPnL ${money(x.unrealizedPnl, p.quote)}) on ${x.account}`)
        .join(' · '),
    );
  }
}
