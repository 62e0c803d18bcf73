/**
 * Ledger arithmetic, computed by hand. Every expected number is derived in the comment above it.
 */
import { describe, expect, it } from 'vitest';
import { Ledger, type PerpSpec } from '../../src/model/ledger.js';

const f64 = (...xs: number[]): Float64Array => Float64Array.from(xs);

function perpLedger(wallet: number, perps: PerpSpec[], liquidationFeeRate = 0.005): Ledger {
  return new Ledger({ quote: 'USDT', balances: { USDT: wallet }, perps, liquidationFeeRate });
}

describe('spot fills', () => {
  it('moves base and quote, charges the fee in quote, values at the given prices', () => {
    const l = new Ledger({ quote: 'USDT', assets: ['BTC'], balances: { USDT: 10_000 } });
    const btc = l.assetIndex('BTC');
    expect(btc).toBe(1);
    // Buy 0.2 BTC at 20,000 with 0.1 %: value 4,000, fee 4 → USDT 10,000 − 4,000 − 4 = 5,996.
    expect(l.applySpotFill(btc, 0.2, 20_000, 0.001)).toBeCloseTo(4, 12);
    expect(l.balance[0]).toBeCloseTo(5_996, 9);
    expect(l.balance[btc]).toBeCloseTo(0.2, 15);
    // Sell 0.1 at 25,000: proceeds 2,500, fee 2.5 → USDT 5,996 + 2,500 − 2.5 = 8,493.5.
    l.applySpotFill(btc, -0.1, 25_000, 0.001);
    expect(l.balance[0]).toBeCloseTo(8_493.5, 9);
    expect(l.spotFees).toBeCloseTo(6.5, 12);
    // Equity at 25,000: 8,493.5 + 0.1 × 25,000 = 10,993.5
    //   = 10,000 start + 0.2 × (25,000 − 20,000) price gain − 6.5 fees.
    expect(l.equity(f64(1, 25_000), f64())).toBeCloseTo(10_993.5, 9);
  });

  it('treats a held asset without a price as NaN equity, never as zero', () => {
    const l = new Ledger({ quote: 'USDT', balances: { USDT: 100, ETH: 1 } });
    expect(l.equity(f64(1, NaN), f64())).toBeNaN();
  });
});

