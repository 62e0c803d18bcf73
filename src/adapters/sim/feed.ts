/**
 * Market data that drives the simulator: bars per symbol, optional mark-price series per perpetual,
 * and funding series per perpetual. The simulator pulls events in time order with `next(until)`;
 * each event is handed out exactly once. Other readers use `advance(time)` and the current-state
 * getters (`bar`, `mark`, `lastFunding`, `nextFunding`).
 *
 * Timing rule (no look-ahead): an event exists at the time it becomes KNOWN. A bar is known when it
 * closes, so a bar stamped with its open time (ccxt OHLCV, the CSVs in data/) must be shifted
 * by its length — pass `barVisibleAfterMs` (e.g. 3_600_000 for 1h bars) and `bar.time` stays the
 * open time while the event time is `bar.time + barVisibleAfterMs`.
 *
 * Events with the same time come out as: bars, then marks, then funding (a funding settlement at T
 * uses the mark known at T), each group in the order the symbols were first added.
 */

export interface Bar {
  /** Bar stamp (open time for exchange data; see `barVisibleAfterMs`). Epoch ms. */
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
  /** Traded volume in base units. */
  volume: number;
}

export interface MarkPoint {
  time: number;
  price: number;
}

export interface FundingPoint {
  /** Settlement time, epoch ms. */
  time: number;
  /** Rate for the interval ending at `time`; positive = longs pay shorts. */
  rate: number;
}

export type FeedEvent =
  | { kind: 'bar'; time: number; symbol: string; bar: Bar }
  | { kind: 'mark'; time: number; symbol: string; price: number }
  | { kind: 'funding'; time: number; symbol: string; rate: number };

export interface MarketFeed {
  /** Time of the last event handed out (−Infinity before the first). */
  readonly time: number;
  /** Hand out the next event with time ≤ `until`, or undefined. Moves the cursor. */
  next(until: number): FeedEvent | undefined;
  /** Consume every event with time ≤ `time` (for readers that only want the current state). */
  advance(time: number): void;
  /** Latest bar handed out for the symbol. */
  bar(symbol: string): Bar | undefined;
  /** Latest mark handed out (mark series if any, else the last bar close). */
  mark(symbol: string): number | undefined;
  /** Last funding settlement handed out. */
  lastFunding(symbol: string): FundingPoint | undefined;
  /** Next funding settlement not yet handed out (its rate is the venue's announced/predicted rate). */
  nextFunding(symbol: string): FundingPoint | undefined;
}

export interface ArrayFeedData {
  bars?: Record<string, Bar[]>;
  marks?: Record<string, MarkPoint[]>;
  funding?: Record<string, FundingPoint[]>;
}

export interface ArrayFeedOptions {
  /** Delay between a bar's stamp and the moment it is known (its length for open-time stamps). Default 0. */
  barVisibleAfterMs?: number;
}

const KIND_ORDER = { bar: 0, mark: 1, funding: 2 } as const;

interface Series {
  kind: 'bar' | 'mark' | 'funding';
  symbol: string;
  times: number[];
  bars?: Bar[];
  values?: number[];
  cursor: number;
}

/**
 * In-memory feed over arrays (sorted by time, validated). Also accepts appended data (`pushBar`,
 * `pushMark`, `pushFunding`) for tests and for a live source that writes into it.
 */
export class ArrayFeed implements MarketFeed {
  #time = -Infinity;
  readonly #series: Series[] = [];
  readonly #byKey = new Map<string, Series>();
  readonly #barDelay: number;
  readonly #lastBar = new Map<string, Bar>();
  readonly #lastMark = new Map<string, number>();
  readonly #hasMarkSeries = new Set<string>();
  readonly #lastFunding = new Map<string, FundingPoint>();

  constructor(data: ArrayFeedData = {}, options: ArrayFeedOptions = {}) {
    this.#barDelay = options.barVisibleAfterMs ?? 0;
    for (const [symbol, bars] of Object.entries(data.bars ?? {})) for (const b of bars) this.pushBar(symbol, b);
    for (const [symbol, marks] of Object.entries(data.marks ?? {})) for (const m of marks) this.pushMark(symbol, m.time, m.price);
    for (const [symbol, fs] of Object.entries(data.funding ?? {})) for (const f of fs) this.pushFunding(symbol, f.time, f.rate);
  }

  get time(): number {
    return this.#time;
  }

