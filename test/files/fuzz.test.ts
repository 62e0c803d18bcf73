/**
 * Fuzz: random edits of valid input files, and random values planted in them, never make the
 * loaders throw anything but InputError/InputErrors, and never yield a non-finite number.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify } from 'yaml';
import { assertInputs } from '../../src/adapters/files/inputs.js';
import { parsePortfolio } from '../../src/adapters/files/portfolio.js';
import { parseSnapshot } from '../../src/adapters/files/snapshot.js';
import { InputError, InputErrors } from '../../src/core/errors.js';
import { checkInputs } from '../../src/core/inputs.js';
import type { Portfolio, Snapshot } from '../../src/core/types.js';
import { allFinite } from './helpers.js';

const GOOD = 'test/fixtures/good/';
const TEXTS = {
  portfolioYaml: readFileSync(GOOD + 'portfolio.yaml', 'utf8'),
  portfolioJson: readFileSync(GOOD + 'portfolio.json', 'utf8'),
  snapshotJson: readFileSync(GOOD + 'snapshot.json', 'utf8'),
  snapshotYaml: readFileSync(GOOD + 'snapshot.yaml', 'utf8'),
};
const GOOD_PORTFOLIO = parsePortfolio(TEXTS.portfolioYaml, 'p.yaml');
const GOOD_SNAPSHOT = parseSnapshot(TEXTS.snapshotJson, 's.json');

const TOKENS = [
  '"', "'", '{', '}', '[', ']', ':', ': ', ',', '-', '- ', ' ', '  ', '\n', '\t', '#', '%', '\\',
  '1e999', '-1e999', '1e-400', 'NaN', '"NaN"', 'Infinity', 'null', '~', '.nan', '.inf', '-.inf', '0', '-0', '-1', '0x10', '1_000',
  '*a', '&a ', '!!binary ', '!!str ', '!!float ', '!tag ', '? ', '<<: ', '|', '>', '---\n', '...\n', '\u0000', '\uFEFF', '\u2028',
  '__proto__', '"__proto__"', 'constructor', 'toString', 'true', 'yes', '40%', '1e2%', '-5%', '%%', '2025-02-30', '"2025-03-01T00:00:00"',
  'USDT', 'BTC', 'BTC/USDT:USDT', 'cash: true', 'type: beta-neutral', 'hedge: X/USDT:USDT',
];

const edit = fc.record({
  pos: fc.nat(),
  del: fc.nat({ max: 12 }),
  ins: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 6 }), fc.constant('')),
});

function applyEdits(text: string, edits: { pos: number; del: number; ins: string }[]): string {
  let t = text;
  for (const e of edits) {
    const p = e.pos % (t.length + 1);
    t = t.slice(0, p) + e.ins + t.slice(p + e.del);
  }
  return t;
}

/** Runs a loader: it returns finite data or throws located input errors, nothing else. */
function mustBehave<T>(file: string, run: () => T): T | undefined {
  try {
    const out = run();
    expect(allFinite(out), JSON.stringify(out)).toBe(true);
    return out;
  } catch (e) {
    if (e instanceof InputErrors) {
      expect(e.errors.length).toBeGreaterThan(0);
      for (const err of e.errors) {
        expect(err).toBeInstanceOf(InputError);
        expect(err.file).toBe(file);
        expect(err.message.startsWith(file)).toBe(true);
        if (err.line !== null) expect(Number.isInteger(err.line) && err.line >= 1).toBe(true);
        if (err.column !== null) expect(Number.isInteger(err.column) && err.column >= 1).toBe(true);
        expect(err.problem.length).toBeGreaterThan(0);
        expect(err.problem).not.toMatch(/undefined|\[object Object\]/);
      }
      return undefined;
    }
    if (e instanceof InputError) return undefined;
    throw e;
  }
}

/** Every path (into objects and arrays) of a plain value. */
function paths(v: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(v)) for (const [i, x] of v.entries()) out.push(...paths(x, [...prefix, i]));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
  return out;
}

function plant(root: unknown, path: (string | number)[], value: unknown, remove: boolean): unknown {
  if (path.length === 0) return value;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let node = copy;
  for (const seg of path.slice(0, -1)) node = node[seg] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (remove) {
    if (Array.isArray(node)) node.splice(last as number, 1);
    else delete node[last];
  } else node[last] = value;
  return copy;
}

const weird = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, 0, 1e308, -1, 1, 0.5, 1.5, '', '50%', 'NaN', 'abc', null, true, [], {}),
  fc.double(),
  fc.integer(),
);

/** The plain data of a valid input text. */
function rawOf(text: string): unknown {
  return parseYaml(text) as unknown;
}

const RUNS = { numRuns: 200 };

describe('fuzz: loaders only ever throw located input errors and never yield NaN', () => {
  for (const [name, text] of Object.entries(TEXTS)) {
    const isPortfolio = name.startsWith('portfolio');
    const file = isPortfolio ? 'p.yaml' : 's.json';
    const load = (t: string) => (isPortfolio ? parsePortfolio(t, file) : parseSnapshot(t, file));

    it(`${name}: random text edits`, () => {
      fc.assert(
        fc.property(fc.array(edit, { minLength: 1, maxLength: 6 }), (edits) => {
          mustBehave(file, () => load(applyEdits(text, edits)));
        }),
        RUNS,
      );
    });

    it(`${name}: random values planted anywhere (as YAML and as JSON)`, () => {
      const raw = rawOf(text);
      const all = paths(raw);
      fc.assert(
        fc.property(fc.nat(all.length - 1), weird, fc.boolean(), fc.boolean(), (i, value, remove, asJson) => {
          const mutated = plant(raw, all[i]!, value, remove);
          const t = asJson ? (JSON.stringify(mutated, null, 2) ?? '') : stringify(mutated);
          mustBehave(file, () => load(t));
        }),
        RUNS,
      );
    });
  }

  it('pure garbage', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (t) => {
        mustBehave('p.yaml', () => parsePortfolio(t, 'p.yaml'));
        mustBehave('s.json', () => parseSnapshot(t, 's.json'));
      }),
      RUNS,
    );
  });

  it('cross-checks of mutated but valid pairs only ever throw located input errors', () => {
    const praw = rawOf(TEXTS.portfolioYaml);
    const sraw = rawOf(TEXTS.snapshotJson);
    const pp = paths(praw);
    const sp = paths(sraw);
    fc.assert(
      fc.property(fc.nat(pp.length - 1), fc.nat(sp.length - 1), weird, weird, fc.boolean(), (i, j, v1, v2, remove) => {
        const ptext = stringify(plant(praw, pp[i]!, v1, remove));
        const stext = JSON.stringify(plant(sraw, sp[j]!, v2, remove), null, 2) ?? '';
        const p: Portfolio = mustBehave('p.yaml', () => parsePortfolio(ptext, 'p.yaml')) ?? GOOD_PORTFOLIO;
        const s: Snapshot = mustBehave('s.json', () => parseSnapshot(stext, 's.json')) ?? GOOD_SNAPSHOT;
        expect(() => checkInputs(p, s)).not.toThrow();
        mustBehave('s.json', () => assertInputs(p, s, 's.json', stext));
      }),
      RUNS,
    );
  });
});