describe('perpetual fills', () => {
  const spec: PerpSpec = { symbol: 'X/USDT:USDT', contractSize: 1, maintenanceMarginRate: 0.01 };

  it('averages the entry, realises PnL on reduce and flip', () => {
    const l = perpLedger(1_000, [spec]);
    const p = l.perpIndex('X/USDT:USDT');
    // Open long 2 @ 100, fee 2 × 100 × 0.05 % = 0.1.
    expect(l.applyPerpFill(p, 2, 100, 0.0005)).toBe(0);
    expect(l.lastFee).toBeCloseTo(0.1, 12);
    // Add 1 @ 130: entry = (2 × 100 + 1 × 130) / 3 = 110. Fee 0.065.
    l.applyPerpFill(p, 1, 130, 0.0005);
    expect(l.entryPrice[p]).toBeCloseTo(110, 12);
    expect(l.contracts[p]).toBe(3);
    // Sell 1 @ 120: realised = 1 × (120 − 110) = +10, entry unchanged. Fee 0.06.
    expect(l.applyPerpFill(p, -1, 120, 0.0005)).toBeCloseTo(10, 12);
    expect(l.entryPrice[p]).toBeCloseTo(110, 12);
    // Sell 5 @ 90: closes 2 → realised 2 × (90 − 110) = −40; opens short 3 at entry 90. Fee 0.225.
    expect(l.applyPerpFill(p, -5, 90, 0.0005)).toBeCloseTo(-40, 12);
    expect(l.contracts[p]).toBe(-3);
    expect(l.entryPrice[p]).toBe(90);
    // Wallet: 1,000 − fees (0.1 + 0.065 + 0.06 + 0.225 = 0.45) + 10 − 40 = 969.55.
    expect(l.balance[0]).toBeCloseTo(969.55, 9);
    expect(l.realisedPnl[p]).toBeCloseTo(-30, 12);
    expect(l.feesPaid[p]).toBeCloseTo(0.45, 12);
    // At mark 80 the short gains −3 × (80 − 90) = +30 → equity 999.55.
    expect(l.unrealizedPnl(p, 80)).toBeCloseTo(30, 12);
    expect(l.equity(f64(1), f64(80))).toBeCloseTo(999.55, 9);
    expect(l.notional(p, 80)).toBe(-240);
    // Buy 3 @ 85 closes flat: realised −3 × (85 − 90) = +15; entry resets to 0.
    expect(l.applyPerpFill(p, 3, 85, 0)).toBeCloseTo(15, 12);
    expect(l.contracts[p]).toBe(0);
    expect(l.entryPrice[p]).toBe(0);
  });

  it('uses the contract size: 1,000 contracts of 0.001 BTC', () => {
    const l = perpLedger(100_000, [{ symbol: 'BTC/USDT:USDT', contractSize: 0.001, maintenanceMarginRate: 0.004 }]);
    // Notional 1,000 × 0.001 × 50,000 = 50,000. Close 400 @ 51,000: realised 400 × 0.001 × 1,000 = 400.
    l.applyPerpFill(0, 1_000, 50_000, 0);
    expect(l.notional(0, 50_000)).toBe(50_000);
    expect(l.applyPerpFill(0, -400, 51_000, 0)).toBeCloseTo(400, 9);
    expect(l.contracts[0]).toBe(600);
  });

  it('snaps float residue from lot arithmetic to flat', () => {
    const l = perpLedger(1_000, [spec]);
    l.applyPerpFill(0, 0.1, 100, 0);
    l.applyPerpFill(0, 0.2, 100, 0);
    l.applyPerpFill(0, -0.3, 100, 0); // 0.1 + 0.2 − 0.3 = 5.55e-17 in floats
    expect(l.contracts[0]).toBe(0);
    expect(l.entryPrice[0]).toBe(0);
  });

  it('posts and releases isolated margin', () => {
    const l = perpLedger(1_000, [{ ...spec, marginMode: 'isolated', leverage: 10 }]);
    // Buy 4 @ 100 at 10×: margin 4 × 100 / 10 = 40 moves from the wallet.
    l.applyPerpFill(0, 4, 100, 0);
    expect(l.isolatedMargin[0]).toBeCloseTo(40, 12);
    expect(l.balance[0]).toBeCloseTo(960, 12);
    // Sell 1 @ 110: releases 1/4 of 40 = 10 and realises +10 → wallet 980, margin 30.
    l.applyPerpFill(0, -1, 110, 0);
    expect(l.isolatedMargin[0]).toBeCloseTo(30, 12);
    expect(l.balance[0]).toBeCloseTo(980, 12);
    // Sell 5 @ 120: closes 3 (release 30, realise 60), opens short 2 with margin 2 × 120 / 10 = 24.
    // Wallet 980 + 30 + 60 − 24 = 1,046.
    l.applyPerpFill(0, -5, 120, 0);
    expect(l.contracts[0]).toBe(-2);
    expect(l.isolatedMargin[0]).toBeCloseTo(24, 12);
    expect(l.balance[0]).toBeCloseTo(1_046, 12);
    // Equity = wallet + isolated margin + uPnL (0 at entry 120) = 1,070 = 1,000 + 10 + 60.
    expect(l.equity(f64(1), f64(120))).toBeCloseTo(1_070, 12);
  });
});

describe('funding', () => {
  it('long pays a positive rate and receives a negative one; short the reverse', () => {
    const l = perpLedger(1_000, [
      { symbol: 'L', contractSize: 1, maintenanceMarginRate: 0.01 },
      { symbol: 'S', contractSize: 1, maintenanceMarginRate: 0.01 },
    ]);
    l.applyPerpFill(0, 2, 100, 0); // long 2
    l.applyPerpFill(1, -3, 200, 0); // short 3
    // Long, rate +0.01 %, mark 100: payment = 2 × 1 × 100 × 0.0001 = +0.02 → paid.
    expect(l.settleFunding(0, 0.0001, 100)).toBeCloseTo(0.02, 15);
    // Long, rate −0.03 %, mark 100: 2 × 100 × −0.0003 = −0.06 → received 0.06.
    expect(l.settleFunding(0, -0.0003, 100)).toBeCloseTo(-0.06, 15);
    // Short, rate +0.01 %, mark 200: −3 × 200 × 0.0001 = −0.06 → received 0.06.
    expect(l.settleFunding(1, 0.0001, 200)).toBeCloseTo(-0.06, 15);
    // Short, rate −0.02 %, mark 200: −3 × 200 × −0.0002 = +0.12 → paid 0.12.
    expect(l.settleFunding(1, -0.0002, 200)).toBeCloseTo(0.12, 15);
    expect(l.fundingPaid[0]).toBeCloseTo(0.02, 15);
    expect(l.fundingReceived[0]).toBeCloseTo(0.06, 15);
    expect(l.fundingPaid[1]).toBeCloseTo(0.12, 15);
    expect(l.fundingReceived[1]).toBeCloseTo(0.06, 15);
    // Wallet: 1,000 − 0.02 + 0.06 + 0.06 − 0.12 = 999.98.
    expect(l.balance[0]).toBeCloseTo(999.98, 12);
    const t = l.totals();
    expect(t.fundingPaid).toBeCloseTo(0.14, 15);
    expect(t.fundingReceived).toBeCloseTo(0.12, 15);
  });

  it('charges isolated positions from their margin and skips flat ones', () => {
    const l = perpLedger(1_000, [{ symbol: 'I', contractSize: 1, maintenanceMarginRate: 0.01, marginMode: 'isolated', leverage: 5 }]);
    expect(l.settleFunding(0, 0.001, 100)).toBe(0);
    l.applyPerpFill(0, 5, 100, 0); // margin 100
    // 5 × 100 × 0.001 = 0.5 paid out of the isolated margin.
    l.settleFunding(0, 0.001, 100);
    expect(l.isolatedMargin[0]).toBeCloseTo(99.5, 12);
    expect(l.balance[0]).toBeCloseTo(900, 12);
  });
});

