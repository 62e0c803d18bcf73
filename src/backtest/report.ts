/**
 * One self-contained HTML report of a backtest: works offline, no external URL. uPlot's IIFE build
 * and stylesheet are inlined (read from node_modules at render time), the data is embedded as JSON
 * in a `<script type="application/json">` element (with `<`, `>`, `&`, U+2028/2029 escaped, so no
 * embedded text can close the element), and every text placed in HTML is entity-escaped. The page's
 * script only ever inserts data with `textContent`.
 *
 * Charts: equity of all policies (linear/log), rebalance markers; for the policy chosen in a
 * <select>: per class its weight with target and band, drift per class, hedge notional per class,
 * cumulative funding. Series longer than {@link MAX_POINTS} are downsampled on a shared set of bar
 * indices that keeps the first and last bar and, in each bucket, the lowest and highest equity of
 * every policy (so every policy's peak, trough and drawdowns survive). Rebalance markers use the exact
 * bar times and equities, not the downsampled ones. A long backtest's series arrive already recorded at
 * a bounded number of points (every k-th bar plus the last, `BacktestOptions.maxPoints`); the charts show
 * those points, the metrics table is computed from every bar.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { PolicyMetrics, PolicySeries } from './metrics.js';
import { activityColumns, policyColumns } from './table.js';

export const MAX_POINTS = 5000;

export interface ReportInput {
  title: string;
  quote: string;
  series: PolicySeries[];
  metrics: PolicyMetrics[];
  /** Plain-text lines (data coverage, assumptions), shown as a list. */
  notes: string[];
  /** The policy "One policy in detail" opens on (default: the first that is not buy-and-hold). */
  defaultPolicy?: string;
  /** A line beside the policies on the equity chart (e.g. 100 % BTC held), at the series' bar times. */
  benchmark?: { name: string; equity: ArrayLike<number> };
}

/** Entity-escape text for HTML element content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON safe to place inside a <script> element: no `<`, `>`, `&` or line separators in the text. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Bar indices to keep so that at most `maxPoints` points remain: all of them when short enough;
 * else the first and last bar plus, in each of B equal buckets, the index of the minimum and of the
 * maximum of every series. B starts at ⌊(maxPoints − 2) / (2 × number of series)⌋ (which cannot
 * overflow) and grows while the union stays within maxPoints. Ascending, unique.
 */
export function downsampleIndices(n: number, series: ArrayLike<number>[], maxPoints = MAX_POINTS): number[] {
  if (n <= maxPoints) return Array.from({ length: n }, (_, i) => i);
  const k = Math.max(1, series.length);
  // Start from the bucket count that cannot exceed maxPoints; while the kept set is much smaller
  // (policies share extremes), try more buckets and keep the largest result that still fits.
  let buckets = Math.max(1, Math.floor((maxPoints - 2) / (2 * k)));
  let best = pickExtremes(n, series, buckets);
  for (let tries = 0; tries < 6 && best.length < 0.7 * maxPoints; tries++) {
    buckets = Math.ceil(buckets * Math.min(2, (0.9 * maxPoints) / Math.max(1, best.length)));
    const next = pickExtremes(n, series, buckets);
    if (next.length > maxPoints) break;
    best = next;
  }
  return best;
}

function pickExtremes(n: number, series: ArrayLike<number>[], buckets: number): number[] {
  const keep = new Uint8Array(n);
  keep[0] = 1;
  keep[n - 1] = 1;
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets);
    const hi = Math.floor(((b + 1) * n) / buckets);
    if (hi <= lo) continue;
    if (series.length === 0) keep[lo] = 1;
    for (const s of series) {
      let iMin = lo;
      let iMax = lo;
      for (let i = lo + 1; i < hi; i++) {
        const v = s[i]!;
        if (v < s[iMin]!) iMin = i;
        if (v > s[iMax]!) iMax = i;
      }
      keep[iMin] = 1;
      keep[iMax] = 1;
    }
  }
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(i);
  return out;
}

