/**
 * Property tests of the simulator's accounting and order state.
 *
 * Invariants (in words):
 * 1. Conservation (ledger, random fills / price moves / funding / liquidations):
 *      equity(prices, marks) = starting equity
 *        + spot mark-to-market   (Σ fills q × (valuation price − fill price) + Σ holdings × price moves)
 *        + Σ realised PnL + Σ unrealised PnL − Σ fees − funding paid + funding received
 *        − liquidation fees + bad debt absorbed by the venue.
 *    Nothing is created or lost between the wallet, the positions and the cost counters.
 * 2. The same through the SimExchange port, with the counters rebuilt from what the port reports:
 *    Σ trade fees = ledger fees (+ liquidation fees), Σ funding history = received − paid.
 * 3. Orders: 0 ≤ filled ≤ amount, remaining = amount − filled, filled never decreases, a closed
 *    order is fully filled, and a trade id is never reported twice.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Ledger } from '../../src/model/ledger.js';
import type { Order } from '../../src/ports/exchange.js';
import { PERP, SPOT, baseConfig, perpMarket, rig, spotMarket } from './helpers.js';

/** Uniform-ish fraction in [min, max] with 1e-4 resolution (fc.double concentrates near 0 and the bounds). */
const frac = (min: number, max: number): fc.Arbitrary<number> =>
  fc.integer({ min: Math.round(min * 10_000), max: Math.round(max * 10_000) }).map((x) => x / 10_000);

type LedgerCmd =
  | { k: 'spot'; a: number; q: number; slip: number; fee: number }
  | { k: 'perp'; p: number; q: number; slip: number; fee: number }
  | { k: 'price'; a: number; move: number }
  | { k: 'mark'; p: number; move: number }
  | { k: 'funding'; p: number; rate: number }
  | { k: 'liq' };

const ledgerCmd: fc.Arbitrary<LedgerCmd> = fc.oneof(
  fc.record({
    k: fc.constant('spot' as const),
    a: fc.integer({ min: 1, max: 2 }),
    q: frac(-5, 5),
    slip: frac(-0.01, 0.01),
    fee: fc.constantFrom(0, 0.0005, 0.001),
  }),
  fc.record({
    k: fc.constant('perp' as const),
    p: fc.integer({ min: 0, max: 2 }),
    q: fc.integer({ min: -40, max: 40 }).map((x) => x / 4),
    slip: frac(-0.01, 0.01),
    fee: fc.constantFrom(0, 0.0002, 0.0005),
  }),
  fc.record({ k: fc.constant('price' as const), a: fc.integer({ min: 1, max: 2 }), move: frac(-0.3, 0.3) }),
  fc.record({ k: fc.constant('mark' as const), p: fc.integer({ min: 0, max: 2 }), move: frac(-0.3, 0.3) }),
  fc.record({ k: fc.constant('funding' as const), p: fc.integer({ min: 0, max: 2 }), rate: frac(-0.003, 0.003) }),
  fc.constant({ k: 'liq' as const }),
);

