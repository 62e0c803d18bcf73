import { expect } from 'vitest';
import { type InputError, InputErrors } from '../../src/core/errors.js';

/** Runs `fn`, which must throw InputErrors, and returns the errors. */
export function errorsOf(fn: () => unknown): InputError[] {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected InputErrors to be thrown').toBeInstanceOf(InputErrors);
  return [...(thrown as InputErrors).errors];
}

/** 1-based line of the first line containing `needle`. */
export function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`needle not found: ${needle}`);
  return i + 1;
}

/** Asserts one of the errors is at file:line, names `field` and says `problem`. Returns it. */
export function expectError(
  errors: readonly InputError[],
  want: { file: string; line: number | null; field: string; problem: string | RegExp },
): InputError {
  const says = (e: InputError) => (typeof want.problem === 'string' ? e.problem.includes(want.problem) : want.problem.test(e.problem));
  const hit = errors.find((e) => e.field === want.field && e.line === want.line && says(e)) ?? errors.find((e) => e.field === want.field && e.line === want.line);
  expect(hit, `no error at line ${want.line} for field ${want.field} in:\n${errors.map((e) => e.message).join('\n')}`).toBeDefined();
  const e = hit!;
  expect(e.file).toBe(want.file);
  const where = want.line === null ? `${want.file}: ` : `${want.file}:${want.line}:`;
  expect(e.message.startsWith(where)).toBe(true);
  if (want.field) expect(e.message).toContain(`: ${want.field}: `);
  if (typeof want.problem === 'string') expect(e.problem).toContain(want.problem);
  else expect(e.problem).toMatch(want.problem);
  expect(e.message.endsWith(e.problem)).toBe(true);
  return e;
}

/** Every number in `v` is finite (no NaN, no Infinity). */
export function allFinite(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(allFinite);
  if (v !== null && typeof v === 'object') return Object.values(v).every(allFinite);
  return true;
}
