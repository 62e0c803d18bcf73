/**
 * The `ballast tune --report` page: one self-contained HTML file (uPlot embedded, no external address,
 * works offline). A scatter of every configuration's tracking error against total cost with the frontier,
 * the current configuration and the recommendation marked; with a walk-forward, the out-of-sample path
 * (cumulative total cost over the test windows, chosen against current) and each window's tracking error.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { COST_COUNTED } from './evaluate.js';
import { describeObjective, type Objective } from './frontier.js';
import type { Grid } from './grid.js';
import { gridLines, reduction } from './format.js';
import { summarizeWalkForward, type TuneResult, type WalkForwardSpec } from './tune.js';

export interface TuneReportInput {
  title: string;
  quote: string;
  result: TuneResult;
  grid: Grid;
  objective: Objective;
  walkForward?: WalkForwardSpec;
}

function uplot(): { js: string; css: string } {
  const require = createRequire(import.meta.url);
  const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  // Keep the credit, drop the project URL (the page holds no external address); never close the element early.
  const code = js.replace(/^\/\*![^*]*\*\/\s*/, '').replace(/<\/(script)/gi, '<\\/$1');
  return { js: `/*! uPlot (c) Leon Sorokin, MIT licence */\n${code}`, css: css.replace(/<\/(style)/gi, '<\\/$1') };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const r6 = (x: number) => Number(x.toPrecision(8));

const PAGE_JS = `
(function () {
  var D = JSON.parse(document.getElementById('tune-data').textContent);
  function width(el) { return Math.max(320, el.clientWidth || 800); }
  var fmtPct = function (u, v) { return v == null ? '' : (v * 100).toFixed(2) + '%'; };
  var fmtMoney = function (u, v) { return v == null ? '' : Math.round(v).toLocaleString('en-US'); };
  // Scatter on uPlot's x-sorted data: one x (tracking error) per configuration, a series per group.
  var pts = D.points.slice().sort(function (a, b) { return a.te - b.te || a.cost - b.cost; });
  var xs = pts.map(function (p) { return p.te; });
  function col(pred) { return pts.map(function (p) { return pred(p) ? p.cost : null; }); }
  var dots = function () { return null; };
  // The hovered configuration's name and figures, in the legend.
  var named = function (u, v, si, i) { return v == null || i == null ? '' : pts[i].label + ': ' + (pts[i].te * 100).toFixed(2) + '%, ' + Math.round(v).toLocaleString('en-US'); };
  var box = document.getElementById('frontier');
  new uPlot({
    width: width(box), height: 420, title: 'Tracking error vs total cost (' + D.quote + ')',
    scales: { x: { time: false } },
    axes: [{ label: 'tracking error', values: function (u, vs) { return vs.map(function (v) { return (v * 100).toFixed(1) + '%'; }); } },
           { label: 'total cost (' + D.quote + ')', size: 80, values: function (u, vs) { return vs.map(function (v) { return Math.round(v).toLocaleString('en-US'); }); } }],
    series: [
      { label: 'tracking error', value: fmtPct },
      { label: 'configuration', stroke: '#9aa5b1', paths: dots, points: { show: true, size: 5, fill: '#9aa5b1' }, value: named },
      { label: 'frontier', stroke: '#1f6feb', width: 2, spanGaps: true, points: { show: true, size: 7, fill: '#1f6feb' }, value: function (u, v) { return v == null ? '' : 'on the frontier'; } },
      { label: 'current', stroke: '#d1242f', paths: dots, points: { show: true, size: 12, fill: '#d1242f' }, value: function (u, v) { return v == null ? '' : 'this one'; } },
      { label: 'recommended', stroke: '#1a7f37', paths: dots, points: { show: true, size: 12, fill: '#1a7f37' }, value: function (u, v) { return v == null ? '' : 'this one'; } }
    ]
  }, [xs, col(function (p) { return true; }), col(function (p) { return p.frontier; }), col(function (p) { return p.current; }), col(function (p) { return p.chosen; })], box);
  if (D.windows && D.windows.length) {
    var t = D.windows.map(function (w) { return w.end / 1000; });
    var ch = 0, cu = 0, cc = [], uc = [];
    D.windows.forEach(function (w) { ch += w.chosenCost; cu += w.currentCost; cc.push(ch); uc.push(cu); });
    var b2 = document.getElementById('oos');
    new uPlot({ width: width(b2), height: 300, title: 'Out of sample: cumulative total cost over the test windows (' + D.quote + ')',
      axes: [{}, { size: 80 }],
      series: [{}, { label: 'chosen on the training window', stroke: '#1a7f37', width: 2, points: { show: true }, value: fmtMoney },
                   { label: 'current configuration', stroke: '#d1242f', width: 2, points: { show: true }, value: fmtMoney }] },
      [t, cc, uc], b2);
    var b3 = document.getElementById('oos-te');
    new uPlot({ width: width(b3), height: 260, title: 'Out of sample: tracking error per test window',
      axes: [{}, { size: 80, values: function (u, vs) { return vs.map(function (v) { return (v * 100).toFixed(1) + '%'; }); } }],
      series: [{}, { label: 'chosen', stroke: '#1a7f37', width: 2, points: { show: true }, value: fmtPct },
                   { label: 'current', stroke: '#d1242f', width: 2, points: { show: true }, value: fmtPct }] },
      [t, D.windows.map(function (w) { return w.chosenTe; }), D.windows.map(function (w) { return w.currentTe; })], b3);
  }
})();
`;

