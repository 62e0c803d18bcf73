/**
 * The threshold monitor for many portfolios: which portfolios have a class outside its band now, and which
 * ones a price move could push out — without a pass over every portfolio on every tick.
 *
 * Data (struct of arrays, built once by `buildMonitor`, updated in place):
 *   positions   posAsset / posQty / posClass / posPortfolio, CSR by portfolio (`posStart`)
 *   by asset    `assetPos`: the positions holding each asset (CSR, `assetStart`) — a tick on an asset walks
 *               only these
 *   classes     classLower / classUpper / classCash / classExposure, CSR by portfolio (`classStart`)
 *   portfolios  tpv (TPV) and `fixed` (cash balances, minus the entry cost of perps: TPV = fixed + Σ qty × price)
 *
 * Definitions (docs/concepts.md): a class's net exposure is Σ qty × price of its positions (a perp's signed
 * notional counts; a short is a negative qty); TPV = cash + spot value + unrealised PnL of perps, so a perp
 * position of q contracts entered at e adds q × (price − e): `fixed` holds the −q × e part. The cash class's
 * exposure is TPV − Σ(other classes). Weight = exposure / TPV. A class breaches when its weight leaves
 * [lower, upper]; its distance is how far it is outside (> 0) or inside (< 0, the room left), in weight
 * points; a portfolio's distance is its classes' largest.
 *
 *   tick(asset, price)        re-values the holders of that asset (O(holders)) and returns how many of them
 *                             are outside a band now; `breached` lists them
 *   revalueAll(prices)        the full pass (start-up, B3 bench)
 *   breachMoves(asset)        per holder, the smallest relative move of that one asset that would take one of
 *                             its classes out of band (up and down), sorted — `candidates(asset, move)` is a
 *                             binary search: the portfolios a move of that size can breach, without a scan.
 *
 * Pure: no I/O, no clock. Exactness: the tick path is exact; breach moves are exact for a move of one asset
 * from the state they were computed in (recompute after ticks of other assets).
 */

export interface MonitorPosition {
  asset: string;
  /** Base units (spot) or signed base-equivalent contracts (perp). */
  qty: number;
  /** Index of the class in `classes`. */
  cls: number;
  /** Perp entry price (its qty × entry is not equity); omit for spot. */
  entryPrice?: number;
}

export interface MonitorClass {
  name: string;
  lower: number;
  upper: number;
  cash?: boolean;
}

export interface MonitorPortfolio {
  id: string;
  classes: MonitorClass[];
  positions: MonitorPosition[];
  /** Quote-currency balance (cash) plus perp wallet balances. */
  cash: number;
}

export interface Monitor {
  readonly ids: string[];
  readonly assets: string[];
  readonly assetIndex: Map<string, number>;
  readonly prices: Float64Array;
  readonly posStart: Int32Array;
  readonly posAsset: Int32Array;
  readonly posQty: Float64Array;
  readonly posClass: Int32Array;
  readonly posPortfolio: Int32Array;
  readonly assetStart: Int32Array;
  readonly assetPos: Int32Array;
  /** Holdings of each asset in `assetStart` order, as their own arrays (a tick reads them sequentially). */
  readonly holdQty: Float64Array;
  readonly holdClass: Int32Array;
  readonly holdPortfolio: Int32Array;
  readonly classStart: Int32Array;
  /** Positions of each class (positions are ordered by class inside a portfolio). */
  readonly classPosStart: Int32Array;
  readonly classLower: Float64Array;
  readonly classUpper: Float64Array;
  /**
   * Band edges interned: class c's edges are bandLower/bandUpper[classBand[c]] (the same values as
   * classLower/classUpper; portfolios share few distinct (lower, upper) pairs, so the hot passes read a 2-byte
   * index per class instead of 16 bytes).
   */
  readonly classBand: Uint16Array | Uint32Array;
  readonly bandLower: Float64Array;
  readonly bandUpper: Float64Array;
  /** Positions per class (the full pass walks positions class by class with it). */
  readonly classPosCount: Uint16Array;
  /** posAsset in 2 bytes (at most 65,536 assets): what the full pass reads. */
  readonly posAsset16: Uint16Array;
  readonly classCash: Uint8Array;
  readonly classExposure: Float64Array;
  readonly fixed: Float64Array;
  readonly tpv: Float64Array;
  /** Per portfolio: largest distance outside a band (> 0 = breach), and the class (global index) that has it. */
  readonly distance: Float64Array;
  readonly worstClass: Int32Array;
  readonly classNames: string[];
  /** Scratch: portfolios touched by the last tick (first `touchedCount` entries). */
  readonly touched: Int32Array;
  touchedCount: number;
  tickNo: number;
}

