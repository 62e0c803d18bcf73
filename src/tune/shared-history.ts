/**
 * Market history shared between worker threads without copying: every typed array of a `MarketHistory`
 * is laid out in one SharedArrayBuffer, and the rest of the object (names, coverage, notes) travels as
 * plain data with each array replaced by its place in that buffer. A worker rebuilds the object with
 * views on the same memory (`unpackHistory`), so N workers hold one copy of the prices. The engine only
 * reads the history.
 *
 * `sliceHistory` cuts a window of bars out of a history, again as views (walk-forward windows).
 */
import { createHash } from 'node:crypto';
import type { MarketHistory } from '../model/history.js';

type Typed = Float64Array | Float32Array | Int32Array | Uint32Array | Uint8Array | Int8Array | Int16Array | Uint16Array;
const KINDS = { Float64Array, Float32Array, Int32Array, Uint32Array, Uint8Array, Int8Array, Int16Array, Uint16Array } as const;
type KindName = keyof typeof KINDS;
/** A view of `length` elements at byte `offset` of a shared buffer. */
const view = (kind: KindName, buffer: SharedArrayBuffer, offset: number, length: number): Typed =>
  new (KINDS[kind] as unknown as new (b: ArrayBufferLike, o: number, l: number) => Typed)(buffer, offset, length);

interface ArrayRef {
  __shared: KindName;
  offset: number;
  length: number;
}

export interface PackedHistory {
  buffer: SharedArrayBuffer;
  /** The history with every typed array replaced by an ArrayRef into `buffer`. */
  shape: unknown;
}

function isTyped(v: unknown): v is Typed {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

/** Copies the history's arrays into one SharedArrayBuffer (once, in the main thread). */
export function packHistory(h: MarketHistory): PackedHistory {
  const arrays: { v: Typed; ref: ArrayRef }[] = [];
  let bytes = 0;
  const walk = (v: unknown): unknown => {
    if (isTyped(v)) {
      const kind = v.constructor.name as KindName;
      if (!(kind in KINDS)) throw new Error(`packHistory: unsupported array type ${kind}`);
      bytes = Math.ceil(bytes / 8) * 8;
      const ref: ArrayRef = { __shared: kind, offset: bytes, length: v.length };
      bytes += v.byteLength;
      arrays.push({ v, ref });
      return ref;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  const shape = walk(h);
  const buffer = new SharedArrayBuffer(Math.max(8, Math.ceil(bytes / 8) * 8));
  for (const { v, ref } of arrays) view(ref.__shared, buffer, ref.offset, ref.length).set(v);
  return { buffer, shape };
}

/** The history as views on the shared buffer (in a worker, or in the main thread for the in-process path). */
export function unpackHistory(p: PackedHistory): MarketHistory {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const r = v as Partial<ArrayRef>;
      if (typeof r.__shared === 'string') return view(r.__shared, p.buffer, r.offset!, r.length!);
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return walk(p.shape) as MarketHistory;
}

/** SHA-256 of the shared bytes and the shape: what a result was computed on (for resuming). */
export function historyFingerprint(p: PackedHistory): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(p.shape));
  h.update(new Uint8Array(p.buffer));
  return h.digest('hex').slice(0, 16);
}

function firstAtLeast(a: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first bar at or after time t. */
export function barAt(h: MarketHistory, t: number): number {
  return firstAtLeast(h.times, t);
}

/**
 * Bars [from, to) of a history, as views (no price is copied). Funding settlements are those attributed
 * to a bar in the window, re-indexed; marks those in [first bar open, last bar open + interval).
 */
export function sliceHistory(h: MarketHistory, from: number, to: number): MarketHistory {
  if (from === 0 && to === h.times.length) return h;
  if (!(from >= 0 && to <= h.times.length && to - from >= 2)) throw new Error(`sliceHistory: bad window [${from}, ${to}) of ${h.times.length} bars`);
  const times = h.times.subarray(from, to);
  const cut = (xs: Float64Array[]) => xs.map((x) => x.subarray(from, to));
  const funding = h.funding.map((f) => {
    const a = firstAtLeast(f.bar, from);
    const b = firstAtLeast(f.bar, to);
    const bar = new Int32Array(b - a);
    for (let k = a; k < b; k++) bar[k - a] = f.bar[k]! - from;
    return { ...f, time: f.time.subarray(a, b), rate: f.rate.subarray(a, b), bar };
  });
  const t0 = times[0]!;
  const t1 = times[times.length - 1]! + h.intervalMs;
  const marks = h.marks.map((m) => {
    const a = firstAtLeast(m.time, t0);
    const b = firstAtLeast(m.time, t1);
    return { ...m, time: m.time.subarray(a, b), price: m.price.subarray(a, b) };
  });
  const perpFromPerpFile = h.perpFromPerpFile.map((x) => x.subarray(from, to));
  return {
    ...h,
    times,
    open: cut(h.open),
    high: cut(h.high),
    low: cut(h.low),
    close: cut(h.close),
    volume: cut(h.volume),
    perpClose: cut(h.perpClose),
    perpFromPerpFile,
    perpFromSpot: perpFromPerpFile.map((x) => x.length - x.reduce((s, v) => s + v, 0)),
    funding,
    marks,
    coverage: { ...h.coverage, start: t0, end: times[times.length - 1]!, bars: times.length },
  };
}
