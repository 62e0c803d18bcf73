/**
 * API keys: where they come from, how they are held, and whether they are safe to use.
 *
 * Sources (never the portfolio file, never the journal):
 * - environment: `BALLAST_<ACCOUNT>_API_KEY`, `BALLAST_<ACCOUNT>_API_SECRET` and, for OKX,
 *   `BALLAST_<ACCOUNT>_API_PASSWORD`, where <ACCOUNT> is the account name upper-cased with every
 *   character outside [A-Z0-9] replaced by `_` (account "okx-main" → `BALLAST_OKX_MAIN_API_KEY`);
 * - a key file: JSON `{ "apiKey": "…", "secret": "…", "password": "…"? }` whose permission bits
 *   give nothing to group or others (0600 or stricter). A looser file is refused with an error that
 *   names the file and its mode — and never its content.
 *
 * Every value is wrapped in a `Secret`: printing it in any way (String(), template literals,
 * JSON.stringify, console.log / util.inspect, pino) shows `[REDACTED]`; only `.reveal()` returns it.
 *
 * `checkKeyPermissions(exchange)` asks the venue what the key may do (Binance
 * `GET /sapi/v1/account/apiRestrictions` → `enableWithdrawals`, transfers: `enableInternalTransfer` /
 * `permitsUniversalTransfer`; Bybit `GET /v5/user/query-api` → `permissions.Wallet` containing
 * "Withdraw", transfers: "AccountTransfer" / "SubMemberTransfer"; OKX `GET /api/v5/account/config` →
 * `perm` containing "withdraw") and refuses a key that can withdraw with `WithdrawalPermissionError`.
 * It FAILS CLOSED: when the venue's answer cannot be read, the key is refused with
 * `UnverifiedKeyError`, unless the caller passes `allowUnverified` (the user's explicit flag).
 */

import { readFile, stat } from 'node:fs/promises';
import { inspect } from 'node:util';
import { registerSecret } from './log.js';

const REDACTED = '[REDACTED]';

/** A secret string that refuses to be printed. */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    if (typeof value !== 'string') throw new TypeError('Secret: value must be a string');
    this.#value = value;
    // Every secret value is scrubbed from logs and error text from the moment it is loaded.
    registerSecret(value);
  }

  /** The secret value. Call only where it is handed to the venue client. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }
}

export interface ApiCredentials {
  apiKey: Secret;
  secret: Secret;
  /** OKX passphrase. */
  password?: Secret;
  /** Where the keys came from, for messages: `env:BALLAST_X_API_KEY` or the key file path. Never a value. */
  source: string;
}

/** Every revealed value of a credential set (to scrub from error messages). */
export function secretValues(c: ApiCredentials | undefined): string[] {
  if (!c) return [];
  return [c.apiKey, c.secret, c.password].filter((s): s is Secret => s !== undefined).map((s) => s.reveal());
}

/** A problem with a key source. The message names the file or variable, never a key value. */
export class KeyError extends Error {
  override name = 'KeyError';
}

/** The key is allowed to withdraw funds: ballast refuses to use it. */
export class WithdrawalPermissionError extends Error {
  override name = 'WithdrawalPermissionError';
  readonly exchange: string;

  constructor(exchange: string, detail: string) {
    super(
      `${exchange}: this API key can WITHDRAW funds (${detail}). ballast refuses keys with withdrawal permission: ` +
        'create a key with trading (and reading) permission only.',
    );
    this.exchange = exchange;
  }
}

/** The venue's answer about the key could not be read: refused unless the user says otherwise. */
export class UnverifiedKeyError extends KeyError {
  override name = 'UnverifiedKeyError';
  readonly exchange: string;

  constructor(exchange: string, detail: string) {
    super(
      `${exchange}: cannot verify that this API key cannot withdraw (${detail}). ballast refuses keys it cannot check; ` +
        'make sure the key has trading (and reading) permission only, then start with --allow-unverified-keys to use it anyway.',
    );
    this.exchange = exchange;
  }
}

