/** Shapes of the API answers the dashboard reads (see src/apps/api/read-model.ts and docs/api.md). */

export type TradingState = 'ACTIVE' | 'REDUCING' | 'HALTED';

export interface Status {
  mode: 'paper' | 'live' | 'replay';
  now: number;
  service: string;
  trading: { state: TradingState; by: string; at: number; reason: string };
  lastCycle: { time: number; status: string; reason: string } | null;
  lastSnapshot: number | null;
  feed: { maxAgeMs: number; stale: boolean; venues: { account: string; venue: string | null; ageMs: number | null; stale: boolean }[] };
}

export interface ClassView {
  name: string;
  cash: boolean;
  target: number;
  lower: number;
  upper: number;
  spot: number;
  futures: number;
  net: number;
  weight: number;
  drift: number;
  breach: 'upper' | 'lower' | null;
  deviation: number;
}

export interface PortfolioView {
  time: number;
  source: string;
  quote: string;
  tpv: number;
  spotValue: number;
  unrealizedPnl: number;
  classes: ClassView[];
  positions: { account: string; symbol: string; contracts: number; notional: number; mark: number; entryPrice: number; unrealizedPnl: number }[];
  breaches: string[];
}

export interface PlanAction {
  type: 'spot' | 'futures' | 'wait';
  class: string;
  account: string | null;
  symbol: string | null;
  side: 'buy' | 'sell' | null;
  notional: number;
  amount: number;
  reduceOnly: boolean;
  reason: string;
}

export interface PlanView {
  source: 'cycle' | 'journal';
  time: string;
  status: string | null;
  trigger: string | null;
  quote?: string;
  actions: PlanAction[];
  rejected: { class: string; alternative: string; symbol: string | null; reason: string }[];
  explanation: string[];
  text: string;
}

export interface HistoryView {
  quote: string;
  times: number[];
  tpv: number[];
  hedgeNotional: number[];
  classes: { name: string; cash: boolean; target: number; lower: number | null; upper: number | null; weight: (number | null)[]; drift: (number | null)[] }[];
  rebalances: { id: number; time: number; status: string; trigger: string }[];
  funding: { times: number[]; cumulative: number[] };
}

export interface Hedge {
  id: number;
  account: string;
  class: string;
  symbol: string;
  contracts: number;
  entryPrice: number;
  openedAt: number;
  closedAt: number | null;
  openReason: string;
  closeReason: string | null;
  fundingPaid: number;
  realisedPnl: number;
  fees: number;
  open: boolean;
  mark: number | null;
  notional: number;
  unrealisedPnl: number;
  netPnl: number;
}

export interface Order {
  clientOrderId: string;
  rebalanceId: number;
  account: string;
  symbol: string;
  side: string;
  type: string;
  amount: number;
  price: number | null;
  reduceOnly: boolean;
  state: string;
  filled: number;
  avgPrice: number | null;
  purpose: string;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface Fill {
  account: string;
  tradeId: string;
  clientOrderId: string | null;
  symbol: string;
  side: string;
  amount: number;
  price: number;
  cost: number;
  fee: number;
  feeCurrency: string;
  time: number;
  liquidation: boolean;
  external: boolean;
}

export interface JournalEvent {
  id: number;
  time: number;
  type: string;
  account: string | null;
  summary: string;
}