/** Build the index. Prices: by asset; every held asset needs one (a missing price is an error, never zero). */
export function buildMonitor(portfolios: readonly MonitorPortfolio[], prices: Readonly<Record<string, number>>): Monitor {
  const assetIndex = new Map<string, number>();
  const assets: string[] = [];
  let nPos = 0;
  let nCls = 0;
  for (const p of portfolios) {
    nPos += p.positions.length;
    nCls += p.classes.length;
    for (const x of p.positions) {
      if (!assetIndex.has(x.asset)) {
        assetIndex.set(x.asset, assets.length);
        assets.push(x.asset);
      }
    }
  }
  const P = portfolios.length;
  const priceArr = new Float64Array(assets.length);
  assets.forEach((a, i) => {
    const px = prices[a];
    if (px === undefined || !Number.isFinite(px) || px <= 0) throw new RangeError(`monitor: no valid price for ${a} (got ${px})`);
    priceArr[i] = px;
  });
  const posStart = new Int32Array(P + 1);
  const posAsset = new Int32Array(nPos);
  const posQty = new Float64Array(nPos);
  const posClass = new Int32Array(nPos);
  const classStart = new Int32Array(P + 1);
  const classLower = new Float64Array(nCls);
  const classUpper = new Float64Array(nCls);
  const classCash = new Uint8Array(nCls);
  const classNames: string[] = new Array<string>(nCls);
  const fixed = new Float64Array(P);
  let pi = 0;
  let ci = 0;
  for (let p = 0; p < P; p++) {
    const pf = portfolios[p]!;
    posStart[p] = pi;
    classStart[p] = ci;
    let f = pf.cash;
    for (const c of pf.classes) {
      classLower[ci] = c.lower;
      classUpper[ci] = c.upper;
      classCash[ci] = c.cash ? 1 : 0;
      classNames[ci] = c.name;
      ci++;
    }
    for (const x of [...pf.positions].sort((u, v) => u.cls - v.cls)) {
      if (x.cls < 0 || x.cls >= pf.classes.length) throw new RangeError(`monitor: portfolio ${pf.id}: position ${x.asset} names class ${x.cls} of ${pf.classes.length}`);
      const a = assetIndex.get(x.asset)!;
      posAsset[pi] = a;
      posQty[pi] = x.qty;
      posClass[pi] = classStart[p]! + x.cls;
      if (x.entryPrice !== undefined) f -= x.qty * x.entryPrice;
      pi++;
    }
    fixed[p] = f;
  }
  posStart[P] = pi;
  classStart[P] = ci;
  return monitorFromArrays({ ids: portfolios.map((p) => p.id), assets, prices: priceArr, posStart, posAsset, posQty, posClass, classStart, classLower, classUpper, classCash, classNames, fixed });
}

/** The arrays a monitor is built from (what `buildMonitor` derives from objects; a loader can fill them directly). */
export interface MonitorArrays {
  ids: string[];
  assets: string[];
  prices: Float64Array;
  posStart: Int32Array;
  posAsset: Int32Array;
  posQty: Float64Array;
  /** Global class index (into the class arrays), not the portfolio-local one; non-decreasing inside a portfolio. */
  posClass: Int32Array;
  classStart: Int32Array;
  classLower: Float64Array;
  classUpper: Float64Array;
  classCash: Uint8Array;
  classNames: string[];
  fixed: Float64Array;
}

/**
 * Portfolios ordered by the most widely held asset they hold (stable: ties keep their order). The holders of an
 * asset are then one contiguous run of portfolios (for the most held asset exactly, for the others mostly), so
 * a tick on it walks contiguous memory instead of jumping across the whole index. Returns `x` itself when the
 * order does not change.
 */