describe('ledger conservation', () => {
  it('equity = start + spot MtM + realised + uPnL − fees − funding paid + received − liquidation fees + bad debt', () => {
    const seen = { liquidations: 0, badDebt: 0, fundingPaid: 0, fundingReceived: 0, flips: 0 };
    fc.assert(
      fc.property(fc.array(ledgerCmd, { minLength: 1, maxLength: 80, size: 'max' }), fc.integer({ min: 50, max: 50_000 }), (cmds, wallet) => {
        const l = new Ledger({
          quote: 'USDT',
          balances: { USDT: wallet, BTC: 1, ETH: 0 },
          liquidationFeeRate: 0.005,
          perps: [
            { symbol: 'A', contractSize: 1, maintenanceMarginRate: 0.02, leverage: 10 },
            { symbol: 'B', contractSize: 0.1, maintenanceMarginRate: 0.01, leverage: 5, marginMode: 'isolated' },
            {
              symbol: 'C',
              contractSize: 10,
              maintenanceMarginRate: 0.01,
              tiers: [
                { maxNotional: 5_000, maintenanceMarginRate: 0.01, maintenanceAmount: 0 },
                { maxNotional: Infinity, maintenanceMarginRate: 0.025, maintenanceAmount: 75 },
              ],
            },
          ],
        });
        const prices = Float64Array.from([1, 100, 20]);
        const marks = Float64Array.from([100, 50, 3]);
        const start = l.equity(prices, marks);
        let spotMtm = 0;
        let t = 0;
        for (const c of cmds) {
          t++;
          switch (c.k) {
            case 'spot': {
              const fill = prices[c.a]! * (1 + c.slip);
              l.applySpotFill(c.a, c.q, fill, c.fee);
              spotMtm += c.q * (prices[c.a]! - fill);
              break;
            }
            case 'perp': {
              const before = l.contracts[c.p]!;
              l.applyPerpFill(c.p, c.q, marks[c.p]! * (1 + c.slip), c.fee);
              if (before * l.contracts[c.p]! < 0) seen.flips++;
              break;
            }
            case 'price': {
              const next = prices[c.a]! * (1 + c.move);
              spotMtm += l.balance[c.a]! * (next - prices[c.a]!);
              prices[c.a] = next;
              break;
            }
            case 'mark':
              marks[c.p] = marks[c.p]! * (1 + c.move);
              break;
            case 'funding':
              l.settleFunding(c.p, c.rate, marks[c.p]!);
              break;
            case 'liq':
              l.checkLiquidation(marks, t);
              break;
          }
          let upnl = 0;
          for (let p = 0; p < 3; p++) upnl += l.unrealizedPnl(p, marks[p]!);
          const tot = l.totals();
          const expected =
            start + spotMtm + tot.realisedPnl + upnl - tot.fees - tot.fundingPaid + tot.fundingReceived - tot.liquidationFees + tot.badDebt;
          const eq = l.equity(prices, marks);
          const scale = 1 + Math.abs(start) + Math.abs(eq) + 1e3;
          expect(Math.abs(eq - expected)).toBeLessThan(1e-9 * scale);
          for (const v of [...l.fundingPaid, ...l.fundingReceived, ...l.liquidationFees, ...l.isolatedMargin]) expect(v).toBeGreaterThanOrEqual(0);
        }
        const tot = l.totals();
        seen.liquidations += l.liquidations.length;
        seen.badDebt += tot.badDebt > 0 ? 1 : 0;
        seen.fundingPaid += tot.fundingPaid > 0 ? 1 : 0;
        seen.fundingReceived += tot.fundingReceived > 0 ? 1 : 0;
      }),
      { numRuns: 300 },
    );
    // The property is not vacuous: the generated histories reach every branch.
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThan(0);
  });
});

type SimCmd =
  | { k: 'limit'; sym: 0 | 1; side: 'buy' | 'sell'; lots: number; off: number; reduceOnly: boolean }
  | { k: 'market'; sym: 0 | 1; side: 'buy' | 'sell'; lots: number }
  | { k: 'cancel'; pick: number }
  | { k: 'bar'; sym: 0 | 1; move: number; range: number; volume: number }
  | { k: 'funding'; rate: number }
  | { k: 'wait'; ms: number };

const simCmd: fc.Arbitrary<SimCmd> = fc.oneof(
  fc.record({
    k: fc.constant('limit' as const),
    sym: fc.constantFrom(0 as const, 1 as const),
    side: fc.constantFrom('buy' as const, 'sell' as const),
    lots: fc.integer({ min: 50, max: 3_000 }),
    off: fc.integer({ min: -300, max: 300 }),
    reduceOnly: fc.boolean(),
  }),
  fc.record({
    k: fc.constant('market' as const),
    sym: fc.constantFrom(0 as const, 1 as const),
    side: fc.constantFrom('buy' as const, 'sell' as const),
    lots: fc.integer({ min: 50, max: 3_000 }),
  }),
  fc.record({ k: fc.constant('cancel' as const), pick: fc.nat() }),
  fc.record({
    k: fc.constant('bar' as const),
    sym: fc.constantFrom(0 as const, 1 as const),
    move: frac(-0.08, 0.08),
    range: frac(0, 0.05),
    volume: fc.integer({ min: 0, max: 40 }),
  }),
  fc.record({ k: fc.constant('funding' as const), rate: frac(-0.002, 0.002) }),
  fc.record({ k: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 8 * 3_600_000 }) }),
);