/** `okx-main` → `BALLAST_OKX_MAIN`. */
export function envPrefix(account: string): string {
  if (account.length === 0) throw new KeyError('account name must not be empty');
  return `BALLAST_${account.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * Keys from the environment, or undefined when neither the key nor the secret variable is set.
 * Throws KeyError when only one of them is set (a half-configured account is a mistake, not "no key").
 */
export function credentialsFromEnv(account: string, env: NodeJS.ProcessEnv = process.env): ApiCredentials | undefined {
  const p = envPrefix(account);
  const key = env[`${p}_API_KEY`];
  const secret = env[`${p}_API_SECRET`];
  const password = env[`${p}_API_PASSWORD`];
  const has = (v: string | undefined): v is string => typeof v === 'string' && v.length > 0;
  if (!has(key) && !has(secret)) return undefined;
  if (!has(key) || !has(secret)) {
    throw new KeyError(`account ${account}: set both ${p}_API_KEY and ${p}_API_SECRET (only ${has(key) ? `${p}_API_KEY` : `${p}_API_SECRET`} is set)`);
  }
  return {
    apiKey: new Secret(key),
    secret: new Secret(secret),
    ...(has(password) ? { password: new Secret(password) } : {}),
    source: `env:${p}_API_KEY`,
  };
}

const modeString = (mode: number): string => '0' + (mode & 0o777).toString(8).padStart(3, '0');

/**
 * Keys from a JSON key file. Refuses (KeyError) a file readable or writable by group or others,
 * a file that is not a regular file, unparsable JSON, or missing fields — naming the file, its mode
 * or the field, never a value.
 */
export async function credentialsFromFile(path: string): Promise<ApiCredentials> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    throw new KeyError(`key file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (!st.isFile()) throw new KeyError(`key file ${path}: not a regular file`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new KeyError(
      `key file ${path} has mode ${modeString(st.mode)}: it must be 0600 or stricter (readable by its owner only). Fix: chmod 600 ${path}`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    // JSON.parse messages can quote the file's text: report only the kind of problem.
    const what = err instanceof SyntaxError ? 'not valid JSON' : `cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
    throw new KeyError(`key file ${path}: ${what}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KeyError(`key file ${path}: expected a JSON object { "apiKey", "secret", "password"? }`);
  }
  const o = parsed as Record<string, unknown>;
  const field = (name: string, required: boolean): Secret | undefined => {
    const v = o[name];
    if (v === undefined && !required) return undefined;
    if (typeof v !== 'string' || v.length === 0) throw new KeyError(`key file ${path}: field "${name}" must be a non-empty string`);
    return new Secret(v);
  };
  const apiKey = field('apiKey', true)!;
  const secret = field('secret', true)!;
  const password = field('password', false);
  return { apiKey, secret, ...(password ? { password } : {}), source: path };
}

export interface KeySourceOptions {
  /** Account name (for the environment variables). */
  account: string;
  /** Key file path; when given it is the only source used. */
  keyFile?: string;
  env?: NodeJS.ProcessEnv;
  /** Venue id: OKX needs a password. */
  venue?: string;
}

/** Keys for an account: the key file when given, else the environment. Throws KeyError if none or incomplete. */
export async function loadCredentials(o: KeySourceOptions): Promise<ApiCredentials> {
  const c = o.keyFile !== undefined ? await credentialsFromFile(o.keyFile) : credentialsFromEnv(o.account, o.env);
  if (!c) {
    const p = envPrefix(o.account);
    throw new KeyError(`account ${o.account}: no API key: set ${p}_API_KEY and ${p}_API_SECRET, or give a key file (mode 0600)`);
  }
  if (o.venue === 'okx' && !c.password) {
    throw new KeyError(`account ${o.account}: OKX needs a passphrase: set ${envPrefix(o.account)}_API_PASSWORD or "password" in the key file (${c.source})`);
  }
  return c;
}

// ================================================================== permissions

/** What the venue says about a key. `canWithdraw: null` = the venue does not say. */
export interface KeyPermissions {
  canWithdraw: boolean | null;
  /** Transfers between the account's wallets / sub-accounts; null = the venue does not say. */
  canTransfer?: boolean | null;
  /** Plain-language source of the answer, e.g. "apiRestrictions.enableWithdrawals = false". */
  detail: string;
}

export type KeyCheck = { verified: true; detail: string; canTransfer?: boolean | null } | { verified: false; detail: string; canTransfer?: boolean | null };

/** Anything that can ask its venue about the key (CcxtExchange does). */
export interface KeyPermissionSource {
  readonly id: string;
  fetchKeyPermissions(): Promise<KeyPermissions>;
}

/**
 * Refuse a key that can withdraw (throws WithdrawalPermissionError). Returns `{ verified: true }`
 * when the venue confirmed the key cannot withdraw. When the venue's answer does not say, throws
 * UnverifiedKeyError — unless `allowUnverified` (the user's explicit flag), then returns
 * `{ verified: false, detail: 'cannot verify …' }`. Transfer rights are reported in `canTransfer`
 * (and the detail); they are not refused. Venue errors propagate (typed port errors).
 */
export async function checkKeyPermissions(exchange: KeyPermissionSource, o: { allowUnverified?: boolean } = {}): Promise<KeyCheck> {
  const p = await exchange.fetchKeyPermissions();
  if (p.canWithdraw === true) throw new WithdrawalPermissionError(exchange.id, p.detail);
  const canTransfer = p.canTransfer ?? null;
  const transfer = canTransfer === true ? '; it CAN transfer between wallets' : canTransfer === false ? '; it cannot transfer' : '';
  if (p.canWithdraw === false) return { verified: true, detail: `${exchange.id}: key cannot withdraw (${p.detail})${transfer}`, canTransfer };
  if (o.allowUnverified !== true) throw new UnverifiedKeyError(exchange.id, p.detail);
  return { verified: false, detail: `${exchange.id}: cannot verify whether this key can withdraw (${p.detail})`, canTransfer };
}
