/**
 * The pre-trade risk gate: every order of a plan is checked, with rules of its own, before any intent is
 * written (after NautilusTrader's RiskEngine). It does not call the planner and does not read the plan's own
 * arithmetic (`notional`, `risk`): it recomputes what it checks from the snapshot, so a planner bug cannot
 * reach a venue. Pure: plain data in, a verdict out.
 *
 * Rules (each refusal names its rule and the numbers it compared):
 *   malformed         side, amount and price are present, finite and positive
 *   universe          the account is in the snapshot; a spot symbol is ASSET/QUOTE for an asset of the
 *                     portfolio; a perp is a class hedge, an index perp, or the perp of a class's asset
 *   orders-per-cycle  at most `risk.maxOrdersPerCycle` orders
 *   order-size        amount × contract size × touch ≤ `risk.maxOrderShare` × TPV
 *   cycle-turnover    Σ order notional ≤ `risk.maxCycleTurnover` × TPV
 *   price-collar      |price − touch| ≤ `risk.priceCollar` × touch (touch: spot price, perp mark)
 *   reduce-only       a reduce-only order is a perp order against the position the account holds, and the
 *                     reduce-only orders of a symbol add up to no more than that position
 *   spot-funds        spot sells ≤ the account's holding; spot buys ≤ its quote balance + its sell proceeds
 *   direction         an order that is not reduce-only moves its class toward the target, unless the class
 *                     ends the plan inside its band (skipped for the beta-neutral strategy, which sizes the
 *                     short class by beta, not by its target)
 *   leverage          Σ |perp notional| / equity of an account after the plan ≤ `risk.maxLeverage`
 *   margin            after the plan and an adverse `risk.stressMove` on every perp, maintenance < equity
 *                     (leverage and margin refuse only a plan that makes the account worse)
 *   churn             an order is never the exact opposite (account, symbol, amount, other side) of a fill of
 *                     the previous cycle, unless a trigger was crossed since: its class is outside its band,
 *                     a hedge is unwound because its class's spot alone is back inside the band, a hedge is
 *                     converted (its close comes with a spot trade of its class the other way), the account
 *                     fails the stress test, or the perp's funding is above `risk.maxFundingApr`. "The previous
 *                     cycle" is the caller's to say (the service: the last rebalance, if the last decision
 *                     started it)
 *
 * A plan with one refusal sends nothing (a planner that is wrong about one leg is not trusted with the others).
 */
import { money, num, pct } from '../core/format.js';
import { DEFAULT_PRETRADE, type Action, type Plan, type Portfolio, type PretradeLimits, type PretradeRefusal, type PretradeRule, type PretradeVerdict, type RiskConfig, type Snapshot, type Valuation } from '../core/types.js';
import { baseOf, marketRules, perpClasses, valuePortfolio } from '../core/valuation.js';

/** The gate's limits from the portfolio's `risk` section, defaults filled. */
export function pretradeLimits(risk: RiskConfig): PretradeLimits {
  return {
    maxOrderShare: risk.maxOrderShare ?? DEFAULT_PRETRADE.maxOrderShare,
    maxCycleTurnover: risk.maxCycleTurnover ?? DEFAULT_PRETRADE.maxCycleTurnover,
    priceCollar: risk.priceCollar ?? DEFAULT_PRETRADE.priceCollar,
    maxOrdersPerCycle: risk.maxOrdersPerCycle ?? DEFAULT_PRETRADE.maxOrdersPerCycle,
    maxRefusals: risk.maxRefusals ?? DEFAULT_PRETRADE.maxRefusals,
  };
}

/** A fill of the previous cycle, for the churn guard. */
export interface PreviousFill {
  account: string;
  symbol: string;
  side: 'buy' | 'sell';
  amount: number;
}

export interface PretradeContext {
  /** Fills of the previous cycle (empty: no churn check possible). */
  previousFills?: readonly PreviousFill[];
}

/** Relative slack for float comparisons of quantities the planner rounded. */
const EPS = 1e-9;

