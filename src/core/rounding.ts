import { Decimal } from 'decimal.js';

/**
 * The order boundary: amounts are floored to the venue's lot step with exact decimal arithmetic, so a
 * float error can neither create an order (0.30000000000000004 → 0.3) nor lose one (2.9999999999 → 2.999).
 */
export function floorToStep(x: number, step: number): number {
  if (!(x > 0)) return 0;
  if (!(step > 0)) return x;
  // Guard against float noise just under a step boundary: 0.1 + 0.2 = 0.30000000000000004 and 0.7/0.1 = 6.999999999999999.
  const q = new Decimal(x).div(step);
  const rounded = q.toDecimalPlaces(9, Decimal.ROUND_HALF_UP);
  const steps = rounded.isInteger() ? rounded : q.floor();
  return steps.mul(step).toNumber();
}

export function isMultipleOf(x: number, step: number): boolean {
  if (!(step > 0)) return true;
  return new Decimal(x).mod(step).isZero();
}