function clustered(x: MonitorArrays): MonitorArrays {
  const P = x.ids.length;
  const nA = x.assets.length;
  const held = new Int32Array(nA);
  for (let i = 0; i < x.posAsset.length; i++) held[x.posAsset[i]!]!++;
  const byCount = Array.from({ length: nA }, (_, a) => a).sort((a, b) => held[b]! - held[a]! || a - b);
  const rank = new Int32Array(nA);
  byCount.forEach((a, r) => {
    rank[a] = r;
  });
  const key = new Int32Array(P);
  const buckets = new Int32Array(nA + 2);
  for (let p = 0; p < P; p++) {
    let k = nA;
    for (let i = x.posStart[p]!; i < x.posStart[p + 1]!; i++) k = Math.min(k, rank[x.posAsset[i]!]!);
    key[p] = k;
    buckets[k + 1]!++;
  }
  for (let k = 0; k <= nA; k++) buckets[k + 1]! += buckets[k]!;
  const order = new Int32Array(P);
  let same = true;
  for (let p = 0; p < P; p++) {
    const at = buckets[key[p]!]!++;
    order[at] = p;
    if (at !== p) same = false;
  }
  if (same) return x;
  const nPos = x.posAsset.length;
  const nCls = x.classLower.length;
  const out: MonitorArrays = {
    ids: new Array<string>(P),
    assets: x.assets,
    prices: x.prices,
    posStart: new Int32Array(P + 1),
    posAsset: new Int32Array(nPos),
    posQty: new Float64Array(nPos),
    posClass: new Int32Array(nPos),
    classStart: new Int32Array(P + 1),
    classLower: new Float64Array(nCls),
    classUpper: new Float64Array(nCls),
    classCash: new Uint8Array(nCls),
    classNames: new Array<string>(nCls),
    fixed: new Float64Array(P),
  };
  let pi = 0;
  let ci = 0;
  for (let q = 0; q < P; q++) {
    const p = order[q]!;
    out.ids[q] = x.ids[p]!;
    out.fixed[q] = x.fixed[p]!;
    out.posStart[q] = pi;
    out.classStart[q] = ci;
    const c0 = x.classStart[p]!;
    for (let c = c0; c < x.classStart[p + 1]!; c++, ci++) {
      out.classLower[ci] = x.classLower[c]!;
      out.classUpper[ci] = x.classUpper[c]!;
      out.classCash[ci] = x.classCash[c]!;
      out.classNames[ci] = x.classNames[c]!;
    }
    for (let i = x.posStart[p]!; i < x.posStart[p + 1]!; i++, pi++) {
      out.posAsset[pi] = x.posAsset[i]!;
      out.posQty[pi] = x.posQty[i]!;
      out.posClass[pi] = x.posClass[i]! - c0 + out.classStart[q]!;
    }
  }
  out.posStart[P] = pi;
  out.classStart[P] = ci;
  return out;
}

/**
 * The index from arrays. Portfolios may come out in another order than given (see `clustered`): `ids[p]` names
 * portfolio p of the monitor.
 */
