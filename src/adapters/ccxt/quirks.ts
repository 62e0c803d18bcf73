/**
 * What differs between the venues, declared as data — one object per venue, as ccxt's own
 * `describe()` declares its options, `has` and error tables. CcxtExchange (exchange.ts) and the
 * client settings (client.ts) read these fields instead of branching on the venue id.
 *
 * Every field states the venue fact it encodes; the recorded replies under test/fixtures/venues/
 * are the evidence (see test/ccxt/venues.test.ts).
 */

export type CcxtVenue = 'binance' | 'bybit' | 'okx';

import { Decimal } from 'decimal.js';
import type { KeyPermissions } from '../keys.js';

type Dict = Record<string, unknown>;

/** One wallet the venue keeps apart, and how its balance reply lists coins. */
export interface BalanceWallet {
  /** Name in messages and in `ballast doctor` (e.g. "spot", "usdm-futures", "unified"). */
  name: string;
  /** ccxt fetchBalance params for this wallet. */
  params: Dict;
  /** Rows of the raw reply (`balance.info`): coin id, wallet total (no unrealised PnL), free. */
  rows(info: Dict): { coin: unknown; total: number; free: number }[];
}

export interface VenueQuirks {
  id: CcxtVenue;
  /** ccxt `options` set on every client (merged over ccxt's defaults). */
  ccxtOptions(o: { unifiedAccount: boolean }): Dict;
  /** ccxt `has` overrides. `fetchCurrencies: false` is read by loadMarkets on every venue; the
   *  binance-only `options.fetchCurrencies` does nothing on bybit / okx. */
  has: Dict;
  /** Market types loaded (ccxt `options.fetchMarkets.types`). */
  marketTypes: string[];
  clientOrderId: { param: 'clientOrderId' | 'orderLinkId'; pattern: RegExp; rule: string };
  /** Params for listing calls without a symbol (open orders): one per wallet kind. */
  walletKinds: Dict[];
  balanceWallets: BalanceWallet[];
  /** ccxt fetchPositions params when no single symbol is asked. */
  positionsParams: Dict;
  /** Bybit: the unified account's margin mode is read from account info, not the positions. */
  marginModeFromAccountInfo: boolean;
  fundingHistoryParams: Dict;
  /** ccxt's funding income `amount` × this = ours (received > 0). Bybit's `execFee` is a fee: > 0 = paid. */
  fundingAmountSign: 1 | -1;
  /** Binance lists non-8h funding intervals only in /fapi/v1/fundingInfo (ccxt fetchFundingIntervals). */
  fundingIntervalsEndpoint: boolean;
  /** Where the venue's funding interval is in the market info (bybit `fundingInterval`, minutes). */
  fundingIntervalInfoMinutes?: string;
  closedOrdersMethod: 'fetchOrders' | 'fetchCanceledAndClosedOrders' | 'fetchClosedOrders';
  /** Bybit: an order by id/orderLinkId is looked up in realtime, then history (v5 endpoints). */
  orderLookup: 'ccxt' | 'bybit-v5';
  /** Orders the venue created itself (liquidation / ADL): by client id prefix, or by an info field. */
  venueInitiated: { clientIdPrefix?: RegExp; infoField?: string; infoPattern?: RegExp };
  /** Execution types of this account's fills that ccxt does not ask for by default (bybit). */
  extraFillExecTypes: string[];
  /** 'per-market': POST marginType; 'account': one mode for the account (refused per market);
   *  'per-order': sent with each order (okx `tdMode`) and with setLeverage (`mgnMode`). */
  marginMode: 'per-market' | 'account' | 'per-order';
  /** Extra order params for spot orders (okx: `tdMode: cash`). */
  spotOrderParams: Dict;
  /** OKX position tiers give `minSz`/`maxSz` in contracts, not notional. */
  tiersInContracts: boolean;
  /** Leverage brackets / tiers are loaded with these ccxt options (never as request params). */
  positionMode: {
    /** How the mode is read: ccxt fetchPositionMode, or from the positions' `positionIdx`. */
    read: 'fetchPositionMode' | 'positions';
    /** Plain-language name of the venue setting, for messages. */
    setting: string;
  };
  /** Venue codes meaning "request timestamp outside the venue's window". */
  timestampErrorCodes: string[];
  /** Venue codes / texts meaning "the order's position side does not match the account's mode". */
  positionModeErrors: RegExp;
  /** Ban after an HTTP status the venue documents as an IP / key block (ms). */
  banOnStatus: Record<number, number>;
  /** The key's rights: ccxt implicit endpoint, and how its reply reads (withdraw, transfer). */
  permissions: { endpoint: string; read(reply: unknown): KeyPermissions };
}

