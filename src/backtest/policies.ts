/**
 * Rebalancing policies compared by `ballast backtest`: each is the user's portfolio with the rebalance
 * and execution sections changed, so every policy runs the same decision core.
 */
import type { Portfolio } from '../core/types.js';

export interface PolicySpec {
  name: string;
  description: string;
  /** The portfolio the planner sees under this policy; null = buy-and-hold (never trades after the start). */
  portfolio: Portfolio | null;
}

function variant(base: Portfolio, rebalance: Partial<Portfolio['rebalance']>, instrument: Portfolio['execution']['instrument'], hedges: Partial<Portfolio['hedges']> = {}): Portfolio {
  return {
    ...base,
    hedges: { ...base.hedges, ...hedges },
    // The policy decides the instrument of every class; under futures, a class without a hedge perp trades spot.
    classes: base.classes.map((c) => {
      const { instrument: _ignored, ...rest } = c;
      return instrument === 'futures' && !c.hedge ? { ...rest, instrument: 'spot' as const } : rest;
    }),
    strategy: base.strategy.type === 'core-satellite' ? { type: 'targets' } : base.strategy,
    rebalance: { ...base.rebalance, ...rebalance },
    execution: { ...base.execution, instrument },
  };
}

/** Every standard policy for a portfolio, in the order they are reported. */
export function standardPolicies(base: Portfolio): PolicySpec[] {
  const hedged = base.classes.some((c) => !c.cash && c.hedge);
  const policies: PolicySpec[] = [
    { name: 'configured', description: `the portfolio file as written: ${describeConfigured(base)}`, portfolio: base },
    { name: 'buy-and-hold', description: 'invest at the targets once, never rebalance', portfolio: null },
    { name: 'calendar-daily', description: 'every day, all classes to target by spot', portfolio: variant(base, { mode: 'calendar', schedule: 'daily' }, 'spot') },
    { name: 'calendar-weekly', description: 'every Monday, all classes to target by spot', portfolio: variant(base, { mode: 'calendar', schedule: 'weekly' }, 'spot') },
    { name: 'calendar-monthly', description: 'on the 1st of each month, all classes to target by spot', portfolio: variant(base, { mode: 'calendar', schedule: 'monthly' }, 'spot') },
    { name: 'threshold', description: 'when a band is breached, breached classes to target by spot', portfolio: variant(base, { mode: 'threshold', to: 'target' }, 'spot') },
    { name: 'threshold-band-edge', description: 'when a band is breached, breached classes back to the band edge by spot', portfolio: variant(base, { mode: 'threshold', to: 'band-edge' }, 'spot') },
    { name: 'hybrid-weekly', description: 'checked every Monday, acts only outside the band, to target by spot', portfolio: variant(base, { mode: 'hybrid', schedule: 'weekly', to: 'target' }, 'spot') },
  ];
  if (hedged) {
    policies.push(
      { name: 'futures-overlay', description: 'threshold, every breach moved by a perp hedge (short or long), the always-hedge baseline; the file\'s exit rule', portfolio: variant(base, { mode: 'threshold', to: 'target' }, 'futures', { direction: 'both' }) },
      { name: 'auto', description: 'threshold, spot or perp hedge chosen by the cost model (fees, slippage, funding over the hedge\'s life); the file\'s exit rule', portfolio: variant(base, { mode: 'threshold', to: 'target' }, 'auto', { direction: 'both' }) },
      base.tax
        ? { name: 'hedge-bridge', description: 'threshold, short-only de-risking hedges converted into spot when the lots they protect turn long-term (tax: set); underweight classes bought spot', portfolio: variant(base, { mode: 'threshold', to: 'target' }, 'futures', { direction: 'short-only', exit: { kind: 'convert-when-long-term' } }) }
        : { name: 'hedge-bridge', description: `threshold, short-only de-risking hedges converted into spot at every ${base.rebalance.schedule} period; underweight classes bought spot`, portfolio: variant(base, { mode: 'threshold', to: 'target' }, 'futures', { direction: 'short-only', exit: { kind: 'convert-on-schedule' } }) },
    );
    if (base.tax) {
      policies.push({
        name: 'tax-aware',
        description: 'threshold; each sale chooses spot or a short hedge by fees + slippage + funding + tax (the tax of the lots sold now against the tax when they turn long-term); hedges converted when the lots turn long-term; underweight classes bought spot',
        portfolio: variant(base, { mode: 'threshold', to: 'target' }, 'auto', { direction: 'short-only', exit: { kind: 'convert-when-long-term' } }),
      });
    }
  }
  return policies;
}

/** One line for the configured policy: mode, schedule, to, instrument and exit rule as the file sets them. */
export function describeConfigured(p: Portfolio): string {
  const r = p.rebalance;
  const when = r.mode === 'threshold' ? 'threshold' : `${r.mode} ${r.schedule}`;
  const hedged = p.classes.some((c) => !c.cash && c.hedge) || p.indexPerps.length > 0;
  const exit = p.hedges.exit.kind === 'convert-after' ? `convert-after ${p.hedges.exit.hours} h` : p.hedges.exit.kind;
  const strategy = p.strategy.type === 'targets' ? '' : `, ${p.strategy.type}`;
  return `${when}, to ${r.to}, scope ${r.scope}, instrument ${p.execution.instrument}${hedged ? `, hedges ${p.hedges.direction} exit ${exit}` : ''}${strategy}`;
}

export function selectPolicies(all: PolicySpec[], names: string[] | undefined): PolicySpec[] {
  if (!names || names.length === 0) return all;
  const out: PolicySpec[] = [];
  for (const n of names) {
    const p = all.find((x) => x.name === n);
    if (!p) throw new Error(`unknown policy "${n}"; choose from: ${all.map((x) => x.name).join(', ')}`);
    out.push(p);
  }
  return out;
}
