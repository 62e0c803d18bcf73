import type { ExecutionConfig, FundingRate } from './types.js';

/**
 * The explicit cost model behind spot vs futures vs wait. Pure. All amounts in the quote currency.
 *
 *   spot    = N × (spotTaker + slippage) + (sell ? N × spotSalePenalty : 0)
 *   futures = H × 2 × (futuresTaker + slippage)          open now and close later
 *           + side × rate × H × lifeHours / intervalHours   expected funding over the hedge's expected life
 *                                                        (side +1 long, −1 short; a positive rate means
 *                                                        longs pay shorts; the trailing mean rate if known)
 *           + (converts ? spot cost of H at conversion : 0)   the exit rule turns it into a spot trade later
 *                                                        (with `tax:`, plus the tax of the lots that sale
 *                                                        realises at the conversion date; the spot path then
 *                                                        carries the tax of the lots sold now instead of
 *                                                        the flat spotSalePenalty, which tax: forbids)
 * The two are compared per unit of exposure corrected (spot corrects N, a hedge H = N × hedgeRatio).
 */

/** Funding paid per year as a fraction of notional (negative = received). Side +1 long, −1 short. */
export function fundingCostApr(side: 1 | -1, funding: FundingRate | undefined): number {
  if (!funding) return 0;
  return side * funding.rate * (8760 / funding.intervalHours);
}

/** Expected funding paid over `hours` on notional `h` (negative = received). */
export function expectedFunding(side: 1 | -1, h: number, funding: FundingRate | undefined, hours: number): number {
  if (!funding) return 0;
  return side * funding.rate * h * (hours / funding.intervalHours);
}

export interface SpotCost {
  fees: number;
  slippage: number;
  salePenalty: number;
  total: number;
}

export function spotCost(n: number, sell: boolean, ex: ExecutionConfig): SpotCost {
  const fees = n * ex.fees.spotTaker;
  const slippage = n * ex.slippage;
  const salePenalty = sell ? n * ex.spotSalePenalty : 0;
  return { fees, slippage, salePenalty, total: fees + slippage + salePenalty };
}

/** The rate the cost model expects over a hedge's life: the trailing mean when known, else the current rate. */
export function expectedRate(funding: FundingRate | undefined): FundingRate | undefined {
  if (!funding || funding.mean === undefined) return funding;
  return { rate: funding.mean, intervalHours: funding.intervalHours };
}

export interface FuturesCost {
  fees: number;
  slippage: number;
  funding: number;
  /** Spot fees, slippage, sale penalty and tax of converting the hedge into a spot trade at its exit (0 if it is not converted). */
  conversion: number;
  total: number;
}

/**
 * Hedge path cost: open and close H of the perp, funding over `lifeHours` at the expected rate, and — when
 * the exit rule converts the hedge — the spot trade it becomes.
 */
export function futuresCost(h: number, side: 1 | -1, funding: FundingRate | undefined, ex: ExecutionConfig, lifeHours: number, converts: boolean, conversionTax = 0): FuturesCost {
  const fees = 2 * h * ex.fees.futuresTaker;
  const slippage = 2 * h * ex.slippage;
  const f = expectedFunding(side, h, expectedRate(funding), lifeHours);
  const conversion = converts ? spotCost(h, side < 0, ex).total + conversionTax : 0;
  return { fees, slippage, funding: f, conversion, total: fees + slippage + f + conversion };
}
