/// <reference lib="dom" />
/**
 * History charts (uPlot, bundled): per class its weight against the tolerance band (band filled, target
 * dashed, time outside the band in red); drift of every class; equity (TPV); hedge notional; cumulative
 * funding. Rebalances are ticks on every chart's time axis; the charts start after the all-cash first point.
 */
import uPlot from 'uplot';
import { money } from '../../core/format.js';
import { byId, clear, el } from './dom.js';
import type { HistoryView } from './types.js';

export const CLASS_COLORS = ['#2f5fd0', '#8b3fd9', '#d97706', '#0f9f6e', '#db2777', '#0891b2', '#65a30d', '#7c3aed'];
const CASH_COLOR = '#64748b';
const BAD = '#c8251d';
const REBALANCE = 'rgba(122, 90, 248, 0.75)';

const charts: uPlot[] = [];
let observer: ResizeObserver | null = null;

const pctAxis = (_u: uPlot, vals: number[]) => vals.map((v) => `${+(v * 100).toFixed(1)}%`);
const moneyAxis = (quote: string) => (_u: uPlot, vals: number[]) =>
  vals.map((v) => {
    const a = Math.abs(v);
    const s = a >= 1e6 ? `${+(v / 1e6).toFixed(2)}M` : a >= 1e3 ? `${+(v / 1e3).toFixed(1)}k` : `${+v.toFixed(2)}`;
    return quote === 'USDT' || quote === 'USDC' || quote === 'USD' ? `$${s}` : s;
  });

/**
 * Rebalances as thin ticks on the time axis (a short solid line rising from the plot's bottom edge): they
 * show when ballast traded without hiding the band and the lines behind a barcode of full-height marks.
 */
function rebalanceMarks(times: number[]): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u: uPlot) => {
          const ctx = u.ctx;
          const { top, height, left, width } = u.bbox;
          const tick = Math.round(7 * devicePixelRatio);
          ctx.save();
          ctx.strokeStyle = REBALANCE;
          ctx.lineWidth = Math.max(1, devicePixelRatio);
          ctx.beginPath();
          for (const t of times) {
            const x = Math.round(u.valToPos(t, 'x', true)) + 0.5;
            if (x < left || x > left + width) continue;
            ctx.moveTo(x, top + height);
            ctx.lineTo(x, top + height - tick);
          }
          ctx.stroke();
          ctx.restore();
        },
      ],
    },
  };
}

/**
 * Where the charts start: after the all-cash state before the first allocation (a service started on cash
 * journals one snapshot at 100 % cash, which would set every weight and drift axis from 0 to 100 %).
 */
export function firstInvested(h: HistoryView): number {
  const cash = h.classes.find((c) => c.cash);
  if (!cash) return 0;
  let i = 0;
  while (i < h.times.length - 1 && (cash.weight[i] ?? 0) >= 0.999) i++;
  return i;
}

function base(width: number, height: number, marks: number[], legend = false): Omit<uPlot.Options, 'series'> {
  return {
    width,
    height,
    tzDate: (ts: number) => uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'),
    plugins: [rebalanceMarks(marks)],
    cursor: { drag: { x: true, y: false } },
    legend: { show: legend, live: true },
    scales: { x: { time: true } },
  };
}

function box(parent: HTMLElement, title: string, now: string, sub: string, cls = ''): HTMLElement {
  const plot = el('div', { class: 'plot' });
  parent.append(el('div', { class: `chart ${cls}`.trim() }, el('h4', { text: title }, now ? el('span', { class: 'now', text: now }) : null), el('div', { class: 'sub', text: sub }), plot));
  return plot;
}

function last<T>(xs: (T | null)[]): T | null {
  for (let i = xs.length - 1; i >= 0; i--) if (xs[i] !== null && xs[i] !== undefined) return xs[i]!;
  return null;
}

function widthOf(e: HTMLElement): number {
  return Math.max(260, Math.floor(e.clientWidth || e.parentElement?.clientWidth || 320));
}

