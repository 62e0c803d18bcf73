/**
 * The Pareto frontier of tracking error against total cost, and the objectives that pick one point. Pure.
 *
 * A point is on the frontier when no other point is at least as good on both axes and strictly better on
 * one (lower tracking error, lower total cost). Equal points are all on it.
 */
import { fmtPct, parseFraction, TuneSpecError } from './grid.js';

export interface Point {
  trackingError: number;
  totalCost: number;
}

/** Indices of the frontier points, by tracking error ascending (then cost, then index). O(n log n). */
export function paretoFrontier(points: readonly Point[]): number[] {
  const order = points.map((_, i) => i).sort((a, b) => {
    const pa = points[a]!;
    const pb = points[b]!;
    return pa.trackingError - pb.trackingError || pa.totalCost - pb.totalCost || a - b;
  });
  const out: number[] = [];
  // Sweep by tracking error: a point is kept when its cost is below every cost seen at a strictly lower
  // tracking error, and not above the cheapest at its own tracking error.
  let bestBefore = Infinity; // cheapest cost among strictly lower tracking errors
  let k = 0;
  while (k < order.length) {
    const te = points[order[k]!]!.trackingError;
    let end = k;
    while (end < order.length && points[order[end]!]!.trackingError === te) end++;
    const groupMin = points[order[k]!]!.totalCost; // sorted by cost inside the group
    if (groupMin < bestBefore) {
      for (let j = k; j < end && points[order[j]!]!.totalCost === groupMin; j++) out.push(order[j]!);
      bestBefore = groupMin;
    }
    k = end;
  }
  return out;
}

export type Objective =
  | { kind: 'frontier' }
  | { kind: 'min-cost'; maxTrackingError: number }
  | { kind: 'min-tracking-error'; maxCost: number; costUnit: 'money' | 'capital' };

/**
 * `frontier` (default), `min-cost tracking-error<=2.5%`, or `min-tracking-error cost<=1500`
 * (money in the quote currency) / `min-tracking-error cost<=1.5%` (of the starting capital).
 */
export function parseObjective(spec: string): Objective {
  const s = spec.trim().replace(/\s+/g, ' ');
  if (s === 'frontier') return { kind: 'frontier' };
  const m = /^(min-cost|min-tracking-error)\s+([a-z-]+)\s*<=\s*(\S+)$/.exec(s);
  if (!m) {
    throw new TuneSpecError(`--objective: "${spec}" is not "frontier", "min-cost tracking-error<=X%" or "min-tracking-error cost<=X" (X in the quote currency, or X% of the capital)`);
  }
  const [, goal, what, value] = m as unknown as [string, string, string, string];
  if (goal === 'min-cost') {
    if (what !== 'tracking-error') throw new TuneSpecError(`--objective: min-cost is constrained by tracking-error<=X%, not by "${what}"`);
    const x = parseFraction(value, '--objective tracking-error');
    if (!value.endsWith('%')) throw new TuneSpecError(`--objective: write the tracking error bound as a percentage ("${value}%" or ${fmtPct(x)})`);
    if (!(x > 0)) throw new TuneSpecError(`--objective: tracking-error bound must be above 0%, got ${value}`);
    return { kind: 'min-cost', maxTrackingError: x };
  }
  if (what !== 'cost') throw new TuneSpecError(`--objective: min-tracking-error is constrained by cost<=X, not by "${what}"`);
  // A negative bound is allowed: a configuration can earn more funding than it pays in fees and slippage.
  const x = parseFraction(value, '--objective cost');
  return { kind: 'min-tracking-error', maxCost: x, costUnit: value.endsWith('%') ? 'capital' : 'money' };
}

export function describeObjective(o: Objective, quote: string): string {
  if (o.kind === 'frontier') return 'frontier: the cheapest configuration whose tracking error is at most the current one';
  if (o.kind === 'min-cost') return `min-cost with tracking error ≤ ${fmtPct(o.maxTrackingError)}`;
  return `min-tracking-error with total cost ≤ ${o.costUnit === 'capital' ? `${fmtPct(o.maxCost)} of the capital` : `${o.maxCost} ${quote}`}`;
}

/**
 * The point an objective picks, or null when none qualifies. `current` is the current configuration's
 * point (the frontier objective's bound); `capital` converts a cost bound given as % of capital. Ties go
 * to the lower other axis, then to the lower index (the grid order), so the choice is deterministic.
 */
export function choose(points: readonly Point[], o: Objective, current: Point, capital: number): number | null {
  let best: number | null = null;
  const better = (i: number, j: number, primary: 'cost' | 'te'): boolean => {
    const a = points[i]!;
    const b = points[j]!;
    const d = primary === 'cost' ? a.totalCost - b.totalCost || a.trackingError - b.trackingError : a.trackingError - b.trackingError || a.totalCost - b.totalCost;
    return d < 0 || (d === 0 && i < j);
  };
  points.forEach((p, i) => {
    if (o.kind === 'frontier' || o.kind === 'min-cost') {
      const bound = o.kind === 'frontier' ? current.trackingError : o.maxTrackingError;
      if (p.trackingError <= bound && (best === null || better(i, best, 'cost'))) best = i;
    } else {
      const bound = o.costUnit === 'capital' ? o.maxCost * capital : o.maxCost;
      if (p.totalCost <= bound && (best === null || better(i, best, 'te'))) best = i;
    }
  });
  return best;
}
