/**
 * `ballast tax-report`: one row per lot a sale realised (asset, acquired, sold, quantity, proceeds, cost
 * basis, gain, term), totals per year, and realised perp P&L and funding per year — for a backtest policy
 * (its fills) or for a service journal (its fills and funding payments). Lots follow the portfolio's
 * `tax:` section (method, rates, holding period).
 *
 * From a journal: fills in time order per account; a spot buy is a lot at (cost + fee) / amount, a spot
 * sell realises lots at (cost − fee) / amount (a fee charged in another currency than the quote is valued
 * at the fill price when it is the base, and ignored otherwise, with a note). Perp P&L is realised against
 * the average entry of the position, less the perp fee; funding payments are taken as journaled.
 */
import { writeFileSync } from 'node:fs';
import { futuresTax, taxOn, type TaxConfig } from '../../core/lots.js';
import type { FillRecord, FundingRecord } from '../../ports/journal.js';
import { TaxBook, type TaxSale, type TaxSummary, type TaxYear } from '../../backtest/taxbook.js';

export interface TaxReport {
  source: string;
  config: TaxConfig;
  sales: (TaxSale & { account: string })[];
  years: TaxYear[];
  tax: number;
  notes: string[];
}

/** A backtest policy's tax summary as a report. */
export function reportFromSummary(source: string, s: TaxSummary, account = 'backtest'): TaxReport {
  return { source, config: s.config, sales: s.sales.map((x) => ({ ...x, account })), years: s.years, tax: s.tax, notes: [] };
}

/** Lots, sales and perp P&L from journal fills and funding payments. */
export function reportFromJournal(source: string, config: TaxConfig, quote: string, fills: readonly FillRecord[], funding: readonly FundingRecord[]): TaxReport {
  const notes: string[] = [];
  const books = new Map<string, { book: TaxBook; assets: string[] }>();
  // Assets per account, so each account's book has fixed indices (0 = the quote).
  const assetsOf = new Map<string, string[]>();
  for (const f of fills) {
    if (f.symbol.includes(':')) continue;
    const base = f.symbol.split('/')[0]!;
    const list = assetsOf.get(f.account) ?? [quote];
    if (!list.includes(base)) list.push(base);
    assetsOf.set(f.account, list);
  }
  const bookOf = (account: string) => {
    let b = books.get(account);
    if (!b) {
      const assets = assetsOf.get(account) ?? [quote];
      b = { book: new TaxBook(config, assets), assets };
      books.set(account, b);
    }
    return b;
  };
  const perp = new Map<string, { qty: number; entry: number }>();
  // Perp P&L and funding go to one book (they are summed per year over every account).
  const perpBook = new TaxBook(config, [quote]);
  const sorted = [...fills].sort((a, b) => a.time - b.time);
  let foreignFees = 0;
  for (const f of sorted) {
    const base = f.symbol.split('/')[0]!;
    const feeQuote = f.feeCurrency === quote ? f.fee : f.feeCurrency === base ? f.fee * f.price : (foreignFees++, 0);
    if (f.symbol.includes(':')) {
      const key = `${f.account} ${f.symbol}`;
      const p = perp.get(key) ?? { qty: 0, entry: 0 };
      const signed = f.side === 'buy' ? f.amount : -f.amount;
      let realised = 0;
      if (p.qty === 0 || Math.sign(signed) === Math.sign(p.qty)) {
        const total = Math.abs(p.qty) + Math.abs(signed);
        p.entry = (p.entry * Math.abs(p.qty) + f.price * Math.abs(signed)) / total;
        p.qty += signed;
      } else {
        const closed = Math.min(Math.abs(signed), Math.abs(p.qty));
        realised = closed * (f.price - p.entry) * Math.sign(p.qty);
        const rest = Math.abs(signed) - closed;
        p.qty += Math.sign(signed) * closed;
        if (rest > 0) {
          p.qty = Math.sign(signed) * rest;
          p.entry = f.price;
        }
      }
      perp.set(key, p);
      perpBook.perpPnl(f.time, realised - feeQuote);
      continue;
    }
    const b = bookOf(f.account);
    const idx = b.assets.indexOf(base);
    if (f.amount <= 0) continue;
    if (f.side === 'buy') b.book.buy(idx, f.time, f.amount, (f.cost + feeQuote) / f.amount);
    else b.book.sell(idx, f.time, f.amount, (f.cost - feeQuote) / f.amount);
  }
  for (const x of funding) perpBook.funding(x.time, x.amount);
  if (foreignFees > 0) notes.push(`${foreignFees} fills paid their fee in a third currency; those fees are left out of cost basis and proceeds`);
  const sales: TaxReport['sales'] = [];
  const years = new Map<number, TaxYear>();
  const merge = (y: TaxYear) => {
    const e = years.get(y.year) ?? { year: y.year, shortTerm: 0, longTerm: 0, spotTax: 0, perpPnl: 0, funding: 0, futuresTax: 0 };
    e.shortTerm += y.shortTerm;
    e.longTerm += y.longTerm;
    e.perpPnl += y.perpPnl;
    e.funding += y.funding;
    years.set(y.year, e);
  };
  for (const [account, b] of [...books].sort((x, y) => x[0].localeCompare(y[0]))) {
    const s = b.book.summary(Number.MAX_SAFE_INTEGER, b.assets.map(() => 0));
    for (const [asset, qty] of Object.entries(b.book.uncovered)) notes.push(`${account}: ${q(qty)} ${asset} sold without a lot in the journal (bought before it began): not in the report`);
    for (const x of s.sales) sales.push({ ...x, account });
    for (const y of s.years) merge(y);
  }
  for (const y of perpBook.summary(0, [0]).years) merge(y);
  // Tax per year over all accounts together (gains of one taxpayer offset each other).
  const out = [...years.values()].sort((a, b) => a.year - b.year);
  for (const y of out) {
    y.spotTax = taxOn(y, config);
    y.futuresTax = futuresTax(y.perpPnl + y.funding, config);
  }
  sales.sort((a, b) => a.sold - b.sold || a.acquired - b.acquired);
  return { source, config, sales, years: out, tax: out.reduce((s, y) => s + y.spotTax + y.futuresTax, 0), notes };
}

