/**
 * Client order ids, derived — never random — from (rebalance id, leg, slice, attempt), so the id of an order
 * is known and saved before it is sent, and an order found on the venue can be traced back to its intent.
 *
 *   prefix + base36(rebalance, 8) + base36(leg, 3) + base36(slice, 3) + base36(attempt, 2)
 *   e.g. 'bl' + '0000002s' + '001' + '000' + '01' = 'bl0000002s00100001'
 *
 * Fixed-width lower-case base36 fields, alphanumeric only: at most 8 + 16 = 24 characters, accepted by every
 * venue ballast targets (OKX clOrdId: alphanumeric ≤ 32; Binance newClientOrderId ≤ 36; Bybit orderLinkId ≤ 36).
 */

export interface ClientIdFields {
  rebalanceId: number;
  leg: number;
  slice: number;
  attempt: number;
}

export const DEFAULT_PREFIX = 'bl';
const WIDTH = { rebalanceId: 8, leg: 3, slice: 3, attempt: 2 } as const;
const FIELDS = ['rebalanceId', 'leg', 'slice', 'attempt'] as const;
const PREFIX_RE = /^[A-Za-z][A-Za-z0-9]{0,7}$/;

export class ClientIdError extends RangeError {
  override name = 'ClientIdError';
}

export function checkPrefix(prefix: string): void {
  if (!PREFIX_RE.test(prefix)) throw new ClientIdError(`client order id prefix must be 1–8 letters or digits starting with a letter, got '${prefix}'`);
}

/** The client order id of an intent. Throws ClientIdError when a field is out of range. */
export function clientOrderId(fields: ClientIdFields, prefix = DEFAULT_PREFIX): string {
  checkPrefix(prefix);
  let out = prefix;
  for (const f of FIELDS) {
    const v = fields[f];
    const max = 36 ** WIDTH[f];
    if (!Number.isInteger(v) || v < 0 || v >= max) throw new ClientIdError(`client order id: ${f} must be an integer in [0, ${max}), got ${v}`);
    out += v.toString(36).padStart(WIDTH[f], '0');
  }
  return out;
}

/** The fields of one of our ids (same prefix), or null for anyone else's id (manual orders, other bots, null). */
export function parseClientOrderId(id: string | null | undefined, prefix = DEFAULT_PREFIX): ClientIdFields | null {
  if (typeof id !== 'string' || !id.startsWith(prefix)) return null;
  const body = id.slice(prefix.length);
  if (body.length !== 16 || !/^[0-9a-z]+$/.test(body)) return null;
  const out: Partial<Record<(typeof FIELDS)[number], number>> = {};
  let at = 0;
  for (const f of FIELDS) {
    out[f] = parseInt(body.slice(at, at + WIDTH[f]), 36);
    at += WIDTH[f];
  }
  return out as ClientIdFields;
}

/** True when `id` is one of ours. */
export function isOurs(id: string | null | undefined, prefix = DEFAULT_PREFIX): boolean {
  return parseClientOrderId(id, prefix) !== null;
}
