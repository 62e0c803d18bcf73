/**
 * /metrics in the Prometheus text format (prom-client), computed at scrape time from the read model. Each API
 * instance has its own Registry (no global state). Names:
 *
 *   ballast_tpv{quote}                          total portfolio value
 *   ballast_class_weight{class}                 net exposure / TPV
 *   ballast_class_target{class}, ballast_class_band_lower{class}, ballast_class_band_upper{class}
 *   ballast_class_drift{class}                  weight − target
 *   ballast_class_breach{class}                 1 when outside its band
 *   ballast_class_net_exposure{class}, ballast_class_futures_notional{class}
 *   ballast_hedge_notional{account,symbol}      |notional| of each open futures position
 *   ballast_hedges_open                         open hedges in the journal
 *   ballast_margin_ratio{account,scenario}      maintenance / equity, now and after the stress move (last plan)
 *   ballast_orders_total                        order intents ever journaled
 *   ballast_orders_live                         intents still working (NEW … UNKNOWN)
 *   ballast_fills_total                         fills journaled
 *   ballast_funding_net_total{quote}            net funding (+ received, − paid)
 *   ballast_errors_total{source}                journal alerts; API 5xx answers
 *   ballast_feed_age_seconds{account}           age of the oldest input of the last snapshot / live feed
 *   ballast_feed_stale{account}                 1 when older than the limit
 *   ballast_trading_state{state}                1 for the current state (ACTIVE / REDUCING / HALTED)
 *   ballast_last_cycle_timestamp_seconds        when the last cycle ran
 *   ballast_pretrade_refusals_total{rule}       orders/plans the pre-trade gate refused (this process), by rule
 *   ballast_pretrade_refusals_in_a_row          plans refused in a row (risk.maxRefusals of them → REDUCING)
 *   ballast_api_requests_total{route,method,status}
 */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Service } from '../../service/service.js';
import type { ReadModel } from './read-model.js';

export interface ApiMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'status'>;
  apiErrors: { count: number };
}

interface StatusShape {
  feed: { venues: { account: string; ageMs: number | null; stale: boolean }[] };
}

