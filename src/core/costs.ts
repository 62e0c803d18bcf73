import type { ExecutionConfig, FundingRate } from './types.js';

/**
 * The explicit cost model behind spot vs futures vs wait. Pure. All amounts in the quote currency.
 *
 *   spot    = N × (spotTaker + slippage) + (sell ? N × spotSalePenalty : 0)
 *   futures = H × 2 × (futuresTaker + slippage)          open now and close later
 *           + side × rate × H × holdingHours / intervalHours   expected funding (side +1 long, −1 short;
 *                                                             a positive rate means longs pay shorts)
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

export interface FuturesCost {
  fees: number;
  slippage: number;
  funding: number;
  total: number;
}

export function futuresCost(h: number, side: 1 | -1, funding: FundingRate | undefined, ex: ExecutionConfig): FuturesCost {
  const fees = 2 * h * ex.fees.futuresTaker;
  const slippage = 2 * h * ex.slippage;
  const f = expectedFunding(side, h, funding, ex.expectedHoldingHours);
  return { fees, slippage, funding: f, total: fees + slippage + f };
}