  #get(kind: Series['kind'], symbol: string): Series {
    const key = `${kind}\u0000${symbol}`;
    let s = this.#byKey.get(key);
    if (!s) {
      s = { kind, symbol, times: [], cursor: 0 };
      if (kind === 'bar') s.bars = [];
      else s.values = [];
      this.#byKey.set(key, s);
      this.#series.push(s);
      this.#series.sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
    }
    return s;
  }

  #append(s: Series, time: number): void {
    if (!Number.isFinite(time)) throw new RangeError(`ArrayFeed: ${s.kind} ${s.symbol}: time must be finite, got ${time}`);
    const last = s.times[s.times.length - 1];
    if (last !== undefined && time < last) {
      throw new RangeError(`ArrayFeed: ${s.kind} ${s.symbol}: time ${time} is before the previous ${last} (data must be sorted)`);
    }
    if (time < this.#time) {
      throw new RangeError(`ArrayFeed: ${s.kind} ${s.symbol}: time ${time} is in the feed's past (${this.#time})`);
    }
    s.times.push(time);
  }

  pushBar(symbol: string, bar: Bar): void {
    const b = { ...bar };
    if (![b.open, b.high, b.low, b.close].every((x) => Number.isFinite(x) && x > 0) || !(b.volume >= 0)) {
      throw new RangeError(`ArrayFeed: bar ${symbol} @${b.time}: prices must be > 0 and volume ≥ 0`);
    }
    if (b.high < Math.max(b.open, b.close, b.low) || b.low > Math.min(b.open, b.close)) {
      throw new RangeError(`ArrayFeed: bar ${symbol} @${b.time}: high/low do not bound open/close`);
    }
    const s = this.#get('bar', symbol);
    this.#append(s, b.time + this.#barDelay);
    s.bars!.push(b);
  }

  pushMark(symbol: string, time: number, price: number): void {
    if (!(price > 0)) throw new RangeError(`ArrayFeed: mark ${symbol} @${time}: price must be > 0`);
    const s = this.#get('mark', symbol);
    this.#append(s, time);
    s.values!.push(price);
    this.#hasMarkSeries.add(symbol);
  }

  pushFunding(symbol: string, time: number, rate: number): void {
    if (!Number.isFinite(rate)) throw new RangeError(`ArrayFeed: funding ${symbol} @${time}: rate must be finite`);
    const s = this.#get('funding', symbol);
    this.#append(s, time);
    s.values!.push(rate);
  }

  next(until: number): FeedEvent | undefined {
    let best: Series | undefined;
    let bestTime = Infinity;
    for (const s of this.#series) {
      if (s.cursor >= s.times.length) continue;
      const t = s.times[s.cursor]!;
      if (t <= until && t < bestTime) {
        best = s;
        bestTime = t;
      }
    }
    if (!best) return undefined;
    const i = best.cursor++;
    if (bestTime > this.#time) this.#time = bestTime;
    const symbol = best.symbol;
    switch (best.kind) {
      case 'bar': {
        const bar = best.bars![i]!;
        this.#lastBar.set(symbol, bar);
        if (!this.#hasMarkSeries.has(symbol)) this.#lastMark.set(symbol, bar.close);
        return { kind: 'bar', time: bestTime, symbol, bar: { ...bar } };
      }
      case 'mark': {
        const price = best.values![i]!;
        this.#lastMark.set(symbol, price);
        return { kind: 'mark', time: bestTime, symbol, price };
      }
      case 'funding': {
        const rate = best.values![i]!;
        this.#lastFunding.set(symbol, { time: bestTime, rate });
        return { kind: 'funding', time: bestTime, symbol, rate };
      }
    }
  }

  advance(time: number): void {
    while (this.next(time) !== undefined) {
      // consume
    }
  }

  bar(symbol: string): Bar | undefined {
    const b = this.#lastBar.get(symbol);
    return b && { ...b };
  }

  mark(symbol: string): number | undefined {
    return this.#lastMark.get(symbol);
  }

  lastFunding(symbol: string): FundingPoint | undefined {
    const f = this.#lastFunding.get(symbol);
    return f && { ...f };
  }

  nextFunding(symbol: string): FundingPoint | undefined {
    const s = this.#byKey.get(`funding\u0000${symbol}`);
    if (!s || s.cursor >= s.times.length) return undefined;
    return { time: s.times[s.cursor]!, rate: s.values![s.cursor]! };
  }
}
