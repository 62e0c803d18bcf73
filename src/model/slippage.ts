/**
 * The simulator's slippage model, shared by the SimExchange (paper trading, tests) and the backtester:
 *   slippage = halfSpread + impact × (base quantity / bar volume)   (impact term 0 without volume; capped at 0.99)
 * A buy fills at ref × (1 + slippage), a sell at ref × (1 − slippage). Zero is allowed.
 */
export function slippageFraction(halfSpread: number, impact: number, baseQty: number, barVolume: number): number {
  const s = halfSpread + (barVolume > 0 && impact > 0 ? (impact * Math.abs(baseQty)) / barVolume : 0);
  return Math.min(s, 0.99);
}
