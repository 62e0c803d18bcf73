/** `ballast tune` results as text and as one JSON object (what `--json` prints). */
import { COST_COUNTED, type CellMetrics } from './evaluate.js';
import type { Grid } from './grid.js';
import { describeGrid } from './grid.js';
import type { Objective } from './frontier.js';
import { describeObjective } from './frontier.js';
import { summarizeWalkForward, type TuneResult, type WalkForwardSpec } from './tune.js';

const money = (x: number) => Math.round(x).toLocaleString('en-US');
const pct = (x: number, d = 2) => `${(x * 100).toFixed(d)}%`;
const day = (t: number) => new Date(t).toISOString().slice(0, 10);

/** 1 − chosen / current as text: `62% lower`, `15% higher`. */
export function reduction(chosen: number, current: number): string {
  if (current === 0) return 'n/a (current cost 0)';
  const r = 1 - chosen / current;
  if (current < 0) return chosen <= current ? `${money(current - chosen)} less (the current configuration already earns more funding than it pays)` : `${money(chosen - current)} more`;
  if (chosen < 0) return `${(r * 100).toFixed(0)}% lower (${money(current - chosen)} less: it earns more funding than it pays in fees and slippage)`;
  return r >= 0 ? `${(r * 100).toFixed(0)}% lower` : `${(-r * 100).toFixed(0)}% higher`;
}

export function gridLines(g: Grid): string[] {
  const sizes = g.dimensions.map((d) => d.labels.length).join(' × ');
  return [`Grid (${g.spec === 'default' ? 'default' : `--grid ${g.spec}`}): ${g.size} configuration${g.size === 1 ? '' : 's'}${g.dimensions.length > 1 ? ` = ${sizes}` : ''}`, ...describeGrid(g).map((l) => `  ${l}`)];
}

export function headerLines(g: Grid, o: Objective, quote: string, capital: number): string[] {
  return [
    ...gridLines(g),
    `Objective: ${describeObjective(o, quote)}`,
    `Cost: ${COST_COUNTED}; money in ${quote}, starting capital ${money(capital)}.`,
  ];
}

function row(cols: string[], widths: number[]): string {
  return cols.map((c, i) => (i === cols.length - 1 ? c : c.padStart(widths[i]!))).join('  ');
}

function metricCols(m: CellMetrics): string[] {
  return [pct(m.trackingError), money(m.totalCost), money(m.fees), money(m.slippage), money(m.fundingReceived - m.fundingPaid), String(m.rebalances)];
}

export function resultLines(r: TuneResult, o: Objective, quote: string): string[] {
  const widths = [9, 11, 9, 9, 12, 10];
  const lines: string[] = [];
  const cur = r.current.metrics;
  lines.push(`Frontier: ${r.frontier.length} of ${r.cells.length} configurations that no other beats on both tracking error and total cost (${quote}):`);
  lines.push(`   ${row(['track err', 'total cost', 'fees', 'slippage', 'net funding', 'rebalances', 'configuration'], widths)}`);
  const curOnFrontier = r.frontier.some((i) => r.cells[i]!.metrics.trackingError === cur.trackingError && r.cells[i]!.metrics.totalCost === cur.totalCost);
  let curShown = false;
  for (const i of r.frontier) {
    const m = r.cells[i]!.metrics;
    if (!curShown && !curOnFrontier && cur.trackingError < m.trackingError) {
      lines.push(`*  ${row([...metricCols(cur), 'CURRENT (as configured; not on the frontier)'], widths)}`);
      curShown = true;
    }
    const isCur = m.trackingError === cur.trackingError && m.totalCost === cur.totalCost;
    const mark = `${isCur ? '*' : ' '}${i === r.chosen ? '>' : ' '}`;
    lines.push(`${mark} ${row([...metricCols(m), `${r.cells[i]!.label}${isCur ? '   = CURRENT' : ''}${i === r.chosen ? '   <- recommended' : ''}`], widths)}`);
  }
  if (!curShown && !curOnFrontier) lines.push(`*  ${row([...metricCols(cur), 'CURRENT (as configured; not on the frontier)'], widths)}`);
  lines.push('  (* current configuration, > recommended; net funding: received − paid)');
  lines.push('');
  if (r.chosen === null) {
    lines.push(`Recommended: none — no configuration of the grid meets "${describeObjective(o, quote)}".`);
  } else {
    const c = r.cells[r.chosen]!;
    const m = c.metrics;
    lines.push(`Recommended (${o.kind}): ${c.label}`);
    lines.push(`  tracking error ${pct(m.trackingError)} (current ${pct(cur.trackingError)}); total cost ${money(m.totalCost)} ${quote} (current ${money(cur.totalCost)}): ${reduction(m.totalCost, cur.totalCost)}`);
    lines.push(`  fees ${money(m.fees)}, slippage ${money(m.slippage)}, funding paid ${money(m.fundingPaid)}, received ${money(m.fundingReceived)}; ${m.rebalances} rebalances, turnover ${money(m.turnover)}; time in band ${pct(m.timeInBand, 1)}; CAGR ${pct(m.cagr, 1)} (current ${pct(cur.cagr, 1)})`);
  }
  return lines;
}

