/**
 * ReplayDriver: runs the Service once per bar of replayed history — the loop of `ballast run --replay`.
 *
 *   for each bar close t after the journal's last processed bar (meta `replay:lastBar`), up to `until`:
 *     move (stepped) or wait (follow) until the clock reads t      — the bar that closed at t is the newest
 *     service.runOnce()                                            — reconcile → snapshot → plan → execute
 *     commit `replay:lastBar` = t                                  — the bar is done
 *
 * Resume: a restart with the same journal continues after `replay:lastBar`; no processed bar is planned
 * again. A process killed in the middle of bar t has not committed t: the restart reconciles first (the
 * service does), then plans bar t again from the holdings the venue really has — at the venue's current
 * time, which may already be a little past t (the executor's sleeps moved it) but is still inside the bar.
 * When the venue clock is already past later bar closes (a follow-mode venue kept going while the service
 * was down), the bars in between are skipped and counted: the newest closed bar is planned.
 *
 * Pacing (stepped time only): at most `speed` bars per second of wall time; 0 = as fast as possible.
 * `stop()` ends the loop after the cycle in progress (its journaling completes).
 */
import { JournalError, type Journal } from '../ports/journal.js';
import type { RunTime } from './run-time.js';
import type { CycleReport, Service, ServiceLog } from './service.js';

export const LAST_BAR_META = 'replay:lastBar';

export interface ReplayCycle {
  /** Close time of the bar planned. */
  bar: number;
  /** Index of the bar among `closes`, and how many bars the run covers. */
  index: number;
  total: number;
  report: CycleReport;
}

export interface ReplayDriverOptions {
  service: Service;
  journal: Journal;
  time: RunTime;
  /** Bar close times of the replayed history, ascending. */
  closes: readonly number[];
  /** No bar before this close time (epoch ms). */
  from?: number;
  /** Stop after the last bar closing at or before this time (epoch ms). Default: the end of the history. */
  until?: number;
  /** Bars per second of wall time (stepped time); 0 = as fast as possible. */
  speed: number;
  onCycle?: (c: ReplayCycle) => void;
  log?: ServiceLog;
  /** Wall-time wait (tests). */
  wait?: (ms: number) => Promise<void>;
}

export interface ReplayOutcome {
  /** Cycles run by this driver. */
  cycles: number;
  /** Bars skipped because the venue clock was already past them. */
  skipped: number;
  /** Close of the last bar processed (this run or before), null if none. */
  lastBar: number | null;
  /** Every bar up to `until` (or the end of the history) is processed. */
  finished: boolean;
  /** Why the loop ended. */
  reason: 'end' | 'stopped' | 'halted';
  /** Last bar this run will process (until, or the history's end). */
  endBar: number | null;
}

/** Index of the last element ≤ x in ascending `a`, or −1. */
function lastAtOrBefore(a: readonly number[], x: number): number {
  let lo = 0;
  let hi = a.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (a[mid]! <= x) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

export class ReplayDriver {
  readonly #o: ReplayDriverOptions;
  #stopped = false;
  #wake: (() => void) | null = null;

  constructor(o: ReplayDriverOptions) {
    if (!(o.speed >= 0) || !Number.isFinite(o.speed)) throw new RangeError(`ReplayDriver: speed must be ≥ 0, got ${o.speed}`);
    this.#o = o;
  }

  /** End after the cycle in progress. */
  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Close of the last bar this journal has processed, or null. */
  static lastBar(journal: Journal): number | null {
    const v = journal.getMeta(LAST_BAR_META);
    const n = v === undefined ? NaN : Number(v);
    return Number.isFinite(n) ? n : null;
  }

  async #pace(startedAt: number): Promise<void> {
    const { speed } = this.#o;
    if (!(speed > 0) || this.#o.time.kind !== 'stepped') return;
    const left = 1000 / speed - (performance.now() - startedAt);
    if (left <= 0 || this.#stopped) return;
    if (this.#o.wait) await this.#o.wait(left);
    else {
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    this.#wake = null;
  }

  async run(): Promise<ReplayOutcome> {
    const { journal, service, time } = this.#o;
    const closes = this.#o.closes.filter((t) => (this.#o.from === undefined || t >= this.#o.from) && (this.#o.until === undefined || t <= this.#o.until));
    const endBar = closes.length > 0 ? closes[closes.length - 1]! : null;
    let lastBar = ReplayDriver.lastBar(journal);
    let cycles = 0;
    let skipped = 0;
    let i = lastBar === null ? 0 : lastAtOrBefore(closes, lastBar) + 1;
    const log = this.#o.log;
    if (lastBar !== null) log?.info({ lastBar: new Date(lastBar).toISOString(), next: closes[i] !== undefined ? new Date(closes[i]!).toISOString() : null }, 'replay: resuming after the last processed bar');
    while (!this.#stopped && i < closes.length) {
      const started = performance.now();
      const now = await time.refresh();
      // The venue may be past bar i already (restart mid-bar, or a venue that moves its own clock).
      const j = lastAtOrBefore(closes, now);
      if (j > i) {
        skipped += j - i;
        log?.warn({ from: new Date(closes[i]!).toISOString(), to: new Date(closes[j - 1]!).toISOString(), bars: j - i }, 'replay: the venue clock is past these bars; skipped');
        i = j;
      }
      const bar = closes[i]!;
      if (now < bar) await time.until(bar);
      const report = await service.runOnce();
      // A failed journal halts the service for good: nothing more can be recorded, so stop here.
      if (report.status === 'halted' && report.reason.startsWith('journal failure')) {
        this.#o.onCycle?.({ bar, index: i, total: closes.length, report });
        return { cycles, skipped, lastBar, finished: false, reason: 'halted', endBar };
      }
      try {
        journal.setMeta(LAST_BAR_META, String(bar));
      } catch (e) {
        if (e instanceof JournalError) {
          log?.error({ err: e }, 'replay: cannot record the processed bar; stopping');
          return { cycles, skipped, lastBar, finished: false, reason: 'halted', endBar };
        }
        throw e;
      }
      lastBar = bar;
      cycles++;
      this.#o.onCycle?.({ bar, index: i, total: closes.length, report });
      i++;
      await this.#pace(started);
    }
    const finished = i >= closes.length;
    return { cycles, skipped, lastBar, finished, reason: finished ? 'end' : 'stopped', endBar };
  }
}