export function renderTuneReport(input: TuneReportInput): string {
  const { result: r, quote } = input;
  const frontier = new Set(r.frontier);
  const cur = r.current.metrics;
  const points = r.cells.map((c, i) => ({ te: r6(c.metrics.trackingError), cost: r6(c.metrics.totalCost), frontier: frontier.has(i), current: false, chosen: i === r.chosen, label: c.label }));
  points.push({ te: r6(cur.trackingError), cost: r6(cur.totalCost), frontier: false, current: true, chosen: false, label: 'current' });
  const windows = r.windows?.map((w) => ({
    end: w.test.to,
    chosenCost: r6(w.outOfSample.chosen.totalCost),
    currentCost: r6(w.outOfSample.current.totalCost),
    chosenTe: r6(w.outOfSample.chosen.trackingError),
    currentTe: r6(w.outOfSample.current.trackingError),
  }));
  const data = { quote, points, windows: windows ?? null };
  const u = uplot();
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const money = (x: number) => Math.round(x).toLocaleString('en-US');
  const rows = r.frontier
    .map((i) => {
      const c = r.cells[i]!;
      return `<tr${i === r.chosen ? ' class="chosen"' : ''}><td>${pct(c.metrics.trackingError)}</td><td>${money(c.metrics.totalCost)}</td><td>${money(c.metrics.fees)}</td><td>${money(c.metrics.slippage)}</td><td>${money(c.metrics.fundingReceived - c.metrics.fundingPaid)}</td><td>${c.metrics.rebalances}</td><td class="l">${esc(c.label)}${i === r.chosen ? ' (recommended)' : ''}</td></tr>`;
    })
    .join('\n');
  const chosen = r.chosen === null ? null : r.cells[r.chosen]!;
  const wf = r.windows && input.walkForward ? summarizeWalkForward(r.windows) : null;
  const day = (t: number) => new Date(t).toISOString().slice(0, 10);
  const wrows = (r.windows ?? [])
    .map(
      (w) =>
        `<tr><td class="l">${day(w.test.from)} → ${day(w.test.to)}</td><td>${pct(w.inSample.chosen.trackingError)} / ${pct(w.inSample.current.trackingError)}</td><td>${money(w.inSample.chosen.totalCost)} / ${money(w.inSample.current.totalCost)}</td><td>${pct(w.outOfSample.chosen.trackingError)} / ${pct(w.outOfSample.current.trackingError)}</td><td>${money(w.outOfSample.chosen.totalCost)} / ${money(w.outOfSample.current.totalCost)}</td><td class="l">${esc(w.label)}</td></tr>`,
    )
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ballast tune">
<title>${esc(input.title)}</title>
<style>
${u.css}
</style>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1f2328; }
main { max-width: 1100px; margin: 0 auto; padding: 16px; }
table { border-collapse: collapse; margin: 8px 0 16px; }
td, th { padding: 3px 8px; border-bottom: 1px solid #d0d7de; text-align: right; white-space: nowrap; }
td.l, th.l { text-align: left; }
tr.chosen td { background: #dafbe1; }
.muted { color: #656d76; }
.chart { margin: 12px 0; }
</style>
</head>
<body>
<main>
<h1>${esc(input.title)}</h1>
<p class="muted">${esc(COST_COUNTED)}. Money in ${esc(quote)}. ${esc(gridLines(input.grid)[0]!)}. Objective: ${esc(describeObjective(input.objective, quote))}.</p>
<div id="frontier" class="chart"></div>
<p>Current configuration: tracking error ${pct(cur.trackingError)}, total cost ${money(cur.totalCost)}.
${chosen ? `Recommended: <b>${esc(chosen.label)}</b> — tracking error ${pct(chosen.metrics.trackingError)}, total cost ${money(chosen.metrics.totalCost)} (${esc(reduction(chosen.metrics.totalCost, cur.totalCost))}).` : 'No configuration met the objective.'}</p>
<h2>Frontier</h2>
<table><tr><th>track err</th><th>total cost</th><th>fees</th><th>slippage</th><th>net funding</th><th>rebalances</th><th class="l">configuration</th></tr>
${rows}
</table>
${
  wf
    ? `<h2>Walk-forward ${esc(`${input.walkForward!.train.text}/${input.walkForward!.test.text}`)}</h2>
<p>In-sample: total cost ${money(wf.inSample.chosenCost)} vs ${money(wf.inSample.currentCost)} (${esc(reduction(wf.inSample.chosenCost, wf.inSample.currentCost))}), tracking error ${pct(wf.inSample.chosenTe)} vs ${pct(wf.inSample.currentTe)}.
Out-of-sample: total cost ${money(wf.outOfSample.chosenCost)} vs ${money(wf.outOfSample.currentCost)} (${esc(reduction(wf.outOfSample.chosenCost, wf.outOfSample.currentCost))}), tracking error ${pct(wf.outOfSample.chosenTe)} vs ${pct(wf.outOfSample.currentTe)}.</p>
<div id="oos" class="chart"></div>
<div id="oos-te" class="chart"></div>
<table><tr><th class="l">test window</th><th>in-sample TE chosen / current</th><th>in-sample cost</th><th>out-of-sample TE</th><th>out-of-sample cost</th><th class="l">chosen on training</th></tr>
${wrows}
</table>`
    : ''
}
<p class="muted">Charts: uPlot (MIT licence), embedded; this file works offline.</p>
</main>
<script type="application/json" id="tune-data">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>
<script>
${u.js}
</script>
<script>${PAGE_JS}</script>
</body>
</html>
`;
}
