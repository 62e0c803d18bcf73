/**
 * Named crash points: places in the executor where a crash test kills the process (SIGKILL) to prove that a
 * restart reconciles first, resends no intent, and ends with the journal equal to the venue. In production the
 * hook is a no-op; a test passes a hook that throws (in-process) or kills the process (crash test).
 *
 *   after-intent-saved    the intent is committed (state NEW), nothing sent yet
 *   after-send            createOrder returned (the venue has the order), the reply is not yet recorded
 *   before-fill-recorded  a fill was read from the venue, not yet written to the journal
 *   after-fill            a fill was committed to the journal, nothing else done yet
 */
export type CrashPoint = 'after-intent-saved' | 'after-send' | 'before-fill-recorded' | 'after-fill';

export const CRASH_POINTS: readonly CrashPoint[] = ['after-intent-saved', 'after-send', 'before-fill-recorded', 'after-fill'];

export interface CrashContext {
  account: string;
  clientOrderId: string;
  /** Venue trade id at the fill points. */
  tradeId?: string;
}

export type CrashHook = (point: CrashPoint, ctx: CrashContext) => void;

export const noCrash: CrashHook = () => {};