const num = (x: unknown): number | undefined => {
  if (x === undefined || x === null || x === '') return undefined;
  const n = typeof x === 'number' ? x : Number(x);
  return Number.isFinite(n) ? n : undefined;
};
const list = (x: unknown): unknown[] => (Array.isArray(x) ? x : []);
const dict = (x: unknown): Dict => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Dict) : {});

export const QUIRKS: Record<CcxtVenue, VenueQuirks> = {
  binance: {
    id: 'binance',
    ccxtOptions: () => ({
      fetchCurrencies: false,
      fetchMargins: false,
      warnOnFetchOpenOrdersWithoutSymbol: false,
      defaultType: 'spot',
      // positionRisk V2 reports leverage and margin type. Set as an option: passed as a param it
      // also reaches /fapi/v1/leverageBracket (loaded first), which answers -1104.
      fetchPositionsRisk: { useV2: true },
    }),
    has: { fetchCurrencies: false },
    marketTypes: ['spot', 'linear'],
    clientOrderId: { param: 'clientOrderId', pattern: /^[.A-Z:/a-z0-9_-]{1,36}$/, rule: '1–36 characters from A–Z a–z 0–9 . : / _ -' },
    walletKinds: [{ type: 'spot' }, { type: 'future' }],
    balanceWallets: [
      {
        name: 'spot',
        params: { type: 'spot' },
        rows: (info) =>
          list(info['balances']).map(dict).map((b) => {
            const f = num(b['free']) ?? 0;
            return { coin: b['asset'], total: new Decimal(f).plus(num(b['locked']) ?? 0).toNumber(), free: f };
          }),
      },
      {
        name: 'usdm-futures',
        params: { type: 'future' },
        rows: (info) => list(info['assets']).map(dict).map((a) => ({ coin: a['asset'], total: num(a['walletBalance']) ?? 0, free: num(a['availableBalance']) ?? 0 })),
      },
    ],
    positionsParams: {},
    marginModeFromAccountInfo: false,
    fundingHistoryParams: { type: 'future' },
    fundingAmountSign: 1,
    fundingIntervalsEndpoint: true,
    closedOrdersMethod: 'fetchOrders',
    orderLookup: 'ccxt',
    venueInitiated: { clientIdPrefix: /^(autoclose-|adl_autoclose|settlement_autoclose-)/ },
    extraFillExecTypes: [],
    marginMode: 'per-market',
    spotOrderParams: {},
    tiersInContracts: false,
    positionMode: { read: 'fetchPositionMode', setting: 'USDⓈ-M Futures → Preferences → Position Mode: One-way' },
    timestampErrorCodes: ['-1021'],
    positionModeErrors: /"code":\s*-4061|position side does not match/i,
    banOnStatus: {},
    permissions: {
      endpoint: 'sapiGetAccountApiRestrictions',
      read: (reply) => {
        const r = dict(reply);
        const w = r['enableWithdrawals'];
        const it = r['enableInternalTransfer'];
        const ut = r['permitsUniversalTransfer'];
        const transfer = typeof it === 'boolean' || typeof ut === 'boolean' ? it === true || ut === true : null;
        return {
          canWithdraw: typeof w === 'boolean' ? w : null,
          canTransfer: transfer,
          detail:
            typeof w === 'boolean'
              ? `apiRestrictions.enableWithdrawals = ${w}, enableInternalTransfer = ${String(it)}, permitsUniversalTransfer = ${String(ut)}`
              : 'apiRestrictions has no enableWithdrawals field',
        };
      },
    },
  },
  bybit: {
    id: 'bybit',
    ccxtOptions: ({ unifiedAccount }) => ({ enableUnifiedAccount: unifiedAccount, enableUnifiedMargin: false, defaultSettle: 'USDT' }),
    has: { fetchCurrencies: false },
    marketTypes: ['spot', 'linear'],
    clientOrderId: { param: 'orderLinkId', pattern: /^[A-Za-z0-9_-]{1,36}$/, rule: '1–36 characters from A–Z a–z 0–9 _ -' },
    walletKinds: [{ type: 'spot' }, { type: 'swap', subType: 'linear', settleCoin: 'USDT' }],
    balanceWallets: [
      {
        name: 'unified',
        params: {},
        rows: (info) =>
          list(dict(info['result'])['list'])
            .map(dict)
            .flatMap((acct) =>
              list(acct['coin']).map(dict).map((c) => {
                const w = num(c['walletBalance']) ?? 0;
                const used = new Decimal(num(c['locked']) ?? 0).plus(num(c['totalOrderIM']) ?? 0).plus(num(c['totalPositionIM']) ?? 0);
                return { coin: c['coin'], total: w, free: new Decimal(w).minus(used).toNumber() };
              }),
            ),
      },
    ],
    positionsParams: { type: 'swap', subType: 'linear', settleCoin: 'USDT' },
    marginModeFromAccountInfo: true,
    fundingHistoryParams: { type: 'swap', subType: 'linear' },
    fundingAmountSign: -1,
    fundingIntervalsEndpoint: false,
    fundingIntervalInfoMinutes: 'fundingInterval',
    closedOrdersMethod: 'fetchCanceledAndClosedOrders',
    orderLookup: 'bybit-v5',
    venueInitiated: { infoField: 'createType', infoPattern: /CreateByLiq|CreateByAdl|CreateByTakeOver/i },
    extraFillExecTypes: ['BustTrade', 'AdlTrade'],
    marginMode: 'account',
    spotOrderParams: {},
    tiersInContracts: false,
    positionMode: { read: 'positions', setting: 'Derivatives → Position mode: One-Way (positionIdx 0)' },
    timestampErrorCodes: ['10002'],
    positionModeErrors: /"retCode":\s*10001[^}]*position idx|position idx not match position mode/i,
    // Bybit: HTTP 403 "access too frequent" blocks the IP; its docs ask to wait at least 10 minutes.
    banOnStatus: { 403: 600_000 },
    permissions: {
      endpoint: 'privateGetV5UserQueryApi',
      read: (reply) => {
        const perms = dict(dict(dict(reply)['result'])['permissions']);
        if (!('Wallet' in perms)) return { canWithdraw: null, canTransfer: null, detail: 'query-api reports no Wallet permissions' };
        const wallet = list(perms['Wallet']).map(String);
        return {
          canWithdraw: wallet.some((p) => /withdraw/i.test(p)),
          canTransfer: wallet.some((p) => /transfer/i.test(p)),
          detail: `permissions.Wallet = [${wallet.join(', ')}]`,
        };
      },
    },
  },
  okx: {
    id: 'okx',
    ccxtOptions: () => ({}),
    has: { fetchCurrencies: false },
    marketTypes: ['spot', 'swap'],
    clientOrderId: { param: 'clientOrderId', pattern: /^[A-Za-z0-9]{1,32}$/, rule: '1–32 letters and digits' },
    walletKinds: [{ instType: 'SPOT' }, { instType: 'SWAP' }],
    balanceWallets: [
      {
        name: 'trading',
        params: {},
        rows: (info) =>
          list(info['data'])
            .map(dict)
            .flatMap((acct) =>
              list(acct['details']).map(dict).map((d) => {
                const w = num(d['cashBal']) ?? 0;
                return { coin: d['ccy'], total: w, free: num(d['availBal']) ?? new Decimal(w).minus(num(d['frozenBal']) ?? 0).toNumber() };
              }),
            ),
      },
    ],
    positionsParams: { instType: 'SWAP' },
    marginModeFromAccountInfo: false,
    fundingHistoryParams: {},
    fundingAmountSign: 1,
    fundingIntervalsEndpoint: false,
    closedOrdersMethod: 'fetchClosedOrders',
    orderLookup: 'ccxt',
    venueInitiated: { infoField: 'category', infoPattern: /liquidation|adl/i },
    extraFillExecTypes: [],
    marginMode: 'per-order',
    spotOrderParams: { tdMode: 'cash' },
    tiersInContracts: true,
    positionMode: { read: 'fetchPositionMode', setting: 'Settings → Position mode: One-way (net_mode)' },
    timestampErrorCodes: ['50102'],
    positionModeErrors: /"sCode":\s*"51000"[^}]*posSide|Parameter posSide error/i,
    banOnStatus: {},
    permissions: {
      endpoint: 'privateGetAccountConfig',
      read: (reply) => {
        const perm = dict(list(dict(reply)['data'])[0])['perm'];
        if (typeof perm !== 'string') return { canWithdraw: null, canTransfer: null, detail: 'account config has no perm field' };
        const rights = perm.split(',').map((p) => p.trim());
        // OKX keys have three rights (read_only, trade, withdraw); transfers between accounts need
        // the trade right and are not reported apart.
        return { canWithdraw: rights.includes('withdraw'), canTransfer: null, detail: `perm = ${perm}` };
      },
    },
  },
};

/** True when the error text carries one of the venue's timestamp-window codes. */
export function isTimestampError(q: VenueQuirks, text: string): boolean {
  return q.timestampErrorCodes.some((c) => new RegExp(`"(?:code|retCode|sCode)"\\s*:\\s*"?${c.replace('-', '\\-')}(?![0-9])`).test(text));
}
