/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * `ballast serve`'s portfolio list: every stored portfolio from `GET /api/portfolios` (TPV, worst drift and its
 * class, distance to the nearest band edge, trading state, last cycle), sortable by column — by |drift|,
 * largest first, when the page opens — each name a link to that portfolio's dashboard (`p/NAME/`, the
 * single-portfolio dashboard backed by the Postgres journal). Same token rules as the dashboard (api.ts).
 */
import { getJSON, initToken, setToken, Unauthorized } from './api.js';
import { byId, clear, el, fmtTime } from './dom.js';

interface Row {
  name: string;
  classes: number;
  state: string;
  lastCycle: { id: number; status: string; startedAt: number; finishedAt: number | null } | null;
  tpv: number | null;
  worstDrift: { class: string; drift: number } | null;
  bandDistance: number | null;
}

type Key = 'name' | 'tpv' | 'drift' | 'band' | 'state';

let rows: Row[] = [];
let sortKey: Key = 'drift';
let descending = true;

const pts = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '–' : `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(2)} pts`);
const money = (x: number | null): string => (x === null || !Number.isFinite(x) ? '–' : x.toLocaleString('en', { maximumFractionDigits: 0 }));

function value(r: Row, k: Key): number | string {
  switch (k) {
    case 'name':
      return r.name;
    case 'tpv':
      return r.tpv ?? -Infinity;
    case 'drift':
      return r.worstDrift === null ? -Infinity : Math.abs(r.worstDrift.drift);
    case 'band':
      return r.bandDistance ?? -Infinity;
    case 'state':
      return r.state;
  }
}

function render(): void {
  const sorted = [...rows].sort((a, b) => {
    const x = value(a, sortKey);
    const y = value(b, sortKey);
    const c = typeof x === 'string' ? x.localeCompare(y as string) : x - (y as number);
    return (descending ? -c : c) || a.name.localeCompare(b.name);
  });
  const body = byId('rows');
  clear(body);
  for (const r of sorted) {
    const outside = r.bandDistance !== null && r.bandDistance > 0;
    body.append(
      el(
        'tr',
        { 'data-name': r.name, class: outside ? 'outside' : undefined },
        el('td', {}, el('a', { href: `p/${encodeURIComponent(r.name)}/`, class: 'portfolio-link' }, r.name)),
        el('td', { class: 'num' }, money(r.tpv)),
        el('td', { class: `num drift ${r.worstDrift && r.worstDrift.drift < 0 ? 'neg' : 'pos'}` }, pts(r.worstDrift?.drift)),
        el('td', {}, r.worstDrift?.class ?? '–'),
        el('td', { class: 'num', title: '> 0: outside its band by that much; < 0: room left inside' }, pts(r.bandDistance)),
        el('td', {}, el('span', { class: 'badge state', 'data-state': r.state }, r.state)),
        el('td', {}, r.lastCycle ? `${fmtTime(r.lastCycle.finishedAt ?? r.lastCycle.startedAt, true)} ${r.lastCycle.status}` : '–'),
      ),
    );
  }
  for (const b of document.querySelectorAll<HTMLButtonElement>('button.sort')) {
    const on = b.dataset.sort === sortKey;
    b.setAttribute('aria-sort', on ? (descending ? 'descending' : 'ascending') : 'none');
    b.textContent = `${b.textContent!.replace(/ [▲▼]$/, '')}${on ? (descending ? ' ▼' : ' ▲') : ''}`;
  }
  const out = rows.filter((r) => r.bandDistance !== null && r.bandDistance > 0).length;
  byId('summary').textContent = `${rows.length} portfolios, ${out} outside a band`;
}

async function load(): Promise<void> {
  try {
    rows = (await getJSON<{ portfolios: Row[] }>('/api/portfolios')).portfolios;
    byId('live').textContent = `● ${new Date().toISOString().slice(11, 19)} UTC`;
    byId('login').hidden = true;
    render();
  } catch (e) {
    if (e instanceof Unauthorized) {
      byId('login').hidden = false;
      byId('login-error').textContent = e.message;
      return;
    }
    byId('live').textContent = `○ ${(e as Error).message}`;
  }
}

for (const b of document.querySelectorAll<HTMLButtonElement>('button.sort')) {
  b.addEventListener('click', () => {
    const k = b.dataset.sort as Key;
    if (k === sortKey) descending = !descending;
    else {
      sortKey = k;
      descending = k !== 'name' && k !== 'state';
    }
    render();
  });
}
byId('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  setToken(byId<HTMLInputElement>('login-token').value);
  void load();
});
if (initToken() === null) byId('login').hidden = false;
else void load();
window.setInterval(() => void load(), 5_000);
