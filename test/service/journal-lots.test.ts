import { describe, expect, it } from 'vitest';
import { withJournalLots } from '../../src/service/service.js';
import type { TaxConfig } from '../../src/core/lots.js';
import type { Snapshot } from '../../src/core/types.js';
import type { FillRecord } from '../../src/ports/journal.js';

const TAX: TaxConfig = { method: 'fifo', shortTermRate: 0.37, longTermRate: 0.2, longTermAfterDays: 365, futuresRate: 0.37 };
let id = 0;
const fill = (side: 'buy' | 'sell', amount: number, price: number, fee: number, time: number, symbol = 'BTC/USDT'): FillRecord => ({
  account: 'main', tradeId: String(++id), venueOrderId: `o${id}`, clientOrderId: null, symbol, side, amount, price, cost: amount * price, fee, feeCurrency: 'USDT', time, liquidation: false, external: false,
});
const snap = (btc: number): Snapshot => ({ time: 10_000, prices: { BTC: 50_000, USDT: 1 }, marks: {}, funding: {}, markets: {}, accounts: [{ name: 'main', balances: { BTC: btc, USDT: 1_000 }, positions: [] }] });

describe('the service builds lots from its journal (tax: set)', () => {
  // Buy 1 @ 20,000 (+20 fee) at t=1000, buy 1 @ 30,000 (+30) at t=2000, sell 0.5 at t=3000 (FIFO: from the first).
  const fills = [fill('buy', 1, 20_000, 20, 1_000), fill('buy', 1, 30_000, 30, 2_000), fill('sell', 0.5, 40_000, 20, 3_000), fill('sell', 0.1, 40_000, 2, 3_500, 'BTC/USDT:USDT')];
  it('buys are lots with the fee in the unit cost; sells realise lots by the method; perp fills are not lots', () => {
    const s = withJournalLots(snap(1.5), fills, TAX, 'USDT');
    expect(s.accounts[0]!.lots).toEqual([
      { asset: 'BTC', acquired: 1_000, qty: 0.5, unitCost: 20_020 },
      { asset: 'BTC', acquired: 2_000, qty: 1, unitCost: 30_030 },
    ]);
  });
  it('lots above the balance are taken out by the method; below it, the rest has no lot', () => {
    const trimmed = withJournalLots(snap(1.2), fills, TAX, 'USDT').accounts[0]!.lots!;
    // 1.5 held by the journal, 1.2 on the venue: FIFO takes 0.3 out of the oldest lot (0.5 → 0.2).
    expect(trimmed.map((l) => [l.acquired, Number(l.qty.toFixed(12))])).toEqual([[1_000, 0.2], [2_000, 1]]);
    const more = withJournalLots(snap(2), fills, TAX, 'USDT').accounts[0]!.lots!;
    expect(more.reduce((a, l) => a + l.qty, 0)).toBe(1.5);
  });
});
