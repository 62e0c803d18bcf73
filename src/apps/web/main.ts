/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The ballast dashboard. Reads everything from the API with the bearer token (see api.ts), redraws when the
 * live stream says something changed, and sends the trading-state commands after a confirmation.
 */
import { ApiError, clearToken, getJSON, initToken, postJSON, setToken, stream, Unauthorized } from './api.js';
import { renderAllocation } from './allocation.js';
import { renderHistory } from './charts.js';
import { byId, fmtAge, fmtTime } from './dom.js';
import { renderPlan } from './plan.js';
import { renderFills, renderHedges, renderJournal, renderOrders } from './tables.js';
import type { Fill, Hedge, HistoryView, JournalEvent, Order, PlanView, PortfolioView, Status } from './types.js';

let status: Status | null = null;
let quote = 'USDT';
let live: { stop(): void } | null = null;
let loading = false;
let again = false;
let lastHistorySig = '';

function showLogin(message = ''): void {
  live?.stop();
  live = null;
  byId('login').hidden = false;
  byId('login-error').textContent = message;
  byId<HTMLInputElement>('login-token').focus();
}

function toast(text: string, error = false): void {
  const t = byId('toast');
  t.textContent = text;
  t.className = `toast${error ? ' error' : ''}`;
  t.hidden = false;
  clearTimeout((toast as unknown as { timer?: number }).timer);
  (toast as unknown as { timer?: number }).timer = window.setTimeout(() => (t.hidden = true), 4000);
}

function renderStatus(s: Status): void {
  byId('mode').textContent = s.mode;
  const st = byId('state');
  st.textContent = s.trading.state;
  st.setAttribute('data-state', s.trading.state);
  st.title = `${s.trading.state} since ${fmtTime(s.trading.at)} by ${s.trading.by}: ${s.trading.reason}`;
  const v = s.feed.venues;
  const oldest = v.reduce<number | null>((m, x) => (x.ageMs === null ? m : m === null ? x.ageMs : Math.max(m, x.ageMs)), null);
  byId('feed').textContent = `${v.map((x) => x.venue ?? x.account).join(', ')} data ${fmtAge(oldest)} old${s.feed.stale ? ' — STALE' : ''}`;
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-command]')) {
    const c = b.dataset.command;
    b.disabled = (c === 'halt' && s.trading.state === 'HALTED') || (c === 'reduce-only' && s.trading.state === 'REDUCING') || (c === 'resume' && s.trading.state === 'ACTIVE');
  }
  const banner = byId('banner');
  if (s.trading.state === 'HALTED') {
    banner.hidden = false;
    banner.className = 'banner';
    banner.textContent = `Trading is HALTED (${fmtTime(s.trading.at)}, by ${s.trading.by}): ${s.trading.reason}. No new orders are sent until Resume.`;
  } else if (s.trading.state === 'REDUCING') {
    banner.hidden = false;
    banner.className = 'banner warn';
    banner.textContent = `Reduce-only (${fmtTime(s.trading.at)}, by ${s.trading.by}): ${s.trading.reason}. Only orders that shrink futures positions are sent.`;
  } else if (s.feed.stale) {
    banner.hidden = false;
    banner.className = 'banner warn';
    banner.textContent = 'Market data is STALE: ballast does not trade on it until fresh data arrives.';
  } else banner.hidden = true;
}

async function optional<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof ApiError && e.status === 503) return null;
    throw e;
  }
}

/** Fetch everything and redraw; calls while loading are coalesced into one more run. */
async function refresh(): Promise<void> {
  if (loading) {
    again = true;
    return;
  }
  loading = true;
  try {
    const [s, p, plan, hist, hedges, orders, fills, journal] = await Promise.all([
      getJSON<Status>('/api/status'),
      optional(getJSON<PortfolioView>('/api/portfolio')),
      optional(getJSON<PlanView>('/api/plan')),
      getJSON<HistoryView>('/api/history?maxPoints=1500'),
      getJSON<{ open: number; closed: number; hedges: Hedge[] }>('/api/hedges?limit=100'),
      getJSON<{ count: number; orders: Order[] }>('/api/orders?limit=100'),
      getJSON<{ count: number; fills: Fill[] }>('/api/fills?limit=100'),
      getJSON<{ events: JournalEvent[] }>('/api/journal?limit=150'),
    ]);
    status = s;
    quote = hist.quote;
    renderStatus(s);
    if (p) renderAllocation(p);
    renderPlan(plan);
    const sig = `${hist.times.length}|${hist.times[hist.times.length - 1] ?? ''}|${hist.rebalances.length}|${hist.funding.times.length}|${window.innerWidth < 700}`;
    if (sig !== lastHistorySig) {
      lastHistorySig = sig;
      renderHistory(hist);
    }
    renderHedges(hedges, quote);
    renderOrders(orders, quote);
    renderFills(fills, quote);
    renderJournal(journal);
    document.body.dataset.ready = 'true';
  } catch (e) {
    if (e instanceof Unauthorized) {
      clearToken();
      showLogin('The token was refused. Paste the current one from the token file.');
      return;
    }
    toast(`Could not load: ${e instanceof Error ? e.message : String(e)}`, true);
  } finally {
    loading = false;
    if (again) {
      again = false;
      void refresh();
    }
  }
}

