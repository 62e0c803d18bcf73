/**
 * The chosen configuration as a ready portfolio file: the user's own file with only the settings the cell
 * changes rewritten (through yaml's Document API, so every other field, its order and its comments stay
 * as written). The text written is parsed back and must give exactly the portfolio the sweep ran.
 */
import { isScalar, parseDocument } from 'yaml';
import { parsePortfolio } from '../adapters/files/portfolio.js';
import type { Band } from '../core/types.js';
import { canonicalJson } from './results.js';
import { applyCell, cellLabel, fmtPct, type Cell } from './grid.js';

/** Numbers to 12 significant digits: a percentage written as text reads back within float rounding. */
function rounded(v: unknown): unknown {
  if (typeof v === 'number') return Number(v.toPrecision(12));
  if (Array.isArray(v)) return v.map(rounded);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, rounded(x)]));
  return v;
}

function bandValue(b: Band): unknown {
  return b.kind === 'absolute' ? fmtPct(b.width) : { relative: fmtPct(b.fraction) };
}

function sameBand(a: Band, b: Band): boolean {
  return a.kind === b.kind && (a.kind === 'absolute' ? a.width === (b as typeof a).width : a.fraction === (b as Extract<Band, { kind: 'relative' }>).fraction);
}

/**
 * The text of `originalText` (a portfolio file, YAML or JSON) with `cell` applied. `fileName` names the
 * original in errors. Throws when the result does not read back as the cell's portfolio.
 */
export function writePortfolio(originalText: string, fileName: string, cell: Cell, header?: string): string {
  const base = parsePortfolio(originalText, fileName);
  const want = applyCell(base, cell);
  const doc = parseDocument(originalText);
  // The edits, as (path, value). A scalar replacing a scalar is spliced into the original text (nothing
  // else moves); any other change (a missing key, a band that becomes a mapping, a deleted key) is made
  // on the Document, which keeps fields and comments but may re-space flow collections.
  const edits: { path: (string | number)[]; value: unknown }[] = [];
  want.classes.forEach((c, i) => {
    if (!sameBand(c.band, base.classes[i]!.band)) edits.push({ path: ['classes', i, 'band'], value: bandValue(c.band) });
    // With an instrument set by the cell, every class runs on it (under futures, spot without a hedge perp).
    if (c.instrument !== base.classes[i]!.instrument) edits.push({ path: ['classes', i, 'instrument'], value: c.instrument });
  });
  const r = want.rebalance;
  if (cell.mode !== undefined) edits.push({ path: ['rebalance', 'mode'], value: r.mode });
  if (cell.schedule !== undefined) edits.push({ path: ['rebalance', 'schedule'], value: r.schedule });
  if (cell.to !== undefined) edits.push({ path: ['rebalance', 'to'], value: r.to });
  if (cell.instrument !== undefined) edits.push({ path: ['execution', 'instrument'], value: want.execution.instrument });
  if (cell.hedgeRatio !== undefined) edits.push({ path: ['execution', 'hedgeRatio'], value: want.execution.hedgeRatio });
  if (cell.maxFundingApr !== undefined) edits.push({ path: ['risk', 'maxFundingApr'], value: fmtPct(want.risk.maxFundingApr) });
  if (cell.instrument !== undefined && base.strategy.type === 'core-satellite') edits.push({ path: ['strategy'], value: { type: 'targets' } });

  const json = /\.json$/i.test(fileName) || originalText.trimStart().startsWith('{');
  const splices: { start: number; end: number; text: string }[] = [];
  let structural = false;
  for (const e of edits) {
    const node = doc.getIn(e.path, true);
    const scalarValue = typeof e.value === 'string' || typeof e.value === 'number';
    if (isScalar(node) && node.range && scalarValue && !json) {
      // Plain scalars only: every value written here (a percentage, a mode, a number) needs no quotes.
      splices.push({ start: node.range[0], end: node.range[1], text: String(e.value) });
    } else {
      structural = true;
    }
  }
  let text: string;
  if (json) {
    for (const e of edits) {
      if (e.value === undefined) doc.deleteIn(e.path);
      else doc.setIn(e.path, doc.createNode(e.value));
    }
    text = `${JSON.stringify(doc.toJS(), null, 2)}\n`;
  } else if (!structural) {
    text = originalText;
    for (const s of splices.sort((a, b) => b.start - a.start)) text = text.slice(0, s.start) + s.text + text.slice(s.end);
    if (header) text = `${header.split('\n').map((l) => `#${l}`).join('\n')}\n\n${text}`;
  } else {
    for (const e of edits) {
      if (e.value === undefined) doc.deleteIn(e.path);
      else doc.setIn(e.path, doc.createNode(e.value));
    }
    if (header) doc.commentBefore = doc.commentBefore ? `${header}\n\n${doc.commentBefore}` : header;
    text = doc.toString();
  }
  const back = parsePortfolio(text, `${fileName} (as written by ballast tune)`);
  if (canonicalJson(rounded(back)) !== canonicalJson(rounded(want))) {
    throw new Error(`writing ${cellLabel(cell)} into ${fileName}: the written file does not read back as the configuration that was tuned`);
  }
  return text;
}