export function monitorFromArrays(input: MonitorArrays): Monitor {
  const x = clustered(input);
  const P = x.ids.length;
  const nPos = x.posAsset.length;
  const nA = x.assets.length;
  const posPortfolio = new Int32Array(nPos);
  for (let p = 0; p < P; p++) posPortfolio.fill(p, x.posStart[p]!, x.posStart[p + 1]!);
  const assetStart = new Int32Array(nA + 1);
  for (let i = 0; i < nPos; i++) assetStart[x.posAsset[i]! + 1]!++;
  for (let a = 0; a < nA; a++) assetStart[a + 1]! += assetStart[a]!;
  const fill = assetStart.slice(0, nA);
  const assetPos = new Int32Array(nPos);
  for (let i = 0; i < nPos; i++) assetPos[fill[x.posAsset[i]!]!++] = i;
  const holdQty = new Float64Array(nPos);
  const holdClass = new Int32Array(nPos);
  const holdPortfolio = new Int32Array(nPos);
  for (let k = 0; k < nPos; k++) {
    const i = assetPos[k]!;
    holdQty[k] = x.posQty[i]!;
    holdClass[k] = x.posClass[i]!;
    holdPortfolio[k] = posPortfolio[i]!;
  }
  const nCls = x.classLower.length;
  const classPosStart = new Int32Array(nCls + 1);
  for (let p = 0; p < P; p++) {
    for (let i = x.posStart[p]!; i < x.posStart[p + 1]!; i++) {
      const c = x.posClass[i]!;
      if (c < x.classStart[p]! || c >= x.classStart[p + 1]!) throw new RangeError(`monitor: portfolio ${x.ids[p]}: position ${i} names class ${c} of another portfolio`);
      if (i > x.posStart[p]! && c < x.posClass[i - 1]!) throw new RangeError(`monitor: portfolio ${x.ids[p]}: positions must be ordered by class`);
      classPosStart[c + 1]!++;
    }
  }
  const classPosCount = new Uint16Array(nCls);
  for (let c = 0; c < nCls; c++) {
    const n = classPosStart[c + 1]!;
    if (n > 0xffff) throw new RangeError(`monitor: class ${x.classNames[c]} has ${n} positions (at most 65,535)`);
    classPosCount[c] = n;
    classPosStart[c + 1]! += classPosStart[c]!;
  }
  if (nA > 0x10000) throw new RangeError(`monitor: ${nA} assets (at most 65,536)`);
  const posAsset16 = Uint16Array.from(x.posAsset);
  // interned band edges: one table entry per distinct (lower, upper)
  const bandOf = new Map<number, Map<number, number>>();
  const bl: number[] = [];
  const bu: number[] = [];
  const bandIdx = new Uint32Array(nCls);
  for (let c = 0; c < nCls; c++) {
    const lo = x.classLower[c]!;
    const up = x.classUpper[c]!;
    let inner = bandOf.get(lo);
    if (!inner) {
      inner = new Map();
      bandOf.set(lo, inner);
    }
    let k = inner.get(up);
    if (k === undefined) {
      k = bl.length;
      inner.set(up, k);
      bl.push(lo);
      bu.push(up);
    }
    bandIdx[c] = k;
  }
  const classBand = bl.length <= 0x10000 ? Uint16Array.from(bandIdx) : bandIdx;
  const m: Monitor = {
    ids: x.ids,
    assets: x.assets,
    assetIndex: new Map(x.assets.map((a, i) => [a, i])),
    prices: x.prices,
    posStart: x.posStart,
    posAsset: x.posAsset,
    posQty: x.posQty,
    posClass: x.posClass,
    posPortfolio,
    assetStart,
    assetPos,
    holdQty,
    holdClass,
    holdPortfolio,
    classStart: x.classStart,
    classPosStart,
    classLower: x.classLower,
    classUpper: x.classUpper,
    classBand,
    bandLower: Float64Array.from(bl),
    bandUpper: Float64Array.from(bu),
    classPosCount,
    posAsset16,
    classCash: x.classCash,
    classExposure: new Float64Array(nCls),
    fixed: x.fixed,
    tpv: new Float64Array(P),
    distance: new Float64Array(P),
    worstClass: new Int32Array(P),
    classNames: x.classNames,
    touched: new Int32Array(P),
    touchedCount: 0,
    tickNo: 0,
  };
  revalueAll(m);
  return m;
}

/** Band check of one portfolio from its class exposures and TPV; writes distance and worstClass. */
export function checkPortfolio(m: Monitor, p: number): number {
  const c0 = m.classStart[p]!;
  const c1 = m.classStart[p + 1]!;
  const tpv = m.tpv[p]!;
  const inv = tpv > 0 ? 1 / tpv : 0;
  let nonCash = 0;
  let cashCls = -1;
  let worst = -Infinity;
  let worstC = -1;
  const E = m.classExposure;
  const band = m.classBand;
  const lo = m.bandLower;
  const up = m.bandUpper;
  for (let c = c0; c < c1; c++) {
    if (m.classCash[c] === 1) {
      cashCls = c;
      continue;
    }
    const e = E[c]!;
    nonCash += e;
    const w = e * inv;
    const b = band[c]!;
    const d = Math.max(lo[b]! - w, w - up[b]!);
    if (d > worst) {
      worst = d;
      worstC = c;
    }
  }
  if (cashCls >= 0) {
    const e = tpv - nonCash;
    E[cashCls] = e;
    const w = e * inv;
    const b = band[cashCls]!;
    const d = Math.max(lo[b]! - w, w - up[b]!);
    if (d > worst) {
      worst = d;
      worstC = cashCls;
    }
  }
  m.distance[p] = worst;
  m.worstClass[p] = worstC;
  return worst;
}

