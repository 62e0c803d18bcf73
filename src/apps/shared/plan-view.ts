/** How a plan is shown: a table a beginner can check by hand, or one JSON object. */
import { fractionOut, marginRatioText, money, moneyOut, num, pct } from '../../core/format.js';
import type { Plan, PretradeVerdict } from '../../core/types.js';

type ClassRow = Plan['valuation']['classes'][number];
type PositionRow = Plan['valuation']['positions'][number];

/** One class of a valuation as `plan --json` (and the API) show it. */
export function classJson(c: ClassRow) {
  return {
    name: c.name,
    cash: c.cash,
    target: fractionOut(c.target),
    lower: fractionOut(c.lower),
    upper: fractionOut(c.upper),
    spot: moneyOut(c.spot),
    futures: moneyOut(c.futures),
    net: moneyOut(c.net),
    weight: fractionOut(c.weight),
    drift: fractionOut(c.drift),
    breach: c.breach,
    deviation: moneyOut(c.deviation),
  };
}

/** One futures position of a valuation as `plan --json` (and the API) show it. */
export function positionJson(p: PositionRow) {
  return {
    account: p.account,
    symbol: p.symbol,
    contracts: p.contracts,
    notional: moneyOut(p.notional),
    mark: p.mark,
    entryPrice: p.entryPrice,
    unrealizedPnl: moneyOut(p.unrealizedPnl),
    classes: p.classes,
  };
}

export type PlanJson = ReturnType<typeof planToJson>;

