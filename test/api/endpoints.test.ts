/**
 * Every read endpoint's shape, on the seed's first example run through the service: BTC at 58% of $100,000
 * breaches 55%; the cycle sells 0.137 BTC (≈ $8,000) at $58,000; the next cycle finds BTC back at ~50%.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { cls, portfolio as makePortfolio } from '../core/builders.js';
import { ACCOUNT, PERP, quietly, SPOT } from '../execution/helpers.js';
import { apiWorld, type ApiWorld } from './helpers.js';

let aw: ApiWorld | null = null;
afterEach(async () => {
  await aw?.close();
  aw = null;
});

async function json<T = Record<string, unknown>>(r: Response | Promise<Response>): Promise<T> {
  const res = await r;
  expect(res.status, `${res.url}: ${res.status}`).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return (await res.json()) as T;
}

describe('read endpoints', () => {
  it('/api/status: mode, trading state, last cycle, feed freshness per venue', async () => {
    aw = await apiWorld();
    const s = await json(aw.get('/api/status'));
    expect(s).toMatchObject({
      mode: 'paper',
      now: aw.w.clock.now(),
      service: 'running',
      trading: { state: 'ACTIVE' },
      accounts: [{ name: ACCOUNT, venue: 'sim' }],
      lastCycle: { status: 'traded', state: 'ACTIVE', rebalanceId: 1 },
      feed: { maxAgeMs: 300_000, stale: false },
    });
    const v = (s.feed as { venues: Record<string, unknown>[] }).venues;
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ account: ACCOUNT, venue: 'sim', stale: false });
    expect(v[0]!.ageMs).toBeGreaterThanOrEqual(0);
    expect(v[0]!.ageMs).toBeLessThan(300_000);
  });

  it('/api/status: per-input freshness from a live feed when one is given; stale when old', async () => {
    const now = Date.UTC(2025, 0, 6);
    aw = await apiWorld({
      api: {
        feed: {
          status: () => ({
            accounts: [{ name: ACCOUNT, inputs: [{ key: 'BTC/USDT', time: now - 400_000, via: 'stream' }, { key: 'balances:main', time: now - 1_000, via: 'rest' }], errors: [] }],
          }),
        },
      },
    });
    const s = await json<{ feed: { stale: boolean; venues: { ageMs: number; stale: boolean; inputs: { input: string; ageMs: number; via: string }[] }[] } }>(aw.get('/api/status'));
    const age = aw.w.clock.now() - (now - 400_000);
    expect(s.feed.stale).toBe(true);
    expect(s.feed.venues[0]).toMatchObject({ ageMs: age, stale: true });
    expect(s.feed.venues[0]!.inputs[0]).toEqual({ input: 'BTC/USDT', time: now - 400_000, ageMs: age, via: 'stream' });
  });

  it('/api/portfolio: the state after the last cycle’s fills — TPV and per class spot / futures / net / weight / band / breach', async () => {
    aw = await apiWorld();
    const p = await json<{ tpv: number; time: number; classes: Record<string, unknown>[]; breaches: string[]; source: string; afterTrades: number | null; quote: string }>(aw.get('/api/portfolio'));
    // the plan saw BTC at 58% of $100,000 and sold 0.137 BTC at $58,000: the portfolio shows the result
    const fill = aw.service.journal.fills()[0]!;
    expect(p.source).toBe('cycle');
    expect(p.afterTrades).toBe(1);
    expect(p.time).toBe(aw.service.lastCycle!.after!.time);
    expect(p.quote).toBe('USDT');
    expect(p.tpv).toBeCloseTo(100_000 - fill.fee, 6);
    expect(p.classes).toHaveLength(2);
    expect(p.classes[0]).toMatchObject({ name: 'BTC', cash: false, target: 0.5, band: { kind: 'absolute', width: 0.05 }, futures: 0, breach: null });
    expect(p.classes[0]!.spot).toBeCloseTo(58_000 - fill.cost, 6);
    expect(p.classes[0]!.weight).toBeCloseTo((58_000 - fill.cost) / (100_000 - fill.fee), 12);
    expect(p.classes[0]!.lower).toBeCloseTo(0.45, 12);
    expect(p.classes[0]!.upper).toBeCloseTo(0.55, 12);
    expect(p.classes[1]).toMatchObject({ name: 'Stablecoins', cash: true, breach: null });
    expect(p.breaches).toEqual([]);
    // the plan keeps what it saw before trading: BTC 58%, above its band
    const plan = await json<{ tpv: number; classes: { weight: number; breach: string | null }[] }>(aw.get('/api/plan'));
    expect(plan.tpv).toBeCloseTo(100_000, 6);
    expect(plan.classes[0]).toMatchObject({ breach: 'upper' });
    expect(plan.classes[0]!.weight).toBeCloseTo(0.58, 12);

    // next cycle: back at ~50%, nothing to do, nothing traded since
    await aw.service.runOnce();
    const q = await json<{ afterTrades: number | null; classes: { weight: number; breach: string | null }[]; breaches: string[] }>(aw.get('/api/portfolio'));
    expect(q.afterTrades).toBeNull();
    expect(q.classes[0]!.weight).toBeCloseTo(0.5, 2);
    expect(q.breaches).toEqual([]);
  });

  it('/api/plan: the last plan, its explanation, and the same text as `ballast plan`', async () => {
    aw = await apiWorld();
    const p = await json<{ source: string; status: string; text: string; explanation: string[]; actions: { type: string; side: string; symbol: string; amount: number }[]; cycle: { status: string } }>(aw.get('/api/plan'));
    expect(p.source).toBe('cycle');
    expect(p.status).toBe('ok');
    expect(p.cycle.status).toBe('traded');
    expect(p.actions).toMatchObject([{ type: 'spot', side: 'sell', symbol: SPOT, amount: 0.137 }]);
    expect(p.explanation.join('\n')).toMatch(/TPV = spot value \$100,000\.00/);
    // The whole text, written out by hand: the numbers are the seed's first example (MISSION.md).
    expect(p.text.split('\n')).toEqual([
      'Snapshot 2025-01-06T00:00:00.000Z   TPV $100,000.00   (spot $100,000.00, unrealised futures PnL $0.00)',
      '',
      'class               target           band        spot  futures         net  weight   drift  breach  outside band',
      '------------------  ------  -------------  ----------  -------  ----------  ------  ------  ------  ------------',
      'BTC                 50.00%  45.00%–55.00%  $58,000.00    $0.00  $58,000.00  58.00%  +8.00%  upper      $3,000.00',
      'Stablecoins (cash)  50.00%  45.00%–55.00%  $42,000.00    $0.00  $42,000.00  42.00%  -8.00%  lower     -$3,000.00',
      '',
      'How it adds up',
      '  TPV = spot value $100,000.00 = $100,000.00 (futures notional is exposure, not equity).',
      '  BTC: net $58,000.00 = spot $58,000.00 + futures $0.00; weight 58.00% (target 50.00%), ABOVE upper trigger 55.00%.',
      "  Stablecoins: effective cash = TPV − other classes' net = $42,000.00; weight 42.00% (target 50.00%), BELOW lower trigger 45.00%.",
      '',
      'Trigger: threshold: BTC upper, Stablecoins lower   Status: ok',
      '',
      'Actions (in execution order)',
      '  1. SELL 0.137 BTC/USDT spot on main ≈ $7,946.00',
      '     BTC is 58.00% of $100,000.00 > upper trigger 55.00%; to target 50.00% reduce $8,000.00: sell 0.137 BTC spot = $7,946.00 at $58,000.00.',
      '',
      'Tax: not modelled (no tax: section in the portfolio).',
      '',
      'Risk: margin required $0.00 of $42,000.00 available; max leverage 3x',
      '',
      'Pre-trade risk gate: passed (1 order, $7,946.00 in total).',
    ]);
    // its orders have run: the rebalance and its fills
    const x = (p as unknown as { execution: { rebalanceId: number; status: string; orders: number; fills: { amount: number; side: string }[] } }).execution;
    expect(x).toMatchObject({ rebalanceId: 1, status: 'done', orders: 1 });
    expect(x.fills).toMatchObject([{ side: 'sell', amount: 0.137 }]);
  });

  it('/api/plan and /api/portfolio before any cycle: 503, then the journal once a snapshot is there', async () => {
    aw = await apiWorld({ cycles: 0 });
    for (const p of ['/api/plan', '/api/portfolio']) {
      const r = await aw.get(p);
      expect(r.status, p).toBe(503);
      expect(await r.json()).toMatchObject({ error: 'not ready' });
    }
    const hist = await json<{ times: number[] }>(aw.get('/api/history'));
    expect(hist.times).toEqual([]);
  });

  it('after a restart (a new process, no cycle yet) the portfolio, plan and history come from the journal', async () => {
    aw = await apiWorld({ cycles: 2 });
    const { startApi } = await import('../../src/apps/api/server.js');
    const fresh = aw.w.service({ journal: aw.service.journal });
    const again = await startApi({ service: fresh, journal: aw.service.journal, portfolio: aw.w.portfolio, mode: 'paper', port: 0, tokenFile: aw.tokenFile, clock: aw.w.clock, dashboard: false });
    try {
      const h = { headers: { authorization: `Bearer ${aw.token}` } };
      const p = await json<{ source: string; classes: { weight: number }[] }>(fetch(`${again.url}/api/portfolio`, h));
      expect(p.source).toBe('journal');
      expect(p.classes[0]!.weight).toBeCloseTo(0.5, 2);
      const plan = await json<{ source: string; status: string; text: string }>(fetch(`${again.url}/api/plan`, h));
      expect(plan).toMatchObject({ source: 'journal', status: 'nothing-to-do' });
      expect(plan.text).toMatch(/BTC: net/);
      const hist = await json<{ times: number[] }>(fetch(`${again.url}/api/history`, h));
      expect(hist.times).toHaveLength(2); // one point per cycle, from the journal's history table
    } finally {
      await again.close();
    }
  });

  it('after a restart that follows trades, the portfolio is the state after the last fills (source journal)', async () => {
    aw = await apiWorld({ cycles: 1 });
    const { startApi } = await import('../../src/apps/api/server.js');
    const fresh = aw.w.service({ journal: aw.service.journal });
    const again = await startApi({ service: fresh, journal: aw.service.journal, portfolio: aw.w.portfolio, mode: 'paper', port: 0, tokenFile: aw.tokenFile, clock: aw.w.clock, dashboard: false });
    try {
      const h = { headers: { authorization: `Bearer ${aw.token}` } };
      const p = await json<{ source: string; afterTrades: number | null; tpv: number; breaches: string[] }>(fetch(`${again.url}/api/portfolio`, h));
      expect(p).toMatchObject({ source: 'journal', afterTrades: 1, breaches: [] });
      expect(p.tpv).toBeCloseTo(aw.service.lastCycle!.after!.valuation.tpv, 9);
      const plan = await json<{ source: string; status: string; execution: { rebalanceId: number; fills: unknown[] } }>(fetch(`${again.url}/api/plan`, h));
      expect(plan).toMatchObject({ source: 'journal', status: 'ok', execution: { rebalanceId: 1 } });
      expect(plan.execution.fills).toHaveLength(1);
    } finally {
      await again.close();
    }
  });

  it('/api/history: TPV, weight and drift per class, hedge notional, rebalances, cumulative funding', async () => {
    aw = await apiWorld({ cycles: 3 });
    const h = await json<{
      times: number[];
      tpv: number[];
      tpvMin: number[];
      tpvMax: number[];
      hedgeNotional: number[];
      classes: { name: string; target: number; lower: number; upper: number; weight: number[]; drift: number[] }[];
      rebalances: { id: number; time: number; status: string; trigger: string }[];
      funding: { times: number[]; cumulative: number[] };
      resolution: { level: number; bucketMs: number };
    }>(aw.get('/api/history'));
    // Three cycles, four snapshots: one point per cycle, read from the journal's history table (level 0). The
    // first cycle traded: its point is the state after its fills (BTC back to 50 %); its TPV range spans the
    // state before them (100,000) and after (less the fee).
    expect(h.resolution).toEqual({ level: 0, bucketMs: 0 });
    expect(h.times).toHaveLength(3);
    const rows = aw.service.journal.history({ level: 0, limit: 10 });
    expect(h.times).toEqual(rows.map((r) => r.time));
    expect(h.tpvMax[0]).toBeCloseTo(100_000, 6);
    expect(h.tpvMin[0]).toBeLessThan(h.tpvMax[0]!);
    expect(h.tpv[0]).toBe(h.tpvMin[0]);
    expect(h.classes.map((c) => c.name)).toEqual(['BTC', 'Stablecoins']);
    expect(h.classes[0]!.weight[0]).toBeCloseTo(0.5, 2);
    expect(h.classes[0]!.weight[2]).toBeCloseTo(0.5, 2);
    expect(h.classes[0]).toMatchObject({ target: 0.5 });
    expect(h.classes[0]!.lower).toBeCloseTo(0.45, 12);
    expect(h.hedgeNotional).toEqual([0, 0, 0]);
    // The newest point is the current state, to the cent.
    const now = await json<{ tpv: number; classes: { weight: number }[] }>(aw.get('/api/portfolio'));
    expect(h.tpv[2]).toBe(now.tpv);
    expect(h.classes[0]!.weight[2]).toBeCloseTo(now.classes[0]!.weight, 8); // weights to 9 decimals
    expect(h.rebalances).toMatchObject([{ id: 1, status: 'done' }]);
    expect(h.rebalances[0]!.trigger).toMatch(/BTC/);
    expect(h.funding).toEqual({ times: [], cumulative: [] });
    // Three cycles do not fit two points: the finest bucket level that does (5 min) holds all three in one
    // bucket, whose point is the newest cycle's and whose TPV range is the three cycles'.
    const thin = await json<{ times: number[]; tpv: number[]; tpvMin: number[]; resolution: { level: number; bucketMs: number } }>(aw.get(`/api/history?maxPoints=2&since=${h.times[0]}`));
    expect(thin.resolution).toEqual({ level: 1, bucketMs: 300_000 });
    expect(thin.times).toEqual([h.times[2]]); // the newest point is always kept
    expect(thin.tpv).toEqual([h.tpv[2]]);
    expect(thin.tpvMin[0]).toBe(Math.min(...h.tpvMin));
    const none = await json<{ times: number[] }>(aw.get(`/api/history?until=${h.times[0]! - 1}`));
    expect(none.times).toEqual([]);
  });

  it('/api/history and /api/journal: the same answer asked again comes gzipped to a client that accepts it', async () => {
    const w = await apiWorld({ cycles: 2 });
    aw = w;
    const { request } = await import('node:http');
    const { gunzipSync } = await import('node:zlib');
    const raw = (path: string) =>
      new Promise<{ encoding: string | undefined; vary: string | undefined; body: Buffer }>((done, fail) => {
        const req = request(`${w.api.url}${path}`, { headers: { authorization: `Bearer ${w.token}`, 'accept-encoding': 'gzip, deflate' } }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => done({ encoding: res.headers['content-encoding'], vary: res.headers.vary, body: Buffer.concat(parts) }));
        });
        req.on('error', fail);
        req.end();
      });
    for (const path of ['/api/history', '/api/journal?limit=5']) {
      const first = await raw(path);
      expect(first.encoding, path).toBeUndefined();
      expect(first.vary).toBe('accept-encoding');
      const again = await raw(path);
      expect(again.encoding, path).toBe('gzip');
      expect(gunzipSync(again.body).toString()).toBe(first.body.toString());
      expect(again.body.length).toBeLessThan(first.body.length);
    }
  });

  it('/api/orders and /api/fills: the journal’s order intents and fills, newest first', async () => {
    aw = await apiWorld();
    const o = await json<{ count: number; orders: Record<string, unknown>[] }>(aw.get('/api/orders'));
    expect(o.count).toBe(1);
    expect(o.orders[0]).toMatchObject({ account: ACCOUNT, symbol: SPOT, side: 'sell', amount: 0.137, state: 'FILLED', filled: 0.137, rebalanceId: 1 });
    expect(o.orders[0]!.clientOrderId).toMatch(/^bl/);
    expect((await json<{ count: number }>(aw.get('/api/orders?live=true'))).count).toBe(0);
    expect((await json<{ count: number }>(aw.get('/api/orders?state=FILLED'))).count).toBe(1);
    expect((await json<{ count: number }>(aw.get('/api/orders?rebalanceId=2'))).count).toBe(0);
    const f = await json<{ count: number; fills: Record<string, unknown>[] }>(aw.get('/api/fills'));
    expect(f.count).toBe(1);
    expect(f.fills[0]).toMatchObject({ account: ACCOUNT, symbol: SPOT, side: 'sell', amount: 0.137, external: false, liquidation: false, clientOrderId: o.orders[0]!.clientOrderId });
  });

  it('/api/hedges and /api/funding: open and closed hedges with funding paid and PnL', async () => {
    // instrument: futures — the BTC breach is corrected by a short hedge of the BTC perp. A closed hedge and two
    // funding payments are journaled as the reconciler would.
    const futures = makePortfolio([cls('BTC', 0.5, 0.05, ['BTC'], { hedge: PERP }), cls('Stablecoins', 0.5, 0.05, ['USDT'], { cash: true })], { execution: { instrument: 'futures' } });
    // The venue announces a rate for the coming settlement (no hedge is opened on unknown funding).
    aw = await apiWorld({ cycles: 2, worldOptions: { portfolio: futures }, before: async (w) => w.feed.pushFunding(PERP, w.clock.now() + 4 * 3_600_000, 0.0001) });
    const j = aw.service.journal;
    j.insertHedge({ account: ACCOUNT, class: 'BTC', symbol: PERP, contracts: 0, entryPrice: 50_000, openedAt: 1, closedAt: 2, openReason: 'old', closeReason: 'back inside', fundingPaid: 3, realisedPnl: 100, fees: 5 });
    j.insertFunding({ account: ACCOUNT, id: 'f1', symbol: PERP, time: aw.w.clock.now() - 8 * 3_600_000, amount: 1.25, currency: 'USDT', rate: 0.0002 });
    j.insertFunding({ account: ACCOUNT, id: 'f2', symbol: PERP, time: aw.w.clock.now(), amount: -0.5, currency: 'USDT', rate: -0.0001 });
    const stored = j.hedges({ open: true });
    expect(stored.length).toBeGreaterThan(0);
    const h = await json<{ open: number; closed: number; hedges: Record<string, number | string | boolean | null>[] }>(aw.get('/api/hedges'));
    expect(h.open).toBe(stored.length);
    expect(h.closed).toBe(j.hedges({ open: false }).length);
    const open = h.hedges.find((x) => x.open)!;
    const rec = stored.find((x) => x.id === open.id)!;
    const pos = aw.service.lastCycle!.plan!.valuation.positions.find((p) => p.symbol === PERP)!;
    expect(open).toMatchObject({ symbol: PERP, contracts: rec.contracts, entryPrice: rec.entryPrice, fundingPaid: rec.fundingPaid, fees: rec.fees, mark: pos.mark });
    expect(open.notional).toBeCloseTo(rec.contracts * pos.mark, 9);
    expect(open.unrealisedPnl).toBeCloseTo(rec.contracts * (pos.mark - rec.entryPrice), 9);
    expect(open.netPnl).toBeCloseTo(rec.realisedPnl + (open.unrealisedPnl as number) - rec.fees - rec.fundingPaid, 9);
    expect(h.hedges.find((x) => x.closeReason === 'back inside')).toMatchObject({ open: false, netPnl: 100 - 5 - 3, notional: 0, mark: null });
    expect((await json<{ hedges: unknown[] }>(aw.get('/api/hedges?open=true'))).hedges).toHaveLength(stored.length);

    const f = await json<{ total: number; count: number; payments: { id: string; cumulative: number }[]; rates: { symbol: string; rate: number; apr: number }[] }>(aw.get('/api/funding'));
    expect(f.total).toBeCloseTo(0.75, 12);
    expect(f.count).toBe(2);
    expect(f.payments.map((p) => p.id)).toEqual(['f2', 'f1']);
    expect(f.payments[0]!.cumulative).toBeCloseTo(0.75, 12);
    expect(f.rates[0]!.symbol).toBe(PERP);
    expect(f.rates[0]!.apr).toBeCloseTo(f.rates[0]!.rate * 3 * 365, 12);
    const hist = await json<{ funding: { cumulative: number[] }; hedgeNotional: number[] }>(aw.get('/api/history'));
    expect(hist.funding.cumulative).toEqual([1.25, 0.75]);
    // The first cycle opened the hedge: its point is the state after the fills, hedge included.
    expect(hist.hedgeNotional[0]).toBeGreaterThan(0);
    expect(hist.hedgeNotional[hist.hedgeNotional.length - 1]).toBeCloseTo(Math.abs(pos.notional), 6);
  });

  it('/api/journal: decisions, commands and state changes with a readable summary, newest first', async () => {
    aw = await apiWorld();
    await aw.post('/api/halt', { reason: 'look first', by: 'alice' });
    const j = await json<{ events: { id: number; type: string; summary: string; payload: unknown }[] }>(aw.get('/api/journal'));
    const ids = j.events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(j.events.some((e) => e.type === 'snapshot')).toBe(false);
    expect(j.events.find((e) => e.type === 'command')!.summary).toBe('halt by api:alice@127.0.0.1: look first');
    expect(j.events.find((e) => e.type === 'state' && /HALTED/.test(e.summary))!.summary).toBe('ACTIVE → HALTED by api:alice@127.0.0.1: look first');
    expect(j.events.find((e) => e.type === 'decision')!.summary).toMatch(/^ok: .*BTC.*\(1 action\)$/);
    expect(j.events.find((e) => e.type === 'fill')!.summary).toMatch(/^sell 0\.137 BTC\/USDT @ /);
    const only = await json<{ events: { type: string }[] }>(aw.get('/api/journal?type=decision&limit=1'));
    expect(only.events).toHaveLength(1);
    expect(only.events[0]!.type).toBe('decision');
  });

  it('/metrics: Prometheus text with TPV, weights, drift, bands, hedge notional, margin, orders, fills, errors, feed age', async () => {
    aw = await apiWorld();
    const r = await aw.get('/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = await r.text();
    const value = (re: RegExp): number => {
      const line = m.split('\n').find((l) => re.test(l));
      expect(line, String(re)).toBeDefined();
      return Number(line!.split(' ').pop());
    };
    // the state after the cycle's fills: 0.137 BTC sold, BTC back inside its band
    const fill = aw.service.journal.fills()[0]!;
    const w = (58_000 - fill.cost) / (100_000 - fill.fee);
    expect(value(/^ballast_tpv\{quote="USDT"\} /)).toBeCloseTo(100_000 - fill.fee, 6);
    expect(value(/^ballast_class_weight\{class="BTC"\} /)).toBeCloseTo(w, 12);
    expect(value(/^ballast_class_drift\{class="BTC"\} /)).toBeCloseTo(w - 0.5, 12);
    expect(value(/^ballast_class_band_upper\{class="BTC"\} /)).toBeCloseTo(0.55, 12);
    expect(value(/^ballast_class_breach\{class="BTC"\} /)).toBe(0);
    expect(value(/^ballast_orders_total /)).toBe(1);
    expect(value(/^ballast_orders_live /)).toBe(0);
    expect(value(/^ballast_fills_total /)).toBe(1);
    expect(value(/^ballast_errors_total\{source="journal_alert"\} /)).toBe(0);
    expect(value(/^ballast_feed_age_seconds\{account="main"\} /)).toBeGreaterThanOrEqual(0);
    expect(value(/^ballast_feed_stale\{account="main"\} /)).toBe(0);
    expect(value(/^ballast_trading_state\{state="ACTIVE"\} /)).toBe(1);
    expect(value(/^ballast_trading_state\{state="HALTED"\} /)).toBe(0);
    expect(value(/^ballast_hedges_open /)).toBe(0);
    expect(value(/^ballast_pretrade_refusals_in_a_row /)).toBe(0);
    expect(m).not.toMatch(/^ballast_pretrade_refusals_total\{/m);
    expect(m).toMatch(/# TYPE ballast_hedge_notional gauge/);
    expect(m).toMatch(/# TYPE ballast_margin_ratio gauge/);
    expect(m).toMatch(/# HELP ballast_tpv Total portfolio value/);
    expect(m).toMatch(/^ballast_api_requests_total\{route="\/metrics",method="GET",status="200"\} \d+$|ballast_api_requests_total/m);

    // an alert (venue down) counts as an error; the feed age follows the clock
    aw.service.journal.appendEvent({ time: aw.w.clock.now(), type: 'alert', payload: { paused: 'test' } });
    aw.w.clock.advance(10 * 60_000);
    const m2 = await (await aw.get('/metrics')).text();
    expect(m2).toMatch(/^ballast_errors_total\{source="journal_alert"\} 1$/m);
    expect(m2).toMatch(/^ballast_feed_stale\{account="main"\} 1$/m);

    // two refused plans in a row (as the service records them) show on the gauge
    aw.service.journal.setMeta('pretrade.refusalsInARow', '2');
    expect(await (await aw.get('/metrics')).text()).toMatch(/^ballast_pretrade_refusals_in_a_row 2$/m);
  });

  it('/metrics: hedge notional and margin ratio when a futures position is open', async () => {
    aw = await apiWorld({ cycles: 0 });
    await quietly(aw.w.sim, () => aw!.w.sim.createOrder({ symbol: PERP, type: 'market', side: 'sell', amount: 0.1, clientOrderId: 'manual-short' }));
    await aw.service.runOnce();
    const m = await (await aw.get('/metrics')).text();
    const line = m.split('\n').find((l) => l.startsWith(`ballast_hedge_notional{account="main",symbol="${PERP}"}`));
    expect(Number(line!.split(' ').pop())).toBeCloseTo(5_800, 0);
    expect(m).toMatch(/^ballast_margin_ratio\{account="main",scenario="now"\} [0-9.e-]+$/m);
  });
});

describe('live updates (server-sent events)', () => {
  it('sends hello, then an update when the trading state changes; needs the token in the header', async () => {
    aw = await apiWorld();
    expect((await aw.get('/api/events', null)).status).toBe(401);
    const ctrl = new AbortController();
    const r = await fetch(`${aw.api.url}/api/events`, { headers: { authorization: `Bearer ${aw.token}` }, signal: ctrl.signal });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = r.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    const next = async (event: string, pred: (d: Record<string, unknown>) => boolean = () => true): Promise<Record<string, unknown>> => {
      for (;;) {
        const m = new RegExp(`event: ${event}\\ndata: (.*)\\n\\n`).exec(buf);
        if (m) {
          buf = buf.slice(m.index + m[0].length);
          const d = JSON.parse(m[1]!) as Record<string, unknown>;
          if (pred(d)) return d;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buf += value;
      }
    };
    const hello = await next('hello');
    expect(hello).toMatchObject({ state: 'ACTIVE', service: 'running' });
    await aw.post('/api/halt', { reason: 'sse test' });
    const upd = await next('update', (d) => d.state === 'HALTED');
    expect(upd.version).not.toBe(hello.version);
    ctrl.abort();
  });
});

describe('/api/journal paging', () => {
  it('pages back by id through the (type, id) index: ?before=<nextBefore> gives the next older page, no overlap', async () => {
    aw = await apiWorld({ cycles: 3 });
    for (let k = 0; k < 5; k++) await aw.post('/api/halt', { reason: `page ${k}` });
    const all = await json<{ events: { id: number }[]; nextBefore: number | null }>(aw.get('/api/journal?limit=5000'));
    expect(all.nextBefore).toBeNull();
    const ids = all.events.map((e) => e.id);
    const first = await json<{ events: { id: number }[]; nextBefore: number }>(aw.get('/api/journal?limit=4'));
    expect(first.events.map((e) => e.id)).toEqual(ids.slice(0, 4));
    expect(first.nextBefore).toBe(ids[3]);
    const second = await json<{ events: { id: number }[] }>(aw.get(`/api/journal?limit=4&before=${first.nextBefore}`));
    expect(second.events.map((e) => e.id)).toEqual(ids.slice(4, 8));
    const bad = await aw.get('/api/journal?before=abc');
    expect(bad.status).toBe(400);
  });
});
