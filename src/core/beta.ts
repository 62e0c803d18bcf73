/** Beta of series y against series x from simple returns of aligned close prices (oldest first). Pure. */
export function estimateBeta(y: readonly number[], x: readonly number[]): number {
  const n = Math.min(y.length, x.length);
  if (n < 3) throw new Error(`need at least 3 aligned prices to estimate beta, got ${n}`);
  const ry: number[] = [];
  const rx: number[] = [];
  const oy = y.length - n;
  const ox = x.length - n;
  for (let i = 1; i < n; i++) {
    ry.push(y[oy + i]! / y[oy + i - 1]! - 1);
    rx.push(x[ox + i]! / x[ox + i - 1]! - 1);
  }
  const my = ry.reduce((s, v) => s + v, 0) / ry.length;
  const mx = rx.reduce((s, v) => s + v, 0) / rx.length;
  let cov = 0;
  let varx = 0;
  for (let i = 0; i < rx.length; i++) {
    cov += (ry[i]! - my) * (rx[i]! - mx);
    varx += (rx[i]! - mx) ** 2;
  }
  if (varx === 0) throw new Error('cannot estimate beta: the reference series does not move');
  return cov / varx;
}
