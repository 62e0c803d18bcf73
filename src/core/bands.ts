import type { Band, Breach, Fraction } from './types.js';

/** Float noise allowance when comparing a weight with a band edge (1e-9 of TPV). */
export const WEIGHT_EPSILON = 1e-9;

/** Half-width of the band in weight points. Absolute: the width itself; relative: fraction × target. */
export function bandHalfWidth(target: Fraction, band: Band): Fraction {
  return band.kind === 'absolute' ? band.width : band.fraction * target;
}

/** Lower and upper triggers: target ∓ half-width ("BTC 50% ± 5%" → 45%–55%). */
export function bandEdges(target: Fraction, band: Band): { lower: Fraction; upper: Fraction } {
  const h = bandHalfWidth(target, band);
  return { lower: target - h, upper: target + h };
}

/** Which trigger a weight breaches: strictly outside the band (beyond float noise). */
export function breachOf(weight: Fraction, lower: Fraction, upper: Fraction): Breach {
  if (weight > upper + WEIGHT_EPSILON) return 'upper';
  if (weight < lower - WEIGHT_EPSILON) return 'lower';
  return null;
}

/** `band-edge` stops this share of the half-width inside the trigger, so fees and lot rounding land inside. */
export const BAND_EDGE_MARGIN = 0.05;

/**
 * The weight a breached class is moved to. `target` (default), `band-edge` (the breached trigger, kept
 * BAND_EDGE_MARGIN of the half-width inside it) or `halfway` (midway between the trigger and the target).
 */
export function destinationWeight(
  to: 'target' | 'band-edge' | 'halfway',
  target: Fraction,
  lower: Fraction,
  upper: Fraction,
  breach: Breach,
): Fraction {
  if (to === 'target' || breach === null) return target;
  const edge = breach === 'upper' ? upper : lower;
  if (to === 'halfway') return (edge + target) / 2;
  return edge + (target - edge) * BAND_EDGE_MARGIN;
}
