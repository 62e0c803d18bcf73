/**
 * zod building blocks shared by the input-file schemas: strict objects whose unknown-key errors
 * list the allowed keys, fractions that also accept percent strings ("40%"), finite numbers with
 * ranges, names, perp symbols and times. Every number they produce is finite.
 */
import * as z from 'zod';
import { allowedKeysMessage, describe } from './source.js';
import { exactNum, exactPct } from '../../core/format.js';

/** A strict object: an unknown key is an error naming it (and the allowed keys). */
export function strict<T extends z.core.$ZodLooseShape>(shape: T) {
  const keys = Object.keys(shape);
  return z.strictObject(shape, {
    error: (iss) => (iss.code === 'unrecognized_keys' ? allowedKeysMessage(keys) : undefined),
  });
}

export interface Range {
  /** Inclusive lower bound. */
  min?: number;
  /** Exclusive lower bound. */
  gt?: number;
  /** Inclusive upper bound. */
  max?: number;
  /** Exclusive upper bound. */
  lt?: number;
}


export function rangeProblem(x: number, r: Range, fmt: (x: number) => string): string | null {
  const ok =
    (r.min === undefined || x >= r.min) &&
    (r.gt === undefined || x > r.gt) &&
    (r.max === undefined || x <= r.max) &&
    (r.lt === undefined || x < r.lt);
  if (ok) return null;
  const parts: string[] = [];
  if (r.min !== undefined) parts.push(`>= ${fmt(r.min)}`);
  if (r.gt !== undefined) parts.push(`> ${fmt(r.gt)}`);
  if (r.max !== undefined) parts.push(`<= ${fmt(r.max)}`);
  if (r.lt !== undefined) parts.push(`< ${fmt(r.lt)}`);
  return `must be ${parts.join(' and ')}, got ${fmt(x)}`;
}

const PERCENT = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:[eE]([+-]?\d+))?\s*%$/;
const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * A fraction written as a number (0.4) or a percent string ("40%"). "40%" is read as the decimal
 * 40e-2, so it gives exactly the same double as 0.4.
 */
export function parseFraction(v: unknown): { value: number } | { problem: string } {
  if (typeof v === 'number') {
    return Number.isFinite(v) ? { value: v } : { problem: `expected a fraction (0.4) or a percentage ("40%"), got ${describe(v)}` };
  }
  if (typeof v === 'string') {
    const s = v.trim();
    const m = PERCENT.exec(s);
    if (m) {
      const exp = (m[3] === undefined ? 0 : Number(m[3])) - 2;
      const x = Number(`${m[1]}${m[2]}e${exp}`);
      if (Number.isFinite(x)) return { value: x === 0 ? 0 : x };
      return { problem: `percentage ${describe(v)} is out of range` };
    }
    if (NUMERIC.test(s)) return { problem: `${describe(v)} is a string: write ${s} (a number) or "${s}%" (a percentage)` };
    return { problem: `cannot read ${describe(v)} as a percentage; expected a fraction (0.4) or a percentage ("40%")` };
  }
  if (v === undefined) return { problem: 'required field is missing' };
  return { problem: `expected a fraction (0.4) or a percentage ("40%"), got ${describe(v)}` };
}

/** Fraction schema ("40%" or 0.4) with an optional range (bounds are fractions). */
export function fraction(r: Range = {}) {
  return z.unknown().transform((v, ctx): number => {
    const f = parseFraction(v);
    if ('problem' in f) {
      ctx.issues.push({ code: 'custom', message: f.problem, input: v });
      return z.NEVER;
    }
    const p = rangeProblem(f.value, r, exactPct);
    if (p) {
      ctx.issues.push({ code: 'custom', message: p, input: v });
      return z.NEVER;
    }
    return f.value;
  });
}

/** Finite number schema with an optional range. */
export function num(r: Range = {}, what = 'a number') {
  return z.unknown().transform((v, ctx): number => {
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      const message = v === undefined ? 'required field is missing' : `expected ${what}, got ${describe(v)}`;
      ctx.issues.push({ code: 'custom', message, input: v });
      return z.NEVER;
    }
    const p = rangeProblem(v, r, exactNum);
    if (p) {
      ctx.issues.push({ code: 'custom', message: p, input: v });
      return z.NEVER;
    }
    return v === 0 ? 0 : v;
  });
}