let pending: number | undefined;
function soon(): void {
  clearTimeout(pending);
  pending = window.setTimeout(() => void refresh(), 250);
}

// ------------------------------------------------------------------ commands

const COMMANDS: Record<string, { title: string; text: string; ok: string; cls: string; reason: string }> = {
  halt: {
    title: 'Halt trading?',
    text: 'Kill switch: no new orders are sent, and an order that is working now is cancelled at its next check. Valuation and the dashboard keep running. Resume to trade again.',
    ok: 'Halt trading',
    cls: 'danger',
    reason: 'halted from the dashboard',
  },
  'reduce-only': {
    title: 'Switch to reduce-only?',
    text: 'Only orders that shrink futures positions are sent (hedges can be unwound); nothing new is opened and no spot is traded.',
    ok: 'Reduce-only',
    cls: 'warn',
    reason: 'reduce-only from the dashboard',
  },
  resume: {
    title: 'Resume trading?',
    text: 'ballast trades normally again at its next cycle, with all the usual risk checks.',
    ok: 'Resume',
    cls: 'ok',
    reason: 'resumed from the dashboard',
  },
  'rebalance-now': {
    title: 'Run a rebalance check now?',
    text: 'Runs one decision cycle now instead of waiting for the next one. The plan goes through the same band, trading-state and risk checks as always; if nothing is due, nothing is traded.',
    ok: 'Run now',
    cls: '',
    reason: 'rebalance requested from the dashboard',
  },
};

function confirmCommand(command: string): void {
  const c = COMMANDS[command];
  if (!c) return;
  const dlg = byId<HTMLDialogElement>('confirm');
  byId('confirm-title').textContent = c.title;
  byId('confirm-text').textContent = c.text;
  const reason = byId<HTMLInputElement>('confirm-reason');
  reason.value = c.reason;
  const ok = byId<HTMLButtonElement>('confirm-ok');
  ok.textContent = c.ok;
  ok.className = `btn ${c.cls}`.trim();
  dlg.dataset.command = command;
  dlg.showModal();
  ok.focus();
}

async function sendCommand(command: string, reason: string): Promise<void> {
  try {
    const r = await postJSON<{ trading: { state: string }; cycle?: { status: string; reason: string } | null }>(`/api/${command}`, { reason: reason || COMMANDS[command]!.reason, by: 'dashboard' });
    toast(r.cycle ? `Cycle: ${r.cycle.status} — ${r.cycle.reason}` : `Trading state: ${r.trading.state}`);
  } catch (e) {
    if (e instanceof Unauthorized) {
      clearToken();
      showLogin('The token was refused.');
      return;
    }
    toast(`${command} failed: ${e instanceof Error ? e.message : String(e)}`, true);
  }
  await refresh();
}

// ------------------------------------------------------------------ start

function startLive(): void {
  live?.stop();
  const dot = byId('live');
  let connections = 0;
  live = stream({
    onEvent: (event) => {
      // The first hello comes right after the first load: only a reconnection needs a reload.
      if (event === 'update' || (event === 'hello' && ++connections > 1)) soon();
    },
    onState: (on) => {
      dot.textContent = on ? '● live' : '○ reconnecting';
      dot.className = `live ${on ? 'on' : 'off'}`;
    },
    onUnauthorized: () => {
      clearToken();
      showLogin('The token was refused.');
    },
  });
}

function start(): void {
  byId('login').hidden = true;
  void refresh();
  startLive();
}

function boot(): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-command]')) b.addEventListener('click', () => confirmCommand(b.dataset.command!));
  const dlg = byId<HTMLDialogElement>('confirm');
  byId('confirm-cancel').addEventListener('click', () => dlg.close('cancel'));
  byId('confirm-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const command = dlg.dataset.command!;
    const reason = byId<HTMLInputElement>('confirm-reason').value.trim();
    dlg.close('ok');
    void sendCommand(command, reason);
  });
  byId('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const t = byId<HTMLInputElement>('login-token').value.trim();
    if (!t) return;
    setToken(t);
    byId<HTMLInputElement>('login-token').value = '';
    start();
  });
  // A slow safety net beside the live stream.
  window.setInterval(() => {
    if (!document.hidden && status) void refresh();
  }, 30_000);
  let lastNarrow = window.innerWidth < 700;
  window.addEventListener('resize', () => {
    const narrow = window.innerWidth < 700;
    if (narrow !== lastNarrow) {
      lastNarrow = narrow;
      soon();
    }
  });
  if (initToken()) start();
  else showLogin();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