/** Round for embedding: 8 significant digits; non-finite → null (a gap in the chart). */
function r8(x: number): number | null {
  if (!Number.isFinite(x)) return null;
  return x === 0 ? 0 : Number(x.toPrecision(8));
}

function pick(a: ArrayLike<number>, idx: number[]): (number | null)[] {
  return idx.map((i) => r8(a[i]!));
}

function readUplot(): { js: string; css: string; version: string } {
  const require = createRequire(import.meta.url);
  const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  let version = '';
  try {
    version = (JSON.parse(readFileSync(require.resolve('uplot/package.json'), 'utf8')) as { version?: string }).version ?? '';
  } catch {
    version = '';
  }
  // The build starts with a banner comment holding the project URL; keep the credit without a URL
  // (the report must contain no external address). Defensive: never let the code close the element.
  const banner = `/*! uPlot ${version} (c) Leon Sorokin, MIT licence, github.com/leeoniya/uPlot */`;
  const code = js.replace(/^\/\*![^*]*\*\/\s*/, '').replace(/<\/(script)/gi, '<\\/$1');
  return { js: `${banner}\n${code}`, css: css.replace(/<\/(style)/gi, '<\\/$1'), version };
}

interface EmbeddedPolicy {
  name: string;
  description: string;
  equity: (number | null)[];
  classes: { name: string; target: number; lower: number; upper: number; weight: (number | null)[]; hedge: (number | null)[] }[];
  cumFunding: (number | null)[];
  /** Rebalance events: exact bar times (s) and equities. */
  rebalanceTimes: number[];
  rebalanceEquity: (number | null)[];
}

function embed(input: ReportInput): { times: number[]; policies: EmbeddedPolicy[]; benchmark: { name: string; equity: (number | null)[] } | null; downsampled: boolean; bars: number; recorded: boolean } {
  const series = input.series;
  if (series.length === 0) return { times: [], policies: [], benchmark: null, downsampled: false, bars: 0, recorded: false };
  const base = series[0]!;
  const n = base.times.length;
  for (const s of series) {
    if (s.times.length !== n || s.equity.length !== n) {
      throw new Error(`policy "${s.name}" has ${s.times.length} bars / ${s.equity.length} equity points, expected ${n} like "${base.name}"`);
    }
  }
  const idx = downsampleIndices(
    n,
    series.map((s) => s.equity),
  );
  const times = idx.map((i) => base.times[i]! / 1000);
  const policies = series.map<EmbeddedPolicy>((s) => ({
    name: s.name,
    description: s.description,
    equity: pick(s.equity, idx),
    classes: s.classNames.map((name, c) => ({
      name,
      target: s.targets[c]!,
      lower: s.lower[c]!,
      upper: s.upper[c]!,
      weight: s.weights[c] ? pick(s.weights[c]!, idx) : [],
      hedge: s.hedgeNotional[c] ? pick(s.hedgeNotional[c]!, idx) : [],
    })),
    cumFunding: pick(s.cumFunding, idx),
    ...rebalanceMarkers(s, n),
  }));
  // A series recorded at a bounded resolution stands for more bars than it holds.
  const bars = base.summary?.bars ?? n;
  const benchmark = input.benchmark && input.benchmark.equity.length === n ? { name: input.benchmark.name, equity: pick(input.benchmark.equity, idx) } : null;
  return { times, policies, benchmark, downsampled: idx.length < bars, bars, recorded: base.points !== undefined };
}

/** Rebalance markers at the exact bar times and equities (the engine's, else read from a full series). */
function rebalanceMarkers(s: PolicySeries, n: number): { rebalanceTimes: number[]; rebalanceEquity: (number | null)[] } {
  if (s.rebalanceTimes && s.rebalanceEquity) {
    return { rebalanceTimes: s.rebalanceTimes.map((t) => t / 1000), rebalanceEquity: s.rebalanceEquity.map(r8) };
  }
  const bars = s.rebalanceBars.filter((b) => b >= 0 && b < n);
  return { rebalanceTimes: bars.map((b) => s.times[b]! / 1000), rebalanceEquity: bars.map((b) => r8(s.equity[b]!)) };
}