const RESERVED = new Set(['__proto__']);

/** A name used as a key or an identifier: non-empty, and not `__proto__`. */
export const name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .refine((s) => !RESERVED.has(s), { message: 'this name is reserved' });

/** An asset (currency) code, e.g. BTC, 1000PEPE. */
export const assetName = z
  .string()
  .min(1, 'must not be empty')
  .regex(/^[^\s/:]+$/, 'an asset code must not contain spaces, "/" or ":"')
  .refine((s) => !RESERVED.has(s), { message: 'this name is reserved' });

/** A ccxt unified perpetual symbol, BASE/QUOTE:SETTLE. */
export const PERP = /^([^\s/:]+)\/([^\s/:]+):([^\s/:]+)$/;
export const perpSymbol = z
  .string()
  .regex(PERP, 'expected a ccxt unified perpetual symbol BASE/QUOTE:SETTLE, e.g. "BTC/USDT:USDT"')
  .refine((s) => !RESERVED.has(s), { message: 'this name is reserved' });

/** A market symbol key (spot `BTC/USDT` or perp `BTC/USDT:USDT`). */
export const symbolName = z
  .string()
  .min(1, 'must not be empty')
  .regex(/^\S+$/, 'a symbol must not contain spaces')
  .refine((s) => !RESERVED.has(s), { message: 'this name is reserved' });

const MAX_TIME = 8.64e15;
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?))?$/;
const ISO_NO_ZONE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?$/;

/** A time as epoch milliseconds or an ISO 8601 string (date, or date-time with a zone); gives epoch ms. */
export function parseTime(v: unknown): { value: number } | { problem: string } {
  const expected = 'expected epoch milliseconds or an ISO 8601 time with a zone, e.g. "2025-03-01T00:00:00Z"';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return { problem: `${expected}, got ${describe(v)}` };
    if (v < 0 || v > MAX_TIME) return { problem: `epoch milliseconds must be between 0 and ${MAX_TIME}, got ${v}` };
    return { value: v === 0 ? 0 : v };
  }
  if (typeof v === 'string') {
    const s = v.trim();
    if (ISO_NO_ZONE.test(s)) return { problem: `${describe(v)} has no time zone; add "Z" for UTC (e.g. "${s}Z")` };
    if (ISO.test(s)) {
      const [y, mo, d] = s.slice(0, 10).split('-').map(Number) as [number, number, number];
      const daysInMonth = mo >= 1 && mo <= 12 ? new Date(Date.UTC(y, mo, 0)).getUTCDate() : 0;
      if (d < 1 || d > daysInMonth) return { problem: `${describe(v)} is not a valid date` };
      const t = Date.parse(s);
      if (Number.isFinite(t) && t >= 0 && t <= MAX_TIME) return { value: t };
      return { problem: `${describe(v)} is not a valid date` };
    }
    return { problem: `${expected}, got ${describe(v)}` };
  }
  if (v === undefined) return { problem: 'required field is missing' };
  return { problem: `${expected}, got ${describe(v)}` };
}

export function time() {
  return z.unknown().transform((v, ctx): number => {
    const t = parseTime(v);
    if ('problem' in t) {
      ctx.issues.push({ code: 'custom', message: t.problem, input: v });
      return z.NEVER;
    }
    return t.value;
  });
}

/**
 * Checks `v` against `schema` and, on failure, forwards its issues (their paths are relative to
 * the current field). Used to pick one of several object shapes by a discriminating key.
 */
export function forward<T>(schema: z.ZodType<T>, v: unknown, ctx: z.core.$RefinementCtx<unknown>): T | typeof z.NEVER {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  pushIssues(r.error.issues, ctx);
  return z.NEVER;
}

/** Re-reports issues of a nested parse from inside a transform (paths relative to the current field). */
export function pushIssues(issues: readonly z.core.$ZodIssue[], ctx: z.core.$RefinementCtx<unknown>): void {
  for (const iss of issues) ctx.issues.push({ ...iss, path: [...iss.path] } as z.core.$ZodRawIssue);
}
