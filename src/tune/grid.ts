/**
 * The tuning grid: which variations of a portfolio's rebalancing settings `ballast tune` tries. Pure.
 *
 * A grid is a product of dimensions; one cell of it is a `Cell`, the user's portfolio with some settings
 * changed (`applyCell`). A setting the cell leaves out stays as the portfolio file configures it, so the
 * empty cell is the current configuration.
 *
 * Spec syntax (dimensions separated by `;`, values by `,`; percentages as `2%` or 0.02):
 *
 *   scale=0.5,1,2              every class's configured band × 0.5, × 1, × 2
 *   absolute=2%,4%             every class's band ± 2 points, ± 4 points (replaces the configured band)
 *   relative=10%,25%           every class's band ± 10 % / ± 25 % of its own target
 *   scale.BTC=0.5,1            one class's band × value, on top of the above (one dimension per class)
 *   to=target,band-edge,halfway
 *   mode=threshold,hybrid:weekly,calendar:monthly   (hybrid and calendar need a schedule: daily|weekly|monthly)
 *   instrument=spot,futures,auto                    (`policy=` is the same dimension)
 *   hedge-ratio=0.5,1          futures hedge = deviation × ratio
 *   max-funding-apr=10%,25%    hedge exit rule available today: a hedge paying more funding than this is unwound
 *
 * `scale`, `absolute` and `relative` are one dimension (the band), their values alternatives of it.
 */
import { bandHalfWidth } from '../core/bands.js';
import type { Band, Instrument, Portfolio, RebalanceMode, RebalanceTo, Schedule } from '../core/types.js';

/** A bad `--grid` or `--objective` (or `--walk-forward`) spec; the CLI prints it and exits with code 2. */
export class TuneSpecError extends Error {
  override name = 'TuneSpecError';
}

export type BandChoice = { kind: 'scale'; scale: number } | { kind: 'absolute'; width: number } | { kind: 'relative'; fraction: number };

/** One grid point. Absent fields: as configured in the portfolio file. */
export interface Cell {
  band?: BandChoice;
  /** Extra per-class band multipliers, by class name. */
  classScale?: Record<string, number>;
  to?: RebalanceTo;
  mode?: RebalanceMode;
  schedule?: Schedule;
  instrument?: Instrument;
  hedgeRatio?: number;
  maxFundingApr?: number;
}

export interface GridDimension {
  /** Spec key: `band`, `scale.BTC`, `to`, `mode`, `instrument`, `hedge-ratio`, `max-funding-apr`. */
  key: string;
  /** The values as written (for printing). */
  labels: string[];
  apply: ((c: Cell) => Cell)[];
}

export interface Grid {
  dimensions: GridDimension[];
  /** Number of cells (product of the dimensions' sizes). */
  size: number;
  /** The spec as given, or `default`. */
  spec: string;
}

const MODES: RebalanceMode[] = ['threshold', 'calendar', 'hybrid'];
const SCHEDULES: Schedule[] = ['daily', 'weekly', 'monthly'];
const TOS: RebalanceTo[] = ['target', 'band-edge', 'halfway'];
const INSTRUMENTS: Instrument[] = ['spot', 'futures', 'auto'];

/** `2%` → 0.02, `0.02` → 0.02. */
export function parseFraction(v: string, where: string): number {
  const s = v.trim();
  const pct = s.endsWith('%');
  const n = Number(pct ? s.slice(0, -1) : s);
  if (s === '' || s === '%' || !Number.isFinite(n)) throw new TuneSpecError(`${where}: "${v}" is not a number or percentage`);
  return pct ? n / 100 : n;
}

/** 0.05 → `5%` (up to 10 significant digits). */
export function fmtPct(x: number): string {
  return `${Number((x * 100).toPrecision(10))}%`;
}

function positive(v: string, where: string, pct: boolean): number {
  const x = pct ? parseFraction(v, where) : Number(v.trim());
  if (v.trim() === '' || !Number.isFinite(x) || !(x > 0)) throw new TuneSpecError(`${where}: "${v}" must be a number above 0`);
  return x;
}