describe('SimExchange: order invariants and conservation through the port', () => {
  it('keeps 0 ≤ filled ≤ amount, filled monotone, trades unique, and the books balanced', async () => {
    const seen = { partial: 0, liquidation: 0, funding: 0, makerFill: 0, rejected: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(simCmd, { minLength: 1, maxLength: 60, size: 'max' }),
        fc.constantFrom(1, 5, 20),
        fc.constantFrom('cross' as const, 'isolated' as const),
        async (cmds, leverage, marginMode) => {
        const r = rig(
          baseConfig({
            balances: { USDT: 2_000, BTC: 5 },
            leverage,
            marginMode,
            fill: { maxVolumeFraction: 0.3, halfSpread: 0.0005, impact: 0.05 },
            markets: [spotMarket, { ...perpMarket, maintenanceMarginRate: 0.05 }],
          }),
        );
        const syms = [SPOT, PERP] as const;
        const px = [100, 100];
        r.bar(SPOT, { close: 100 });
        r.bar(PERP, { close: 100 });
        const start = r.sim.equity();
        const lastFilled = new Map<string, number>();
        let n = 0;
        for (const c of cmds) {
          n++;
          try {
            switch (c.k) {
              case 'limit': {
                const price = Math.max(1, Math.round(px[c.sym]! * 100 + c.off) / 100);
                await r.sim.createOrder({
                  symbol: syms[c.sym],
                  type: 'limit',
                  side: c.side,
                  amount: c.lots / 1_000,
                  price,
                  clientOrderId: `o${n}`,
                  reduceOnly: c.sym === 1 && c.reduceOnly,
                });
                break;
              }
              case 'market':
                await r.sim.createOrder({ symbol: syms[c.sym], type: 'market', side: c.side, amount: c.lots / 1_000, clientOrderId: `o${n}` });
                break;
              case 'cancel': {
                const open = await r.sim.fetchOpenOrders();
                if (open.length > 0) await r.sim.cancelOrder({ id: open[c.pick % open.length]!.id });
                break;
              }
              case 'bar': {
                const close = Math.max(1, Math.round(px[c.sym]! * (1 + c.move) * 100) / 100);
                const open = px[c.sym]!;
                r.bar(syms[c.sym], {
                  open,
                  close,
                  high: Math.max(open, close) * (1 + c.range),
                  low: Math.min(open, close) * (1 - c.range),
                  volume: c.volume,
                });
                px[c.sym] = close;
                break;
              }
              case 'funding':
                r.feed.pushFunding(PERP, r.clock.now(), c.rate);
                r.sim.sync();
                break;
              case 'wait':
                r.advance(c.ms);
                break;
            }
          } catch (e) {
            // Only the port's typed, final rejections are expected here.
            expect((e as Error).name).toMatch(/^(InvalidOrder|InsufficientFunds|OrderNotFound)$/);
            seen.rejected++;
          }

          const all: Order[] = [...(await r.sim.fetchOpenOrders()), ...(await r.sim.fetchClosedOrders())];
          for (const o of all) {
            expect(o.filled).toBeGreaterThanOrEqual(0);
            expect(o.filled).toBeLessThanOrEqual(o.amount);
            expect(o.remaining).toBeCloseTo(o.amount - o.filled, 12);
            expect(o.filled).toBeGreaterThanOrEqual(lastFilled.get(o.id) ?? 0);
            if (o.status === 'closed') expect(o.filled).toBe(o.amount);
            if (o.filled > 0 && o.filled < o.amount) seen.partial++;
            lastFilled.set(o.id, o.filled);
          }
        }

        const trades = await r.sim.fetchMyTrades();
        expect(new Set(trades.map((t) => t.id)).size).toBe(trades.length);
        const funding = await r.sim.fetchFundingHistory();
        const tot = r.sim.ledger.totals();
        const tradeFees = trades.filter((t) => !t.liquidation).reduce((s, t) => s + t.fee.cost, 0);
        const liqFees = trades.filter((t) => t.liquidation).reduce((s, t) => s + t.fee.cost, 0);
        expect(tradeFees).toBeCloseTo(tot.fees, 8);
        expect(liqFees).toBeCloseTo(tot.liquidationFees, 8);
        expect(funding.reduce((s, f) => s + f.amount, 0)).toBeCloseTo(tot.fundingReceived - tot.fundingPaid, 8);

        // Spot MtM from the port's own data: holdings at the last close minus the net cost of the fills.
        const spotTrades = trades.filter((t) => t.symbol === SPOT);
        const btcNow = (await r.sim.fetchBalance()).total.BTC!;
        const spotMtm =
          btcNow * px[0]! - 5 * 100 - spotTrades.reduce((s, t) => s + (t.side === 'buy' ? t.cost : -t.cost), 0);
        const positions = await r.sim.fetchPositions();
        const upnl = positions.reduce((s, p) => s + p.unrealizedPnl, 0);
        const expected =
          start + spotMtm + tot.realisedPnl + upnl - tot.fees - tot.fundingPaid + tot.fundingReceived - tot.liquidationFees + tot.badDebt;
        expect(r.sim.equity()).toBeCloseTo(expected, 6);
        seen.liquidation += trades.filter((t) => t.liquidation).length;
        seen.makerFill += trades.filter((t) => t.takerOrMaker === 'maker').length;
        seen.funding += funding.length;
        },
      ),
      { numRuns: 150 },
    );
    for (const [k, v] of Object.entries(seen)) expect(v, k).toBeGreaterThan(0);
  });
});