export function walkForwardLines(r: TuneResult, wf: WalkForwardSpec, quote: string): string[] {
  const ws = r.windows;
  if (!ws) return [];
  const lines: string[] = [];
  lines.push(`Walk-forward ${wf.train.text}/${wf.test.text}: ${ws.length} windows; chosen on each training window, then run on the test window after it (${quote}):`);
  const w = [23, 21, 21, 21, 21];
  lines.push(`  ${row(['test window', 'in-sample TE ch/cur', 'in-sample cost ch/cur', 'out-of-sample TE', 'out-of-sample cost', 'chosen on training'], w)}`);
  for (const x of ws) {
    lines.push(
      `  ${row(
        [
          `${day(x.test.from)} → ${day(x.test.to)}`,
          `${pct(x.inSample.chosen.trackingError)} / ${pct(x.inSample.current.trackingError)}`,
          `${money(x.inSample.chosen.totalCost)} / ${money(x.inSample.current.totalCost)}`,
          `${pct(x.outOfSample.chosen.trackingError)} / ${pct(x.outOfSample.current.trackingError)}`,
          `${money(x.outOfSample.chosen.totalCost)} / ${money(x.outOfSample.current.totalCost)}`,
          x.label,
        ],
        w,
      )}`,
    );
  }
  const s = summarizeWalkForward(ws);
  lines.push(
    `  In-sample (training windows): total cost ${money(s.inSample.chosenCost)} vs ${money(s.inSample.currentCost)} current, ${reduction(s.inSample.chosenCost, s.inSample.currentCost)}; tracking error ${pct(s.inSample.chosenTe)} vs ${pct(s.inSample.currentTe)}.`,
  );
  lines.push(
    `  Out-of-sample (test windows):  total cost ${money(s.outOfSample.chosenCost)} vs ${money(s.outOfSample.currentCost)} current, ${reduction(s.outOfSample.chosenCost, s.outOfSample.currentCost)}; tracking error ${pct(s.outOfSample.chosenTe)} vs ${pct(s.outOfSample.currentTe)}.`,
  );
  return lines;
}

export function tuneJson(r: TuneResult, g: Grid, o: Objective, wf: WalkForwardSpec | undefined, extra: Record<string, unknown>): unknown {
  return {
    ...extra,
    costCounted: COST_COUNTED,
    grid: { spec: g.spec, size: g.size, dimensions: g.dimensions.map((d) => ({ key: d.key, values: d.labels })) },
    objective: o,
    current: r.current,
    cells: r.cells,
    frontier: r.frontier,
    recommended: r.chosen,
    walkForward: r.windows && wf ? { spec: `${wf.train.text}/${wf.test.text}`, windows: r.windows, summary: summarizeWalkForward(r.windows) } : null,
    run: { workers: r.workers, computed: r.computed, resumed: r.resumed, seconds: r.seconds },
  };
}

