/** `--write`: the recommended cell written into the user's own portfolio file, everything else as it was. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { parsePortfolio } from '../../src/adapters/files/portfolio.js';
import { applyCell } from '../../src/tune/grid.js';
import { writePortfolio } from '../../src/tune/write.js';

const FILE = join(import.meta.dirname, '..', '..', 'examples', 'backtest', 'portfolio.yaml');
const TEXT = readFileSync(FILE, 'utf8');

describe('writePortfolio', () => {
  it('rewrites only what the cell changes; comments, order, flow style and every other field stay', () => {
    const cell = { band: { kind: 'scale' as const, scale: 1.25 }, to: 'halfway' as const, mode: 'hybrid' as const, schedule: 'monthly' as const, instrument: 'auto' as const };
    const out = writePortfolio(TEXT, FILE, cell, ' written by a test');
    expect(out.startsWith('# written by a test\n')).toBe(true);
    // Every comment line of the original is still there, and every line the cell does not touch is unchanged.
    const changed = /^\s*(band|mode|schedule|to|instrument):/;
    const keep = TEXT.split('\n').filter((l) => !changed.test(l));
    const lines = out.split('\n');
    for (const l of keep) expect(lines).toContain(l);
    expect(out).toContain('    band: 5%\n'); // 4% × 1.25
    expect(out).toContain('    band: 2.5%\n'); // 2% × 1.25
    expect(out).toMatch(/rebalance:\n {2}mode: hybrid\n {2}schedule: monthly\n {2}to: halfway\n {2}scope: breached/);
    expect(out).toContain('  instrument: auto\n');
    const back = parsePortfolio(out, 'written.yaml');
    expect(back).toEqual(applyCell(parsePortfolio(TEXT, FILE), cell));
    // Whatever the cell does not set is exactly the original.
    const a = parseDocument(TEXT).toJS();
    const b = parseDocument(out).toJS();
    expect({ ...b, classes: undefined, rebalance: undefined, execution: { ...b.execution, instrument: a.execution.instrument } }).toEqual({ ...a, classes: undefined, rebalance: undefined });
    expect(b.classes.map((c: Record<string, unknown>) => ({ ...c, band: 0 }))).toEqual(a.classes.map((c: Record<string, unknown>) => ({ ...c, band: 0 })));
  });

  it('writes relative bands, drops per-class instrument overrides the sweep ignored, keeps a JSON file JSON', () => {
    const yaml = TEXT.replace('    hedge: ETH/USDT:USDT\n', '    hedge: ETH/USDT:USDT\n    instrument: futures   # hedge ETH\n');
    const cell = { band: { kind: 'relative' as const, fraction: 0.2 }, instrument: 'spot' as const };
    const out = writePortfolio(yaml, 'p.yaml', cell);
    expect(out).toContain('    band:\n      relative: 20%\n');
    expect(out).not.toContain('instrument: futures');
    expect(parsePortfolio(out, 'p.yaml')).toEqual(applyCell(parsePortfolio(yaml, 'p.yaml'), cell));
    const json = JSON.stringify(parseDocument(TEXT).toJS(), null, 2);
    const outJson = writePortfolio(json, 'p.json', { to: 'band-edge' });
    expect(JSON.parse(outJson).rebalance.to).toBe('band-edge');
    expect(JSON.parse(outJson).classes).toEqual(JSON.parse(json).classes);
  });

  it('the empty cell writes the file back unchanged', () => {
    expect(writePortfolio(TEXT, FILE, {})).toBe(TEXT);
  });
});