function metricsTable(metrics: PolicyMetrics[], quote: string, cols = policyColumns(quote)): string {
  const head = `<tr><th scope="col">Policy</th>${cols.map((c) => `<th scope="col" title="${escapeHtml(c.title)}">${escapeHtml(c.header)}</th>`).join('')}</tr>`;
  const rows = metrics
    .map(
      (m) =>
        `<tr><th scope="row" title="${escapeHtml(m.description)}">${escapeHtml(m.name)}</th>${cols
          .map((c) => `<td>${escapeHtml(c.value(m))}</td>`)
          .join('')}</tr>`,
    )
    .join('\n');
  return `<div class="scroll"><table class="metrics"><thead>${head}</thead><tbody>\n${rows}\n</tbody></table></div>`;
}

const PAGE_CSS = `
:root { --fg: #1b1f24; --muted: #5b6570; --bg: #fff; --line: #d8dde3; --accent: #2563eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 1200px; margin: 0 auto; padding: 12px 14px 40px; }
h1 { font-size: 1.45rem; margin: 0.4em 0 0.2em; }
h2 { font-size: 1.15rem; margin: 1.6em 0 0.4em; border-bottom: 1px solid var(--line); padding-bottom: 0.2em; }
h3 { font-size: 1rem; margin: 1.1em 0 0.2em; }
p.sub, .muted { color: var(--muted); }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table.metrics { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 0.9rem; white-space: nowrap; }
table.metrics th, table.metrics td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; }
table.metrics th[scope=row], table.metrics thead th:first-child { text-align: left; }
table.metrics thead th { position: sticky; top: 0; background: #f4f6f8; white-space: normal; vertical-align: bottom; }
table.metrics { font-size: 0.85rem; }
table.metrics th, table.metrics td { padding: 4px 6px; }
.small { font-size: 0.85rem; }
.controls { display: flex; flex-wrap: wrap; gap: 8px 18px; align-items: center; margin: 6px 0; }
.controls select { font-size: 1rem; max-width: 100%; padding: 3px; }
.chart { width: 100%; min-width: 0; margin: 4px 0 10px; }
.grid .u-title { font-size: 0.85rem; font-weight: 600; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(340px, 100%), 1fr)); gap: 4px 16px; }
ul.notes { padding-left: 1.2em; font-size: 0.9rem; }
ul.notes li { margin: 2px 0; overflow-wrap: anywhere; }
#desc { margin: 4px 0; }
@media (max-width: 600px) { body { font-size: 14px; } main { padding: 8px; } .grid { grid-template-columns: 1fr; } }
`;