/**
 * Full revaluation and band check of every portfolio (optionally at new prices). Returns how many breach.
 * One pass: each class's exposure is summed from its (contiguous) positions, then the portfolio's classes are
 * checked against its TPV while they are still in cache.
 */
export function revalueAll(m: Monitor, prices?: Float64Array): number {
  if (prices) m.prices.set(prices);
  const E = m.classExposure;
  const px = m.prices;
  const pa = m.posAsset16;
  const pq = m.posQty;
  const cnt = m.classPosCount;
  const cs = m.classStart;
  const band = m.classBand;
  const lo = m.bandLower;
  const up = m.bandUpper;
  const cash = m.classCash;
  const tpv = m.tpv;
  const fixed = m.fixed;
  const dist = m.distance;
  const worstCls = m.worstClass;
  const P = m.ids.length;
  let breaches = 0;
  let c = 0;
  let i = 0;
  for (let p = 0; p < P; p++) {
    let t = fixed[p]!;
    let nonCash = 0;
    const c0 = c;
    const c1 = cs[p + 1]!;
    let cashCls = -1;
    for (; c < c1; c++) {
      let e = 0;
      const end = i + cnt[c]!;
      for (; i < end; i++) e += pq[i]! * px[pa[i]!]!;
      E[c] = e;
      t += e;
      // selects instead of branches: which class is cash is data, a branch on it is mispredicted
      const isCash = cash[c] === 1;
      nonCash += isCash ? 0 : e;
      cashCls = isCash ? c : cashCls;
    }
    tpv[p] = t;
    if (cashCls >= 0) E[cashCls] = t - nonCash;
    const inv = t > 0 ? 1 / t : 0;
    // the largest distance without a data-dependent branch, then the first class that has it
    let worst = -Infinity;
    for (let k = c0; k < c1; k++) {
      const w = E[k]! * inv;
      const b = band[k]!;
      worst = Math.max(worst, lo[b]! - w, w - up[b]!);
    }
    let wc = -1;
    for (let k = c0; k < c1; k++) {
      const w = E[k]! * inv;
      const b = band[k]!;
      if (Math.max(lo[b]! - w, w - up[b]!) === worst) {
        wc = k;
        break;
      }
    }
    dist[p] = worst;
    worstCls[p] = wc;
    if (worst > 0) breaches++;
  }
  return breaches;
}

/**
 * A new price for one asset: re-value only the holdings of it (read in order from the per-asset arrays),
 * then re-check those portfolios. Returns how many of them are outside a band; their indices are
 * `m.touched[0..touchedCount)` with `m.distance[p] > 0`.
 */
export function tick(m: Monitor, asset: number, price: number): number {
  const old = m.prices[asset]!;
  m.prices[asset] = price;
  const dp = price - old;
  const a0 = m.assetStart[asset]!;
  const a1 = m.assetStart[asset + 1]!;
  const hq = m.holdQty;
  const hc = m.holdClass;
  const hp = m.holdPortfolio;
  const E = m.classExposure;
  const tpv = m.tpv;
  const touched = m.touched;
  m.tickNo++;
  let n = 0;
  let breaches = 0;
  // Holdings of an asset are in portfolio order, so a portfolio's are adjacent: each portfolio is re-checked
  // as soon as its last holding is applied, while its classes are still in cache.
  let k = a0;
  while (k < a1) {
    const p = hp[k]!;
    let dt = 0;
    do {
      const d = hq[k]! * dp;
      E[hc[k]!]! += d;
      dt += d;
      k++;
    } while (k < a1 && hp[k] === p);
    tpv[p]! += dt;
    touched[n++] = p;
    if (checkPortfolio(m, p) > 0) breaches++;
  }
  m.touchedCount = n;
  return breaches;
}

