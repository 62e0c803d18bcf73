/**
 * The chosen configuration as a ready portfolio file: the user's own file with only the settings the cell
 * changes rewritten (through yaml's Document API, so every other field, its order and its comments stay
 * as written). The text written is parsed back and must give exactly the portfolio the sweep ran.
 */
import { parseDocument } from 'yaml';
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
  want.classes.forEach((c, i) => {
    if (!sameBand(c.band, base.classes[i]!.band)) doc.setIn(['classes', i, 'band'], doc.createNode(bandValue(c.band)));
    // With an instrument set by the cell, every class runs on it (under futures, spot without a hedge perp).
    if (c.instrument !== base.classes[i]!.instrument) {
      if (c.instrument === undefined) doc.deleteIn(['classes', i, 'instrument']);
      else doc.setIn(['classes', i, 'instrument'], c.instrument);
    }
  });
  const r = want.rebalance;
  if (cell.mode !== undefined) doc.setIn(['rebalance', 'mode'], r.mode);
  if (cell.schedule !== undefined) doc.setIn(['rebalance', 'schedule'], r.schedule);
  if (cell.to !== undefined) doc.setIn(['rebalance', 'to'], r.to);
  if (cell.instrument !== undefined) doc.setIn(['execution', 'instrument'], want.execution.instrument);
  if (cell.hedgeRatio !== undefined) doc.setIn(['execution', 'hedgeRatio'], want.execution.hedgeRatio);
  if (cell.maxFundingApr !== undefined) doc.setIn(['risk', 'maxFundingApr'], fmtPct(want.risk.maxFundingApr));
  if (cell.instrument !== undefined && base.strategy.type === 'core-satellite') doc.setIn(['strategy'], doc.createNode({ type: 'targets' }));
  const json = /\.json$/i.test(fileName) || originalText.trimStart().startsWith('{');
  let text: string;
  if (json) text = `${JSON.stringify(doc.toJS(), null, 2)}\n`;
  else {
    if (header) doc.commentBefore = doc.commentBefore ? `${header}\n${doc.commentBefore}` : header;
    text = doc.toString({ flowCollectionPadding: false });
  }
  const back = parsePortfolio(text, `${fileName} (as written by ballast tune)`);
  if (canonicalJson(rounded(back)) !== canonicalJson(rounded(want))) {
    throw new Error(`writing ${cellLabel(cell)} into ${fileName}: the written file does not read back as the configuration that was tuned`);
  }
  return text;
}