export function createMetrics(model: ReadModel, service: Service): ApiMetrics {
  const registry = new Registry();
  const apiErrors = { count: 0 };
  const opts = { registers: [registry] };

  new Gauge({
    name: 'ballast_tpv',
    help: 'Total portfolio value in the quote currency (spot value + futures wallet + unrealised PnL)',
    labelNames: ['quote'],
    ...opts,
    collect() {
      this.reset();
      const v = model.valuation();
      if (v) this.set({ quote: v.valuation.quote }, v.valuation.tpv);
    },
  });

  const perClass = (name: string, help: string, pick: (c: { weight: number; target: number; lower: number; upper: number; drift: number; breach: unknown; net: number; futures: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['class'],
      ...opts,
      collect() {
        this.reset();
        const v = model.valuation();
        if (v) for (const c of v.valuation.classes) this.set({ class: c.name }, pick(c));
      },
    });
  perClass('ballast_class_weight', 'Net exposure of the class / TPV', (c) => c.weight);
  perClass('ballast_class_target', 'Target weight of the class', (c) => c.target);
  perClass('ballast_class_band_lower', 'Lower trigger of the tolerance band', (c) => c.lower);
  perClass('ballast_class_band_upper', 'Upper trigger of the tolerance band', (c) => c.upper);
  perClass('ballast_class_drift', 'Weight minus target', (c) => c.drift);
  perClass('ballast_class_breach', '1 when the class is outside its band', (c) => (c.breach ? 1 : 0));
  perClass('ballast_class_net_exposure', 'Spot value + signed futures notional of the class', (c) => c.net);
  perClass('ballast_class_futures_notional', 'Signed futures notional mapped to the class', (c) => c.futures);

  new Gauge({
    name: 'ballast_hedge_notional',
    help: 'Absolute notional of each open futures position',
    labelNames: ['account', 'symbol'],
    ...opts,
    collect() {
      this.reset();
      const v = model.valuation();
      if (v) for (const p of v.valuation.positions) this.set({ account: p.account, symbol: p.symbol }, Math.abs(p.notional));
    },
  });

  new Gauge({
    name: 'ballast_margin_ratio',
    help: 'Maintenance margin / equity of each futures account (last plan), now and after the stress move',
    labelNames: ['account', 'scenario'],
    ...opts,
    collect() {
      this.reset();
      const plan = service.lastCycle?.plan;
      if (!plan) return;
      for (const [a, r] of Object.entries(plan.risk.marginRatio)) {
        if (Number.isFinite(r.now)) this.set({ account: a, scenario: 'now' }, r.now);
        if (Number.isFinite(r.stressed)) this.set({ account: a, scenario: 'stressed' }, r.stressed);
      }
    },
  });

  // Journal counts: read once per scrape.
  let counts: ReturnType<ReadModel['metrics']> | null = null;
  const journalCounts = () => (counts ??= model.metrics());

  new Gauge({
    name: 'ballast_hedges_open',
    help: 'Open hedges in the journal',
    ...opts,
    collect() {
      this.set(journalCounts().hedgesOpen);
    },
  });
  new Counter({
    name: 'ballast_orders_total',
    help: 'Order intents journaled',
    ...opts,
    collect() {
      this.reset();
      this.inc(journalCounts().orders);
    },
  });
  new Gauge({
    name: 'ballast_orders_live',
    help: 'Order intents still working (NEW, SUBMITTING, OPEN, PARTIALLY_FILLED, CANCELING, UNKNOWN)',
    ...opts,
    collect() {
      this.set(journalCounts().liveOrders);
    },
  });
  new Counter({
    name: 'ballast_fills_total',
    help: 'Fills journaled',
    ...opts,
    collect() {
      this.reset();
      this.inc(journalCounts().fills);
    },
  });
  new Gauge({
    name: 'ballast_funding_net_total',
    help: 'Net funding over all journaled payments (+ received, - paid)',
    labelNames: ['quote'],
    ...opts,
    collect() {
      this.reset();
      this.set({ quote: model.portfolioConfig.quote }, journalCounts().fundingTotal);
    },
  });
  new Counter({
    name: 'ballast_errors_total',
    help: 'Errors: alerts in the journal (venue down, lost orders, mismatches, external fills) and API 5xx answers',
    labelNames: ['source'],
    ...opts,
    collect() {
      this.reset();
      this.inc({ source: 'journal_alert' }, journalCounts().alerts);
      this.inc({ source: 'api' }, apiErrors.count);
    },
  });

  const feedOf = () => (model.status() as StatusShape).feed.venues;
  new Gauge({
    name: 'ballast_feed_age_seconds',
    help: 'Age of the oldest market/account input behind the last valuation',
    labelNames: ['account'],
    ...opts,
    collect() {
      this.reset();
      for (const v of feedOf()) if (v.ageMs !== null) this.set({ account: v.account }, v.ageMs / 1000);
    },
  });
  new Gauge({
    name: 'ballast_feed_stale',
    help: '1 when the inputs are older than the limit (no trading on them)',
    labelNames: ['account'],
    ...opts,
    collect() {
      this.reset();
      for (const v of feedOf()) this.set({ account: v.account }, v.stale ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ballast_trading_state',
    help: 'Trading state: 1 for the current one',
    labelNames: ['state'],
    ...opts,
    collect() {
      const s = service.state().state;
      for (const x of ['ACTIVE', 'REDUCING', 'HALTED'] as const) this.set({ state: x }, s === x ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ballast_last_cycle_timestamp_seconds',
    help: 'Time of the last cycle (epoch seconds)',
    ...opts,
    collect() {
      this.reset();
      const c = service.lastCycle;
      if (c) this.set(c.time / 1000);
    },
  });
  new Counter({
    name: 'ballast_pretrade_refusals_total',
    help: 'Refusals of the pre-trade risk gate since the service started, by rule (a refused plan sends nothing)',
    labelNames: ['rule'],
    ...opts,
    collect() {
      this.reset();
      for (const [rule, n] of service.pretradeRefusals) this.inc({ rule }, n);
    },
  });
  new Gauge({
    name: 'ballast_pretrade_refusals_in_a_row',
    help: 'Plans refused in a row by the pre-trade risk gate (risk.maxRefusals of them put trading in REDUCING)',
    ...opts,
    collect() {
      this.set(service.refusalsInARow);
    },
  });
  const requests = new Counter({ name: 'ballast_api_requests_total', help: 'API requests answered', labelNames: ['route', 'method', 'status'], ...opts });

  // Reset the per-scrape cache before each collection.
  const metrics = registry.metrics.bind(registry);
  registry.metrics = async () => {
    counts = null;
    return metrics();
  };
  return { registry, requests, apiErrors };
}
