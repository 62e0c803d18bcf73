/**
 * The portfolio file of `ballast plan` (YAML or JSON) → {@link Portfolio}.
 *
 *   loadPortfolio(path)              reads the file, then parsePortfolio
 *   parsePortfolio(text, fileName)   parses and validates text (no I/O)
 *
 * Both throw {@link InputErrors} listing every problem found, each located `FILE:LINE:COL: FIELD:
 * PROBLEM`. A file that cannot be read is reported the same way (without a line).
 *
 * Fractions may be written 0.4 or "40%" everywhere. Defaults: indexPerps []; rebalance
 * { threshold, weekly, to target, scope breached }; execution { instrument spot, hedgeRatio 1,
 * leverage 2, fees spotTaker 0.001 / futuresTaker 0.0005 (makers default to their takers),
 * slippage 0.0005, spotSalePenalty 0, expectedHoldingHours 168 (allowed only with hedges.exit unwind-only) };
 * risk { maxLeverage 3, stressMove 0.3, maxFundingApr 0.25, maxDataAgeSeconds 300, and the pre-trade gate's
 * maxOrderShare 25%, maxCycleTurnover 100%, priceCollar 2%, maxOrdersPerCycle 20, maxRefusals 3 }; hedges { exit
 * convert-on-schedule, unwindInside 0.5, maxGross 0.5, onRefused spot, direction both, fundingWhenUnknown
 * refuse } (only when a class has a hedge perp); rebalance.schedule in threshold mode only where hedges
 * convert on it (a field without effect is an error); strategy
 * { type: targets }; beta-neutral tolerance 0.1; class cash false. A bare band (4% or 0.04) is
 * absolute. Empty (null) optional sections count as absent. core-satellite sets the core class's
 * instrument to 'futures' unless the class sets one.
 *
 * tax (optional; absent = tax not modelled): { method hifo, shortTermRate 0, longTermRate 0,
 * longTermAfterDays 365, futuresRate = shortTermRate }; hedges.exit convert-when-long-term needs it, and
 * execution.spotSalePenalty has no effect with it (an error).
 *
 * Service sections (`ballast run`), left undefined when absent; `serviceConfig(p)` fills them:
 *   accounts  default [{ name: paper, exchange: paper }]; exchange binance | bybit | okx | paper;
 *             keys env (default) | { file: path } (relative to the portfolio file). A key, secret or
 *             password written in the file is an error: API keys never go in the portfolio file.
 *   feed      { maxAgeSeconds 60 (and risk.maxDataAgeMs follows it unless risk sets maxDataAgeSeconds),
 *             restFallbackSeconds min(10, maxAge / 2), must be < maxAgeSeconds }; without a feed
 *             section, maxAge = risk.maxDataAgeMs.
 *   orders    { type limit, offsetBps 2, maxSliceNotional 5000, sliceIntervalSeconds 30,
 *             repriceAfterSeconds 60, cancelAfterSeconds 600 (≥ repriceAfter), notFoundStrikes 3 }
 *   notify    { webhook none, events [trigger, order, fill, halt], timeoutSeconds 5 }
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import * as z from 'zod';
import { InputError, InputErrors } from '../../core/errors.js';
import type { TaxConfig } from '../../core/lots.js';
import {
  DEFAULT_PRETRADE,
  NOTIFY_EVENT_TYPES,
  VENUE_IDS,
  type AccountConfig,
  type AssetClass,
  type Band,
  type FeedConfig,
  type FundingWhenUnknown,
  type HedgeExit,
  type NotifyConfig,
  type OrdersConfig,
  type Portfolio,
  type ServiceConfig,
  type Strategy,
} from '../../core/types.js';
import { exactNum as fmtNum, exactPct as fmtPct } from '../../core/format.js';
import { assetName, fraction, forward, name, pushIssues, num, PERP, strict } from './fields.js';
import { isPlainObject, parseSource, readText, throwIfProblems, zodProblems, type Path, type Problem } from './source.js';

const INSTRUMENTS = ['spot', 'futures', 'auto'] as const;
const TOL = 1e-9;
const EDGE_TOL = 1e-12;

// ---------------------------------------------------------------- schema

const bandObject = strict({
  relative: fraction({ gt: 0 }).optional(),
  absolute: fraction({ gt: 0 }).optional(),
});

const band = z.unknown().transform((v, ctx): Band => {
  if (isPlainObject(v)) {
    const r = bandObject.safeParse(v);
    if (!r.success) {
      pushIssues(r.error.issues, ctx);
      return z.NEVER;
    }
    const { relative, absolute } = r.data;
    if ((relative === undefined) === (absolute === undefined)) {
      ctx.issues.push({ code: 'custom', input: v, message: 'write exactly one of { relative: 20% } or { absolute: 4% }' });
      return z.NEVER;
    }
    return relative !== undefined ? { kind: 'relative', fraction: relative } : { kind: 'absolute', width: absolute! };
  }
  return { kind: 'absolute', width: forward(fraction({ gt: 0 }), v, ctx) };
});

const classSchema = strict({
  name,
  target: fraction({ min: 0, max: 1 }),
  band,
  assets: z.array(assetName).min(1, 'must list at least one asset'),
  weights: z.record(assetName, fraction({ min: 0, max: 1 })).optional(),
  hedge: z.string().min(1, 'must not be empty').optional(),
  instrument: z.enum(INSTRUMENTS).optional(),
  cash: z.boolean().optional(),
});
type ClassIn = z.output<typeof classSchema>;

const indexPerpSchema = strict({
  symbol: z.string().min(1, 'must not be empty'),
  classes: z.record(name, fraction({ min: 0, max: 1 })),
});
type IndexIn = z.output<typeof indexPerpSchema>;

const rebalanceSchema = strict({
  mode: z.enum(['threshold', 'calendar', 'hybrid']).optional(),
  schedule: z.enum(['daily', 'weekly', 'monthly']).optional(),
  to: z.enum(['target', 'band-edge', 'halfway']).optional(),
  scope: z.enum(['breached', 'all']).optional(),
});

const fee = fraction({ min: 0, lt: 0.05 }).optional();
const executionSchema = strict({
  instrument: z.enum(INSTRUMENTS).optional(),
  hedgeRatio: fraction({ gt: 0, max: 1 }).optional(),
  leverage: num({ min: 1 }).optional(),
  fees: strict({ spotTaker: fee, spotMaker: fee, futuresTaker: fee, futuresMaker: fee }).nullish(),
  slippage: fraction({ min: 0, lt: 1 }).optional(),
  spotSalePenalty: fraction({ min: 0, lt: 1 }).optional(),
  expectedHoldingHours: num({ gt: 0, max: 1e6 }).optional(),
  /** Replaced by hedges.exit: convert-on-schedule; kept in the schema to say so. */
  convertHedgesOnCalendar: z.unknown().optional(),
});
type ExecutionIn = z.output<typeof executionSchema>;

