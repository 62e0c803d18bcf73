/**
 * The API's bearer token and where it may listen.
 *
 * - The token is 32 random bytes (base64url, 43 characters), generated on first run into a file created with
 *   mode 0600 (its folder 0700) and reused after. A token file readable by group or others, or holding fewer
 *   than 32 bytes' worth of token, is refused with a message saying how to fix it — never silently used.
 * - Tokens are compared in constant time (crypto.timingSafeEqual over SHA-256 digests, so the comparison
 *   does not leak the length either).
 * - The API binds to loopback unless `allowRemote` is set explicitly.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname } from 'node:path';

export const TOKEN_BYTES = 32;
/** base64url length of TOKEN_BYTES bytes. */
export const MIN_TOKEN_LENGTH = Math.ceil((TOKEN_BYTES * 4) / 3);

export class ApiConfigError extends Error {
  override name = 'ApiConfigError';
}

export function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

/**
 * Read the token from `file`, creating it (0600, folder 0700) with a fresh token when missing.
 * Returns the token and whether it was created now.
 */
export function loadOrCreateToken(file: string): { token: string; created: boolean } {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const token = generateToken();
    let fd: number;
    try {
      // 'wx': fail if another process created it in between (then read theirs below).
      fd = openSync(file, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      return { token: readToken(file), created: false };
    }
    try {
      writeSync(fd, `${token}\n`);
      // The umask cannot widen 0600, but a pre-set ACL or odd umask could narrow it oddly: set it exactly.
      if ((fstatSync(fd).mode & 0o777) !== 0o600) chmodSync(file, 0o600);
    } finally {
      closeSync(fd);
    }
    return { token, created: true };
  }
  return { token: readToken(file), created: false };
}

function readToken(file: string): string {
  const st = statSync(file);
  if (!st.isFile()) throw new ApiConfigError(`API token file ${file} is not a regular file`);
  if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
    throw new ApiConfigError(
      `API token file ${file} is readable by other users (mode ${(st.mode & 0o777).toString(8).padStart(3, '0')}); ` +
        `run \`chmod 600 ${file}\`, or delete it to have a new token generated`,
    );
  }
  const token = readFileSync(file, 'utf8').trim();
  if (!/^[A-Za-z0-9_-]+$/.test(token) || token.length < MIN_TOKEN_LENGTH) {
    throw new ApiConfigError(`API token file ${file} does not hold a token of at least ${TOKEN_BYTES} random bytes (base64url, ${MIN_TOKEN_LENGTH}+ characters); delete it to have one generated`);
  }
  return token;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Constant-time check of a presented token against the expected one. */
export function tokenMatches(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerOf(header: string | string[] | undefined): string | null {
  if (typeof header !== 'string') return null;
  const m = /^Bearer[ ]+([^\s]+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

/** True for 127.0.0.0/8, ::1, ::ffff:127.x and `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h) || h === '0:0:0:0:0:0:0:1';
  return false;
}

/** Throws unless `host` is loopback or remote binding was asked for explicitly. */
export function checkBind(host: string, allowRemote: boolean | undefined): void {
  if (isLoopback(host)) return;
  if (allowRemote !== true) {
    throw new ApiConfigError(
      `refusing to bind the API to ${host}: it would be reachable from other machines. ` +
        `Bind to 127.0.0.1 (the default), or pass the explicit remote flag (allowRemote) — every request still needs the bearer token`,
    );
  }
}
