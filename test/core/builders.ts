import type { AssetClass, Portfolio, Snapshot } from '../../src/core/types.js';

/** Test builders: a portfolio and a snapshot with the loader's defaults, overridable piecewise. */
export function cls(name: string, target: number, band: number, assets: string[], extra: Partial<AssetClass> = {}): AssetClass {
  return { name, target, band: { kind: 'absolute', width: band }, assets, cash: false, ...extra };
}

export function portfolio(classes: AssetClass[], over: { rebalance?: Partial<Portfolio['rebalance']>; execution?: Partial<Portfolio['execution']>; risk?: Partial<Portfolio['risk']>; hedges?: Partial<Portfolio['hedges']>; strategy?: Portfolio['strategy']; indexPerps?: Portfolio['indexPerps'] } = {}): Portfolio {
  return {
    quote: 'USDT',
    classes,
    indexPerps: over.indexPerps ?? [],
    rebalance: { mode: 'threshold', schedule: 'weekly', to: 'target', scope: 'breached', ...over.rebalance },
    execution: {
      instrument: 'spot',
      hedgeRatio: 1,
      leverage: 3,
      fees: { spotTaker: 0.001, spotMaker: 0.001, futuresTaker: 0.0005, futuresMaker: 0.0005 },
      slippage: 0.0005,
      spotSalePenalty: 0,
      expectedHoldingHours: 168,
      ...over.execution,
    },
    risk: { maxLeverage: 3, stressMove: 0.3, maxFundingApr: 0.25, maxDataAgeMs: 300_000, ...over.risk },
    hedges: { exit: { kind: 'convert-on-schedule' }, unwindInside: 0.5, maxGross: 0.5, onRefused: 'spot', direction: 'both', fundingWhenUnknown: { kind: 'refuse' }, ...over.hedges },
    strategy: over.strategy ?? { type: 'targets' },
  };
}

export const T0 = Date.UTC(2025, 2, 1);

export function snapshot(s: Partial<Snapshot> & Pick<Snapshot, 'prices' | 'accounts'>): Snapshot {
  return { time: T0, marks: {}, funding: {}, markets: {}, ...s };
}
