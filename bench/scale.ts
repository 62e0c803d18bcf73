/**
 * B3 — the many-portfolio monitor (src/core/monitor.ts), `npm run bench -- B3`.
 *
 *   full:  1,000,000 portfolios × 10 positions (5 classes each: 4 asset classes of 2 positions + cash;
 *          200 assets), full revaluation plus band check of every class of every portfolio. Best of N runs,
 *          and the ratio to a plain pass over the same arrays (Σ qty × price, the floor for touching them).
 *   tick:  one price tick of an asset held by 100,000 of those portfolios (every 10th portfolio as generated;
 *          the monitor orders portfolios by their most widely held asset, so they are one contiguous run in it):
 *          their positions re-valued, their bands re-checked. 2,000 ticks (±1% random moves, seeded); p50 and p99.
 *   index: breach moves of that asset (sorted), and the binary search "which holders can a 3% move breach".
 *
 * Synthetic, seeded holdings (mulberry32): each run prints the number of breaching portfolios so a change
 * in the computation shows up as a changed count.
 */
import { breachMoves, candidates, monitorFromArrays, revalueAll, tick } from '../src/core/monitor.js';
import { seededUniform } from '../src/model/random.js';

const fmt = (x: number, d = 2) => x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });

export function b3(reps: number): void {
  const P = 1_000_000;
  const K = 10;
  const C = 5;
  const A = 200;
  const rnd = seededUniform(3);
  const prices = new Float64Array(A);
  for (let a = 0; a < A; a++) prices[a] = 1 + rnd() * 1000;
  const posStart = new Int32Array(P + 1);
  const posAsset = new Int32Array(P * K);
  const posQty = new Float64Array(P * K);
  const posClass = new Int32Array(P * K);
  const classStart = new Int32Array(P + 1);
  const classLower = new Float64Array(P * C);
  const classUpper = new Float64Array(P * C);
  const classCash = new Uint8Array(P * C);
  const fixed = new Float64Array(P);
  const t0 = performance.now();
  for (let p = 0; p < P; p++) {
    posStart[p] = p * K;
    classStart[p] = p * C;
    const tpvTarget = 10_000 + rnd() * 990_000;
    for (let c = 0; c < C; c++) {
      const g = p * C + c;
      const target = c === C - 1 ? 0.2 : 0.2;
      const band = c === C - 1 ? 0.1 : 0.05;
      classLower[g] = target - band;
      classUpper[g] = target + band;
      classCash[g] = c === C - 1 ? 1 : 0;
    }
    for (let k = 0; k < K; k++) {
      const i = p * K + k;
      const c = k >> 1; // 2 positions per class; the last pair is in the cash class (stablecoins)
      // every 10th portfolio holds asset 0 (100,000 holders); the rest draw from assets 1..199
      const a = k === 0 && p % 10 === 0 ? 0 : 1 + Math.floor(rnd() * (A - 1));
      posAsset[i] = a;
      posClass[i] = p * C + c;
      // value near the class target, ±30%, split over its 2 positions
      posQty[i] = (tpvTarget * 0.2 * (0.7 + 0.6 * rnd())) / 2 / prices[a]!;
    }
    fixed[p] = 0;
  }
  posStart[P] = P * K;
  classStart[P] = P * C;
  const m = monitorFromArrays({
    ids: Array.from({ length: P }, (_, i) => String(i)),
    assets: Array.from({ length: A }, (_, i) => `A${i}`),
    prices,
    posStart,
    posAsset,
    posQty,
    posClass,
    classStart,
    classLower,
    classUpper,
    classCash,
    classNames: new Array<string>(P * C).fill(''),
    fixed,
  });
  const buildMs = performance.now() - t0;

  // full revaluation + band check
  const full: number[] = [];
  let breaches = 0;
  for (let r = 0; r < reps; r++) {
    const s = performance.now();
    breaches = revalueAll(m);
    full.push(performance.now() - s);
  }
  // the plain pass over the same arrays (the monitor's positions as the full pass reads them)
  const plain: number[] = [];
  let sink = 0;
  const mq = m.posQty;
  const ma = m.posAsset16;
  const mp = m.prices;
  for (let r = 0; r < reps; r++) {
    const s = performance.now();
    let sum = 0;
    for (let i = 0; i < mq.length; i++) sum += mq[i]! * mp[ma[i]!]!;
    sink += sum;
    plain.push(performance.now() - s);
  }
  if (!Number.isFinite(sink)) throw new Error('plain pass: non-finite');
  const bestFull = Math.min(...full);
  const bestPlain = Math.min(...plain);
  console.log(
    `B3 full:  ${fmt(P, 0)} portfolios × ${K} positions (${C} classes each, ${A} assets): revalue + band check ${fmt(bestFull)} ms (best of ${reps}; runs ${full.map((x) => fmt(x, 1)).join(' / ')} ms), ` +
      `${fmt(breaches, 0)} outside a band; plain Σ qty×price pass ${fmt(bestPlain)} ms → ratio ${fmt(bestFull / bestPlain)}× (index built in ${fmt(buildMs, 0)} ms)`,
  );

  // ticks on asset 0 (100,000 holders)
  const holders = m.assetStart[1]! - m.assetStart[0]!;
  const tickRnd = seededUniform(4);
  const times: number[] = [];
  let tickBreaches = 0;
  for (let n = 0; n < 2_000 + 200; n++) {
    const px = m.prices[0]! * (1 + (tickRnd() - 0.5) * 0.02);
    const s = performance.now();
    tickBreaches = tick(m, 0, px);
    const dt = performance.now() - s;
    if (n >= 200) times.push(dt); // first 200: warm-up
  }
  times.sort((x, y) => x - y);
  const q = (f: number) => times[Math.min(times.length - 1, Math.floor(f * times.length))]!;
  console.log(
    `B3 tick:  one price of an asset held by ${fmt(holders, 0)} portfolios, re-valued and re-checked: p50 ${fmt(q(0.5), 3)} ms, p99 ${fmt(q(0.99), 3)} ms, max ${fmt(times.at(-1)!, 3)} ms ` +
      `over ${times.length} ticks (after 200 warm-up); ${fmt(tickBreaches, 0)} of them outside a band after the last`,
  );

  const s = performance.now();
  const b = breachMoves(m, 0);
  const idxMs = performance.now() - s;
  const qs = performance.now();
  let found = 0;
  for (let n = 0; n < 1000; n++) found = candidates(b, 0.03).length;
  const qMs = (performance.now() - qs) / 1000;
  console.log(
    `B3 index: breach moves of that asset for its ${fmt(holders, 0)} holders computed and sorted in ${fmt(idxMs, 0)} ms; "who can a +3% move breach": ${fmt(found, 0)} portfolios, found in ${fmt(qMs * 1000, 1)} µs (binary search)`,
  );
}
