/**
 * Clock port. Every time in ballast is epoch milliseconds read from an injected Clock, never from
 * `Date.now()` inside core or adapter logic: live apps pass `systemClock`, tests and backtests a
 * `ManualClock` they move themselves.
 */
export interface Clock {
  /** Current time, epoch ms. */
  now(): number;
}

/** The wall clock. Only apps wire this in. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to. Time never goes backwards. */
export class ManualClock implements Clock {
  #t: number;

  constructor(start = 0) {
    if (!Number.isFinite(start)) throw new RangeError(`ManualClock: start must be finite, got ${start}`);
    this.#t = start;
  }

  now(): number {
    return this.#t;
  }

  /** Jump to `time` (epoch ms); throws if that is earlier than now. */
  set(time: number): void {
    if (!Number.isFinite(time) || time < this.#t) {
      throw new RangeError(`ManualClock: cannot move from ${this.#t} to ${time}`);
    }
    this.#t = time;
  }

  /** Move forward by `ms` (≥ 0). */
  advance(ms: number): void {
    this.set(this.#t + ms);
  }
}