export function planToJson(plan: Plan) {
  const v = plan.valuation;
  return {
    time: new Date(plan.time).toISOString(),
    status: plan.status,
    trigger: plan.trigger,
    quote: v.quote,
    tpv: moneyOut(v.tpv),
    spotValue: moneyOut(v.spotValue),
    unrealizedPnl: moneyOut(v.unrealizedPnl),
    classes: v.classes.map(classJson),
    positions: v.positions.map(positionJson),
    actions: plan.actions.map((a) => ({
      type: a.type,
      class: a.class,
      account: a.account,
      symbol: a.symbol,
      side: a.side,
      notional: moneyOut(a.notional),
      amount: a.amount,
      price: a.price,
      reduceOnly: a.reduceOnly,
      ...(a.lots ? { lots: a.lots.map((l) => ({ ...l, acquired: new Date(l.acquired).toISOString() })), tax: a.tax } : {}),
      reason: a.reason,
    })),
    rejected: plan.rejected,
    risk: { ...plan.risk, marginRequired: moneyOut(plan.risk.marginRequired) },
    tax: plan.tax ? { modelled: true, ...plan.tax } : { modelled: false, note: 'no tax: section in the portfolio: tax is not modelled' },
    explanation: plan.explanation,
    ...(plan.pretrade ? { pretrade: plan.pretrade } : {}),
  };
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

/** The pre-trade risk gate's verdict as lines of a plan's text. */
export function verdictLines(v: PretradeVerdict, quote: string): string[] {
  if (v.ok) return [`Pre-trade risk gate: passed (${v.orders} order${v.orders === 1 ? '' : 's'}, ${money(v.turnover, quote)} in total).`];
  return [
    `Pre-trade risk gate: REFUSED, nothing is sent (${v.refusals.length} refusal${v.refusals.length === 1 ? '' : 's'}):`,
    ...v.refusals.map((r) => `  [${r.rule}] ${r.message}`),
  ];
}

export function planToText(plan: Plan): string {
  const v = plan.valuation;
  const f = (x: number) => money(x, v.quote);
  const out: string[] = [];
  out.push(`Snapshot ${new Date(plan.time).toISOString()}   TPV ${f(v.tpv)}   (spot ${f(v.spotValue)}, unrealised futures PnL ${f(v.unrealizedPnl)})`);
  out.push('');
  const head = ['class', 'target', 'band', 'spot', 'futures', 'net', 'weight', 'drift', 'breach', 'outside band'];
  const rows = v.classes.map((c) => [
    c.cash ? `${c.name} (cash)` : c.name,
    pct(c.target),
    `${pct(c.lower)}–${pct(c.upper)}`,
    f(c.spot),
    f(c.futures),
    f(c.net),
    pct(c.weight),
    `${c.drift >= 0 ? '+' : ''}${pct(c.drift)}`,
    c.breach ?? '-',
    c.breach ? f(c.deviation) : '-',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!, i > 0 && i !== 8)).join('  ');
  out.push(line(head));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) out.push(line(r));
  if (v.positions.length > 0) {
    out.push('');
    out.push('Open futures positions');
    for (const p of v.positions) {
      out.push(`  ${p.account} ${p.symbol} ${num(p.contracts)} contracts, notional ${f(p.notional)} at mark ${f(p.mark)}, entry ${f(p.entryPrice)}, uPnL ${f(p.unrealizedPnl)} → ${Object.entries(p.classes).map(([k, w]) => `${k} ${pct(w, 0)}`).join(', ')}`);
    }
  }
  out.push('');
  out.push('How it adds up');
  for (const e of plan.explanation) out.push(`  ${e}`);
  out.push('');
  out.push(`Trigger: ${plan.trigger}   Status: ${plan.status}`);
  out.push('');
  if (plan.actions.length === 0) {
    out.push('Actions: none.');
  } else {
    out.push('Actions (in execution order)');
    plan.actions.forEach((a, i) => {
      const what =
        a.type === 'wait'
          ? `WAIT ${a.class}`
          : `${a.side!.toUpperCase()} ${num(a.amount)} ${a.symbol} ${a.type}${a.reduceOnly ? ' reduce-only' : ''}${a.account ? ` on ${a.account}` : ''} ≈ ${f(a.notional)}`;
      out.push(`  ${i + 1}. ${what}`);
      out.push(`     ${a.reason}`);
    });
  }
  out.push('');
  if (plan.tax) {
    const t = plan.tax;
    const unknown = Object.entries(t.uncovered).map(([a, q]) => `${num(q)} ${a}`);
    out.push(`Tax: spot sells realise short-term ${f(t.shortTermGain)} and long-term ${f(t.longTermGain)}; tax estimate ${f(t.tax)}${unknown.length > 0 ? `; sold without lots (unknown cost basis, not counted): ${unknown.join(', ')}` : ''}`);
    for (const a of plan.actions) {
      if (!a.lots) continue;
      out.push(`  ${a.symbol}${a.account ? ` on ${a.account}` : ''}: tax ${f(a.tax ?? 0)}`);
      for (const l of a.lots) out.push(`    ${num(l.qty)} acquired ${new Date(l.acquired).toISOString().slice(0, 10)}: proceeds ${f(l.proceeds)} − cost basis ${f(l.costBasis)} = ${l.gain >= 0 ? 'gain' : 'loss'} ${f(l.gain)}, ${l.term}-term`);
    }
  } else {
    out.push('Tax: not modelled (no tax: section in the portfolio).');
  }
  if (plan.rejected.length > 0) {
    out.push('');
    out.push('Rejected or skipped');
    for (const r of plan.rejected) out.push(`  - ${r.class} ${r.alternative}${r.symbol ? ` ${r.symbol}` : ''}: ${r.reason}`);
  }
  out.push('');
  const liq = Object.entries(plan.risk.liquidationPrices);
  out.push(`Risk: margin required ${f(plan.risk.marginRequired)} of ${f(plan.risk.marginAvailable)} available; max leverage ${plan.risk.maxLeverage}x`);
  for (const [s, p] of liq) out.push(`  ${s}: liquidation ${p === null ? 'none' : f(p)}`);
  for (const [a, r] of Object.entries(plan.risk.marginRatio)) out.push(`  ${a}: ${marginRatioText(r.now)} now, ${marginRatioText(r.stressed)} after the stress move`);
  if (plan.pretrade) {
    out.push('');
    out.push(...verdictLines(plan.pretrade, v.quote));
  }
  return out.join('\n');
}
