/**
 * Shared machinery of the input-file loaders: parse YAML/JSON text keeping node positions, turn a
 * field path (as zod reports it) into a line:column, and turn zod issues into plain-language
 * problems. JSON is YAML 1.2, so both go through `yaml.parseDocument`.
 *
 * Location rule: a problem points at the offending value; at the key when the value is missing,
 * empty, or a block collection (whose first item sits on a later line); at the enclosing item when
 * the key itself is missing.
 */
import { readFileSync } from 'node:fs';
import { isAlias, isCollection, isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type * as z from 'zod';
import { formatFieldPath, InputError, InputErrors } from '../../core/errors.js';

export type Path = (string | number)[];

export interface Problem {
  path: Path;
  problem: string;
  /** Point at the key of the field rather than its value. */
  at?: 'key' | 'value';
}

export interface Source {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
  /** The document as plain JS data (undefined if it could not be built). */
  value: unknown;
}

/** Parses YAML or JSON text; throws InputErrors (with the parser's own positions) on syntax errors. */
export function parseSource(text: string, file: string): Source {
  const lines = new LineCounter();
  const deep = tooDeep(text);
  if (deep !== null) {
    const before = text.slice(0, deep);
    const line = before.split('\n').length;
    const column = deep - before.lastIndexOf('\n');
    throw new InputErrors([new InputError({ file, line, column, field: '', problem: 'nesting is too deep for a ballast input file' })]);
  }
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true, logLevel: 'error' });
  } catch (e) {
    // e.g. a stack overflow on absurdly deep nesting
    throw new InputErrors([new InputError({ file, line: null, column: null, field: '', problem: `cannot parse the file: ${(e as Error).message}` })]);
  }
  const src: Source = { file, doc, lines, value: undefined };
  if (doc.errors.length > 0) {
    const json = jsonSyntaxError(text);
    if (json) {
      const pos = lines.linePos(json.offset);
      throw new InputErrors([new InputError({ file, line: pos.line, column: pos.col, field: '', problem: `syntax error: ${json.message}` })]);
    }
    throw new InputErrors(
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return new InputError({ file, line: pos.line, column: pos.col, field: '', problem: syntaxProblem(e.code, e.message) });
      }),
    );
  }
  const keyErrors: InputError[] = [];
  visit(doc, {
    Pair(_, pair) {
      if (isCollection(pair.key) || isAlias(pair.key)) {
        const pos = lines.linePos(startOf(pair.key) ?? 0);
        keyErrors.push(new InputError({ file, line: pos.line, column: pos.col, field: '', problem: 'a key must be a plain name, not a list, mapping or alias' }));
      }
    },
  });
  if (keyErrors.length > 0) throw new InputErrors(keyErrors);
  try {
    src.value = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new InputErrors([
      new InputError({ file, line: 1, column: 1, field: '', problem: `cannot read the document: ${(e as Error).message}` }),
    ]);
  }
  return src;
}

const MAX_DEPTH = 100;

/**
 * Offset where brackets or block indentation nest absurdly deep, or null. The YAML parser recurses
 * per level; refusing such text up front keeps it far from the stack limit. (Approximate: quoted
 * strings and comments are skipped, which is all the precision this needs.)
 */
function tooDeep(text: string): number | null {
  let depth = 0;
  let quote: string | null = null;
  let lineStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote !== null) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
      continue;
    }
    if (lineStart) {
      lineStart = false;
      let j = i;
      while (j < text.length && (text[j] === ' ' || text[j] === '-' || text[j] === '?' || text[j] === ':')) j++;
      if (j - i > 4 * MAX_DEPTH) return j;
    }
    if (c === '\n') lineStart = true;
    else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
    } else if (c === '[' || c === '{') {
      if (++depth > MAX_DEPTH) return i;
    } else if (c === ']' || c === '}') depth = Math.max(0, depth - 1);
  }
  return null;
}

/** For text that looks like JSON, JSON.parse's own message and offset (clearer than YAML's). */
function jsonSyntaxError(text: string): { message: string; offset: number } | null {
  if (!/^\s*[{[]/.test(text)) return null;
  try {
    JSON.parse(text);
    return null;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const m = /^(.*?) in JSON at position (\d+)/s.exec(msg);
    if (!m) return null;
    return { message: m[1]!, offset: Math.min(Number(m[2]), text.length) };
  }
}

function syntaxProblem(code: string, message: string): string {
  const m = message.replace(/\s+/g, ' ').trim();
  if (code === 'DUPLICATE_KEY') return `syntax error: ${m} (a key appears twice in the same mapping)`;
  return `syntax error: ${m}`;
}

function startOf(node: unknown): number | null {
  const r = (node as { range?: unknown } | null | undefined)?.range;
  return Array.isArray(r) && typeof r[0] === 'number' ? r[0] : null;
}

function isEmptyValue(node: unknown): boolean {
  if (node === null || node === undefined) return true;
  if (isScalar(node)) {
    const r = node.range;
    return node.value === null && (!r || r[0] === r[1]);
  }
  return false;
}

/** Offset to report for a field whose value node is `value` and key node is `key`. */
function offsetFor(value: unknown, key: unknown, at: 'key' | 'value'): number | null {
  if (key && (at === 'key' || isEmptyValue(value) || (isCollection(value) && !value.flow))) {
    const k = startOf(key);
    if (k !== null) return k;
  }
  return startOf(value) ?? startOf(key);
}

/** Line and column (1-based) of the field at `path`, or of its nearest existing ancestor. */
export function locate(src: Source, path: readonly (string | number)[], at: 'key' | 'value' = 'value'): { line: number; column: number } {
  let node: unknown = src.doc.contents;
  let key: unknown = null;
  let missing = false;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(src.doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) {
        missing = true;
        break;
      }
      key = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && seg >= 0 && seg < node.items.length) {
      key = null;
      node = node.items[seg];
    } else {
      missing = true;
      break;
    }
  }
  const off = offsetFor(node, key, missing ? 'value' : at) ?? 0;
  const pos = src.lines.linePos(off);
  return { line: pos.line, column: pos.col };
}

