/** The service sections of the portfolio file: accounts, feed, orders, notify (issue 4). */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ORDERS, envPrefix, parsePortfolio, serviceConfig } from '../../src/adapters/files/portfolio.js';
import { errorsOf, expectError, lineOf } from './helpers.js';

const BASE = `quote: USDT
classes:
  - name: BTC
    target: 50%
    band: 5%
    assets: [BTC]
  - name: Stablecoins
    target: 50%
    band: 5%
    assets: [USDT]
    cash: true
`;

const FULL = `${BASE}accounts:
  - name: binance-main
    exchange: binance
    keys: env
  - name: okx_2
    exchange: okx
    keys: { file: keys/okx.json }
  - name: paper
    exchange: paper
feed:
  maxAgeSeconds: 30
  restFallbackSeconds: 5
orders:
  type: market
  offsetBps: 3
  maxSliceNotional: 2500
  sliceIntervalSeconds: 15
  repriceAfterSeconds: 45
  cancelAfterSeconds: 300
  notFoundStrikes: 5
notify:
  webhook: http://127.0.0.1:9000/hook
  events: [fill, halt]
  timeoutSeconds: 2
`;

const CANARY = 'CANARY-s3cr3t-9f8e7d';

describe('service sections: good files', () => {
  it('a plain portfolio file leaves them out, and serviceConfig fills the defaults', () => {
    const p = parsePortfolio(BASE, 'p.yaml');
    expect(p.accounts).toBeUndefined();
    expect(p.feed).toBeUndefined();
    expect(p.orders).toBeUndefined();
    expect(p.notify).toBeUndefined();
    expect(p.risk.maxDataAgeMs).toBe(300_000);
    expect(serviceConfig(p)).toEqual({
      accounts: [{ name: 'paper', exchange: 'paper', keys: null }],
      feed: { maxAgeMs: 300_000, restFallbackMs: 10_000 },
      orders: {
        type: 'limit',
        offsetBps: 2,
        maxSliceNotional: 5000,
        sliceIntervalMs: 30_000,
        repriceAfterMs: 60_000,
        cancelAfterMs: 600_000,
        notFoundStrikes: 3,
      },
      notify: { webhook: null, events: ['trigger', 'order', 'fill', 'halt'], timeoutMs: 5000 },
    });
    expect(serviceConfig(p).orders).toEqual(DEFAULT_ORDERS);
  });

  it('reads every field; seconds become ms; key files resolve against the portfolio file', () => {
    const p = parsePortfolio(FULL, 'conf/p.yaml');
    expect(p.accounts).toEqual([
      { name: 'binance-main', exchange: 'binance', keys: { kind: 'env', prefix: 'BALLAST_BINANCE_MAIN' } },
      { name: 'okx_2', exchange: 'okx', keys: { kind: 'file', path: resolve('conf/keys/okx.json') } },
      { name: 'paper', exchange: 'paper', keys: null },
    ]);
    expect(p.feed).toEqual({ maxAgeMs: 30_000, restFallbackMs: 5_000 });
    expect(p.risk.maxDataAgeMs).toBe(30_000);
    expect(p.orders).toEqual({
      type: 'market',
      offsetBps: 3,
      maxSliceNotional: 2500,
      sliceIntervalMs: 15_000,
      repriceAfterMs: 45_000,
      cancelAfterMs: 300_000,
      notFoundStrikes: 5,
    });
    expect(p.notify).toEqual({ webhook: 'http://127.0.0.1:9000/hook', events: ['fill', 'halt'], timeoutMs: 2000 });
    expect(serviceConfig(p).accounts).toEqual(p.accounts);
  });

  it('an account without keys reads them from its environment variables', () => {
    const p = parsePortfolio(`${BASE}accounts:\n  - { name: Bybit-sub1, exchange: bybit }\n`, 'p.yaml');
    expect(p.accounts).toEqual([{ name: 'Bybit-sub1', exchange: 'bybit', keys: { kind: 'env', prefix: 'BALLAST_BYBIT_SUB1' } }]);
    expect(envPrefix('binance-main')).toBe('BALLAST_BINANCE_MAIN');
  });

  it('feed.maxAgeSeconds sets risk.maxDataAgeMs unless risk sets it; an empty feed section means 60 s', () => {
    expect(parsePortfolio(`${BASE}feed: { maxAgeSeconds: 90 }\n`, 'p.yaml').risk.maxDataAgeMs).toBe(90_000);
    const both = parsePortfolio(`${BASE}feed: { maxAgeSeconds: 90 }\nrisk: { maxDataAgeSeconds: 20 }\n`, 'p.yaml');
    expect(both.risk.maxDataAgeMs).toBe(20_000);
    expect(both.feed).toEqual({ maxAgeMs: 90_000, restFallbackMs: 10_000 });
    const bare = parsePortfolio(`${BASE}feed: {}\n`, 'p.yaml');
    expect(bare.feed).toEqual({ maxAgeMs: 60_000, restFallbackMs: 10_000 });
    expect(bare.risk.maxDataAgeMs).toBe(60_000);
    expect(parsePortfolio(`${BASE}feed: { maxAgeSeconds: 8 }\n`, 'p.yaml').feed).toEqual({ maxAgeMs: 8_000, restFallbackMs: 4_000 });
    // risk alone: the feed follows it
    const riskOnly = parsePortfolio(`${BASE}risk: { maxDataAgeSeconds: 40 }\n`, 'p.yaml');
    expect(serviceConfig(riskOnly).feed).toEqual({ maxAgeMs: 40_000, restFallbackMs: 10_000 });
  });

  it('partial sections are completed with the defaults', () => {
    const p = parsePortfolio(`${BASE}orders: { offsetBps: 0 }\nnotify: { webhook: "https://hooks.example.com/x" }\n`, 'p.yaml');
    expect(p.orders).toEqual({ ...DEFAULT_ORDERS, offsetBps: 0 });
    expect(p.notify).toEqual({ webhook: 'https://hooks.example.com/x', events: ['trigger', 'order', 'fill', 'halt'], timeoutMs: 5000 });
  });
});

