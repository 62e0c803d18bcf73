/**
 * The two input files of `ballast plan`, loaded and checked against each other.
 *
 * One call for the CLI:
 *
 *   const { portfolio, snapshot } = loadPlanInputs(portfolioPath, snapshotPath);
 *
 * or step by step:
 *
 *   const p = loadPortfolio(a);
 *   const s = loadSnapshot(b);
 *   const s2 = checkSnapshotAgainstPortfolio(p, s, b);   // alias of assertInputs
 *
 * All of them throw {@link InputErrors} (each error `FILE:LINE:COL: FIELD: PROBLEM`). The
 * cross-checks ({@link checkInputs} in core/inputs.ts) point into the snapshot, so their errors name
 * the snapshot file; its text is read again to find line numbers unless passed in. The returned
 * snapshot has `prices[quote] = 1` filled in when the snapshot did not price the quote currency:
 * use it, not the one passed in.
 */
import { InputError, InputErrors } from '../../core/errors.js';
import { checkInputs, withQuotePrice } from '../../core/inputs.js';
import { money } from '../../core/format.js';
import type { Portfolio, Snapshot } from '../../core/types.js';
import { valuePortfolio, ValuationError } from '../../core/valuation.js';
import { loadPortfolio, parsePortfolio } from './portfolio.js';
import { loadSnapshot, parseSnapshot } from './snapshot.js';
import { parseSource, readText, throwIfProblems, type Path, type Source } from './source.js';

export { loadPortfolio, parsePortfolio, loadSnapshot, parseSnapshot };

/**
 * Throws InputErrors naming `snapshotFile` if the snapshot does not fit the portfolio; returns the
 * snapshot with the quote currency priced at 1 if it was not priced. `snapshotText` (the file's
 * text) is used for line numbers; if absent the file is read, and lines are left out if that fails.
 */
export function assertInputs(portfolio: Portfolio, snapshot: Snapshot, snapshotFile: string, snapshotText?: string): Snapshot {
  const problems: { path: readonly (string | number)[]; problem: string }[] = checkInputs(portfolio, snapshot);
  const priced = withQuotePrice(portfolio, snapshot);
  if (problems.length === 0) {
    // A snapshot that fits the portfolio must also be one it can value (a positive TPV).
    try {
      valuePortfolio(portfolio, priced);
    } catch (e) {
      if (!(e instanceof ValuationError)) throw e;
      problems.push({ path: e.path, problem: valuationProblem(e.problem, portfolio.quote) });
    }
  }
  if (problems.length > 0) {
    let src: Source | null = null;
    try {
      src = parseSource(snapshotText ?? readText(snapshotFile), snapshotFile);
    } catch {
      src = null;
    }
    throwIfProblems(
      src,
      snapshotFile,
      problems.map((p) => ({ path: p.path as Path, problem: p.problem, ...(p.path.length === 1 ? { at: 'key' as const } : {}) })),
    );
  }
  return priced;
}

/** The valuation's refusal in words a user can act on. */
function valuationProblem(problem: string, quote: string): string {
  const m = /^total portfolio value must be positive, got (\S+)$/.exec(problem);
  if (!m) return problem;
  const tpv = Number(m[1]);
  if (tpv === 0) return `the total portfolio value is 0: the accounts hold nothing of value, so there is nothing to allocate`;
  return `the total portfolio value is ${money(tpv, quote)}: the futures positions lose more than the accounts hold (a plan needs a positive value)`;
}

/** Same as {@link assertInputs}. */
export const checkSnapshotAgainstPortfolio = assertInputs;

/**
 * Loads both files and checks them against each other. Problems in both files are reported
 * together; the cross-checks run only when both files are valid.
 */
export function loadPlanInputs(portfolioPath: string, snapshotPath: string): { portfolio: Portfolio; snapshot: Snapshot } {
  const errors: InputError[] = [];
  const collect = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch (e) {
      if (e instanceof InputErrors) errors.push(...e.errors);
      else if (e instanceof InputError) errors.push(e);
      else throw e;
      return undefined;
    }
  };
  const portfolio = collect(() => loadPortfolio(portfolioPath));
  const text = collect(() => readText(snapshotPath));
  const snapshot = text === undefined ? undefined : collect(() => parseSnapshot(text, snapshotPath));
  if (errors.length > 0 || portfolio === undefined || snapshot === undefined) throw new InputErrors(errors);
  return { portfolio, snapshot: assertInputs(portfolio, snapshot, snapshotPath, text) };
}