/** Client script (plain ES2017, no template literals so it can live in this TS string). */
const PAGE_JS = `
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('ballast-data').textContent);
  var COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#ca8a04', '#db2777', '#4b5563', '#65a30d'];
  var charts = [];
  var SYNC = 'ballast';
  function color(i) { return COLORS[i % COLORS.length]; }
  function fill(c, a) {
    var n = parseInt(c.slice(1), 16);
    return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')';
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }
  function width(box) { return Math.max(260, Math.floor(box.getBoundingClientRect().width || box.clientWidth || 600)); }
  function height(w) { return Math.max(180, Math.min(360, Math.round(w * 0.5))); }
  var nf0 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  var nf2 = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  function money(u, v) { return v == null ? '--' : nf0.format(v) + ' ' + D.quote; }
  function pct(u, v) { return v == null ? '--' : nf2.format(v * 100) + '%'; }
  function pp(u, v) { return v == null ? '--' : nf2.format(v * 100) + ' pp'; }
  function axisMoney(u, vals) { return vals.map(function (v) { return v == null ? '' : Math.abs(v) >= 1e6 ? nf2.format(v / 1e6) + 'M' : Math.abs(v) >= 1e4 ? nf0.format(v / 1e3) + 'k' : nf0.format(v); }); }
  function axisPct(u, vals) { return vals.map(function (v) { return v == null ? '' : (Math.round(v * 1000) / 10) + '%'; }); }
  function utc(ts) { return uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'); }

  // Vertical lines at rebalance times (policy charts) or dots at (time, equity) (equity chart).
  function markers(getEvents, dots) {
    return {
      hooks: {
        draw: [function (u) {
          var ev = getEvents();
          if (!ev) return;
          var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height, left = u.bbox.left, w = u.bbox.width;
          ctx.save();
          for (var p = 0; p < ev.length; p++) {
            var e = ev[p];
            if (e.series != null && u.series[e.series] && !u.series[e.series].show) continue;
            ctx.strokeStyle = e.color; ctx.fillStyle = e.color; ctx.globalAlpha = dots ? 0.8 : 0.22; ctx.lineWidth = 1;
            for (var i = 0; i < e.t.length; i++) {
              var x = Math.round(u.valToPos(e.t[i], 'x', true));
              if (x < left || x > left + w) continue;
              if (dots) {
                if (e.v[i] == null) continue;
                var y = u.valToPos(e.v[i], 'y', true);
                if (!(y >= top && y <= top + h)) continue;
                ctx.beginPath(); ctx.arc(x, y, 2.5 * devicePixelRatio, 0, 2 * Math.PI); ctx.fill();
              } else {
                ctx.beginPath(); ctx.moveTo(x + 0.5, top); ctx.lineTo(x + 0.5, top + h); ctx.stroke();
              }
            }
          }
          ctx.restore();
        }]
      }
    };
  }

  function makeChart(box, opts, data) {
    var w = width(box);
    opts.width = w;
    opts.height = opts.height || height(w);
    opts.tzDate = utc;
    opts.cursor = opts.cursor || { sync: { key: SYNC } };
    var u = new uPlot(opts, data, box);
    u._box = box;
    charts.push(u);
    return u;
  }
  function destroyIn(container) {
    charts = charts.filter(function (u) {
      if (container.contains(u.root)) { u.destroy(); return false; }
      return true;
    });
    container.textContent = '';
  }

  // ---------------------------------------------------------------- equity
  var eqBox = document.getElementById('equity');
  var logBox = document.getElementById('log');
  var markBox = document.getElementById('marks');
  var viewSel = document.getElementById('view');
  var viewNote = document.getElementById('view-note');
  D.policies.forEach(function (p, i) { var o = el('option', null, 'relative to ' + p.name); o.value = String(i); viewSel.appendChild(o); });
  if (D.relativeTo) D.policies.forEach(function (p, i) { if (p.name === D.relativeTo) viewSel.value = String(i); });
  function drawEquity() {
    destroyIn(eqBox);
    var rel = viewSel.value === '' ? null : D.policies[Number(viewSel.value)];
    var log = logBox.checked && !rel;
    logBox.disabled = !!rel;
    viewNote.textContent = rel ? 'Each line is a policy’s equity divided by ' + rel.name + '’s at the same bar: above 1, ahead of it; below 1, behind it.' : '';
    var data = [D.times];
    var series = [{}];
    function shape(eq) {
      if (rel) return eq.map(function (v, k) { var b = rel.equity[k]; return v != null && b != null && b > 0 ? v / b : null; });
      return log ? eq.map(function (v) { return v != null && v > 0 ? v : null; }) : eq;
    }
    var fmt = rel ? function (u, v) { return v == null ? '--' : v.toFixed(4); } : money;
    D.policies.forEach(function (p, i) {
      data.push(shape(p.equity));
      series.push({ label: p.name, stroke: color(i), width: p === rel ? 2.5 : 1.5, value: fmt });
    });
    if (D.benchmark) {
      data.push(shape(D.benchmark.equity));
      series.push({ label: 'benchmark: ' + D.benchmark.name, stroke: '#6b7280', width: 1.5, dash: [6, 4], value: fmt });
    }
    var ev = D.policies.map(function (p, i) {
      var v = rel ? p.rebalanceTimes.map(function () { return null; }) : p.rebalanceEquity;
      return { t: p.rebalanceTimes, v: v, color: color(i), series: i + 1 };
    });
    makeChart(eqBox, {
      series: series,
      scales: { y: log ? { distr: 3 } : {} },
      axes: [{}, { values: rel ? function (u, vals) { return vals.map(function (v) { return v == null ? '' : v.toFixed(2); }); } : axisMoney, size: 64 }],
      plugins: [markers(function () { return markBox.checked && !rel ? ev : null; }, true)]
    }, data);
  }
  viewSel.addEventListener('change', drawEquity);
  logBox.addEventListener('change', drawEquity);
  markBox.addEventListener('change', function () { charts.forEach(function (u) { u.redraw(false); }); });

  // ---------------------------------------------------------------- per policy
  var sel = document.getElementById('policy');
  var desc = document.getElementById('desc');
  var polBox = document.getElementById('policy-charts');
  D.policies.forEach(function (p, i) { var o = el('option', null, p.name); o.value = String(i); sel.appendChild(o); });
  if (D.detail) D.policies.forEach(function (p, i) { if (p.name === D.detail) sel.value = String(i); });
  function drawPolicy() {
    destroyIn(polBox);
    var p = D.policies[Number(sel.value) || 0];
    if (!p) return;
    desc.textContent = p.description;
    var n = D.times.length;
    function rep(v) { var a = new Array(n); for (var i = 0; i < n; i++) a[i] = v; return a; }
    var ev = [{ t: p.rebalanceTimes, v: p.rebalanceEquity, color: '#111827', series: null }];
    var evPlugin = function () { return markBox.checked ? ev : null; };

    polBox.appendChild(el('h3', null, 'Weight of each class, with its target and band'));
    var grid = el('div', 'grid');
    polBox.appendChild(grid);
    // Lay out every box first, so each chart measures its final grid cell.
    var boxes = p.classes.map(function () { var b = el('div', 'chart'); grid.appendChild(b); return b; });
    p.classes.forEach(function (c, ci) {
      var box = boxes[ci];
      var col = color(ci);
      makeChart(box, {
        title: c.name + ' (target ' + nf2.format(c.target * 100) + '%, band ' + nf2.format(c.lower * 100) + '–' + nf2.format(c.upper * 100) + '%)',
        height: 220,
        series: [{}, { label: 'weight', stroke: col, width: 1.5, value: pct },
          { label: 'upper', stroke: fill(col, 0.5), dash: [4, 4], value: pct },
          { label: 'lower', stroke: fill(col, 0.5), dash: [4, 4], value: pct },
          { label: 'target', stroke: '#6b7280', dash: [2, 3], value: pct }],
        bands: [{ series: [2, 3], fill: fill(col, 0.08) }],
        axes: [{}, { values: axisPct, size: 56 }],
        plugins: [markers(evPlugin, false)]
      }, [D.times, c.weight, rep(c.upper), rep(c.lower), rep(c.target)]);
    });

    function multi(title, pick, fmt, axis) {
      polBox.appendChild(el('h3', null, title));
      var box = el('div', 'chart');
      polBox.appendChild(box);
      var data = [D.times];
      var series = [{}];
      p.classes.forEach(function (c, ci) { data.push(pick(c)); series.push({ label: c.name, stroke: color(ci), width: 1.5, value: fmt }); });
      makeChart(box, { series: series, axes: [{}, { values: axis, size: 64 }], plugins: [markers(evPlugin, false)] }, data);
    }
    multi('Drift from target (weight − target) per class', function (c) {
      return c.weight.map(function (w) { return w == null ? null : w - c.target; });
    }, pp, axisPct);
    multi('Hedge notional per class (signed futures notional, ' + D.quote + ')', function (c) { return c.hedge; }, money, axisMoney);

    polBox.appendChild(el('h3', null, 'Cumulative funding (received − paid, ' + D.quote + ')'));
    var fbox = el('div', 'chart');
    polBox.appendChild(fbox);
    makeChart(fbox, {
      series: [{}, { label: 'funding', stroke: '#0f766e', width: 1.5, value: money, fill: 'rgba(15,118,110,0.08)' }],
      axes: [{}, { values: axisMoney, size: 64 }],
      plugins: [markers(evPlugin, false)]
    }, [D.times, p.cumFunding]);
  }
  sel.addEventListener('change', drawPolicy);

  var pending = 0;
  window.addEventListener('resize', function () {
    clearTimeout(pending);
    pending = setTimeout(function () {
      charts.forEach(function (u) { var w = width(u._box); if (Math.abs(w - u.width) > 2) u.setSize({ width: w, height: u.height }); });
    }, 120);
  });

  if (D.times.length > 0) { drawEquity(); drawPolicy(); }
  else { eqBox.textContent = 'No bars.'; }
})();
`;