interface Order {
  leg: number;
  a: Action;
  account: string;
  symbol: string;
  side: 'buy' | 'sell';
  sign: 1 | -1;
  futures: boolean;
  /** Base asset of a spot order. */
  base: string;
  touch: number;
  contractSize: number;
  notional: number;
}

/** Check every order of `plan` against `portfolio`'s limits at `snapshot`'s prices. */
export function checkPlan(portfolio: Portfolio, snapshot: Snapshot, plan: Plan, ctx: PretradeContext = {}): PretradeVerdict {
  const limits = pretradeLimits(portfolio.risk);
  const q = portfolio.quote;
  const f = (x: number) => money(x, q);
  const refusals: PretradeRefusal[] = [];
  const refuse = (rule: PretradeRule, o: { leg: number; account: string | null; symbol: string | null } | null, message: string, numbers: Record<string, number>): void => {
    refusals.push({ rule, leg: o?.leg ?? null, account: o?.account ?? null, symbol: o?.symbol ?? null, message, numbers });
  };

  const valuation: Valuation = valuePortfolio(portfolio, snapshot);
  const tpv = valuation.tpv;
  const accounts = new Map(snapshot.accounts.map((a) => [a.name, a]));
  const spotAssets = new Set(portfolio.classes.flatMap((c) => c.assets).filter((a) => a !== q));

  // ---- shape and universe: an order that fails here is not checked further
  const no = (...args: Parameters<typeof refuse>): null => {
    refuse(...args);
    return null;
  };
  const shape = (a: Action, leg: number): Order | null => {
    const at = { leg, account: a.account, symbol: a.symbol };
    if (a.side !== 'buy' && a.side !== 'sell') return no('malformed', at, `leg ${leg}: side ${String(a.side)} is neither buy nor sell`, {});
    if (!(Number.isFinite(a.amount) && a.amount > 0)) return no('malformed', at, `leg ${leg}: amount ${a.amount} is not a positive number`, { amount: a.amount });
    if (!(Number.isFinite(a.price) && a.price > 0)) return no('malformed', at, `leg ${leg}: price ${a.price} is not a positive number`, { price: a.price });
    if (a.account === null || !accounts.has(a.account)) return no('universe', at, `leg ${leg}: account ${String(a.account)} is not an account of the snapshot`, {});
    if (a.symbol === null) return no('malformed', at, `leg ${leg}: no symbol`, {});
    const futures = a.type === 'futures';
    let touch: number | undefined;
    let base = '';
    if (futures) {
      if (!a.symbol.includes(':') || perpClasses(portfolio, a.symbol) === null) return no('universe', at, `leg ${leg}: ${a.symbol} is not a perp of the portfolio (no class hedge, index perp or class asset)`, {});
      touch = snapshot.marks[a.symbol];
    } else {
      base = baseOf(a.symbol);
      if (a.symbol !== `${base}/${q}` || !spotAssets.has(base)) return no('universe', at, `leg ${leg}: ${a.symbol} is not a spot market of a portfolio asset against ${q}`, {});
      touch = snapshot.prices[base];
    }
    if (touch === undefined || !(touch > 0)) return no('universe', at, `leg ${leg}: no ${futures ? 'mark' : 'price'} for ${a.symbol} in the snapshot`, {});
    const contractSize = futures ? marketRules(snapshot, a.symbol).contractSize : 1;
    return { leg, a, account: a.account, symbol: a.symbol, side: a.side, sign: a.side === 'buy' ? 1 : -1, futures, base, touch, contractSize, notional: a.amount * contractSize * touch };
  };
  const orders: Order[] = [];
  for (const [leg, a] of plan.actions.entries()) {
    if (a.type === 'wait') continue;
    const o = shape(a, leg);
    if (o) orders.push(o);
  }

  // ---- cycle rules
  const count = plan.actions.filter((a) => a.type !== 'wait').length;
  if (count > limits.maxOrdersPerCycle) {
    refuse('orders-per-cycle', null, `${count} orders in one cycle, above the limit of ${limits.maxOrdersPerCycle}`, { orders: count, limit: limits.maxOrdersPerCycle });
  }
  const turnover = orders.reduce((s, o) => s + o.notional, 0);
  if (turnover > limits.maxCycleTurnover * tpv * (1 + EPS)) {
    refuse('cycle-turnover', null, `orders add up to ${f(turnover)}, ${pct(turnover / tpv)} of TPV ${f(tpv)}, above the ${pct(limits.maxCycleTurnover)} limit per cycle`, {
      turnover,
      tpv,
      share: turnover / tpv,
      limit: limits.maxCycleTurnover,
    });
  }

  // ---- per-order rules
  for (const o of orders) {
    const at = { leg: o.leg, account: o.account, symbol: o.symbol };
    const what = `leg ${o.leg} (${o.side} ${num(o.a.amount)} ${o.symbol} on ${o.account})`;
    if (o.notional > limits.maxOrderShare * tpv * (1 + EPS)) {
      refuse('order-size', at, `${what}: notional ${f(o.notional)} is ${pct(o.notional / tpv)} of TPV ${f(tpv)}, above the ${pct(limits.maxOrderShare)} limit per order`, {
        notional: o.notional,
        tpv,
        share: o.notional / tpv,
        limit: limits.maxOrderShare,
      });
    }
    const off = Math.abs(o.a.price - o.touch) / o.touch;
    if (off > limits.priceCollar * (1 + EPS)) {
      refuse('price-collar', at, `${what}: price ${f(o.a.price)} is ${pct(off)} from the touch ${f(o.touch)}, outside the ${pct(limits.priceCollar)} collar`, {
        price: o.a.price,
        touch: o.touch,
        distance: off,
        limit: limits.priceCollar,
      });
    }
    if (o.a.reduceOnly && !o.futures) refuse('reduce-only', at, `${what}: reduce-only is a perp flag; a spot order cannot be reduce-only`, {});
  }

  // reduce-only: against the position held, in total per (account, symbol)
  const reducing = new Map<string, Order[]>();
  for (const o of orders) {
    if (!o.futures || !o.a.reduceOnly) continue;
    const k = `${o.account}\u0000${o.symbol}`;
    reducing.set(k, [...(reducing.get(k) ?? []), o]);
  }
  for (const group of reducing.values()) {
    const first = group[0]!;
    const held = accounts.get(first.account)!.positions.find((p) => p.symbol === first.symbol)?.contracts ?? 0;
    for (const o of group) {
      if (held === 0 || Math.sign(held) === o.sign) {
        refuse('reduce-only', { leg: o.leg, account: o.account, symbol: o.symbol }, `leg ${o.leg}: reduce-only ${o.side} of ${num(o.a.amount)} ${o.symbol} on ${o.account} would not reduce: the position is ${num(held)} contracts`, {
          amount: o.a.amount,
          position: held,
        });
      }
    }
    const total = group.filter((o) => Math.sign(held) === -o.sign).reduce((s, o) => s + o.a.amount, 0);
    if (held !== 0 && total > Math.abs(held) * (1 + EPS)) {
      refuse('reduce-only', { leg: first.leg, account: first.account, symbol: first.symbol }, `reduce-only orders of ${num(total)} ${first.symbol} on ${first.account} exceed the ${num(Math.abs(held))} contracts held`, {
        amount: total,
        position: held,
      });
    }
  }

  // spot funds per account
  for (const [name, acct] of accounts) {
    const mine = orders.filter((o) => !o.futures && o.account === name);
    if (mine.length === 0) continue;
    const sold = new Map<string, number>();
    let proceeds = 0;
    let spend = 0;
    for (const o of mine) {
      if (o.side === 'sell') {
        sold.set(o.base, (sold.get(o.base) ?? 0) + o.a.amount);
        proceeds += o.notional;
      } else {
        spend += o.notional;
      }
    }
    for (const [asset, amount] of sold) {
      const held = acct.balances[asset] ?? 0;
      if (amount > held * (1 + EPS)) {
        const leg = mine.find((o) => o.side === 'sell' && o.base === asset)!;
        refuse('spot-funds', { leg: leg.leg, account: name, symbol: leg.symbol }, `spot sells of ${num(amount)} ${asset} on ${name} exceed the ${num(held)} held (no short selling on spot)`, { amount, held });
      }
    }
    const cash = acct.balances[q] ?? 0;
    if (spend > (cash + proceeds) * (1 + EPS) + 1e-9) {
      const leg = mine.find((o) => o.side === 'buy')!;
      refuse('spot-funds', { leg: leg.leg, account: name, symbol: null }, `spot buys of ${f(spend)} on ${name} exceed its ${f(cash)} ${q} plus ${f(proceeds)} of sell proceeds`, { spend, cash, proceeds });
    }
  }

  // class exposure change of each order (signed), and each class after the whole plan
  const classDelta = (o: Order): Record<string, number> => {
    if (!o.futures) {
      const cls = portfolio.classes.find((c) => c.assets.includes(o.base));
      return cls ? { [cls.name]: o.sign * o.notional } : {};
    }
    const shares = perpClasses(portfolio, o.symbol) ?? {};
    return Object.fromEntries(Object.entries(shares).map(([c, s]) => [c, o.sign * o.notional * s]));
  };
  const after = new Map(valuation.classes.map((c) => [c.name, c.net]));
  for (const o of orders) for (const [c, d] of Object.entries(classDelta(o))) after.set(c, (after.get(c) ?? 0) + d);
  const insideAfter = (name: string): boolean => {
    const c = valuation.classes.find((x) => x.name === name);
    if (!c) return false;
    const w = (after.get(name) ?? 0) / tpv;
    return w >= c.lower - 1e-9 && w <= c.upper + 1e-9;
  };

  if (portfolio.strategy.type !== 'beta-neutral') {
    for (const o of orders) {
      if (o.a.reduceOnly) continue;
      const c = valuation.classes.find((x) => x.name === o.a.class);
      if (!c || c.cash) continue;
      const d = classDelta(o)[c.name] ?? 0;
      const away = (c.drift >= 0 && d > 0) || (c.drift <= 0 && d < 0);
      if (away && !insideAfter(c.name)) {
        refuse('direction', { leg: o.leg, account: o.account, symbol: o.symbol }, `leg ${o.leg}: ${o.side} ${num(o.a.amount)} ${o.symbol} moves ${c.name} away from its target (weight ${pct(c.weight)}, target ${pct(c.target)}) and the plan leaves it outside its band ${pct(c.lower)}–${pct(c.upper)}`, {
          weight: c.weight,
          target: c.target,
          change: d / tpv,
          weightAfter: (after.get(c.name) ?? 0) / tpv,
        });
      }
    }
  }

  // leverage and margin of each account with perp orders, before and after
  const stressBefore = new Map<string, number>();
  for (const [name, acct] of accounts) {
    const trades = orders.filter((o) => o.futures && o.account === name);
    const held = new Map<string, { qty: number; mark: number; entry: number; mmr: number }>();
    let equity = acct.balances[q] ?? 0;
    for (const p of acct.positions) {
      if (p.contracts === 0) continue;
      const mark = snapshot.marks[p.symbol];
      if (mark === undefined) continue;
      const qty = p.contracts * p.contractSize;
      equity += qty * (mark - p.entryPrice);
      held.set(p.symbol, { qty, mark, entry: p.entryPrice, mmr: marketRules(snapshot, p.symbol).maintenanceMarginRate });
    }
    const measure = (book: Map<string, { qty: number; mark: number; mmr: number }>) => {
      let gross = 0;
      let maint = 0;
      let eqStressed = equity;
      for (const p of book.values()) {
        if (p.qty === 0) continue;
        gross += Math.abs(p.qty) * p.mark;
        const stressed = p.qty < 0 ? p.mark * (1 + portfolio.risk.stressMove) : p.mark * (1 - portfolio.risk.stressMove);
        maint += Math.abs(p.qty) * stressed * p.mmr;
        eqStressed += p.qty * (stressed - p.mark);
      }
      const leverage = gross === 0 ? 0 : equity > 0 ? gross / equity : Infinity;
      const stress = gross === 0 ? 0 : eqStressed > 0 ? maint / eqStressed : Infinity;
      return { gross, leverage, stress, eqStressed, maint };
    };
    const before = measure(held);
    stressBefore.set(name, before.stress);
    if (trades.length === 0) continue;
    const book = new Map([...held].map(([s, p]) => [s, { ...p }]));
    for (const o of trades) {
      const p = book.get(o.symbol) ?? { qty: 0, mark: o.touch, entry: o.touch, mmr: marketRules(snapshot, o.symbol).maintenanceMarginRate };
      p.qty += o.sign * o.a.amount * o.contractSize;
      if (Math.abs(p.qty) < 1e-12) p.qty = 0;
      book.set(o.symbol, p);
    }
    const now = measure(book);
    const at = { leg: trades[0]!.leg, account: name, symbol: null };
    if (now.leverage > portfolio.risk.maxLeverage * (1 + 1e-6) && now.leverage > before.leverage * (1 + 1e-9)) {
      refuse('leverage', at, `${name} would carry ${num(now.leverage, 2)}x of perp notional (${f(now.gross)} on equity ${f(equity)}), above the ${num(portfolio.risk.maxLeverage, 2)}x cap`, {
        leverage: now.leverage,
        leverageBefore: before.leverage,
        gross: now.gross,
        equity,
        limit: portfolio.risk.maxLeverage,
      });
    }
    if (now.stress >= 1 && now.stress > before.stress * (1 + 1e-9)) {
      refuse('margin', at, `after a ${pct(portfolio.risk.stressMove, 0)} adverse move ${name}'s maintenance margin ${f(now.maint)} would reach its equity ${f(now.eqStressed)} (margin ratio ${pct(now.stress)})`, {
        marginRatio: now.stress,
        marginRatioBefore: before.stress,
        maintenance: now.maint,
        equity: now.eqStressed,
        stressMove: portfolio.risk.stressMove,
      });
    }
  }

  // churn guard
  for (const o of orders) {
    const prev = (ctx.previousFills ?? []).find((p) => p.account === o.account && p.symbol === o.symbol && p.side !== o.side && Math.abs(p.amount - o.a.amount) <= EPS * Math.max(p.amount, o.a.amount));
    if (!prev) continue;
    const c = valuation.classes.find((x) => x.name === o.a.class);
    const breached = c?.breach != null;
    // A hedge unwound because its class is back inside the band on a spot basis (prices moved it there).
    const spotInside = o.a.reduceOnly && c !== undefined && c.spot / tpv >= c.lower - 1e-9 && c.spot / tpv <= c.upper + 1e-9;
    const stressed = o.futures && (stressBefore.get(o.account) ?? 0) >= 1;
    const rate = o.futures ? snapshot.funding[o.symbol] : undefined;
    const fundingApr = rate ? Math.abs(rate.rate) * (8760 / rate.intervalHours) : 0;
    const expensive = o.futures && fundingApr > portfolio.risk.maxFundingApr;
    // A conversion: the hedge's close comes with a spot trade of the same class in the other direction, so
    // the class's exposure does not move back (the hedge becomes spot; nothing is undone).
    const converted = o.a.reduceOnly && orders.some((x) => !x.futures && x.a.class === o.a.class && x.side !== o.side);
    if (breached || spotInside || stressed || expensive || converted) continue;
    refuse('churn', { leg: o.leg, account: o.account, symbol: o.symbol }, `leg ${o.leg}: ${o.side} ${num(o.a.amount)} ${o.symbol} on ${o.account} exactly undoes the previous cycle's ${prev.side} fill, and no trigger was crossed since (${o.a.class} is inside its band)`, {
      amount: o.a.amount,
      previousAmount: prev.amount,
      ...(c ? { weight: c.weight, lower: c.lower, upper: c.upper } : {}),
    });
  }

  refusals.sort((a, b) => (a.leg ?? -1) - (b.leg ?? -1));
  return { ok: refusals.length === 0, orders: count, turnover, refusals };
}