/** Parses a grid spec against a portfolio (class names are checked). Throws TuneSpecError naming the part. */
export function parseGrid(spec: string, p: Portfolio): Grid {
  const parts = spec.split(';').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new TuneSpecError('--grid: empty spec (example: "scale=0.5,1,2; to=target,band-edge")');
  const bandLabels: string[] = [];
  const bandApply: ((c: Cell) => Cell)[] = [];
  const dims: GridDimension[] = [];
  const seen = new Set<string>();
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new TuneSpecError(`--grid: "${part}" is not key=value,value… (keys: scale, absolute, relative, scale.<class>, to, mode, instrument, hedge-ratio, max-funding-apr)`);
    let key = part.slice(0, eq).trim();
    if (key === 'policy') key = 'instrument';
    const values = part.slice(eq + 1).split(',').map((s) => s.trim());
    const where = `--grid ${key}`;
    if (values.some((v) => v === '')) throw new TuneSpecError(`${where}: empty value in "${part}"`);
    if (seen.has(key)) throw new TuneSpecError(`${where}: dimension given twice`);
    seen.add(key);
    if (new Set(values).size !== values.length) throw new TuneSpecError(`${where}: a value is repeated in "${part}"`);
    if (key === 'scale' || key === 'absolute' || key === 'relative') {
      for (const v of values) {
        const x = positive(v, where, key !== 'scale');
        bandLabels.push(key === 'scale' ? `×${x}` : key === 'absolute' ? `±${fmtPct(x)}` : `±${fmtPct(x)} of target`);
        const b: BandChoice = key === 'scale' ? { kind: 'scale', scale: x } : key === 'absolute' ? { kind: 'absolute', width: x } : { kind: 'relative', fraction: x };
        bandApply.push((c) => ({ ...c, band: b }));
      }
    } else if (key.startsWith('scale.')) {
      const name = key.slice('scale.'.length);
      if (!p.classes.some((c) => c.name === name)) throw new TuneSpecError(`${where}: no class named "${name}" (classes: ${p.classes.map((c) => c.name).join(', ')})`);
      dims.push({
        key,
        labels: values.map((v) => `${name} ×${positive(v, where, false)}`),
        apply: values.map((v) => {
          const x = positive(v, where, false);
          return (c: Cell) => ({ ...c, classScale: { ...c.classScale, [name]: x } });
        }),
      });
    } else if (key === 'to') {
      for (const v of values) if (!TOS.includes(v as RebalanceTo)) throw new TuneSpecError(`${where}: "${v}" is not one of ${TOS.join(', ')}`);
      dims.push({ key, labels: values.map((v) => `to ${v}`), apply: values.map((v) => (c: Cell) => ({ ...c, to: v as RebalanceTo })) });
    } else if (key === 'mode') {
      const apply = values.map((v) => {
        const [m, s, extra] = v.split(':');
        if (!MODES.includes(m as RebalanceMode) || extra !== undefined) throw new TuneSpecError(`${where}: "${v}" is not threshold, hybrid:<schedule> or calendar:<schedule>`);
        if (m === 'threshold' && s !== undefined) throw new TuneSpecError(`${where}: "${v}": threshold mode has no schedule`);
        if (m !== 'threshold' && !SCHEDULES.includes(s as Schedule)) throw new TuneSpecError(`${where}: "${v}": ${m} needs a schedule, one of ${SCHEDULES.map((x) => `${m}:${x}`).join(', ')}`);
        return (c: Cell): Cell => ({ ...c, mode: m as RebalanceMode, ...(s !== undefined ? { schedule: s as Schedule } : {}) });
      });
      dims.push({ key, labels: values.map((v) => v.replace(':', ' ')), apply });
    } else if (key === 'instrument') {
      for (const v of values) if (!INSTRUMENTS.includes(v as Instrument)) throw new TuneSpecError(`${where}: "${v}" is not one of ${INSTRUMENTS.join(', ')}`);
      if (values.some((v) => v !== 'spot') && !p.classes.some((c) => !c.cash && c.hedge)) {
        throw new TuneSpecError(`${where}: futures and auto need a class with a hedge perp; this portfolio has none`);
      }
      dims.push({ key, labels: values.map((v) => v), apply: values.map((v) => (c: Cell) => ({ ...c, instrument: v as Instrument })) });
    } else if (key === 'hedge-ratio') {
      const xs = values.map((v) => positive(v, where, false));
      for (const x of xs) if (x > 1) throw new TuneSpecError(`${where}: ${x} is above 1 (a hedge is at most the deviation)`);
      dims.push({ key, labels: xs.map((x) => `hedge ×${x}`), apply: xs.map((x) => (c: Cell) => ({ ...c, hedgeRatio: x })) });
    } else if (key === 'max-funding-apr') {
      const xs = values.map((v) => positive(v, where, true));
      dims.push({ key, labels: xs.map((x) => `exit funding>${fmtPct(x)}`), apply: xs.map((x) => (c: Cell) => ({ ...c, maxFundingApr: x })) });
    } else {
      throw new TuneSpecError(`--grid: unknown dimension "${key}" (keys: scale, absolute, relative, scale.<class>, to, mode, instrument, hedge-ratio, max-funding-apr)`);
    }
  }
  if (bandLabels.length > 0) dims.unshift({ key: 'band', labels: bandLabels, apply: bandApply });
  const grid: Grid = { dimensions: dims, size: dims.reduce((n, d) => n * d.apply.length, 1), spec };
  for (const cell of cells(grid)) checkCell(p, cell);
  return grid;
}

/** The default grid: band scale × destination × mode × instrument (the futures choices only when a class has a hedge perp). */
export function defaultGridSpec(p: Portfolio): string {
  const hedged = p.classes.some((c) => !c.cash && c.hedge);
  // Scales that keep every class's band inside [0, 100 %] around its target.
  const scales = [0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3].filter((s) => p.classes.every((c) => {
    const h = bandHalfWidth(c.target, c.band) * s;
    return h < c.target && c.target + h <= 1;
  }));
  return [
    `scale=${scales.join(',')}`,
    'to=target,band-edge,halfway',
    'mode=threshold,hybrid:weekly,calendar:monthly',
    hedged ? 'instrument=spot,futures,auto' : 'instrument=spot',
  ].join('; ');
}