export function toInputError(src: Source | null, file: string, p: Problem): InputError {
  const pos = src ? locate(src, p.path, p.at) : null;
  return new InputError({ file, line: pos?.line ?? null, column: pos?.column ?? null, field: formatFieldPath(p.path), problem: p.problem });
}

/** Throws InputErrors for the problems (sorted by position), if there are any. */
export function throwIfProblems(src: Source | null, file: string, problems: readonly Problem[]): void {
  if (problems.length === 0) return;
  const errors = problems.map((p) => toInputError(src, file, p));
  errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  const seen = new Set<string>();
  throw new InputErrors(errors.filter((e) => {
      if (seen.has(e.message)) return false;
      seen.add(e.message);
      return true;
    }));
}

/** Reads a text file; throws InputErrors (without a line) when it cannot be read. */
export function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new InputErrors([new InputError({ file: path, line: null, column: null, field: '', problem: `cannot read the file: ${why}` })]);
  }
}

// ---------------------------------------------------------------- plain data helpers

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (Array.isArray(v) && typeof seg === 'number') v = v[seg];
    else if (isPlainObject(v) && typeof seg !== 'symbol' && Object.hasOwn(v, seg)) v = v[String(seg)];
    else return undefined;
  }
  return v;
}

/** How a value is named in an error message. */
export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null (empty)';
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN (not a number)';
    if (!Number.isFinite(v)) return `${v} (not a finite number)`;
    return String(v);
  }
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Uint8Array) return 'binary data';
  if (typeof v === 'object') return 'a mapping';
  return typeof v;
}

const EXPECTED: Record<string, string> = {
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  record: 'a mapping',
};

/** Marker through which strict objects pass their allowed keys to {@link zodProblems}. */
const ALLOWED = '\u0000allowed:';

export function allowedKeysMessage(keys: readonly string[]): string {
  return ALLOWED + keys.join('\u0000');
}

function editDistance(a: string, b: string): number {
  const d: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

/** The allowed key a misspelt key most likely meant, or null. */
export function suggestKey(key: string, allowed: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of allowed) {
    const dist = editDistance(key.toLowerCase(), k.toLowerCase());
    if (dist < bestD) {
      bestD = dist;
      best = k;
    }
  }
  return best !== null && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : null;
}

export function unknownKeyProblem(key: string, allowed: readonly string[]): string {
  const best = suggestKey(key, allowed);
  const hint = best !== null ? ` (did you mean "${best}"?)` : '';
  const list = allowed.length ? `; allowed keys: ${allowed.join(', ')}` : '';
  return `unknown key ${JSON.stringify(key)}${hint}${list}`;
}

/** Turns zod issues into located problems with plain messages; `root` is the parsed input. */
export function zodProblems(issues: readonly z.core.$ZodIssue[], root: unknown, prefix: Path = []): Problem[] {
  const out: Problem[] = [];
  /** Fields whose key seems misspelt: their "missing" error would only repeat the unknown-key one. */
  const misspelt = new Set<string>();
  for (const iss of issues) {
    const path: Path = [...prefix, ...iss.path.filter((s): s is string | number => typeof s !== 'symbol')];
    const value = valueAt(root, path);
    const at = (iss as { params?: { at?: 'key' | 'value' } }).params?.at;
    switch (iss.code) {
      case 'unrecognized_keys': {
        const allowed = iss.message.startsWith(ALLOWED) ? iss.message.slice(ALLOWED.length).split('\u0000') : [];
        for (const k of iss.keys) {
          out.push({ path: [...path, k], problem: unknownKeyProblem(k, allowed), at: 'key' });
          const meant = suggestKey(k, allowed);
          if (meant !== null) misspelt.add(JSON.stringify([...path, meant]));
        }
        break;
      }
      case 'invalid_type':
        out.push({
          path,
          problem: value === undefined ? 'required field is missing' : `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${describe(value)}`,
        });
        break;
      case 'invalid_value':
        out.push({
          path,
          problem: `must be one of ${iss.values.map((v) => String(v)).join(' | ')}, got ${describe(value)}`,
        });
        break;
      case 'invalid_key': {
        const inner = iss.issues.map((i) => i.message).join('; ');
        out.push({ path, problem: `invalid key ${JSON.stringify(String(path[path.length - 1]))}: ${inner}`, at: 'key' });
        break;
      }
      case 'too_small':
      case 'too_big':
        out.push({ path, problem: typeof value === 'number' ? `${iss.message}, got ${describe(value)}` : iss.message, ...(at ? { at } : {}) });
        break;
      default:
        out.push({ path, problem: iss.message, ...(at ? { at } : {}) });
    }
  }
  return out.filter((p) => !(p.problem === 'required field is missing' && misspelt.has(JSON.stringify(p.path))));
}
