/**
 * Structured logs (pino) that never carry a secret.
 *
 *   createLogger({ level, file, pretty, stream })   JSON lines to a file (mode 0600, appended,
 *                                                   written synchronously so a crash loses nothing)
 *                                                   or to stderr; human-readable on a TTY.
 *   registerSecret(value)                           a value (API key, secret, password, webhook
 *                                                   token) that must never appear in any output
 *   scrub(value) / scrubText(text)                  the same cleaning, for other outputs (webhook
 *                                                   payloads, error messages, API answers)
 *
 * Three layers, so a secret is caught whatever shape it comes in:
 *  1. pino `redact` on the well-known paths (apiKey, secret, password, signature, headers.X-MBX-APIKEY,
 *     authorization, token …), censor `[REDACTED]`;
 *  2. a deep scrub of every logged object and child binding: any field whose NAME looks like a
 *     credential (SECRET_FIELD) at any depth becomes `[REDACTED]`; Errors (and their causes) are
 *     turned into plain objects and scrubbed the same way;
 *  3. the output stream itself replaces every registered secret value (raw or JSON-escaped) with
 *     `[REDACTED]`, which also covers messages, stack traces and printf arguments.
 */
import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import { pino, type DestinationStream, type LevelWithSilent, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export const REDACTED = '[REDACTED]';

/** The part of a logger that adapters need (a pino Logger is one). */
export interface SmallLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
  debug?(obj: Record<string, unknown>, msg: string): void;
}

/** Field names treated as credentials at any depth (substring match, case-insensitive). */
const SECRET_SUBSTRING =
  /(api[-_]?key|apikey|api[-_]?secret|secret|password|passwd|passphrase|signature|authorization|token|cookie|private[-_]?key|credential|access[-_]?key)/i;
/** Short field names that are credentials only as a whole word (venue signing headers among them). */
const SECRET_EXACT = /^(key|sign|uid|x-mbx-apikey|ok-access-key|ok-access-sign|ok-access-passphrase|x-bapi-api-key|x-bapi-sign|x-mexc-apikey|x-bx-apikey)$/i;

export function isSecretField(name: string): boolean {
  return SECRET_SUBSTRING.test(name) || SECRET_EXACT.test(name);
}

/** pino `redact` paths (layer 1). The deep scrub (layer 2) covers every other depth. */
export const REDACT_PATHS: string[] = (() => {
  const fields = ['apiKey', 'secret', 'password', 'passphrase', 'signature', 'authorization', 'token', 'privateKey', 'uid'];
  const headers = ['headers["X-MBX-APIKEY"]', 'headers.authorization', 'headers.Authorization', 'headers["OK-ACCESS-KEY"]', 'headers["OK-ACCESS-SIGN"]', 'headers["OK-ACCESS-PASSPHRASE"]', 'headers["X-BAPI-API-KEY"]', 'headers["X-BAPI-SIGN"]'];
  const top = [...fields, ...headers];
  return [...top, ...top.map((p) => `*.${p}`)];
})();

// ------------------------------------------------------------------ registered secret values

const MIN_SECRET_LENGTH = 6;
const secrets = new Set<string>();
/** Raw and JSON-escaped forms, longest first (a secret containing another is replaced whole). */
let needles: string[] = [];

/**
 * Never print this value anywhere: logs, webhook payloads, error output. Values shorter than 6
 * characters are refused (they would censor ordinary text); call this for every key loaded.
 */
export function registerSecret(value: string): void {
  if (typeof value !== 'string' || value.length < MIN_SECRET_LENGTH || secrets.has(value)) return;
  secrets.add(value);
  const forms = new Set<string>();
  for (const s of secrets) {
    forms.add(s);
    forms.add(JSON.stringify(s).slice(1, -1));
    forms.add(JSON.stringify(JSON.stringify(s)).slice(1, -1)); // a JSON string inside a JSON string
    forms.add(encodeURIComponent(s));
  }
  needles = [...forms].filter((f) => f.length >= MIN_SECRET_LENGTH).sort((a, b) => b.length - a.length);
}

/** For tests: forget every registered secret. */
export function clearSecrets(): void {
  secrets.clear();
  needles = [];
}

/** Replaces every registered secret in `text`. */
export function scrubText(text: string): string {
  if (needles.length === 0) return text;
  let out = text;
  for (const n of needles) if (out.includes(n)) out = out.split(n).join(REDACTED);
  return out;
}

// ------------------------------------------------------------------ deep scrub

const MAX_DEPTH = 12;

/**
 * A JSON-safe copy of `value` with credential fields replaced by `[REDACTED]` at any depth and every
 * registered secret removed from strings. Errors become `{ type, message, stack, ...fields, cause }`.
 */
export function scrub(value: unknown): unknown {
  return scrubValue(value, 0, new WeakSet());
}