describe('maintenance margin and liquidation', () => {
  it('uses the tier of the notional with its maintenance amount', () => {
    const l = perpLedger(1e6, [
      {
        symbol: 'T',
        contractSize: 1,
        maintenanceMarginRate: 0.004,
        tiers: [
          { maxNotional: 250_000, maintenanceMarginRate: 0.005, maintenanceAmount: 50 },
          { maxNotional: 50_000, maintenanceMarginRate: 0.004, maintenanceAmount: 0 },
        ],
      },
    ]);
    l.applyPerpFill(0, 1, 40_000, 0);
    // Notional 40,000 in tier 1: 40,000 × 0.4 % = 160.
    expect(l.maintenanceMargin(0, 40_000)).toBeCloseTo(160, 9);
    // Notional 100,000 in tier 2: 100,000 × 0.5 % − 50 = 450.
    expect(l.maintenanceMargin(0, 100_000)).toBeCloseTo(450, 9);
  });

  it('liquidates an isolated long at the hand-computed price, with the fee', () => {
    const l = perpLedger(1_000, [{ symbol: 'I', contractSize: 1, maintenanceMarginRate: 0.01, marginMode: 'isolated', leverage: 10 }]);
    l.applyPerpFill(0, 1, 100, 0); // margin 10, wallet 990
    // Liquidation when 10 + (m − 100) ≤ 0.01 m  ⇔  m ≤ 90 / 0.99 = 90.9090…
    expect(l.liquidationPrice(0, f64(100))).toBeCloseTo(90 / 0.99, 9);
    // At 90.91: equity 0.91 > maintenance 0.9091 → kept.
    expect(l.checkLiquidation(f64(90.91), 1)).toBe(0);
    // At 90.9: equity 0.9 ≤ 0.909 → liquidated at 90.9: realised −9.1, fee 0.5 % × 90.9 = 0.4545,
    // the rest of the margin 10 − 9.1 − 0.4545 = 0.4455 returns to the wallet → 990.4455.
    expect(l.checkLiquidation(f64(90.9), 2)).toBe(1);
    expect(l.contracts[0]).toBe(0);
    expect(l.isolatedMargin[0]).toBe(0);
    expect(l.balance[0]).toBeCloseTo(990.4455, 9);
    expect(l.liquidations).toEqual([
      expect.objectContaining({ time: 2, symbol: 'I', contracts: -1, price: 90.9, marginMode: 'isolated', badDebt: 0 }),
    ]);
    expect(l.liquidations[0]!.fee).toBeCloseTo(0.4545, 12);
    expect(l.liquidations[0]!.realisedPnl).toBeCloseTo(-9.1, 12);
    expect(l.totals().liquidationFees).toBeCloseTo(0.4545, 12);
  });

  it('liquidates an isolated short at the hand-computed price', () => {
    const l = perpLedger(1_000, [{ symbol: 'I', contractSize: 1, maintenanceMarginRate: 0.01, marginMode: 'isolated', leverage: 5 }]);
    l.applyPerpFill(0, -2, 50, 0); // margin 2 × 50 / 5 = 20
    // 20 − 2 (m − 50) ≤ 0.01 × 2m  ⇔  120 ≤ 2.02 m  ⇔  m ≥ 59.4059…
    expect(l.liquidationPrice(0, f64(50))).toBeCloseTo(120 / 2.02, 9);
    expect(l.checkLiquidation(f64(59.4))).toBe(0); // equity 1.2 > 1.188
    expect(l.checkLiquidation(f64(59.41))).toBe(1); // equity 1.18 ≤ 1.1882
    expect(l.liquidations[0]!.contracts).toBe(2);
  });

  it('books a gap below the bankruptcy price as bad debt', () => {
    const l = perpLedger(1_000, [{ symbol: 'I', contractSize: 1, maintenanceMarginRate: 0.01, marginMode: 'isolated', leverage: 10 }]);
    l.applyPerpFill(0, 1, 100, 0);
    // Mark gaps to 80: margin 10 − 20 realised − 0.4 fee = −10.4 → the insurance fund covers 10.4.
    l.checkLiquidation(f64(80));
    expect(l.badDebt).toBeCloseTo(10.4, 12);
    expect(l.balance[0]).toBeCloseTo(990, 12);
    expect(l.equity(f64(1), f64(80))).toBeCloseTo(990, 12);
  });

  it('liquidates every cross position when account equity falls to the maintenance margin', () => {
    const l = perpLedger(100, [
      { symbol: 'A', contractSize: 1, maintenanceMarginRate: 0.01, leverage: 20 },
      { symbol: 'B', contractSize: 1, maintenanceMarginRate: 0.02, leverage: 20 },
    ]);
    l.applyPerpFill(0, 10, 100, 0); // long A 10 @ 100
    l.applyPerpFill(1, -5, 20, 0); // short B 5 @ 20
    // With B at 20: 100 + 10 (m − 100) = 0.01 × 10 m + 0.02 × 5 × 20  ⇔  9.9 m = 902  ⇔  m = 91.11…
    expect(l.liquidationPrice(0, f64(100, 20))).toBeCloseTo(902 / 9.9, 9);
    // A at 91.2: equity 100 − 88 = 12 > maintenance 9.12 + 2 = 11.12 → kept.
    expect(l.crossEquity(f64(91.2, 20))).toBeCloseTo(12, 9);
    expect(l.checkLiquidation(f64(91.2, 20))).toBe(0);
    // A at 91.1: equity 11 ≤ 9.11 + 2 = 11.11 → both positions closed at their marks.
    // A: realised 10 × (91.1 − 100) = −89, fee 0.5 % × 911 = 4.555. B: realised 0, fee 0.5 % × 100 = 0.5.
    // Wallet 100 − 89 − 4.555 − 0.5 = 5.945.
    expect(l.checkLiquidation(f64(91.1, 20), 7)).toBe(2);
    expect(l.balance[0]).toBeCloseTo(5.945, 9);
    expect(l.liquidations.map((r) => [r.symbol, r.contracts, r.price, r.marginMode])).toEqual([
      ['A', -10, 91.1, 'cross'],
      ['B', 5, 20, 'cross'],
    ]);
    expect(l.totals().liquidationFees).toBeCloseTo(5.055, 12);
  });
});

