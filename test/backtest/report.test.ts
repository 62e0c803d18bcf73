import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from '../../src/apps/cli/progress.js';
import { computeMetrics, type PolicyCounters, type PolicyMetrics, type PolicySeries } from '../../src/backtest/metrics.js';
import { downsampleIndices, escapeHtml, jsonForScript, renderReport } from '../../src/backtest/report.js';
import { activityColumns, formatPolicyTable, TABLE_MAX_WIDTH } from '../../src/backtest/table.js';

const HOUR = 3_600_000;
const HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)> & \u2028';

const counters: PolicyCounters = {
  perpFees: 0,
  perpSlippage: 0,
  basisPnl: 0,
  rebalances: 12,
  turnover: 1_234_567.891,
  fees: 1_234.5,
  slippage: 617.25,
  fundingPaid: 100,
  fundingReceived: 350.4,
  liquidations: 1,
  orders: 30,
};

function makeSeries(name: string, n: number, seed: number): PolicySeries {
  const times = new Float64Array(n);
  const equity = new Float64Array(n);
  const w0 = new Float64Array(n);
  const w1 = new Float64Array(n);
  const h0 = new Float64Array(n);
  const cf = new Float64Array(n);
  let e = 100_000;
  for (let i = 0; i < n; i++) {
    times[i] = Date.UTC(2022, 0, 1) + i * HOUR;
    e *= 1 + 0.01 * Math.sin(i * 0.01 * seed) + 0.0001;
    equity[i] = e;
    w0[i] = 0.5 + 0.06 * Math.sin(i / 200);
    w1[i] = 1 - w0[i]!;
    h0[i] = i % 500 < 100 ? -5000 : 0;
    cf[i] = i * 0.01;
  }
  return {
    name,
    description: `${name} description <b>`,
    times,
    equity,
    classNames: ['BTC', 'Stablecoins'],
    targets: [0.5, 0.5],
    lower: [0.45, 0.45],
    upper: [0.55, 0.55],
    weights: [w0, w1],
    hedgeNotional: [h0, new Float64Array(n)],
    cumFunding: cf,
    rebalanceBars: [10, 500, n - 1],
  };
}

function extractJson(html: string): unknown {
  const m = /<script type="application\/json" id="ballast-data">([\s\S]*?)<\/script>/.exec(html);
  expect(m).not.toBeNull();
  return JSON.parse(m![1]!);
}