/** A duration: a number of hours, or "30d" / "12h" / "2w". */
const duration = z.unknown().transform((v, ctx): number => {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v;
  const m = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([hdw])\s*$/.exec(v) : null;
  if (!m || !(Number(m[1]) > 0)) {
    ctx.issues.push({ code: 'custom', input: v, message: `expected a duration such as "30d", "12h" or "2w", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return Number(m[1]) * (m[2] === 'h' ? 1 : m[2] === 'd' ? 24 : 168);
});

const EXITS = 'convert-on-schedule | convert-after: 30d | convert-when-long-term (with tax:) | unwind-only';
const hedgeExit = z.unknown().transform((v, ctx): HedgeExit => {
  if (v === 'convert-on-schedule') return { kind: 'convert-on-schedule' };
  if (v === 'unwind-only') return { kind: 'unwind-only' };
  if (v === 'convert-when-long-term') return { kind: 'convert-when-long-term' };
  let after: unknown;
  if (typeof v === 'string') {
    const m = /^convert-after[:\s]\s*(.+)$/.exec(v.trim());
    if (m) after = m[1];
  } else if (isPlainObject(v) && Object.keys(v).length === 1 && 'convert-after' in v) after = v['convert-after'];
  if (after === undefined) {
    ctx.issues.push({ code: 'custom', input: v, message: `must be one of ${EXITS}, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return { kind: 'convert-after', hours: forward(duration, after, ctx) };
});

const fundingWhenUnknown = z.unknown().transform((v, ctx): FundingWhenUnknown => {
  if (v === 'refuse') return { kind: 'refuse' };
  if (v === 'zero') return { kind: 'zero' };
  if (isPlainObject(v) && Object.keys(v).length === 1 && typeof v.proxy === 'string' && v.proxy.length > 0) return { kind: 'proxy', symbol: v.proxy };
  ctx.issues.push({ code: 'custom', input: v, message: `must be refuse, zero or { proxy: BASE/QUOTE:QUOTE }, got ${JSON.stringify(v)}` });
  return z.NEVER;
});

const hedgesSchema = strict({
  exit: hedgeExit.optional(),
  unwindInside: fraction({ min: 0, max: 1 }).optional(),
  maxGross: fraction({ gt: 0, max: 10 }).optional(),
  onRefused: z.enum(['spot', 'wait']).optional(),
  direction: z.enum(['both', 'short-only']).optional(),
  fundingWhenUnknown: fundingWhenUnknown.optional(),
});
type HedgesIn = z.output<typeof hedgesSchema>;

const taxSchema = strict({
  method: z.enum(['fifo', 'lifo', 'hifo']).optional(),
  shortTermRate: fraction({ min: 0, max: 1 }).optional(),
  longTermRate: fraction({ min: 0, max: 1 }).optional(),
  longTermAfterDays: num({ min: 0, max: 36_500 }).optional(),
  futuresRate: fraction({ min: 0, max: 1 }).optional(),
});
type TaxIn = z.output<typeof taxSchema>;

const riskSchema = strict({
  maxLeverage: num({ min: 1, max: 1000 }).optional(),
  stressMove: fraction({ min: 0, max: 1 }).optional(),
  maxFundingApr: fraction({ min: 0, max: 100 }).optional(),
  /** At most ten years. */
  maxDataAgeSeconds: num({ gt: 0, max: 315_360_000 }).optional(),
  // The pre-trade risk gate (src/execution/pretrade.ts).
  maxOrderShare: fraction({ gt: 0, max: 1 }).optional(),
  maxCycleTurnover: fraction({ gt: 0, max: 10 }).optional(),
  priceCollar: fraction({ gt: 0, max: 0.5 }).optional(),
  maxOrdersPerCycle: int({ min: 1, max: 10_000 }).optional(),
  maxRefusals: int({ min: 1, max: 1000 }).optional(),
});
type RiskIn = z.output<typeof riskSchema>;

const strategySchemas = {
  targets: strict({ type: z.literal('targets') }),
  'core-satellite': strict({ type: z.literal('core-satellite'), core: name }),
  'beta-neutral': strict({
    type: z.literal('beta-neutral'),
    long: name,
    short: name,
    beta: num({ gt: 0, max: 1000 }).optional(),
    tolerance: fraction({ gt: 0, max: 1 }).optional(),
  }),
};
const STRATEGY_TYPES = Object.keys(strategySchemas) as (keyof typeof strategySchemas)[];

const strategySchema = z.unknown().transform((v, ctx): Strategy => {
  if (!isPlainObject(v)) {
    ctx.issues.push({ code: 'custom', input: v, message: `expected a mapping with a type (${STRATEGY_TYPES.join(' | ')})` });
    return z.NEVER;
  }
  const t = v.type;
  if (typeof t !== 'string' || !(STRATEGY_TYPES as string[]).includes(t)) {
    const message =
      t === undefined ? `required field is missing (one of ${STRATEGY_TYPES.join(' | ')})` : `must be one of ${STRATEGY_TYPES.join(' | ')}, got ${JSON.stringify(t)}`;
    ctx.issues.push({ code: 'custom', input: v, path: ['type'], message });
    return z.NEVER;
  }
  const s = forward(strategySchemas[t as keyof typeof strategySchemas] as z.ZodType<Record<string, unknown>>, v, ctx);
  if (s.type === 'beta-neutral') {
    const out: Strategy = { type: 'beta-neutral', long: s.long as string, short: s.short as string, tolerance: (s.tolerance as number | undefined) ?? 0.1 };
    if (s.beta !== undefined) out.beta = s.beta as number;
    return out;
  }
  if (s.type === 'core-satellite') return { type: 'core-satellite', core: s.core as string };
  return { type: 'targets' };
});

// ---------------------------------------------------------------- service sections

const TEN_YEARS_S = 315_360_000;

/** Finite integer schema with a range. */
function int(r: { min: number; max: number }) {
  return num(r).refine((x) => Number.isInteger(x), { message: 'must be a whole number' });
}

/** Account names become environment variable names (BALLAST_<NAME>_API_KEY): keep them plain. */
const accountName = z
  .string()
  .trim()
  .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'an account name starts with a letter and uses only letters, digits, "-" and "_" (at most 64 characters)');

type KeysIn = { kind: 'env' } | { kind: 'file'; file: string };
const keysFileSchema = strict({ file: z.string().trim().min(1, 'must not be empty') });
/** `env` or `{ file: path }`. The value is never echoed in an error: it might be a pasted secret. */
const keysSchema = z.unknown().transform((v, ctx): KeysIn => {
  if (v === 'env') return { kind: 'env' };
  if (isPlainObject(v)) return { kind: 'file', file: forward(keysFileSchema, v, ctx).file };
  ctx.issues.push({
    code: 'custom',
    input: v,
    message: 'must be env (keys from BALLAST_<NAME>_API_KEY / _API_SECRET / _API_PASSWORD) or { file: path/to/keys.json }; API keys themselves never go in the portfolio file',
  });
  return z.NEVER;
});

const accountSchema = strict({
  name: accountName,
  exchange: z.enum([...VENUE_IDS, 'paper']),
  keys: keysSchema.optional(),
});
type AccountIn = z.output<typeof accountSchema>;

const feedSchema = strict({
  maxAgeSeconds: num({ gt: 0, max: TEN_YEARS_S }).optional(),
  restFallbackSeconds: num({ gt: 0, max: TEN_YEARS_S }).optional(),
});
type FeedIn = z.output<typeof feedSchema>;

const ordersSchema = strict({
  type: z.enum(['limit', 'market']).optional(),
  offsetBps: num({ min: 0, lt: 10_000 }).optional(),
  maxSliceNotional: num({ gt: 0 }).optional(),
  sliceIntervalSeconds: num({ min: 0, max: TEN_YEARS_S }).optional(),
  repriceAfterSeconds: num({ gt: 0, max: TEN_YEARS_S }).optional(),
  cancelAfterSeconds: num({ gt: 0, max: TEN_YEARS_S }).optional(),
  notFoundStrikes: int({ min: 1, max: 1000 }).optional(),
});
type OrdersIn = z.output<typeof ordersSchema>;

/** An http(s) URL. Not echoed in errors: webhook URLs often carry a token. */
const webhookSchema = z.unknown().transform((v, ctx): string => {
  let ok = false;
  if (typeof v === 'string') {
    try {
      const u = new URL(v.trim());
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    ctx.issues.push({ code: 'custom', input: v, message: 'must be an http:// or https:// URL, e.g. http://127.0.0.1:9000/hook' });
    return z.NEVER;
  }
  return (v as string).trim();
});

const notifySchema = strict({
  webhook: webhookSchema.nullish(),
  events: z.array(z.enum(NOTIFY_EVENT_TYPES as [string, ...string[]])).nullish(),
  timeoutSeconds: num({ gt: 0, max: 300 }).optional(),
});
type NotifyIn = z.output<typeof notifySchema>;

/** Field names that hold credentials. Refused with their own message wherever ballast reads keys. */
const SECRET_FIELD =
  /^(api[-_ ]?key|api[-_ ]?secret|api[-_ ]?password|secret|secret[-_ ]?key|private[-_ ]?key|password|passphrase|pass[-_ ]?phrase|token|access[-_ ]?token|uid|key)$/i;

/** `BALLAST_<NAME>`: the prefix of an account's environment variables. */
export function envPrefix(account: string): string {
  return `BALLAST_${account.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

function secretProblem(field: string, account: string | undefined): string {
  const p = envPrefix(account ?? '<NAME>');
  return (
    `API keys never go in the portfolio file: remove "${field}" and put the keys in the environment ` +
    `(${p}_API_KEY, ${p}_API_SECRET, ${p}_API_PASSWORD; keys: env) or in a key file with mode 0600 (keys: { file: path/to/keys.json })`
  );
}

/** Credentials written anywhere ballast reads account settings (top level, accounts, their keys, notify). */
function secretFieldProblems(raw: Record<string, unknown>): Problem[] {
  const out: Problem[] = [];
  const scan = (obj: unknown, path: Path, account: string | undefined) => {
    if (!isPlainObject(obj)) return;
    for (const k of Object.keys(obj)) if (SECRET_FIELD.test(k.trim())) out.push({ path: [...path, k], problem: secretProblem(k, account), at: 'key' });
  };
  scan(raw, [], undefined);
  if (Array.isArray(raw.accounts)) {
    raw.accounts.forEach((a, i) => {
      if (!isPlainObject(a)) return;
      const n = typeof a.name === 'string' ? a.name.trim() : undefined;
      scan(a, ['accounts', i], n);
      scan(a.keys, ['accounts', i, 'keys'], n);
    });
  }
  for (const section of ['notify', 'feed', 'orders'] as const) scan(raw[section], [section], undefined);
  return out;
}

const portfolioSchema = strict({
  quote: assetName,
  classes: z.array(classSchema).min(1, 'at least one class is required'),
  indexPerps: z.array(indexPerpSchema).nullish(),
  rebalance: rebalanceSchema.nullish(),
  execution: executionSchema.nullish(),
  risk: riskSchema.nullish(),
  hedges: hedgesSchema.nullish(),
  tax: taxSchema.nullish(),
  strategy: strategySchema.nullish(),
  accounts: z.array(accountSchema).min(1, 'list at least one account, or leave accounts out to trade one paper account').nullish(),
  feed: feedSchema.nullish(),
  orders: ordersSchema.nullish(),
  notify: notifySchema.nullish(),
});
type PortfolioIn = z.output<typeof portfolioSchema>;

// ---------------------------------------------------------------- cross-field rules

/**
 * The fields of a strict object that parse on their own (a key is present iff its field parsed;
 * an absent optional field is present with the value undefined), so cross-field rules still run
 * when another field is broken.
 */
type Fields<T> = { [K in keyof T]?: T[K] };
function fieldsOf<T>(schema: z.ZodType<T>, raw: unknown): Fields<T> | undefined {
  if (!isPlainObject(raw)) return undefined;
  const shape = (schema as unknown as { shape: Record<string, z.ZodType> }).shape;
  const out: Record<string, unknown> = {};
  for (const [k, s] of Object.entries(shape)) {
    const r = s.safeParse(raw[k]);
    if (r.success) out[k] = r.data;
  }
  return out as Fields<T>;
}

type BetaIn = z.output<(typeof strategySchemas)['beta-neutral']>;
type CoreIn = z.output<(typeof strategySchemas)['core-satellite']>;

interface Pieces {
  quote: string | undefined;
  /** Classes as far as they parse; undefined where a class is not a mapping. */
  classes: (Fields<ClassIn> | undefined)[];
  /** Class names as written, including classes that failed to parse. */
  names: Set<string>;
  indexPerps: (Fields<IndexIn> | undefined)[];
  execution: Fields<ExecutionIn>;
  risk: Fields<RiskIn>;
  rebalance: Record<string, unknown>;
  /** The hedges section as far as it parses; undefined when the file has none. */
  hedges: Fields<HedgesIn> | undefined;
  /** True when the file has a tax section. */
  tax: boolean;
  strategy: { type: 'targets' } | ({ type: 'core-satellite' } & Fields<CoreIn>) | ({ type: 'beta-neutral' } & Fields<BetaIn>) | undefined;
  accounts: (Fields<AccountIn> | undefined)[];
  feed: Fields<FeedIn>;
  orders: Fields<OrdersIn>;
  notify: Fields<NotifyIn>;
}

function salvage(raw: Record<string, unknown>): Pieces {
  const rawClasses = Array.isArray(raw.classes) ? raw.classes : [];
  const names = new Set<string>();
  for (const c of rawClasses) if (isPlainObject(c) && typeof c.name === 'string') names.add(c.name.trim());
  const q = assetName.safeParse(raw.quote);
  let strategy: Pieces['strategy'] = { type: 'targets' };
  if (raw.strategy != null) {
    const t = isPlainObject(raw.strategy) ? raw.strategy.type : undefined;
    if (t === 'core-satellite') strategy = { ...fieldsOf(strategySchemas['core-satellite'], raw.strategy), type: t };
    else if (t === 'beta-neutral') strategy = { ...fieldsOf(strategySchemas['beta-neutral'], raw.strategy), type: t };
    else if (t !== 'targets') strategy = undefined;
  }
  return {
    quote: q.success ? q.data : undefined,
    classes: rawClasses.map((c) => fieldsOf(classSchema, c)),
    names,
    indexPerps: Array.isArray(raw.indexPerps) ? raw.indexPerps.map((x) => fieldsOf(indexPerpSchema, x)) : [],
    execution: fieldsOf(executionSchema, raw.execution ?? {}) ?? {},
    risk: fieldsOf(riskSchema, raw.risk ?? {}) ?? {},
    rebalance: isPlainObject(raw.rebalance) ? raw.rebalance : {},
    hedges: raw.hedges == null ? undefined : fieldsOf(hedgesSchema, raw.hedges),
    tax: raw.tax != null,
    strategy,
    accounts: Array.isArray(raw.accounts) ? raw.accounts.map((a) => fieldsOf(accountSchema, a)) : [],
    feed: fieldsOf(feedSchema, raw.feed ?? {}) ?? {},
    orders: fieldsOf(ordersSchema, raw.orders ?? {}) ?? {},
    notify: fieldsOf(notifySchema, raw.notify ?? {}) ?? {},
  };
}

function sumOf(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}

/** Checks a symbol is a linear perp of the quote; returns a problem or null. */
function perpProblem(symbol: string, quote: string): string | null {
  const m = PERP.exec(symbol);
  const expected = `expected a linear perpetual of the quote currency, BASE/${quote}:${quote} (e.g. "BTC/${quote}:${quote}")`;
  if (!m) return `${JSON.stringify(symbol)} is not a ccxt perpetual symbol; ${expected}`;
  if (m[2] !== quote || m[3] !== quote) return `${JSON.stringify(symbol)} is not a linear perpetual settled in ${quote}; ${expected}`;
  return null;
}

const NEEDS_CASH = 'futures need a cash class to hold their margin; mark one class (e.g. your stablecoins) with cash: true';

function crossProblems(p: Pieces): Problem[] {
  const out: Problem[] = [];
  const add = (path: Path, problem: string, at?: 'key') => out.push(at ? { path, problem, at } : { path, problem });
  const classNames = [...p.names].join(', ');
  const label = (i: number) => {
    const n = p.classes[i]?.name;
    return n !== undefined ? `"${n}" (classes[${i}])` : `classes[${i}]`;
  };

  // Per class.
  p.classes.forEach((c, i) => {
    if (!c) return;
    const t = c.target;
    if (t !== undefined && c.band) {
      const [w, desc] =
        c.band.kind === 'absolute'
          ? [c.band.width, `±${fmtPct(c.band.width)}`]
          : [c.band.fraction * t, `±${fmtPct(c.band.fraction)} of the target (±${fmtPct(c.band.fraction * t)})`];
      if (t - w < -EDGE_TOL) {
        add(['classes', i, 'band'], `band ${desc} is wider than the target ${fmtPct(t)}: the lower trigger would be ${fmtPct(t - w)}, below 0%`);
      }
      if (t + w > 1 + EDGE_TOL) {
        add(['classes', i, 'band'], `band ${desc} around the target ${fmtPct(t)} puts the upper trigger at ${fmtPct(t + w)}, above 100%`);
      }
    }
    const seen = new Map<string, number>();
    c.assets?.forEach((a, k) => {
      if (seen.has(a)) add(['classes', i, 'assets', k], `${a} is listed twice in this class (also assets[${seen.get(a)}])`);
      else seen.set(a, k);
    });
    if (c.weights) {
      const keys = Object.keys(c.weights);
      for (const k of keys) {
        if (c.assets && !c.assets.includes(k)) {
          add(['classes', i, 'weights', k], `${k} is not an asset of class ${label(i)}; weights may name only ${c.assets.join(', ')}`, 'key');
        }
      }
      const s = sumOf(Object.values(c.weights));
      if (keys.length === 0) add(['classes', i, 'weights'], 'must give at least one asset weight (or leave weights out)');
      else if (Math.abs(s - 1) > TOL) add(['classes', i, 'weights'], `weights must sum to 100%, got ${fmtPct(s)}`);
    }
    if (c.hedge !== undefined && p.quote !== undefined) {
      const e = perpProblem(c.hedge, p.quote);
      if (e) add(['classes', i, 'hedge'], e);
    }
  });

  // Across classes.
  const firstName = new Map<string, number>();
  const assetHome = new Map<string, number>();
  const hedgeHome = new Map<string, number>();
  const cashIdx: number[] = [];
  p.classes.forEach((c, i) => {
    if (!c) return;
    if (c.name !== undefined) {
      const prev = firstName.get(c.name);
      if (prev !== undefined) add(['classes', i, 'name'], `duplicate class name "${c.name}" (also classes[${prev}])`);
      else firstName.set(c.name, i);
    }
    c.assets?.forEach((a, k) => {
      const home = assetHome.get(a);
      if (home === undefined) assetHome.set(a, i);
      else if (home !== i) add(['classes', i, 'assets', k], `${a} is in two classes, ${label(home)} and ${label(i)}; an asset belongs to one class`);
    });
    if (c.hedge !== undefined) {
      const h = hedgeHome.get(c.hedge);
      if (h !== undefined) {
        add(['classes', i, 'hedge'], `${c.hedge} is already the hedge of class ${label(h)}; a perp can hedge only one class (use indexPerps to map one perp to several classes)`);
      } else hedgeHome.set(c.hedge, i);
    }
    if (c.cash === true) cashIdx.push(i);
  });

  if (cashIdx.length > 1) {
    const names = cashIdx.map(label).join(', ');
    for (const i of cashIdx.slice(1)) add(['classes', i, 'cash'], `more than one cash class: ${names}; at most one class may have cash: true`);
  }
  const cash = cashIdx.length > 0 ? p.classes[cashIdx[0]!]! : undefined;
  if (cashIdx.length === 1 && cash?.assets && p.quote !== undefined && !cash.assets.includes(p.quote)) {
    add(
      ['classes', cashIdx[0]!, 'assets'],
      `the quote currency ${p.quote} must be one of the cash class's assets (the cash class holds the quote currency and the futures margin); its assets are ${cash.assets.join(', ')}`,
    );
  }
  const all = p.classes.length > 0 && p.classes.every((c) => c !== undefined);
  const noCash = all && p.classes.every((c) => 'cash' in c!) && cashIdx.length === 0;

  if (all && p.classes.every((c) => c!.target !== undefined)) {
    const s = sumOf(p.classes.map((c) => c!.target!));
    if (Math.abs(s - 1) > TOL) {
      const terms = p.classes.map((c, i) => `${c!.name ?? `classes[${i}]`} ${fmtPct(c!.target!)}`).join(' + ');
      add(['classes'], `targets must sum to 100%, got ${fmtPct(s)} (${terms})`, 'key');
    }
  }
  if (noCash) {
    p.classes.forEach((c, i) => {
      const ins = c!.instrument;
      if (ins === 'futures' || ins === 'auto') add(['classes', i, 'instrument'], `instrument ${ins} is not possible without a cash class: ${NEEDS_CASH}`);
      if (c!.hedge !== undefined) add(['classes', i, 'hedge'], `a hedge is not possible without a cash class: ${NEEDS_CASH}`);
    });
  }

  // Index perps.
  const indexHome = new Map<string, number>();
  p.indexPerps.forEach((x, i) => {
    if (!x) return;
    if (x.symbol !== undefined) {
      if (p.quote !== undefined) {
        const e = perpProblem(x.symbol, p.quote);
        if (e) add(['indexPerps', i, 'symbol'], e);
      }
      const h = hedgeHome.get(x.symbol);
      if (h !== undefined) add(['indexPerps', i, 'symbol'], `${x.symbol} is already the hedge of class ${label(h)}; a perp maps to classes one way only`);
      const j = indexHome.get(x.symbol);
      if (j !== undefined) add(['indexPerps', i, 'symbol'], `${x.symbol} is listed twice in indexPerps (also indexPerps[${j}])`);
      else indexHome.set(x.symbol, i);
      if (noCash) add(['indexPerps', i, 'symbol'], `an index perp is not possible without a cash class: ${NEEDS_CASH}`);
    }
    if (x.classes) {
      const keys = Object.keys(x.classes);
      for (const k of keys) {
        if (!p.names.has(k)) add(['indexPerps', i, 'classes', k], `unknown class "${k}" (classes: ${classNames})`, 'key');
        else if (cash?.name === k) add(['indexPerps', i, 'classes', k], `"${k}" is the cash class; an index perp cannot map to it`, 'key');
      }
      const s = sumOf(Object.values(x.classes));
      if (keys.length === 0) add(['indexPerps', i, 'classes'], 'must map to at least one class');
      else if (Math.abs(s - 1) > TOL) add(['indexPerps', i, 'classes'], `class weights must sum to 100%, got ${fmtPct(s)}`);
    }
  });

  // Execution and risk.
  const ex = p.execution;
  if (noCash && (ex.instrument === 'futures' || ex.instrument === 'auto')) {
    add(['execution', 'instrument'], `instrument ${ex.instrument} is not possible without a cash class: ${NEEDS_CASH}`);
  }
  if ('leverage' in ex && 'maxLeverage' in p.risk) {
    const lev = ex.leverage ?? 2;
    const max = p.risk.maxLeverage ?? 3;
    if (lev > max) {
      if (ex.leverage !== undefined) add(['execution', 'leverage'], `leverage ${fmtNum(lev)} is above risk.maxLeverage ${fmtNum(max)}`);
      else add(['risk', 'maxLeverage'], `risk.maxLeverage ${fmtNum(max)} is below execution.leverage ${fmtNum(lev)} (the default); set execution.leverage too`);
    }
  }

  // Fields that would have no effect are errors, never silently ignored.
  if ('convertHedgesOnCalendar' in ex && ex.convertHedgesOnCalendar !== undefined) {
    add(['execution', 'convertHedgesOnCalendar'], 'replaced by hedges.exit: convert-on-schedule (converts hedges at every rebalance.schedule period, in every mode); remove this field', 'key');
  }
  const exit = p.hedges?.exit?.kind ?? 'convert-on-schedule';
  const hedged = p.classes.some((c) => c?.hedge !== undefined) || p.indexPerps.length > 0;
  if (ex.expectedHoldingHours !== undefined && exit !== 'unwind-only') {
    add(['execution', 'expectedHoldingHours'], `has no effect with hedges.exit ${exit}: the exit rule gives a hedge's expected life; remove it, or set hedges.exit: unwind-only`, 'key');
  }
  if (p.hedges !== undefined && !hedged) {
    add(['hedges'], 'has no effect: no class has a hedge perp (classes[].hedge) and there is no index perp; remove the section or give a class hedge: BASE/QUOTE:QUOTE', 'key');
  }
  if (exit === 'convert-when-long-term' && !p.tax) {
    add(['hedges', 'exit'], 'convert-when-long-term needs the tax: section (the lots and their holding period); add tax:, or choose convert-on-schedule | convert-after: 30d | unwind-only');
  }
  if (p.tax && ex.spotSalePenalty !== undefined) {
    add(['execution', 'spotSalePenalty'], 'has no effect with tax: (the tax of the lots a sale realises replaces the flat sale penalty); remove it', 'key');
  }
  const mode = p.rebalance.mode ?? 'threshold';
  if (p.rebalance.schedule !== undefined && mode === 'threshold' && (!hedged || (exit !== 'convert-on-schedule' && exit !== 'convert-when-long-term'))) {
    add(['rebalance', 'schedule'], hedged
      ? `has no effect in threshold mode with hedges.exit ${exit}; remove it, or use mode calendar/hybrid, or hedges.exit: convert-on-schedule`
      : 'has no effect in threshold mode without hedges; remove it, or use mode calendar or hybrid', 'key');
  }
  const proxy = p.hedges?.fundingWhenUnknown;
  if (proxy?.kind === 'proxy' && p.quote !== undefined) {
    const e = perpProblem(proxy.symbol, p.quote);
    if (e) add(['hedges', 'fundingWhenUnknown', 'proxy'], e);
  }

  // Strategy.
  const st = p.strategy;
  const needClass = (field: string, n: string | undefined, role: string, hedge: boolean) => {
    if (n === undefined) return;
    if (!p.names.has(n)) {
      add(['strategy', field], `unknown class "${n}" (classes: ${classNames})`);
      return;
    }
    const c = p.classes.find((x) => x?.name === n);
    if (!c) return;
    if (c.cash === true) add(['strategy', field], `"${n}" is the cash class; it cannot be the ${role}`);
    else if (hedge && 'hedge' in c && c.hedge === undefined) {
      const q = p.quote ?? 'QUOTE';
      add(['strategy', field], `class "${n}" has no hedge perp, but the ${role} is adjusted with futures; give that class hedge: BASE/${q}:${q}`);
    }
  };
  if (st?.type === 'core-satellite') needClass('core', st.core, 'core', true);
  if (st?.type === 'beta-neutral') {
    needClass('long', st.long, 'long class', false);
    needClass('short', st.short, 'short class', true);
    if (st.long !== undefined && st.long === st.short) add(['strategy', 'short'], `long and short must be different classes, both are "${st.long}"`);
  }

  // Accounts.
  const accountHome = new Map<string, number>();
  const prefixHome = new Map<string, number>();
  p.accounts.forEach((a, i) => {
    if (!a) return;
    if (a.name !== undefined) {
      const prev = accountHome.get(a.name);
      if (prev !== undefined) add(['accounts', i, 'name'], `duplicate account name "${a.name}" (also accounts[${prev}])`);
      else {
        accountHome.set(a.name, i);
        const prefix = envPrefix(a.name);
        const other = prefixHome.get(prefix);
        if (other !== undefined) {
          add(['accounts', i, 'name'], `accounts "${p.accounts[other]?.name}" and "${a.name}" would read the same environment variables (${prefix}_API_KEY …); rename one`);
        } else prefixHome.set(prefix, i);
      }
    }
    if (a.exchange === 'paper' && a.keys !== undefined) add(['accounts', i, 'keys'], 'a paper account trades on the simulated venue and takes no keys; remove keys', 'key');
  });

  // Feed.
  const f = p.feed;
  if (f.restFallbackSeconds !== undefined) {
    const maxAge = f.maxAgeSeconds ?? p.risk.maxDataAgeSeconds ?? 60;
    if (f.restFallbackSeconds >= maxAge) {
      add(
        ['feed', 'restFallbackSeconds'],
        `restFallbackSeconds ${fmtNum(f.restFallbackSeconds)} must be below maxAgeSeconds ${fmtNum(maxAge)}: REST polling has to refresh the data before it is too old to trade on`,
      );
    }
  }

  // Orders.
  const o = p.orders;
  if ('repriceAfterSeconds' in o && 'cancelAfterSeconds' in o) {
    const reprice = o.repriceAfterSeconds ?? DEFAULT_ORDERS.repriceAfterMs / 1000;
    const cancel = o.cancelAfterSeconds ?? DEFAULT_ORDERS.cancelAfterMs / 1000;
    if (cancel < reprice) {
      if (o.cancelAfterSeconds !== undefined) add(['orders', 'cancelAfterSeconds'], `cancelAfterSeconds ${fmtNum(cancel)} is below repriceAfterSeconds ${fmtNum(reprice)}: a slice would be cancelled before it is ever repriced`);
      else add(['orders', 'repriceAfterSeconds'], `repriceAfterSeconds ${fmtNum(reprice)} is above cancelAfterSeconds ${fmtNum(cancel)} (the default); set cancelAfterSeconds too`);
    }
  }

  // Notify.
  const seenEvents = new Map<string, number>();
  p.notify.events?.forEach((e, k) => {
    const prev = seenEvents.get(e);
    if (prev !== undefined) add(['notify', 'events', k], `${e} is listed twice (also events[${prev}])`);
    else seenEvents.set(e, k);
  });
  return out;
}

// ---------------------------------------------------------------- build

export const DEFAULT_ORDERS: Readonly<OrdersConfig> = Object.freeze({
  type: 'limit',
  offsetBps: 2,
  maxSliceNotional: 5000,
  sliceIntervalMs: 30_000,
  repriceAfterMs: 60_000,
  cancelAfterMs: 600_000,
  notFoundStrikes: 3,
});
export const DEFAULT_FEED_MAX_AGE_MS = 60_000;
export const DEFAULT_REST_FALLBACK_MS = 10_000;
export const DEFAULT_NOTIFY_TIMEOUT_MS = 5_000;
export const PAPER_ACCOUNT: Readonly<AccountConfig> = Object.freeze({ name: 'paper', exchange: 'paper', keys: null });

/** The service sections with every default filled in. Pure. */
export function serviceConfig(p: Portfolio): ServiceConfig {
  const maxAgeMs = p.feed?.maxAgeMs ?? p.risk.maxDataAgeMs;
  return {
    accounts: (p.accounts ?? [PAPER_ACCOUNT]).map((a) => ({ ...a, keys: a.keys && { ...a.keys } })),
    feed: p.feed ? { ...p.feed } : { maxAgeMs, restFallbackMs: Math.min(DEFAULT_REST_FALLBACK_MS, maxAgeMs / 2) },
    orders: { ...(p.orders ?? DEFAULT_ORDERS) },
    notify: p.notify ? { ...p.notify, events: [...p.notify.events] } : { webhook: null, events: [...NOTIFY_EVENT_TYPES], timeoutMs: DEFAULT_NOTIFY_TIMEOUT_MS },
  };
}

function buildAccount(a: AccountIn, fileName: string): AccountConfig {
  if (a.exchange === 'paper') return { name: a.name, exchange: 'paper', keys: null };
  const k = a.keys ?? { kind: 'env' };
  return {
    name: a.name,
    exchange: a.exchange as AccountConfig['exchange'],
    keys: k.kind === 'env' ? { kind: 'env', prefix: envPrefix(a.name) } : { kind: 'file', path: isAbsolute(k.file) ? k.file : resolve(dirname(fileName), k.file) },
  };
}

function buildFeed(f: FeedIn, riskSeconds: number | undefined): FeedConfig {
  const maxAgeMs = (f.maxAgeSeconds ?? riskSeconds ?? DEFAULT_FEED_MAX_AGE_MS / 1000) * 1000;
  return { maxAgeMs, restFallbackMs: f.restFallbackSeconds !== undefined ? f.restFallbackSeconds * 1000 : Math.min(DEFAULT_REST_FALLBACK_MS, maxAgeMs / 2) };
}

function buildOrders(o: OrdersIn): OrdersConfig {
  const d = DEFAULT_ORDERS;
  const ms = (s: number | undefined, def: number) => (s === undefined ? def : s * 1000);
  return {
    type: o.type ?? d.type,
    offsetBps: o.offsetBps ?? d.offsetBps,
    maxSliceNotional: o.maxSliceNotional ?? d.maxSliceNotional,
    sliceIntervalMs: ms(o.sliceIntervalSeconds, d.sliceIntervalMs),
    repriceAfterMs: ms(o.repriceAfterSeconds, d.repriceAfterMs),
    cancelAfterMs: ms(o.cancelAfterSeconds, d.cancelAfterMs),
    notFoundStrikes: o.notFoundStrikes ?? d.notFoundStrikes,
  };
}

function buildNotify(n: NotifyIn): NotifyConfig {
  return {
    webhook: n.webhook ?? null,
    events: n.events ? (n.events as NotifyConfig['events']) : [...NOTIFY_EVENT_TYPES],
    timeoutMs: (n.timeoutSeconds ?? DEFAULT_NOTIFY_TIMEOUT_MS / 1000) * 1000,
  };
}

/** tax: defaults — hifo, 0 % rates, long-term after 365 days, futures at the short-term rate. */
function buildTax(t: TaxIn): TaxConfig {
  const shortTermRate = t.shortTermRate ?? 0;
  return {
    method: t.method ?? 'hifo',
    shortTermRate,
    longTermRate: t.longTermRate ?? 0,
    longTermAfterDays: t.longTermAfterDays ?? 365,
    futuresRate: t.futuresRate ?? shortTermRate,
  };
}

function build(d: PortfolioIn, fileName: string): Portfolio {
  const classes = d.classes.map((c): AssetClass => {
    const out: AssetClass = { name: c.name, target: c.target, band: c.band, assets: [...c.assets], cash: c.cash ?? false };
    if (c.weights !== undefined) out.weights = { ...c.weights };
    if (c.hedge !== undefined) out.hedge = c.hedge;
    if (c.instrument !== undefined) out.instrument = c.instrument;
    return out;
  });
  const strategy: Strategy = d.strategy ?? { type: 'targets' };
  if (strategy.type === 'core-satellite') {
    const core = classes.find((c) => c.name === strategy.core);
    if (core && core.instrument === undefined) core.instrument = 'futures';
  }
  const ex = d.execution ?? {};
  const fees = ex.fees ?? {};
  const spotTaker = fees.spotTaker ?? 0.001;
  const futuresTaker = fees.futuresTaker ?? 0.0005;
  const risk = d.risk ?? {};
  const rb = d.rebalance ?? {};
  const hd = d.hedges ?? {};
  const feed = d.feed ? buildFeed(d.feed, risk.maxDataAgeSeconds) : undefined;
  const out: Portfolio = {
    quote: d.quote,
    classes,
    indexPerps: (d.indexPerps ?? []).map((x) => ({ symbol: x.symbol, classes: { ...x.classes } })),
    rebalance: {
      mode: rb.mode ?? 'threshold',
      schedule: rb.schedule ?? 'weekly',
      to: rb.to ?? 'target',
      scope: rb.scope ?? 'breached',
    },
    execution: {
      instrument: ex.instrument ?? 'spot',
      hedgeRatio: ex.hedgeRatio ?? 1,
      leverage: ex.leverage ?? 2,
      fees: { spotTaker, spotMaker: fees.spotMaker ?? spotTaker, futuresTaker, futuresMaker: fees.futuresMaker ?? futuresTaker },
      slippage: ex.slippage ?? 0.0005,
      spotSalePenalty: ex.spotSalePenalty ?? 0,
      expectedHoldingHours: ex.expectedHoldingHours ?? 168,
    },
    risk: {
      maxLeverage: risk.maxLeverage ?? 3,
      stressMove: risk.stressMove ?? 0.3,
      maxFundingApr: risk.maxFundingApr ?? 0.25,
      maxDataAgeMs: risk.maxDataAgeSeconds !== undefined ? risk.maxDataAgeSeconds * 1000 : (feed?.maxAgeMs ?? 300_000),
      maxOrderShare: risk.maxOrderShare ?? DEFAULT_PRETRADE.maxOrderShare,
      maxCycleTurnover: risk.maxCycleTurnover ?? DEFAULT_PRETRADE.maxCycleTurnover,
      priceCollar: risk.priceCollar ?? DEFAULT_PRETRADE.priceCollar,
      maxOrdersPerCycle: risk.maxOrdersPerCycle ?? DEFAULT_PRETRADE.maxOrdersPerCycle,
      maxRefusals: risk.maxRefusals ?? DEFAULT_PRETRADE.maxRefusals,
    },
    hedges: {
      exit: hd.exit ?? { kind: 'convert-on-schedule' },
      unwindInside: hd.unwindInside ?? 0.5,
      maxGross: hd.maxGross ?? 0.5,
      onRefused: hd.onRefused ?? 'spot',
      direction: hd.direction ?? 'both',
      fundingWhenUnknown: hd.fundingWhenUnknown ?? { kind: 'refuse' },
    },
    strategy,
  };
  if (d.tax) out.tax = buildTax(d.tax);
  if (d.accounts) out.accounts = d.accounts.map((a) => buildAccount(a, fileName));
  if (feed) out.feed = feed;
  if (d.orders) out.orders = buildOrders(d.orders);
  if (d.notify) out.notify = buildNotify(d.notify);
  return out;
}

// ---------------------------------------------------------------- API

/** Parses and validates portfolio text (YAML or JSON). Throws InputErrors naming `fileName`. */
export function parsePortfolio(text: string, fileName: string): Portfolio {
  const src = parseSource(text, fileName);
  const raw = src.value;
  const problems: Problem[] = [];
  const r = portfolioSchema.safeParse(raw);
  if (!r.success) problems.push(...zodProblems(r.error.issues, raw));
  if (isPlainObject(raw)) {
    // A credential gets its own message instead of "unknown key".
    const secrets = secretFieldProblems(raw);
    const at = new Set(secrets.map((x) => JSON.stringify(x.path)));
    for (let i = problems.length - 1; i >= 0; i--) if (at.has(JSON.stringify(problems[i]!.path))) problems.splice(i, 1);
    problems.push(...secrets, ...crossProblems(salvage(raw)));
  }
  throwIfProblems(src, fileName, problems);
  if (!r.success) throw new InputErrors([new InputError({ file: fileName, line: null, column: null, field: '', problem: 'invalid portfolio' })]);
  return build(r.data, fileName);
}

/** Reads and validates a portfolio file. Throws InputErrors (also when the file cannot be read). */
export function loadPortfolio(path: string): Portfolio {
  return parsePortfolio(readText(path), path);
}
