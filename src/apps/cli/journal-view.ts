/**
 * `ballast journal` and the kill switch on the command line.
 *
 *   journalReport(j, o)        the trading state, the run summary and the latest events (decisions with their
 *                              explanation summary, orders, fills, state changes, commands, alerts) as text or JSON
 *   setTradingStateCommand()   halt / reduce-only / resume: writes the trading state to the journal with who, when
 *                              and why (one transaction: command event, state, state-change event). A running
 *                              service reads the state from the journal before every cycle and every order.
 */
import { existsSync } from 'node:fs';
import { amount } from '../../core/format.js';
import { isPostgresUrl, openJournal } from '../../adapters/journal/open.js';
import type { Clock } from '../../ports/clock.js';
import { systemClock } from '../../ports/clock.js';
import type { EventType, Journal, JournalEvent, TradingState, TradingStateRecord } from '../../ports/journal.js';
import { summarizeJournal, summaryLines } from '../../service/summary.js';
import { UsageError } from './errors.js';

/** Event types shown by `ballast journal` (snapshots, reconciliations and executions are left out unless --all). */
export const SHOWN_TYPES: readonly EventType[] = ['decision', 'order', 'fill', 'funding', 'hedge', 'state', 'command', 'alert'];

/** Open an existing journal (never creates a SQLite file); `portfolio` picks one portfolio of a Postgres journal. */
export function openExistingJournal(path: string, clock: Clock = systemClock, portfolio?: string): Journal {
  if (isPostgresUrl(path)) return openJournal(path, { clock, ...(portfolio !== undefined ? { portfolio } : {}) });
  if (portfolio !== undefined) throw new UsageError(`--portfolio ${portfolio}: portfolios live in a Postgres journal (--db postgres://…), not in ${path}`);
  if (!existsSync(path)) throw new UsageError(`no journal at ${path} (start one with \`ballast run --db ${path}\`)`);
  return openJournal(path, { clock });
}

const iso = (t: number): string => (Number.isFinite(t) ? new Date(t).toISOString().replace('.000Z', 'Z') : String(t));
const num = (x: unknown): string => (typeof x === 'number' ? String(+x.toPrecision(10)) : String(x));

interface DecisionPayload {
  status?: string;
  trigger?: string;
  reason?: string;
  tpv?: number;
  state?: string;
  explanation?: string[];
  actions?: Array<{ type: string; side: string | null; amount: number; symbol: string | null; reason: string }>;
}

/** A decision in one line, plus its explanation summary (the actions' arithmetic, or why nothing was done). */
export function decisionLines(p: DecisionPayload): string[] {
  const head = [`${p.status ?? '?'}`, p.trigger ? `— ${p.trigger}` : '', typeof p.tpv === 'number' ? `TPV ${amount(p.tpv)}` : '', p.state && p.state !== 'ACTIVE' ? `[${p.state}]` : '']
    .filter(Boolean)
    .join(' ');
  const actions = (p.actions ?? []).filter((a) => a.type !== 'wait' || a.reason);
  const more: string[] = [];
  if (actions.length > 0) for (const a of actions) more.push(`    · ${a.reason}`);
  else if (p.reason) more.push(`    · ${p.reason}`);
  else {
    const special = (p.explanation ?? []).find((l) => /STALE|HALTED|REDUCING|not due/i.test(l));
    if (special) more.push(`    · ${special.trim()}`);
  }
  // The class weights the decision saw, from the explanation's "<class>: … weight W% (target T%)" lines.
  const weights = (p.explanation ?? []).flatMap((l) => {
    const m = /^([^:]+): .*?weight (-?[\d.]+%)/.exec(l.trim());
    return m ? [`${m[1]} ${m[2]}`] : [];
  });
  if (weights.length > 0) more.push(`    · weights: ${weights.join(', ')}`);
  return [head, ...more];
}

