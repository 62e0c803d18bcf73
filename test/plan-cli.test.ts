/**
 * `ballast plan` as a user runs it (the real binary in a child process): a good pair prints the plan
 * and exits 0; each kind of bad input prints a message naming file, line and field, exits with
 * code 2 and shows no stack trace. (The loaders' messages for every fixture are tested in-process in
 * test/files; this checks the process boundary: exit code, stderr, no trace.)
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SNAP = 'examples/1-btc-band/snapshot.json';
const GOOD = 'examples/1-btc-band/portfolio.yaml';

async function ballast(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['bin/ballast.js', ...args], { encoding: 'utf8' });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const cases: [string, string, string, RegExp][] = [
  ['malformed YAML', 'test/fixtures/bad/portfolio-malformed-yaml.yaml', SNAP, /portfolio-malformed-yaml\.yaml:\d+:\d+: syntax error/],
  ['targets not summing to 100%', 'test/fixtures/bad/portfolio-targets-not-100.yaml', SNAP, /portfolio-targets-not-100\.yaml:\d+:\d+: .*100%/],
  ['a band wider than its target', 'test/fixtures/bad/portfolio-band-wider-than-target.yaml', SNAP, /portfolio-band-wider-than-target\.yaml:\d+:\d+: classes\[\d\]\.band/],
  ['an asset in two classes', 'test/fixtures/bad/portfolio-asset-in-two-classes.yaml', SNAP, /:12:9: classes\[1\]\.assets\[1\]: BTC is in two classes/],
  ['a NaN price', GOOD, 'test/fixtures/bad/snapshot-nan-string-price.json', /snapshot-nan-string-price\.json:\d+:\d+: prices\./],
  ['a negative balance', GOOD, 'test/fixtures/bad/snapshot-negative-balance.json', /snapshot-negative-balance\.json:\d+:\d+: accounts\[0\]\.balances\./],
];

describe.concurrent('ballast plan (child process)', () => {
  it('a good pair: exit 0, the table with the action and its arithmetic', async () => {
    const r = await ballast('plan', '--config', GOOD, '--snapshot', SNAP);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('TPV $100,000.00');
    expect(r.stdout).toContain('sell 0.137931 BTC spot = $8,000.00');
  });

  it('--json: one object with tpv, classes, actions, risk', async () => {
    const r = await ballast('plan', '--config', GOOD, '--snapshot', SNAP, '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(expect.arrayContaining(['tpv', 'classes', 'actions', 'risk']));
  });

  it.each(cases)('%s: located message, exit 2, no stack trace', async (_what, config, snapshot, message) => {
    const r = await ballast('plan', '--config', config, '--snapshot', snapshot);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});