export function defaultGrid(p: Portfolio): Grid {
  return { ...parseGrid(defaultGridSpec(p), p), spec: 'default' };
}

/** Every cell of the grid, in a fixed order (first dimension slowest). */
export function cells(g: Grid): Cell[] {
  let out: Cell[] = [{}];
  for (const d of g.dimensions) {
    const next: Cell[] = [];
    for (const c of out) for (const f of d.apply) next.push(f(c));
    out = next;
  }
  return out;
}

/** One line per dimension: `band (8): ×0.5, ×0.75, …`. */
export function describeGrid(g: Grid): string[] {
  return g.dimensions.map((d) => `${d.key} (${d.labels.length}): ${d.labels.join(', ')}`);
}

function classBand(p: Portfolio, i: number, cell: Cell): Band {
  const c = p.classes[i]!;
  let band: Band = c.band;
  const b = cell.band;
  if (b?.kind === 'absolute') band = { kind: 'absolute', width: b.width };
  else if (b?.kind === 'relative') band = { kind: 'relative', fraction: b.fraction };
  const s = (b?.kind === 'scale' ? b.scale : 1) * (cell.classScale?.[c.name] ?? 1);
  // 12 significant digits: 4% × 1.25 is 5%, as the written portfolio file will say (not 5.000000000000001%).
  const r = (x: number) => Number((x * s).toPrecision(12));
  if (s !== 1) band = band.kind === 'absolute' ? { kind: 'absolute', width: r(band.width) } : { kind: 'relative', fraction: r(band.fraction) };
  return band;
}

/** A cell's bands must keep each trigger inside [0 %, 100 %], as the portfolio file's own rule. */
export function checkCell(p: Portfolio, cell: Cell): void {
  p.classes.forEach((c, i) => {
    const h = bandHalfWidth(c.target, classBand(p, i, cell));
    if (h >= c.target) throw new TuneSpecError(`--grid: ${cellLabel(cell)} gives ${c.name} a band of ±${fmtPct(h)}, not narrower than its target ${fmtPct(c.target)}`);
    if (c.target + h > 1) throw new TuneSpecError(`--grid: ${cellLabel(cell)} puts the upper trigger of ${c.name} at ${fmtPct(c.target + h)}, above 100%`);
  });
}

/**
 * The portfolio a cell describes: bands, rebalance and execution settings changed, everything else as
 * configured. When the cell sets the instrument, the portfolio-wide instrument applies to every class
 * (per-class overrides dropped; under futures a class without a hedge perp trades spot) and a
 * core-satellite strategy becomes plain targets — the rules of the backtester's standard policies.
 */
export function applyCell(p: Portfolio, cell: Cell): Portfolio {
  const inst = cell.instrument;
  return {
    ...p,
    classes: p.classes.map((c, i) => {
      let out = { ...c, band: classBand(p, i, cell) };
      if (inst !== undefined) {
        const { instrument: _dropped, ...rest } = out;
        out = inst === 'futures' && !c.hedge ? { ...rest, instrument: 'spot' as const } : rest;
      }
      return out;
    }),
    strategy: inst !== undefined && p.strategy.type === 'core-satellite' ? { type: 'targets' } : p.strategy,
    rebalance: {
      ...p.rebalance,
      ...(cell.mode !== undefined ? { mode: cell.mode } : {}),
      ...(cell.schedule !== undefined ? { schedule: cell.schedule } : {}),
      ...(cell.to !== undefined ? { to: cell.to } : {}),
    },
    execution: {
      ...p.execution,
      ...(inst !== undefined ? { instrument: inst } : {}),
      ...(cell.hedgeRatio !== undefined ? { hedgeRatio: cell.hedgeRatio } : {}),
    },
    risk: { ...p.risk, ...(cell.maxFundingApr !== undefined ? { maxFundingApr: cell.maxFundingApr } : {}) },
  };
}

/** Short description of a cell: `bands ×1.5 · to band-edge · hybrid weekly · auto`; the empty cell is `as configured`. */
export function cellLabel(cell: Cell): string {
  const parts: string[] = [];
  const b = cell.band;
  if (b) parts.push(b.kind === 'scale' ? `bands ×${b.scale}` : b.kind === 'absolute' ? `bands ±${fmtPct(b.width)}` : `bands ±${fmtPct(b.fraction)} of target`);
  for (const [k, v] of Object.entries(cell.classScale ?? {})) parts.push(`${k} band ×${v}`);
  if (cell.to) parts.push(`to ${cell.to}`);
  if (cell.mode) parts.push(cell.mode === 'threshold' ? 'threshold' : `${cell.mode} ${cell.schedule ?? ''}`.trim());
  if (cell.instrument) parts.push(cell.instrument);
  if (cell.hedgeRatio !== undefined) parts.push(`hedge ×${cell.hedgeRatio}`);
  if (cell.maxFundingApr !== undefined) parts.push(`exit funding>${fmtPct(cell.maxFundingApr)}`);
  return parts.length ? parts.join(' · ') : 'as configured';
}