describe('renderReport', () => {
  const series = [makeSeries(HOSTILE, 300, 1), makeSeries('threshold 5pp', 300, 2)];
  const metrics = series.map((s) => computeMetrics(s, counters));
  const html = renderReport({ title: 'Backtest <BTC/USDT>', quote: 'USDT', series, metrics, notes: ['BTC 1h: 32 bars skipped', HOSTILE] });

  it('is self-contained: uPlot inlined, no external URL at all', () => {
    expect(html).toContain('var uPlot=function()');
    expect(html).toContain('.uplot');
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/\b(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/@import/i);
  });

  it('embeds the data as JSON that parses back', () => {
    const data = extractJson(html) as { quote: string; times: number[]; policies: { name: string; equity: number[]; classes: { name: string; weight: number[] }[]; rebalanceTimes: number[] }[] };
    expect(data.quote).toBe('USDT');
    expect(data.times).toHaveLength(300);
    expect(data.times[0]).toBe(Date.UTC(2022, 0, 1) / 1000);
    expect(data.policies.map((p) => p.name)).toEqual([HOSTILE, 'threshold 5pp']);
    expect(data.policies[0]!.equity[0]).toBeCloseTo(series[0]!.equity[0]!, 2);
    expect(data.policies[0]!.classes.map((c) => c.name)).toEqual(['BTC', 'Stablecoins']);
    expect(data.policies[0]!.rebalanceTimes).toEqual([10, 500, 299].filter((b) => b < 300).map((b) => series[0]!.times[b]! / 1000));
  });

  it('escapes a hostile policy name everywhere', () => {
    // exactly the three script elements we wrote, each closed once
    expect(html.match(/<script\b/gi)).toHaveLength(3);
    expect(html.match(/<\/script>/gi)).toHaveLength(3);
    expect(html).not.toContain('<img');
    expect(html).not.toContain('alert("x")</script>');
    expect(html).toContain(escapeHtml(HOSTILE));
    expect(html).toContain('<title>Backtest &#60;BTC/USDT&#62;</title>');
    const json = /id="ballast-data">([\s\S]*?)<\/script>/.exec(html)![1]!;
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
  });

  it('its scripts are valid JavaScript', () => {
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(2);
    for (const s of scripts) expect(() => new Function(s)).not.toThrow();
  });

  it('contains the metrics table and the notes', () => {
    expect(html).toContain('<table class="metrics">');
    expect(html).toContain('1,234,568'); // turnover, in the second table
    expect(html).toContain('<th scope="col" title="Spot fees + perp fees + slippage − net funding + basis + tax, in USDT">Total cost</th>');
    expect(html).toContain('BTC 1h: 32 bars skipped');
    expect(html).toContain('name="viewport"');
  });

  it('downsamples long series, keeping first, last and equity extremes', () => {
    const long = [makeSeries('a', 57_000, 3), makeSeries('b', 57_000, 5)];
    const out = renderReport({ title: 't', quote: 'USDT', series: long, metrics: long.map((s) => computeMetrics(s, counters)), notes: [] });
    const data = extractJson(out) as { times: number[]; policies: { equity: number[] }[] };
    expect(data.times.length).toBeLessThanOrEqual(5000);
    expect(data.times.length).toBeGreaterThan(2000);
    expect(data.times[0]).toBe(long[0]!.times[0]! / 1000);
    expect(data.times[data.times.length - 1]).toBe(long[0]!.times[56_999]! / 1000);
    for (let p = 0; p < 2; p++) {
      const eq = Array.from(long[p]!.equity);
      expect(Math.max(...data.policies[p]!.equity)).toBeCloseTo(Math.max(...eq), -1);
      expect(Math.min(...data.policies[p]!.equity)).toBeCloseTo(Math.min(...eq), -1);
    }
    expect(out).toMatch(/Charts show [\d,]+ of 57,000 bars/);
  });

  it('downsampleIndices keeps everything when short and is sorted/unique when long', () => {
    expect(downsampleIndices(5, [[1, 2, 3, 4, 5]], 10)).toEqual([0, 1, 2, 3, 4]);
    const s = Array.from({ length: 1000 }, (_, i) => (i === 777 ? 1e9 : i === 333 ? -1 : i % 7));
    const idx = downsampleIndices(1000, [s], 50);
    expect(idx[0]).toBe(0);
    expect(idx[idx.length - 1]).toBe(999);
    expect(idx).toContain(777);
    expect(idx).toContain(333);
    expect(idx.length).toBeLessThanOrEqual(50);
    for (let i = 1; i < idx.length; i++) expect(idx[i]!).toBeGreaterThan(idx[i - 1]!);
  });

  it('jsonForScript escapes markup characters', () => {
    const j = jsonForScript({ a: '</script><!-- &' });
    expect(j).not.toMatch(/[<>&]/);
    expect(JSON.parse(j)).toEqual({ a: '</script><!-- &' });
  });
});