function scrubValue(v: unknown, depth: number, seen: WeakSet<object>): unknown {
  switch (typeof v) {
    case 'string':
      return scrubText(v);
    case 'number':
    case 'boolean':
    case 'undefined':
      return v;
    case 'bigint':
      return v.toString();
    case 'symbol':
      return v.toString();
    case 'function':
      return undefined;
  }
  if (v === null) return null;
  const obj = v as object;
  if (seen.has(obj)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[Too deep]';
  seen.add(obj);
  try {
    if (obj instanceof Error) return scrubError(obj, depth, seen);
    if (obj instanceof Date) return Number.isFinite(obj.getTime()) ? obj.toISOString() : 'Invalid Date';
    if (obj instanceof Uint8Array || obj instanceof ArrayBuffer) return `[binary ${obj.byteLength} bytes]`;
    if (Array.isArray(obj)) return obj.map((x) => scrubValue(x, depth + 1, seen));
    if (obj instanceof Map || isHeadersLike(obj)) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of (obj as Map<unknown, unknown>).entries()) out[String(k)] = scrubField(String(k), x, depth, seen);
      return out;
    }
    if (obj instanceof Set) return [...obj].map((x) => scrubValue(x, depth + 1, seen));
    const toJSON = (obj as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return scrubValue(toJSON.call(obj), depth + 1, seen);
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(obj)) out[k] = scrubField(k, (obj as Record<string, unknown>)[k], depth, seen);
    return out;
  } finally {
    seen.delete(obj);
  }
}

function scrubField(k: string, x: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (isSecretField(k) && x !== null && x !== undefined && typeof x !== 'boolean') return REDACTED;
  return scrubValue(x, depth + 1, seen);
}

function isHeadersLike(o: object): boolean {
  return typeof (o as { entries?: unknown }).entries === 'function' && typeof (o as { get?: unknown }).get === 'function' && typeof (o as { has?: unknown }).has === 'function';
}

function scrubError(e: Error, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  const out: Record<string, unknown> = { type: e.name || e.constructor?.name || 'Error', message: scrubText(String(e.message)) };
  if (e.stack) out.stack = scrubText(e.stack);
  for (const k of Object.keys(e)) {
    if (k === 'message' || k === 'stack') continue;
    out[k] = scrubField(k, (e as unknown as Record<string, unknown>)[k], depth, seen);
  }
  if (e.cause !== undefined) out.cause = scrubValue(e.cause, depth + 1, seen);
  return out;
}

// ------------------------------------------------------------------ streams

interface Writable {
  write(chunk: string): unknown;
  flush?(cb?: (err?: Error) => void): unknown;
  flushSync?(): unknown;
  end?(): unknown;
}

/** Layer 3: a stream that removes registered secrets from every line before passing it on. */
export function scrubbingStream(dest: Writable): DestinationStream & { flushSync(): void; end(): void } {
  return {
    write(chunk: string) {
      dest.write(scrubText(chunk));
    },
    flushSync() {
      dest.flushSync?.();
    },
    end() {
      dest.end?.();
    },
  };
}

export interface LogOptions {
  /** Default 'info'. */
  level?: LevelWithSilent;
  /** Append JSON lines to this file (created with mode 0600). Default: stderr. */
  file?: string;
  /** Human-readable output. Default: true when writing to stderr and stderr is a TTY. Needs pino-pretty; falls back to JSON. */
  pretty?: boolean;
  /** Write here instead of a file or stderr (tests, embedding). */
  stream?: Writable;
  /** Extra fields on every line (e.g. { service: 'ballast' }); scrubbed like everything else. */
  base?: Record<string, unknown>;
}

function prettyStream(): Writable | null {
  try {
    const require = createRequire(import.meta.url);
    const build = require('pino-pretty') as (o: Record<string, unknown>) => Writable;
    return build({ destination: 2, sync: true, colorize: true, translateTime: 'SYS:standard' });
  } catch {
    return null; // pino-pretty is a dev dependency; production installs log JSON
  }
}

export function createLogger(opts: LogOptions = {}): Logger {
  let dest: Writable;
  if (opts.stream) dest = opts.stream;
  else if (opts.file) dest = pino.destination({ dest: opts.file, sync: true, mkdir: true, append: true, mode: 0o600 } as Parameters<typeof pino.destination>[0]);
  else {
    const wantPretty = opts.pretty ?? process.stderr.isTTY === true;
    dest = (wantPretty && prettyStream()) || pino.destination({ dest: 2, sync: true });
  }
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: REDACTED },
    formatters: {
      log: (obj) => scrub(obj) as Record<string, unknown>,
      bindings: (b) => scrub(b) as Record<string, unknown>,
    },
    serializers: {
      // Errors were already turned into scrubbed plain objects by formatters.log.
      err: (e: unknown) => e,
      error: (e: unknown) => e,
    },
    ...(opts.base ? { base: { pid: process.pid, hostname: hostname(), ...(scrub(opts.base) as Record<string, unknown>) } } : {}),
  };
  return pino(options, scrubbingStream(dest));
}