describe('settings and snapshots', () => {
  it('refuses to change margin mode with an open position', () => {
    const l = perpLedger(1_000, [{ symbol: 'P', contractSize: 1, maintenanceMarginRate: 0.01 }]);
    l.setMarginMode(0, 'isolated');
    l.applyPerpFill(0, 1, 100, 0);
    expect(() => l.setMarginMode(0, 'cross')).toThrow(/open position/);
    expect(() => l.setLeverage(0, 0)).toThrow(RangeError);
  });

  it('round-trips through JSON and keeps computing the same numbers', () => {
    const a = perpLedger(5_000, [
      { symbol: 'P', contractSize: 0.1, maintenanceMarginRate: 0.01, marginMode: 'isolated', leverage: 4 },
      { symbol: 'Q', contractSize: 1, maintenanceMarginRate: 0.005 },
    ]);
    a.applyPerpFill(0, 30, 200, 0.0004);
    a.applyPerpFill(1, -7, 33, 0.0004);
    a.settleFunding(1, 0.0002, 34);
    a.checkLiquidation(f64(100, 34));
    const b = Ledger.fromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    expect(b.toJSON()).toEqual(a.toJSON());
    for (const l of [a, b]) {
      l.applyPerpFill(1, 10, 31, 0.0004);
      l.settleFunding(1, -0.0001, 31);
    }
    expect(b.toJSON()).toEqual(a.toJSON());
    expect(b.equity(f64(1), f64(150, 30))).toBe(a.equity(f64(1), f64(150, 30)));
  });
});