/** Keep the sales and years of one calendar year. */
export function onlyYear(r: TaxReport, year: number): TaxReport {
  const years = r.years.filter((y) => y.year === year);
  return { ...r, sales: r.sales.filter((s) => new Date(s.sold).getUTCFullYear() === year), years, tax: years.reduce((s, y) => s + y.spotTax + y.futuresTax, 0) };
}

const day = (t: number) => new Date(t).toISOString().slice(0, 10);
const m2 = (x: number) => x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const q = (x: number) => String(Number(x.toPrecision(10)));

export function taxReportText(r: TaxReport, quote: string): string {
  const c = r.config;
  const out: string[] = [];
  out.push(`Tax report — ${r.source}`);
  out.push(`${c.method} lots; short-term ${(c.shortTermRate * 100).toFixed(2)} %, long-term ${(c.longTermRate * 100).toFixed(2)} % (held more than ${c.longTermAfterDays} days); perp P&L and funding ${(c.futuresRate * 100).toFixed(2)} %. Money in ${quote}.`);
  out.push('');
  const head = ['account', 'asset', 'acquired', 'sold', 'qty', 'proceeds', 'cost basis', 'gain', 'term'];
  const rows = r.sales.map((s) => [s.account, s.asset, day(s.acquired), day(s.sold), q(s.qty), m2(s.proceeds), m2(s.costBasis), m2(s.gain), s.term]);
  const table = (h: string[], rs: string[][]) => {
    const w = h.map((x, i) => Math.max(x.length, ...rs.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((x, i) => (i >= 4 && i <= 7 ? x.padStart(w[i]!) : x.padEnd(w[i]!))).join('  ');
    return [line(h), w.map((n) => '-'.repeat(n)).join('  '), ...rs.map(line)];
  };
  if (rows.length === 0) out.push('No spot sales.');
  else if (rows.length > 200) {
    out.push(`${rows.length} lot sales (the first 100 and the last 100 shown; --csv writes all):`);
    out.push(...table(head, [...rows.slice(0, 100), head.map(() => '…'), ...rows.slice(-100)]));
  } else out.push(...table(head, rows));
  out.push('');
  out.push('Per year');
  const yh = ['year', 'short-term', 'long-term', 'spot tax', 'perp P&L', 'funding', 'futures tax', 'tax'];
  const yr = r.years.map((y) => [String(y.year), m2(y.shortTerm), m2(y.longTerm), m2(y.spotTax), m2(y.perpPnl), m2(y.funding), m2(y.futuresTax), m2(y.spotTax + y.futuresTax)]);
  const w = yh.map((x, i) => Math.max(x.length, ...yr.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  out.push(line(yh), w.map((n) => '-'.repeat(n)).join('  '), ...yr.map(line));
  out.push('');
  out.push(`Total tax ${m2(r.tax)} ${quote}. Losses offset gains within a year (a net loss of one term offsets the other term's gain); no loss is carried into the next year. Perp P&L is net of perp fees.`);
  for (const n of r.notes) out.push(`Note: ${n}.`);
  return out.join('\n');
}

export function writeTaxCsv(file: string, r: TaxReport): void {
  const lines = ['account,asset,acquired,sold,qty,proceeds,costBasis,gain,term'];
  for (const s of r.sales) lines.push([s.account, s.asset, new Date(s.acquired).toISOString(), new Date(s.sold).toISOString(), s.qty, s.proceeds.toFixed(8), s.costBasis.toFixed(8), s.gain.toFixed(8), s.term].join(','));
  writeFileSync(file, lines.join('\n') + '\n');
}
