/// <reference lib="dom" />
/** Small DOM helpers: elements from tag + props + children, never innerHTML with data. */
import { money } from '../../core/format.js';

type Child = Node | string | number | null | undefined | false;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Record<string, string | number | boolean | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') e.className = String(v);
    else if (k === 'text') e.textContent = String(v);
    else if (k === 'style') e.setAttribute('style', String(v));
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(typeof c === 'number' ? String(c) : c);
  return e;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} missing`);
  return e as T;
}

export function clear(e: Element): void {
  e.replaceChildren();
}

/** `2024-03-10 00:00 UTC` (`short`: without ` UTC`, for table columns whose header says so) */
export function fmtTime(ms: number | null | undefined, short = false): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')}${short ? '' : ' UTC'}`;
}

/** `3 s`, `5 min`, `2 h`, `3 d` */
export function fmtAge(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  const a = Math.abs(ms);
  const s = a < 60_000 ? `${Math.round(a / 1000)} s` : a < 3_600_000 ? `${Math.round(a / 60_000)} min` : a < 86_400_000 ? `${(a / 3_600_000).toFixed(1)} h` : `${(a / 86_400_000).toFixed(1)} d`;
  return ms < 0 ? `${s} in the future` : s;
}

/** A price with four significant digits (at least two decimals): `$64,210.50`, `$0.3105`, `$0.00001234`. */
export function price(x: number, quote: string): string {
  const a = Math.abs(x);
  if (!Number.isFinite(x) || a === 0) return money(x, quote);
  return money(x, quote, Math.min(10, Math.max(2, 3 - Math.floor(Math.log10(a)))));
}
