import { describe, expect, it } from 'vitest';
import { formatFieldPath, InputError, InputErrors } from '../../src/core/errors.js';

describe('InputError', () => {
  it('formats FILE:LINE:COL: FIELD: PROBLEM', () => {
    const e = new InputError({ file: 'p.yaml', line: 3, column: 7, field: 'classes[1].target', problem: 'must be >= 0%' });
    expect(e.message).toBe('p.yaml:3:7: classes[1].target: must be >= 0%');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('InputError');
    expect([e.file, e.line, e.column, e.field, e.problem]).toEqual(['p.yaml', 3, 7, 'classes[1].target', 'must be >= 0%']);
  });

  it('omits LINE:COL when unknown and FIELD when empty', () => {
    expect(new InputError({ file: 's.json', line: null, column: null, field: 'prices.BTC', problem: 'x' }).message).toBe('s.json: prices.BTC: x');
    expect(new InputError({ file: 's.json', line: 2, column: 1, field: '', problem: 'syntax error: y' }).message).toBe('s.json:2:1: syntax error: y');
  });

  it('InputErrors holds every error, one per line', () => {
    const a = new InputError({ file: 'f', line: 1, column: 1, field: 'a', problem: 'p' });
    const b = new InputError({ file: 'f', line: 2, column: 3, field: 'b', problem: 'q' });
    const all = new InputErrors([a, b]);
    expect(all.errors).toEqual([a, b]);
    expect(all.message).toBe('f:1:1: a: p\nf:2:3: b: q');
    expect(all.name).toBe('InputErrors');
  });

  it('formats field paths', () => {
    expect(formatFieldPath(['classes', 1, 'target'])).toBe('classes[1].target');
    expect(formatFieldPath(['marks', 'BTC/USDT:USDT'])).toBe('marks["BTC/USDT:USDT"]');
    expect(formatFieldPath([])).toBe('');
  });
});