describe('formatPolicyTable', () => {
  const base = { ...computeMetrics(makeSeries('buy-and-hold', 200, 1), counters), cagr: 0.2, volatility: 0.6 };
  it('one row per policy, separators and 2-decimal percentages, ≤ 160 columns', () => {
    const m2: PolicyMetrics = { ...base, volatility: 0.4567, sharpe: 1.234, name: 'threshold ±5pp, spot only', cagr: 0.123456, maxDrawdown: 0.5, timeInBand: 0.98765, trackingError: 0.0123 };
    const t = formatPolicyTable([base, m2], 'USDT');
    const lines = t.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^Policy\s+Final USDT\s+CAGR\s+Max DD\s+In band\s+Track err\s+Spot fees\s+Perp fees\s+Slippage\s+Funding\s+Basis\s+Tax\s+Total cost\s+After tax$/);
    expect(lines[3]).toContain('threshold ±5pp, spot only');
    expect(lines[3]).toContain('12.35%');
    expect(lines[3]).toContain('50.00%');
    expect(lines[3]).toContain('98.77%');
    expect(lines[3]).toContain('1.23%');
    // fees 1,234.5 (all spot), slippage 617, funding net 250: total 1,234.5 + 617.x − 250 = 1,601.
    const cells = lines[3]!.trim().split(/\s{2,}/);
    expect(cells.slice(-8)).toEqual(['1,235', '0', '617', '250', '0', '—', '1,601', cells.at(-1)]);
    const activity = formatPolicyTable([base, m2], 'USDT', activityColumns('USDT')).split('\n');
    expect(activity[0]).toMatch(/^Policy\s+Rebal\s+Turnover\s+Vol\s+Sharpe\s+Liq\s+Hedges\s+Life\s+Unwound\s+Converted\s+Cut\s+Reopened\s+Out of band\s+Why out of band$/);
    expect(activity[3]).toContain('1,234,568'); // turnover
    for (const l of activity) expect([...l].length).toBeLessThanOrEqual(TABLE_MAX_WIDTH);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(TABLE_MAX_WIDTH);
  });

  it('huge numbers and long names still fit 160 columns', () => {
    const huge: PolicyMetrics = {
      ...base,
      name: 'x'.repeat(300),
      finalEquity: 123_456_789_012.34,
      turnover: 98_765_432_109_876,
      fees: -1e12,
      slippage: 1e12,
      funding: -1e11,
      cagr: 12345.678,
      volatility: 99.99,
      sharpe: -1234.5,
      rebalances: 1_000_000,
      liquidations: 12_345,
      cagrNaN: NaN,
    } as PolicyMetrics;
    const t = formatPolicyTable([huge, { ...base, cagr: NaN, sharpe: Infinity }], 'USDT');
    for (const l of t.split('\n')) expect([...l].length).toBeLessThanOrEqual(TABLE_MAX_WIDTH);
    expect(t).toContain('…');
    expect(t).toContain('n/a');
  });
});

describe('createProgress', () => {
  it('is a silent no-op when disabled or not a TTY', () => {
    const p = createProgress({ total: 10, label: 'bt', enabled: false });
    expect(p.active).toBe(false);
    p.tick();
    p.tick(5);
    p.stop();
    p.stop();
    const notTty = new PassThrough() as unknown as NodeJS.WriteStream;
    const q = createProgress({ total: 10, label: 'bt', enabled: true, stream: notTty });
    expect(q.active).toBe(false);
  });

  it('draws on a TTY stream', () => {
    const out = new PassThrough() as unknown as NodeJS.WriteStream & { isTTY: boolean; columns: number };
    out.isTTY = true;
    out.columns = 100;
    (out as unknown as { cursorTo: () => boolean; clearLine: () => boolean; moveCursor: () => boolean }).cursorTo = () => true;
    (out as unknown as { clearLine: () => boolean }).clearLine = () => true;
    (out as unknown as { moveCursor: () => boolean }).moveCursor = () => true;
    let text = '';
    (out as unknown as PassThrough).on('data', (d: Buffer) => (text += d.toString()));
    const p = createProgress({ total: 4, label: 'backtest', enabled: true, stream: out });
    expect(p.active).toBe(true);
    p.tick(2);
    p.tick(2);
    p.stop();
    p.tick();
    expect(text).toContain('backtest');
    expect(text).toContain('4/4');
  });
});
