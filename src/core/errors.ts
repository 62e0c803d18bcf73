/**
 * Located input errors. Pure: no I/O.
 *
 * One problem in one input file is an {@link InputError}; its message reads
 * `FILE:LINE:COL: FIELD: PROBLEM` (the `LINE:COL` part is left out when the position is unknown,
 * the `FIELD` part when the problem concerns the file as a whole, e.g. a syntax error).
 * Loaders collect every problem they find and throw them together as {@link InputErrors}.
 */

export interface InputErrorInit {
  file: string;
  /** 1-based line, or null when unknown. */
  line: number | null;
  /** 1-based column, or null when unknown. */
  column: number | null;
  /** Dotted path of the offending field, e.g. `classes[1].target`; '' for the whole file. */
  field: string;
  /** What is wrong, in plain words. */
  problem: string;
}

export function formatInputError(e: InputErrorInit): string {
  let where = e.file;
  if (e.line !== null) where += `:${e.line}` + (e.column !== null ? `:${e.column}` : '');
  return e.field ? `${where}: ${e.field}: ${e.problem}` : `${where}: ${e.problem}`;
}

export class InputError extends Error {
  readonly file: string;
  readonly line: number | null;
  readonly column: number | null;
  readonly field: string;
  readonly problem: string;

  constructor(init: InputErrorInit) {
    super(formatInputError(init));
    this.name = 'InputError';
    this.file = init.file;
    this.line = init.line;
    this.column = init.column;
    this.field = init.field;
    this.problem = init.problem;
  }
}

export class InputErrors extends Error {
  readonly errors: readonly InputError[];

  constructor(errors: readonly InputError[]) {
    super(errors.map((e) => e.message).join('\n') || 'invalid input');
    this.name = 'InputErrors';
    this.errors = [...errors];
  }
}

/**
 * Renders a field path as `classes[1].target`. Keys that are not plain words are quoted:
 * `marks["BTC/USDT:USDT"]`.
 */
export function formatFieldPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z0-9_]+$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