describe('service sections: bad files', () => {
  it('refuses API keys in the file with a located error naming the line, never echoing the key', () => {
    const text = `${BASE}accounts:
  - name: binance-main
    exchange: binance
    apiKey: ${CANARY}
    secret: ${CANARY}
`;
    const errors = errorsOf(() => parsePortfolio(text, 'p.yaml'));
    const e = expectError(errors, {
      file: 'p.yaml',
      line: lineOf(text, 'apiKey:'),
      field: 'accounts[0].apiKey',
      problem: 'API keys never go in the portfolio file',
    });
    expect(e.problem).toContain('BALLAST_BINANCE_MAIN_API_KEY');
    expectError(errors, { file: 'p.yaml', line: lineOf(text, 'secret:'), field: 'accounts[0].secret', problem: 'API keys never go in the portfolio file' });
    expect(errors.some((x) => x.problem.startsWith('unknown key'))).toBe(false);
    for (const x of errors) expect(x.message).not.toContain(CANARY);
  });

  it('refuses keys inside keys:, at the top level, and a pasted key as the keys value', () => {
    const nested = `${BASE}accounts:\n  - name: a\n    exchange: okx\n    keys:\n      password: ${CANARY}\n`;
    const e1 = errorsOf(() => parsePortfolio(nested, 'p.yaml'));
    expectError(e1, { file: 'p.yaml', line: lineOf(nested, 'password:'), field: 'accounts[0].keys.password', problem: 'API keys never go in the portfolio file' });
    expect(e1.map((e) => e.message).join('\n')).not.toContain(CANARY);

    const top = `${BASE}apiSecret: ${CANARY}\n`;
    const e2 = errorsOf(() => parsePortfolio(top, 'p.yaml'));
    expectError(e2, { file: 'p.yaml', line: lineOf(top, 'apiSecret:'), field: 'apiSecret', problem: 'API keys never go in the portfolio file' });

    const pasted = `${BASE}accounts:\n  - name: a\n    exchange: binance\n    keys: ${CANARY}\n`;
    const e3 = errorsOf(() => parsePortfolio(pasted, 'p.yaml'));
    expectError(e3, { file: 'p.yaml', line: lineOf(pasted, 'keys:'), field: 'accounts[0].keys', problem: 'must be env' });
    expect(e3.map((e) => e.message).join('\n')).not.toContain(CANARY);
  });

  it('names a bad exchange id and the ones allowed', () => {
    const text = `${BASE}accounts:\n  - name: k\n    exchange: kraken\n`;
    expectError(errorsOf(() => parsePortfolio(text, 'p.yaml')), {
      file: 'p.yaml',
      line: lineOf(text, 'kraken'),
      field: 'accounts[0].exchange',
      problem: 'must be one of binance | bybit | okx | paper, got "kraken"',
    });
  });

  it.each([
    ['feed: { maxAgeSeconds: -5 }', 'feed.maxAgeSeconds', 'must be > 0'],
    ['feed: { restFallbackSeconds: 0 }', 'feed.restFallbackSeconds', 'must be > 0'],
    ['orders: { offsetBps: -1 }', 'orders.offsetBps', 'must be >= 0'],
    ['orders: { maxSliceNotional: -100 }', 'orders.maxSliceNotional', 'must be > 0'],
    ['orders: { sliceIntervalSeconds: -1 }', 'orders.sliceIntervalSeconds', 'must be >= 0'],
    ['orders: { repriceAfterSeconds: 0 }', 'orders.repriceAfterSeconds', 'must be > 0'],
    ['orders: { cancelAfterSeconds: -60 }', 'orders.cancelAfterSeconds', 'must be > 0'],
    ['orders: { notFoundStrikes: 0 }', 'orders.notFoundStrikes', 'must be >= 1'],
    ['orders: { notFoundStrikes: 2.5 }', 'orders.notFoundStrikes', 'whole number'],
    ['orders: { type: stop }', 'orders.type', 'must be one of limit | market'],
    ['notify: { timeoutSeconds: -1 }', 'notify.timeoutSeconds', 'must be > 0'],
    ['notify: { events: [trigger, email] }', 'notify.events[1]', 'must be one of trigger | order | fill | halt'],
    ['notify: { webhook: "ftp://x/y" }', 'notify.webhook', 'http:// or https:// URL'],
    ['notify: { webhook: "not a url" }', 'notify.webhook', 'http:// or https:// URL'],
    ['feed: { maxAgeSconds: 5 }', 'feed.maxAgeSconds', 'did you mean "maxAgeSeconds"'],
  ])('%s → %s: %s', (section, field, problem) => {
    const text = `${BASE}${section}\n`;
    expectError(errorsOf(() => parsePortfolio(text, 'p.yaml')), { file: 'p.yaml', line: lineOf(text, section.split(':')[0]!), field, problem });
  });

  it('cross-checks: REST fallback not after the data is stale, cancel not before reprice, names, paper keys, events', () => {
    const fb = `${BASE}feed:\n  maxAgeSeconds: 30\n  restFallbackSeconds: 30\n`;
    expectError(errorsOf(() => parsePortfolio(fb, 'p.yaml')), {
      file: 'p.yaml',
      line: lineOf(fb, 'restFallbackSeconds'),
      field: 'feed.restFallbackSeconds',
      problem: 'must be below maxAgeSeconds 30',
    });
    const cancel = `${BASE}orders:\n  repriceAfterSeconds: 120\n  cancelAfterSeconds: 60\n`;
    expectError(errorsOf(() => parsePortfolio(cancel, 'p.yaml')), {
      file: 'p.yaml',
      line: lineOf(cancel, 'cancelAfterSeconds'),
      field: 'orders.cancelAfterSeconds',
      problem: 'is below repriceAfterSeconds 120',
    });
    const dup = `${BASE}accounts:\n  - { name: main, exchange: binance }\n  - { name: main, exchange: bybit }\n  - { name: a-b, exchange: okx }\n  - { name: a_b, exchange: okx }\n`;
    const e = errorsOf(() => parsePortfolio(dup, 'p.yaml'));
    expectError(e, { file: 'p.yaml', line: lineOf(dup, 'exchange: bybit'), field: 'accounts[1].name', problem: 'duplicate account name "main"' });
    expectError(e, { file: 'p.yaml', line: lineOf(dup, 'a_b'), field: 'accounts[3].name', problem: 'the same environment variables' });
    const paper = `${BASE}accounts:\n  - name: p\n    exchange: paper\n    keys: env\n`;
    expectError(errorsOf(() => parsePortfolio(paper, 'p.yaml')), { file: 'p.yaml', line: lineOf(paper, 'keys:'), field: 'accounts[0].keys', problem: 'takes no keys' });
    const badName = `${BASE}accounts:\n  - name: "my account"\n    exchange: okx\n`;
    expectError(errorsOf(() => parsePortfolio(badName, 'p.yaml')), { file: 'p.yaml', line: lineOf(badName, 'my account'), field: 'accounts[0].name', problem: 'starts with a letter' });
    const empty = `${BASE}accounts: []\n`;
    expectError(errorsOf(() => parsePortfolio(empty, 'p.yaml')), { file: 'p.yaml', line: lineOf(empty, 'accounts'), field: 'accounts', problem: 'at least one account' });
    const twice = `${BASE}notify:\n  events: [fill, fill]\n`;
    expectError(errorsOf(() => parsePortfolio(twice, 'p.yaml')), { file: 'p.yaml', line: lineOf(twice, 'events'), field: 'notify.events[1]', problem: 'listed twice' });
  });

  it('reports every problem of a broken service section at once, next to class errors', () => {
    const text = `${BASE.replace('target: 50%\n    band: 5%\n    assets: [BTC]', 'target: 70%\n    band: 5%\n    assets: [BTC]')}accounts:\n  - name: x\n    exchange: ftx\nfeed: { maxAgeSeconds: 0 }\n`;
    const errors = errorsOf(() => parsePortfolio(text, 'p.yaml'));
    const fields = errors.map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(['classes', 'accounts[0].exchange', 'feed.maxAgeSeconds']));
  });
});