/** The history from point `from` on (rebalances and funding before it are dropped too). */
function sliceHistory(h: HistoryView, from: number): HistoryView {
  const t0 = h.times[from]!;
  const keep = h.funding.times.map((t) => t >= t0);
  return {
    ...h,
    times: h.times.slice(from),
    tpv: h.tpv.slice(from),
    hedgeNotional: h.hedgeNotional.slice(from),
    classes: h.classes.map((c) => ({ ...c, weight: c.weight.slice(from), drift: c.drift.slice(from), futures: c.futures.slice(from) })),
    rebalances: h.rebalances.filter((r) => r.time >= t0),
    funding: { times: h.funding.times.filter((_, i) => keep[i]), cumulative: h.funding.cumulative.filter((_, i) => keep[i]) },
  };
}

export function renderHistory(h: HistoryView): void {
  for (const c of charts.splice(0)) c.destroy();
  observer?.disconnect();
  const top = byId('charts-classes');
  const row = byId('charts-row');
  clear(top);
  clear(row);
  if (h.times.length === 0) {
    top.append(el('p', { class: 'empty', text: 'No history yet: the first cycle has not been journaled.' }));
    return;
  }
  const from = firstInvested(h);
  if (from > 0) h = sliceHistory(h, from);
  const xs = h.times.map((t) => t / 1000);
  const marks = h.rebalances.map((r) => r.time / 1000);
  const H = window.innerWidth < 700 ? 150 : 170;
  const made: [uPlot, HTMLElement][] = [];

  h.classes.forEach((c, k) => {
    const color = c.cash ? CASH_COLOR : CLASS_COLORS[k % CLASS_COLORS.length]!;
    const lower = c.lower ?? c.target;
    const upper = c.upper ?? c.target;
    const outside = c.weight.map((w) => (w !== null && (w > upper + 1e-12 || w < lower - 1e-12) ? w : null));
    // Keep the outside-band line joined to the points just before and after it.
    const joined = outside.map((w, i) => (w !== null || outside[i - 1] != null || outside[i + 1] != null ? c.weight[i]! : null));
    const w = last(c.weight);
    const plot = box(top, c.name + (c.cash ? ' (cash)' : ''), w === null ? '' : `${(w * 100).toFixed(2)}% now`, `weight vs band ${(lower * 100).toFixed(1)}–${(upper * 100).toFixed(1)}% · target ${(c.target * 100).toFixed(1)}% · red: outside the band`);
    const data: uPlot.AlignedData = [xs, c.weight, xs.map(() => lower), xs.map(() => upper), xs.map(() => c.target), joined];
    const u = new uPlot(
      {
        ...base(widthOf(plot), H, marks),
        series: [
          {},
          { label: 'weight', stroke: color, width: 2, value: (_u, v) => (v == null ? '–' : `${(v * 100).toFixed(2)}%`) },
          { label: 'lower', stroke: 'rgba(31,138,76,0.6)', width: 1, value: (_u, v) => (v == null ? '–' : `${(v * 100).toFixed(1)}%`) },
          { label: 'upper', stroke: 'rgba(31,138,76,0.6)', width: 1, value: (_u, v) => (v == null ? '–' : `${(v * 100).toFixed(1)}%`) },
          { label: 'target', stroke: '#172033', width: 1, dash: [5, 4], value: (_u, v) => (v == null ? '–' : `${(v * 100).toFixed(1)}%`) },
          { label: 'outside band', stroke: BAD, width: 2.5, spanGaps: false, value: (_u, v) => (v == null ? '–' : `${(v * 100).toFixed(2)}%`) },
        ],
        bands: [{ series: [3, 2], fill: 'rgba(31,138,76,0.13)' }],
        // Always show the whole band, with a little room around band and data.
        scales: { x: { time: true }, y: { range: (_u, min, max) => { const lo = Math.min(min, lower); const hi = Math.max(max, upper); const pad = (hi - lo) * 0.08 || 0.01; return [Math.max(lo >= 0 ? 0 : -Infinity, lo - pad), hi + pad]; } } },
        axes: [{}, { values: pctAxis, size: 56 }],
      },
      data,
      plot,
    );
    made.push([u, plot]);
  });

  const drift = box(row, 'Drift', '', 'weight − target, every class');
  made.push([
    new uPlot(
      {
        ...base(widthOf(drift), H, marks, true),
        series: [
          {},
          ...h.classes.map((c, k) => ({ label: c.name, stroke: c.cash ? CASH_COLOR : CLASS_COLORS[k % CLASS_COLORS.length]!, width: 1.5, value: (_u: uPlot, v: number | null) => (v == null ? '–' : `${v >= 0 ? '+' : ''}${(v * 100).toFixed(2)}%`) })),
        ],
        axes: [{}, { values: pctAxis, size: 56 }],
      },
      [xs, ...h.classes.map((c) => c.drift)] as uPlot.AlignedData,
      drift,
    ),
    drift,
  ]);

  const q = h.quote;
  const eq = box(row, 'Equity (TPV)', h.tpv.length ? money(h.tpv[h.tpv.length - 1]!, q, 0) : '', `total portfolio value, ${q}`);
  made.push([
    new uPlot(
      {
        ...base(widthOf(eq), H, marks),
        series: [{}, { label: 'TPV', stroke: '#2f5fd0', width: 2, fill: 'rgba(47,95,208,0.08)', value: (_u, v) => (v == null ? '–' : money(v, q, 0)) }],
        axes: [{}, { values: moneyAxis(q), size: 58 }],
      },
      [xs, h.tpv],
      eq,
    ),
    eq,
  ]);

  const hn = box(row, 'Hedge notional', h.hedgeNotional.length ? money(h.hedgeNotional[h.hedgeNotional.length - 1]!, q, 0) : '', 'Σ |notional| of open futures positions');
  made.push([
    new uPlot(
      {
        ...base(widthOf(hn), H, marks),
        series: [{}, { label: 'hedge notional', stroke: '#8b3fd9', width: 1.5, fill: 'rgba(139,63,217,0.12)', paths: uPlot.paths.stepped!({ align: 1 }), value: (_u, v) => (v == null ? '–' : money(v, q, 0)) }],
        axes: [{}, { values: moneyAxis(q), size: 58 }],
      },
      [xs, h.hedgeNotional],
      hn,
    ),
    hn,
  ]);

  const fu = box(row, 'Cumulative funding', h.funding.cumulative.length ? money(h.funding.cumulative[h.funding.cumulative.length - 1]!, q) : '', '+ received / − paid, all perps');
  if (h.funding.times.length === 0) {
    fu.append(el('p', { class: 'empty', text: 'No funding payments yet.' }));
  } else {
    // Start the line at the first history point so it shares the other charts' range.
    const ft = [xs[0]!, ...h.funding.times.map((t) => t / 1000), xs[xs.length - 1]!];
    const fv = [0, ...h.funding.cumulative, h.funding.cumulative[h.funding.cumulative.length - 1]!];
    made.push([
      new uPlot(
        {
          ...base(widthOf(fu), H, marks),
          series: [{}, { label: 'net funding', stroke: '#0f9f6e', width: 1.5, paths: uPlot.paths.stepped!({ align: 1 }), value: (_u, v) => (v == null ? '–' : money(v, q)) }],
          axes: [{}, { values: moneyAxis(q), size: 58 }],
        },
        [ft, fv],
        fu,
      ),
      fu,
    ]);
  }

  charts.push(...made.map(([u]) => u));
  observer = new ResizeObserver(() => {
    for (const [u, plot] of made) {
      const w = widthOf(plot);
      if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height: u.height });
    }
  });
  for (const [, plot] of made) observer.observe(plot);
}