export function renderReport(input: ReportInput): string {
  const { title, quote } = input;
  const uplot = readUplot();
  const e = embed(input);
  const names = e.policies.map((p) => p.name);
  const detail = input.defaultPolicy && names.includes(input.defaultPolicy) ? input.defaultPolicy : (names.find((n) => n !== 'buy-and-hold') ?? names[0] ?? null);
  const relativeTo = names.includes('threshold') ? 'threshold' : detail;
  const data = { title, quote, times: e.times, policies: e.policies, benchmark: e.benchmark, detail, relativeTo };
  const notes = [...input.notes];
  if (e.downsampled) {
    notes.push(
      e.recorded
        ? `Charts show ${e.times.length.toLocaleString('en-US')} of ${e.bars.toLocaleString('en-US')} bars (the backtest recorded every k-th bar and the last); the table uses every bar.`
        : `Charts show ${e.times.length.toLocaleString('en-US')} of ${e.bars.toLocaleString('en-US')} bars (first, last and each policy's equity extremes per bucket); the table uses every bar.`,
    );
  }
  const hasPolicies = e.policies.length > 0;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ballast backtest">
<title>${escapeHtml(title)}</title>
<style>
${uplot.css}
</style>
<style>${PAGE_CSS}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)}</h1>
<p class="sub">Backtest on real market history. Money in ${escapeHtml(quote)}. Times in UTC.</p>

