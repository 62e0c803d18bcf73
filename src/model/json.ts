/**
 * JSON has no Infinity: `JSON.stringify(Infinity)` is `null`, which would silently turn an open-ended
 * margin tier or an uncapped volume fraction into 0 after a restore. Snapshots store ±Infinity as
 * ±Number.MAX_VALUE, which every comparison in the simulator treats the same way.
 */
export function finiteForJSON<T>(value: T): T {
  if (typeof value === 'number') {
    if (value === Infinity) return Number.MAX_VALUE as T;
    if (value === -Infinity) return -Number.MAX_VALUE as T;
    return value;
  }
  if (Array.isArray(value)) return value.map(finiteForJSON) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = finiteForJSON(v);
    return out as T;
  }
  return value;
}
