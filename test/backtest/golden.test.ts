/**
 * Golden values: the seed portfolio (examples/backtest/portfolio.yaml) over all bundled daily history,
 * every standard policy, fills at the decision bar's close, default options — the numbers behind the
 * `ballast demo` table. They were recorded with the engine that asked `plan()` at every decision, before
 * the rebalance kernel, the flat-stretch blocks and the trigger pre-check existed; the restructured
 * engine must reproduce them exactly (counts) and to the last few digits (money, in practice bit for bit).
 * A change here is a change of results: explain it in the commit that updates the table.
 *
 * The hedging policies (configured = auto for this file, futures-overlay, auto, hedge-bridge) were
 * re-recorded with the hedge lifecycle (exit rules, inner-band hysteresis, unknown funding, margin that is
 * not cash) and the refreshed data (Altcoins hedged by the ADA perp, complete funding): futures-overlay went
 * from 645 rebalances, 78.7 % in band, 606,813 final to 252, 100 %, 673,739; auto from 420, 92.8 %,
 * 660,561 to 175, 100 %, 686,472. The spot policies did not move.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadPortfolio } from '../../src/adapters/files/portfolio.js';
import { loadHistory } from '../../src/adapters/history/history.js';
import { DEFAULT_OPTIONS, runPolicy } from '../../src/backtest/engine.js';
import { standardPolicies } from '../../src/backtest/policies.js';
import { historyNeeds } from '../../src/backtest/run.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Golden {
  orders: number;
  rebalances: number;
  liquidations: number;
  turnover: number;
  fees: number;
  fundingPaid: number;
  fundingReceived: number;
  finalEquity: number;
}

const GOLDEN: [string, Golden][] = [
['configured', { orders: 536, rebalances: 175, liquidations: 0, turnover: 3986992.567661598, fees: 3422.263562761333, fundingPaid: 107.87347859456573, fundingReceived: 2447.5574240185624, finalEquity: 686471.8024155817 }],
  ['buy-and-hold', { orders: 5, rebalances: 0, liquidations: 0, turnover: 84957.54245754247, fees: 84.95754245754246, fundingPaid: 0, fundingReceived: 0, finalEquity: 492478.46905525157 }],
  ['calendar-daily', { orders: 10423, rebalances: 2162, liquidations: 0, turnover: 10698408.868851466, fees: 10698.408868851435, fundingPaid: 0, fundingReceived: 0, finalEquity: 616477.7580057982 }],
  ['calendar-weekly', { orders: 1546, rebalances: 310, liquidations: 0, turnover: 4484709.051511753, fees: 4484.70905151175, fundingPaid: 0, fundingReceived: 0, finalEquity: 646153.1628116536 }],
  ['calendar-monthly', { orders: 365, rebalances: 72, liquidations: 0, turnover: 2633186.385131925, fees: 2633.186385131926, fundingPaid: 0, fundingReceived: 0, finalEquity: 702853.3598275903 }],
  ['threshold', { orders: 453, rebalances: 140, liquidations: 0, turnover: 2903630.9070063513, fees: 2903.630907006351, fundingPaid: 0, fundingReceived: 0, finalEquity: 658693.8013076149 }],
  ['threshold-band-edge', { orders: 845, rebalances: 324, liquidations: 0, turnover: 1954260.483704862, fees: 1954.260483704859, fundingPaid: 0, fundingReceived: 0, finalEquity: 672563.8073642444 }],
  ['hybrid-weekly', { orders: 381, rebalances: 127, liquidations: 0, turnover: 2642925.64810755, fees: 2642.9256481075495, fundingPaid: 0, fundingReceived: 0, finalEquity: 650904.680846226 }],
  ['futures-overlay', { orders: 722, rebalances: 252, liquidations: 0, turnover: 6953112.001412449, fees: 4748.34119365451, fundingPaid: 694.6885723399083, fundingReceived: 3391.1249682674966, finalEquity: 673738.6687800736 }],
  ['auto', { orders: 536, rebalances: 175, liquidations: 0, turnover: 3986992.567661598, fees: 3422.263562761333, fundingPaid: 107.87347859456573, fundingReceived: 2447.5574240185624, finalEquity: 686471.8024155817 }],
  ['hedge-bridge', { orders: 603, rebalances: 210, liquidations: 0, turnover: 5225460.050532657, fees: 4012.1884469119627, fundingPaid: 112.04979522541787, fundingReceived: 2757.541883842594, finalEquity: 673571.8763160356 }],
];

/** Equal to ~12 significant digits (the recorded values were reproduced bit for bit when written). */
const close = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));

describe('golden: the seed portfolio over all bundled daily history', () => {
  const p = loadPortfolio(join(ROOT, 'examples', 'backtest', 'portfolio.yaml'));
  const needs = historyNeeds(p);
  const h = loadHistory({ dir: join(ROOT, 'data'), interval: '1d', assets: needs.assets, stable: needs.stable, perps: needs.perps, quote: 'USDT' });
  const specs = standardPolicies(p);

  it('runs every standard policy', () => {
    expect(specs.map((s) => s.name)).toEqual(GOLDEN.map(([name]) => name));
  });

  for (const [name, g] of GOLDEN) {
    it(name, () => {
      const run = runPolicy(p, specs.find((s) => s.name === name)!, h, DEFAULT_OPTIONS);
      const c = run.counters;
      expect({ orders: c.orders, rebalances: c.rebalances, liquidations: c.liquidations }).toEqual({ orders: g.orders, rebalances: g.rebalances, liquidations: g.liquidations });
      close(c.turnover, g.turnover);
      close(c.fees, g.fees);
      close(c.fundingPaid, g.fundingPaid);
      close(c.fundingReceived, g.fundingReceived);
      close(run.series.equity[run.series.equity.length - 1]!, g.finalEquity);
    });
  }
});
