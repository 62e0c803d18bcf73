/**
 * zod schemas of every query string and request body. Unknown fields are refused (a misspelt filter must not
 * silently return everything); a failure becomes 400 naming the field.
 */
import { z } from 'zod';
import { EVENT_TYPES } from './read-model.js';
import type { OrderState } from '../../ports/journal.js';

const ORDER_STATES: readonly OrderState[] = ['NEW', 'SUBMITTING', 'OPEN', 'PARTIALLY_FILLED', 'FILLED', 'CANCELING', 'CANCELED', 'REJECTED', 'UNKNOWN', 'LOST'];

/**
 * The value sent, quoted, when short — whole or not at all: a cut-off piece of a pasted secret would escape the
 * scrubbing of registered secrets, which matches whole values only.
 */
function echo(v: string): string {
  return v.length <= 30 ? `, got "${v}"` : '';
}

/** Epoch ms or an ISO 8601 date. */
const time = z.string().transform((v, ctx) => {
  const t = /^\d{1,16}$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(t)) {
    ctx.addIssue({ code: 'custom', message: `not a time: expected epoch milliseconds or an ISO 8601 date${echo(v)}` });
    return z.NEVER;
  }
  return t;
});
const limit = (max: number, def: number) =>
  z
    .string()
    .regex(/^\d{1,7}$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1, `must be at least 1`).max(max, `must be at most ${max}`))
    .default(def);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const name = z.string().min(1).max(64).regex(/^[A-Za-z0-9 _.:/+-]+$/, 'letters, digits and _ . : / + - only');
const list = <T extends string>(values: readonly T[], what: string) =>
  z.string().transform((v, ctx) => {
    const parts = v.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = parts.filter((p) => !(values as readonly string[]).includes(p));
    if (bad.length > 0 || parts.length === 0) {
      ctx.addIssue({ code: 'custom', message: `unknown ${what}${bad.length > 0 ? ` ${bad.map((b) => (b.length <= 30 ? `"${b}"` : '(a long value)')).join(', ')}` : ' (empty)'}; expected one or more of ${values.join(', ')}` });
      return z.NEVER;
    }
    return parts as T[];
  });

export const emptyQuery = z.strictObject({});

export const historyQuery = z.strictObject({
  since: time.optional(),
  until: time.optional(),
  maxPoints: limit(20_000, 2_000),
});

export const hedgesQuery = z.strictObject({
  open: bool.optional(),
  account: name.optional(),
  limit: limit(10_000, 200),
});

export const ordersQuery = z.strictObject({
  account: name.optional(),
  state: list(ORDER_STATES, 'order state').optional(),
  live: bool.optional(),
  rebalanceId: z.string().regex(/^\d{1,12}$/, 'expected a whole number').transform(Number).optional(),
  limit: limit(10_000, 200),
});

export const fillsQuery = z.strictObject({
  account: name.optional(),
  symbol: name.optional(),
  since: time.optional(),
  external: bool.optional(),
  limit: limit(10_000, 200),
});

export const journalQuery = z.strictObject({
  type: list(EVENT_TYPES, 'event type').optional(),
  account: name.optional(),
  since: time.optional(),
  /** Paging: events with an id below this (the `nextBefore` of the previous page). */
  before: z
    .string()
    .regex(/^[1-9]\d{0,15}$/, 'an event id (a positive integer)')
    .transform((v) => Number(v))
    .optional(),
  limit: limit(5_000, 100),
});

export const fundingQuery = z.strictObject({
  account: name.optional(),
  symbol: name.optional(),
  since: time.optional(),
  limit: limit(10_000, 200),
});

/** Body of the write endpoints (halt, reduce-only, resume, rebalance-now). */
export const commandBody = z.strictObject({
  reason: z.string().trim().min(1, 'must not be empty').max(500, 'at most 500 characters').optional(),
  /** Who asks (shown in the journal as `api:<by>`). */
  by: z.string().trim().min(1, 'must not be empty').max(64, 'at most 64 characters').regex(/^[A-Za-z0-9 _.@-]+$/, 'letters, digits, space and _ . @ - only').optional(),
});

export interface FieldProblem {
  field: string;
  message: string;
}

/** The first problem of a failed parse, with its field name (for unknown fields: the first unknown one). */
export function firstProblem(error: z.ZodError): FieldProblem {
  const i = error.issues[0]!;
  if (i.code === 'unrecognized_keys') {
    const key = (i as { keys: string[] }).keys[0] ?? '?';
    return { field: [...i.path.map(String), key].join('.'), message: `unknown field "${key}"` };
  }
  const field = i.path.map(String).join('.') || '(body)';
  return { field, message: i.message };
}