<h2>Policies compared</h2>
<p class="muted">Total cost = spot fees + perp fees + slippage − net funding + basis + tax. Basis: what hedges lost (+) or gained (−) against a perfect hedge of their class. Tax: on gains realised by the lots sold, per calendar year, when the portfolio has a tax: section (— when it does not).</p>
${metricsTable(input.metrics, quote)}

<h3>Trading, hedges and time out of band</h3>
${metricsTable(input.metrics, quote, activityColumns(quote))}

<h2>Equity</h2>
<div class="controls">
<label for="view">Show</label>
<select id="view"><option value="">equity (${escapeHtml(quote)})</option></select>
<label><input type="checkbox" id="log"> log scale</label>
<label><input type="checkbox" id="marks"> mark rebalances</label>
</div>
<p class="muted small" id="view-note"></p>
<div id="equity" class="chart"></div>

<h2>One policy in detail</h2>
<div class="controls">
<label for="policy">Policy</label>
<select id="policy"${hasPolicies ? '' : ' disabled'}></select>
</div>
<p id="desc" class="muted"></p>
<div id="policy-charts"></div>

<h2>Data and notes</h2>
<ul class="notes">
${notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('\n')}
</ul>
<p class="muted">Charts: uPlot ${escapeHtml(uplot.version)} (MIT licence), embedded; this file works offline.</p>
</main>
<script type="application/json" id="ballast-data">${jsonForScript(data)}</script>
<script>
${uplot.js}
</script>
<script>${PAGE_JS}</script>
</body>
</html>
`;
}