/** Portfolios outside a band among those the last tick touched. */
export function breachedByLastTick(m: Monitor): number[] {
  const out: number[] = [];
  for (let k = 0; k < m.touchedCount; k++) if (m.distance[m.touched[k]!]! > 0) out.push(m.touched[k]!);
  return out;
}

export interface BreachMoves {
  /** Holders of the asset sorted by the smallest rise (relative, > 0) that breaches one of their bands. */
  upMove: Float64Array;
  upPortfolio: Int32Array;
  /** Sorted by the smallest fall (as a positive fraction, ≤ 1) that breaches. */
  downMove: Float64Array;
  downPortfolio: Int32Array;
}

/**
 * For each holder of `asset`: the relative move r of that asset alone at which a class weight reaches a band
 * edge. With V the holder's exposure to the asset (class a), E_c and T the class exposures and TPV now,
 * a move r gives w_c(r) = (E_c + r·V·[c = a]) / (T + r·V), and w_c(r) = b at r = (b·T − E_c) / (V·([c = a] − b)).
 * A portfolio already outside a band breaches at r = 0.
 */
export function breachMoves(m: Monitor, asset: number): BreachMoves {
  const a0 = m.assetStart[asset]!;
  const a1 = m.assetStart[asset + 1]!;
  const px = m.prices[asset]!;
  // exposure to the asset by (portfolio, class): sum positions (a portfolio may hold it in several rows)
  const holders = new Map<number, Map<number, number>>();
  for (let k = a0; k < a1; k++) {
    const i = m.assetPos[k]!;
    const p = m.posPortfolio[i]!;
    let byCls = holders.get(p);
    if (!byCls) {
      byCls = new Map();
      holders.set(p, byCls);
    }
    const c = m.posClass[i]!;
    byCls.set(c, (byCls.get(c) ?? 0) + m.posQty[i]! * px);
  }
  const ups: Array<[number, number]> = [];
  const downs: Array<[number, number]> = [];
  for (const [p, byCls] of holders) {
    checkPortfolio(m, p);
    const T = m.tpv[p]!;
    let V = 0;
    for (const v of byCls.values()) V += v;
    let up = Infinity;
    let down = Infinity;
    if (m.distance[p]! > 0) {
      up = 0;
      down = 0;
    } else if (V !== 0) {
      for (let c = m.classStart[p]!; c < m.classStart[p + 1]!; c++) {
        // The cash class's exposure is TPV minus the others, so a move changes it by exactly the part of the
        // asset held in the cash class: the same formula holds for it.
        const delta = (byCls.get(c) ?? 0) / V;
        for (const b of [m.classLower[c]!, m.classUpper[c]!]) {
          const den = V * (delta - b);
          if (den === 0) continue;
          const r = (b * T - m.classExposure[c]!) / den;
          if (r > 0 && r < up) up = r;
          if (r < 0 && r >= -1 && -r < down) down = -r;
        }
      }
    }
    if (up < Infinity) ups.push([up, p]);
    if (down < Infinity) downs.push([down, p]);
  }
  ups.sort((x, y) => x[0] - y[0]);
  downs.sort((x, y) => x[0] - y[0]);
  return {
    upMove: Float64Array.from(ups, (x) => x[0]),
    upPortfolio: Int32Array.from(ups, (x) => x[1]),
    downMove: Float64Array.from(downs, (x) => x[0]),
    downPortfolio: Int32Array.from(downs, (x) => x[1]),
  };
}

/** Portfolios that a move of `move` (relative: +0.03 = 3% up) of the asset breaches: a binary search, no scan. */
export function candidates(b: BreachMoves, move: number): Int32Array {
  const arr = move >= 0 ? b.upMove : b.downMove;
  const ids = move >= 0 ? b.upPortfolio : b.downPortfolio;
  const r = Math.abs(move);
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! <= r) lo = mid + 1;
    else hi = mid;
  }
  return ids.subarray(0, lo);
}