/** One event as text (first line, then indented detail lines). */
export function eventLines(e: JournalEvent): string[] {
  const p = (e.payload ?? {}) as Record<string, unknown>;
  const at = `#${e.id} ${iso(e.time)} ${e.type.padEnd(8)}${e.account ? ` ${e.account}` : ''}`;
  switch (e.type) {
    case 'decision': {
      const [head, ...rest] = decisionLines(p as DecisionPayload);
      return [`${at}  ${head}`, ...rest];
    }
    case 'order': {
      const i = p.intent as { side?: string; amount?: number; symbol?: string; type?: string; price?: number | null } | undefined;
      const what = i ? `  ${i.side} ${num(i.amount)} ${i.symbol} ${i.type}${i.price != null ? ` @ ${num(i.price)}` : ''}` : '';
      const filled = typeof p.filled === 'number' && p.filled > 0 ? `  filled ${num(p.filled)}` : '';
      const why = typeof p.reason === 'string' && p.reason ? `  (${p.reason})` : typeof p.note === 'string' ? `  (${p.note})` : '';
      return [`${at}  ${p.clientOrderId} ${p.from ?? '∅'} → ${p.to}${what}${filled}${why}`];
    }
    case 'fill':
      return [
        `${at}  ${p.side} ${num(p.amount)} ${p.symbol} at ${num(p.price)}, fee ${num(p.fee)} ${p.feeCurrency}  trade ${p.tradeId} order ${p.clientOrderId ?? p.venueOrderId}${p.external ? ' EXTERNAL' : ''}${p.liquidation ? ' LIQUIDATION' : ''}`,
      ];
    case 'state':
      if (typeof p.to === 'string') return [`${at}  ${p.from ?? '?'} → ${p.to} by ${p.by}: ${p.reason}`];
      if (typeof p.service === 'string') return [`${at}  service ${p.service}`];
      return [`${at}  ${JSON.stringify(p)}`];
    case 'command':
      return [`${at}  ${p.command} by ${p.by}: ${p.reason}`];
    default:
      return [`${at}  ${JSON.stringify(p).slice(0, 300)}`];
  }
}

export interface JournalReportOptions {
  limit: number;
  json?: boolean;
  /** Every event type (snapshots, reconciliations, executions too). */
  all?: boolean;
  /** Quote currency for the summary. Default USDT. */
  quote?: string;
}

/** Latest `limit` events of the shown types, oldest first. */
export function recentEvents(j: Journal, limit: number, all = false): JournalEvent[] {
  const types = all ? null : new Set<EventType>(SHOWN_TYPES);
  // Newest first, bounded: read by type and merge (the events table is indexed by type and time).
  const batches = all ? [j.events({ limit })] : SHOWN_TYPES.map((type) => j.events({ type, limit }));
  return batches
    .flat()
    .filter((e) => !types || types.has(e.type))
    .sort((a, b) => b.id - a.id)
    .slice(0, limit)
    .reverse();
}

export function journalReport(j: Journal, o: JournalReportOptions): string {
  const events = recentEvents(j, o.limit, o.all);
  const summary = summarizeJournal(j);
  if (o.json) return JSON.stringify({ tradingState: summary.tradingState, summary, events }, null, 2);
  const ts = summary.tradingState;
  const lines = [`journal ${j.location}`, `trading state ${ts.state} (by ${ts.by} at ${iso(ts.at)}: ${ts.reason})`, '', 'summary', ...summaryLines(summary, o.quote ?? 'USDT'), '', `latest ${events.length} event(s), oldest first`];
  for (const e of events) lines.push(...eventLines(e));
  return lines.join('\n');
}

export interface StateCommandResult {
  previous: TradingStateRecord;
  current: TradingStateRecord;
}

const COMMAND: Record<TradingState, string> = { HALTED: 'halt', REDUCING: 'reduce-only', ACTIVE: 'resume' };

/** The kill switch: write the trading state, journaled with who, when and why. */
export function setTradingStateCommand(j: Journal, state: TradingState, by: string, reason: string, clock: Clock = systemClock): StateCommandResult {
  const now = clock.now();
  const previous = j.tradingState();
  const current: TradingStateRecord = { state, by, at: now, reason };
  j.transaction(() => {
    j.appendEvent({ time: now, type: 'command', payload: { command: COMMAND[state], by, reason } });
    j.setTradingState(current);
    j.appendEvent({ time: now, type: 'state', payload: { from: previous.state, to: state, by, reason } });
  });
  return { previous, current };
}
