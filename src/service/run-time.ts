/**
 * Run time: how the clock of a `ballast run` moves and how the service sleeps.
 *
 *   stepped  the run moves the venue clock itself (a replay venue whose own speed is 0): now is the venue
 *            clock; `sleep(ms)` moves it forward by ms (virtual time, no wall waiting); `until(t)` moves it to t.
 *            A killed service leaves the venue clock where it was: nothing happens on the venue while the
 *            service is down, and the restarted run continues from the same market data.
 *   follow   the venue moves its own clock (`ballast sim-venue --speed N`): now is the venue clock as of the
 *            latest reply; `sleep(ms)` and `until(t)` wait (wall time) until the venue clock has got there.
 *   wall     live trading and paper trading on live prices: the system clock and setTimeout.
 *
 * The clock never goes backwards in any mode, and `sleep(0)` returns at once.
 */
import type { Clock } from '../ports/clock.js';
import { systemClock } from '../ports/clock.js';
import type { Sleep } from '../execution/retry.js';

export type RunTimeKind = 'stepped' | 'follow' | 'wall';

export interface RunTime {
  readonly kind: RunTimeKind;
  readonly clock: Clock;
  /** The service's sleep (executor slices, order polling, backoffs). */
  sleep: Sleep;
  /** Read the current time again (asks the venue in stepped and follow mode). */
  refresh(): Promise<number>;
  /** Move (stepped) or wait (follow, wall) until the clock reads ≥ t; returns the time then. */
  until(t: number): Promise<number>;
}

/** The part of RemoteExchange a run clock needs. */
export interface VenueClockControl {
  /** Venue clock as of the latest reply (NaN before the first). */
  readonly venueTime: number;
  info(): Promise<{ time: number }>;
  advance(by: { ms: number } | { to: number }): Promise<number>;
}

const wallSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** The run moves the venue clock (virtual time). */
export function steppedTime(venue: VenueClockControl): RunTime {
  const clock: Clock = { now: () => venue.venueTime };
  return {
    kind: 'stepped',
    clock,
    sleep: async (ms) => {
      if (ms > 0) await venue.advance({ ms });
    },
    refresh: async () => (await venue.info()).time,
    until: async (t) => {
      const now = (await venue.info()).time;
      return t > now ? venue.advance({ to: t }) : now;
    },
  };
}

export interface FollowTimeOptions {
  /** Venue ms per wall ms (speed × barMs / 1000), to size the waits. */
  rate: number;
  /** Longest single wall wait between two looks at the venue clock. Default 250 ms. */
  maxPollMs?: number;
  wait?: Sleep;
}

/** The venue moves its own clock; the run waits for it. */
export function followTime(venue: VenueClockControl, o: FollowTimeOptions): RunTime {
  const wait = o.wait ?? wallSleep;
  const maxPoll = o.maxPollMs ?? 250;
  const rate = o.rate > 0 && Number.isFinite(o.rate) ? o.rate : 1;
  const clock: Clock = { now: () => venue.venueTime };
  const until = async (t: number): Promise<number> => {
    let now = (await venue.info()).time;
    while (now < t) {
      await wait(Math.min(maxPoll, Math.max(1, (t - now) / rate)));
      now = (await venue.info()).time;
    }
    return now;
  };
  return {
    kind: 'follow',
    clock,
    sleep: async (ms) => {
      if (ms > 0) await until(venue.venueTime + ms);
    },
    refresh: async () => (await venue.info()).time,
    until,
  };
}

/** Live time. */
export function wallTime(clock: Clock = systemClock, wait: Sleep = wallSleep): RunTime {
  return {
    kind: 'wall',
    clock,
    sleep: async (ms) => {
      if (ms > 0) await wait(ms);
    },
    refresh: async () => clock.now(),
    until: async (t) => {
      for (let now = clock.now(); now < t; now = clock.now()) await wait(t - now);
      return clock.now();
    },
  };
}
